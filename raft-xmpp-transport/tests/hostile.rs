//! Hostile peers over real loopback sockets: garbage, a DTD, oversized and trickled stanzas, a
//! stalled TLS handshake and connection floods. Each gets its exact stream error (or a bounded
//! close), and a well-behaved peer keeps exchanging pings with the attacked node meanwhile.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proto::error::StreamErrorCondition as Cond;
use proto::s2s::{Event, Initiator, InitiatorConfig, TlsInfo, TlsMode};
use proto::xml::{Limits, StreamReader, XmlEvent};
use proto::{error::StreamError, ns};
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::tls::TlsContext;
use raft_xmpp_transport::{TransportConfig, XmppNode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

const NEGOTIATION: Duration = Duration::from_secs(2);
const IDLE: Duration = Duration::from_secs(2);
/// How late after its deadline a close may arrive (scheduling on a loaded 2-core machine).
const SLACK: Duration = Duration::from_millis(1500);
/// A stream header from a domain the attacked node has never heard of.
const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
    xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
    from='m.evil.lan' to='a.icroot.lan' version='1.0'>";

/// The attacked node `a` and its well-behaved peer `b`, already talking.
struct Scene {
    a: XmppNode,
    b: XmppNode,
    a_starttls: SocketAddr,
    a_direct: SocketAddr,
    ca: DevCa,
    dns: raft_xmpp_transport::discovery::LocalDns,
}

/// Bounds for both nodes: short negotiation and idle deadlines, keepalives well inside the idle
/// bound so the legitimate link survives it.
fn bounded(cfg: &mut TransportConfig) {
    cfg.stream_timeouts.negotiation = NEGOTIATION;
    cfg.stream_timeouts.idle = IDLE;
    cfg.stream_timeouts.keepalive_interval = Duration::from_millis(300);
}

async fn scene(tune_a: impl FnOnce(&mut TransportConfig)) -> Scene {
    let ca = DevCa::new("ca").unwrap();
    let (a, b) = (Planned::new("a.icroot.lan").await, Planned::new("b.icroot.lan").await);
    let c = Planned::new("c.icroot.lan").await; // in DNS for `late_peer`, started on demand
    let (a_starttls, a_direct) = (a.starttls_addr(), a.direct_addr());
    let dns = dns(zone(&[&a, &b, &c], false)).await;
    drop(c);
    let mut a_cfg = config("a.icroot.lan", ca.issue("a.icroot.lan").unwrap().0, &ca);
    bounded(&mut a_cfg);
    tune_a(&mut a_cfg);
    let mut b_cfg = config("b.icroot.lan", ca.issue("b.icroot.lan").unwrap().0, &ca);
    bounded(&mut b_cfg);
    let (a, b) = (start(a, a_cfg, &dns), start(b, b_cfg, &dns));
    let scene = Scene { a, b, a_starttls, a_direct, ca, dns };
    scene.pings().await;
    scene
}

impl Scene {
    /// One ping each way between the attacked node and its peer.
    async fn pings(&self) {
        for (from, to) in [(&self.a, &self.b), (&self.b, &self.a)] {
            let answer = from.request(ping(from.domain(), to.domain()), TIMEOUT).await;
            let answer = answer.unwrap_or_else(|e| panic!("{} -> {}: {e}", from.domain(), to.domain()));
            assert_eq!(answer.attr("type"), Some("result"));
            assert!(answer.child("ping", ns::PING).is_some(), "{answer}");
        }
    }

    /// Run `attack` while the peers ping each other in a loop; at least one round overlaps it and
    /// every ping succeeds. One more round after it proves the node still serves.
    async fn during<F: Future>(&self, attack: F) -> F::Output {
        let done = AtomicBool::new(false);
        let pinger = async {
            let mut rounds = 0u32;
            loop {
                self.pings().await;
                rounds += 1;
                if done.load(Ordering::Acquire) {
                    return rounds;
                }
            }
        };
        let attack = async {
            let out = attack.await;
            done.store(true, Ordering::Release);
            out
        };
        let (out, rounds) = tokio::join!(attack, pinger);
        assert!(rounds >= 1);
        self.pings().await;
        out
    }
}

/// How a connection ended from the attacker's side.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Orderly close (FIN, or TLS close_notify then FIN).
    Eof,
    /// Reset or other socket error.
    Error(std::io::ErrorKind),
}

