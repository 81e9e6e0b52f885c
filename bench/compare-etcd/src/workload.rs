//! The measured workloads on both systems, and what one run of one of them measured.
//!
//! ```text
//!  icroot: root_node::bench::run (64 domains = 64 S2S/TLS streams, --spread, closed loop)
//!  etcd:   64 etcd-client connections (connection i to member i mod 3); worker w uses
//!          connection w mod 64, closed loop, same warm-up/duration/histogram bounds
//!          write  = put /icroot/exchanges/bench-<w mod 64>.demo.lan  (value: the icroot record)
//!          read   = get /icroot/exchanges/bench-<random>.demo.lan    (linearizable, the default)
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use etcd_client::{Client as EtcdClient, KvClient};
use hdrhistogram::Histogram;
use prost::Message as _;
use proto::record::StoredExchange;
use root_node::bench::{bench_spec, BenchArgs, Mix};
use serde_json::{json, Value};

use crate::clusters::{etcd_connect, Icroot, MEMBERS};

/// Bench domains (and streams / connections) in every workload.
pub const DOMAINS: usize = 64;
/// Largest latency a histogram holds, as in `icroot bench`: one minute.
const MAX_LATENCY_US: u64 = 60_000_000;
/// Per-request deadline in the throughput workloads, as `icroot bench`'s default.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The system a run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// etcd 3.4.
    Etcd,
    /// icroot.
    Icroot,
}

impl System {
    /// Its name in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            System::Etcd => "etcd",
            System::Icroot => "icroot",
        }
    }
}

/// A measured workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Writes of the worker's own record, 1 client.
    Write1,
    /// Writes, 64 clients.
    Write64,
    /// Linearizable reads of a random record, 64 clients.
    Read64,
}

impl Workload {
    /// All of them, in the order they run.
    pub const ALL: [Workload; 3] = [Workload::Write1, Workload::Write64, Workload::Read64];

    /// Name in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Write1 => "write@1",
            Workload::Write64 => "write@64",
            Workload::Read64 => "read@64",
        }
    }

    fn clients(self) -> usize {
        match self {
            Workload::Write1 => 1,
            Workload::Write64 | Workload::Read64 => 64,
        }
    }

    fn write(self) -> bool {
        !matches!(self, Workload::Read64)
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The system.
    pub system: System,
    /// The workload.
    pub workload: Workload,
    /// Round (1-based).
    pub round: u32,
    /// Acknowledged requests in the measured time.
    pub ops: u64,
    /// Failed requests in the measured time.
    pub errors: u64,
    /// `ops` per second of measured time.
    pub throughput: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// The leader (1-based member / node id) when the run started, if known.
    pub leader: Option<usize>,
}

impl RunResult {
    /// One entry of `--json`'s `runs`.
    pub fn to_json(&self) -> Value {
        json!({
            "system": self.system.as_str(),
            "workload": self.workload.as_str(),
            "round": self.round,
            "ops": self.ops,
            "errors": self.errors,
            "throughput_per_sec": self.throughput,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "leader": self.leader,
        })
    }
}

/// etcd key of bench domain `i`.
pub fn key(domain: &str) -> String {
    format!("/icroot/exchanges/{domain}")
}

/// The etcd value of a write: the prost encoding of the record icroot stores for the same
/// write (`StoredExchange` of `bench_spec(domain, seq)` with its lease and revisions).
pub fn value(domain: &str, seq: u64) -> Vec<u8> {
    let spec = bench_spec(domain, seq);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    StoredExchange {
        domain: domain.to_owned(),
        organisation: spec.organisation,
        regions: spec.regions,
        endpoints: spec.endpoints,
        trust_anchors: spec.trust_anchors,
        capabilities: spec.capabilities,
        metadata: spec.metadata,
        lease_ttl_secs: spec.lease_ttl_secs,
        lease_expires_ms: now_ms + u64::from(spec.lease_ttl_secs) * 1000,
        created_revision: 1_000 + seq,
        modified_revision: 100_000 + seq,
    }
    .encode_to_vec()
}

fn domain(i: usize) -> String {
    format!("bench-{i}.demo.lan")
}

