//! The registry state machine on RocksDB: records, secondary indexes, the change feed and
//! the applied log id / membership, all written for one log entry in one atomic batch.
//!
//! Nothing of the registry is held in memory beyond four numbers ([`SmMeta`]): a restarted
//! node serves as soon as RocksDB has opened.

mod apply;
pub(crate) mod index;
mod listing;
mod read;
pub(crate) mod search;

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use prost::Message;
use proto::raft_types::{RaftEntry, RaftLogId};
use proto::record::CommandResponse;
use rocksdb::{ColumnFamily, WriteBatch, DB};

pub use apply::MAX_EXPIRED_PER_COMMAND;
pub use read::ChangesPage;

use crate::codec::{decode, LogIdRecord, RaftStoredMembership, StoredMembershipRecord};
use crate::db::{be_from, be_key, cf, CF_CHANGES, CF_CLOUDS, CF_EXCHANGES, CF_INDEX, CF_SM_META};
use crate::error::{Result, StoreError};

/// Changes kept in the feed by default (older ones are trimmed as new ones are applied).
pub const DEFAULT_CHANGE_RETENTION: u64 = 100_000;

pub(crate) const KEY_APPLIED: &[u8] = b"applied";
pub(crate) const KEY_MEMBERSHIP: &[u8] = b"membership";
pub(crate) const KEY_REVISION: &[u8] = b"revision";
/// Oldest revision the feed can still hold (set past a snapshot's revision on install).
pub(crate) const KEY_CHANGE_FLOOR: &[u8] = b"change_floor";
/// Present while a snapshot install is under way: names the file to finish it from.
pub(crate) const KEY_INSTALLING: &[u8] = b"installing";

/// The state machine's column family handles, looked up once per operation.
pub(crate) struct Cfs<'a> {
    pub meta: &'a ColumnFamily,
    pub exchanges: &'a ColumnFamily,
    pub clouds: &'a ColumnFamily,
    pub index: &'a ColumnFamily,
    pub changes: &'a ColumnFamily,
}

impl<'a> Cfs<'a> {
    pub(crate) fn new(db: &'a DB) -> Result<Self> {
        Ok(Cfs {
            meta: cf(db, CF_SM_META)?,
            exchanges: cf(db, CF_EXCHANGES)?,
            clouds: cf(db, CF_CLOUDS)?,
            index: cf(db, CF_INDEX)?,
            changes: cf(db, CF_CHANGES)?,
        })
    }
}

/// The state machine's metadata, mirrored in memory from `sm_meta`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmMeta {
    /// Last applied log id.
    pub last_applied: Option<RaftLogId>,
    /// Last applied membership.
    pub membership: RaftStoredMembership,
    /// Global registry revision (0 before the first change).
    pub revision: u64,
    /// Oldest revision the change feed may hold.
    pub change_floor: u64,
}

impl SmMeta {
    /// Read the metadata through `get` (the database or a RocksDB snapshot of it).
    pub(crate) fn load(get: impl Fn(&[u8]) -> Result<Option<Vec<u8>>>) -> Result<Self> {
        let last_applied = get(KEY_APPLIED)?.map(|v| decode::<LogIdRecord>(&v, "applied")).transpose()?;
        let membership = match get(KEY_MEMBERSHIP)? {
            Some(v) => decode::<StoredMembershipRecord>(&v, "membership")?.into_raft()?,
            None => RaftStoredMembership::default(),
        };
        let revision = get(KEY_REVISION)?.map(|v| be_from(&v, "revision")).transpose()?.unwrap_or(0);
        let change_floor =
            get(KEY_CHANGE_FLOOR)?.map(|v| be_from(&v, "change floor")).transpose()?.unwrap_or(1);
        Ok(SmMeta { last_applied: last_applied.map(RaftLogId::from), membership, revision, change_floor })
    }

    /// Put the fields that differ from `prev` into `batch` (the applied id always differs):
    /// keeps the WAL, and so restart replay, small.
    pub(crate) fn write_changed(&self, prev: &SmMeta, batch: &mut WriteBatch, meta: &ColumnFamily) {
        if let Some(id) = &self.last_applied {
            batch.put_cf(meta, KEY_APPLIED, LogIdRecord::from(id).encode_to_vec());
        }
        if self.membership != prev.membership {
            batch.put_cf(
                meta,
                KEY_MEMBERSHIP,
                StoredMembershipRecord::from(&self.membership).encode_to_vec(),
            );
        }
        if self.revision != prev.revision {
            batch.put_cf(meta, KEY_REVISION, be_key(self.revision));
        }
        if self.change_floor != prev.change_floor {
            batch.put_cf(meta, KEY_CHANGE_FLOOR, be_key(self.change_floor));
        }
    }

    /// Put every field into `batch`.
    pub(crate) fn write(&self, batch: &mut WriteBatch, meta: &ColumnFamily) {
        match &self.last_applied {
            Some(id) => batch.put_cf(meta, KEY_APPLIED, LogIdRecord::from(id).encode_to_vec()),
            None => batch.delete_cf(meta, KEY_APPLIED),
        }
        batch.put_cf(meta, KEY_MEMBERSHIP, StoredMembershipRecord::from(&self.membership).encode_to_vec());
        batch.put_cf(meta, KEY_REVISION, be_key(self.revision));
        batch.put_cf(meta, KEY_CHANGE_FLOOR, be_key(self.change_floor));
    }
}