/// Read until the node closes the connection; panics if it has not within `bound`.
async fn read_to_close(r: &mut (impl AsyncRead + Unpin), bound: Duration) -> (Vec<u8>, Ending) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let read_all = async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) => return Ending::Eof,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Ending::Error(e.kind()),
            }
        }
    };
    match tokio::time::timeout(bound, read_all).await {
        Ok(ending) => (got, ending),
        Err(_) => panic!("connection still open after {bound:?}"),
    }
}

/// The stream error in what the node wrote on an authenticated stream, whose header the
/// negotiating client already consumed.
fn stream_error_mid_stream(bytes: &[u8]) -> StreamError {
    let header = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>";
    stream_error(&[header.as_bytes(), bytes].concat())
}

/// The stream error in what the node wrote: its `<stream:error/>` must be followed by
/// `</stream:stream>`, and nothing may come after.
fn stream_error(bytes: &[u8]) -> StreamError {
    let mut reader = StreamReader::new(Limits { max_stanza_bytes: 1 << 20, max_depth: 16 });
    reader.push(bytes);
    let mut error = None;
    loop {
        match reader.next_event() {
            Ok(Some(XmlEvent::Stanza(el))) if el.is("error", ns::STREAM) => {
                let e = StreamError::from_element(&el).unwrap();
                assert!(el.child(e.condition.as_str(), ns::STREAM_ERRORS).is_some(), "{el}");
                error = Some(e);
            }
            Ok(Some(XmlEvent::StreamClose)) => break,
            Ok(Some(_)) => assert!(error.is_none(), "data after the stream error"),
            Ok(None) => panic!("no </stream:stream>: {}", String::from_utf8_lossy(bytes)),
            Err(e) => panic!("node wrote bad XML ({e}): {}", String::from_utf8_lossy(bytes)),
        }
    }
    error.unwrap_or_else(|| panic!("no stream error in {}", String::from_utf8_lossy(bytes)))
}

/// Connect from `source` (any 127/8 address on Linux) to `to`.
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Send `bytes` on a fresh connection to the STARTTLS port; return the stream error and how the
/// connection ended.
async fn one_shot(to: SocketAddr, bytes: &[u8]) -> (StreamError, Ending) {
    let mut tcp = TcpStream::connect(to).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let (got, ending) = read_to_close(&mut tcp, TIMEOUT).await;
    (stream_error(&got), ending)
}

#[tokio::test]
async fn garbage_bytes_get_not_well_formed() {
    let s = scene(|_| {}).await;
    let (http, binary) = s
        .during(async {
            let http = one_shot(s.a_starttls, b"GET / HTTP/1.1\r\nHost: a.icroot.lan\r\n\r\n").await;
            let binary =
                one_shot(s.a_starttls, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]).await;
            (http, binary)
        })
        .await;
    assert_eq!(http.0.condition, Cond::NotWellFormed, "{:?}", http.0);
    assert_eq!(http.1, Ending::Eof);
    // A TLS ClientHello on the STARTTLS port is garbage to the XML layer too.
    assert_eq!(binary.0.condition, Cond::NotWellFormed, "{:?}", binary.0);
    assert_eq!(binary.1, Ending::Eof);
}

