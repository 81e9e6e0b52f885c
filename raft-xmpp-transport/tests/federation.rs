//! Real S2S over loopback sockets: TLS with rcgen certificates, SASL EXTERNAL, dialback, bidi,
//! SRV discovery through a real DNS server, and refusals.

use std::time::Duration;

use proto::ns;
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::{Backoff, DialbackPolicy, Direction, RequestError};

use crate::support::*;

async fn ping_ok(from: &raft_xmpp_transport::XmppNode, to: &str) {
    let answer = from.request(ping(from.domain(), to), TIMEOUT).await.expect("ping answered");
    assert_eq!(answer.attr("type"), Some("result"));
    assert_eq!(answer.attr("from"), Some(to));
    assert!(answer.child("ping", ns::PING).is_some(), "echoed payload: {answer}");
}

#[tokio::test]
async fn two_nodes_starttls_sasl_external_both_ways() {
    let ca = DevCa::new("ca").unwrap();
    let (a, b) = (Planned::new("a.icroot.lan").await, Planned::new("b.icroot.lan").await);
    let dns = dns(zone(&[&a, &b], false)).await;
    let (a, b) = (node(a, &ca, &dns).await, node(b, &ca, &dns).await);
    ping_ok(&a, "b.icroot.lan").await;
    assert!(a.links().contains(&("b.icroot.lan".into(), Direction::Outbound, true)), "{:?}", a.links());
    // B answers A over A's bidi stream rather than dialling back.
    assert!(b.links().contains(&("a.icroot.lan".into(), Direction::Inbound, true)), "{:?}", b.links());
    ping_ok(&b, "a.icroot.lan").await;
    assert!(
        !b.links().iter().any(|(p, d, _)| p == "a.icroot.lan" && *d == Direction::Outbound),
        "B reused the bidi stream: {:?}",
        b.links()
    );
}

/// A failed dial backs off dialling, not sending: once the peer reaches us over a bidi stream,
/// stanzas to it go over that stream at once (a root answering an Exchange it could not dial,
/// e.g. a client without a listener that reconnected).
#[tokio::test]
async fn a_peer_that_could_not_be_dialled_is_reached_over_its_bidi_stream_at_once() {
    let ca = DevCa::new("ca").unwrap();
    let (a, b) = (Planned::new("a.icroot.lan").await, Planned::new("b.icroot.lan").await);
    let dns = dns(zone(&[&a], false)).await; // b is not published: nobody can dial it
    let mut a_cfg = config("a.icroot.lan", ca.issue("a.icroot.lan").unwrap().0, &ca);
    // A backoff far longer than the test: only the bidi stream can carry A's second ping.
    a_cfg.backoff = Backoff { initial: Duration::from_secs(120), max: Duration::from_secs(120) };
    let a = start(a, a_cfg, &dns);
    let b = node(b, &ca, &dns).await;
    match a.request(ping("a.icroot.lan", "b.icroot.lan"), TIMEOUT).await {
        Err(RequestError::Unreachable(_)) => {}
        other => panic!("b is not in DNS, expected Unreachable: {other:?}"),
    }
    ping_ok(&b, "a.icroot.lan").await;
    assert!(a.links().contains(&("b.icroot.lan".into(), Direction::Inbound, true)), "{:?}", a.links());
    ping_ok(&a, "b.icroot.lan").await;
}

#[tokio::test]
async fn direct_tls_is_preferred_when_published() {
    let ca = DevCa::new("ca").unwrap();
    let (a, b) = (Planned::new("a.icroot.lan").await, Planned::new("b.icroot.lan").await);
    let dns = dns(zone(&[&a, &b], true)).await;
    let (a, _b) = (node(a, &ca, &dns).await, node(b, &ca, &dns).await);
    ping_ok(&a, "b.icroot.lan").await;
}

#[tokio::test]
async fn three_nodes_all_pairs() {
    let ca = DevCa::new("ca").unwrap();
    let plans = [Planned::new("n1.lan").await, Planned::new("n2.lan").await, Planned::new("n3.lan").await];
    let dns = dns(zone(&plans.iter().collect::<Vec<_>>(), false)).await;
    let mut nodes = Vec::new();
    for p in plans {
        nodes.push(node(p, &ca, &dns).await);
    }
    for from in &nodes {
        for to in &nodes {
            if from.domain() != to.domain() {
                ping_ok(from, to.domain()).await;
            }
        }
    }
}

