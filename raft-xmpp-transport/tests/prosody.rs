//! Interop with a real XMPP server: Prosody (Debian package) on loopback federates with an icroot
//! node in both directions, certificates only (STARTTLS, SASL EXTERNAL, `s2s_secure_auth`), each
//! side finding the other through real DNS SRV records served by the test's LocalDns.
//!
//! ```text
//!  icroot node ──SRV _xmpp-server._tcp.prosody.ix.lan──▶ Prosody   (icroot pings, disco#info)
//!  test client ─c2s─▶ Prosody ──SRV _xmpp-server._tcp.root.icroot.lan──▶ icroot node
//! ```
//!
//! Skipped (with a message) only where the `prosody` binary is absent; `.ci/run` installs it.

#[path = "prosody/client.rs"]
mod client;
#[path = "prosody/server.rs"]
mod server;

use std::sync::{Arc, Mutex};

use proto::error::{StanzaError, StanzaErrorCondition};
use proto::ns;
use proto::s2s::TlsMode;
use proto::stanza::disco::{Identity, InfoQuery, InfoResult};
use proto::stanza::envelope::{Iq, IqType};
use proto::stanza::ping::Ping;
use proto::xml::Element;
use raft_xmpp_transport::discovery::{Discovery, ZoneRecords};
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::{Direction, XmppNode};
use tokio::net::TcpListener;

use self::client::Client;
use self::server::{free_port, prosody_binary, Prosody, ProsodySetup};
use crate::support::{config, dns, TIMEOUT};

const ICROOT: &str = "root.icroot.lan";
const PROSODY: &str = "prosody.ix.lan";

/// What the icroot node's responder saw: (authenticated peer domain, iq `from`, payload name).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// The icroot node's disco#info answer.
fn icroot_info() -> InfoResult {
    InfoResult {
        node: None,
        identities: vec![Identity { name: Some("icroot".into()), ..Identity::new("server", "im") }],
        features: vec![ns::DISCO_INFO.into(), ns::PING.into()],
    }
}

/// Start the icroot node on `listener` (STARTTLS only), answering XEP-0199 pings and XEP-0030
/// disco#info, `service-unavailable` to anything else, and recording every request.
fn start_icroot(listener: TcpListener, ca: &DevCa, dns_addr: std::net::SocketAddr) -> (XmppNode, Seen) {
    let (identity, _) = ca.issue(ICROOT).unwrap();
    let discovery = Discovery::with_nameservers(&[dns_addr], 7);
    let (node, mut incoming) =
        XmppNode::start(config(ICROOT, identity, ca), vec![(listener, TlsMode::StartTls)], discovery)
            .unwrap();
    let seen: Seen = Arc::default();
    let (responder, log) = (node.clone(), seen.clone());
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let Ok(req) = Iq::try_from(&inc.stanza) else { continue };
            if !req.kind.is_request() {
                continue;
            }
            let payload = req.payload.as_ref().map(|p| p.name().to_owned()).unwrap_or_default();
            log.lock().unwrap().push((inc.from_domain.clone(), req.from.clone(), payload));
            let p = req.payload.as_ref();
            let answer = if p.is_some_and(|p| Ping::try_from(p).is_ok()) {
                Iq::result_for(&req, None)
            } else if p.is_some_and(|p| InfoQuery::try_from(p).is_ok()) {
                Iq::result_for(&req, Some(icroot_info().to_element()))
            } else {
                let err = StanzaError::new(StanzaErrorCondition::ServiceUnavailable, "not here");
                Iq::error_for(&req, err)
            };
            let _ = responder.send(answer.to_element());
        }
    });
    (node, seen)
}

/// An iq get without id: the sender (node or client) assigns one.
fn iq_get(from: &str, to: &str, payload: Element) -> Element {
    let mut iq = Iq::request(IqType::Get, "", from, to, payload).to_element();
    iq.remove_attr("id");
    iq
}

