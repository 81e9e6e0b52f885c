//! The Raft log's application entry ([`Command`]) and the state machine's answer
//! ([`CommandResponse`]). Field tags are permanent: never reuse or renumber one.
//!
//! Apply must be deterministic on every node, so nothing in it may read a clock: the leader
//! writes its clock reading into [`Command::proposed_at_ms`] when it proposes, and lease
//! arithmetic uses only that.

use super::stored::{StoredCloud, StoredExchange};

/// A registry command carried in a Raft log entry.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct Command {
    /// The authenticated domain that asked for the change (the leader's own domain for
    /// [`ExpireLeases`]).
    #[prost(string, tag = "1")]
    pub actor: String,
    /// Whether `actor` is a consortium administrator (decided by the root before proposing).
    #[prost(bool, tag = "2")]
    pub is_admin: bool,
    /// The proposing leader's clock, unix ms: the only time apply may use.
    #[prost(uint64, tag = "3")]
    pub proposed_at_ms: u64,
    /// What to do. Tags 10–18 are in use; the next variant takes 19.
    #[prost(oneof = "command::Kind", tags = "10, 11, 12, 13, 14, 15, 16, 17, 18")]
    pub kind: Option<command::Kind>,
}

/// The [`Command`] oneof.
pub mod command {
    /// Which registry change a [`super::Command`] makes.
    #[derive(Clone, PartialEq, Eq, ::prost::Oneof)]
    pub enum Kind {
        /// Create an Exchange.
        #[prost(message, tag = "10")]
        RegisterExchange(super::RegisterExchange),
        /// Replace an Exchange's fields.
        #[prost(message, tag = "11")]
        UpdateExchange(super::UpdateExchange),
        /// Remove an Exchange.
        #[prost(message, tag = "12")]
        DeregisterExchange(super::DeregisterExchange),
        /// Extend an Exchange's lease from `proposed_at_ms`.
        #[prost(message, tag = "13")]
        RenewLease(super::RenewLease),
        /// Remove Exchanges whose lease ended before `proposed_at_ms`.
        #[prost(message, tag = "14")]
        ExpireLeases(super::ExpireLeases),
        /// Create a Cloud.
        #[prost(message, tag = "15")]
        RegisterCloud(super::RegisterCloud),
        /// Replace a Cloud's fields.
        #[prost(message, tag = "16")]
        UpdateCloud(super::UpdateCloud),
        /// Remove a Cloud.
        #[prost(message, tag = "17")]
        DeregisterCloud(super::DeregisterCloud),
        /// Several commands the leader coalesced into one entry; see [`super::CommandBatch`].
        #[prost(message, tag = "18")]
        Batch(super::CommandBatch),
    }
}

/// Create an Exchange. Revisions and lease end in `exchange` are ignored; apply assigns them.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct RegisterExchange {
    /// The record to create.
    #[prost(message, optional, tag = "1")]
    pub exchange: Option<StoredExchange>,
}

/// Replace an Exchange's writable fields.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct UpdateExchange {
    /// The new fields (`domain` names the record).
    #[prost(message, optional, tag = "1")]
    pub exchange: Option<StoredExchange>,
    /// Compare-and-set against the record's modified revision.
    #[prost(uint64, optional, tag = "2")]
    pub expected_revision: Option<u64>,
}

/// Remove an Exchange.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct DeregisterExchange {
    /// The Exchange.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Compare-and-set revision.
    #[prost(uint64, optional, tag = "2")]
    pub expected_revision: Option<u64>,
}

/// Extend an Exchange's lease to `proposed_at_ms + lease_ttl_secs`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct RenewLease {
    /// The Exchange.
    #[prost(string, tag = "1")]
    pub domain: String,
}

/// Remove Exchanges whose lease ended at or before the command's `proposed_at_ms`.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct ExpireLeases {
    /// At most this many per command, oldest first, so one entry stays small; the leader
    /// proposes again while more remain.
    #[prost(uint32, tag = "1")]
    pub max_expired: u32,
}

/// Create a Cloud. Revisions in `cloud` are ignored; apply assigns them.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct RegisterCloud {
    /// The record to create (`owner` is the acting Exchange).
    #[prost(message, optional, tag = "1")]
    pub cloud: Option<StoredCloud>,
}

/// Replace a Cloud's writable fields.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct UpdateCloud {
    /// The new fields (`id` names the record).
    #[prost(message, optional, tag = "1")]
    pub cloud: Option<StoredCloud>,
    /// Compare-and-set revision.
    #[prost(uint64, optional, tag = "2")]
    pub expected_revision: Option<u64>,
}

/// Remove a Cloud.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct DeregisterCloud {
    /// The Cloud.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Compare-and-set revision.
    #[prost(uint64, optional, tag = "2")]
    pub expected_revision: Option<u64>,
}

/// Concurrent client writes the leader proposed as one log entry (one append, one fsync, one
/// replication round for all of them). Each part keeps its own actor, admin flag and clock
/// reading and gets its own answer, in order, in [`BatchApplied`]; the whole entry is applied in
/// one atomic storage write, so a crash never leaves part of it applied.
///
/// Only [`is_batchable`] commands with distinct [`batch_key`]s may be parts: then no part reads
/// anything another part writes, and applying them against the state before the entry gives
/// exactly what applying them one after another would. Apply refuses (as `Malformed`, per part)
/// any part that breaks the rule, a nested batch included, so every node answers the same way.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct CommandBatch {
    /// The parts, applied in this order.
    #[prost(message, repeated, tag = "1")]
    pub commands: Vec<Command>,
}

