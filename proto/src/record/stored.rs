//! Stored forms of the Exchange and Cloud records (what the state machine keeps and what
//! snapshots carry). Field tags are permanent: never reuse one.

use std::collections::BTreeMap;

/// An Exchange record at rest. Mirrors [`crate::stanza::registry::ExchangeRecord`].
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct StoredExchange {
    /// Lowercase XMPP domain (the key).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Organisation.
    #[prost(string, tag = "2")]
    pub organisation: String,
    /// Regions, in the order written.
    #[prost(string, repeated, tag = "3")]
    pub regions: Vec<String>,
    /// Endpoints.
    #[prost(string, repeated, tag = "4")]
    pub endpoints: Vec<String>,
    /// SHA-256 fingerprints, lowercase hex.
    #[prost(string, repeated, tag = "5")]
    pub trust_anchors: Vec<String>,
    /// Capabilities.
    #[prost(string, repeated, tag = "6")]
    pub capabilities: Vec<String>,
    /// Metadata (a B-tree so encoding is deterministic).
    #[prost(btree_map = "string, string", tag = "7")]
    pub metadata: BTreeMap<String, String>,
    /// Lease length.
    #[prost(uint32, tag = "8")]
    pub lease_ttl_secs: u32,
    /// Lease end, unix ms (from the leader's clock reading in the command).
    #[prost(uint64, tag = "9")]
    pub lease_expires_ms: u64,
    /// Revision that created the record.
    #[prost(uint64, tag = "10")]
    pub created_revision: u64,
    /// Revision of the last change.
    #[prost(uint64, tag = "11")]
    pub modified_revision: u64,
}

/// A Cloud record at rest. Mirrors [`crate::stanza::registry::CloudRecord`].
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct StoredCloud {
    /// Cloud id (the key).
    #[prost(string, tag = "1")]
    pub id: String,
    /// Owning Exchange domain.
    #[prost(string, tag = "2")]
    pub owner: String,
    /// Services.
    #[prost(string, repeated, tag = "3")]
    pub services: Vec<String>,
    /// Regions.
    #[prost(string, repeated, tag = "4")]
    pub regions: Vec<String>,
    /// Metadata.
    #[prost(btree_map = "string, string", tag = "5")]
    pub metadata: BTreeMap<String, String>,
    /// Revision that created the record.
    #[prost(uint64, tag = "6")]
    pub created_revision: u64,
    /// Revision of the last change.
    #[prost(uint64, tag = "7")]
    pub modified_revision: u64,
}
