//! `icroot init` and `icroot dns` (the deploy/compose certificate step and lab DNS): the files
//! form a working cluster. Nodes run in-process on distinct loopback IPs (127.0.0.1x, the way
//! containers each have their own address), find each other by SRV from `icroot dns`, and a
//! client speaking through an init-written profile registers and reads a record.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use proto::stanza::registry::{
    ClusterStatusRequest, Consistency, ExchangeSpec, GetExchange, RegisterExchange, RegistryRequest,
    RegistryResult,
};
use raft_xmpp_transport::discovery::Discovery;
use raft_xmpp_transport::pki::load_key;
use root_node::client::Client;
use root_node::init::{self, InitArgs};
use root_node::profile::Profile;
use root_node::{Listeners, NodeConfig, RootService};

fn args(dir: &Path, port: u16) -> InitArgs {
    let d = dir.display();
    InitArgs {
        dir: dir.to_owned(),
        nodes: 3,
        node_domain: "n{id}.icroot.lan".into(),
        node_host: "127.0.0.1{id}".into(),
        port,
        discovery: "static".into(),
        nameservers: vec![],
        cluster_name: "init-test".into(),
        admin: "admin.consortium.lan".into(),
        exchanges: vec!["ix1.demo.lan".into()],
        root_address: None,
        bind: "127.0.0.1{id}".into(),
        config_dir: format!("{d}/nodes/{{id}}"),
        data_dir: format!("{d}/data/{{id}}"),
        admin_http: "127.0.0.1{id}:0".into(),
        node_owner: None,
        client_owner: None,
    }
}

/// A port free on 127.0.0.11..13 (bound and released; the nodes bind it right after).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.11:0").unwrap();
    let port = l.local_addr().unwrap().port();
    for ip in ["127.0.0.12", "127.0.0.13"] {
        if std::net::TcpListener::bind((ip, port)).is_err() {
            return free_port();
        }
    }
    port
}

