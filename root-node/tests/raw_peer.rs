//! A hand-driven S2S peer for hostile tests: it authenticates to a root node like an Exchange
//! would (direct TLS, SASL EXTERNAL, XEP-0288 bidi so the root answers on the same stream) by
//! driving `proto`'s `Initiator`, then writes whatever bytes a test wants and reads back raw
//! stanzas or the stream error. Also `one_shot`: bytes on a fresh plain TCP connection.
//!
//! ```text
//!  test ─raw bytes─▶ TLS ─▶ root node (transport ─▶ router ─▶ handlers)
//!  test ◀─ StreamReader ◀─ TLS ◀─ answers / <stream:error/> (bidi: same stream)
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proto::error::{StanzaError, StreamError};
use proto::ns;
use proto::s2s::{Event, Initiator, InitiatorConfig, TlsInfo, TlsMode};
use proto::xml::{Element, Limits, StreamReader, XmlEvent};
use raft_xmpp_transport::pki::DevCa;
use raft_xmpp_transport::tls::TlsContext;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait for the node.
pub const T: Duration = Duration::from_secs(10);

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// What the node did next.
#[derive(Debug)]
pub enum Next {
    /// A stanza.
    Stanza(Element),
    /// A stream error followed by `</stream:stream>` and the close.
    StreamError(StreamError),
    /// The stream ended without an error.
    Closed,
}

/// An authenticated raw stream to a root node.
pub struct RawPeer {
    tls: Tls,
    reader: StreamReader,
    /// Our domain.
    pub domain: String,
    /// The root's domain.
    pub root: String,
    next_id: u64,
}