/// A node whose certificate is wrong in some way cannot federate in either direction.
async fn refused_both_ways(bad_identity: impl FnOnce(&DevCa) -> raft_xmpp_transport::tls::TlsIdentity) {
    let ca = DevCa::new("ca").unwrap();
    let (a, m) = (Planned::new("a.icroot.lan").await, Planned::new("m.icroot.lan").await);
    let dns = dns(zone(&[&a, &m], false)).await;
    let a = node(a, &ca, &dns).await;
    let m = start(m, config("m.icroot.lan", bad_identity(&ca), &ca), &dns);
    let err = a
        .request(ping(a.domain(), "m.icroot.lan"), TIMEOUT)
        .await
        .expect_err("A must refuse M's server cert");
    assert!(matches!(err, RequestError::Unreachable(_)), "{err:?}");
    let err = m.request(ping(m.domain(), "a.icroot.lan"), TIMEOUT).await.expect_err("A must refuse M");
    assert!(matches!(err, RequestError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    refused_both_ways(|_| DevCa::new("rogue").unwrap().issue("m.icroot.lan").unwrap().0).await;
}

#[tokio::test]
async fn certificate_for_another_name_is_refused() {
    refused_both_ways(|ca| ca.issue("someone-else.lan").unwrap().0).await;
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    refused_both_ways(|ca| ca.issue_expired("m.icroot.lan").unwrap().0).await;
}

#[tokio::test]
async fn missing_client_certificate_is_refused() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ca = DevCa::new("ca").unwrap();
    let a = Planned::new("a.icroot.lan").await;
    let direct = a.direct_addr();
    let dns = dns(zone(&[&a], true)).await;
    let _a = node(a, &ca, &dns).await;
    // A TLS client that trusts the CA but presents no certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(direct).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("a.icroot.lan").unwrap();
    // TLS 1.3 reports the server's refusal on the first read after the handshake.
    let refused = match tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await {
        Err(_) => true,
        Ok(mut tls) => {
            let _ = tls.write_all(b"<?xml version='1.0'?>").await;
            let mut buf = [0u8; 64];
            !matches!(tokio::time::timeout(TIMEOUT, tls.read(&mut buf)).await, Ok(Ok(n)) if n > 0)
        }
    };
    assert!(refused, "a client without a certificate got a stream");
}

fn dialback_config(
    domain: &str,
    identity: raft_xmpp_transport::tls::TlsIdentity,
    ca: &DevCa,
    on: bool,
) -> raft_xmpp_transport::TransportConfig {
    let mut c = config(domain, identity, ca);
    c.dialback = DialbackPolicy { accept: on, initiate: on, secret: Some(format!("secret-of-{domain}")) };
    c
}

#[tokio::test]
async fn dialback_authenticates_a_peer_without_a_usable_certificate() {
    let ca = DevCa::new("ca").unwrap();
    let (a, x) = (Planned::new("a.icroot.lan").await, Planned::new("x.ix.lan").await);
    let dns = dns(zone(&[&a, &x], false)).await;
    let a_id = ca.issue("a.icroot.lan").unwrap().0;
    let _a = start(a, dialback_config("a.icroot.lan", a_id, &ca, true), &dns);
    // X's certificate chains to the CA but names another domain: only dialback can vouch for it.
    let x_id = ca.issue("not-x.lan").unwrap().0;
    let x = start(x, dialback_config("x.ix.lan", x_id, &ca, true), &dns);
    ping_ok(&x, "a.icroot.lan").await;
}

#[tokio::test]
async fn dialback_is_refused_when_disabled() {
    let ca = DevCa::new("ca").unwrap();
    let (a, x) = (Planned::new("a.icroot.lan").await, Planned::new("x.ix.lan").await);
    let dns = dns(zone(&[&a, &x], false)).await;
    let a = node(a, &ca, &dns).await; // dialback off: the default for root nodes
    let x_id = ca.issue("not-x.lan").unwrap().0;
    let x = start(x, dialback_config("x.ix.lan", x_id, &ca, true), &dns);
    let err = x.request(ping("x.ix.lan", a.domain()), TIMEOUT).await.expect_err("refused");
    assert!(matches!(err, RequestError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn request_deadline_holds_when_the_peer_is_blackholed() {
    let ca = DevCa::new("ca").unwrap();
    let (a, b) = (Planned::new("a.icroot.lan").await, Planned::new("b.icroot.lan").await);
    let dns = dns(zone(&[&a, &b], false)).await;
    let (a, b) = (node(a, &ca, &dns).await, node(b, &ca, &dns).await);
    ping_ok(&a, b.domain()).await;
    a.faults()
        .set(b.domain(), raft_xmpp_transport::fault::LinkFault { blackhole: true, ..Default::default() });
    let deadline = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = a.request(ping(a.domain(), b.domain()), deadline).await.expect_err("blackholed");
    assert_eq!(err, RequestError::Timeout(deadline));
    assert!(started.elapsed() < deadline * 10, "deadline not enforced: {:?}", started.elapsed());
    assert_eq!(a.pending_requests(), 0, "timed-out request forgotten");
    a.faults().clear(b.domain());
    ping_ok(&a, b.domain()).await;
}

#[tokio::test]
async fn unreachable_peers_fail_fast_during_backoff_then_are_redialled() {
    let ca = DevCa::new("ca").unwrap();
    let (a, b) = (Planned::new("a.icroot.lan").await, Planned::new("b.icroot.lan").await);
    let b_addrs = (b.starttls_addr(), b.direct_addr());
    let dns = dns(zone(&[&a, &b], false)).await;
    let mut cfg = config("a.icroot.lan", ca.issue("a.icroot.lan").unwrap().0, &ca);
    cfg.backoff =
        raft_xmpp_transport::Backoff { initial: Duration::from_millis(400), max: Duration::from_secs(2) };
    let a = start(a, cfg, &dns);
    drop(b); // nothing listens on B's port now

    let first = a.request(ping(a.domain(), "b.icroot.lan"), TIMEOUT).await.expect_err("nobody listens");
    let RequestError::Unreachable(reason) = first else { panic!("{first:?}") };
    assert!(reason.contains("connect"), "{reason}");
    // Inside the backoff window the node does not dial again: the answer is immediate and the
    // same failure.
    let started = std::time::Instant::now();
    let again = a.request(ping(a.domain(), "b.icroot.lan"), TIMEOUT).await.expect_err("still backing off");
    assert_eq!(again, RequestError::Unreachable(reason));
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "no dial during backoff: {:?}",
        started.elapsed()
    );

    // B comes up on the same address; after the backoff the next request dials and succeeds.
    let b = Planned {
        domain: "b.icroot.lan".into(),
        starttls: tokio::net::TcpListener::bind(b_addrs.0).await.unwrap(),
        direct: tokio::net::TcpListener::bind(b_addrs.1).await.unwrap(),
    };
    let _b = node(b, &ca, &dns).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match a.request(ping(a.domain(), "b.icroot.lan"), TIMEOUT).await {
            Ok(_) => break,
            Err(RequestError::Unreachable(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("not redialled: {e:?}"),
        }
    }
}
