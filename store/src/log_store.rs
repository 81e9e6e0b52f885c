//! openraft log storage on RocksDB: entries in `logs` under big-endian indexes, the vote,
//! committed log id and last purged log id in `meta`.
//!
//! Durability: every write that openraft will treat as persisted (vote, appended entries,
//! truncation, purge) goes through a WAL-synced write before the call returns or the
//! [`LogFlushed`] callback fires. docs/storage.md has the measured cost.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageError};
use prost::Message;
use proto::raft_types::{entry_from_record, entry_to_record, RaftEntry, RaftLogId, RaftTypes, RaftVote};
use proto::stanza::raft::LogEntryRecord;
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};

use crate::codec::{decode, LogIdRecord, VoteRecord};
use crate::db::{be_from, be_key, cf, synced, CF_LOGS, CF_LOG_META};
use crate::error::{Result, StoreError};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log. Cheap to clone: clones share the database (openraft's log reader is one).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    /// Whether appends fsync the WAL. Only the benchmark turns it off, to measure its cost.
    sync_writes: bool,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("sync_writes", &self.sync_writes).finish_non_exhaustive()
    }
}

impl LogStore {
    pub(crate) fn new(db: Arc<DB>) -> Self {
        LogStore { db, sync_writes: true }
    }

    /// Turn WAL fsync on log appends off. Unsafe for a real node (an acknowledged entry could
    /// be lost on power failure); exists so the benchmark can measure what syncing costs.
    pub fn set_sync_for_benchmark(&mut self, sync: bool) {
        self.sync_writes = sync;
    }

    fn write_opts(&self) -> rocksdb::WriteOptions {
        let mut w = synced();
        w.set_sync(self.sync_writes);
        w
    }

    fn meta_value<M: Message + Default>(&self, key: &[u8]) -> Result<Option<M>> {
        let meta = cf(&self.db, CF_LOG_META)?;
        self.db.get_pinned_cf(meta, key)?.map(|v| decode(&v, "log meta")).transpose()
    }

    fn put_meta_synced(&self, key: &[u8], value: Vec<u8>) -> Result<()> {
        let meta = cf(&self.db, CF_LOG_META)?;
        self.db.put_cf_opt(meta, key, value, &synced())?;
        Ok(())
    }

    /// The log id of the last entry still in the log, if any.
    fn last_entry_id(&self) -> Result<Option<RaftLogId>> {
        let logs = cf(&self.db, CF_LOGS)?;
        match self.db.iterator_cf(logs, IteratorMode::End).next() {
            None => Ok(None),
            Some(kv) => {
                let (_, v) = kv?;
                let rec: LogEntryRecord = decode(&v, "log entry")?;
                Ok(Some(LogIdRecord { term: rec.term, node: rec.node, index: rec.index }.into()))
            }
        }
    }

    /// The last purged log id.
    pub fn last_purged(&self) -> Result<Option<RaftLogId>> {
        Ok(self.meta_value::<LogIdRecord>(KEY_LAST_PURGED)?.map(RaftLogId::from))
    }

    /// Entries with index in `[start, end)` (`end` `None`: to the last), in order.
    pub fn entries(&self, start: u64, end: Option<u64>) -> Result<Vec<RaftEntry>> {
        let logs = cf(&self.db, CF_LOGS)?;
        let mut out = Vec::new();
        let from = be_key(start);
        for kv in self.db.iterator_cf(logs, IteratorMode::From(&from, Direction::Forward)) {
            let (k, v) = kv?;
            let index = be_from(&k, "log key")?;
            if end.is_some_and(|e| index >= e) {
                break;
            }
            let rec: LogEntryRecord = decode(&v, "log entry")?;
            let entry = entry_from_record(rec).map_err(|e| StoreError::corrupt("log entry", e))?;
            out.push(entry);
        }
        Ok(out)
    }

