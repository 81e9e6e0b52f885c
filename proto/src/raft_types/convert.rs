//! The conversions, one pair per openraft RPC type, plus entries and membership.

use std::collections::BTreeMap;

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{CommittedLeaderId, EntryPayload, SnapshotMeta, StoredMembership};
use prost::Message as _;

use super::record_codec::{encode_entry_record, entry_from_stanza};
use super::{ConvertError, RaftTypes, RootNode};
use crate::record::Command;
use crate::stanza::raft::{
    self as st, Append, AppendExt, AppendResponse, AppendResult, EntryPayloadRecord, LogEntryRecord,
    MembershipRecord, RequestVote, RequestVoteExt, SnapshotChunk, SnapshotResponse, VoteExt,
    MAX_SNAPSHOT_CHUNK_BYTES,
};
use crate::stanza::ParseError;

/// openraft's log id with icroot's node id.
pub type RaftLogId = openraft::LogId<u64>;
/// openraft's vote with icroot's node id.
pub type RaftVote = openraft::Vote<u64>;
/// openraft's membership with icroot's node types.
pub type RaftMembership = openraft::Membership<u64, RootNode>;
/// openraft's log entry for icroot.
pub type RaftEntry = openraft::Entry<RaftTypes>;

fn check_cluster(found: &str, expected: &str) -> Result<(), ConvertError> {
    if found == expected {
        Ok(())
    } else {
        Err(ConvertError::ClusterMismatch { expected: expected.to_owned(), found: found.to_owned() })
    }
}

fn leader_to(l: &CommittedLeaderId<u64>) -> st::LeaderId {
    st::LeaderId { term: l.term, node: l.node_id }
}

fn log_id_to(id: &RaftLogId) -> st::LogId {
    st::LogId { leader: leader_to(&id.leader_id), index: id.index }
}

fn log_id_from(id: st::LogId) -> RaftLogId {
    log_id_at(id.leader, id.index)
}

fn log_id_at(leader: st::LeaderId, index: u64) -> RaftLogId {
    openraft::LogId::new(CommittedLeaderId::new(leader.term, leader.node), index)
}

fn vote_to(v: &RaftVote) -> st::FullVote {
    st::FullVote { term: v.leader_id.term, node: v.leader_id.node_id, committed: v.committed }
}

fn vote_from(v: st::FullVote) -> RaftVote {
    let mut vote = openraft::Vote::new(v.term, v.node);
    vote.committed = v.committed;
    vote
}

/// Rebuild an optional log id whose index sits in a mandatory XEP attribute: with no leader id
/// the XEP index must be the 0 we write, or the two halves disagree.
fn split_log_id(
    leader: Option<st::LeaderId>,
    index: u64,
    what: &str,
) -> Result<Option<RaftLogId>, ConvertError> {
    match leader {
        Some(l) => Ok(Some(log_id_at(l, index))),
        None if index == 0 => Ok(None),
        None => Err(ConvertError::Inconsistent(format!("{what} index {index} without a log id"))),
    }
}

/// An openraft membership in the stanza layer's form.
pub fn membership_to_stanza(m: &RaftMembership) -> st::Membership {
    st::Membership {
        configs: m.get_joint_config().clone(),
        nodes: m.nodes().map(|(id, n)| (*id, n.domain.clone())).collect(),
    }
}

/// The stanza layer's membership as openraft's. Voters missing from `nodes` get a default
/// node, as openraft itself does; icroot never sends such a membership.
pub fn membership_from_stanza(m: st::Membership) -> RaftMembership {
    let nodes: BTreeMap<u64, RootNode> =
        m.nodes.into_iter().map(|(id, d)| (id, RootNode { domain: d })).collect();
    openraft::Membership::new(m.configs, nodes)
}

/// A log entry as the record carried in `<entry encoded='true'/>`.
pub fn entry_to_record(e: &RaftEntry) -> LogEntryRecord {
    let payload = match &e.payload {
        EntryPayload::Blank => EntryPayloadRecord::Blank(st::BlankRecord {}),
        EntryPayload::Normal(cmd) => EntryPayloadRecord::Normal(cmd.encode_to_vec()),
        EntryPayload::Membership(m) => {
            EntryPayloadRecord::Membership(MembershipRecord::from(&membership_to_stanza(m)))
        }
    };
    LogEntryRecord {
        term: e.log_id.leader_id.term,
        node: e.log_id.leader_id.node_id,
        index: e.log_id.index,
        payload: Some(payload),
    }
}

