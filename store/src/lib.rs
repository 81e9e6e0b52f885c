//! `store` — the root's state on disk: openraft's log storage and the registry state machine,
//! both on one RocksDB database, plus snapshot files.
//!
//! ```text
//!            openraft (RaftCore)                         root-node handlers
//!             │ append/vote/purge        │ apply/snapshot        │ get/search/changes_since
//!             ▼                          ▼                       ▼
//!       ┌───────────┐            ┌────────────────────────────────────────┐
//!       │ LogStore  │            │ StateMachineStore                      │
//!       └─────┬─────┘            └───────┬──────────────────────┬─────────┘
//!             │ synced writes            │ one batch per entry  │ stream
//!             ▼                          ▼                      ▼
//!   RocksDB <data>/db: meta, logs │ sm_meta, exchanges,   <data>/snapshots/*.icsnap
//!                                 │ clouds, index, changes   (versioned, SHA-256)
//! ```
//!
//! Nothing acknowledged is lost: votes and log appends are WAL-synced before openraft hears
//! they are done; each applied entry's writes and its log id commit in one atomic batch.
//! Registry commands are applied deterministically ([`proto::record::Command`] carries the
//! leader's clock; apply never reads one). See docs/storage.md for layout and measurements.

mod codec;
mod db;
mod error;
mod log_store;
mod sm;
pub mod snapshot;
pub mod testkit;

use std::path::Path;

pub use codec::{ChangeKind, ChangeRecord, RaftStoredMembership};
pub use db::DbTuning;
pub use error::StoreError;
pub use log_store::LogStore;
pub use sm::search::SCAN_BUDGET;
pub use sm::{ChangesPage, SmMeta, StateMachineStore, DEFAULT_CHANGE_RETENTION, MAX_EXPIRED_PER_COMMAND};

/// Open (creating if needed) the store in directory `path` with the default memory budget.
pub fn open(path: impl AsRef<Path>) -> Result<(LogStore, StateMachineStore), StoreError> {
    open_with(path, DbTuning::default())
}

/// Open the store in `path` with explicit RocksDB memory knobs. Layout: `path/db` (RocksDB)
/// and `path/snapshots`. A second process opening the same path gets a RocksDB lock error.
pub fn open_with(
    path: impl AsRef<Path>,
    tuning: DbTuning,
) -> Result<(LogStore, StateMachineStore), StoreError> {
    let path = path.as_ref();
    std::fs::create_dir_all(path)?;
    let db = db::open_db(&path.join("db"), tuning)?;
    let sm = StateMachineStore::open(db.clone(), path.join("snapshots"))?;
    Ok((LogStore::new(db), sm))
}
