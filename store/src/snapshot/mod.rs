//! Building and installing snapshots as files in the data directory.
//!
//! Build: take a RocksDB snapshot (a point-in-time view; applies go on meanwhile) and stream
//! every Exchange and Cloud into a [`format`] file through a buffered writer, so memory stays
//! flat whatever the registry size. Install: verify the whole file first, then replace the
//! registry in bounded batches under an `installing` marker; a crash mid-install is finished
//! from the same file when the store next opens, so an install is all-or-nothing as seen by
//! anyone reading through the store.

pub mod format;
pub mod restore;

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::SnapshotMeta;
use prost::Message;
use proto::raft_types::{RaftLogId, RootNode};
use rocksdb::{IteratorMode, ReadOptions, WriteBatch, DB};

use self::format::{Item, SnapshotHeader, SnapshotReader, SnapshotWriter};
use crate::codec::{decode, LogIdRecord, RaftStoredMembership, StoredMembershipRecord};
use crate::db::{synced, ABOVE_ALL_U64, ABOVE_ALL_UTF8};
use crate::error::{Result, StoreError};
use crate::sm::{index, Cfs, SmMeta, KEY_INSTALLING};

/// File name suffix of snapshot files.
pub const SNAPSHOT_SUFFIX: &str = ".icsnap";
/// Extension of snapshot files being built or received (deleted when the store opens).
pub(crate) const TEMP_EXTENSION: &str = "tmp";
/// Records written per batch while installing (bounds the batch's memory).
const INSTALL_BATCH_RECORDS: usize = 4096;

/// openraft's snapshot metadata with icroot's node types.
pub type RaftSnapshotMeta = SnapshotMeta<u64, RootNode>;

impl SnapshotHeader {
    /// The header for a snapshot described by openraft's `meta`, at registry `revision`.
    pub fn from_raft(meta: &RaftSnapshotMeta, revision: u64) -> Self {
        SnapshotHeader {
            snapshot_id: meta.snapshot_id.clone(),
            last_log_id: meta.last_log_id.as_ref().map(LogIdRecord::from),
            membership: Some(StoredMembershipRecord::from(&meta.last_membership)),
            revision,
        }
    }

    /// The openraft metadata this header describes.
    pub fn raft_meta(&self) -> Result<RaftSnapshotMeta> {
        let last_membership = match self.membership.clone() {
            Some(m) => m.into_raft()?,
            None => RaftStoredMembership::default(),
        };
        Ok(SnapshotMeta {
            last_log_id: self.last_log_id.map(RaftLogId::from),
            last_membership,
            snapshot_id: self.snapshot_id.clone(),
        })
    }
}

/// Stream the registry as of now into a new file in `dir`; its path and header.
pub(crate) fn build_file(db: &DB, dir: &Path) -> Result<(PathBuf, SnapshotHeader)> {
    let cfs = Cfs::new(db)?;
    let snap = db.snapshot();
    let meta = SmMeta::load(|k| Ok(snap.get_cf(cfs.meta, k)?))?;
    // The wall clock only makes the id unique; nothing replicated depends on it.
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let snapshot_id = match meta.last_applied {
        Some(id) => {
            format!("{}-{}-{}-r{}-{now_ms}", id.leader_id.term, id.leader_id.node_id, id.index, meta.revision)
        }
        None => format!("none-r{}-{now_ms}", meta.revision),
    };
    let raft = SnapshotMeta {
        last_log_id: meta.last_applied,
        last_membership: meta.membership.clone(),
        snapshot_id: snapshot_id.clone(),
    };
    let header = SnapshotHeader::from_raft(&raft, meta.revision);
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("building-{snapshot_id}.tmp"));
    let file = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut w = SnapshotWriter::new(file, &header)?;
    let mut opts = ReadOptions::default();
    opts.set_snapshot(&snap);
    for kv in db.iterator_cf_opt(cfs.exchanges, opts, IteratorMode::Start) {
        let (_, v) = kv?;
        w.write_item(Item::Exchange(decode(&v, "exchange")?))?;
    }
    let mut opts = ReadOptions::default();
    opts.set_snapshot(&snap);
    for kv in db.iterator_cf_opt(cfs.clouds, opts, IteratorMode::Start) {
        let (_, v) = kv?;
        w.write_item(Item::Cloud(decode(&v, "cloud")?))?;
    }
    let (file, _) = w.finish()?;
    let file = file.into_inner().map_err(|e| StoreError::Io(e.into_error()))?;
    file.sync_all()?;
    let path = dir.join(format!("{snapshot_id}{SNAPSHOT_SUFFIX}"));
    publish(&tmp, &path)?;
    Ok((path, header))
}

