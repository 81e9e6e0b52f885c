//! The store's error type, and its mapping onto openraft's `StorageError`.

use openraft::{AnyError, StorageError, StorageIOError};

/// Why a store operation failed. Every variant is a local fault (disk, corruption, a bad
/// snapshot file): refusals of registry commands are not errors here, they are
/// [`proto::record::CommandError`] answers inside a successful apply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// RocksDB refused an operation (I/O error, corruption it detected, a lock held by
    /// another process).
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A file operation (snapshot files, the data directory) failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A stored value does not decode: the database was written by something else or is
    /// damaged.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which value (column family and key, or record kind).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A snapshot file is not one this version can read, or its checksum does not match.
    #[error("bad snapshot file: {0}")]
    Snapshot(String),
    /// The change feed no longer holds changes after the requested revision.
    #[error("changes before revision {oldest} are no longer kept")]
    Compacted {
        /// The oldest revision still in the feed.
        oldest: u64,
    },
    /// A search cursor or filter the store cannot use.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A column family the store needs is missing from an opened database.
    #[error("column family {0} missing")]
    MissingColumnFamily(&'static str),
}

impl StoreError {
    /// A [`StoreError::Corrupt`] for `what`.
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl ToString) -> Self {
        StoreError::Corrupt { what: what.into(), detail: detail.to_string() }
    }

    /// The error as openraft wants it from a read.
    pub(crate) fn read(self) -> StorageError<u64> {
        StorageIOError::read(AnyError::new(&self)).into()
    }

    /// The error as openraft wants it from a log write.
    pub(crate) fn write_logs(self) -> StorageError<u64> {
        StorageIOError::write_logs(AnyError::new(&self)).into()
    }

    /// The error as openraft wants it from a vote write.
    pub(crate) fn write_vote(self) -> StorageError<u64> {
        StorageIOError::write_vote(AnyError::new(&self)).into()
    }

    /// The error as openraft wants it from a state machine write.
    pub(crate) fn write_sm(self) -> StorageError<u64> {
        StorageIOError::write_state_machine(AnyError::new(&self)).into()
    }

    /// The error as openraft wants it from a snapshot operation.
    pub(crate) fn snapshot(self) -> StorageError<u64> {
        StorageIOError::write_snapshot(None, AnyError::new(&self)).into()
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
