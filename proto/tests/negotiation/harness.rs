//! The in-memory harness: a test CA, rustls sessions pumped through `read_tls`/`write_tls`, an
//! `Initiator`/`Receiver` [`Pair`] under a virtual clock, and [`Raw`], a lone receiver fed XML.

// Setup helpers outside #[test] fns: a failed step should panic right there.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::error::StreamErrorCondition as Cond;
use proto::ns;
use proto::s2s::{
    AuthMethod, CloseReason, Event, Initiator, InitiatorConfig, Receiver, ReceiverConfig, TlsInfo, TlsMode,
    TlsRole,
};
use proto::xml::{Element, Limits, StreamReader, XmlEvent};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

pub const ROOT: &str = "root1.icroot.example";
pub const IX: &str = "ix.example";
pub const IX_SECRET: &str = "ix-dialback-secret";

// ---------------------------------------------------------------- test PKI

pub struct Pki {
    pub ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub roots: Arc<RootCertStore>,
}

pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Pki {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "icroot test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        Pki { ca: rcgen::Issuer::new(params, key), roots: Arc::new(roots) }
    }

    /// A leaf usable as both TLS server and TLS client certificate, as S2S peers need.
    pub fn issue(&self, domain: &str) -> Identity {
        let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).unwrap();
        params.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Identity {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    pub fn client_config(&self, id: &Identity) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .unwrap();
        Arc::new(cfg)
    }

    pub fn server_config(&self, id: &Identity) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider.clone())
            .build()
            .unwrap();
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(id.chain.clone(), id.key.clone_key())
            .unwrap();
        Arc::new(cfg)
    }
}

// ---------------------------------------------------------------- the pair harness

/// What the harness needs from either role.
pub trait Endpoint {
    fn input(&mut self, now: Instant, data: &[u8]);
    fn tls_bytes(&mut self) -> Vec<u8>;
    fn tls_up(&mut self, now: Instant, info: TlsInfo);
    fn transmit(&mut self) -> Option<Vec<u8>>;
    fn event(&mut self) -> Option<Event>;
}

macro_rules! endpoint {
    ($t:ty) => {
        impl Endpoint for $t {
            fn input(&mut self, now: Instant, data: &[u8]) {
                self.handle_input(now, data)
            }
            fn tls_bytes(&mut self) -> Vec<u8> {
                self.take_tls_bytes()
            }
            fn tls_up(&mut self, now: Instant, info: TlsInfo) {
                self.handle_tls_established(now, info)
            }
            fn transmit(&mut self) -> Option<Vec<u8>> {
                self.poll_transmit()
            }
            fn event(&mut self) -> Option<Event> {
                self.poll_event()
            }
        }
    };
}
endpoint!(Initiator);
endpoint!(Receiver);

/// One side's driver: its TLS session (once started), what it wrote in plaintext, its events.
#[derive(Default)]
pub struct Driver {
    pub tls: Option<Connection>,
    pub tls_reported: bool,
    /// Everything the state machine asked to write, before encryption.
    pub plaintext_out: Vec<u8>,
    pub events: Vec<Event>,
}

impl Driver {
    /// Move the machine's output onto `wire` (through TLS if running) and act on its events.
    pub fn flush(&mut self, ep: &mut dyn Endpoint, wire: &mut Vec<u8>, tls_cfg: &TlsCfg) -> bool {
        let mut progress = false;
        while let Some(bytes) = ep.transmit() {
            progress = true;
            self.plaintext_out.extend_from_slice(&bytes);
            match &mut self.tls {
                Some(tls) => tls.writer().write_all(&bytes).unwrap(),
                None => wire.extend_from_slice(&bytes),
            }
        }
        while let Some(ev) = ep.event() {
            progress = true;
            if let Event::StartTls { role } = &ev {
                let mut conn = tls_cfg.start(*role);
                let early = ep.tls_bytes();
                if !early.is_empty() {
                    conn.read_tls(&mut early.as_slice()).unwrap();
                }
                self.tls = Some(conn);
            }
            self.events.push(ev);
        }
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                tls.write_tls(wire).unwrap();
                progress = true;
            }
        }
        progress
    }

    /// Deliver wire bytes to the machine (decrypting if TLS is running).
    pub fn deliver(&mut self, now: Instant, ep: &mut dyn Endpoint, wire: &mut Vec<u8>) -> bool {
        if wire.is_empty() {
            return false;
        }
        let data = std::mem::take(wire);
        let Some(tls) = &mut self.tls else {
            ep.input(now, &data);
            return true;
        };
        let mut rd = data.as_slice();
        while !rd.is_empty() {
            tls.read_tls(&mut rd).unwrap();
            // Every test here expects handshakes to succeed; a TLS failure is a harness bug.
            tls.process_new_packets().unwrap_or_else(|e| panic!("TLS failed: {e}"));
        }
        if !tls.is_handshaking() && !self.tls_reported {
            self.tls_reported = true;
            let peer_certs = tls.peer_certificates().map(|c| c.to_vec()).unwrap_or_default();
            // rustls verified the chain (and, as a client, the server name) or failed above.
            ep.tls_up(now, TlsInfo { chain_verified: !peer_certs.is_empty(), peer_certs });
        }
        let mut plain = Vec::new();
        match tls.reader().read_to_end(&mut plain) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("TLS read: {e}"),
        }
        if !plain.is_empty() {
            ep.input(now, &plain);
        }
        true
    }
}

