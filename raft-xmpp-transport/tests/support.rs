//! Test fixtures: a CA, nodes on loopback found through a real in-process DNS server, and a
//! responder that answers every request with a result echoing its payload.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use proto::ns;
use proto::s2s::TlsMode;
use proto::xml::Element;
use raft_xmpp_transport::discovery::{Discovery, LocalDns, ZoneRecords};
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::tls::TlsIdentity;
use raft_xmpp_transport::{TransportConfig, XmppNode};
use tokio::net::TcpListener;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What a test node listens on.
pub struct Planned {
    pub domain: String,
    pub starttls: TcpListener,
    pub direct: TcpListener,
}

impl Planned {
    pub async fn new(domain: &str) -> Self {
        Planned {
            domain: domain.to_owned(),
            starttls: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            direct: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    pub fn starttls_addr(&self) -> SocketAddr {
        self.starttls.local_addr().unwrap()
    }

    pub fn direct_addr(&self) -> SocketAddr {
        self.direct.local_addr().unwrap()
    }
}

/// SRV records for each planned node: `_xmpp-server` (STARTTLS) and, when `direct`, also
/// `_xmpps-server` (direct TLS, preferred at equal priority).
pub fn zone(nodes: &[&Planned], direct: bool) -> ZoneRecords {
    let mut z = ZoneRecords::new();
    for n in nodes {
        let host = format!("host.{}", n.domain);
        z = z
            .srv(&format!("_xmpp-server._tcp.{}", n.domain), 10, 0, n.starttls_addr().port(), &host)
            .addr(&host, n.starttls_addr().ip());
        if direct {
            z = z.srv(&format!("_xmpps-server._tcp.{}", n.domain), 10, 0, n.direct_addr().port(), &host);
        }
    }
    z
}

pub async fn dns(zone: ZoneRecords) -> LocalDns {
    LocalDns::start("127.0.0.1:0".parse().unwrap(), zone).await.unwrap()
}

pub fn config(domain: &str, identity: TlsIdentity, ca: &DevCa) -> TransportConfig {
    let mut c = TransportConfig::new(domain, identity, vec![ca.cert_der()]);
    c.connect_timeout = Duration::from_secs(2);
    c.stream_timeouts.negotiation = Duration::from_secs(5);
    c
}

/// Start a node from `plan` with `config`, answering requests with an echo.
pub fn start(plan: Planned, config: TransportConfig, dns: &LocalDns) -> XmppNode {
    let discovery = Discovery::with_nameservers(&[dns.addr()], 1);
    let listeners = vec![(plan.starttls, TlsMode::StartTls), (plan.direct, TlsMode::DirectTls)];
    let (node, mut incoming) = XmppNode::start(config, listeners, discovery).unwrap();
    let responder = node.clone();
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let s = inc.stanza;
            if s.name() == "iq" && matches!(s.attr("type"), Some("get" | "set")) {
                let mut reply = Element::new("iq", ns::JABBER_SERVER)
                    .with_attr("type", "result")
                    .with_attr("id", s.attr("id").unwrap_or_default())
                    .with_attr("to", s.attr("from").unwrap_or_default())
                    .with_attr("from", s.attr("to").unwrap_or_default());
                if let Some(p) = s.children().next() {
                    reply.append_child(p.clone());
                }
                let _ = responder.send(reply);
            }
        }
    });
    node
}

/// Start a node with a certificate for its own domain.
pub async fn node(plan: Planned, ca: &DevCa, dns: &LocalDns) -> XmppNode {
    let (id, _) = ca.issue(&plan.domain).unwrap();
    let cfg = config(&plan.domain, id, ca);
    start(plan, cfg, dns)
}

pub fn ping(from: &str, to: &str) -> Element {
    Element::new("iq", ns::JABBER_SERVER)
        .with_attr("type", "get")
        .with_attr("from", from)
        .with_attr("to", to)
        .with_child(Element::new("ping", ns::PING))
}
