//! Fast failover when the leader's process is gone, not merely silent.
//!
//! ```text
//!  transport: the leader's side ended its stream (closed it, or EOF/reset: process died)
//!    ─▶ probe (up to 5 × 100 ms apart): every address of the leader refuses TCP
//!       (nothing listens: the process is gone or stopped)
//!    ─▶ elect now (term T+1: this voter stops honouring the dead leader's lease)
//!    ─▶ wait 50 ms + rank × 200 ms (rank: position among the surviving voters by id)
//!    ─▶ no new leader yet? campaign again (up to 3 times, 50 ms apart): the others,
//!       candidates themselves by now, grant it if our log is at least as long as theirs
//! ```
//!
//! Why: openraft 0.9 followers honour a leader lease of `election_timeout_max` after the last
//! heartbeat and only then wait out an election timeout, so a killed leader is replaced after
//! `lease + [min, max)` — 3–4 s with the default timers. A stream the leader's side ended and a
//! port that refuses connections are proof the leader is not running (killed, crashed, or
//! stopped for an upgrade), so waiting serves nothing.
//! A partition ends no stream and refuses nothing (packets are dropped), so partitions, pauses
//! and slow links still go through the ordinary timeouts; whatever this task does, elections
//! stay Raft elections (a candidate needs a majority and an up-to-date log), so it can cost an
//! extra term but never safety. When it does not produce a leader (our log was behind, a voter
//! did not see the loss) the ordinary timeouts still run.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::service::NodeCtx;

/// How long one TCP probe of the old leader's address may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// Probes before giving up on the fast path, and the pause between them.
const PROBES: u32 = 5;
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Wait before the lowest-ranked survivor's deciding campaigns (long enough for the other
/// survivors to have seen the loss and dropped their lease); each rank adds [`RANK_STEP`], which
/// is longer than one rank's [`TRIES`] × [`TRY_WAIT`], so ranks never campaign at once.
const FIRST_DELAY: Duration = Duration::from_millis(50);
const RANK_STEP: Duration = Duration::from_millis(200);
/// Campaigns per rank, and how long each waits for a leader to appear.
const TRIES: u32 = 3;
const TRY_WAIT: Duration = Duration::from_millis(50);

/// Watch for the loss of the leader's process and elect at once when it is gone.
pub(crate) async fn run(ctx: Arc<NodeCtx>) {
    let mut losses = ctx.xmpp.link_losses();
    // The (term, leader) this node last acted on, so one loss (several streams) acts once; the
    // next leader is elected in a later term, so its loss is acted on again.
    let mut acted: Option<(u64, u64)> = None;
    loop {
        let peer = match losses.recv().await {
            Ok(p) => p,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let Some((term, leader, rank)) = dead_leader_candidate(&ctx, &peer) else { continue };
        if acted == Some((term, leader)) {
            continue;
        }
        if !refused(&ctx, &peer).await {
            tracing::debug!(%peer, "leader stream lost but its address still answers: ordinary timeouts");
            continue;
        }
        // Still the same leader and term after the probe?
        if dead_leader_candidate(&ctx, &peer).map(|(t, l, _)| (t, l)) != Some((term, leader)) {
            continue;
        }
        acted = Some((term, leader));
        tracing::warn!(%peer, leader, term, "leader process is gone (stream reset, port refuses): electing now");
        metrics::counter!("icroot_fast_failover_total").increment(1);
        let _ = ctx.raft.trigger().elect().await;
        tokio::time::sleep(FIRST_DELAY + RANK_STEP * rank).await;
        // In rank order, each survivor campaigns a few times while no leader has appeared: a
        // try fails when our log is behind a granter's or collides with another candidate's
        // term, and each try moves past the highest term seen.
        let elected = |m: &openraft::RaftMetrics<u64, proto::raft_types::RootNode>| {
            m.current_leader.is_some_and(|l| l != leader)
        };
        for _ in 0..TRIES {
            if elected(&ctx.raft.metrics().borrow()) {
                break;
            }
            let _ = ctx.raft.trigger().elect().await;
            let _ = ctx.raft.wait(Some(TRY_WAIT)).metrics(elected, "fast failover: a new leader").await;
        }
    }
}

/// Whether `peer`'s addresses refuse connections now or within a few probes (a node shutting
/// down closes its streams a moment before its listener).
async fn refused(ctx: &NodeCtx, peer: &str) -> bool {
    for attempt in 0..PROBES {
        if attempt > 0 {
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        if ctx.xmpp.refuses_connections(peer, PROBE_TIMEOUT).await {
            return true;
        }
    }
    false
}

/// When `peer` is the domain of the current leader and this node is another voter:
/// (term, leader id, this node's rank among the voters other than the leader).
fn dead_leader_candidate(ctx: &NodeCtx, peer: &str) -> Option<(u64, u64, u32)> {
    let m = ctx.raft.metrics().borrow().clone();
    let leader = m.current_leader?;
    let me = ctx.config.node_id;
    let membership = m.membership_config.membership();
    if leader == me || membership.get_node(&leader).map(|n| n.domain.as_str()) != Some(peer) {
        return None;
    }
    let mut survivors: Vec<u64> = membership.voter_ids().filter(|id| *id != leader).collect();
    survivors.sort_unstable();
    let rank = survivors.iter().position(|id| *id == me)?;
    Some((m.current_term, leader, u32::try_from(rank).unwrap_or(u32::MAX)))
}
