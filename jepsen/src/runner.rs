//! One `jepsen test` run, start to verdict: network, cluster, setup, clients and nemesis
//! concurrently for `--time`, heal and recover, the set's final read, checkers, run folder.
//!
//! ```text
//!  Net::setup ─▶ Cluster::start ─▶ ready ─▶ setup keys ─┬─ register/set clients (tasks) ─┐
//!                                                       └─ nemesis schedule (this task) ──┴▶ heal,
//!  recover, ready ─▶ final set read ─▶ checkers ─▶ report (history.jsonl, results.json, PNGs)
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use proto::stanza::registry::{
    AddLearner, ClusterStatusRequest, Promote, RegistryRequest, RegistryResult, RemoveMember,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use root_node::client::Client;

use crate::cluster::Cluster;
use crate::nemesis::{self, Fault, NemesisKind, Planned, Target};
use crate::netns::Net;
use crate::report::{self, Applied, RunReport};
use crate::workload::{self, Recorder};

/// What `jepsen test` was asked to do.
#[derive(Clone, Debug)]
pub struct TestOptions {
    /// Root nodes.
    pub nodes: u64,
    /// Workload duration.
    pub time: Duration,
    /// Enabled nemeses.
    pub nemesis: Vec<NemesisKind>,
    /// Seed of the schedule and the clients' choices.
    pub seed: u64,
    /// The icroot binary.
    pub binary: PathBuf,
    /// Parent of the run folders.
    pub dir: PathBuf,
    /// Register-workload clients.
    pub clients: u64,
    /// Set-workload clients.
    pub set_clients: u64,
    /// Register keys.
    pub keys: usize,
    /// Start the nodes with ICROOT_UNSAFE_STALE_READS=1 (the deliberately broken mode).
    pub unsafe_stale_reads: bool,
}

/// Ask every node (concurrently, 1 s each) who leads; the answer most nodes give, else a seeded
/// random node.
async fn find_leader(status: &[(u64, Arc<Client>)], rng: &mut StdRng) -> u64 {
    let mut asks = tokio::task::JoinSet::new();
    for (_, c) in status {
        let c = Arc::clone(c);
        asks.spawn(async move {
            let req = RegistryRequest::ClusterStatus(ClusterStatusRequest);
            match c.request_once(&req, Duration::from_secs(1)).await {
                Ok(Some(RegistryResult::Cluster(s))) => s.leader,
                _ => None,
            }
        });
    }
    let mut votes: std::collections::BTreeMap<u64, usize> = Default::default();
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some(l)) = answer {
            *votes.entry(l).or_default() += 1;
        }
    }
    match votes.into_iter().max_by_key(|(_, n)| *n) {
        Some((l, _)) => l,
        None => status[rng.gen_range(0..status.len())].0,
    }
}