/// Run `w` on icroot through `icroot bench` in this process.
pub async fn run_icroot(
    c: &Icroot,
    w: Workload,
    round: u32,
    duration: f64,
    warmup: f64,
) -> Result<RunResult> {
    let (ca_cert, ca_key) = c.ca();
    let kind = if w.write() { "write" } else { "read" };
    let args = BenchArgs {
        dev_dir: None,
        profile: Some(c.admin_profile()),
        ca_cert: Some(ca_cert),
        ca_key: Some(ca_key),
        pki_dir: None,
        domains: DOMAINS,
        concurrency: w.clients(),
        duration,
        warmup,
        rate: None,
        mix: Mix::parse(kind).map_err(anyhow::Error::msg)?,
        spread: true,
        timeout: TIMEOUT.as_secs_f64(),
    };
    let j = root_node::bench::run(&args, false).await?.to_json();
    let op = &j["by_op"][kind];
    Ok(RunResult {
        system: crate::workload::System::Icroot,
        workload: w,
        round,
        ops: op["ok"].as_u64().unwrap_or(0),
        errors: j["errors_total"].as_u64().unwrap_or(0),
        throughput: op["throughput_per_sec"].as_f64().unwrap_or(0.0),
        p50_us: op["latency_us"]["p50"].as_u64().unwrap_or(0),
        p99_us: op["latency_us"]["p99"].as_u64().unwrap_or(0),
        leader: None,
    })
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// xorshift64, as `icroot bench` picks random keys.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

async fn one(kv: &mut KvClient, write: bool, own: &str, rng: &mut u64, seq: u64) -> Result<()> {
    if write {
        kv.put(key(own), value(own, seq), None).await?;
    } else {
        let k = key(&domain((next(rng) % DOMAINS as u64) as usize));
        let r = kv.get(k.clone(), None).await?;
        if r.kvs().len() != 1 {
            bail!("{k}: not found");
        }
    }
    Ok(())
}

/// Run `w` on etcd: connect, put every key once, then the closed loop.
pub async fn run_etcd(w: Workload, round: u32, duration: f64, warmup: f64) -> Result<RunResult> {
    let mut clients: Vec<EtcdClient> = Vec::new();
    for i in 0..DOMAINS {
        clients.push(etcd_connect(i % MEMBERS).await?);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.put(key(&domain(i)), value(&domain(i), 0), None).await.context("putting every key once")?;
    }
    let start = Instant::now();
    let measured = start + Duration::from_secs_f64(warmup);
    let end = measured + Duration::from_secs_f64(duration);
    let mut tasks = tokio::task::JoinSet::new();
    let clients = Arc::new(clients);
    for wk in 0..w.clients() {
        let own_i = wk % DOMAINS;
        let mut kv = clients[own_i].kv_client();
        let write = w.write();
        tasks.spawn(async move {
            let own = domain(own_i);
            let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((wk as u64 + 1) * 0x0100_0000_01B3);
            let (mut h, mut errors, mut seq) = (histogram(), 0u64, 0u64);
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                seq += 1;
                let r = tokio::time::timeout(TIMEOUT, one(&mut kv, write, &own, &mut rng, seq)).await;
                if sent < measured {
                    continue;
                }
                match r {
                    Ok(Ok(())) => {
                        let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        h.saturating_record(us.clamp(1, MAX_LATENCY_US));
                    }
                    _ => errors += 1,
                }
            }
            (h, errors)
        });
    }
    let (mut h, mut errors) = (histogram(), 0);
    while let Some(r) = tasks.join_next().await {
        let (wh, we) = r.context("etcd worker")?;
        h.add(&wh).context("merging histograms")?;
        errors += we;
    }
    let secs = measured.elapsed().as_secs_f64().max(1e-9);
    Ok(RunResult {
        system: System::Etcd,
        workload: w,
        round,
        ops: h.len(),
        errors,
        throughput: (h.len() as f64 / secs * 10.0).round() / 10.0,
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        leader: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_value_is_the_record_icroot_stores_for_the_same_write() {
        let v = value("bench-7.demo.lan", 42);
        let rec = StoredExchange::decode(&v[..]).unwrap_or_else(|e| panic!("{e}"));
        let spec = bench_spec("bench-7.demo.lan", 42);
        assert_eq!(rec.domain, "bench-7.demo.lan");
        assert_eq!(rec.organisation, spec.organisation);
        assert_eq!(rec.endpoints, spec.endpoints);
        assert_eq!(rec.metadata.get("seq").map(String::as_str), Some("42"));
        assert!(rec.lease_expires_ms > 0 && rec.modified_revision > rec.created_revision);
        assert!((90..200).contains(&v.len()), "{} bytes", v.len());
        assert_eq!(key("bench-7.demo.lan"), "/icroot/exchanges/bench-7.demo.lan");
    }
}