#[tokio::test]
async fn a_dtd_gets_restricted_xml() {
    let s = scene(|_| {}).await;
    let dtd = "<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]>";
    let (err, ending) = s.during(one_shot(s.a_starttls, dtd.as_bytes())).await;
    assert_eq!(err.condition, Cond::RestrictedXml, "{err:?}");
    assert_eq!(ending, Ending::Eof);
    // Also inside an open stream.
    let (err, _) = one_shot(s.a_starttls, format!("{HEADER}<!DOCTYPE x>").as_bytes()).await;
    assert_eq!(err.condition, Cond::RestrictedXml, "{err:?}");
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A raw client that authenticates to `to` (direct TLS, SASL EXTERNAL) as `domain` by driving
/// `proto`'s `Initiator` by hand, then hands over the bare TLS stream.
async fn authenticated(to: SocketAddr, ca: &DevCa, domain: &str, remote: &str) -> Tls {
    let tls = TlsContext::new(&ca.issue(domain).unwrap().0, &[ca.cert_der()], true).unwrap();
    let mut cfg = InitiatorConfig::new(domain, remote);
    cfg.tls = TlsMode::DirectTls;
    cfg.want_bidi = false;
    let mut machine = Initiator::new(cfg, Instant::now());
    assert!(matches!(machine.poll_event(), Some(Event::StartTls { .. })));
    let name = rustls_pki_types::ServerName::try_from(remote.to_owned()).unwrap();
    let tcp = TcpStream::connect(to).await.unwrap();
    let mut s = tokio_rustls::TlsConnector::from(tls.client_direct.clone()).connect(name, tcp).await.unwrap();
    let peer_certs = s.get_ref().1.peer_certificates().unwrap().to_vec();
    machine.handle_tls_established(Instant::now(), TlsInfo { peer_certs, chain_verified: true });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(bytes) = machine.poll_transmit() {
            s.write_all(&bytes).await.unwrap();
        }
        s.flush().await.unwrap();
        while let Some(event) = machine.poll_event() {
            match event {
                Event::Authenticated { .. } => return s,
                Event::Closed { reason } => panic!("authentication failed: {reason:?}"),
                _ => {}
            }
        }
        let n = tokio::time::timeout(TIMEOUT, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "node closed during negotiation");
        machine.handle_input(Instant::now(), &buf[..n]);
    }
}

const TEN_MB: usize = 10 * 1024 * 1024;