/// A reader for what the node writes, positioned inside a stream (the negotiation consumed the
/// real header).
fn mid_stream_reader() -> StreamReader {
    let mut reader = StreamReader::new(Limits { max_stanza_bytes: 1 << 20, max_depth: 64 });
    reader.push(b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>");
    match reader.next_event() {
        Ok(Some(XmlEvent::StreamOpen(_))) => {}
        other => panic!("fake header: {other:?}"),
    }
    reader
}

impl RawPeer {
    /// Authenticate to `root` at its direct-TLS address `to` as `domain` (a certificate from `ca`).
    pub async fn connect(to: SocketAddr, ca: &DevCa, domain: &str, root: &str) -> RawPeer {
        let tls = TlsContext::new(&ca.issue(domain).unwrap().0, &[ca.cert_der()], true).unwrap();
        let mut cfg = InitiatorConfig::new(domain, root);
        cfg.tls = TlsMode::DirectTls;
        cfg.want_bidi = true;
        let mut machine = Initiator::new(cfg, Instant::now());
        assert!(matches!(machine.poll_event(), Some(Event::StartTls { .. })));
        let name = rustls_pki_types::ServerName::try_from(root.to_owned()).unwrap();
        let tcp = TcpStream::connect(to).await.unwrap();
        let mut s =
            tokio_rustls::TlsConnector::from(tls.client_direct.clone()).connect(name, tcp).await.unwrap();
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
                    Event::Authenticated { .. } => {
                        return RawPeer {
                            tls: s,
                            reader: mid_stream_reader(),
                            domain: domain.to_owned(),
                            root: root.to_owned(),
                            next_id: 0,
                        };
                    }
                    Event::Closed { reason } => panic!("authentication failed: {reason:?}"),
                    _ => {}
                }
            }
            let n = tokio::time::timeout(T, s.read(&mut buf)).await.unwrap().unwrap();
            assert!(n > 0, "node closed during negotiation");
            machine.handle_input(Instant::now(), &buf[..n]);
        }
    }

    /// Open direct TLS to `to` with a client certificate for `cert_domain` and nothing more: the
    /// caller writes the stream header and negotiates by hand (SASL refusals, header checks).
    pub async fn tls_only(to: SocketAddr, ca: &DevCa, cert_domain: &str, root: &str) -> RawPeer {
        let tls = TlsContext::new(&ca.issue(cert_domain).unwrap().0, &[ca.cert_der()], true).unwrap();
        let name = rustls_pki_types::ServerName::try_from(root.to_owned()).unwrap();
        let tcp = TcpStream::connect(to).await.unwrap();
        let s = tokio_rustls::TlsConnector::from(tls.client_direct.clone()).connect(name, tcp).await.unwrap();
        RawPeer {
            tls: s,
            reader: StreamReader::new(Limits { max_stanza_bytes: 1 << 20, max_depth: 64 }),
            domain: cert_domain.to_owned(),
            root: root.to_owned(),
            next_id: 0,
        }
    }

    /// The next stanza or nonza (stream headers skipped); panics on anything else.
    pub async fn element(&mut self) -> Element {
        match self.next(T).await {
            Some(Next::Stanza(el)) => el,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// Expect a new stream header from the node (after SASL success).
    pub fn restart_reader(&mut self) {
        self.reader.restart();
    }

    /// Write raw bytes.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.tls.write_all(bytes.as_ref()).await.unwrap();
        self.tls.flush().await.unwrap();
    }

    /// The next thing the node does; `None` if nothing within `bound`.
    pub async fn next(&mut self, bound: Duration) -> Option<Next> {
        let deadline = tokio::time::Instant::now() + bound;
        let mut buf = vec![0u8; 64 * 1024];
        let mut error = None;
        loop {
            match self.reader.next_event() {
                Ok(Some(XmlEvent::Stanza(el))) if el.is("error", ns::STREAM) => {
                    error = Some(StreamError::from_element(&el).expect("a stream error"));
                    continue;
                }
                Ok(Some(XmlEvent::Stanza(el))) => {
                    assert!(error.is_none(), "stanza after the stream error: {el}");
                    return Some(Next::Stanza(el));
                }
                Ok(Some(XmlEvent::StreamClose)) => {
                    return Some(error.map_or(Next::Closed, Next::StreamError));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => panic!("the node wrote bad XML: {e}"),
            }
            let read = tokio::time::timeout_at(deadline, self.tls.read(&mut buf)).await;
            match read {
                Err(_) => return None,
                Ok(Ok(0)) => return Some(error.map_or(Next::Closed, Next::StreamError)),
                Ok(Ok(n)) => self.reader.push(&buf[..n]),
                Ok(Err(_)) => return Some(error.map_or(Next::Closed, Next::StreamError)),
            }
        }
    }

    /// Write `bytes` and expect the stream to end with a stream error (stanzas before it are
    /// skipped); the condition is the caller's to check.
    pub async fn stream_error(mut self, bytes: impl AsRef<[u8]>) -> StreamError {
        self.send(bytes).await;
        loop {
            match self.next(T).await {
                Some(Next::StreamError(e)) => return e,
                Some(Next::Stanza(_)) => continue,
                other => panic!("expected a stream error, got {other:?}"),
            }
        }
    }

    /// A fresh stanza id.
    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("h{}", self.next_id)
    }

    /// Send an iq `kind` with `payload` (raw XML) to the root; return the answer with its id.
    pub async fn iq(&mut self, kind: &str, payload: &str) -> Element {
        let id = self.id();
        let (from, to) = (self.domain.clone(), self.root.clone());
        self.send(format!("<iq type='{kind}' id='{id}' from='{from}' to='{to}'>{payload}</iq>")).await;
        self.answer(&id).await
    }

    /// Wait for the stanza with `id` (others, e.g. presence, are skipped).
    pub async fn answer(&mut self, id: &str) -> Element {
        loop {
            match self.next(T).await {
                Some(Next::Stanza(el)) if el.attr("id") == Some(id) => return el,
                Some(Next::Stanza(_)) => continue,
                other => panic!("no answer to {id}: {other:?}"),
            }
        }
    }

    /// Ping the root and return every stanza that arrived before the pong. For "never answered"
    /// rows: the node reads a stream in order, so anything it would answer synchronously (the
    /// transport's checks) comes before the pong; handlers run concurrently, so callers also
    /// wait a bounded moment after it.
    pub async fn fence(&mut self) -> Vec<Element> {
        let id = self.id();
        let (from, to) = (self.domain.clone(), self.root.clone());
        self.send(format!(
            "<iq type='get' id='{id}' from='{from}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
        let mut before = Vec::new();
        loop {
            match self.next(T).await {
                Some(Next::Stanza(el)) if el.attr("id") == Some(id.as_str()) => return before,
                Some(Next::Stanza(el)) => before.push(el),
                other => panic!("no pong: {other:?}"),
            }
        }
    }
}

/// The stanza error of an error answer.
pub fn stanza_error(answer: &Element) -> StanzaError {
    assert_eq!(answer.attr("type"), Some("error"), "expected an error answer: {answer}");
    let el =
        answer.children().find(|c| c.name() == "error").unwrap_or_else(|| panic!("no <error/>: {answer}"));
    StanzaError::from_element(el).unwrap_or_else(|| panic!("unreadable <error/>: {answer}"))
}

/// Send `bytes` on a fresh plain TCP connection to `to` (a STARTTLS port); return the stream
/// error the node ends the stream with.
pub async fn one_shot(to: SocketAddr, bytes: &[u8]) -> StreamError {
    one_shot_within(to, bytes, T).await
}

/// [`one_shot`], waiting up to `bound` for the close.
pub async fn one_shot_within(to: SocketAddr, bytes: &[u8], bound: Duration) -> StreamError {
    let mut tcp = TcpStream::connect(to).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let got = read_to_close(&mut tcp, bound).await;
    let mut reader = StreamReader::new(Limits { max_stanza_bytes: 1 << 20, max_depth: 16 });
    reader.push(&got);
    let mut error = None;
    loop {
        match reader.next_event() {
            Ok(Some(XmlEvent::Stanza(el))) if el.is("error", ns::STREAM) => {
                error = StreamError::from_element(&el);
            }
            Ok(Some(XmlEvent::StreamClose)) => break,
            Ok(Some(_)) => assert!(error.is_none(), "data after the stream error"),
            Ok(None) => panic!("no </stream:stream>: {}", String::from_utf8_lossy(&got)),
            Err(e) => panic!("node wrote bad XML ({e}): {}", String::from_utf8_lossy(&got)),
        }
    }
    error.unwrap_or_else(|| panic!("no stream error in {}", String::from_utf8_lossy(&got)))
}

async fn read_to_close(r: &mut (impl AsyncRead + Unpin), bound: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(bound, read).await.expect("the node did not close the connection");
    got
}
