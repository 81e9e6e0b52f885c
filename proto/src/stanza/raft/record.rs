//! The prost record inside `<entry encoded='true'/>`: one openraft log entry with its log id.
//!
//! XEP-0362 treats an entry's content as opaque data; icroot puts this record there (base64 of
//! its prost encoding), so the log id travels with the payload it names and a pure-XEP reader
//! still sees a well-formed `<entry/>`. Field tags are part of the wire format: never reuse one.

use std::collections::{BTreeMap, BTreeSet};

use super::{LeaderId, LogId, Membership};

/// One Raft log entry as carried inside `<entry encoded='true'/>`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct LogEntryRecord {
    /// Term of the leader that proposed the entry.
    #[prost(uint64, tag = "1")]
    pub term: u64,
    /// Node id of the leader that proposed the entry.
    #[prost(uint64, tag = "2")]
    pub node: u64,
    /// Log index.
    #[prost(uint64, tag = "3")]
    pub index: u64,
    /// What the entry holds; `None` only in a malformed record.
    #[prost(oneof = "EntryPayloadRecord", tags = "4, 5, 6")]
    pub payload: Option<EntryPayloadRecord>,
}

/// The three kinds of openraft log entry.
#[derive(Clone, PartialEq, ::prost::Oneof)]
pub enum EntryPayloadRecord {
    /// A blank entry (a new leader's first entry).
    #[prost(message, tag = "4")]
    Blank(BlankRecord),
    /// An application command: the prost encoding of `record::Command`, kept opaque here.
    #[prost(bytes = "vec", tag = "5")]
    Normal(Vec<u8>),
    /// A membership configuration.
    #[prost(message, tag = "6")]
    Membership(MembershipRecord),
}

/// Marker for a blank entry (an empty message, so the oneof has a member to set).
#[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
pub struct BlankRecord {}

/// A membership: one or two voter sets (two during a joint change) plus every node's domain.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MembershipRecord {
    /// The voter sets, in order.
    #[prost(message, repeated, tag = "1")]
    pub configs: Vec<VoterSetRecord>,
    /// Every node (voters and learners), by id.
    #[prost(message, repeated, tag = "2")]
    pub nodes: Vec<NodeRecord>,
}

/// One voter set of a (possibly joint) membership.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct VoterSetRecord {
    /// Voter node ids, ascending.
    #[prost(uint64, repeated, tag = "1")]
    pub voters: Vec<u64>,
}

/// A member node: its id and XMPP domain.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NodeRecord {
    /// Node id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The node's XMPP domain.
    #[prost(string, tag = "2")]
    pub domain: String,
}

impl LogEntryRecord {
    /// The entry's log id.
    pub fn log_id(&self) -> LogId {
        LogId { leader: LeaderId { term: self.term, node: self.node }, index: self.index }
    }
}

impl From<&Membership> for MembershipRecord {
    fn from(m: &Membership) -> Self {
        MembershipRecord {
            configs: m
                .configs
                .iter()
                .map(|c| VoterSetRecord { voters: c.iter().copied().collect() })
                .collect(),
            nodes: m.nodes.iter().map(|(id, d)| NodeRecord { id: *id, domain: d.clone() }).collect(),
        }
    }
}

impl TryFrom<MembershipRecord> for Membership {
    type Error = String;

    /// Fails on a duplicate voter in a set or a duplicate node id: a sender that wrote one
    /// is broken, and silently merging would hide it.
    fn try_from(r: MembershipRecord) -> Result<Self, String> {
        let mut configs = Vec::with_capacity(r.configs.len());
        for set in r.configs {
            let len = set.voters.len();
            let voters: BTreeSet<u64> = set.voters.into_iter().collect();
            if voters.len() != len {
                return Err("duplicate voter in a membership config".to_owned());
            }
            configs.push(voters);
        }
        let mut nodes = BTreeMap::new();
        for n in r.nodes {
            if nodes.insert(n.id, n.domain).is_some() {
                return Err(format!("duplicate node {} in a membership", n.id));
            }
        }
        Ok(Membership { configs, nodes })
    }
}