/// Write `prefix` then up to 10 MB of character data, stopping at the first write error, while
/// reading what the node answers. Returns the answer, how the connection ended, and the bytes
/// the socket took before it failed.
async fn pour<S: AsyncRead + AsyncWrite + Unpin>(stream: S, prefix: &[u8]) -> (Vec<u8>, Ending, usize) {
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = async {
        w.write_all(prefix).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < TEN_MB {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    };
    let writer =
        async { tokio::time::timeout(TIMEOUT, writer).await.expect("writes neither taken nor refused") };
    let ((got, ending), sent) = tokio::join!(read_to_close(&mut r, TIMEOUT), writer);
    (got, ending, sent)
}

#[tokio::test]
async fn ten_megabyte_stanza_before_authentication_gets_policy_violation() {
    let s = scene(|_| {}).await;
    let tcp = TcpStream::connect(s.a_starttls).await.unwrap();
    let prefix = format!("{HEADER}<message from='m.evil.lan' to='a.icroot.lan'><body>");
    let (got, _, sent) = s.during(pour(tcp, prefix.as_bytes())).await;
    let err = stream_error(&got);
    assert_eq!(err.condition, Cond::PolicyViolation, "{err:?}");
    assert!(err.text.as_deref().unwrap_or_default().contains(&Limits::PRE_AUTH.max_stanza_bytes.to_string()));
    // The node closed long before taking 10 MB: it never buffers more than the limit.
    assert!(sent < TEN_MB, "the node took all {sent} bytes");
}

#[tokio::test]
async fn ten_megabyte_stanza_after_authentication_gets_policy_violation() {
    let s = scene(|_| {}).await;
    let tls = authenticated(s.a_direct, &s.ca, "m.icroot.lan", "a.icroot.lan").await;
    let prefix = "<message from='m.icroot.lan' to='a.icroot.lan'><body>";
    let (got, _, sent) = s.during(pour(tls, prefix.as_bytes())).await;
    let err = stream_error_mid_stream(&got);
    assert_eq!(err.condition, Cond::PolicyViolation, "{err:?}");
    assert!(err
        .text
        .as_deref()
        .unwrap_or_default()
        .contains(&Limits::POST_AUTH.max_stanza_bytes.to_string()));
    assert!(sent < TEN_MB, "the node took all {sent} bytes");
}

/// Write `bytes` one at a time, `every` apart, until the node closes; return what it wrote, when
/// the close came (from connect), and how many bytes were trickled.
async fn trickle(to: SocketAddr, bytes: &[u8], every: Duration) -> (Vec<u8>, Duration, usize) {
    let started = Instant::now();
    let (mut r, mut w) = TcpStream::connect(to).await.unwrap().into_split();
    let stop = AtomicBool::new(false);
    let writer = async {
        let mut sent = 0;
        let mut tick = tokio::time::interval(every);
        for b in bytes.iter().cycle() {
            tick.tick().await; // pacing is the attack, not synchronisation
            if stop.load(Ordering::Acquire) || w.write_all(&[*b]).await.is_err() {
                break;
            }
            sent += 1;
        }
        sent
    };
    let reader = async {
        let out = read_to_close(&mut r, NEGOTIATION + SLACK).await;
        stop.store(true, Ordering::Release);
        (out.0, started.elapsed())
    };
    let ((got, after), sent) = tokio::join!(reader, writer);
    (got, after, sent)
}

#[tokio::test]
async fn a_trickled_stanza_gets_connection_timeout_at_the_negotiation_deadline() {
    let s = scene(|_| {}).await;
    let (got, after, sent) =
        s.during(trickle(s.a_starttls, HEADER.as_bytes(), Duration::from_millis(200))).await;
    assert_eq!(stream_error(&got).condition, Cond::ConnectionTimeout);
    assert!(after >= NEGOTIATION, "closed before the deadline: {after:?}");
    // Every byte was taken; the deadline, not a stall, ended it.
    assert!(sent >= 5 && sent < HEADER.len(), "{sent} bytes trickled");
}

#[tokio::test]
async fn an_authenticated_stream_that_goes_quiet_gets_connection_timeout() {
    let s = scene(|_| {}).await;
    let mut tls = authenticated(s.a_direct, &s.ca, "m.icroot.lan", "a.icroot.lan").await;
    let started = Instant::now();
    let (got, ending) = s.during(read_to_close(&mut tls, IDLE + SLACK)).await;
    assert!(started.elapsed() >= IDLE, "closed before the idle bound: {:?}", started.elapsed());
    // The node's keepalives come first; then the error.
    assert_eq!(stream_error_mid_stream(&got).condition, Cond::ConnectionTimeout);
    assert_eq!(ending, Ending::Eof);
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_at_the_negotiation_deadline() {
    let s = scene(|_| {}).await;
    let started = Instant::now();
    let stalls = async {
        // Direct TLS: connect and send no ClientHello.
        let mut direct = TcpStream::connect(s.a_direct).await.unwrap();
        // STARTTLS: ask for TLS, get <proceed/>, then send no ClientHello.
        let mut starttls = TcpStream::connect(s.a_starttls).await.unwrap();
        starttls.write_all(HEADER.as_bytes()).await.unwrap();
        starttls.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await.unwrap();
        let (a, b) = tokio::join!(
            read_to_close(&mut direct, NEGOTIATION + SLACK),
            read_to_close(&mut starttls, NEGOTIATION + SLACK)
        );
        (a, b)
    };
    let ((direct, direct_end), (plain, plain_end)) = s.during(stalls).await;
    assert!(started.elapsed() >= NEGOTIATION, "{:?}", started.elapsed());
    // Inside a TLS handshake there is no XML stream to write an error on: just the close.
    assert!(direct.is_empty(), "{direct:?}");
    assert_eq!(direct_end, Ending::Eof);
    let text = String::from_utf8_lossy(&plain);
    assert!(text.ends_with("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), "{text}");
    assert_eq!(plain_end, Ending::Eof);
}

/// Negotiation deadline in the flood tests: long enough that a new peer surely connects while
/// the flood holds its connections.
const FLOOD_NEGOTIATION: Duration = Duration::from_secs(4);
const FLOOD: usize = 50;

fn flood_limits(max_inbound: usize, per_source: usize) -> impl FnOnce(&mut TransportConfig) {
    move |cfg| {
        cfg.stream_timeouts.negotiation = FLOOD_NEGOTIATION;
        cfg.max_inbound_links = max_inbound;
        cfg.max_negotiating_per_source = per_source;
    }
}

/// How each flood connection ended.
struct FloodOutcome {
    /// Closed at once without a byte.
    refused: usize,
    /// Held until the deadline, then closed with `<connection-timeout/>`.
    timed_out: usize,
}

/// Open `FLOOD` silent connections to `to`, the i-th from `source(i)`; returns them once all are
/// connected, with the instant the flood began.
async fn open_flood(to: SocketAddr, source: impl Fn(usize) -> String) -> (Vec<TcpStream>, Instant) {
    let started = Instant::now();
    let mut conns = Vec::new();
    for i in 0..FLOOD {
        conns.push(connect_from(&source(i), to).await);
    }
    (conns, started)
}

/// Wait for every flood connection to end and classify it, asserting that refusals are immediate
/// and that held connections end exactly at the negotiation deadline with the right error.
async fn drain_flood(conns: Vec<TcpStream>, started: Instant) -> FloodOutcome {
    let mut reads = tokio::task::JoinSet::new();
    for mut c in conns {
        reads.spawn(async move {
            let (got, ending) = read_to_close(&mut c, FLOOD_NEGOTIATION + SLACK).await;
            (got, ending, started.elapsed())
        });
    }
    let mut outcome = FloodOutcome { refused: 0, timed_out: 0 };
    while let Some(r) = reads.join_next().await {
        let (got, ending, after) = r.unwrap();
        if got.is_empty() {
            assert!(after < FLOOD_NEGOTIATION / 2, "a refusal took {after:?}");
            assert!(matches!(ending, Ending::Eof | Ending::Error(std::io::ErrorKind::ConnectionReset)));
            outcome.refused += 1;
        } else {
            assert!(after >= FLOOD_NEGOTIATION, "held connection closed early: {after:?}");
            assert_eq!(stream_error(&got).condition, Cond::ConnectionTimeout);
            assert_eq!(ending, Ending::Eof);
            outcome.timed_out += 1;
        }
    }
    outcome
}

/// A node that has never talked to the attacked one.
fn late_peer(s: &Scene, plan: Planned) -> XmppNode {
    let mut cfg = config("c.icroot.lan", s.ca.issue("c.icroot.lan").unwrap().0, &s.ca);
    bounded(&mut cfg);
    // Retry at once after the flood: the test is about the flood, not the backoff.
    cfg.backoff =
        raft_xmpp_transport::Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(1) };
    start(plan, cfg, &s.dns)
}

async fn late_ping(c: &XmppNode, a: &XmppNode) -> Result<(), raft_xmpp_transport::RequestError> {
    c.request(ping(c.domain(), a.domain()), TIMEOUT).await.map(|answer| {
        assert_eq!(answer.attr("type"), Some("result"));
    })
}

#[tokio::test]
async fn a_connection_flood_from_one_source_is_capped_and_new_peers_still_connect() {
    let s = scene(flood_limits(8, 4)).await;
    let c = late_peer(&s, Planned::new("c.icroot.lan").await);
    let outcome = s
        .during(async {
            // The attacker sits on 127.0.0.2; the peers connect from 127.0.0.1.
            let (conns, started) = open_flood(s.a_starttls, |_| "127.0.0.2".to_owned()).await;
            // Its four held connections leave room for a peer that never talked to A before.
            late_ping(&c, &s.a).await.expect("a new peer connects during the flood");
            assert!(started.elapsed() < FLOOD_NEGOTIATION, "the flood was over before the new peer came");
            drain_flood(conns, started).await
        })
        .await;
    assert_eq!(outcome.timed_out, 4, "one source holds at most max_negotiating_per_source");
    assert_eq!(outcome.refused, FLOOD - 4);
}

#[tokio::test]
async fn a_flood_from_many_sources_holds_the_global_limit_only_until_the_deadline() {
    let s = scene(flood_limits(8, 4)).await;
    let inbound =
        s.a.links().iter().filter(|(_, d, _)| *d == raft_xmpp_transport::Direction::Inbound).count();
    let c = late_peer(&s, Planned::new("c.icroot.lan").await);
    let outcome = s
        .during(async {
            let (conns, started) = open_flood(s.a_starttls, |i| format!("127.0.1.{}", i + 1)).await;
            // The documented trade-off: with every inbound place taken by connections that have
            // not authenticated, a new peer is turned away until the deadline frees them...
            let refused = late_ping(&c, &s.a).await.expect_err("no inbound place left");
            assert!(matches!(refused, raft_xmpp_transport::RequestError::Unreachable(_)), "{refused:?}");
            assert!(started.elapsed() < FLOOD_NEGOTIATION, "the flood was over before the new peer came");
            drain_flood(conns, started).await
        })
        .await;
    assert_eq!(outcome.timed_out, 8 - inbound, "held: the global limit less A's inbound links");
    assert_eq!(outcome.refused, FLOOD - outcome.timed_out);
    // ...and gets in once it has.
    late_ping(&c, &s.a).await.expect("a new peer connects after the flood");
}
