//! `/readyz` (CONTRACT.md): 200 only for a member with a known leader that has applied up to
//! the leader's commit index; 503 on a node cut off from the leader and on a leader without a
//! quorum; 200 again once the partition heals and the node has caught up.

use std::net::SocketAddr;
use std::time::Duration;

use raft_xmpp_transport::fault::LinkFault;
use root_node::dev::{DevCluster, DevOptions};
use root_node::RootService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::peer::{eventually, Exchange};

/// `GET /readyz` over a plain TCP connection: the status code.
async fn readyz(addr: SocketAddr) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut text)).await.unwrap().unwrap();
    text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn isolate(cluster: &DevCluster, victim: &RootService) {
    let cut = LinkFault { blackhole: true, ..LinkFault::default() };
    for n in cluster.nodes() {
        if n.config().node_id != victim.config().node_id {
            n.xmpp().faults().set(&victim.config().domain, cut);
            victim.xmpp().faults().set(&n.config().domain, cut);
        }
    }
}

async fn until_status(node: &RootService, want: u16, deadline: Duration, what: &str) {
    let addr = node.admin_addr();
    eventually(deadline, what, || async move { readyz(addr).await == want }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_the_leaders_commit_index_and_quorum() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let ready = cluster.ready().clone();
    let leader_id = ready["leader"]["id"].as_u64().unwrap();
    let nodes = cluster.nodes();
    let leader = &nodes[(leader_id - 1) as usize];
    let followers: Vec<&RootService> = nodes.iter().filter(|n| n.config().node_id != leader_id).collect();
    for n in nodes {
        until_status(n, 200, Duration::from_secs(10), "every node of a healthy cluster is ready").await;
    }

    // A follower cut off from everyone: not ready, while the leader (with the other follower
    // as its quorum) commits a write the cut-off node does not get.
    let cut_off = followers[0];
    isolate(&cluster, cut_off);
    // At once, well inside the election timeout, while it still believes in its leader: the
    // leader cannot confirm its commit index to it.
    assert_eq!(readyz(cut_off.admin_addr()).await, 503, "a cut-off follower is not ready");
    let leader_entry = &ready["nodes"][(leader_id - 1) as usize];
    let x = Exchange::connect(&opts.dir, "ix1.demo.lan", leader_entry);
    x.register(300).await;
    assert_eq!(readyz(leader.admin_addr()).await, 200, "the leader still has a quorum");
    assert_eq!(readyz(cut_off.admin_addr()).await, 503);

    // The leader loses its last follower too: no quorum, not ready.
    isolate(&cluster, leader);
    assert_eq!(readyz(leader.admin_addr()).await, 503, "a leader without a quorum is not ready");

    // Heal: everyone is ready again once caught up, including the write it missed.
    for n in nodes {
        n.xmpp().faults().clear_all();
    }
    until_status(cut_off, 200, Duration::from_secs(30), "the healed follower catches up").await;
    let cut_entry = &ready["nodes"][(cut_off.config().node_id - 1) as usize];
    let via = Exchange::connect(&opts.dir, "ix2.demo.lan", cut_entry);
    let stale = proto::stanza::registry::RegistryRequest::GetExchange(proto::stanza::registry::GetExchange {
        domain: "ix1.demo.lan".into(),
        consistency: proto::stanza::registry::Consistency::Stale,
    });
    assert!(via.request(&stale).await.unwrap().is_some(), "ready implies the missed write is applied");
    for n in nodes {
        until_status(n, 200, Duration::from_secs(30), "all ready after healing").await;
    }
    x.xmpp.shutdown().await;
    via.xmpp.shutdown().await;
    cluster.shutdown().await;
}
