//! prost records that only the store writes: log ids, votes, memberships, change-feed
//! entries and snapshot framing. Field tags are permanent, as in `proto::record`.

use openraft::{CommittedLeaderId, StoredMembership};
use prost::Message;
use proto::raft_types::{membership_from_stanza, membership_to_stanza, RaftLogId, RaftVote, RootNode};
use proto::record::{StoredCloud, StoredExchange};
use proto::stanza::raft::{Membership as StanzaMembership, MembershipRecord};

use crate::error::{Result, StoreError};

/// openraft's stored membership with icroot's node types.
pub type RaftStoredMembership = StoredMembership<u64, RootNode>;

/// A log id at rest.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct LogIdRecord {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub node: u64,
    #[prost(uint64, tag = "3")]
    pub index: u64,
}

impl From<&RaftLogId> for LogIdRecord {
    fn from(id: &RaftLogId) -> Self {
        LogIdRecord { term: id.leader_id.term, node: id.leader_id.node_id, index: id.index }
    }
}

impl From<LogIdRecord> for RaftLogId {
    fn from(r: LogIdRecord) -> Self {
        openraft::LogId::new(CommittedLeaderId::new(r.term, r.node), r.index)
    }
}

/// A vote at rest.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub(crate) struct VoteRecord {
    #[prost(uint64, tag = "1")]
    pub term: u64,
    #[prost(uint64, tag = "2")]
    pub node: u64,
    #[prost(bool, tag = "3")]
    pub committed: bool,
}

impl From<&RaftVote> for VoteRecord {
    fn from(v: &RaftVote) -> Self {
        VoteRecord { term: v.leader_id.term, node: v.leader_id.node_id, committed: v.committed }
    }
}

impl From<VoteRecord> for RaftVote {
    fn from(r: VoteRecord) -> Self {
        let mut v = openraft::Vote::new(r.term, r.node);
        v.committed = r.committed;
        v
    }
}

/// The state machine's last membership (log id + configuration) at rest.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct StoredMembershipRecord {
    #[prost(message, optional, tag = "1")]
    pub log_id: Option<LogIdRecord>,
    #[prost(message, optional, tag = "2")]
    pub membership: Option<MembershipRecord>,
}

impl From<&RaftStoredMembership> for StoredMembershipRecord {
    fn from(m: &RaftStoredMembership) -> Self {
        StoredMembershipRecord {
            log_id: m.log_id().as_ref().map(LogIdRecord::from),
            membership: Some(MembershipRecord::from(&membership_to_stanza(m.membership()))),
        }
    }
}

impl StoredMembershipRecord {
    /// The openraft form; fails on a membership record with duplicate ids.
    pub(crate) fn into_raft(self) -> Result<RaftStoredMembership> {
        let membership = match self.membership {
            Some(m) => membership_from_stanza(
                StanzaMembership::try_from(m).map_err(|e| StoreError::corrupt("membership", e))?,
            ),
            None => openraft::Membership::default(),
        };
        Ok(StoredMembership::new(self.log_id.map(RaftLogId::from), membership))
    }
}

/// What a change did to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::prost::Enumeration)]
#[repr(i32)]
#[non_exhaustive]
pub enum ChangeKind {
    /// Not set (a record from a newer node).
    Unspecified = 0,
    /// The record was created or replaced; the change holds it as stored after the change.
    Put = 1,
    /// The record was removed; the change holds it as it was just before removal.
    Delete = 2,
}

/// One entry of the change feed: a single record's change at one registry revision.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ChangeRecord {
    /// The registry revision this change produced (the feed's key).
    #[prost(uint64, tag = "1")]
    pub revision: u64,
    /// Put or delete.
    #[prost(enumeration = "ChangeKind", tag = "2")]
    pub kind: i32,
    /// The Exchange, when the change is to an Exchange.
    #[prost(message, optional, tag = "3")]
    pub exchange: Option<StoredExchange>,
    /// The Cloud, when the change is to a Cloud.
    #[prost(message, optional, tag = "4")]
    pub cloud: Option<StoredCloud>,
}

impl ChangeRecord {
    /// The change's kind (`Unspecified` for an unknown value).
    pub fn change_kind(&self) -> ChangeKind {
        ChangeKind::try_from(self.kind).unwrap_or(ChangeKind::Unspecified)
    }
}

/// Decode a prost value read from column family `what`.
pub(crate) fn decode<M: Message + Default>(bytes: &[u8], what: &str) -> Result<M> {
    M::decode(bytes).map_err(|e| StoreError::corrupt(what, e))
}
