//! Lease expiry: while this node leads, a task proposes `ExpireLeases` whenever the earliest
//! lease in the store's lease index has ended by the leader's clock. Apply removes the due
//! Exchanges deterministically from `proposed_at_ms`, so followers never read a clock.
//!
//! ```text
//!  raft metrics ──(state = Leader)──▶ loop: next_lease_end_ms (lease index)
//!        ▲                               ├─ not due: sleep min(end − now, lease_expiry_tick)
//!        └── leadership lost ◀── stop    └─ due: client_write(ExpireLeases{≤ 1000}) ─▶ store
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::error::ForwardToLeader;
use openraft::ServerState;
use proto::raft_types::RootNode;
use proto::record::{command, command_response, Command, ExpireLeases};
use store::MAX_EXPIRED_PER_COMMAND;
use tokio::sync::watch;

use crate::service::NodeCtx;

type Metrics = watch::Receiver<openraft::RaftMetrics<u64, RootNode>>;

/// How long one expiry proposal may take before the task looks again.
const PROPOSAL_DEADLINE: Duration = Duration::from_secs(10);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Run until Raft shuts down: idle while following, expire leases while leading.
pub(crate) async fn run(ctx: Arc<NodeCtx>) {
    let mut metrics = ctx.raft.metrics();
    loop {
        let leading = {
            let m = metrics.borrow_and_update();
            (m.state == ServerState::Leader).then_some(m.current_term)
        };
        if let Some(term) = leading {
            tracing::debug!(term, "leading: lease expiry task active");
            expire_while_leading(&ctx, &mut metrics, term).await;
            tracing::debug!(term, "lease expiry task idle");
            continue;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

fn still_leading(metrics: &Metrics, term: u64) -> bool {
    let m = metrics.borrow();
    m.state == ServerState::Leader && m.current_term == term
}

/// Propose expiries until leadership of `term` ends (or Raft stops).
async fn expire_while_leading(ctx: &NodeCtx, metrics: &mut Metrics, term: u64) {
    let tick = ctx.config.lease_expiry_tick;
    // Set after a proposal that removed nothing or failed: no new proposal before then, so an
    // index entry apply will not remove (or a failing write) cannot make the task spin, even
    // though each proposal itself wakes it through the metrics.
    let mut hold_until: Option<Instant> = None;
    loop {
        if !still_leading(metrics, term) {
            return;
        }
        let now = now_ms();
        let held = hold_until.map(|h| h.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero());
        let wait = match ctx.sm.next_lease_end_ms() {
            Ok(Some(end)) if end <= now => held.unwrap_or(Duration::ZERO),
            Ok(Some(end)) => Duration::from_millis(end - now).min(tick),
            Ok(None) => tick,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the lease index");
                tick
            }
        };
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = metrics.changed() => if changed.is_err() { return },
            }
            continue;
        }
        match propose(ctx).await {
            Proposal::Expired(0) => hold_until = Some(Instant::now() + tick),
            Proposal::Expired(n) => {
                tracing::info!(expired = n, "leases expired");
                metrics::counter!("icroot_leases_expired_total", "node" => ctx.config.node_id.to_string())
                    .increment(n as u64);
            }
            Proposal::NotLeader => return,
            Proposal::Failed(e) => {
                tracing::warn!(error = %e, "lease expiry proposal failed; retrying after a tick");
                hold_until = Some(Instant::now() + tick);
            }
        }
    }
}

enum Proposal {
    Expired(usize),
    NotLeader,
    Failed(String),
}

async fn propose(ctx: &NodeCtx) -> Proposal {
    let cmd = Command {
        actor: ctx.config.domain.clone(),
        // The leader itself acts; apply refuses ExpireLeases from anyone else.
        is_admin: true,
        proposed_at_ms: now_ms(),
        kind: Some(command::Kind::ExpireLeases(ExpireLeases { max_expired: MAX_EXPIRED_PER_COMMAND })),
    };
    match tokio::time::timeout(PROPOSAL_DEADLINE, ctx.raft.client_write(cmd)).await {
        Err(_) => Proposal::Failed(format!("not committed within {PROPOSAL_DEADLINE:?}")),
        Ok(Ok(resp)) => match resp.data.result {
            Some(command_response::Result::Applied(a)) => Proposal::Expired(a.expired.len()),
            other => Proposal::Failed(format!("refused by the state machine: {other:?}")),
        },
        Ok(Err(e)) => {
            let forward: Option<&ForwardToLeader<u64, RootNode>> = e.forward_to_leader();
            if forward.is_some() {
                Proposal::NotLeader
            } else {
                Proposal::Failed(e.to_string())
            }
        }
    }
}
