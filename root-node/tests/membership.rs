//! Membership changes through `icroot cluster …`: a fourth node joins as a learner AFTER the
//! leader snapshotted and purged its log, so it can only catch up by installing the snapshot;
//! then it is promoted (four voters) and another member is removed (three). Non-admins and
//! bad arguments are refused with readable errors.

use std::time::Duration;

use clap::Parser;
use proto::stanza::registry::{ClusterStatus, Consistency, RegistryError, RegistryResult};
use raft_xmpp_transport::discovery::LocalDns;
use root_node::cli::{run_client, Cli};
use root_node::client::{Client, ClientError};
use root_node::dev::{DevCluster, DevOptions, ADMIN_DOMAIN};
use root_node::profile::RawProfile;
use root_node::provision::{zone, NodePorts, Provisioner};
use root_node::{Listeners, NodeConfig, RootService};

use crate::cluster_procs::NodeProc;
use crate::cluster_support::{client, icroot, json_of, lookup, register_acked, stderr, voters, wait_status};

const T: Duration = Duration::from_secs(60);

async fn start(path: &std::path::Path, listeners: Listeners) -> RootService {
    RootService::start(NodeConfig::load(path).unwrap(), listeners).await.unwrap()
}

async fn cluster_cmd(
    c: &Client,
    profile: &std::path::Path,
    args: &[&str],
) -> Result<ClusterStatus, ClientError> {
    let argv =
        ["icroot", "--profile", profile.to_str().unwrap(), "cluster"].into_iter().chain(args.iter().copied());
    match run_client(c, &Cli::try_parse_from(argv).unwrap().command).await? {
        Some(RegistryResult::Cluster(s)) => Ok(s),
        other => panic!("membership answers a cluster view, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn learner_joins_from_a_snapshot_after_purge_then_promote_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let prov = Provisioner::open(&tmp.path().join("c")).unwrap();
    let mut ports = Vec::new();
    let mut listeners = Vec::new();
    for id in 1..=4 {
        let (p, l) = NodePorts::bind(id).await.unwrap();
        ports.push(p);
        listeners.push(l);
    }
    // One zone for all four: the leader must find n4 by SRV once it is a learner.
    let dns = LocalDns::start("127.0.0.1:0".parse().unwrap(), zone(&ports)).await.unwrap();
    let mut configs = Vec::new();
    for p in &ports {
        let bootstrap: &[u64] = if p.id == 4 { &[] } else { &[1, 2, 3] };
        configs.push(prov.write_node(p, dns.addr(), bootstrap).unwrap());
    }
    let mut listeners = listeners.into_iter();
    let mut nodes = Vec::new();
    for c in &configs[..3] {
        nodes.push(start(c, listeners.next().unwrap()).await);
    }
    let admin = prov.write_profile(ADMIN_DOMAIN, &ports[0], dns.addr()).unwrap();
    let admin_c = client(&admin);
    let first = wait_status(&admin_c, T, "a leader", |s| s.leader.is_some()).await;
    let li = nodes.iter().position(|n| Some(n.config().node_id) == first.leader).unwrap();

    for i in 0..40 {
        assert!(register_acked(&admin_c, &format!("before-{i}.snap.lan"), T).await);
    }
    // Snapshot on the leader, then purge its log up to the snapshot.
    let leader = &nodes[li];
    let applied = leader.raft().metrics().borrow().last_applied.unwrap();
    leader.raft().trigger().snapshot().await.unwrap();
    let m = leader
        .raft()
        .wait(Some(T))
        .metrics(|m| m.snapshot.is_some_and(|s| s.index >= applied.index), "snapshot built")
        .await
        .unwrap();
    let snap = m.snapshot.unwrap();
    leader.raft().trigger().purge_log(snap.index).await.unwrap();
    leader
        .raft()
        .wait(Some(T))
        .metrics(|m| m.purged.is_some_and(|p| p.index >= snap.index), "log purged")
        .await
        .unwrap();
    for i in 0..5 {
        assert!(register_acked(&admin_c, &format!("after-{i}.snap.lan"), T).await);
    }

    // Refusals: a non-admin, and a bad node id, never reach Raft.
    let ix = prov.write_profile("ix1.demo.lan", &ports[0], dns.addr()).unwrap();
    let ix_c = client(&ix);
    let err = cluster_cmd(&ix_c, &ix, &["add-learner", "--node-id", "4", "--domain", "n4.icroot.lan"])
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Refused { error: RegistryError::NotAdmin, .. }), "{err:?}");
    let err = cluster_cmd(&admin_c, &admin, &["promote", "--node-id", "9"]).await.unwrap_err();
    assert!(err.to_string().contains("node 9 is not a member"), "{err}");
    let err = cluster_cmd(&admin_c, &admin, &["remove", "--node-id", "9"]).await.unwrap_err();
    assert!(err.to_string().contains("node 9 is not a member"), "{err}");
    let err = cluster_cmd(&admin_c, &admin, &["promote", "--node-id", "2"]).await.unwrap_err();
    assert!(err.to_string().contains("already a voter"), "{err}");
    let out =
        icroot(&["--profile", admin.to_str().unwrap(), "--json", "cluster", "promote", "--node-id", "0"])
            .await;
    assert!(!out.status.success());
    assert!(json_of(&out)["error"]["message"].as_str().unwrap().contains("--node-id"), "{}", stderr(&out));

    // Node 4 starts with an empty log and joins through the binary's `cluster add-learner`,
    // sent via node 2 while the in-process admin client keeps its stream to node 1.
    nodes.push(start(&configs[3], listeners.next().unwrap()).await);
    let via2 = prov.write_profile(ADMIN_DOMAIN, &ports[1], dns.addr()).unwrap();
    let out = icroot(&[
        "--profile",
        via2.to_str().unwrap(),
        "--json",
        "cluster",
        "add-learner",
        "--node-id",
        "4",
        "--domain",
        "n4.icroot.lan",
    ])
    .await;
    assert!(out.status.success(), "add-learner failed: {}", stderr(&out));
    let view = json_of(&out);
    let roles: Vec<(u64, String)> = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&(4, "learner".to_owned())), "{view}");

    // It caught up by installing the snapshot (its log never held the purged entries).
    let n4 = &nodes[3];
    let leader_applied = nodes[li].raft().metrics().borrow().last_applied.unwrap();
    let m4 = n4
        .raft()
        .wait(Some(T))
        .metrics(|m| m.last_applied.is_some_and(|a| a.index >= leader_applied.index), "node 4 caught up")
        .await
        .unwrap();
    assert!(m4.snapshot.is_some_and(|s| s.index >= snap.index), "node 4 installed a snapshot: {m4:?}");
    assert!(m4.purged.is_some_and(|p| p.index >= snap.index), "node 4's log starts after it: {m4:?}");
    let via4 = prov.write_profile(ADMIN_DOMAIN, &ports[3], dns.addr()).unwrap();
    let c4 = client(&via4);
    for d in
        (0..40).map(|i| format!("before-{i}.snap.lan")).chain((0..5).map(|i| format!("after-{i}.snap.lan")))
    {
        let x = lookup(&c4, &d, Consistency::Stale).await;
        assert!(x.is_ok(), "node 4 does not serve {d}: {x:?}");
    }

    // Promote: four voters.
    let s = cluster_cmd(&admin_c, &admin, &["promote", "--node-id", "4"]).await.unwrap();
    assert_eq!((s.members.len(), voters(&s)), (4, 4), "{s:?}");
    // Remove a follower other than node 4 (and node 1, which the admin profile talks to):
    // three members, and writes still commit.
    let victim = [2, 3].into_iter().find(|id| Some(*id) != s.leader).unwrap();
    let s = cluster_cmd(&admin_c, &admin, &["remove", "--node-id", &victim.to_string()]).await.unwrap();
    assert_eq!((s.members.len(), voters(&s)), (3, 3), "{s:?}");
    assert!(s.members.iter().all(|m| m.node_id != victim), "{s:?}");
    let s4 = wait_status(&c4, T, "node 4 sees three members", |s| s.members.len() == 3).await;
    assert!(s4.members.iter().any(|m| m.node_id == 4), "{s4:?}");
    assert!(register_acked(&admin_c, "after-remove.snap.lan", T).await);

    for c in [admin_c, ix_c, c4] {
        c.close().await;
    }
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dev_spare_node_runs_as_a_process_and_joins_as_a_voter() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start_with_spares(&opts, 1).await.unwrap();
    let spare = cluster.ready()["spare_nodes"][0].clone();
    assert_eq!((spare["id"].as_u64(), spare["domain"].as_str()), (Some(4), Some("n4.icroot.lan")), "{spare}");
    let config = NodeConfig::load(std::path::Path::new(spare["config"].as_str().unwrap())).unwrap();
    assert!(config.bootstrap.is_empty(), "a spare joins, it does not bootstrap");
    let _n4 =
        NodeProc::spawn(std::path::Path::new(spare["config"].as_str().unwrap()), &tmp.path().join("n4.log"));

    let admin = opts.dir.join("profiles").join("admin.toml");
    let admin_arg = admin.to_str().unwrap();
    let args = [
        "--profile",
        admin_arg,
        "--json",
        "cluster",
        "add-learner",
        "--node-id",
        "4",
        "--domain",
        "n4.icroot.lan",
    ];
    let out = icroot(&args).await;
    assert!(out.status.success(), "add-learner: {}", stderr(&out));
    let out = icroot(&["--profile", admin_arg, "--json", "cluster", "promote", "--node-id", "4"]).await;
    assert!(out.status.success(), "promote: {}", stderr(&out));
    let view = json_of(&out);
    let members = view["members"].as_array().unwrap();
    assert_eq!(members.len(), 4, "{view}");
    assert!(members.iter().all(|m| m["role"] != "learner"), "four voters: {view}");

    // The process serves the demo record `icroot dev` registered before it existed.
    let mut raw: RawProfile = toml::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    raw.root_domain = "n4.icroot.lan".into();
    raw.root_address = Some(spare["address"].as_str().unwrap().into());
    let via4 = tmp.path().join("admin-via-n4.toml");
    std::fs::write(&via4, toml::to_string(&raw).unwrap()).unwrap();
    let c4 = client(&via4);
    let s4 =
        wait_status(&c4, T, "node 4 applied the demo data", |s| s.node_id == 4 && s.applied_index >= 3).await;
    assert!(voters(&s4) == 4, "{s4:?}");
    assert!(lookup(&c4, "ix3.demo.lan", Consistency::Stale).await.is_ok());
    c4.close().await;
    cluster.shutdown().await;
}