/// The registry state machine. Clones share the database and snapshot directory.
#[derive(Clone)]
pub struct StateMachineStore {
    pub(crate) db: Arc<DB>,
    /// Where snapshot files live.
    pub(crate) snapshot_dir: PathBuf,
    /// The in-memory mirror of `sm_meta`; apply updates both under this lock.
    pub(crate) meta: Arc<Mutex<SmMeta>>,
    /// Serialises snapshot file work (build, install, reading the current one).
    pub(crate) snapshot_lock: Arc<Mutex<()>>,
    /// The temp file openraft is writing a received snapshot into, remembered here because a
    /// `tokio::fs::File` has no path. At most one: openraft receives one snapshot at a time.
    pub(crate) receiving: Arc<Mutex<Option<PathBuf>>>,
    /// Changes kept in the feed.
    pub(crate) change_retention: u64,
}

impl Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore")
            .field("snapshot_dir", &self.snapshot_dir)
            .field("meta", &self.meta())
            .finish_non_exhaustive()
    }
}

impl StateMachineStore {
    /// The state machine over `db`, finishing an interrupted snapshot install first.
    pub(crate) fn open(db: Arc<DB>, snapshot_dir: PathBuf) -> Result<Self> {
        let sm = StateMachineStore {
            db,
            snapshot_dir,
            meta: Arc::new(Mutex::new(SmMeta::default())),
            snapshot_lock: Arc::new(Mutex::new(())),
            receiving: Arc::new(Mutex::new(None)),
            change_retention: DEFAULT_CHANGE_RETENTION,
        };
        let installing = sm.db.get_cf(cf(&sm.db, CF_SM_META)?, KEY_INSTALLING)?;
        if let Some(name) = installing {
            let name = String::from_utf8(name).map_err(|e| StoreError::corrupt("installing marker", e))?;
            tracing::warn!(file = %name, "finishing an interrupted snapshot install");
            let path = sm.snapshot_dir.join(name);
            crate::snapshot::install_file(&sm.db, &path)?;
        }
        // Builds and receives cut short by a crash leave temp files nothing will finish.
        crate::snapshot::remove_temporaries(&sm.snapshot_dir)?;
        let loaded = sm.load_meta()?;
        *sm.lock_meta() = loaded;
        Ok(sm)
    }

    pub(crate) fn load_meta(&self) -> Result<SmMeta> {
        let meta = cf(&self.db, CF_SM_META)?;
        SmMeta::load(|k| Ok(self.db.get_cf(meta, k)?))
    }

    pub(crate) fn lock_meta(&self) -> std::sync::MutexGuard<'_, SmMeta> {
        // A panic while holding the lock cannot leave the mirror half-written (it is replaced
        // whole), so a poisoned lock is still usable.
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the state machine's metadata.
    pub fn meta(&self) -> SmMeta {
        self.lock_meta().clone()
    }

    /// Keep `n` changes in the feed instead of [`DEFAULT_CHANGE_RETENTION`] (at least 1).
    pub fn set_change_retention(&mut self, n: u64) {
        self.change_retention = n.max(1);
    }

    /// Flush every memtable to disk. Call on graceful shutdown: the next open then has no
    /// WAL to replay (a crash leaves at most `max_total_wal_size` of it, see [`crate::DbTuning`]).
    pub fn flush(&self) -> Result<()> {
        for name in crate::db::ALL_CFS {
            self.db.flush_cf(cf(&self.db, name)?)?;
        }
        Ok(())
    }

    /// Apply entries in order; each entry's writes and its log id go in one atomic batch.
    /// Not synced: the log holds every applied entry until a synced purge (see
    /// [`crate::LogStore`]), so a lost apply is re-applied from the log at restart.
    pub fn apply_entries(
        &self,
        entries: impl IntoIterator<Item = RaftEntry>,
    ) -> Result<Vec<CommandResponse>> {
        let cfs = Cfs::new(&self.db)?;
        let mut meta = self.lock_meta();
        let mut out = Vec::new();
        for entry in entries {
            let mut next = meta.clone();
            next.last_applied = Some(entry.log_id);
            let mut tx = apply::Tx::new(&self.db, &cfs, meta.revision, self.change_retention);
            let response = match &entry.payload {
                openraft::EntryPayload::Blank => CommandResponse::default(),
                openraft::EntryPayload::Normal(cmd) => tx.apply(cmd)?,
                openraft::EntryPayload::Membership(m) => {
                    next.membership = RaftStoredMembership::new(Some(entry.log_id), m.clone());
                    CommandResponse::default()
                }
            };
            next.revision = tx.revision;
            let mut batch = tx.batch;
            next.write_changed(&meta, &mut batch, cfs.meta);
            self.db.write(batch)?;
            *meta = next;
            out.push(response);
        }
        Ok(out)
    }
}

mod raft_impl;
mod receive;
