//! XEP-0362 "Raft over XMPP" payloads (`urn:xmpp:raft`) and icroot's extension
//! (`https://ns.icroot.dev/raft-ext/0`), typed.
//!
//! ```text
//!  <iq>/<message> ─▶ RaftPayload ─┬─ RequestVote / Vote          (XEP-0362 §4.1 + <ext/>)
//!                                 ├─ Append{Entry*} / AppendResponse (XEP-0362 §4.2 + <ext/>)
//!                                 └─ SnapshotChunk / SnapshotResponse (extension only)
//!                 raft_types (feature `openraft`) ◀─▶ openraft RPC types
//! ```
//!
//! The XEP's fields are plain struct fields; what openraft needs beyond them lives in an
//! `<ext xmlns='https://ns.icroot.dev/raft-ext/0'/>` child, typed as an `Option`, so a message
//! from a pure XEP-0362 peer still parses. docs/protocol-parts/10-raft.md lists every field.

mod record;
mod snapshot;
mod xep;

use std::collections::{BTreeMap, BTreeSet};

pub use record::{
    BlankRecord, EntryPayloadRecord, LogEntryRecord, MembershipRecord, NodeRecord, VoterSetRecord,
};
pub use snapshot::{SnapshotChunk, SnapshotResponse, MAX_SNAPSHOT_CHUNK_BYTES};
pub use xep::{
    Append, AppendExt, AppendResponse, AppendResult, Entry, RequestVote, RequestVoteExt, Vote, VoteExt,
};

use super::{parse_attr, parse_bool_attr, parse_opt_attr, ParseError};
use crate::ns;
use crate::xml::Element;

/// The name of the extension child inside each XEP-0362 element.
pub const EXT: &str = "ext";

/// openraft's `CommittedLeaderId`: the term and node id of a leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaderId {
    /// The leader's term.
    pub term: u64,
    /// The leader's node id.
    pub node: u64,
}

/// openraft's `LogId`: which leader proposed an entry, and its index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId {
    /// The proposing leader.
    pub leader: LeaderId,
    /// The log index.
    pub index: u64,
}

/// openraft's `Vote`: a leader id plus whether a quorum granted it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FullVote {
    /// The term.
    pub term: u64,
    /// The node id voted for (the candidate or leader).
    pub node: u64,
    /// Whether a quorum granted this vote.
    pub committed: bool,
}

/// A cluster membership: voter sets (two during a joint change) and every node's XMPP domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Voter sets, in order.
    pub configs: Vec<BTreeSet<u64>>,
    /// Every node (voters and learners) and its XMPP domain.
    pub nodes: BTreeMap<u64, String>,
}

/// Any Raft payload icroot sends or accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RaftPayload {
    /// `<request-vote/>` (XEP-0362 RequestVote).
    RequestVote(RequestVote),
    /// `<vote/>` (XEP-0362 RequestVoteResponse).
    Vote(Vote),
    /// `<append/>` (XEP-0362 AppendEntries).
    Append(Append),
    /// `<append-response/>` (XEP-0362 AppendEntriesResponse).
    AppendResponse(AppendResponse),
    /// `<snapshot-chunk/>` (extension: openraft InstallSnapshot request).
    SnapshotChunk(SnapshotChunk),
    /// `<snapshot-response/>` (extension: openraft InstallSnapshot response).
    SnapshotResponse(SnapshotResponse),
}

impl RaftPayload {
    /// Whether `el` is one of the payload elements (by name and namespace), so a router can
    /// pick it out of an `<iq/>` or `<message/>` before parsing it.
    pub fn is_raft_payload(el: &Element) -> bool {
        match el.ns() {
            ns::RAFT => matches!(el.name(), "request-vote" | "vote" | "append" | "append-response"),
            ns::RAFT_EXT => matches!(el.name(), "snapshot-chunk" | "snapshot-response"),
            _ => false,
        }
    }