/// Open every status client's stream before the clock starts (a first request opens it).
async fn warm_up(status: &[(u64, Arc<Client>)]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for (id, c) in status {
        let req = RegistryRequest::ClusterStatus(ClusterStatusRequest);
        while let Err(e) = c.request_once(&req, Duration::from_secs(2)).await {
            if Instant::now() > deadline {
                anyhow::bail!("node {id} does not answer cluster-status: {e}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

fn targets(t: &Target, leader: u64) -> Vec<u64> {
    match t {
        Target::Leader => vec![leader],
        Target::Nodes(n) => n.clone(),
    }
}

/// Inject `fault`; returns a description of what was done.
fn inject(net: &Net, cluster: &mut Cluster, fault: &Fault, leader: u64) -> Result<String> {
    let ids = cluster.ids();
    Ok(match fault {
        Fault::Kill { target } => {
            let t = targets(target, leader);
            for id in &t {
                cluster.kill(*id)?;
            }
            format!("kill {t:?}")
        }
        Fault::Pause { target } => {
            let t = targets(target, leader);
            for id in &t {
                cluster.pause(*id)?;
            }
            format!("pause {t:?}")
        }
        Fault::RemoveMember { .. } | Fault::LinkFaults { .. } => {
            anyhow::bail!("remove-member and link faults are applied asynchronously")
        }
        partition => {
            net.apply(&nemesis::grudge(partition, &ids, leader))?;
            match partition {
                Fault::PartitionHalves { minority } => format!("partition halves {minority:?}"),
                Fault::PartitionLeader => format!("partition leader [{leader}]"),
                Fault::PartitionRing => "partition ring".into(),
                Fault::PartitionBridge { bridge, side } => format!("partition bridge {bridge} side {side:?}"),
                _ => "partition".into(),
            }
        }
    })
}

/// A membership request through any node that answers (the request is forwarded to the leader;
/// `Client::request` retries while there is none).
async fn membership(status: &[(u64, Arc<Client>)], avoid: u64, req: &RegistryRequest) -> Result<()> {
    let mut last = None;
    for (id, c) in status.iter().filter(|(id, _)| *id != avoid) {
        match c.request(req).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(node = id, error = %e, "membership request");
                last = Some(e);
            }
        }
    }
    Err(anyhow::anyhow!("membership change failed everywhere: {last:?}"))
}

/// Remove member `id` from the Raft cluster.
async fn remove_member(status: &[(u64, Arc<Client>)], id: u64) -> Result<()> {
    membership(status, id, &RegistryRequest::RemoveMember(RemoveMember { node_id: id })).await
}

/// Add `id` back: learner (waits until it caught up), then voter.
async fn add_member(status: &[(u64, Arc<Client>)], id: u64) -> Result<()> {
    let domain = crate::cluster::node_domain(id);
    membership(status, id, &RegistryRequest::AddLearner(AddLearner { node_id: id, domain })).await?;
    membership(status, id, &RegistryRequest::Promote(Promote { node_id: id })).await
}

/// Undo every fault: heal the network, restart and resume processes, re-add removed members.
async fn heal(
    net: &Net,
    cluster: &mut Cluster,
    status: &[(u64, Arc<Client>)],
    removed: &mut Vec<u64>,
) -> Result<()> {
    net.heal()?;
    cluster.recover_all()?;
    while let Some(id) = removed.pop() {
        if let Err(e) = add_member(status, id).await {
            removed.push(id);
            return Err(e);
        }
    }
    Ok(())
}

/// Run one test; the report is written to the returned run folder.
pub async fn run(opts: &TestOptions) -> Result<RunReport> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs())?;
    let run_dir = std::path::absolute(opts.dir.join(format!("{stamp}-seed{}", opts.seed)))?;
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    tracing::info!(dir = %run_dir.display(), "run folder");
    let mut net = Net::setup(opts.nodes)?;
    let workers = opts.clients + opts.set_clients;
    let ids: Vec<u64> = (1..=opts.nodes).collect();
    let mut names: Vec<String> = vec!["setup".into()];
    names.extend((1..=workers).map(|w| format!("w{w}")));
    names.extend(ids.iter().map(|id| format!("status{id}")));
    names.extend(ids.iter().map(|id| format!("final{id}")));
    let mut cluster = Cluster::start(&run_dir, opts.nodes, &opts.binary, opts.unsafe_stale_reads, &names)?;
    cluster.wait_ready(Duration::from_secs(90)).await?;
    tracing::info!("cluster ready");
    let plan = nemesis::schedule(opts.seed, &ids, &opts.nemesis, opts.time);
    let rec = Recorder::new();
    let setup = Client::connect(&cluster.profile("setup", ids[0])?)?;
    workload::setup(&setup, &rec, opts.keys).await?;
    let status: Vec<(u64, Arc<Client>)> = ids
        .iter()
        .map(|id| Ok((*id, Arc::new(Client::connect(&cluster.profile(&format!("status{id}"), *id)?)?))))
        .collect::<Result<_>>()?;

    warm_up(&status).await?;

    // Clients.
    let start = Instant::now();
    let until = start + opts.time;
    let mut tasks = Vec::new();
    for w in 1..=workers {
        let node = ids[((w - 1) % ids.len() as u64) as usize];
        let client = Client::connect(&cluster.profile(&format!("w{w}"), node)?)?;
        let rec = rec.clone();
        tasks.push(if w <= opts.clients {
            tokio::spawn(workload::register_client(client, rec, w, workers, opts.keys, opts.seed, until))
        } else {
            tokio::spawn(workload::set_client(client, rec, w, workers, until))
        });
    }

    // Nemesis, in this task.
    let mut rng = StdRng::seed_from_u64(opts.seed.wrapping_add(1));
    let mut applied = Vec::new();
    let mut removed = Vec::new();
    let mut faulty_links = false;
    let mut crashes = Vec::new();
    for p in &plan {
        let Planned { at, duration, fault } = p;
        if start + *at >= until {
            break;
        }
        tokio::time::sleep_until((start + *at).into()).await;
        crashes.extend(cluster.crashed());
        let leader = find_leader(&status, &mut rng).await;
        let from = rec.now_ns() as f64 / 1e9;
        let what = match fault {
            Fault::RemoveMember { target } => {
                let id = targets(target, leader)[0];
                remove_member(&status, id).await?;
                removed.push(id);
                format!("remove member [{id}]")
            }
            Fault::LinkFaults { nodes, drop_permille, duplicate_permille, delay_ms, jitter_ms } => {
                let drop = f64::from(*drop_permille) / 1000.0;
                let dup = f64::from(*duplicate_permille) / 1000.0;
                let spec = format!("drop={drop} duplicate={dup} delay_ms={delay_ms} jitter_ms={jitter_ms}");
                for id in &ids {
                    // A targeted node's links to everyone; everyone's links to the targets.
                    let peers: Vec<u64> = if nodes.contains(id) {
                        ids.iter().copied().filter(|p| p != id).collect()
                    } else {
                        nodes.clone()
                    };
                    let body: String = peers
                        .iter()
                        .map(|p| format!("{} {spec}\n", crate::cluster::node_domain(*p)))
                        .collect();
                    crate::cluster::link_faults(*id, &body).await?;
                }
                faulty_links = true;
                format!("link faults {nodes:?} {spec}")
            }
            _ => inject(&net, &mut cluster, fault, leader)?,
        };
        tracing::info!(%what, "nemesis start");
        // The window lasts its planned duration from the moment the fault is in place.
        tokio::time::sleep_until((Instant::now() + *duration).min(until).into()).await;
        if std::mem::take(&mut faulty_links) {
            for id in &ids {
                crate::cluster::link_faults(*id, "clear").await?;
            }
        }
        heal(&net, &mut cluster, &status, &mut removed).await?;
        let to = rec.now_ns() as f64 / 1e9;
        tracing::info!(%what, "nemesis healed");
        applied.push(Applied { from, to, what });
    }
    tokio::time::sleep_until(until.into()).await;
    heal(&net, &mut cluster, &status, &mut removed).await?;
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await?);
    }
    crashes.extend(cluster.crashed());
    tracing::info!("workload done; waiting for the cluster to recover");
    let recovered = cluster.wait_ready(Duration::from_secs(60)).await;
    let final_read = if opts.set_clients > 0 {
        let profiles =
            ids.iter().map(|id| cluster.profile(&format!("final{id}"), *id)).collect::<Result<Vec<_>>>()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        workload::final_set_read(&profiles, &rec, workers * 1000 + 1, deadline).await
    } else {
        true
    };
    let end = rec.now_ns() as f64 / 1e9;
    for c in
        clients.into_iter().chain([setup]).chain(status.into_iter().filter_map(|(_, c)| Arc::into_inner(c)))
    {
        c.close().await;
    }
    cluster.stop();
    net.teardown();
    let history = rec.events();
    let report = report::write(
        &run_dir,
        opts,
        &history,
        &plan,
        &applied,
        end,
        crashes,
        recovered.err().map(|e| e.to_string()),
        final_read,
    )?;
    Ok(report)
}