/// The log entry in a record.
pub fn entry_from_record(r: LogEntryRecord) -> Result<RaftEntry, ConvertError> {
    let log_id = log_id_from(r.log_id());
    let payload = match r.payload {
        Some(EntryPayloadRecord::Blank(_)) => EntryPayload::Blank,
        Some(EntryPayloadRecord::Normal(bytes)) => EntryPayload::Normal(
            Command::decode(bytes.as_slice())
                .map_err(|e| ParseError::Invalid(format!("entry {log_id} holds no command: {e}")))?,
        ),
        Some(EntryPayloadRecord::Membership(m)) => EntryPayload::Membership(membership_from_stanza(
            st::Membership::try_from(m).map_err(ParseError::Invalid)?,
        )),
        None => return Err(ParseError::Invalid(format!("entry {log_id} has no payload")).into()),
    };
    Ok(openraft::Entry { log_id, payload })
}

/// `<request-vote/>` for an openraft vote request.
pub fn vote_request_to_stanza(req: &VoteRequest<u64>, cluster: &str) -> RequestVote {
    RequestVote {
        term: req.vote.leader_id.term,
        last_log_term: req.last_log_id.map_or(0, |l| l.leader_id.term),
        last_log_index: req.last_log_id.map_or(0, |l| l.index),
        cluster: cluster.to_owned(),
        ext: Some(RequestVoteExt {
            leader: req.vote.leader_id.node_id,
            committed: req.vote.committed,
            last_log_node: req.last_log_id.map(|l| l.leader_id.node_id),
        }),
    }
}

/// The openraft vote request in a `<request-vote/>`.
pub fn vote_request_from_stanza(rv: &RequestVote, cluster: &str) -> Result<VoteRequest<u64>, ConvertError> {
    check_cluster(&rv.cluster, cluster)?;
    let ext = rv.ext.ok_or(ConvertError::MissingExt { element: "request-vote" })?;
    let last_log_id = match ext.last_log_node {
        Some(node) => Some(log_id_at(st::LeaderId { term: rv.last_log_term, node }, rv.last_log_index)),
        None if rv.last_log_term == 0 && rv.last_log_index == 0 => None,
        None => {
            return Err(ConvertError::Inconsistent("last-log-term/index without last-log-node".to_owned()))
        }
    };
    let vote = vote_from(st::FullVote { term: rv.term, node: ext.leader, committed: ext.committed });
    Ok(VoteRequest { vote, last_log_id })
}

/// `<vote/>` for an openraft vote response.
pub fn vote_response_to_stanza(resp: &VoteResponse<u64>, cluster: &str) -> st::Vote {
    st::Vote {
        term: resp.vote.leader_id.term,
        vote_granted: resp.vote_granted,
        cluster: cluster.to_owned(),
        ext: Some(VoteExt {
            leader: resp.vote.leader_id.node_id,
            committed: resp.vote.committed,
            last_log: resp.last_log_id.as_ref().map(log_id_to),
        }),
    }
}

/// The openraft vote response in a `<vote/>`.
pub fn vote_response_from_stanza(v: &st::Vote, cluster: &str) -> Result<VoteResponse<u64>, ConvertError> {
    check_cluster(&v.cluster, cluster)?;
    let ext = v.ext.ok_or(ConvertError::MissingExt { element: "vote" })?;
    Ok(VoteResponse {
        vote: vote_from(st::FullVote { term: v.term, node: ext.leader, committed: ext.committed }),
        vote_granted: v.vote_granted,
        last_log_id: ext.last_log.map(log_id_from),
    })
}

/// `<append/>` for an openraft append-entries request.
pub fn append_entries_request_to_stanza(req: &AppendEntriesRequest<RaftTypes>, cluster: &str) -> Append {
    Append {
        term: req.vote.leader_id.term,
        prev_log_index: req.prev_log_id.map_or(0, |l| l.index),
        leader_commit: req.leader_commit.map_or(0, |l| l.index),
        cluster: cluster.to_owned(),
        ext: Some(AppendExt {
            leader: req.vote.leader_id.node_id,
            committed: req.vote.committed,
            prev_log_leader: req.prev_log_id.map(|l| leader_to(&l.leader_id)),
            commit_leader: req.leader_commit.map(|l| leader_to(&l.leader_id)),
        }),
        entries: req.entries.iter().map(|e| st::Entry::Encoded(encode_entry_record(e))).collect(),
    }
}

/// The openraft append-entries request in an `<append/>`.
pub fn append_entries_request_from_stanza(
    a: &Append,
    cluster: &str,
) -> Result<AppendEntriesRequest<RaftTypes>, ConvertError> {
    check_cluster(&a.cluster, cluster)?;
    let ext = a.ext.ok_or(ConvertError::MissingExt { element: "append" })?;
    let entries = a.entries.iter().map(entry_from_stanza).collect::<Result<Vec<_>, ConvertError>>()?;
    Ok(AppendEntriesRequest {
        vote: vote_from(st::FullVote { term: a.term, node: ext.leader, committed: ext.committed }),
        prev_log_id: split_log_id(ext.prev_log_leader, a.prev_log_index, "prev-log")?,
        entries,
        leader_commit: split_log_id(ext.commit_leader, a.leader_commit, "leader-commit")?,
    })
}

