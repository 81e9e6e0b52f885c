//! Readiness (`GET /readyz`, CONTRACT.md): ready means a cluster member that knows its leader
//! and has applied up to the leader's commit index as of the moment it asked. The leader
//! confirms its own commit index with a quorum (openraft's read index); a follower asks the
//! leader for that number with a root-internal iq, then waits (within the deadline) until it
//! has applied that far. Followers' linearizable reads use the same iq (propose.rs).
//!
//! ```text
//!  /readyz ─▶ member? leader known? ─┬─ leader:   get_read_log_id (quorum heartbeat)
//!                                    └─ follower: <iq get><read-index xmlns=FORWARD_NS/></iq> ─▶ leader
//!          ─▶ applied ≥ index (wait ≤ readyz_deadline) ─▶ 200 | 503 with the reason
//! ```

use openraft::error::{CheckIsLeaderError, RaftError};
use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::raft_types::RootNode;
use proto::stanza::envelope::{Iq, IqType};
use proto::xml::Element;

use raft_xmpp_transport::{RequestError, XmppNode};

use crate::registry::FORWARD_NS;
use crate::service::NodeCtx;

/// The root-internal request (and answer) element for the leader's read index.
pub(crate) const READ_INDEX: &str = "read-index";

/// What openraft answers to a read-index request: (read log id, applied log id).
type ReadLogId = Result<
    (Option<openraft::LogId<u64>>, Option<openraft::LogId<u64>>),
    RaftError<u64, CheckIsLeaderError<u64, RootNode>>,
>;

fn read_index_of(r: ReadLogId) -> Result<u64, String> {
    r.map(|(read, _)| read.map_or(0, |l| l.index)).map_err(|e| format!("leadership not confirmed: {e}"))
}

/// Answer a member's `<read-index/>`: the commit index this leader has confirmed with a quorum.
pub(crate) async fn answer_read_index(
    ctx: &NodeCtx,
    from_domain: &str,
) -> Result<Option<Element>, StanzaError> {
    let is_member = {
        let m = ctx.raft.metrics().borrow().membership_config.clone();
        let member = m.membership().nodes().any(|(_, n)| n.domain.eq_ignore_ascii_case(from_domain));
        member
    };
    if !is_member {
        return Err(StanzaError::new(
            Cond::Forbidden,
            "only root cluster members may ask for the read index",
        ));
    }
    let deadline = ctx.config.readyz_deadline;
    // Shares quorum rounds with this leader's own linearizable reads (propose.rs).
    let index = tokio::time::timeout(deadline, ctx.reads.leader_index())
        .await
        .map_err(|_| format!("no quorum confirmed leadership within {deadline:?}"))
        .and_then(|r| r)
        .map_err(|e| StanzaError::new(Cond::ServiceUnavailable, e))?;
    Ok(Some(Element::new(READ_INDEX, FORWARD_NS).with_attr("index", index.to_string())))
}

/// `Ok(reason)` when ready, `Err(reason)` when not; bounded by `timers.readyz_deadline_ms`.
pub(crate) async fn check(ctx: &NodeCtx) -> Result<String, String> {
    let deadline = ctx.config.readyz_deadline;
    match tokio::time::timeout(deadline, check_within(ctx)).await {
        Ok(r) => r,
        Err(_) => Err(format!("not caught up with the leader's commit index within {deadline:?}")),
    }
}

async fn check_within(ctx: &NodeCtx) -> Result<String, String> {
    let m = ctx.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    if membership.get_node(&m.id).is_none() {
        return Err("not a cluster member".into());
    }
    let Some(leader) = m.current_leader else { return Err("no known leader".into()) };
    let commit = if leader == m.id {
        read_index_of(ctx.raft.get_read_log_id().await)?
    } else {
        let domain = membership
            .get_node(&leader)
            .map(|n| n.domain.clone())
            .ok_or("leader is not in the membership")?;
        ask_leader(ctx, &domain).await?
    };
    ctx.raft
        .wait(None)
        .applied_index_at_least(Some(commit), "readyz")
        .await
        .map_err(|e| format!("waiting to apply {commit}: {e}"))?;
    Ok(format!("ready: leader {leader}, applied up to its commit index {commit}\n"))
}

async fn ask_leader(ctx: &NodeCtx, leader: &str) -> Result<u64, String> {
    match ask_read_index(&ctx.xmpp, leader, ctx.config.readyz_deadline).await {
        Ok(index) => Ok(index),
        Err(Some(e)) => Err(format!("the leader {leader} did not confirm its commit index: {e}")),
        Err(None) => Err(format!("the leader {leader} sent no usable <read-index/>")),
    }
}

/// Ask `leader` for its read index with a root-internal `<read-index/>` iq (readiness and
/// followers' linearizable reads). `Err(Some(_))`: the request failed; `Err(None)`: the answer
/// carried no usable index.
pub(crate) async fn ask_read_index(
    xmpp: &XmppNode,
    leader: &str,
    deadline: std::time::Duration,
) -> Result<u64, Option<RequestError>> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let iq = Iq::request(
        IqType::Get,
        format!("ri-{n}"),
        xmpp.domain().to_owned(),
        leader,
        Element::new(READ_INDEX, FORWARD_NS),
    );
    let answer = xmpp.request(iq.to_element(), deadline).await.map_err(Some)?;
    answer
        .child(READ_INDEX, FORWARD_NS)
        .and_then(|r| r.attr("index"))
        .and_then(|i| i.parse().ok())
        .ok_or(None)
}
