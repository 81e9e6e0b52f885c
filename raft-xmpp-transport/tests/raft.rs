//! openraft over this transport: the in-memory network (serialized stanzas, seeded faults) and
//! real S2S links on loopback (TLS, SASL EXTERNAL, SRV discovery).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, Raft};
use proto::raft_types::{RaftTypes, RootNode};
use proto::record::Command;
use proto::stanza::raft::RaftPayload;
use raft_xmpp_transport::discovery::LocalDns;
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::raft::{raft_answer, serve_raft_payload, MemNet, XmppRaftNetwork};
use raft_xmpp_transport::XmppNode;

use crate::memstore::MemStore;
use crate::support::*;

const CLUSTER: &str = "test-cluster";

fn raft_config(heartbeat_ms: u64) -> Arc<Config> {
    let c = Config {
        cluster_name: CLUSTER.into(),
        heartbeat_interval: heartbeat_ms,
        election_timeout_min: heartbeat_ms * 4,
        election_timeout_max: heartbeat_ms * 8,
        install_snapshot_timeout: 5_000,
        snapshot_max_chunk_size: proto::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES as u64,
        ..Default::default()
    };
    raft_xmpp_transport::raft::check_raft_config(&c).unwrap();
    Arc::new(c.validate().unwrap())
}

fn members(ids: &[u64]) -> BTreeMap<u64, RootNode> {
    ids.iter().map(|i| (*i, RootNode { domain: format!("n{i}.icroot.lan") })).collect()
}

fn cmd(actor: &str) -> Command {
    Command { actor: actor.into(), ..Default::default() }
}

async fn leader_of(raft: &Raft<RaftTypes>, not: Option<u64>) -> u64 {
    let m = raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(|m| m.current_leader.is_some() && m.current_leader != not, "a leader")
        .await
        .unwrap();
    m.current_leader.unwrap()
}

async fn wait_applied(raft: &Raft<RaftTypes>, index: u64) {
    raft.wait(Some(Duration::from_secs(60))).applied_index_at_least(Some(index), "caught up").await.unwrap();
}

type Rafts = BTreeMap<u64, Raft<RaftTypes>>;

/// Three initialized nodes on `net`, each with its own in-memory store.
async fn memnet_cluster(net: &MemNet) -> (Rafts, BTreeMap<u64, MemStore>) {
    let config = raft_config(100);
    let mut rafts = BTreeMap::new();
    let mut stores = BTreeMap::new();
    for id in 1..=3u64 {
        let store = MemStore::default();
        let raft =
            Raft::new(id, config.clone(), net.network(id), store.clone(), store.clone()).await.unwrap();
        net.register(id, raft.clone());
        rafts.insert(id, raft);
        stores.insert(id, store);
    }
    rafts[&1].initialize(members(&[1, 2, 3])).await.unwrap();
    (rafts, stores)
}

#[tokio::test(start_paused = true)]
async fn memnet_elects_replicates_and_survives_a_leader_partition() {
    let net = MemNet::new(CLUSTER, 42);
    let (rafts, stores) = memnet_cluster(&net).await;
    let leader = leader_of(&rafts[&1], None).await;
    for i in 0..10 {
        rafts[&leader].client_write(cmd(&format!("w{i}"))).await.unwrap();
    }
    let last = rafts[&leader].metrics().borrow().last_applied.unwrap().index;
    for r in rafts.values() {
        wait_applied(r, last).await;
    }

    net.isolate(leader);
    let survivor = *rafts.keys().find(|id| **id != leader).unwrap();
    let new_leader = leader_of(&rafts[&survivor], Some(leader)).await;
    assert_ne!(new_leader, leader);
    for i in 10..15 {
        rafts[&new_leader].client_write(cmd(&format!("w{i}"))).await.unwrap();
    }
    net.heal();
    let last = rafts[&new_leader].metrics().borrow().last_applied.unwrap().index;
    for r in rafts.values() {
        wait_applied(r, last).await;
    }
    let expected: Vec<String> = (0..15).map(|i| format!("w{i}")).collect();
    for (id, s) in &stores {
        assert_eq!(s.applied_actors(), expected, "node {id}");
    }
    assert!(net.delivered() > 30, "RPCs went through the serialized path");
}

/// One root node: an XmppNode plus a Raft whose RPCs travel over it.
struct RootUnderTest {
    xmpp: XmppNode,
    raft: Raft<RaftTypes>,
}