/// `<append-response/>` for an openraft append-entries response. openraft's answer carries no
/// term unless it is a higher vote, so the caller passes the request's term (the XEP `term`
/// is the follower's, which equals the leader's whenever the follower accepted its vote).
pub fn append_entries_response_to_stanza(
    resp: &AppendEntriesResponse<u64>,
    request_term: u64,
    cluster: &str,
) -> AppendResponse {
    let (term, success, result) = match resp {
        AppendEntriesResponse::Success => (request_term, true, AppendResult::Success),
        AppendEntriesResponse::PartialSuccess(m) => {
            (request_term, true, AppendResult::PartialSuccess(m.as_ref().map(log_id_to)))
        }
        AppendEntriesResponse::Conflict => (request_term, false, AppendResult::Conflict),
        AppendEntriesResponse::HigherVote(v) => (
            v.leader_id.term,
            false,
            AppendResult::HigherVote { leader: v.leader_id.node_id, committed: v.committed },
        ),
    };
    AppendResponse { term, success, cluster: cluster.to_owned(), ext: Some(result) }
}

/// The openraft append-entries response in an `<append-response/>`.
pub fn append_entries_response_from_stanza(
    r: &AppendResponse,
    cluster: &str,
) -> Result<AppendEntriesResponse<u64>, ConvertError> {
    check_cluster(&r.cluster, cluster)?;
    let result = r.ext.ok_or(ConvertError::MissingExt { element: "append-response" })?;
    let resp = match result {
        AppendResult::Success => AppendEntriesResponse::Success,
        AppendResult::PartialSuccess(m) => AppendEntriesResponse::PartialSuccess(m.map(log_id_from)),
        AppendResult::Conflict => AppendEntriesResponse::Conflict,
        AppendResult::HigherVote { leader, committed } => {
            AppendEntriesResponse::HigherVote(vote_from(st::FullVote {
                term: r.term,
                node: leader,
                committed,
            }))
        }
    };
    let success = matches!(resp, AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_));
    if success != r.success {
        return Err(ConvertError::Inconsistent(format!("success='{}' with result {resp}", r.success)));
    }
    Ok(resp)
}

/// `<snapshot-chunk/>` for an openraft install-snapshot request; fails if the chunk is larger
/// than [`MAX_SNAPSHOT_CHUNK_BYTES`].
pub fn install_snapshot_request_to_stanza(
    req: &InstallSnapshotRequest<RaftTypes>,
    cluster: &str,
) -> Result<SnapshotChunk, ConvertError> {
    if req.data.len() > MAX_SNAPSHOT_CHUNK_BYTES {
        return Err(ConvertError::ChunkTooLarge(req.data.len()));
    }
    Ok(SnapshotChunk {
        cluster: cluster.to_owned(),
        vote: vote_to(&req.vote),
        snapshot_id: req.meta.snapshot_id.clone(),
        last_log: req.meta.last_log_id.as_ref().map(log_id_to),
        membership_log: req.meta.last_membership.log_id().as_ref().map(log_id_to),
        membership: membership_to_stanza(req.meta.last_membership.membership()),
        offset: req.offset,
        data: req.data.clone(),
        done: req.done,
    })
}

/// The openraft install-snapshot request in a `<snapshot-chunk/>`.
pub fn install_snapshot_request_from_stanza(
    c: &SnapshotChunk,
    cluster: &str,
) -> Result<InstallSnapshotRequest<RaftTypes>, ConvertError> {
    check_cluster(&c.cluster, cluster)?;
    let membership = membership_from_stanza(c.membership.clone());
    Ok(InstallSnapshotRequest {
        vote: vote_from(c.vote),
        meta: SnapshotMeta {
            last_log_id: c.last_log.map(log_id_from),
            last_membership: StoredMembership::new(c.membership_log.map(log_id_from), membership),
            snapshot_id: c.snapshot_id.clone(),
        },
        offset: c.offset,
        data: c.data.clone(),
        done: c.done,
    })
}

/// `<snapshot-response/>` for an openraft install-snapshot response.
pub fn install_snapshot_response_to_stanza(
    resp: &InstallSnapshotResponse<u64>,
    cluster: &str,
) -> SnapshotResponse {
    SnapshotResponse { cluster: cluster.to_owned(), vote: vote_to(&resp.vote) }
}

/// The openraft install-snapshot response in a `<snapshot-response/>`.
pub fn install_snapshot_response_from_stanza(
    r: &SnapshotResponse,
    cluster: &str,
) -> Result<InstallSnapshotResponse<u64>, ConvertError> {
    check_cluster(&r.cluster, cluster)?;
    Ok(InstallSnapshotResponse { vote: vote_from(r.vote) })
}
