//! The leader's two hot paths, coalesced: concurrent registry writes share one Raft entry, and
//! concurrent linearizable reads share one read-index round.
//!
//! ```text
//!  registry write ─▶ Proposer queue ─▶ [a permit free] take everything queued (distinct keys,
//!                    ≤ 512 parts, ≤ 256 KiB) ─▶ one client_write(Command or CommandBatch)
//!                    ─▶ each waiter gets its own part's answer
//!  linearizable read ─▶ ReadIndex queue ─▶ take everything queued ─┬─ leader: one get_read_log_id
//!                    (a quorum heartbeat round)                    └─ follower: one <read-index/>
//!                    to the leader (which batches those too) ─▶ wait applied ≥ index ─▶ read locally
//! ```
//!
//! Why: openraft 0.9 appends and fsyncs each `client_write` on its own, so one write per entry caps
//! the leader near one write per fsync, and each `ensure_linearizable` is its own heartbeat round
//! (docs/benchmarks.md). A lone request still goes out at once, so a single client waits no
//! longer than before.
//!
//! Correctness: a batch's parts have distinct keys and touch nothing else (proto's
//! `batch_key`), so applying them together equals applying them one after another; the entry is
//! one atomic storage write. A read waits for a read-index round that *started after it
//! arrived*, so the index covers every write acknowledged before the read began.

use std::collections::HashSet;
use std::sync::Arc;

use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, RaftError};
use openraft::{Raft, RaftMetrics};
use prost::Message as _;
use proto::raft_types::{RaftTypes, RootNode};
use proto::record::{
    batch_key, command, command_response, Command, CommandBatch, CommandResponse, MAX_BATCH_BYTES,
    MAX_BATCH_PARTS,
};
use raft_xmpp_transport::{RequestError, XmppNode};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// What a proposed write gets back.
pub(crate) type WriteResult = Result<CommandResponse, RaftError<u64, ClientWriteError<u64, RootNode>>>;

/// Writes waiting to be proposed (beyond it, writers wait for room: backpressure).
const WRITE_QUEUE: usize = 8192;
/// Entries in flight in openraft at once. While one is, new writes gather into the next batch.
/// Measured (64 clients, 3-node dev cluster, 2 vCPU): 1 → ~10.5k writes/s, 2 → ~9.4k, 4 → ~7.8k;
/// openraft 0.9 appends and fsyncs each entry on its own, so fewer, larger entries win.
const WRITES_IN_FLIGHT: usize = 1;
/// Reads waiting for a read-index round.
const READ_QUEUE: usize = 8192;

type WriteWaiter = (Command, oneshot::Sender<WriteResult>);

/// Coalesces registry writes into Raft entries. Cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub(crate) struct Proposer {
    tx: mpsc::Sender<WriteWaiter>,
}

impl Proposer {
    /// Start the proposing task for `raft`; it ends when every `Proposer` clone is dropped.
    pub(crate) fn start(raft: Raft<RaftTypes>) -> Self {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(propose_loop(raft, rx));
        Proposer { tx }
    }

    /// Propose `cmd` (alone or as part of a batch) and wait for its own answer.
    pub(crate) async fn write(&self, cmd: Command) -> WriteResult {
        let (tx, rx) = oneshot::channel();
        if self.tx.send((cmd, tx)).await.is_err() {
            return Err(RaftError::Fatal(Fatal::Stopped));
        }
        rx.await.unwrap_or(Err(RaftError::Fatal(Fatal::Stopped)))
    }
}

async fn propose_loop(raft: Raft<RaftTypes>, mut rx: mpsc::Receiver<WriteWaiter>) {
    let permits = Arc::new(Semaphore::new(WRITES_IN_FLIGHT));
    // A write whose key the batch being gathered already had: it opens the next batch.
    let mut held: Option<WriteWaiter> = None;
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { return };
        let first = match held.take() {
            Some(w) => w,
            None => match rx.recv().await {
                Some(w) => w,
                None => return,
            },
        };
        let (batch, rest) = gather(first, |w| &w.0, || rx.try_recv().ok());
        held = rest;
        let raft = raft.clone();
        tokio::spawn(async move {
            submit(&raft, batch).await;
            drop(permit);
        });
    }
}

/// Gather one entry's worth of writes: `first`, then what `next` yields while it fits (a
/// batchable command, a key not yet in the batch, within the part and byte limits). The first
/// write that does not fit is returned to open the next batch. A first write that cannot be
/// batched goes alone.
fn gather<T>(
    first: T,
    cmd: impl Fn(&T) -> &Command,
    mut next: impl FnMut() -> Option<T>,
) -> (Vec<T>, Option<T>) {
    let Some(key) = batch_key(cmd(&first)).map(str::to_owned) else { return (vec![first], None) };
    let mut bytes = cmd(&first).encoded_len();
    let mut keys = HashSet::from([key]);
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_PARTS {
        let Some(item) = next() else { break };
        let len = cmd(&item).encoded_len();
        match batch_key(cmd(&item)) {
            Some(k) if bytes + len <= MAX_BATCH_BYTES && !keys.contains(k) => {
                keys.insert(k.to_owned());
                bytes += len;
                batch.push(item);
            }
            _ => return (batch, Some(item)),
        }
    }
    (batch, None)
}