async fn start_root(id: u64, plan: Planned, ca: &DevCa, dns: &LocalDns, store: MemStore) -> RootUnderTest {
    let (ident, _) = ca.issue(&plan.domain).unwrap();
    let discovery = raft_xmpp_transport::discovery::Discovery::with_nameservers(&[dns.addr()], id);
    let listeners =
        vec![(plan.starttls, proto::s2s::TlsMode::StartTls), (plan.direct, proto::s2s::TlsMode::DirectTls)];
    let (xmpp, mut incoming) =
        XmppNode::start(config(&plan.domain, ident, ca), listeners, discovery).unwrap();
    let network = XmppRaftNetwork::new(xmpp.clone(), id, CLUSTER);
    let raft = Raft::new(id, raft_config(250), network, store.clone(), store).await.unwrap();
    let (node, r) = (xmpp.clone(), raft.clone());
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let stanza = inc.stanza;
            let Some(payload) = stanza.children().find(|c| RaftPayload::is_raft_payload(c)).cloned() else {
                continue;
            };
            let (node, raft) = (node.clone(), r.clone());
            tokio::spawn(async move {
                let answer = serve_raft_payload(&raft, CLUSTER, &payload).await;
                let _ = node.send(raft_answer(&stanza, answer));
            });
        }
    });
    RootUnderTest { xmpp, raft }
}

#[tokio::test]
async fn openraft_over_s2s_elects_replicates_and_survives_a_restart() {
    let ca = DevCa::new("ca").unwrap();
    let plans = [
        Planned::new("n1.icroot.lan").await,
        Planned::new("n2.icroot.lan").await,
        Planned::new("n3.icroot.lan").await,
    ];
    let ports: Vec<_> = plans.iter().map(|p| (p.starttls_addr(), p.direct_addr())).collect();
    let dns = dns(zone(&plans.iter().collect::<Vec<_>>(), false)).await;
    let stores: Vec<MemStore> = (0..3).map(|_| MemStore::default()).collect();
    let mut roots = Vec::new();
    for (i, plan) in plans.into_iter().enumerate() {
        roots.push(start_root(i as u64 + 1, plan, &ca, &dns, stores[i].clone()).await);
    }
    roots[0].raft.initialize(members(&[1, 2, 3])).await.unwrap();
    let leader = leader_of(&roots[0].raft, None).await;
    let lr = &roots[leader as usize - 1].raft;
    for i in 0..5 {
        lr.client_write(cmd(&format!("a{i}"))).await.unwrap();
    }

    // Restart a follower: stop it, write while it is away, bring it back on the same address.
    let victim = (1..=3u64).find(|id| *id != leader).unwrap();
    let vi = victim as usize - 1;
    roots[vi].raft.shutdown().await.unwrap();
    roots[vi].xmpp.shutdown().await;
    let lr = roots[leader as usize - 1].raft.clone();
    for i in 5..10 {
        lr.client_write(cmd(&format!("a{i}"))).await.unwrap();
    }
    let plan = Planned {
        domain: format!("n{victim}.icroot.lan"),
        starttls: tokio::net::TcpListener::bind(ports[vi].0).await.unwrap(),
        direct: tokio::net::TcpListener::bind(ports[vi].1).await.unwrap(),
    };
    roots[vi] = start_root(victim, plan, &ca, &dns, stores[vi].clone()).await;
    let last = lr.metrics().borrow().last_applied.unwrap().index;
    wait_applied(&roots[vi].raft, last).await;
    let expected: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
    assert_eq!(stores[vi].applied_actors(), expected);
}