#[tokio::test]
async fn prosody_federates_with_icroot_both_ways_with_certificates() {
    let Some(binary) = prosody_binary() else {
        eprintln!("SKIPPED prosody interop: no `prosody` binary on PATH (apt-get install prosody)");
        return;
    };
    let ca = DevCa::new("icroot interop test CA").unwrap();
    let icroot_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let icroot_port = icroot_listener.local_addr().unwrap().port();
    let (s2s_port, c2s_port) = (free_port().await, free_port().await);
    // Real DNS for both servers: each finds the other's S2S port through its SRV record.
    let zone = ZoneRecords::new()
        .srv(&format!("_xmpp-server._tcp.{ICROOT}"), 10, 0, icroot_port, "host.root.icroot.lan")
        .addr("host.root.icroot.lan", [127, 0, 0, 1].into())
        .srv(&format!("_xmpp-server._tcp.{PROSODY}"), 10, 0, s2s_port, "host.prosody.ix.lan")
        .addr("host.prosody.ix.lan", [127, 0, 0, 1].into());
    let dns = dns(zone).await;
    let setup = ProsodySetup { domain: PROSODY.into(), s2s_port, c2s_port, dns: dns.addr() };
    let prosody = Prosody::start(&binary, &setup, &ca).await;
    let (node, seen) = start_icroot(icroot_listener, &ca, dns.addr());

    // icroot → Prosody: XEP-0199 ping and XEP-0030 disco#info over icroot's outbound stream.
    let pong = node.request(iq_get(ICROOT, PROSODY, Ping.to_element()), TIMEOUT).await;
    let pong = pong.unwrap_or_else(|e| panic!("prosody did not answer the ping: {e}\n{}", prosody.logs()));
    assert_eq!(pong.attr("type"), Some("result"), "{pong}");
    assert_eq!(pong.attr("from"), Some(PROSODY), "{pong}");
    let info = node.request(iq_get(ICROOT, PROSODY, InfoQuery::default().to_element()), TIMEOUT).await;
    let info = info.unwrap_or_else(|e| panic!("prosody did not answer disco#info: {e}\n{}", prosody.logs()));
    let info =
        InfoResult::try_from(info.child("query", ns::DISCO_INFO).expect("disco#info payload")).unwrap();
    assert!(info.has_feature(ns::PING), "{info:?}");
    assert!(info.identities.iter().any(|i| i.category == "server" && i.kind == "im"), "{info:?}");

    // Prosody → icroot: a client of Prosody's asks root.icroot.lan; Prosody dials icroot itself.
    let mut client = Client::login_anonymous(c2s_port, PROSODY, TIMEOUT).await;
    let from = client.jid.clone();
    assert!(from.contains(&format!("@{PROSODY}/")), "bound JID {from}");
    let pong = client.get(ICROOT, Ping.to_element()).await;
    assert_eq!(pong.attr("type"), Some("result"), "icroot's ping answer: {pong}\n{}", prosody.logs());
    assert_eq!(pong.attr("from"), Some(ICROOT), "{pong}");
    let info = client.get(ICROOT, InfoQuery::default().to_element()).await;
    assert_eq!(info.attr("type"), Some("result"), "icroot's disco#info answer: {info}");
    let info =
        InfoResult::try_from(info.child("query", ns::DISCO_INFO).expect("disco#info payload")).unwrap();
    assert_eq!(info, icroot_info());

    // The requests reached icroot's application from Prosody's authenticated domain.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(PROSODY.into(), from.clone(), "ping".into()), (PROSODY.into(), from.clone(), "query".into())]
    );
    // One authenticated stream each way (Prosody has no bidi here, so it dialled icroot).
    let links = node.links();
    assert!(links.iter().any(|(p, d, _)| p == PROSODY && *d == Direction::Outbound), "{links:?}");
    assert!(links.iter().any(|(p, d, _)| p == PROSODY && *d == Direction::Inbound), "{links:?}");
    // And Prosody authenticated icroot by certificate (SASL EXTERNAL) on both streams.
    let log = prosody.log();
    assert!(log.contains(&format!("Accepting SASL EXTERNAL identity from {ICROOT}")), "{}", prosody.logs());
    assert!(log.contains(&format!("SASL EXTERNAL with {ICROOT} succeeded")), "{}", prosody.logs());
    node.shutdown().await;
}
