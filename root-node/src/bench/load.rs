//! The load of `icroot bench`: workers that each send one registry request at a time over a
//! shared per-domain [`Client`] (one S2S stream per bench domain, many requests in flight on it).
//!
//! ```text
//!  closed loop: worker ─ request ─▶ answer ─ request ─▶ …            latency = answer − send
//!  open loop:   worker ─ sleep until slot k (t0 + k/rate) ─ request   latency = answer − slot k
//!               (a late worker sends at once; its wait counts, so stalls are not hidden;
//!                slots still due when the time is up are counted as unsent)
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::stanza::registry::{Consistency, GetExchange, RegistryRequest, RenewLease, UpdateExchange};
use raft_xmpp_transport::RequestError;

use super::report::Recorder;
use crate::client::{Client, ClientError};

/// A kind of request the bench sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// `update-exchange` of the worker's own domain (unconditional; new metadata each time).
    Write,
    /// `renew-lease` of the worker's own domain.
    Renew,
    /// `get-exchange` of a random bench domain, linearizable.
    Read,
    /// `get-exchange` of a random bench domain, stale (answered by the node asked).
    Stale,
}

impl OpKind {
    /// The name in `--mix` and in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Write => "write",
            OpKind::Renew => "renew",
            OpKind::Read => "read",
            OpKind::Stale => "stale",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [OpKind::Write, OpKind::Renew, OpKind::Read, OpKind::Stale].into_iter().find(|k| k.as_str() == s)
    }
}

/// Weighted op kinds, e.g. `write=1,read=8,stale=1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix(Vec<(OpKind, u32)>);

impl Mix {
    /// Parse `kind=weight,…` (kinds: write, renew, read, stale; a bare kind weighs 1).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, weight) = item.split_once('=').unwrap_or((item, "1"));
            let kind = OpKind::parse(name.trim())
                .ok_or_else(|| format!("unknown op `{name}` (write, renew, read, stale)"))?;
            let weight: u32 =
                weight.trim().parse().map_err(|_| format!("weight of `{name}` is not a whole number"))?;
            if weight > 0 {
                parts.push((kind, weight));
            }
        }
        if parts.is_empty() {
            return Err("the mix has no op with a weight above 0".into());
        }
        Ok(Mix(parts))
    }

    /// The mix as a JSON object of weights.
    pub fn to_json(&self) -> serde_json::Value {
        let m: BTreeMap<&str, u32> = self.0.iter().map(|(k, w)| (k.as_str(), *w)).collect();
        serde_json::json!(m)
    }

    fn pick(&self, rng: &mut u64) -> OpKind {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = next(rng) % total.max(1);
        for (k, w) in &self.0 {
            if x < u64::from(*w) {
                return *k;
            }
            x -= u64::from(*w);
        }
        self.0[0].0
    }
}

/// xorshift64: cheap per-worker randomness for op and key choice (not security relevant).
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// What every worker shares.
#[derive(Debug)]
pub struct Shared {
    /// One client per bench domain.
    pub clients: Vec<Arc<Client>>,
    /// The bench domains, same order as `clients`.
    pub domains: Vec<String>,
    /// The op mix.
    pub mix: Mix,
    /// Per-request deadline (no retries: a refusal or timeout is counted as an error).
    pub timeout: Duration,
    /// Requests finished so far (answered or failed), for the progress bar.
    pub done: AtomicU64,
    /// Requests failed so far.
    pub failed: AtomicU64,
    /// Open loop: requests due before the end that were not sent by then (the rate was not met).
    pub unsent: AtomicU64,
}

/// How a worker paces itself.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Next request as soon as the previous one is answered.
    Closed,
    /// Slot k of the whole run is due at start + k / rate; worker w of n takes slots w, w+n, …
    Open {
        /// Requests per second over all workers.
        rate: f64,
    },
}

