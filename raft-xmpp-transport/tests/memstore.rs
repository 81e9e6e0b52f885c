//! A minimal in-memory openraft store for transport tests (the real one is the `store` crate on
//! RocksDB). The state machine only counts applied normal entries and remembers their actors, so
//! tests can check what replicated. `Arc`-shared so a "restarted" node keeps its data. Snapshot
//! bytes stay in memory; openraft gets them as an anonymous temp file (its `SnapshotData` is
//! `tokio::fs::File`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Read, Seek, Write};
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, LogState, RaftLogReader, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StoredMembership, Vote,
};
use proto::raft_types::{RaftTypes, RootNode};
use proto::record::CommandResponse;

#[derive(Default)]
struct Inner {
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    log: BTreeMap<u64, Entry<RaftTypes>>,
    purged: Option<LogId<u64>>,
    applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, RootNode>,
    /// Actors of applied normal entries, in apply order.
    actors: Vec<String>,
    snapshot: Option<(SnapshotMeta<u64, RootNode>, Vec<u8>)>,
}

/// Both halves share one `Inner`.
#[derive(Clone, Default)]
pub struct MemStore(Arc<Mutex<Inner>>);

impl MemStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap()
    }

    /// Actors of every applied normal entry, in order.
    pub fn applied_actors(&self) -> Vec<String> {
        self.lock().actors.clone()
    }
}

/// An anonymous temp file holding `data`, positioned at its start.
fn snapshot_file(data: &[u8]) -> Result<Box<tokio::fs::File>, Box<StorageError<u64>>> {
    let mut f = tempfile::tempfile().map_err(|e| snapshot_io(ErrorVerb::Write, e))?;
    f.write_all(data).and_then(|_| f.rewind()).map_err(|e| snapshot_io(ErrorVerb::Write, e))?;
    Ok(Box::new(tokio::fs::File::from_std(f)))
}

/// A snapshot I/O failure as openraft wants it (boxed: the error is large).
fn snapshot_io(verb: ErrorVerb, e: std::io::Error) -> Box<StorageError<u64>> {
    Box::new(StorageError::from_io_error(ErrorSubject::Snapshot(None), verb, e))
}

fn encode_actors(actors: &[String]) -> Vec<u8> {
    actors.join("\n").into_bytes()
}

fn decode_actors(data: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(data);
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('\n').map(str::to_owned).collect()
    }
}

impl RaftLogReader<RaftTypes> for MemStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<RaftTypes>>, StorageError<u64>> {
        Ok(self.lock().log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<RaftTypes> for MemStore {
    type LogReader = MemStore;

    async fn get_log_state(&mut self) -> Result<LogState<RaftTypes>, StorageError<u64>> {
        let s = self.lock();
        let last = s.log.values().next_back().map(|e| e.log_id).or(s.purged);
        Ok(LogState { last_purged_log_id: s.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        self.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError<u64>> {
        self.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<RaftTypes>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<RaftTypes>> + Send,
        I::IntoIter: Send,
    {
        {
            let mut s = self.lock();
            for e in entries {
                s.log.insert(e.log_id.index, e);
            }
        }
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        self.lock().log.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut s = self.lock();
        s.purged = Some(log_id);
        s.log = s.log.split_off(&(log_id.index + 1));
        Ok(())
    }
}

impl RaftSnapshotBuilder<RaftTypes> for MemStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<RaftTypes>, StorageError<u64>> {
        let mut s = self.lock();
        let meta = SnapshotMeta {
            last_log_id: s.applied,
            last_membership: s.membership.clone(),
            snapshot_id: format!("snap-{}", s.applied.map_or(0, |l| l.index)),
        };
        let data = encode_actors(&s.actors);
        s.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot { meta, snapshot: snapshot_file(&data).map_err(|e| *e)? })
    }
}

impl RaftStateMachine<RaftTypes> for MemStore {
    type SnapshotBuilder = MemStore;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, RootNode>), StorageError<u64>> {
        let s = self.lock();
        Ok((s.applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<RaftTypes>> + Send,
        I::IntoIter: Send,
    {
        let mut s = self.lock();
        let mut out = Vec::new();
        for e in entries {
            s.applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Normal(cmd) => s.actors.push(cmd.actor),
                EntryPayload::Membership(m) => s.membership = StoredMembership::new(Some(e.log_id), m),
                EntryPayload::Blank => {}
            }
            out.push(CommandResponse::default());
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError<u64>> {
        snapshot_file(&[]).map_err(|e| *e)
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, RootNode>,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<u64>> {
        // Wait for openraft's last writes to land, then read the file from the start.
        let mut f = snapshot.into_std().await;
        let mut data = Vec::new();
        f.rewind().and_then(|_| f.read_to_end(&mut data)).map_err(|e| *snapshot_io(ErrorVerb::Read, e))?;
        let mut s = self.lock();
        s.actors = decode_actors(&data);
        s.applied = meta.last_log_id;
        s.membership = meta.last_membership.clone();
        s.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<RaftTypes>>, StorageError<u64>> {
        let current = self.lock().snapshot.clone();
        match current {
            Some((meta, data)) => {
                Ok(Some(Snapshot { meta, snapshot: snapshot_file(&data).map_err(|e| *e)? }))
            }
            None => Ok(None),
        }
    }
}
