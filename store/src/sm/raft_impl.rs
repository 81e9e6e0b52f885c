//! openraft's `RaftStateMachine` and `RaftSnapshotBuilder` over [`StateMachineStore`], plus
//! the snapshot entry points the `icroot snapshot save/restore` commands use.
//!
//! openraft 0.9's `SnapshotData` for icroot is `tokio::fs::File`: a built snapshot is handed
//! over as the open file, and a received one is written by openraft chunk by chunk into a temp
//! file (see [`super::receive`]), so no snapshot is ever whole in memory (docs/storage.md).

use std::fs::{self, File};
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

    /// Build a snapshot and open it for openraft to read. Opened under the snapshot lock, so
    /// a concurrent build cannot delete it first (an open file outlives its deletion).
    fn build_snapshot_opened(&self) -> Result<(File, RaftSnapshotMeta)> {
        let _g = self.snapshot_guard();
        let (path, header) = snapshot::build_file(&self.db, &self.snapshot_dir)?;
        Ok((File::open(path)?, header.raft_meta()?))
    }

    /// Build a snapshot and copy it to `to` (`icroot snapshot save`).
    pub fn save_snapshot(&self, to: &Path) -> Result<RaftSnapshotMeta> {
        let (path, meta) = self.build_snapshot_file()?;
        fs::copy(&path, to)?;
        File::open(to)?.sync_all()?;
        Ok(meta)
    }

    /// Open the current snapshot file for reading, with its header (`icroot snapshot save`
    /// streams it to an operator). The open file stays readable when a newer build replaces it.
    pub fn open_current_snapshot(&self) -> Result<Option<(File, snapshot::format::SnapshotHeader)>> {
        let _g = self.snapshot_guard();
        let Some(path) = snapshot::current_file(&self.snapshot_dir)? else { return Ok(None) };
        let header = snapshot::read_header(&path)?;
        Ok(Some((File::open(&path)?, header)))
    }

    /// Replace the registry with the snapshot file at `from` (`icroot snapshot restore`, and
    /// openraft's install). The file is verified before anything changes.
    pub fn install_snapshot_file(&self, from: &Path) -> Result<RaftSnapshotMeta> {
        let header = snapshot::read_header(from)?;
        check_snapshot_id(&header.snapshot_id)?;
        fs::create_dir_all(&self.snapshot_dir)?;
        let tmp = self.snapshot_dir.join(format!("receiving-{}.tmp", header.snapshot_id));
        fs::copy(from, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        self.publish_and_install(&tmp, &header.snapshot_id)?;
        header.raft_meta()
    }

    /// Move the synced file `tmp` into place as the current snapshot and install it.
    fn publish_and_install(&self, tmp: &Path, snapshot_id: &str) -> Result<()> {
        check_snapshot_id(snapshot_id)?;
        let _g = self.snapshot_guard();
        // Verify before publishing: publishing deletes the previous snapshot.
        snapshot::format::verify(std::io::BufReader::new(File::open(tmp)?))?;
        let path = self.snapshot_dir.join(format!("{snapshot_id}{SNAPSHOT_SUFFIX}"));
        snapshot::publish(tmp, &path)?;
        let mut meta = self.lock_meta();
        *meta = snapshot::install_file(&self.db, &path)?;
        Ok(())
    }

    /// Install the received, synced snapshot file `tmp`, which openraft says is `expected`.
    fn install_received(&self, expected: &RaftSnapshotMeta, tmp: &Path) -> Result<()> {
        // Check the header before anything changes: the file must describe what openraft says.
        let header = snapshot::read_header(tmp)?;
        let got = header.raft_meta()?;
        if got.last_log_id != expected.last_log_id || got.last_membership != expected.last_membership {
            return Err(StoreError::Snapshot(format!(
                "header says {:?}, openraft says {:?}",
                got.last_log_id, expected.last_log_id
            )));
        }
        // A file that fails verification is refused inside publish_and_install before any write.
        self.publish_and_install(tmp, &header.snapshot_id)
    }

    fn current_snapshot(&self) -> Result<Option<Snapshot<RaftTypes>>> {
        let _g = self.snapshot_guard();
        let Some(path) = snapshot::current_file(&self.snapshot_dir)? else { return Ok(None) };
        let meta = snapshot::read_header(&path)?.raft_meta()?;
        let file = tokio::fs::File::from_std(File::open(&path)?);
        Ok(Some(Snapshot { meta, snapshot: Box::new(file) }))
    }
}

/// Run blocking store work on tokio's blocking pool (or inline outside a runtime).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h
            .spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Snapshot(format!("snapshot task failed: {e}")))?,
        Err(_) => f(),
    }
}

/// Refuse a snapshot id that is not a plain file name: it names files in the snapshot
/// directory and comes from the leader or from an operator's file.
fn check_snapshot_id(id: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.starts_with('.') || !id.chars().all(plain) {
        return Err(StoreError::Snapshot(format!("unusable snapshot id {id:?}")));
    }
    Ok(())
}

impl RaftSnapshotBuilder<RaftTypes> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<RaftTypes>, StorageError<u64>> {
        // Seconds of RocksDB iteration and file writing: off the async workers.
        let this = self.clone();
        let (file, meta) =
            blocking(move || this.build_snapshot_opened()).await.map_err(StoreError::snapshot)?;
        Ok(Snapshot { meta, snapshot: Box::new(tokio::fs::File::from_std(file)) })
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

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError<u64>> {
        let file = self.begin_receiving().map_err(StoreError::snapshot)?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &RaftSnapshotMeta,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError<u64>> {
        let path = self.received_path(&mut snapshot).await.map_err(StoreError::snapshot)?;
        drop(snapshot);
        // Verifying and loading a whole registry takes seconds: off the async workers.
        let (this, expected, file) = (self.clone(), meta.clone(), path.clone());
        let res = blocking(move || this.install_received(&expected, &file)).await;
        if res.is_err() {
            // Refused before publishing (publishing renames it away): nothing will use it.
            let _ = fs::remove_file(&path);
        }
        res.map_err(StoreError::snapshot)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<RaftTypes>>, StorageError<u64>> {
        self.current_snapshot().map_err(StoreError::read)
    }
}
