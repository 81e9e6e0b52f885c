//! Leader kill → first committed write, on either system.
//!
//! ```text
//!  find leader ─▶ open the writer's connections to both survivors (one request each)
//!  ─▶ SIGKILL leader (t0) ─▶ write to survivor A (≤ 1 s) ─ error/timeout ─▶ survivor B ─▶ A …
//!  ─▶ first acknowledged write (t1): time = t1 − t0 ─▶ restart the member, wait healthy and
//!     caught up, 3 s to settle
//! ```

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use proto::stanza::registry::{Consistency, GetExchange, RegistryRequest, UpdateExchange};
use serde_json::{json, Value};

use crate::clusters::{etcd_connect, Etcd, Icroot, FAILOVER_DOMAIN, MEMBERS};
use crate::workload::{key, value, System};

/// Deadline of one write attempt.
const ATTEMPT: Duration = Duration::from_secs(1);
/// Give up on a kill after this long without a committed write.
const GIVE_UP: Duration = Duration::from_secs(30);
/// Pause after a restarted member is back, before the next kill.
const SETTLE: Duration = Duration::from_secs(3);

/// One kill.
#[derive(Clone, Debug)]
pub struct KillResult {
    /// The system.
    pub system: System,
    /// Kill number (1-based, per system).
    pub n: u32,
    /// The killed leader (1-based member / node id).
    pub leader: usize,
    /// Kill → first acknowledged write; `None` when none came within 30 s.
    pub time: Option<Duration>,
    /// Write attempts until then (failed ones included).
    pub attempts: u32,
}

impl KillResult {
    /// One entry of `--json`'s `kills`.
    pub fn to_json(&self) -> Value {
        json!({
            "system": self.system.as_str(),
            "kill": self.n,
            "leader": self.leader,
            "ms": self.time.map(|t| (t.as_secs_f64() * 1e5).round() / 100.0),
            "attempts": self.attempts,
        })
    }
}

/// Kill the etcd leader and time the first committed write.
pub async fn kill_etcd(etcd: &mut Etcd, n: u32) -> Result<KillResult> {
    let leader = etcd.leader().await?;
    let survivors: Vec<usize> = (0..MEMBERS).filter(|i| *i != leader).collect();
    let mut kvs = Vec::new();
    for i in &survivors {
        kvs.push(etcd_connect(*i).await?.kv_client());
    }
    let k = key(FAILOVER_DOMAIN);
    etcd.kill(leader)?;
    let t0 = Instant::now();
    let (mut attempts, mut time) = (0u32, None);
    while t0.elapsed() < GIVE_UP {
        let n = kvs.len();
        let kv = &mut kvs[attempts as usize % n];
        attempts += 1;
        let put = kv.put(k.clone(), value(FAILOVER_DOMAIN, u64::from(attempts)), None);
        if let Ok(Ok(_)) = tokio::time::timeout(ATTEMPT, put).await {
            time = Some(t0.elapsed());
            break;
        }
    }
    etcd.restart(leader).await?;
    tokio::time::sleep(SETTLE).await;
    Ok(KillResult { system: System::Etcd, n, leader: leader + 1, time, attempts })
}

/// Kill the icroot leader and time the first committed write.
pub async fn kill_icroot(c: &mut Icroot, n: u32) -> Result<KillResult> {
    let leader = c.leader().await?;
    let mut clients = Vec::new();
    for i in (0..MEMBERS).filter(|i| *i != leader) {
        let client = c.client(FAILOVER_DOMAIN, i)?;
        // Open the stream now: a stale read is answered by that node itself.
        let probe = RegistryRequest::GetExchange(GetExchange {
            domain: FAILOVER_DOMAIN.into(),
            consistency: Consistency::Stale,
        });
        if let Err(e) = client.request(&probe).await {
            bail!("icroot node {}: {e}", i + 1);
        }
        clients.push(client);
    }
    c.kill(leader)?;
    let t0 = Instant::now();
    let (mut attempts, mut time) = (0u32, None);
    while t0.elapsed() < GIVE_UP {
        let client = &clients[attempts as usize % clients.len()];
        attempts += 1;
        let req = RegistryRequest::UpdateExchange(UpdateExchange {
            domain: None,
            expected_revision: None,
            spec: root_node::bench::bench_spec(FAILOVER_DOMAIN, u64::from(attempts)),
        });
        // request_once: no client-side retry or pause; the deadline bounds the attempt.
        if let Ok(Ok(_)) = tokio::time::timeout(ATTEMPT, client.request_once(&req, ATTEMPT)).await {
            time = Some(t0.elapsed());
            break;
        }
    }
    for client in clients {
        client.close().await;
    }
    c.restart(leader).await?;
    tokio::time::sleep(SETTLE).await;
    Ok(KillResult { system: System::Icroot, n, leader: leader + 1, time, attempts })
}
