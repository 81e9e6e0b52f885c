//! A deterministic in-memory network for Raft behaviour tests: no sockets, but every RPC is
//! serialized to the same XML bytes S2S would carry and parsed back on both ends, so the wire
//! profile is exercised. Knobs: partitions, per-RPC drop probability and delay, all seeded.
//!
//! ```text
//!  openraft A ─▶ MemConnection ─▶ stanza bytes ─▶ parse ─▶ serve_raft_payload(raft B)
//!                    ▲ partition / drop / delay (seeded)            │
//!                    └──────── answer bytes ◀─ parse ◀──────────────┘
//! ```
//!
//! Under `tokio::time::pause()` delays and timeouts cost no wall time. openraft's own election
//! jitter is not seeded by us, so a seed reproduces the fault schedule, not every interleaving.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{RPCError, Timeout, Unreachable};
use openraft::network::{RPCTypes, RaftNetworkFactory};
use openraft::Raft;
use proto::raft_types::{RaftTypes, RootNode};
use proto::stanza::raft::RaftPayload;
use proto::xml::{parse_fragment, Element};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::rpc::{network_err, remote_err, Carrier, Msg, RaftRpcClient, RpcErr};
use super::service::serve_raft_payload;

struct State {
    rafts: HashMap<u64, Raft<RaftTypes>>,
    /// Directed pairs (from, to) that cannot talk.
    blocked: HashSet<(u64, u64)>,
    drop_probability: f64,
    delay: Duration,
    rng: StdRng,
    /// RPCs carried, for tests that assert traffic happened.
    delivered: u64,
}

/// The shared in-memory network. Cheap to clone.
#[derive(Clone)]
pub struct MemNet {
    cluster: String,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemNet").field("cluster", &self.cluster).finish_non_exhaustive()
    }
}

impl MemNet {
    /// An empty network for `cluster`, its random choices seeded with `seed`.
    pub fn new(cluster: impl Into<String>, seed: u64) -> Self {
        MemNet {
            cluster: cluster.into(),
            state: Arc::new(Mutex::new(State {
                rafts: HashMap::new(),
                blocked: HashSet::new(),
                drop_probability: 0.0,
                delay: Duration::ZERO,
                rng: StdRng::seed_from_u64(seed),
                delivered: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attach a node's Raft so RPCs to `id` reach it.
    pub fn register(&self, id: u64, raft: Raft<RaftTypes>) {
        self.lock().rafts.insert(id, raft);
    }

    /// Detach a node (it crashed): RPCs to it are unreachable.
    pub fn unregister(&self, id: u64) {
        self.lock().rafts.remove(&id);
    }

    /// Cut `id` off from every other node, both directions.
    pub fn isolate(&self, id: u64) {
        let mut s = self.lock();
        let others: Vec<u64> = s.rafts.keys().copied().filter(|o| *o != id).collect();
        for o in others {
            s.blocked.insert((id, o));
            s.blocked.insert((o, id));
        }
    }

    /// Split into groups that only talk within themselves.
    pub fn partition(&self, groups: &[&[u64]]) {
        let mut s = self.lock();
        s.blocked.clear();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    for x in *a {
                        for y in *b {
                            s.blocked.insert((*x, *y));
                        }
                    }
                }
            }
        }
    }

    /// Remove every partition.
    pub fn heal(&self) {
        self.lock().blocked.clear();
    }

    /// Drop each RPC with probability `p` (it then times out).
    pub fn set_drop_probability(&self, p: f64) {
        self.lock().drop_probability = p.clamp(0.0, 1.0);
    }

    /// Delay each RPC by `d` (each way counts once).
    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// RPCs delivered so far.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// The network factory for node `local`.
    pub fn network(&self, local: u64) -> MemNetwork {
        MemNetwork { net: self.clone(), local }
    }

    /// Carry `payload` from `from` to `to` as bytes and return the answer payload, bytes too.
    async fn carry(
        &self,
        from: u64,
        to: u64,
        payload: Element,
        action: RPCTypes,
        ttl: Duration,
    ) -> Result<RaftPayload, RpcFail> {
        let (raft, dropped, delay) = {
            let mut s = self.lock();
            if s.blocked.contains(&(from, to)) {
                return Err(RpcFail::Unreachable(format!("{from} -> {to} partitioned")));
            }
            let Some(raft) = s.rafts.get(&to).cloned() else {
                return Err(RpcFail::Unreachable(format!("node {to} is down")));
            };
            let p = s.drop_probability;
            let dropped = p > 0.0 && s.rng.gen_bool(p);
            (raft, dropped, s.delay)
        };
        if dropped {
            tokio::time::sleep(ttl).await;
            return Err(RpcFail::Timeout(action, ttl));
        }
        tokio::time::sleep(delay).await;
        let wire = payload.to_xml();
        // The same bound a real S2S stream enforces after authentication.
        if wire.len() > proto::xml::Limits::POST_AUTH.max_stanza_bytes {
            return Err(RpcFail::Network(format!("stanza of {} bytes exceeds the S2S limit", wire.len())));
        }
        let received = parse_fragment(&wire).map_err(|e| RpcFail::Network(e.to_string()))?;
        let answer = serve_raft_payload(&raft, &self.cluster, &received).await;
        tokio::time::sleep(delay).await;
        if self.lock().blocked.contains(&(to, from)) {
            return Err(RpcFail::Timeout(action, ttl));
        }
        let answer = answer.map_err(|e| RpcFail::Remote(e.to_string()))?;
        let back = parse_fragment(&answer.to_xml()).map_err(|e| RpcFail::Network(e.to_string()))?;
        self.lock().delivered += 1;
        RaftPayload::from_element(&back).map_err(|e| RpcFail::Network(e.to_string()))
    }
}

enum RpcFail {
    Unreachable(String),
    Network(String),
    Timeout(RPCTypes, Duration),
    Remote(String),
}

/// openraft's network factory over a [`MemNet`].
#[derive(Clone, Debug)]
pub struct MemNetwork {
    net: MemNet,
    local: u64,
}

impl RaftNetworkFactory<RaftTypes> for MemNetwork {
    type Network = RaftRpcClient<MemConnection>;

    async fn new_client(&mut self, target: u64, _node: &RootNode) -> Self::Network {
        RaftRpcClient(MemConnection { net: self.net.clone(), local: self.local, target })
    }
}

/// RPCs from one node to another over a [`MemNet`].
#[derive(Debug)]
pub struct MemConnection {
    net: MemNet,
    local: u64,
    target: u64,
}

impl MemConnection {
    fn err<E: std::error::Error>(&self, f: RpcFail) -> RpcErr<E> {
        match f {
            RpcFail::Unreachable(m) => RPCError::Unreachable(Unreachable::new(&Msg(m))),
            RpcFail::Network(m) => network_err(m),
            RpcFail::Timeout(action, timeout) => {
                RPCError::Timeout(Timeout { action, id: self.local, target: self.target, timeout })
            }
            RpcFail::Remote(m) => remote_err(self.target, m),
        }
    }
}

impl Carrier for MemConnection {
    fn cluster(&self) -> &str {
        &self.net.cluster
    }

    async fn call<E: std::error::Error>(
        &self,
        payload: Element,
        action: RPCTypes,
        ttl: Duration,
    ) -> Result<RaftPayload, RpcErr<E>> {
        self.net.carry(self.local, self.target, payload, action, ttl).await.map_err(|f| self.err(f))
    }
}
