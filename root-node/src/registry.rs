//! The registry API: writes through Raft, reads from the local state machine after the leader
//! confirms it leads and this node applied that far (or straight away for
//! `consistency='stale'`), and writes forwarded to the leader when this node is a follower.
//!
//! ```text
//!  request ─▶ RegistryRequest ─┬─ write ─▶ Command{actor, is_admin, now} ─▶ Proposer (batches)
//!                              ├─ read  ─▶ ReadIndex round (leader's, or asked of it)? ─▶ StateMachineStore
//!                              └─ not leader ─▶ <forwarded actor='…'> iq to the leader ─▶ relay
//! ```
//!
//! The actor is always the domain the S2S stream authenticated. A forwarded request carries the
//! original actor; the leader believes it only from a current cluster member.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::raft_types::RootNode;
use proto::stanza::envelope::Iq;
use proto::stanza::registry::{Consistency, RegistryError, RegistryRequest, RegistryResult};
use proto::xml::Element;
use raft_xmpp_transport::RequestError;

use crate::propose::ReadRefusal;
use crate::service::NodeCtx;
use crate::status::MembershipError;

/// Namespace of the root-internal `<forwarded actor='…'/>` wrapper (between root nodes only).
pub const FORWARD_NS: &str = "https://ns.icroot.dev/root-internal/0";

/// How long a write may wait for its commit before the client hears `no-quorum`.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// How long a follower waits for the leader's answer to a forwarded request. Shorter than the
/// write deadline: a follower whose leader was cut off should let its client retry (and find
/// the new leader) instead of holding it for the old leader's whole write deadline.
const FORWARD_DEADLINE: Duration = Duration::from_secs(4);

type Answer = Result<Option<Element>, StanzaError>;

fn reg(e: RegistryError) -> StanzaError {
    e.to_stanza_error()
}

/// Answer a registry request from `actor` (an authenticated domain).
pub(crate) async fn handle(ctx: &NodeCtx, actor: &str, iq: &Iq, forwarded: bool) -> Answer {
    let req = RegistryRequest::from_iq(iq).map_err(reg)?;
    match &req {
        RegistryRequest::ClusterStatus(_) => Ok(Some(crate::status::cluster_status(ctx).to_element())),
        RegistryRequest::GetExchange(_) | RegistryRequest::GetCloud(_) | RegistryRequest::Search(_) => {
            if consistency(&req) == Consistency::Linearizable && !unsafe_stale_reads() {
                match ctx.reads.ensure().await {
                    Ok(()) => {}
                    Err(ReadRefusal::Forward(leader)) => {
                        return not_leader(ctx, actor, iq, forwarded, leader).await
                    }
                    Err(ReadRefusal::NoQuorum | ReadRefusal::Stopped) => {
                        return Err(reg(RegistryError::NoQuorum))
                    }
                }
            }
            read(ctx, &req).map(|r| Some(r.to_element())).map_err(reg)
        }
        RegistryRequest::AddLearner(_) | RegistryRequest::Promote(_) | RegistryRequest::RemoveMember(_) => {
            if !ctx.config.is_admin(actor) {
                return Err(reg(RegistryError::NotAdmin));
            }
            match crate::status::change_membership(ctx, &req).await {
                Ok(status) => Ok(Some(status.to_element())),
                Err(MembershipError::NotLeader(leader)) => {
                    not_leader(ctx, actor, iq, forwarded, leader).await
                }
                Err(MembershipError::Failed(e)) => Err(StanzaError::new(Cond::NotAllowed, e)),
            }
        }
        _ => {
            let (cmd, shape) =
                crate::commands::command(actor, ctx.config.is_admin(actor), &req).map_err(reg)?;
            let written = tokio::time::timeout(REQUEST_DEADLINE, ctx.writes.write(cmd)).await;
            match written {
                Err(_) => Err(reg(RegistryError::NoQuorum)),
                Ok(Ok(resp)) => {
                    crate::commands::result(shape, resp).map(|r| Some(r.to_element())).map_err(reg)
                }
                Ok(Err(e)) => match leader_of(&e) {
                    Some(leader) => not_leader(ctx, actor, iq, forwarded, leader).await,
                    None => Err(StanzaError::new(Cond::ServiceUnavailable, format!("write failed: {e}"))),
                },
            }
        }
    }
}

/// TEST-ONLY fault injection for the jepsen suite: with `ICROOT_UNSAFE_STALE_READS=1` in the
/// node's environment, linearizable reads are served from the local state machine without
/// asking the leader to confirm it leads (so a partitioned node answers stale data). It exists
/// to prove the jepsen checker catches stale reads; never set it on a real node. Read once.
fn unsafe_stale_reads() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        let on = std::env::var("ICROOT_UNSAFE_STALE_READS").is_ok_and(|v| v == "1");
        if on {
            tracing::warn!(
                "ICROOT_UNSAFE_STALE_READS=1: linearizable reads are NOT linearizable (test only)"
            );
        }
        on
    })
}