/// Propose `batch` as one entry and answer every waiter.
async fn submit(raft: &Raft<RaftTypes>, mut batch: Vec<WriteWaiter>) {
    if batch.len() == 1 {
        if let Some((cmd, tx)) = batch.pop() {
            let _ = tx.send(raft.client_write(cmd).await.map(|r| r.data));
        }
        return;
    }
    metrics::histogram!("icroot_write_batch_parts").record(batch.len() as f64);
    let (commands, waiters): (Vec<Command>, Vec<oneshot::Sender<WriteResult>>) = batch.into_iter().unzip();
    let proposed_at_ms = commands.iter().map(|c| c.proposed_at_ms).max().unwrap_or_default();
    let cmd = Command {
        // Each part carries its own actor; the envelope acts for nobody.
        actor: String::new(),
        is_admin: false,
        proposed_at_ms,
        kind: Some(command::Kind::Batch(CommandBatch { commands })),
    };
    match raft.client_write(cmd).await {
        Ok(resp) => {
            let parts = match resp.data.result {
                Some(command_response::Result::Batch(b)) => b.parts,
                _ => Vec::new(),
            };
            let mut parts = parts.into_iter();
            for tx in waiters {
                // A state machine that answered fewer parts than it was given is a bug; the
                // waiter then hears "no answer" rather than someone else's.
                let _ = tx.send(Ok(parts.next().unwrap_or_default()));
            }
        }
        Err(e) => {
            for tx in waiters {
                let _ = tx.send(Err(e.clone()));
            }
        }
    }
}

/// Why a linearizable read cannot be served by this node now.
#[derive(Clone, Debug)]
pub(crate) enum ReadRefusal {
    /// This node could not get a read index; the leader (when one is known) may serve the read.
    Forward(Option<RootNode>),
    /// The leader did not confirm its read index in time (no quorum, or it is cut off).
    NoQuorum,
    /// The node is shutting down.
    Stopped,
}

/// What a linearizable read waits for.
pub(crate) type ReadResult = Result<(), ReadRefusal>;

/// How long a follower waits for the leader's read index before answering `no-quorum`.
const FOLLOWER_READ_INDEX_DEADLINE: Duration = Duration::from_secs(1);

enum ReadWaiter {
    /// A read to serve here once applied up to the read index.
    Local(oneshot::Sender<ReadResult>),
    /// Another member asked this leader for its read index.
    Index(oneshot::Sender<Result<u64, String>>),
}

/// Coalesces linearizable reads into shared read-index rounds, on the leader (one quorum
/// heartbeat round per batch) and on followers (one `<read-index/>` question to the leader per
/// batch, then the read is served from the follower's own state machine, as in Raft's
/// ReadIndex: the leader's answer covers every write acknowledged before the batch began).
#[derive(Debug, Clone)]
pub(crate) struct ReadIndex {
    tx: mpsc::Sender<ReadWaiter>,
}

impl std::fmt::Debug for ReadWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadWaiter::Local(_) => "Local",
            ReadWaiter::Index(_) => "Index",
        })
    }
}

impl ReadIndex {
    /// Start the read-index task of node `node_id` (transport `xmpp`); it ends when every clone
    /// is dropped.
    pub(crate) fn start(raft: Raft<RaftTypes>, xmpp: XmppNode, node_id: u64) -> Self {
        let (tx, rx) = mpsc::channel(READ_QUEUE);
        tokio::spawn(read_loop(raft, xmpp, node_id, rx));
        ReadIndex { tx }
    }

    /// Wait until a local read is linearizable: the leader confirmed, after this call began,
    /// that it still leads, and this node has applied everything committed up to then.
    pub(crate) async fn ensure(&self) -> ReadResult {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(ReadWaiter::Local(tx)).await.is_err() {
            return Err(ReadRefusal::Stopped);
        }
        rx.await.unwrap_or(Err(ReadRefusal::Stopped))
    }

    /// This leader's read index confirmed with a quorum, for another member's `<read-index/>`.
    pub(crate) async fn leader_index(&self) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(ReadWaiter::Index(tx)).await.is_err() {
            return Err("shutting down".into());
        }
        rx.await.unwrap_or_else(|_| Err("shutting down".into()))
    }
}

