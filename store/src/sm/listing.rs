//! Cheap key listings for the node's housekeeping and discovery: the earliest lease end (the
//! leader's expiry task sleeps until it) and the first N Exchange domains / Cloud ids in key
//! order (XEP-0030 disco#items). Read from the local state machine; no Raft round trip.

use proto::record::StoredCloud;
use rocksdb::{Direction, IteratorMode};

use super::{index, Cfs, StateMachineStore};
use crate::codec::decode;
use crate::error::{Result, StoreError};

impl StateMachineStore {
    /// The earliest lease end (unix ms) among registered Exchanges, `None` when there is none.
    pub fn next_lease_end_ms(&self) -> Result<Option<u64>> {
        let cfs = Cfs::new(&self.db)?;
        let start = [index::TAG_LEASE];
        let first = self.db.iterator_cf(cfs.index, IteratorMode::From(&start, Direction::Forward)).next();
        let Some(kv) = first else { return Ok(None) };
        let (k, _) = kv?;
        if k.first() != Some(&index::TAG_LEASE) {
            return Ok(None);
        }
        let end: [u8; 8] = k
            .get(1..9)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| StoreError::corrupt("lease key", "short"))?;
        Ok(Some(u64::from_be_bytes(end)))
    }

    /// At most `limit` registered Exchange domains, in key order.
    pub fn exchange_domains(&self, limit: usize) -> Result<Vec<String>> {
        let cfs = Cfs::new(&self.db)?;
        let mut out = Vec::new();
        for kv in self.db.iterator_cf(cfs.exchanges, IteratorMode::Start).take(limit) {
            let (k, _) = kv?;
            out.push(String::from_utf8(k.to_vec()).map_err(|e| StoreError::corrupt("exchange key", e))?);
        }
        Ok(out)
    }

    /// At most `limit` Clouds as (id, owning Exchange), in id order.
    pub fn cloud_owners(&self, limit: usize) -> Result<Vec<(String, String)>> {
        let cfs = Cfs::new(&self.db)?;
        let mut out = Vec::new();
        for kv in self.db.iterator_cf(cfs.clouds, IteratorMode::Start).take(limit) {
            let (_, v) = kv?;
            let c: StoredCloud = decode(&v, "cloud")?;
            out.push((c.id, c.owner));
        }
        Ok(out)
    }
}