/// TLS configurations for one side.
pub struct TlsCfg {
    pub client: Arc<ClientConfig>,
    pub server: Arc<ServerConfig>,
    /// The name a TLS client expects (the remote domain).
    pub server_name: String,
}

impl TlsCfg {
    pub fn start(&self, role: TlsRole) -> Connection {
        match role {
            TlsRole::Client => {
                let name = ServerName::try_from(self.server_name.clone()).unwrap();
                Connection::Client(ClientConnection::new(self.client.clone(), name).unwrap())
            }
            TlsRole::Server => Connection::Server(ServerConnection::new(self.server.clone()).unwrap()),
            _ => unreachable!(),
        }
    }
}

/// An initiator and a receiver connected in memory, under a virtual clock.
pub struct Pair {
    pub now: Instant,
    pub init: Initiator,
    pub recv: Receiver,
    pub i: Driver,
    pub r: Driver,
    pub i_tls: TlsCfg,
    pub r_tls: TlsCfg,
    pub to_recv: Vec<u8>,
    pub to_init: Vec<u8>,
}

impl Pair {
    pub fn new(
        pki: &Pki,
        init_cert: &Identity,
        recv_cert: &Identity,
        ic: InitiatorConfig,
        rc: ReceiverConfig,
    ) -> Self {
        let now = Instant::now();
        let i_tls = TlsCfg {
            client: pki.client_config(init_cert),
            server: pki.server_config(init_cert),
            server_name: ic.remote_domain.clone(),
        };
        let r_tls = TlsCfg {
            client: pki.client_config(recv_cert),
            server: pki.server_config(recv_cert),
            server_name: String::new(),
        };
        Pair {
            now,
            init: Initiator::new(ic, now),
            recv: Receiver::new(rc, now),
            i: Driver::default(),
            r: Driver::default(),
            i_tls,
            r_tls,
            to_recv: Vec::new(),
            to_init: Vec::new(),
        }
    }

    /// Move bytes and events until both sides are quiet.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let mut progress = self.i.flush(&mut self.init, &mut self.to_recv, &self.i_tls);
            progress |= self.r.flush(&mut self.recv, &mut self.to_init, &self.r_tls);
            progress |= self.r.deliver(self.now, &mut self.recv, &mut self.to_recv);
            progress |= self.i.deliver(self.now, &mut self.init, &mut self.to_init);
            if !progress {
                return;
            }
        }
        panic!("pair did not settle");
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.init.handle_timeout(self.now);
        self.recv.handle_timeout(self.now);
        self.pump();
    }

    /// The receiver's pending dialback verification, if any (removed from its event list).
    pub fn take_verify_request(&mut self) -> Option<proto::s2s::VerifyRequest> {
        let pos = self.r.events.iter().position(|e| matches!(e, Event::VerifyDialback { .. }))?;
        match self.r.events.remove(pos) {
            Event::VerifyDialback { request } => Some(request),
            _ => None,
        }
    }
}

pub fn authenticated(events: &[Event]) -> Option<(String, AuthMethod, bool)> {
    events.iter().find_map(|e| match e {
        Event::Authenticated { peer_domain, method, bidi, .. } => Some((peer_domain.clone(), *method, *bidi)),
        _ => None,
    })
}

pub fn closed(events: &[Event]) -> Option<&CloseReason> {
    events.iter().find_map(|e| match e {
        Event::Closed { reason } => Some(reason),
        _ => None,
    })
}