async fn read_loop(raft: Raft<RaftTypes>, xmpp: XmppNode, me: u64, mut rx: mpsc::Receiver<ReadWaiter>) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        // Every waiter arrived before this round began, so the index covers them all.
        let m = raft.metrics().borrow().clone();
        let leading = m.current_leader == Some(me);
        let (local, index): (Vec<_>, Vec<_>) =
            waiters.into_iter().partition(|w| matches!(w, ReadWaiter::Local(_)));
        let role = if leading || local.is_empty() { "leader" } else { "follower" };
        metrics::counter!("icroot_read_index_rounds_total", "role" => role).increment(1);
        let round = if leading || local.is_empty() {
            match raft.get_read_log_id().await {
                Ok((read, _)) => Ok(read.map_or(0, |l| l.index)),
                Err(e) => {
                    Err(ReadRefusal::Forward(e.forward_to_leader().and_then(|f| f.leader_node.clone())))
                }
            }
        } else {
            follower_round(&xmpp, &m).await
        };
        for w in index {
            if let ReadWaiter::Index(tx) = w {
                let answer = match (&round, leading) {
                    (Ok(i), true) => Ok(*i),
                    _ => Err("leadership not confirmed: this node is not the leader".to_owned()),
                };
                let _ = tx.send(answer);
            }
        }
        let local: Vec<oneshot::Sender<ReadResult>> = local
            .into_iter()
            .filter_map(|w| match w {
                ReadWaiter::Local(tx) => Some(tx),
                ReadWaiter::Index(_) => None,
            })
            .collect();
        if local.is_empty() {
            continue;
        }
        match round {
            Err(e) => {
                for w in local {
                    let _ = w.send(Err(e.clone()));
                }
            }
            Ok(index) => {
                // Waiting for the apply does not hold up the next round.
                let raft = raft.clone();
                tokio::spawn(async move {
                    let res = match raft.wait(None).applied_index_at_least(Some(index), "read-index").await {
                        Ok(_) => Ok(()),
                        Err(_) => Err(ReadRefusal::Stopped),
                    };
                    for w in local {
                        let _ = w.send(res.clone());
                    }
                });
            }
        }
    }
}

/// Ask the leader `m` names for its read index (root-internal `<read-index/>`, see ready.rs).
async fn follower_round(xmpp: &XmppNode, m: &RaftMetrics<u64, RootNode>) -> Result<u64, ReadRefusal> {
    let leader = m.current_leader.and_then(|l| m.membership_config.membership().get_node(&l).cloned());
    let Some(leader) = leader else { return Err(ReadRefusal::Forward(None)) };
    match crate::ready::ask_read_index(xmpp, &leader.domain, FOLLOWER_READ_INDEX_DEADLINE).await {
        Ok(index) => Ok(index),
        Err(Some(RequestError::Timeout(_))) => Err(ReadRefusal::NoQuorum),
        // Refused, undeliverable or unusable: the leader may have changed; forwarding sorts it out.
        Err(_) => Err(ReadRefusal::Forward(Some(leader))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::record::{DeregisterExchange, RenewLease};

    fn renew(domain: &str) -> Command {
        Command {
            actor: domain.into(),
            kind: Some(command::Kind::RenewLease(RenewLease { domain: domain.into() })),
            ..Command::default()
        }
    }

    fn gather_all(cmds: Vec<Command>) -> Vec<Vec<String>> {
        let mut queue = cmds.into_iter();
        let mut out = Vec::new();
        let mut held = None;
        while let Some(first) = held.take().or_else(|| queue.next()) {
            let (batch, rest) = gather(first, |c| c, || queue.next());
            out.push(batch.iter().map(|c| c.actor.clone()).collect());
            held = rest;
        }
        out
    }

    #[test]
    fn distinct_keys_share_an_entry_and_a_repeated_key_opens_the_next() {
        let got = gather_all(vec![renew("a"), renew("b"), renew("a"), renew("c")]);
        assert_eq!(got, vec![vec!["a", "b"], vec!["a", "c"]]);
    }

    #[test]
    fn a_command_that_cannot_be_batched_goes_alone_in_order() {
        let dereg = Command {
            actor: "x".into(),
            kind: Some(command::Kind::DeregisterExchange(DeregisterExchange {
                domain: "x".into(),
                expected_revision: None,
            })),
            ..Command::default()
        };
        let got = gather_all(vec![renew("a"), dereg.clone(), renew("b"), dereg, renew("c")]);
        assert_eq!(got, vec![vec!["a"], vec!["x"], vec!["b"], vec!["x"], vec!["c"]]);
    }

    #[test]
    fn batches_stop_at_the_part_limit() {
        let cmds: Vec<Command> = (0..MAX_BATCH_PARTS + 3).map(|i| renew(&format!("d{i}"))).collect();
        let sizes: Vec<usize> = gather_all(cmds).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![MAX_BATCH_PARTS, 3]);
    }

    #[test]
    fn batches_stop_at_the_byte_limit() {
        // ~20 KiB each: a 256 KiB batch holds 12 of them.
        let big = |i: usize| renew(&format!("{}{i}", "d".repeat(20 * 1024)));
        let cmds: Vec<Command> = (0..30).map(big).collect();
        let sizes: Vec<usize> = gather_all(cmds).iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|&n| (1..=12).contains(&n)), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 30);
        assert!(sizes[0] > 1, "{sizes:?}");
    }
}