/// Rename `tmp` to `path` durably and delete every other snapshot file in the directory.
pub(crate) fn publish(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()?;
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        let is_snapshot = p.to_str().is_some_and(|s| s.ends_with(SNAPSHOT_SUFFIX));
        if is_snapshot && p != path {
            fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Delete the `*.tmp` files in `dir` (unfinished builds and receives). Only the current
/// snapshot (`*.icsnap`) is ever needed after a restart, including to finish an install.
pub(crate) fn remove_temporaries(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        if p.extension().is_some_and(|x| x == TEMP_EXTENSION) {
            fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// The newest snapshot file in `dir` (there is at most one outside a build), if any.
pub(crate) fn current_file(dir: &Path) -> Result<Option<PathBuf>> {
    if !dir.exists() {
        return Ok(None);
    }
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        if p.to_str().is_some_and(|s| s.ends_with(SNAPSHOT_SUFFIX)) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The header of the snapshot file at `path` (checks magic and version only).
pub fn read_header(path: &Path) -> Result<SnapshotHeader> {
    Ok(SnapshotReader::new(BufReader::new(File::open(path)?))?.header().clone())
}

/// Replace the registry with the snapshot file at `path`; its metadata, now the state
/// machine's. The file must stay in place until this returns (a crash resumes from it).
pub(crate) fn install_file(db: &DB, path: &Path) -> Result<SmMeta> {
    let (header, _) = format::verify(BufReader::new(File::open(path)?))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| StoreError::Snapshot(format!("unusable file name {}", path.display())))?;
    let cfs = Cfs::new(db)?;

    // 1. Mark the install and empty the registry, atomically and durably.
    let mut batch = WriteBatch::default();
    batch.put_cf(cfs.meta, KEY_INSTALLING, name.as_bytes());
    batch.delete_range_cf(cfs.exchanges, &[][..], ABOVE_ALL_UTF8);
    batch.delete_range_cf(cfs.clouds, &[][..], ABOVE_ALL_UTF8);
    batch.delete_range_cf(cfs.index, &[][..], ABOVE_ALL_UTF8);
    batch.delete_range_cf(cfs.changes, &[][..], ABOVE_ALL_U64);
    db.write_opt(batch, &synced())?;

    // 2. Stream the records in bounded batches, rebuilding the indexes.
    let mut reader = SnapshotReader::new(BufReader::with_capacity(1 << 20, File::open(path)?))?;
    let mut batch = WriteBatch::default();
    let mut in_batch = 0;
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Exchange(x) => {
                for k in index::exchange_keys(&x) {
                    batch.put_cf(cfs.index, k, []);
                }
                batch.put_cf(cfs.exchanges, &x.domain, x.encode_to_vec());
            }
            Item::Cloud(c) => {
                for k in index::cloud_keys(&c) {
                    batch.put_cf(cfs.index, k, []);
                }
                batch.put_cf(cfs.clouds, &c.id, c.encode_to_vec());
            }
        }
        in_batch += 1;
        if in_batch == INSTALL_BATCH_RECORDS {
            db.write(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }

    // 3. Set the metadata and clear the marker in the same synced write.
    let raft = header.raft_meta()?;
    let meta = SmMeta {
        last_applied: raft.last_log_id,
        membership: raft.last_membership,
        revision: header.revision,
        change_floor: header.revision + 1,
    };
    meta.write(&mut batch, cfs.meta);
    batch.delete_cf(cfs.meta, KEY_INSTALLING);
    db.write_opt(batch, &synced())?;
    Ok(meta)
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