    /// The vote as last saved.
    pub fn vote(&self) -> Result<Option<RaftVote>> {
        Ok(self.meta_value::<VoteRecord>(KEY_VOTE)?.map(RaftVote::from))
    }

    /// Append `entries` with one synced write batch.
    pub fn append_entries(&self, entries: impl IntoIterator<Item = RaftEntry>) -> Result<()> {
        let logs = cf(&self.db, CF_LOGS)?;
        let mut batch = WriteBatch::default();
        for e in entries {
            batch.put_cf(logs, be_key(e.log_id.index), entry_to_record(&e).encode_to_vec());
        }
        self.db.write_opt(batch, &self.write_opts())?;
        Ok(())
    }
}

fn range_start_end<RB: RangeBounds<u64>>(range: &RB) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e.checked_add(1),
        Bound::Excluded(e) => Some(*e),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<RaftTypes> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<RaftEntry>, StorageError<u64>> {
        let (start, end) = range_start_end(&range);
        self.entries(start, end).map_err(StoreError::read)
    }
}

impl RaftLogStorage<RaftTypes> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<RaftTypes>, StorageError<u64>> {
        let last_purged = self.last_purged().map_err(StoreError::read)?;
        let last = self.last_entry_id().map_err(StoreError::read)?.or(last_purged);
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &RaftVote) -> Result<(), StorageError<u64>> {
        self.put_meta_synced(KEY_VOTE, VoteRecord::from(vote).encode_to_vec()).map_err(StoreError::write_vote)
    }

    async fn read_vote(&mut self) -> Result<Option<RaftVote>, StorageError<u64>> {
        self.vote().map_err(StoreError::read)
    }

    async fn save_committed(&mut self, committed: Option<RaftLogId>) -> Result<(), StorageError<u64>> {
        // Not synced: openraft treats the committed id as a hint that speeds up restart; losing
        // the latest one only means re-deriving it from a quorum.
        let res = (|| -> Result<()> {
            let meta = cf(&self.db, CF_LOG_META)?;
            match committed {
                Some(id) => self.db.put_cf(meta, KEY_COMMITTED, LogIdRecord::from(&id).encode_to_vec())?,
                None => self.db.delete_cf(meta, KEY_COMMITTED)?,
            }
            Ok(())
        })();
        res.map_err(StoreError::write_logs)
    }

    async fn read_committed(&mut self) -> Result<Option<RaftLogId>, StorageError<u64>> {
        let rec = self.meta_value::<LogIdRecord>(KEY_COMMITTED).map_err(StoreError::read)?;
        Ok(rec.map(RaftLogId::from))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<RaftTypes>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // The write is synced before the callback reports it flushed: openraft counts the
        // entries towards a quorum from that moment.
        match self.append_entries(entries) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e.write_logs())
            }
        }
    }

    async fn truncate(&mut self, log_id: RaftLogId) -> Result<(), StorageError<u64>> {
        let res = (|| -> Result<()> {
            let logs = cf(&self.db, CF_LOGS)?;
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(logs, be_key(log_id.index).as_slice(), crate::db::ABOVE_ALL_U64);
            self.db.write_opt(batch, &synced())?;
            Ok(())
        })();
        res.map_err(StoreError::write_logs)
    }

    async fn purge(&mut self, log_id: RaftLogId) -> Result<(), StorageError<u64>> {
        let res = (|| -> Result<()> {
            let logs = cf(&self.db, CF_LOGS)?;
            let meta = cf(&self.db, CF_LOG_META)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(meta, KEY_LAST_PURGED, LogIdRecord::from(&log_id).encode_to_vec());
            batch.delete_range_cf(logs, be_key(0).as_slice(), be_key(log_id.index).as_slice());
            batch.delete_cf(logs, be_key(log_id.index));
            // Synced: the shared WAL makes every earlier state machine write durable too, so
            // nothing the purged entries produced can be lost with them.
            self.db.write_opt(batch, &synced())?;
            Ok(())
        })();
        res.map_err(StoreError::write_logs)
    }
}
