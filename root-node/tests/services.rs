//! What the root answers besides the registry (XEP-0199 ping, XEP-0030 disco#info, anything
//! else → service-unavailable), and start-up refusals of `icroot node`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use proto::error::StanzaErrorCondition;
use proto::ns;
use proto::stanza::disco::InfoQuery;
use proto::stanza::envelope::{Iq, IqType};
use proto::stanza::ping::Ping;
use proto::xml::Element;
use raft_xmpp_transport::discovery::{Discovery, Endpoint, TlsStart};
use raft_xmpp_transport::pki::{load_certs, load_key, PkiError};
use raft_xmpp_transport::tls::TlsIdentity;
use raft_xmpp_transport::{RequestError, TransportConfig, XmppNode};
use root_node::dev::{DevCluster, DevOptions};
use root_node::{Listeners, NodeConfig, RootService, ServiceError};

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn root_answers_ping_disco_info_and_refuses_unknown_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let node = &cluster.ready()["nodes"][0];
    let (root, address) = (node["domain"].as_str().unwrap(), node["address"].as_str().unwrap());
    let pki = opts.dir.join("pki");
    let identity = TlsIdentity {
        cert_chain: load_certs(&pki.join("ix1.demo.lan.pem")).unwrap(),
        key: load_key(&pki.join("ix1.demo.lan.key")).unwrap(),
    };
    let cfg = TransportConfig::new("ix1.demo.lan", identity, load_certs(&pki.join("ca.pem")).unwrap());
    let mut discovery = Discovery::with_nameservers(&[], 0);
    let (host, port) = address.rsplit_once(':').unwrap();
    discovery.add_static_route(
        root,
        vec![Endpoint { host: host.into(), port: port.parse().unwrap(), tls: TlsStart::StartTls }],
    );
    let (xmpp, _incoming) = XmppNode::start(cfg, vec![], discovery).unwrap();

    let ping = Iq::request(IqType::Get, "p1", "ix1.demo.lan", root, Ping.to_element());
    let answer = xmpp.request(ping.to_element(), T).await.unwrap();
    assert_eq!(answer.attr("type"), Some("result"));

    let disco = Iq::request(IqType::Get, "d1", "ix1.demo.lan", root, InfoQuery::default().to_element());
    let answer = xmpp.request(disco.to_element(), T).await.unwrap();
    let query = answer.child("query", ns::DISCO_INFO).expect("disco#info result");
    let features: Vec<&str> = query.children().filter_map(|f| f.attr("var")).collect();
    for f in [ns::RAFT, ns::REGISTRY, ns::PING, ns::DISCO_INFO] {
        assert!(features.contains(&f), "{f} missing from {features:?}");
    }
    assert!(query.children().any(|c| c.name() == "identity" && c.attr("category") == Some("server")));

    let odd =
        Iq::request(IqType::Get, "x1", "ix1.demo.lan", root, Element::new("query", "jabber:iq:version"));
    match xmpp.request(odd.to_element(), T).await {
        Err(RequestError::Remote(e)) => assert_eq!(e.condition, StanzaErrorCondition::ServiceUnavailable),
        other => panic!("expected service-unavailable, got {other:?}"),
    }
    // A forwarded request from a domain that is not a cluster member is refused.
    let inner = Element::new("cluster-status", ns::REGISTRY);
    let fwd = Element::new("forwarded", root_node::FORWARD_NS)
        .with_attr("actor", "admin.consortium.lan")
        .with_child(inner);
    let fwd = Iq::request(IqType::Get, "f1", "ix1.demo.lan", root, fwd);
    match xmpp.request(fwd.to_element(), T).await {
        Err(RequestError::Remote(e)) => assert_eq!(e.condition, StanzaErrorCondition::Forbidden),
        other => panic!("expected forbidden, got {other:?}"),
    }
    xmpp.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_refuses_a_world_readable_key() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = raft_xmpp_transport::pki::DevCa::new("ca").unwrap();
    let (_, pem) = ca.issue("n1.icroot.lan").unwrap();
    let d = tmp.path();
    std::fs::write(d.join("n1.pem"), &pem.cert_pem).unwrap();
    std::fs::write(d.join("n1.key"), &pem.key_pem).unwrap();
    std::fs::set_permissions(d.join("n1.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    let toml = format!(
        "node_id = 1\ndomain = \"n1.icroot.lan\"\ndata_dir = \"{dir}/data\"\n[listen]\nstarttls = [\"127.0.0.1:0\"]\n\
         admin_http = \"127.0.0.1:0\"\n[tls]\ncert = \"{dir}/n1.pem\"\nkey = \"{dir}/n1.key\"\nca = [\"{dir}/ca.pem\"]\n\
         [discovery]\nmode = \"static\"\nroutes = {{}}\n",
        dir = d.display()
    );
    let config = NodeConfig::from_toml(&toml).unwrap();
    let listeners = Listeners::bind(&config).await.unwrap();
    match RootService::start(config, listeners).await {
        Err(ServiceError::Pki(PkiError::WorldReadableKey(path, 0o644))) => assert!(path.ends_with("n1.key")),
        other => panic!("expected a world-readable key refusal, got {other:?}"),
    }
}