#[tokio::test]
async fn rpc_deadlines_hold_when_a_follower_is_blackholed() {
    let ca = DevCa::new("ca").unwrap();
    let plans = [
        Planned::new("n1.icroot.lan").await,
        Planned::new("n2.icroot.lan").await,
        Planned::new("n3.icroot.lan").await,
    ];
    let dns = dns(zone(&plans.iter().collect::<Vec<_>>(), false)).await;
    let mut roots = Vec::new();
    for (i, plan) in plans.into_iter().enumerate() {
        roots.push(start_root(i as u64 + 1, plan, &ca, &dns, MemStore::default()).await);
    }
    roots[0].raft.initialize(members(&[1, 2, 3])).await.unwrap();
    let leader = leader_of(&roots[0].raft, None).await;
    let l = &roots[leader as usize - 1];
    l.raft.client_write(cmd("before")).await.unwrap();
    let victim = (1..=3u64).find(|id| *id != leader).unwrap();
    l.xmpp.faults().set(
        &format!("n{victim}.icroot.lan"),
        raft_xmpp_transport::fault::LinkFault { blackhole: true, ..Default::default() },
    );
    // The majority still commits; a hung RPC to the victim would not block this.
    for i in 0..5 {
        tokio::time::timeout(Duration::from_secs(20), l.raft.client_write(cmd(&format!("during{i}"))))
            .await
            .expect("writes commit while one follower is blackholed")
            .unwrap();
    }
    assert!(
        l.xmpp.pending_requests() <= 8,
        "requests to the blackholed peer expire: {}",
        l.xmpp.pending_requests()
    );
    l.xmpp.faults().clear_all();
    let last = l.raft.metrics().borrow().last_applied.unwrap().index;
    wait_applied(&roots[victim as usize - 1].raft, last).await;
}

#[tokio::test]
async fn a_new_learner_receives_a_chunked_snapshot_over_s2s() {
    let ca = DevCa::new("ca").unwrap();
    let plans = [
        Planned::new("n1.icroot.lan").await,
        Planned::new("n2.icroot.lan").await,
        Planned::new("n3.icroot.lan").await,
        Planned::new("n4.icroot.lan").await,
    ];
    let dns = dns(zone(&plans.iter().collect::<Vec<_>>(), false)).await;
    let stores: Vec<MemStore> = (0..4).map(|_| MemStore::default()).collect();
    let mut roots = Vec::new();
    for (i, plan) in plans.into_iter().enumerate() {
        roots.push(start_root(i as u64 + 1, plan, &ca, &dns, stores[i].clone()).await);
    }
    roots[0].raft.initialize(members(&[1, 2, 3])).await.unwrap();
    let leader = leader_of(&roots[0].raft, None).await;
    let l = roots[leader as usize - 1].raft.clone();
    // ~1.2 MB of state: the snapshot needs several 256 KiB chunks, each its own stanza.
    let filler = "x".repeat(600);
    for i in 0..2000 {
        l.client_write(cmd(&format!("{i:05}{filler}"))).await.unwrap();
    }
    l.trigger().snapshot().await.unwrap();
    let m = l
        .wait(Some(Duration::from_secs(60)))
        .metrics(|m| m.snapshot.is_some(), "snapshot built")
        .await
        .unwrap();
    let snap = m.snapshot.unwrap();
    l.trigger().purge_log(snap.index).await.unwrap();
    l.wait(Some(Duration::from_secs(60))).metrics(|m| m.purged == Some(snap), "log purged").await.unwrap();

    l.add_learner(4, RootNode { domain: "n4.icroot.lan".into() }, true).await.unwrap();
    wait_applied(&roots[3].raft, snap.index).await;
    let actors = stores[3].applied_actors();
    assert_eq!(actors.len(), 2000);
    assert!(actors[1999].starts_with("01999"));
    let m4 = roots[3].raft.metrics().borrow().clone();
    assert_eq!(m4.snapshot, Some(snap), "node 4 got its state from the snapshot, not the (purged) log");
}

#[tokio::test(start_paused = true)]
async fn large_backlogs_are_sent_in_stanzas_under_the_s2s_limit() {
    let net = MemNet::new(CLUSTER, 3);
    let (rafts, stores) = memnet_cluster(&net).await;
    let leader = leader_of(&rafts[&1], None).await;
    let lagging = *rafts.keys().find(|id| **id != leader).unwrap();
    let others: Vec<u64> = rafts.keys().copied().filter(|id| *id != lagging).collect();
    net.partition(&[&others, &[lagging]]);
    // 300 entries of 4 KiB: one AppendEntries of the whole backlog would be ~1.6 MB of XML.
    let filler = "y".repeat(4096);
    for i in 0..300 {
        rafts[&leader].client_write(cmd(&format!("{i:04}{filler}"))).await.unwrap();
    }
    net.heal();
    let last = rafts[&leader].metrics().borrow().last_applied.unwrap().index;
    wait_applied(&rafts[&lagging], last).await;
    assert_eq!(stores[&lagging].applied_actors().len(), 300);
}
