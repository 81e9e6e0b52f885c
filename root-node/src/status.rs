//! The cluster view (`<cluster-status/>`) from openraft's metrics, and membership changes.

use std::collections::BTreeSet;

use openraft::{ChangeMembers, ServerState};
use proto::raft_types::RootNode;
use proto::stanza::registry::{ClusterStatus, Member, MemberRole, RegistryRequest};

use crate::service::NodeCtx;

/// This node's view of the cluster. `commit-index` is the quorum-matched index on the leader
/// and the applied index elsewhere (a follower does not know the leader's commit exactly).
pub(crate) fn cluster_status(ctx: &NodeCtx) -> ClusterStatus {
    let m = ctx.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let links: BTreeSet<String> = ctx.xmpp.links().into_iter().map(|(d, _, _)| d).collect();
    let applied = m.last_applied.map_or(0, |l| l.index);
    let mut commit = applied;
    if let Some(repl) = &m.replication {
        let mut matched: Vec<u64> = voters
            .iter()
            .map(|id| {
                if *id == m.id {
                    m.last_log_index.unwrap_or(0)
                } else {
                    repl.get(id).copied().flatten().map_or(0, |l| l.index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(c) = matched.get(voters.len() / 2) {
            commit = commit.max(*c);
        }
    }
    let members = membership
        .nodes()
        .map(|(id, node)| {
            let role = if Some(*id) == m.current_leader {
                MemberRole::Leader
            } else if !voters.contains(id) {
                MemberRole::Learner
            } else if *id == m.id && m.state == ServerState::Candidate {
                MemberRole::Candidate
            } else {
                MemberRole::Follower
            };
            Member {
                node_id: *id,
                domain: node.domain.clone(),
                role,
                reachable: *id == m.id || links.contains(&node.domain),
            }
        })
        .collect();
    ClusterStatus {
        node_id: m.id,
        leader: m.current_leader,
        term: m.current_term,
        commit_index: commit,
        applied_index: applied,
        members,
    }
}

/// Why a membership change did not happen.
#[derive(Debug)]
pub(crate) enum MembershipError {
    /// This node is not the leader; the leader if known.
    NotLeader(Option<RootNode>),
    /// openraft refused or failed.
    Failed(String),
}

/// Apply an add-learner / promote / remove-member request (admin already checked).
pub(crate) async fn change_membership(
    ctx: &NodeCtx,
    req: &RegistryRequest,
) -> Result<ClusterStatus, MembershipError> {
    check_membership_change(ctx, req).map_err(MembershipError::Failed)?;
    let result = match req {
        RegistryRequest::AddLearner(a) => {
            ctx.raft.add_learner(a.node_id, RootNode { domain: a.domain.clone() }, true).await
        }
        RegistryRequest::Promote(p) => {
            ctx.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([p.node_id])), false).await
        }
        RegistryRequest::RemoveMember(r) => {
            let voters: BTreeSet<u64> =
                ctx.raft.metrics().borrow().membership_config.membership().voter_ids().collect();
            let ids = BTreeSet::from([r.node_id]);
            let change = if voters.contains(&r.node_id) {
                ChangeMembers::RemoveVoters(ids)
            } else {
                ChangeMembers::RemoveNodes(ids)
            };
            ctx.raft.change_membership(change, false).await
        }
        _ => return Err(MembershipError::Failed("not a membership request".into())),
    };
    match result {
        Ok(_) => Ok(cluster_status(ctx)),
        Err(e) => match e.forward_to_leader() {
            Some(f) => Err(MembershipError::NotLeader(f.leader_node.clone())),
            None => Err(MembershipError::Failed(e.to_string())),
        },
    }
}

/// Refuse, with a readable reason, a change that makes no sense in this node's view of the
/// membership (openraft would accept some of them silently, e.g. removing a non-member).
fn check_membership_change(ctx: &NodeCtx, req: &RegistryRequest) -> Result<(), String> {
    let m = ctx.raft.metrics().borrow().membership_config.clone();
    let membership = m.membership();
    let voter = |id: u64| membership.voter_ids().any(|v| v == id);
    let member = |id: u64| membership.get_node(&id);
    match req {
        RegistryRequest::AddLearner(a) if voter(a.node_id) => {
            Err(format!("node {} is already a voter", a.node_id))
        }
        RegistryRequest::AddLearner(a) => match member(a.node_id) {
            Some(n) if n.domain != a.domain => Err(format!(
                "node {} is already a member as {}; remove it first or use a new node id",
                a.node_id, n.domain
            )),
            _ => Ok(()),
        },
        RegistryRequest::Promote(p) if voter(p.node_id) => {
            Err(format!("node {} is already a voter", p.node_id))
        }
        RegistryRequest::Promote(p) if member(p.node_id).is_none() => {
            Err(format!("node {} is not a member; add it with `cluster add-learner` first", p.node_id))
        }
        RegistryRequest::RemoveMember(r) if member(r.node_id).is_none() => {
            Err(format!("node {} is not a member", r.node_id))
        }
        _ => Ok(()),
    }
}
