//! Search by capability, region and key prefix with a limit and a cursor, read from one
//! RocksDB snapshot so a page is a point-in-time view at the revision it reports.
//!
//! The most selective index given drives the scan (capability, then region, then the primary
//! key range for a prefix or no filter); the other filters are checked on each record. Results
//! come in key order: Exchanges by domain, then Clouds by id. A page examines at most
//! [`SCAN_BUDGET`] candidates; when it runs out it returns what it has with a cursor to go on.

use proto::record::{StoredCloud, StoredExchange};
use proto::stanza::registry::bounds::{SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX};
use proto::stanza::registry::{CloudRecord, ExchangeRecord, RecordKind, Search, SearchHit, SearchResults};
use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, SnapshotWithThreadMode, DB};

use super::{index, Cfs, SmMeta, StateMachineStore};
use crate::codec::decode;
use crate::error::{Result, StoreError};

/// Most candidates one search page examines (bounds the cost of a filter that rarely matches).
pub const SCAN_BUDGET: usize = 10_000;

const EXCHANGE_CURSOR: &str = "exchange:";
const CLOUD_CURSOR: &str = "cloud:";

/// One kind's scan state for a page.
struct Page<'q> {
    query: &'q Search,
    limit: usize,
    examined: usize,
    hits: Vec<SearchHit>,
    /// Set when the page is full or the budget ran out: where the next page starts.
    next: Option<String>,
}

impl StateMachineStore {
    /// One page of `query`'s results. The query's `consistency` is the caller's business
    /// (linearizable reads wait for the applied index before calling this).
    pub fn search(&self, query: &Search) -> Result<SearchResults> {
        let cfs = Cfs::new(&self.db)?;
        let snap = self.db.snapshot();
        let meta = SmMeta::load(|k| Ok(snap.get_cf(cfs.meta, k)?))?;
        let limit = match query.limit {
            0 => SEARCH_LIMIT_DEFAULT,
            n => n.min(SEARCH_LIMIT_MAX),
        } as usize;
        let (after_exchange, after_cloud) = match query.after.as_deref() {
            None => (None, None),
            Some(c) if c.starts_with(EXCHANGE_CURSOR) => (Some(&c[EXCHANGE_CURSOR.len()..]), None),
            Some(c) if c.starts_with(CLOUD_CURSOR) => (None, Some(&c[CLOUD_CURSOR.len()..])),
            Some(c) => return Err(StoreError::InvalidQuery(format!("unknown cursor {c:?}"))),
        };
        let mut page = Page { query, limit, examined: 0, hits: Vec::new(), next: None };
        let want_exchanges = query.kind != Some(RecordKind::Cloud) && after_cloud.is_none();
        if want_exchanges {
            page.scan(&self.db, &snap, &cfs, RecordKind::Exchange, after_exchange)?;
        }
        if query.kind != Some(RecordKind::Exchange) && page.next.is_none() {
            page.scan(&self.db, &snap, &cfs, RecordKind::Cloud, after_cloud)?;
        }
        Ok(SearchResults { revision: meta.revision, hits: page.hits, next: page.next })
    }
}

impl Page<'_> {
    fn scan(
        &mut self,
        db: &DB,
        snap: &SnapshotWithThreadMode<'_, DB>,
        cfs: &Cfs<'_>,
        kind: RecordKind,
        after: Option<&str>,
    ) -> Result<()> {
        let (kind_byte, records) = match kind {
            RecordKind::Cloud => (index::KIND_CLOUD, cfs.clouds),
            _ => (index::KIND_EXCHANGE, cfs.exchanges),
        };
        // The driving key space: an index prefix, or the primary column family.
        let (family, prefix): (&ColumnFamily, Vec<u8>) = match (&self.query.capability, &self.query.region) {
            (Some(c), _) => (cfs.index, index::value_prefix(index::TAG_CAPABILITY, kind_byte, c)),
            (None, Some(r)) => (cfs.index, index::value_prefix(index::TAG_REGION, kind_byte, r)),
            (None, None) => (records, Vec::new()),
        };
        let key_prefix = self.query.prefix.as_deref().unwrap_or("");
        let start_key = match after {
            Some(a) if a >= key_prefix => a,
            _ => key_prefix,
        };
        let mut seek = prefix.clone();
        seek.extend_from_slice(start_key.as_bytes());
        let mut opts = ReadOptions::default();
        opts.set_snapshot(snap);
        let mut last_examined: Option<String> = None;
        for kv in db.iterator_cf_opt(family, opts, IteratorMode::From(&seek, Direction::Forward)) {
            let (k, v) = kv?;
            let Some(key_bytes) = k.strip_prefix(prefix.as_slice()) else { break };
            let key = std::str::from_utf8(key_bytes).map_err(|e| StoreError::corrupt("record key", e))?;
            if after == Some(key) {
                continue; // the cursor names the last record of the previous page
            }
            // Keys come in order, so the first one past the prefix ends the scan.
            if !key.starts_with(key_prefix) {
                break;
            }
            if self.examined >= SCAN_BUDGET || self.hits.len() >= self.limit {
                // Resume after the last key looked at: everything up to it is done.
                self.next = Some(cursor(kind, last_examined.as_deref().unwrap_or("")));
                return Ok(());
            }
            self.examined += 1;
            last_examined = Some(key.to_owned());
            let value = if prefix.is_empty() { Some(v.to_vec()) } else { snap.get_cf(records, key)? };
            let Some(value) = value else { continue };
            if let Some(hit) = self.matching(kind, &value)? {
                self.hits.push(hit);
            }
        }
        Ok(())
    }

    fn matching(&self, kind: RecordKind, value: &[u8]) -> Result<Option<SearchHit>> {
        let q = self.query;
        let has = |list: &[String], want: &Option<String>| want.as_ref().is_none_or(|w| list.contains(w));
        Ok(match kind {
            RecordKind::Cloud => {
                let c: StoredCloud = decode(value, "cloud")?;
                if !has(&c.services, &q.capability) || !has(&c.regions, &q.region) {
                    return Ok(None);
                }
                Some(SearchHit::Cloud(CloudRecord::try_from(c).map_err(|e| StoreError::corrupt("cloud", e))?))
            }
            _ => {
                let x: StoredExchange = decode(value, "exchange")?;
                if !has(&x.capabilities, &q.capability) || !has(&x.regions, &q.region) {
                    return Ok(None);
                }
                Some(SearchHit::Exchange(
                    ExchangeRecord::try_from(x).map_err(|e| StoreError::corrupt("exchange", e))?,
                ))
            }
        })
    }
}

fn cursor(kind: RecordKind, key: &str) -> String {
    match kind {
        RecordKind::Cloud => format!("{CLOUD_CURSOR}{key}"),
        _ => format!("{EXCHANGE_CURSOR}{key}"),
    }
}
