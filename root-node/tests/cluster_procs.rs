//! Three real `icroot node --config` processes (the built binary), configured the way
//! `icroot dev` configures nodes (dev CA, node.toml, SRV through an in-process DNS server):
//! the leader is SIGKILLed while admins register Exchanges through every node. A new leader
//! is elected, writes continue, every acknowledged registration is readable afterwards, and
//! the killed node, restarted, catches up to the leader's commit index and serves them all.
//! Both leader losses (the new leader is killed too) go through the fast failover path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::stanza::registry::Consistency;
use raft_xmpp_transport::discovery::LocalDns;
use root_node::dev::ADMIN_DOMAIN;
use root_node::provision::{zone, NodePorts, Provisioner};

use crate::cluster_support::{client, lookup, metric, register_acked, wait_status, POLL};

/// One `icroot node` process; SIGKILLed when dropped.
pub(crate) struct NodeProc {
    child: Child,
}

impl NodeProc {
    pub(crate) fn spawn(config: &Path, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_icroot"))
            .args(["node", "--config", config.to_str().unwrap()])
            .env("ICROOT_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        NodeProc { child }
    }

    /// SIGKILL (std's `kill` sends SIGKILL on Unix) and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// On a failing test, prints the end of every node's log (the temp dir goes with the test).
struct DumpLogsOnPanic(Vec<PathBuf>);

impl Drop for DumpLogsOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for p in &self.0 {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("--- last lines of {}:", p.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

async fn wait_until(deadline: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkilled_leader_is_replaced_no_acknowledged_write_is_lost_and_it_catches_up() {
    let tmp = tempfile::tempdir().unwrap();
    let prov = Provisioner::open(&tmp.path().join("c")).unwrap();
    let ports: Vec<NodePorts> = (1..=3).map(|id| NodePorts::reserve(id).unwrap()).collect();
    let dns = LocalDns::start("127.0.0.1:0".parse().unwrap(), zone(&ports)).await.unwrap();
    let configs: Vec<PathBuf> =
        ports.iter().map(|p| prov.write_node(p, dns.addr(), &[1, 2, 3]).unwrap()).collect();
    let logs: Vec<PathBuf> = (1..=3).map(|id| tmp.path().join(format!("node{id}.log"))).collect();
    let _dump = DumpLogsOnPanic(logs.clone());
    let mut procs: Vec<Option<NodeProc>> =
        configs.iter().zip(&logs).map(|(c, l)| Some(NodeProc::spawn(c, l))).collect();
    let profiles: Vec<PathBuf> =
        ports.iter().map(|p| prov.write_profile(ADMIN_DOMAIN, p, dns.addr()).unwrap()).collect();
    let clients: Vec<_> = profiles.iter().map(|p| Arc::new(client(p))).collect();

    let first = wait_status(&clients[0], Duration::from_secs(60), "a leader of three", |s| {
        s.leader.is_some() && s.members.len() == 3
    })
    .await;
    let old_leader = first.leader.unwrap();

    // Writers: one per node, each through its own stream; acknowledged domains are recorded.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let domain = format!("w{}-{k}.load.lan", i + 1);
                if register_acked(&c, &domain, Duration::from_secs(5)).await {
                    acked.lock().unwrap().push(domain);
                }
                k += 1;
            }
        }));
    }
    let count = || acked.lock().unwrap().len();
    wait_until(Duration::from_secs(60), "30 acknowledged writes", || count() >= 30).await;

    // SIGKILL the leader in the middle of the writes.
    let at_kill = count();
    let killed_at = Instant::now();
    procs[(old_leader - 1) as usize].as_mut().unwrap().kill();
    let survivor = clients.iter().enumerate().find(|(i, _)| *i as u64 + 1 != old_leader).unwrap().1;
    let after = wait_status(survivor, Duration::from_secs(30), "a new leader", |s| {
        s.leader.is_some_and(|l| l != old_leader)
    })
    .await;
    let new_leader = after.leader.unwrap();
    let elected_after = killed_at.elapsed();
    assert_ne!(new_leader, old_leader);
    assert!(after.term > first.term, "the new leader was elected in a later term: {first:?} → {after:?}");
    // The survivors saw the leader's streams reset and its port refuse connections, and elected
    // at once (root-node/src/failover.rs) instead of waiting out openraft's leader lease
    // (election_timeout_max = 2 s) plus an election timeout (≥ 1 s): 3 s is the soonest the
    // ordinary path can replace a leader with these timers.
    assert!(fast_failovers(&ports, old_leader) >= 1, "no survivor took the fast path");
    assert!(elected_after < Duration::from_secs(3), "new leader only after {elected_after:?}");

    wait_until(Duration::from_secs(60), "30 more acknowledged writes after the kill", || {
        count() >= at_kill + 30
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    println!(
        "{} writes acknowledged ({at_kill} before the kill); node {new_leader} led {elected_after:?} after \
         node {old_leader} was killed",
        acked.len()
    );

    // Every acknowledged registration is there (linearizable reads via the new leader).
    let leader_client = &clients[(new_leader - 1) as usize];
    for d in &acked {
        let x = lookup(leader_client, d, Consistency::Linearizable).await;
        assert!(x.is_ok(), "acknowledged {d} is missing: {x:?}");
    }
    let leader_view = wait_status(leader_client, Duration::from_secs(10), "the leader's view", |s| {
        s.leader == Some(new_leader)
    })
    .await;

    // Restart the killed node: it catches up to the leader's commit index and serves it all.
    let k = (old_leader - 1) as usize;
    let restarted_at = Instant::now();
    procs[k] = Some(NodeProc::spawn(&configs[k], &logs[k]));
    let restarted = &clients[k];
    let caught_up = wait_status(restarted, Duration::from_secs(60), "the restarted node catching up", |s| {
        s.node_id == old_leader && s.applied_index >= leader_view.commit_index
    })
    .await;
    assert_eq!(caught_up.leader, Some(new_leader), "the restarted node follows the new leader");
    println!(
        "restarted node {old_leader} reached commit index {} {:?} after its start",
        leader_view.commit_index,
        restarted_at.elapsed()
    );
    for d in &acked {
        let x = lookup(restarted, d, Consistency::Stale).await;
        assert!(x.is_ok(), "the restarted node does not serve acknowledged {d}: {x:?}");
    }

    // Kill the new leader too: the survivors (one of which took the fast path for the first
    // loss, in an earlier term) take it again.
    let fast_before = fast_failovers(&ports, new_leader);
    let second_kill = Instant::now();
    procs[(new_leader - 1) as usize].as_mut().unwrap().kill();
    let third = wait_status(restarted, Duration::from_secs(30), "a third leader", |s| {
        s.leader.is_some_and(|l| l != new_leader)
    })
    .await;
    let second_elected = second_kill.elapsed();
    println!("node {} led {second_elected:?} after node {new_leader} was killed", third.leader.unwrap());
    assert!(fast_failovers(&ports, new_leader) > fast_before, "no survivor took the fast path again");
    // The other survivor honours the dead leader's lease (election_timeout_max = 2 s) unless it
    // took the fast path itself: a leader before 1.5 s means both survivors did.
    assert!(second_elected < Duration::from_millis(1500), "third leader only after {second_elected:?}");
    drop(procs);
}

/// Fast-path elections counted by the nodes other than `dead`.
fn fast_failovers(ports: &[NodePorts], dead: u64) -> u64 {
    ports.iter().filter(|p| p.id != dead).map(|p| metric(p.admin, "icroot_fast_failover_total")).sum()
}
