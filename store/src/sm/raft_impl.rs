//! openraft's `RaftStateMachine` and `RaftSnapshotBuilder` over [`StateMachineStore`], plus
//! the snapshot entry points the `icroot snapshot save/restore` commands use.
//!
//! openraft 0.9's `SnapshotData` for icroot is `Cursor<Vec<u8>>`, so a snapshot handed to
//! openraft is read whole into memory once; the file itself is written and installed as a
//! stream (see docs/storage.md).

use std::fs::{self, File};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{OptionalSend, RaftSnapshotBuilder, StorageError};
use proto::raft_types::{RaftEntry, RaftLogId, RaftTypes};
use proto::record::CommandResponse;

use super::StateMachineStore;
use crate::codec::RaftStoredMembership;
use crate::error::{Result, StoreError};
use crate::snapshot::{self, RaftSnapshotMeta, SNAPSHOT_SUFFIX};

impl StateMachineStore {
    fn snapshot_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.snapshot_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Build a snapshot file of the registry as of now (applies may continue meanwhile); its
    /// path and openraft metadata. It becomes the current snapshot.
    pub fn build_snapshot_file(&self) -> Result<(PathBuf, RaftSnapshotMeta)> {
        let _g = self.snapshot_guard();
        let (path, header) = snapshot::build_file(&self.db, &self.snapshot_dir)?;
        Ok((path, header.raft_meta()?))
    }

    /// Build a snapshot and copy it to `to` (`icroot snapshot save`).
    pub fn save_snapshot(&self, to: &Path) -> Result<RaftSnapshotMeta> {
        let (path, meta) = self.build_snapshot_file()?;
        fs::copy(&path, to)?;
        File::open(to)?.sync_all()?;
        Ok(meta)
    }

    /// Replace the registry with the snapshot file at `from` (`icroot snapshot restore`, and
    /// openraft's install). The file is verified before anything changes.
    pub fn install_snapshot_file(&self, from: &Path) -> Result<RaftSnapshotMeta> {
        let header = snapshot::read_header(from)?;
        fs::create_dir_all(&self.snapshot_dir)?;
        let tmp = self.snapshot_dir.join(format!("receiving-{}.tmp", header.snapshot_id));
        fs::copy(from, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        self.publish_and_install(&tmp, &header.snapshot_id)?;
        header.raft_meta()
    }

    /// Move the synced file `tmp` into place as the current snapshot and install it.
    fn publish_and_install(&self, tmp: &Path, snapshot_id: &str) -> Result<()> {
        let _g = self.snapshot_guard();
        // Verify before publishing: publishing deletes the previous snapshot.
        snapshot::format::verify(std::io::BufReader::new(File::open(tmp)?))?;
        let path = self.snapshot_dir.join(format!("{snapshot_id}{SNAPSHOT_SUFFIX}"));
        snapshot::publish(tmp, &path)?;
        let mut meta = self.lock_meta();
        *meta = snapshot::install_file(&self.db, &path)?;
        Ok(())
    }

    fn install_bytes(&self, expected: &RaftSnapshotMeta, bytes: &[u8]) -> Result<()> {
        // Check the header before writing anything: the bytes must describe what openraft says.
        let header = snapshot::format::SnapshotReader::new(bytes)?.header().clone();
        let got = header.raft_meta()?;
        if got.last_log_id != expected.last_log_id || got.last_membership != expected.last_membership {
            return Err(StoreError::Snapshot(format!(
                "header says {:?}, openraft says {:?}",
                got.last_log_id, expected.last_log_id
            )));
        }
        fs::create_dir_all(&self.snapshot_dir)?;
        let tmp = self.snapshot_dir.join(format!("received-{}.tmp", header.snapshot_id));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        // A file that fails verification is refused inside install_file before any write.
        self.publish_and_install(&tmp, &header.snapshot_id)
    }

    fn current_snapshot(&self) -> Result<Option<Snapshot<RaftTypes>>> {
        let _g = self.snapshot_guard();
        let Some(path) = snapshot::current_file(&self.snapshot_dir)? else { return Ok(None) };
        let meta = snapshot::read_header(&path)?.raft_meta()?;
        let data = fs::read(&path)?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

impl RaftSnapshotBuilder<RaftTypes> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<RaftTypes>, StorageError<u64>> {
        let (path, meta) = self.build_snapshot_file().map_err(StoreError::snapshot)?;
        let data = fs::read(&path).map_err(|e| StoreError::Io(e).snapshot())?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<RaftTypes> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<RaftLogId>, RaftStoredMembership), StorageError<u64>> {
        let meta = self.lock_meta();
        Ok((meta.last_applied, meta.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError<u64>>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.apply_entries(entries).map_err(StoreError::write_sm)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &RaftSnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        self.install_bytes(meta, snapshot.get_ref()).map_err(StoreError::snapshot)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<RaftTypes>>, StorageError<u64>> {
        self.current_snapshot().map_err(StoreError::read)
    }
}
