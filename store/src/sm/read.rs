//! Point reads, the change feed reader and the registry digest, straight from RocksDB.

use proto::record::{StoredCloud, StoredExchange};
use rocksdb::{Direction, IteratorMode, ReadOptions};
use sha2::{Digest, Sha256};

use super::{Cfs, SmMeta, StateMachineStore};
use crate::codec::{decode, ChangeRecord};
use crate::db::{be_from, be_key, cf, CF_SM_META};
use crate::error::{Result, StoreError};

/// Most changes one [`StateMachineStore::changes_since`] call returns.
pub const MAX_CHANGES_PER_PAGE: usize = 1000;

/// A page of the change feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangesPage {
    /// Changes after the requested revision, oldest first.
    pub changes: Vec<ChangeRecord>,
    /// The registry revision when the page was read: resume from the last change's revision,
    /// or from this when `changes` is empty.
    pub revision: u64,
}

impl StateMachineStore {
    /// The Exchange registered at `domain`.
    pub fn exchange(&self, domain: &str) -> Result<Option<StoredExchange>> {
        let cfs = Cfs::new(&self.db)?;
        self.db.get_pinned_cf(cfs.exchanges, domain)?.map(|v| decode(&v, "exchange")).transpose()
    }

    /// The Cloud with `id`.
    pub fn cloud(&self, id: &str) -> Result<Option<StoredCloud>> {
        let cfs = Cfs::new(&self.db)?;
        self.db.get_pinned_cf(cfs.clouds, id)?.map(|v| decode(&v, "cloud")).transpose()
    }

    /// The current global revision.
    pub fn revision(&self) -> u64 {
        self.lock_meta().revision
    }

    /// Up to `limit` (≤ [`MAX_CHANGES_PER_PAGE`]) changes with revision greater than
    /// `since`, oldest first. [`StoreError::Compacted`] when changes after `since` have been
    /// trimmed (or predate an installed snapshot): the watcher must re-read the registry.
    pub fn changes_since(&self, since: u64, limit: usize) -> Result<ChangesPage> {
        let cfs = Cfs::new(&self.db)?;
        let snap = self.db.snapshot();
        let meta = SmMeta::load(|k| Ok(snap.get_cf(cfs.meta, k)?))?;
        let oldest = meta.change_floor.max(meta.revision.saturating_sub(self.change_retention) + 1);
        if since < meta.revision && since.saturating_add(1) < oldest {
            return Err(StoreError::Compacted { oldest });
        }
        let mut opts = ReadOptions::default();
        opts.set_snapshot(&snap);
        let from = be_key(since.saturating_add(1));
        let mut changes = Vec::new();
        for kv in self.db.iterator_cf_opt(cfs.changes, opts, IteratorMode::From(&from, Direction::Forward)) {
            if changes.len() >= limit.min(MAX_CHANGES_PER_PAGE) {
                break;
            }
            let (k, v) = kv?;
            let change: ChangeRecord = decode(&v, "change")?;
            if change.revision != be_from(&k, "change key")? {
                return Err(StoreError::corrupt("change", "revision differs from its key"));
            }
            changes.push(change);
        }
        Ok(ChangesPage { changes, revision: meta.revision })
    }

    /// SHA-256 over the registry at one point in time: every Exchange, Cloud and index key in
    /// key order, then the revision. Two nodes with equal digests serve identical registries.
    pub fn registry_digest(&self) -> Result<[u8; 32]> {
        let cfs = Cfs::new(&self.db)?;
        let snap = self.db.snapshot();
        let mut h = Sha256::new();
        for (tag, family) in [(b'x', cfs.exchanges), (b'c', cfs.clouds), (b'i', cfs.index)] {
            let mut opts = ReadOptions::default();
            opts.set_snapshot(&snap);
            for kv in self.db.iterator_cf_opt(family, opts, IteratorMode::Start) {
                let (k, v) = kv?;
                h.update([tag]);
                h.update((k.len() as u64).to_be_bytes());
                h.update(&k);
                h.update((v.len() as u64).to_be_bytes());
                h.update(&v);
            }
        }
        let meta = SmMeta::load(|k| Ok(snap.get_cf(cf(&self.db, CF_SM_META)?, k)?))?;
        h.update(meta.revision.to_be_bytes());
        Ok(h.finalize().into())
    }
}