pub fn stanzas(events: &[Event]) -> Vec<&Element> {
    events.iter().filter_map(|e| if let Event::Stanza(s) = e { Some(s) } else { None }).collect()
}

pub fn message(from: &str, to: &str, body: &str) -> Element {
    Element::new("message", ns::JABBER_SERVER)
        .with_attr("from", from)
        .with_attr("to", to)
        .with_attr("id", "m1")
        .with_child(Element::new("body", ns::JABBER_SERVER).with_text(body))
}

pub fn ix_config(tls: TlsMode) -> InitiatorConfig {
    let mut c = InitiatorConfig::new(IX, ROOT);
    c.tls = tls;
    c.dialback_secret = Some(IX_SECRET.to_owned());
    c
}

pub fn root_config(tls: TlsMode) -> ReceiverConfig {
    let mut c = ReceiverConfig::new(vec![ROOT.to_owned(), "root-alias.example".to_owned()]);
    c.tls = tls;
    c
}

// ---------------------------------------------------------------- refusals, raw XML

pub const IX_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
    xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
    from='ix.example' to='root1.icroot.example' version='1.0'>";

/// Parse what a machine wrote and return the stream-error condition, checking the stream is
/// then closed.
pub fn stream_error_in(out: &[u8]) -> Option<Cond> {
    let mut r = StreamReader::new(Limits::POST_AUTH);
    r.push(out);
    let mut err = None;
    let mut closed_after = false;
    while let Ok(Some(ev)) = r.next_event() {
        match ev {
            XmlEvent::Stanza(el) if el.is("error", ns::STREAM) => {
                err = proto::error::StreamError::from_element(&el).map(|e| e.condition);
            }
            XmlEvent::StreamClose => closed_after = err.is_some(),
            XmlEvent::StreamOpen(_) => {}
            _ => {}
        }
    }
    assert!(err.is_none() || closed_after, "stream error not followed by </stream:stream>");
    err
}

/// Like [`stream_error_in`] for a transcript spanning restarts: looks at the last stream.
pub fn stream_error_written(out: &[u8]) -> Option<Cond> {
    let text = String::from_utf8_lossy(out);
    let last = text.rfind("<?xml").unwrap_or(0);
    stream_error_in(text[last..].as_bytes())
}

/// A receiver that believes TLS is up with `cert` (as a direct-TLS listener would), fed raw XML.
pub struct Raw {
    pub now: Instant,
    pub recv: Receiver,
    pub out: Vec<u8>,
    pub events: Vec<Event>,
}

impl Raw {
    pub fn new(cert: Option<CertificateDer<'static>>) -> Self {
        Self::with_config(root_config(TlsMode::DirectTls), cert)
    }

    pub fn with_config(cfg: ReceiverConfig, cert: Option<CertificateDer<'static>>) -> Self {
        let now = Instant::now();
        let mut recv = Receiver::new(cfg, now);
        let tls = TlsInfo { chain_verified: cert.is_some(), peer_certs: cert.into_iter().collect() };
        recv.handle_tls_established(now, tls);
        let mut raw = Raw { now, recv, out: Vec::new(), events: Vec::new() };
        raw.drain();
        raw
    }

    pub fn feed(&mut self, xml: &str) -> &mut Self {
        self.recv.handle_input(self.now, xml.as_bytes());
        self.drain();
        self
    }

    pub fn drain(&mut self) {
        while let Some(b) = self.recv.poll_transmit() {
            self.out.extend(b);
        }
        while let Some(e) = self.recv.poll_event() {
            self.events.push(e);
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    /// The condition written, asserting the matching `Closed` event too.
    pub fn error(&self) -> Option<Cond> {
        let written = stream_error_written(&self.out);
        let reported = closed(&self.events).and_then(|r| r.stream_error()).map(|e| e.condition);
        assert_eq!(written, reported, "wire and event disagree");
        written
    }

    /// Header plus SASL EXTERNAL success and restart: an authenticated stream.
    pub fn authenticated() -> Self {
        let pki = Pki::new();
        let mut raw = Raw::new(Some(pki.issue(IX).chain[0].clone()));
        raw.feed(IX_HEADER)
            .feed("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>");
        assert!(raw.text().contains("<success"), "{}", raw.text());
        raw.feed(IX_HEADER);
        assert!(raw.recv.is_established());
        raw
    }
}
