//! Receiving a snapshot from openraft into a temp file of the snapshot directory.
//!
//! ```text
//!  leader chunks ─▶ openraft Streaming ─▶ write_all ─▶ snapshots/receiving-<n>.tmp
//!                                                              │ install_snapshot(meta, file)
//!                                                              ▼
//!                     flush + fsync, verify, rename to <id>.icsnap, stream into RocksDB
//! ```
//!
//! A `tokio::fs::File` has no path, so the state machine remembers the one it handed out and
//! recognises it at install time by device and inode. A caller may also install a file it
//! opened itself (openraft's storage `Suite` installs the leader's current snapshot file):
//! that one is copied into a temp file of ours first, since publishing renames the file.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;

use super::StateMachineStore;
use crate::error::Result;
use crate::snapshot::TEMP_EXTENSION;

/// Distinguishes temp files created in the same nanosecond.
static NEXT_RECEIVE: AtomicU64 = AtomicU64::new(0);

impl StateMachineStore {
    fn receiving_slot(&self) -> std::sync::MutexGuard<'_, Option<PathBuf>> {
        // Only a path is stored, replaced whole: a poisoned lock is still consistent.
        self.receiving.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new, empty temp file for openraft to write a received snapshot into (readable and
    /// writable, as openraft may seek back over it). An unfinished earlier one is deleted:
    /// openraft has dropped it for this one.
    pub(crate) fn begin_receiving(&self) -> Result<File> {
        fs::create_dir_all(&self.snapshot_dir)?;
        let (path, file) = self.create_temp("receiving")?;
        if let Some(old) = self.receiving_slot().replace(path) {
            let _ = fs::remove_file(old);
        }
        Ok(file)
    }

    /// Create a new temp file `<prefix>-<nanos>-<n>.tmp` in the snapshot directory.
    fn create_temp(&self, prefix: &str) -> Result<(PathBuf, File)> {
        // The clock only makes the name unlikely to repeat; `create_new` makes it certain.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let n = NEXT_RECEIVE.fetch_add(1, Ordering::Relaxed);
        let path = self.snapshot_dir.join(format!("{prefix}-{nanos}-{n}.{TEMP_EXTENSION}"));
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        Ok((path, file))
    }

    /// Make the received `file` durable and return the path of a temp file holding it: the
    /// one [`Self::begin_receiving`] handed out, or a copy when `file` is another file.
    pub(crate) async fn received_path(&self, file: &mut tokio::fs::File) -> Result<PathBuf> {
        // Writes still queued in tokio's blocking pool must land before the fsync.
        file.flush().await?;
        file.sync_all().await?;
        let got = file.metadata().await?;
        let handed_out = self.receiving_slot().take();
        if let Some(path) = handed_out {
            if same_file(&path, &got) {
                return Ok(path);
            }
            let _ = fs::remove_file(path);
        }
        fs::create_dir_all(&self.snapshot_dir)?;
        let (path, mut copy) = self.create_temp("received")?;
        let mut src = file.try_clone().await?.into_std().await;
        // `copy` lets the kernel move the bytes (copy_file_range); nothing passes through memory.
        std::io::Seek::rewind(&mut src)?;
        std::io::copy(&mut src, &mut copy)?;
        copy.sync_all()?;
        Ok(path)
    }
}

/// Whether `path` names the file whose metadata is `meta`.
fn same_file(path: &Path, meta: &std::fs::Metadata) -> bool {
    fs::metadata(path).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
}