#[test]
fn init_writes_configs_keys_and_profiles_and_keeps_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let a = args(tmp.path(), 5269);
    let out = init::run(&a).unwrap();
    assert_eq!(
        out.domains.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>(),
        ["n1.icroot.lan", "n2.icroot.lan", "n3.icroot.lan"]
    );
    for id in 1..=3u64 {
        let dir = tmp.path().join("nodes").join(id.to_string());
        let cfg = NodeConfig::load(&dir.join("node.toml")).unwrap();
        assert_eq!(cfg.node_id, id);
        assert_eq!(cfg.domain, format!("n{id}.icroot.lan"));
        assert_eq!(cfg.bootstrap.len(), 3);
        assert_eq!(cfg.cert, dir.join("cert.pem"));
        assert_eq!(cfg.listen_starttls, vec![format!("127.0.0.1{id}:5269").parse::<SocketAddr>().unwrap()]);
        match &cfg.discovery {
            root_node::config::DiscoveryConfig::Static { routes } => {
                assert_eq!(routes.len(), 2, "routes to the two other nodes");
                assert!(!routes.contains_key(&cfg.domain));
            }
            other => panic!("static discovery expected, got {other:?}"),
        }
        let mode = std::fs::metadata(&cfg.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        load_key(&cfg.key).unwrap();
    }
    let admin = Profile::load(&tmp.path().join("profiles/admin.toml")).unwrap();
    assert_eq!(admin.root_domain, "n1.icroot.lan");
    assert_eq!(admin.root_address, Some(("127.0.0.11".into(), 5269)));
    assert_eq!(
        admin.fallback_roots,
        vec![
            ("n2.icroot.lan".to_owned(), Some(("127.0.0.12".to_owned(), 5269))),
            ("n3.icroot.lan".to_owned(), Some(("127.0.0.13".to_owned(), 5269))),
        ]
    );
    assert!(admin.cert.exists() && admin.key.exists() && admin.ca.exists());
    assert!(tmp.path().join("profiles/ix1.demo.lan.toml").exists());
    // Node hosts are IPs, so the zone for `icroot dns` names every node.
    let zone = root_node::dns::ZoneFile::load(&tmp.path().join("dns/zone.toml")).unwrap();
    let srv: Vec<_> = zone.srv.iter().map(|s| (s.name.as_str(), s.port, s.target.as_str())).collect();
    assert_eq!(srv[1], ("_xmpp-server._tcp.n2.icroot.lan", 5269, "host.n2.icroot.lan"));
    assert_eq!(srv.len(), 3);
    assert_eq!(zone.address[2].ip, "127.0.0.13".parse::<IpAddr>().unwrap());

    // A second run keeps the CA and the certificates.
    let ca = std::fs::read(tmp.path().join("ca.pem")).unwrap();
    let cert = std::fs::read(tmp.path().join("nodes/2/cert.pem")).unwrap();
    init::run(&a).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("ca.pem")).unwrap(), ca);
    assert_eq!(std::fs::read(tmp.path().join("nodes/2/cert.pem")).unwrap(), cert);

    // A node whose domain changed gets a new certificate (the old one names the old domain).
    let mut renamed = a.clone();
    renamed.node_domain = "m{id}.icroot.lan".into();
    init::run(&renamed).unwrap();
    assert_ne!(std::fs::read(tmp.path().join("nodes/2/cert.pem")).unwrap(), cert);
    let cfg = NodeConfig::load(&tmp.path().join("nodes/2/node.toml")).unwrap();
    assert_eq!(cfg.domain, "m2.icroot.lan");

    let mut bad = a.clone();
    bad.node_domain = "root.icroot.lan".into();
    assert!(init::run(&bad).unwrap_err().to_string().contains("{id}"));
    let mut bad = a.clone();
    bad.exchanges = vec!["not a domain".into()];
    assert!(init::run(&bad).unwrap_err().to_string().contains("--exchange"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_cluster_finds_itself_by_srv_from_icroot_dns_and_serves_a_client() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut a = args(tmp.path(), port);
    a.discovery = "srv".into();
    // First pass: the zone (DNS address not known yet); second pass: configs naming the server.
    init::run(&a).unwrap();
    let dns = root_node::dns::serve(&tmp.path().join("dns/zone.toml"), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    a.nameservers = vec![dns.addr()];
    init::run(&a).unwrap();

    // The zone answers the way a node will ask.
    let discovery = Discovery::with_nameservers(&[dns.addr()], 1);
    let eps = discovery.endpoints("n2.icroot.lan").await.unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!((eps[0].host.as_str(), eps[0].port), ("host.n2.icroot.lan", port));
    let addrs = discovery.addresses(&eps[0]).await.unwrap();
    assert_eq!(addrs, vec![SocketAddr::new("127.0.0.12".parse::<IpAddr>().unwrap(), port)]);

    let mut nodes = Vec::new();
    for id in 1..=3 {
        let cfg = NodeConfig::load(&tmp.path().join(format!("nodes/{id}/node.toml"))).unwrap();
        assert!(matches!(cfg.discovery, root_node::config::DiscoveryConfig::Srv { .. }));
        let listeners = Listeners::bind(&cfg).await.unwrap();
        nodes.push(RootService::start(cfg, listeners).await.unwrap());
    }
    let profile = Profile::load(&tmp.path().join("profiles/ix1.demo.lan.toml")).unwrap();
    let client = Client::connect(&profile).unwrap();
    let spec = ExchangeSpec { organisation: "One".into(), lease_ttl_secs: 600, ..Default::default() };
    let req = RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec });
    client.request(&req).await.unwrap();
    let get = GetExchange { domain: "ix1.demo.lan".into(), consistency: Consistency::Linearizable };
    match client.request(&RegistryRequest::GetExchange(get)).await.unwrap() {
        Some(RegistryResult::Exchange(x)) => assert_eq!(x.spec.organisation, "One"),
        other => panic!("exchange expected, got {other:?}"),
    }
    match client.request(&RegistryRequest::ClusterStatus(ClusterStatusRequest)).await.unwrap() {
        Some(RegistryResult::Cluster(s)) => assert_eq!(s.members.len(), 3, "{s:?}"),
        other => panic!("status expected, got {other:?}"),
    }
    client.close().await;
    for n in nodes {
        n.shutdown().await;
    }
}
