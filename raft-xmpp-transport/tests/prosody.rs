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
use raft_xmpp_transport::discovery::{Discovery, LocalDns, ZoneRecords};
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::tls::TlsIdentity;
use raft_xmpp_transport::{Direction, RequestError, XmppNode};
use tokio::net::TcpListener;

use self::client::Client;
use self::server::{free_ports, prosody_binary, Prosody, ProsodySetup};
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
fn start_icroot(
    listener: TcpListener,
    identity: TlsIdentity,
    ca: &DevCa,
    dns: &LocalDns,
) -> (XmppNode, Seen) {
    let dns_addr = dns.addr();
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

/// Prosody and an icroot node on loopback, each published in the test's DNS.
struct Interop {
    prosody: Prosody,
    node: XmppNode,
    /// Requests the icroot node's responder received.
    seen: Seen,
    c2s_port: u16,
    /// Serves both servers' SRV records for the whole test.
    _dns: LocalDns,
}

/// Start both servers; `None` (after saying so) when Prosody is not installed. The icroot node
/// presents `identity` and trusts `ca`; Prosody's certificate comes from `ca`.
async fn interop(ca: &DevCa, identity: TlsIdentity, bidi: bool) -> Option<Interop> {
    let Some(binary) = prosody_binary() else {
        eprintln!("SKIPPED prosody interop: no `prosody` binary on PATH (apt-get install prosody)");
        return None;
    };
    let icroot_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let icroot_port = icroot_listener.local_addr().unwrap().port();
    let [s2s_port, c2s_port] = free_ports().await;
    // Real DNS for both servers: each finds the other's S2S port through its SRV record.
    let zone = ZoneRecords::new()
        .srv(&format!("_xmpp-server._tcp.{ICROOT}"), 10, 0, icroot_port, "host.root.icroot.lan")
        .addr("host.root.icroot.lan", [127, 0, 0, 1].into())
        .srv(&format!("_xmpp-server._tcp.{PROSODY}"), 10, 0, s2s_port, "host.prosody.ix.lan")
        .addr("host.prosody.ix.lan", [127, 0, 0, 1].into());
    let dns = dns(zone).await;
    let setup =
        ProsodySetup { domain: PROSODY.into(), s2s_port, c2s_port, dns: dns.addr(), bidi, users: vec![] };
    let prosody = Prosody::start(&binary, &setup, ca).await;
    let (node, seen) = start_icroot(icroot_listener, identity, ca, &dns);
    Some(Interop { prosody, node, seen, c2s_port, _dns: dns })
}

impl Interop {
    /// icroot → Prosody: XEP-0199 ping and XEP-0030 disco#info, both answered.
    async fn icroot_asks_prosody(&self) {
        let logs = || self.prosody.logs();
        let pong = self.node.request(iq_get(ICROOT, PROSODY, Ping.to_element()), TIMEOUT).await;
        let pong = pong.unwrap_or_else(|e| panic!("prosody did not answer the ping: {e}\n{}", logs()));
        assert_eq!(pong.attr("type"), Some("result"), "{pong}");
        assert_eq!(pong.attr("from"), Some(PROSODY), "{pong}");
        let info =
            self.node.request(iq_get(ICROOT, PROSODY, InfoQuery::default().to_element()), TIMEOUT).await;
        let info = info.unwrap_or_else(|e| panic!("prosody did not answer disco#info: {e}\n{}", logs()));
        let info =
            InfoResult::try_from(info.child("query", ns::DISCO_INFO).expect("disco#info payload")).unwrap();
        assert!(info.has_feature(ns::PING), "{info:?}");
        assert!(info.identities.iter().any(|i| i.category == "server" && i.kind == "im"), "{info:?}");
    }

    /// Prosody → icroot: a client of Prosody's pings and disco#info-queries root.icroot.lan,
    /// which Prosody routes over S2S; both answered, and icroot saw them from Prosody's domain.
    async fn prosody_asks_icroot(&self) {
        let mut client = Client::login_anonymous(self.c2s_port, PROSODY, TIMEOUT).await;
        let from = client.jid.clone();
        assert!(from.contains(&format!("@{PROSODY}/")), "bound JID {from}");
        let pong = client.get(ICROOT, Ping.to_element()).await;
        assert_eq!(
            pong.attr("type"),
            Some("result"),
            "icroot's ping answer: {pong}\n{}",
            self.prosody.logs()
        );
        assert_eq!(pong.attr("from"), Some(ICROOT), "{pong}");
        let info = client.get(ICROOT, InfoQuery::default().to_element()).await;
        assert_eq!(info.attr("type"), Some("result"), "icroot's disco#info answer: {info}");
        let info =
            InfoResult::try_from(info.child("query", ns::DISCO_INFO).expect("disco#info payload")).unwrap();
        assert_eq!(info, icroot_info());
        let seen = self.seen.lock().unwrap().clone();
        let expected =
            [(PROSODY.into(), from.clone(), "ping".into()), (PROSODY.into(), from, "query".into())];
        assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn prosody_federates_with_icroot_both_ways_with_certificates() {
    let ca = DevCa::new("icroot interop test CA").unwrap();
    let Some(t) = interop(&ca, ca.issue(ICROOT).unwrap().0, false).await else { return };
    t.icroot_asks_prosody().await;
    t.prosody_asks_icroot().await;
    // One authenticated stream each way: without bidi, Prosody dialled icroot itself.
    let links = t.node.links();
    assert!(links.contains(&(PROSODY.into(), Direction::Outbound, false)), "{links:?}");
    assert!(links.contains(&(PROSODY.into(), Direction::Inbound, false)), "{links:?}");
    // Prosody authenticated icroot by certificate (SASL EXTERNAL) on both streams.
    let log = t.prosody.log();
    assert!(log.contains(&format!("Accepting SASL EXTERNAL identity from {ICROOT}")), "{}", t.prosody.logs());
    assert!(log.contains(&format!("SASL EXTERNAL with {ICROOT} succeeded")), "{}", t.prosody.logs());
    t.node.shutdown().await;
}

#[tokio::test]
async fn prosody_with_bidi_answers_over_icroots_stream() {
    let ca = DevCa::new("icroot interop test CA").unwrap();
    let Some(t) = interop(&ca, ca.issue(ICROOT).unwrap().0, true).await else { return };
    t.icroot_asks_prosody().await;
    t.prosody_asks_icroot().await;
    // XEP-0288: Prosody sent its requests back over icroot's outbound stream; no second stream.
    assert_eq!(t.node.links(), vec![(PROSODY.into(), Direction::Outbound, true)]);
    t.node.shutdown().await;
}

#[tokio::test]
async fn prosody_refuses_a_certificate_from_another_ca() {
    let ca = DevCa::new("icroot interop test CA").unwrap();
    // icroot trusts the test CA, but its own certificate comes from a CA Prosody does not know.
    let rogue = DevCa::new("rogue CA").unwrap().issue(ICROOT).unwrap().0;
    let Some(t) = interop(&ca, rogue, false).await else { return };
    let err = t.node.request(iq_get(ICROOT, PROSODY, Ping.to_element()), TIMEOUT).await;
    let err = err.expect_err("prosody must not authenticate icroot");
    assert!(matches!(err, RequestError::Unreachable(_) | RequestError::Network(_)), "{err:?}");
    let mut client = Client::login_anonymous(t.c2s_port, PROSODY, TIMEOUT).await;
    let answer = client.get(ICROOT, Ping.to_element()).await;
    assert_eq!(answer.attr("type"), Some("error"), "{answer}");
    assert!(t.seen.lock().unwrap().is_empty(), "icroot got requests from an unauthenticated stream");
    assert!(t.node.links().is_empty(), "{:?}", t.node.links());
    let log = t.prosody.log();
    assert!(log.contains("certificate chain validation result: invalid"), "{}", t.prosody.logs());
    assert!(!log.contains("SASL EXTERNAL"), "{}", t.prosody.logs());
    t.node.shutdown().await;
}
