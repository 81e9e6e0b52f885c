//! Opening the RocksDB database: column families, memory-bounded options, key encodings.
//!
//! One database holds both the Raft log and the state machine, so they share one WAL: a
//! synced log write also makes every earlier (unsynced) state machine write durable, which
//! is what lets `purge` drop log entries the state machine has applied (see docs/storage.md).

use std::path::Path;
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Options, WriteOptions, DB};

use crate::error::{Result, StoreError};

/// Log metadata: vote, committed log id, last purged log id.
pub(crate) const CF_LOG_META: &str = "meta";
/// Log entries keyed by big-endian index.
pub(crate) const CF_LOGS: &str = "logs";
/// State machine metadata: last applied, membership, global revision, change floor.
pub(crate) const CF_SM_META: &str = "sm_meta";
/// Exchanges keyed by domain.
pub(crate) const CF_EXCHANGES: &str = "exchanges";
/// Clouds keyed by id.
pub(crate) const CF_CLOUDS: &str = "clouds";
/// Secondary indexes (capability, region, owner, lease end); values are empty.
pub(crate) const CF_INDEX: &str = "index";
/// The change feed keyed by big-endian revision.
pub(crate) const CF_CHANGES: &str = "changes";

pub(crate) const ALL_CFS: [&str; 7] =
    [CF_LOG_META, CF_LOGS, CF_SM_META, CF_EXCHANGES, CF_CLOUDS, CF_INDEX, CF_CHANGES];

/// Memory budget knobs. The defaults keep a 1M-record registry under the 250 MB RSS goal:
/// RocksDB's defaults (64 MiB memtables × 2 per column family × 7 families, an 8 MiB cache
/// per family, unbounded index blocks) would not.
#[derive(Clone, Copy, Debug)]
pub struct DbTuning {
    /// Shared LRU block cache for all column families, including index and filter blocks.
    pub block_cache_bytes: usize,
    /// Memtable size per column family before it is flushed.
    pub write_buffer_bytes: usize,
    /// Cap on all memtables together (RocksDB flushes the largest when it is reached).
    pub db_write_buffer_bytes: usize,
    /// Cap on live WAL files: past it RocksDB flushes the column families holding the oldest
    /// WAL alive. Bounds the replay after a crash, and so restart-to-serving time.
    pub max_wal_bytes: u64,
}

impl Default for DbTuning {
    fn default() -> Self {
        DbTuning {
            block_cache_bytes: 32 << 20,
            write_buffer_bytes: 16 << 20,
            db_write_buffer_bytes: 64 << 20,
            max_wal_bytes: 32 << 20,
        }
    }
}

/// Open (creating if needed) the database at `path` with every column family.
pub(crate) fn open_db(path: &Path, tuning: DbTuning) -> Result<Arc<DB>> {
    let cache = Cache::new_lru_cache(tuning.block_cache_bytes)?;
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&cache);
    // Index and filter blocks live in the bounded cache instead of on the heap per open file.
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table.set_bloom_filter(10.0, false);

    let mut cf_opts = Options::default();
    cf_opts.set_block_based_table_factory(&table);
    cf_opts.set_write_buffer_size(tuning.write_buffer_bytes);
    cf_opts.set_max_write_buffer_number(2);
    cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    cf_opts.set_level_compaction_dynamic_level_bytes(true);

    let mut db_opts = cf_opts.clone();
    db_opts.create_if_missing(true);
    db_opts.create_missing_column_families(true);
    db_opts.set_db_write_buffer_size(tuning.db_write_buffer_bytes);
    db_opts.set_max_total_wal_size(tuning.max_wal_bytes);
    db_opts.set_max_background_jobs(2);
    db_opts.set_keep_log_file_num(4);
    // A bounded table cache: each open SST costs memory for its reader.
    db_opts.set_max_open_files(256);

    let cfs = ALL_CFS.iter().map(|name| ColumnFamilyDescriptor::new(*name, cf_opts.clone()));
    Ok(Arc::new(DB::open_cf_descriptors(&db_opts, path, cfs)?))
}

/// The handle of column family `name`.
pub(crate) fn cf<'a>(db: &'a DB, name: &'static str) -> Result<&'a ColumnFamily> {
    db.cf_handle(name).ok_or(StoreError::MissingColumnFamily(name))
}

/// Write options that fsync the WAL before the write returns: for everything that must be
/// durable before it is acknowledged (votes, log appends, truncation, purge).
pub(crate) fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// Big-endian bytes of `n`, so RocksDB's byte order is numeric order.
pub(crate) fn be_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// The number in a big-endian key.
pub(crate) fn be_from(key: &[u8], what: &str) -> Result<u64> {
    let bytes: [u8; 8] =
        key.try_into().map_err(|_| StoreError::corrupt(what, format!("key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// An exclusive end key above every UTF-8 key: UTF-8 never contains the byte 0xFF.
pub(crate) const ABOVE_ALL_UTF8: &[u8] = &[0xFF];
/// An exclusive end key above every 8-byte big-endian key.
pub(crate) const ABOVE_ALL_U64: &[u8] = &[0xFF; 9];