/// Most parts in one [`CommandBatch`].
pub const MAX_BATCH_PARTS: usize = 512;

/// Most encoded bytes of all parts of one [`CommandBatch`]: with base64 and markup the entry stays
/// well inside one AppendEntries stanza.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Whether `cmd` may be a part of a [`CommandBatch`]: the Exchange writes that read and write only
/// their own Exchange's keys (register, update, renew). Cloud writes (they count and read the
/// owner's other records), deregistrations (they iterate the owner's Clouds), lease expiry
/// (it scans every lease) and batches are proposed alone.
pub fn is_batchable(cmd: &Command) -> bool {
    batch_key(cmd).is_some()
}

/// The only registry key a batchable command reads or writes (its Exchange's domain); `None` for
/// a command that may not be batched. Parts of one batch have distinct keys.
pub fn batch_key(cmd: &Command) -> Option<&str> {
    use command::Kind;
    match cmd.kind.as_ref()? {
        Kind::RegisterExchange(r) => r.exchange.as_ref().map(|x| x.domain.as_str()),
        Kind::UpdateExchange(u) => u.exchange.as_ref().map(|x| x.domain.as_str()),
        Kind::RenewLease(r) => Some(r.domain.as_str()),
        _ => None,
    }
}

/// The state machine's answer to a [`Command`].
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct CommandResponse {
    /// Applied or refused.
    #[prost(oneof = "command_response::Result", tags = "1, 2, 3")]
    pub result: Option<command_response::Result>,
}

/// The [`CommandResponse`] oneof.
pub mod command_response {
    /// Whether the command changed the registry.
    // The error variant is small and rare; boxing the common one would cost an allocation per
    // apply for nothing.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, PartialEq, Eq, ::prost::Oneof)]
    pub enum Result {
        /// It did.
        #[prost(message, tag = "1")]
        Applied(super::Applied),
        /// It did not, and why.
        #[prost(message, tag = "2")]
        Error(super::CommandError),
        /// A [`super::CommandBatch`]'s answers, one per part in order.
        #[prost(message, tag = "3")]
        Batch(super::BatchApplied),
    }
}

/// The answers to a [`CommandBatch`]'s parts, in order.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct BatchApplied {
    /// One answer per part.
    #[prost(message, repeated, tag = "1")]
    pub parts: Vec<CommandResponse>,
}

/// A successful apply.
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct Applied {
    /// The registry revision after the change.
    #[prost(uint64, tag = "1")]
    pub revision: u64,
    /// The Exchange as stored now (register/update/renew).
    #[prost(message, optional, tag = "2")]
    pub exchange: Option<StoredExchange>,
    /// The Cloud as stored now (register/update).
    #[prost(message, optional, tag = "3")]
    pub cloud: Option<StoredCloud>,
    /// Domains removed by [`ExpireLeases`].
    #[prost(string, repeated, tag = "4")]
    pub expired: Vec<String>,
}

/// Why a command was refused. `key`, `detail` and the two numbers mean what the code says
/// (see the `RegistryError` conversion).
#[derive(Clone, PartialEq, Eq, ::prost::Message)]
pub struct CommandError {
    /// What went wrong.
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    /// The record key, field name, owner, leader or quota name the code refers to.
    #[prost(string, tag = "2")]
    pub key: String,
    /// Human-readable detail (the reason of an invalid field, a malformed request's text).
    #[prost(string, tag = "3")]
    pub detail: String,
    /// Expected revision, quota maximum, or oldest kept revision.
    #[prost(uint64, tag = "4")]
    pub expected: u64,
    /// Actual revision.
    #[prost(uint64, tag = "5")]
    pub actual: u64,
}

/// [`CommandError`] codes; one per `RegistryError` variant. Values are permanent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Unknown (a newer node's code, or an error without a registry meaning).
    Unspecified = 0,
    /// Malformed request.
    Malformed = 1,
    /// A field is out of bounds (`key` = field, `detail` = reason).
    InvalidField = 2,
    /// CAS failed (`expected`, `actual`).
    RevisionMismatch = 3,
    /// Exchange exists (`key` = domain).
    ExchangeExists = 4,
    /// Cloud exists (`key` = id).
    CloudExists = 5,
    /// No such Exchange (`key` = domain).
    ExchangeNotFound = 6,
    /// No such Cloud (`key` = id).
    CloudNotFound = 7,
    /// Lease over (`key` = domain).
    LeaseExpired = 8,
    /// Someone else's record (`key` = owner).
    NotOwner = 9,
    /// Admins only.
    NotAdmin = 10,
    /// Actor has no Exchange record (`key` = domain).
    NotRegistered = 11,
    /// Quota full (`key` = what, `expected` = max).
    QuotaExceeded = 12,
    /// Not the leader (`key` = leader domain, empty when unknown).
    NotLeader = 13,
    /// No quorum.
    NoQuorum = 14,
    /// History compacted (`expected` = oldest kept revision).
    RevisionCompacted = 15,
}