    /// Parse any payload element.
    pub fn from_element(el: &Element) -> Result<Self, ParseError> {
        Ok(match (el.ns(), el.name()) {
            (ns::RAFT, "request-vote") => RaftPayload::RequestVote(RequestVote::try_from(el)?),
            (ns::RAFT, "vote") => RaftPayload::Vote(Vote::try_from(el)?),
            (ns::RAFT, "append") => RaftPayload::Append(Append::try_from(el)?),
            (ns::RAFT, "append-response") => RaftPayload::AppendResponse(AppendResponse::try_from(el)?),
            (ns::RAFT_EXT, "snapshot-chunk") => RaftPayload::SnapshotChunk(SnapshotChunk::try_from(el)?),
            (ns::RAFT_EXT, "snapshot-response") => {
                RaftPayload::SnapshotResponse(SnapshotResponse::try_from(el)?)
            }
            _ => {
                return Err(ParseError::WrongElement {
                    name: "request-vote|vote|append|append-response|snapshot-chunk|snapshot-response",
                    ns: ns::RAFT,
                    found: format!("{{{}}}{}", el.ns(), el.name()),
                })
            }
        })
    }

    /// Serialize.
    pub fn to_element(&self) -> Element {
        match self {
            RaftPayload::RequestVote(p) => p.to_element(),
            RaftPayload::Vote(p) => p.to_element(),
            RaftPayload::Append(p) => p.to_element(),
            RaftPayload::AppendResponse(p) => p.to_element(),
            RaftPayload::SnapshotChunk(p) => p.to_element(),
            RaftPayload::SnapshotResponse(p) => p.to_element(),
        }
    }

    /// The `cluster` attribute every payload carries.
    pub fn cluster(&self) -> &str {
        match self {
            RaftPayload::RequestVote(p) => &p.cluster,
            RaftPayload::Vote(p) => &p.cluster,
            RaftPayload::Append(p) => &p.cluster,
            RaftPayload::AppendResponse(p) => &p.cluster,
            RaftPayload::SnapshotChunk(p) => &p.cluster,
            RaftPayload::SnapshotResponse(p) => &p.cluster,
        }
    }
}

/// A required boolean attribute.
fn required_bool(el: &Element, element: &'static str, attr: &'static str) -> Result<bool, ParseError> {
    parse_bool_attr(el, element, attr)?.ok_or(ParseError::MissingAttr { element, attr })
}

/// A leader id split over two optional attributes that must come together.
fn opt_leader_id(
    el: &Element,
    element: &'static str,
    term_attr: &'static str,
    node_attr: &'static str,
) -> Result<Option<LeaderId>, ParseError> {
    match (parse_opt_attr(el, element, term_attr)?, parse_opt_attr(el, element, node_attr)?) {
        (Some(term), Some(node)) => Ok(Some(LeaderId { term, node })),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ParseError::MissingAttr { element, attr: term_attr }),
        (Some(_), None) => Err(ParseError::MissingAttr { element, attr: node_attr }),
    }
}

/// A log id over three optional attributes that must come together.
fn opt_log_id(
    el: &Element,
    element: &'static str,
    [term_attr, node_attr, index_attr]: [&'static str; 3],
) -> Result<Option<LogId>, ParseError> {
    let leader = opt_leader_id(el, element, term_attr, node_attr)?;
    match (leader, parse_opt_attr(el, element, index_attr)?) {
        (Some(leader), Some(index)) => Ok(Some(LogId { leader, index })),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ParseError::MissingAttr { element, attr: term_attr }),
        (Some(_), None) => Err(ParseError::MissingAttr { element, attr: index_attr }),
    }
}

/// Write a log id as three attributes (nothing for `None`).
fn with_log_id(el: Element, [term_attr, node_attr, index_attr]: [&str; 3], id: Option<LogId>) -> Element {
    match id {
        Some(id) => el
            .with_attr(term_attr, id.leader.term.to_string())
            .with_attr(node_attr, id.leader.node.to_string())
            .with_attr(index_attr, id.index.to_string()),
        None => el,
    }
}

/// The `cluster`, `term`, `leader` and `committed` attributes of the extension-only elements.
fn parse_vote_attrs(el: &Element, element: &'static str) -> Result<(String, FullVote), ParseError> {
    let cluster = super::required_attr(el, element, "cluster")?.to_owned();
    let vote = FullVote {
        term: parse_attr(el, element, "term")?,
        node: parse_attr(el, element, "leader")?,
        committed: required_bool(el, element, "committed")?,
    };
    Ok((cluster, vote))
}

/// Write what [`parse_vote_attrs`] reads.
fn with_vote_attrs(el: Element, cluster: &str, vote: FullVote) -> Element {
    el.with_attr("cluster", cluster)
        .with_attr("term", vote.term.to_string())
        .with_attr("leader", vote.node.to_string())
        .with_attr("committed", bool_str(vote.committed))
}

/// XML Schema boolean spelling used in everything we write.
fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