fn leader_of(e: &RaftError<u64, ClientWriteError<u64, RootNode>>) -> Option<Option<RootNode>> {
    e.forward_to_leader().map(|f: &openraft::error::ForwardToLeader<u64, RootNode>| f.leader_node.clone())
}

fn consistency(req: &RegistryRequest) -> Consistency {
    match req {
        RegistryRequest::GetExchange(g) => g.consistency,
        RegistryRequest::GetCloud(g) => g.consistency,
        RegistryRequest::Search(s) => s.consistency,
        _ => Consistency::Linearizable,
    }
}

fn read(ctx: &NodeCtx, req: &RegistryRequest) -> Result<RegistryResult, RegistryError> {
    let store_err = |e: store::StoreError| {
        RegistryError::Other(Box::new(StanzaError::new(Cond::InternalServerError, e.to_string())))
    };
    match req {
        RegistryRequest::GetExchange(g) => match ctx.sm.exchange(&g.domain).map_err(store_err)? {
            Some(x) => Ok(RegistryResult::Exchange(x.try_into()?)),
            None => Err(RegistryError::NotFound {
                kind: proto::stanza::registry::RecordKind::Exchange,
                key: g.domain.clone(),
            }),
        },
        RegistryRequest::GetCloud(g) => match ctx.sm.cloud(&g.id).map_err(store_err)? {
            Some(c) => Ok(RegistryResult::Cloud(c.try_into()?)),
            None => Err(RegistryError::NotFound {
                kind: proto::stanza::registry::RecordKind::Cloud,
                key: g.id.clone(),
            }),
        },
        RegistryRequest::Search(s) => Ok(RegistryResult::SearchResults(ctx.sm.search(s).map_err(store_err)?)),
        _ => Err(RegistryError::Malformed { detail: "not a read".into() }),
    }
}

/// This node cannot serve `iq`: forward it to `leader`, or say who leads when it was itself
/// forwarded (no second hop), or `no-quorum` when nobody leads.
async fn not_leader(
    ctx: &NodeCtx,
    actor: &str,
    iq: &Iq,
    forwarded: bool,
    leader: Option<RootNode>,
) -> Answer {
    let Some(leader) = leader.filter(|l| l.domain != ctx.config.domain) else {
        return Err(reg(RegistryError::NoQuorum));
    };
    if forwarded {
        return Err(reg(RegistryError::NotLeader { leader: Some(leader.domain) }));
    }
    let Some(payload) = iq.payload.clone() else {
        return Err(StanzaError::new(Cond::BadRequest, "request without payload"));
    };
    let wrapper = Element::new("forwarded", FORWARD_NS).with_attr("actor", actor).with_child(payload);
    let id = format!("fwd-{}-{}", ctx.config.node_id, rand_id());
    let fwd = Iq::request(iq.kind, id, ctx.config.domain.clone(), leader.domain.clone(), wrapper);
    tracing::debug!(leader = %leader.domain, actor, "forwarding to the leader");
    match ctx.xmpp.request(fwd.to_element(), FORWARD_DEADLINE).await {
        Ok(answer) => Ok(answer.children().next().cloned()),
        Err(RequestError::Remote(e)) => Err(*e),
        Err(e @ RequestError::Unreachable(_)) => {
            // Never delivered: the leader may be gone; "wait" so clients retry while a new one
            // is elected.
            tracing::debug!(leader = %leader.domain, error = %e, "forwarding failed");
            Err(reg(RegistryError::NotLeader { leader: Some(leader.domain) }))
        }
        Err(e) => {
            // Delivered (or maybe delivered) but unanswered: the leader may still apply it.
            // `remote-server-timeout` tells the client the outcome is unknown.
            tracing::debug!(leader = %leader.domain, error = %e, "forwarded request unanswered");
            Err(StanzaError::new(
                Cond::RemoteServerTimeout,
                format!(
                    "the leader {} did not answer in time ({e}); the request may or may not have been applied",
                    leader.domain
                ),
            ))
        }
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A request another root node forwarded to us as the leader.
pub(crate) async fn handle_forwarded(ctx: &NodeCtx, from_domain: &str, iq: &Iq) -> Answer {
    let is_member = {
        let m = ctx.raft.metrics().borrow().membership_config.clone();
        let member = m.membership().nodes().any(|(_, n)| n.domain == from_domain);
        member
    };
    if !is_member {
        return Err(StanzaError::new(Cond::Forbidden, "only root cluster members may forward requests"));
    }
    let wrapper = iq.payload.as_ref().ok_or_else(|| StanzaError::new(Cond::BadRequest, "no payload"))?;
    let (Some(actor), Some(inner)) = (wrapper.attr("actor"), wrapper.children().next()) else {
        return Err(StanzaError::new(Cond::BadRequest, "<forwarded/> needs an actor and one payload"));
    };
    let inner_iq = Iq { payload: Some(inner.clone()), ..iq.clone() };
    Box::pin(handle(ctx, actor, &inner_iq, true)).await
}
