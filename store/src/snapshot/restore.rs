//! Seeding an empty data directory from a snapshot file (`icroot snapshot restore`): the
//! etcd-style way to start a NEW cluster from a backup. Offline: no node may run on the
//! directory (RocksDB's lock would refuse it anyway).
//!
//! ```text
//!  backup.icsnap ─verify─▶ rewrite: new snapshot id, new membership at the backup's last log id
//!     ─▶ <data>/snapshots ─install─▶ state machine (records, indexes, applied = that log id)
//!     ─▶ vote (that log id's term, this node) ─▶ openraft starts on an empty log, purges up to
//!        the applied id and the new members elect a leader among themselves
//! ```
//!
//! The old cluster's membership is dropped: the restored node belongs to the members it is
//! given (the new cluster's `bootstrap` table, or itself alone), as etcd's
//! `snapshot restore --initial-cluster` does. The vote is written at the backup's last term so
//! that the first election's term is above every log entry the node holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

use openraft::storage::RaftLogStorage;
use openraft::{Membership, StoredMembership, Vote};
use proto::raft_types::{RaftLogId, RootNode};

use super::format::{SnapshotHeader, SnapshotReader, SnapshotWriter};
use crate::codec::StoredMembershipRecord;
use crate::error::{Result, StoreError};

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    /// The id of the snapshot the directory now starts from (`restored-` + the backup's id).
    pub snapshot_id: String,
    /// The backup's last applied log id (the restored node's applied id).
    pub last_log_id: RaftLogId,
    /// The registry revision of the backup.
    pub revision: u64,
    /// Records (Exchanges and Clouds) restored.
    pub records: u64,
}

/// A reader that reports how many bytes passed through it.
struct Counting<'a, R> {
    inner: R,
    progress: &'a mut (dyn FnMut(u64) + Send),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Refuse a data directory that holds anything: a restore starts a node from scratch.
pub fn check_empty_dir(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io(e)),
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(StoreError::Snapshot(format!(
                "data directory {} is not empty; a restore only seeds an empty directory",
                dir.display()
            ))),
        },
    }
}

/// Seed the empty `data_dir` from the snapshot file `from` for node `node_id` of a new
/// cluster whose voters are `members` (which must list `node_id`). `progress` hears the bytes
/// of `from` read, twice over: `2 × file size` in all.
pub async fn restore_into(
    data_dir: &Path,
    from: &Path,
    node_id: u64,
    members: &BTreeMap<u64, RootNode>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<RestoreReport> {
    if !members.contains_key(&node_id) {
        return Err(StoreError::Snapshot(format!("the new members do not include this node ({node_id})")));
    }
    check_empty_dir(data_dir)?;

    // 1. Verify the whole backup before creating anything.
    let (header, records) = super::format::verify(Counting {
        inner: BufReader::new(File::open(from)?),
        progress: &mut *progress,
    })?;
    let last_log_id = header
        .raft_meta()?
        .last_log_id
        .ok_or_else(|| StoreError::Snapshot("the snapshot was taken before anything was applied".into()))?;

    // 2. Rewrite it with the new membership, into the new directory.
    fs::create_dir_all(data_dir)?;
    let voters: BTreeSet<u64> = members.keys().copied().collect();
    let membership = StoredMembership::new(Some(last_log_id), Membership::new(vec![voters], members.clone()));
    let new_header = SnapshotHeader {
        snapshot_id: format!("restored-{}", header.snapshot_id),
        last_log_id: header.last_log_id,
        membership: Some(StoredMembershipRecord::from(&membership)),
        revision: header.revision,
    };
    let staging = data_dir.join("restore-input.tmp");
    let mut reader = SnapshotReader::new(Counting {
        inner: BufReader::with_capacity(1 << 20, File::open(from)?),
        progress: &mut *progress,
    })?;
    let mut writer =
        SnapshotWriter::new(BufWriter::with_capacity(1 << 20, File::create(&staging)?), &new_header)?;
    while let Some(item) = reader.next_item()? {
        writer.write_item(item)?;
    }
    let (out, _) = writer.finish()?;
    out.into_inner().map_err(|e| StoreError::Io(e.into_error()))?.sync_all()?;

    // 3. Install it and vote for ourselves at the backup's term.
    let (mut log, sm) = crate::open(data_dir)?;
    sm.install_snapshot_file(&staging)?;
    let vote = Vote::new(last_log_id.leader_id.term, node_id);
    log.save_vote(&vote).await.map_err(|e| StoreError::Snapshot(format!("saving the vote: {e}")))?;
    sm.flush()?;
    drop((log, sm));
    fs::remove_file(&staging)?;
    Ok(RestoreReport { snapshot_id: new_header.snapshot_id, last_log_id, revision: header.revision, records })
}