/// Short error kinds for the report.
pub fn error_kind(e: &ClientError) -> String {
    match e {
        ClientError::Refused { condition, .. } => condition.clone(),
        ClientError::Transport(RequestError::Timeout(_)) => "timeout".into(),
        ClientError::Transport(RequestError::Network(_)) => "stream-failed".into(),
        ClientError::Transport(RequestError::Unreachable(_)) => "unreachable".into(),
        ClientError::Transport(RequestError::QueueFull) => "queue-full".into(),
        ClientError::Transport(_) => "transport".into(),
        ClientError::Unexpected(_) => "unexpected-answer".into(),
        _ => "other".into(),
    }
}

fn request(shared: &Shared, kind: OpKind, own: usize, rng: &mut u64, seq: u64) -> RegistryRequest {
    let other = |rng: &mut u64| shared.domains[(next(rng) % shared.domains.len() as u64) as usize].clone();
    match kind {
        OpKind::Write => RegistryRequest::UpdateExchange(UpdateExchange {
            domain: None,
            expected_revision: None,
            spec: super::bench_spec(&shared.domains[own], seq),
        }),
        OpKind::Renew => RegistryRequest::RenewLease(RenewLease { domain: None }),
        OpKind::Read => RegistryRequest::GetExchange(GetExchange {
            domain: other(rng),
            consistency: Consistency::Linearizable,
        }),
        OpKind::Stale => {
            RegistryRequest::GetExchange(GetExchange { domain: other(rng), consistency: Consistency::Stale })
        }
    }
}

/// When a run starts, when its measured part starts (after the warm-up), and when it ends.
#[derive(Clone, Copy, Debug)]
pub struct Times {
    /// Workers start sending (warm-up).
    pub start: Instant,
    /// Requests sent from here on are recorded.
    pub measured: Instant,
    /// No request is sent from here on.
    pub end: Instant,
}

/// Run worker `w` of `n` from `times.start` until `times.end`, recording what it sent from
/// `times.measured` on.
pub async fn worker(shared: Arc<Shared>, w: usize, n: usize, pace: Pace, times: Times) -> Recorder {
    let Times { start, measured, end } = times;
    let mut rec = Recorder::default();
    let own = w % shared.clients.len();
    let client = Arc::clone(&shared.clients[own]);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((w as u64 + 1) * 0x0100_0000_01B3);
    let mut slot = w as u64;
    let mut seq = 0u64;
    loop {
        let intended = match pace {
            Pace::Closed => Instant::now(),
            Pace::Open { rate } => {
                let due = start + Duration::from_secs_f64(slot as f64 / rate);
                slot += n as u64;
                if due >= end {
                    break;
                }
                if Instant::now() >= end {
                    // Behind schedule at the end: the slots still due were never sent.
                    let left = (end - due).as_secs_f64() * rate / n as f64;
                    shared.unsent.fetch_add(1 + left as u64, Ordering::Relaxed);
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                due
            }
        };
        if intended >= end {
            break;
        }
        seq += 1;
        let kind = shared.mix.pick(&mut rng);
        let req = request(&shared, kind, own, &mut rng, seq);
        let outcome = client.request_once(&req, shared.timeout).await;
        let counted = intended >= measured;
        match outcome {
            Ok(_) if counted => rec.ok(kind, intended.elapsed()),
            Ok(_) => {}
            Err(e) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                if counted {
                    rec.error(kind, error_kind(&e));
                }
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_weights_and_refuses_nonsense() {
        let m = Mix::parse("write=1, read=3,stale").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.0, vec![(OpKind::Write, 1), (OpKind::Read, 3), (OpKind::Stale, 1)]);
        assert!(Mix::parse("write=0").is_err());
        assert!(Mix::parse("delete=1").is_err());
        assert!(Mix::parse("read=x").is_err());
        let mut rng = 7u64;
        let reads = (0..4000).filter(|_| m.pick(&mut rng) == OpKind::Read).count();
        assert!((2000..2800).contains(&reads), "{reads} of 4000 should be about 3/5");
    }
}
