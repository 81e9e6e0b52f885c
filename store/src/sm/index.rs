//! Secondary index keys, all in the `index` column family with empty values.
//!
//! ```text
//!  'c' kind len capability key   capability (Exchange) / service (Cloud) → record
//!  'r' kind len region key       region → record
//!  'o' len owner cloud-id        owner Exchange → its Clouds
//!  'l' be64(lease end ms) domain Exchanges by lease end, oldest first
//! ```
//!
//! `kind` is `e` or `c`; `len` is one byte. Values are length-prefixed rather than
//! separator-terminated so no byte a value may contain can confuse a prefix scan. Every
//! field that goes into a key is at most 253 bytes (validated before apply), so one length
//! byte is enough; a longer value is clamped, which only weakens the index, never the data.

use proto::record::{StoredCloud, StoredExchange};

/// Index tag: capability or service.
pub(crate) const TAG_CAPABILITY: u8 = b'c';
/// Index tag: region.
pub(crate) const TAG_REGION: u8 = b'r';
/// Index tag: owner → cloud.
pub(crate) const TAG_OWNER: u8 = b'o';
/// Index tag: lease end.
pub(crate) const TAG_LEASE: u8 = b'l';
/// Kind byte for Exchanges.
pub(crate) const KIND_EXCHANGE: u8 = b'e';
/// Kind byte for Clouds.
pub(crate) const KIND_CLOUD: u8 = b'c';

fn push_len_prefixed(key: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let len = bytes.len().min(usize::from(u8::MAX));
    key.push(len as u8);
    key.extend_from_slice(&bytes[..len]);
}

/// The prefix of every index key for `(tag, kind, value)`; the record key follows it.
pub(crate) fn value_prefix(tag: u8, kind: u8, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(3 + value.len());
    key.push(tag);
    key.push(kind);
    push_len_prefixed(&mut key, value);
    key
}

fn value_key(tag: u8, kind: u8, value: &str, record_key: &str) -> Vec<u8> {
    let mut key = value_prefix(tag, kind, value);
    key.extend_from_slice(record_key.as_bytes());
    key
}

/// The prefix of the owner index for `owner`'s Clouds.
pub(crate) fn owner_prefix(owner: &str) -> Vec<u8> {
    let mut key = vec![TAG_OWNER];
    push_len_prefixed(&mut key, owner);
    key
}

/// The lease index key of an Exchange.
pub(crate) fn lease_key(expires_ms: u64, domain: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + domain.len());
    key.push(TAG_LEASE);
    key.extend_from_slice(&expires_ms.to_be_bytes());
    key.extend_from_slice(domain.as_bytes());
    key
}

/// Every index key an Exchange has. Duplicates (a capability listed twice) are harmless.
pub(crate) fn exchange_keys(x: &StoredExchange) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(x.capabilities.len() + x.regions.len() + 1);
    for c in &x.capabilities {
        keys.push(value_key(TAG_CAPABILITY, KIND_EXCHANGE, c, &x.domain));
    }
    for r in &x.regions {
        keys.push(value_key(TAG_REGION, KIND_EXCHANGE, r, &x.domain));
    }
    keys.push(lease_key(x.lease_expires_ms, &x.domain));
    keys
}

/// Every index key a Cloud has.
pub(crate) fn cloud_keys(c: &StoredCloud) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(c.services.len() + c.regions.len() + 1);
    for s in &c.services {
        keys.push(value_key(TAG_CAPABILITY, KIND_CLOUD, s, &c.id));
    }
    for r in &c.regions {
        keys.push(value_key(TAG_REGION, KIND_CLOUD, r, &c.id));
    }
    let mut owner = owner_prefix(&c.owner);
    owner.extend_from_slice(c.id.as_bytes());
    keys.push(owner);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_keeps_values_apart() {
        // "ab" + key "c…" must not collide with "abc" + key "…": the length byte separates them.
        let a = value_key(TAG_CAPABILITY, KIND_EXCHANGE, "ab", "cd.example");
        let b = value_key(TAG_CAPABILITY, KIND_EXCHANGE, "abc", "d.example");
        assert_ne!(a, b);
        assert!(!b.starts_with(&value_prefix(TAG_CAPABILITY, KIND_EXCHANGE, "ab")));
    }

    #[test]
    fn lease_keys_sort_by_time_then_domain() {
        assert!(lease_key(5, "z.example") < lease_key(6, "a.example"));
        assert!(lease_key(256, "a.example") > lease_key(255, "z.example"));
    }
}
