//! The initiating (connecting) side of an S2S stream.
//!
//! ```text
//!  [StartTls]  header ─▶ features(starttls) ─▶ <starttls/> ─▶ <proceed/> ─▶ TLS ─┐
//!  [DirectTls] TLS ─────────────────────────────────────────────────────────────┤
//!      header ─▶ features ─▶ (<bidi/>) ─┬▶ <auth EXTERNAL> ─▶ <success/> ─▶ header ─▶ features ─┬▶ Established
//!                                       └▶ <db:result>key ─▶ <db:result type=valid/> ───────────┘
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use super::config::{InitiatorConfig, TlsMode};
use super::dialback::{dialback_key, result_request, Dialback, Verdict, VerifyRequest};
use super::event::{AuthFailure, AuthMethod, CloseReason, Event, SendError, TlsInfo, TlsRole};
use super::features::{self, Features, EXTERNAL};
use super::identity::{cert_names_domain, jid_domain, same_domain};
use super::link::{Input, Link};
use super::misbehaviour::Misbehaviour;
use crate::ns;
use crate::xml::{Element, StreamHeader};

/// At most this many `<db:verify/>` requests wait for the stream to be ready.
const MAX_PENDING_VERIFIES: usize = 64;

/// What the TLS handshake established about the receiver.
#[derive(Clone, Copy, Debug)]
struct Secured {
    /// The server certificate chains to a trust anchor and names `remote_domain`.
    server_cert_ok: bool,
}

/// Authenticated, possibly waiting for the post-SASL stream restart.
#[derive(Clone, Copy, Debug)]
struct Authed {
    secured: Secured,
    method: AuthMethod,
    bidi: bool,
}

/// How far negotiation has come when a stream (re)starts.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Plain,
    Secured(Secured),
    Authed(Authed),
}

/// After TLS: the features are known and an authentication attempt is under way.
#[derive(Clone, Debug)]
struct Negotiating {
    secured: Secured,
    stream_id: String,
    features: Features,
    bidi: bool,
}

#[derive(Clone, Debug)]
enum State {
    /// The driver runs the TLS handshake.
    AwaitTls,
    /// Our header is sent; waiting for the receiver's.
    ExpectHeader(Phase),
    /// Waiting for `<stream:features/>`; `String` is the receiver-assigned stream id.
    ExpectFeatures(Phase, String),
    /// `<starttls/>` sent.
    ExpectProceed,
    /// `<auth mechanism='EXTERNAL'/>` sent.
    ExpectSasl(Negotiating),
    /// `<db:result>` sent.
    ExpectDialback(Negotiating),
    /// Stanzas may flow.
    Established(Authed),
    /// Over.
    Done,
}

/// Sans-IO initiating S2S stream: feed it bytes and time, poll bytes and events.
#[derive(Debug)]
pub struct Initiator {
    config: InitiatorConfig,
    link: Link,
    state: State,
    /// `<db:verify/>` requests waiting until the stream is past TLS.
    pending_verifies: VecDeque<VerifyRequest>,
    /// Whether `<db:verify/>` may be written now (after the post-TLS features).
    verify_ready: bool,
}

impl Initiator {
    /// Start a connection. With STARTTLS the header is ready in `poll_transmit`; with direct TLS
    /// an [`Event::StartTls`] comes first.
    pub fn new(config: InitiatorConfig, now: Instant) -> Self {
        let mut this = Initiator {
            link: Link::new(config.timeouts, now),
            state: State::AwaitTls,
            pending_verifies: VecDeque::new(),
            verify_ready: false,
            config,
        };
        match this.config.tls {
            TlsMode::DirectTls => this.link.start_tls(TlsRole::Client),
            TlsMode::StartTls => {
                this.send_header(now);
                this.state = State::ExpectHeader(Phase::Plain);
            }
        }
        this
    }

    /// Bytes read from the connection (plaintext once TLS is up).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.link.push_input(now, data);
        while let Some(input) = self.link.next_input() {
            if let Err(why) = self.on_input(now, input) {
                self.link.fail(why);
            }
        }
        if !self.link.is_open() {
            self.state = State::Done;
        }
    }

    /// Bytes already received that belong to the TLS handshake (after [`Event::StartTls`]).
    pub fn take_tls_bytes(&mut self) -> Vec<u8> {
        self.link.take_tls_bytes()
    }

    /// The TLS handshake finished. The server certificate must chain (`chain_verified`) and name
    /// `remote_domain`, unless dialback is allowed (then only dialback is used).
    pub fn handle_tls_established(&mut self, now: Instant, tls: TlsInfo) {
        if !matches!(self.state, State::AwaitTls) {
            return;
        }
        let server_cert_ok = tls.chain_verified
            && tls.peer_certs.first().is_some_and(|c| cert_names_domain(c, &self.config.remote_domain));
        if !server_cert_ok && !self.config.auth.allow_dialback {
            // Still "awaiting TLS": nothing is written; the driver drops the connection.
            self.link.end(CloseReason::AuthFailed(AuthFailure::ServerCertificate));
            self.state = State::Done;
            return;
        }
        self.link.tls_established(now);
        self.send_header(now);
        self.state = State::ExpectHeader(Phase::Secured(Secured { server_cert_ok }));
    }

    /// Send a stanza; only once [`Event::Authenticated`] was emitted. `from` must be in our
    /// domain and `to` in the remote domain.
    pub fn send_stanza(&mut self, now: Instant, stanza: &Element) -> Result<(), SendError> {
        match &self.state {
            State::Established(_) => {}
            State::Done => return Err(SendError::Closed),
            _ => return Err(SendError::NotAuthenticated),
        }
        if !self.link.is_open() {
            return Err(SendError::Closed);
        }
        let addressed = |attr: &str, domain: &str| {
            stanza.attr(attr).and_then(jid_domain).is_some_and(|d| same_domain(d, domain))
        };
        if !addressed("from", &self.config.local_domain) || !addressed("to", &self.config.remote_domain) {
            return Err(SendError::BadAddress);
        }
        self.link.send(now, stanza);
        Ok(())
    }

    /// Ask the receiver (acting as authoritative server for `request.to`) to check a dialback
    /// key; the answer arrives as [`Event::DialbackVerified`]. Queued until the stream is past TLS.
    pub fn send_dialback_verify(&mut self, now: Instant, request: VerifyRequest) -> Result<(), SendError> {
        if !self.link.is_open() {
            return Err(SendError::Closed);
        }
        if self.verify_ready {
            self.link.send(now, &request.to_element());
        } else if self.pending_verifies.len() < MAX_PENDING_VERIFIES {
            self.pending_verifies.push_back(request);
        } else {
            return Err(SendError::QueueFull);
        }
        Ok(())
    }

    /// Close the stream gracefully (`</stream:stream>`); [`Event::Closed`] follows when the peer
    /// answers or the close timeout passes.
    pub fn close(&mut self, now: Instant) {
        self.link.close(now);
        if !self.link.is_open() {
            self.state = State::Done;
        }
    }

    /// The connection ended (EOF or I/O error).
    pub fn handle_eof(&mut self) {
        self.link.eof();
        self.state = State::Done;
    }

    /// Act on expired deadlines (negotiation, idle, keepalive, close).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        if !self.link.is_open() {
            self.state = State::Done;
        }
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }

    /// Bytes to write to the connection (plaintext; the driver encrypts once TLS is up).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.link.poll_event()
    }

    /// Whether stanzas may be sent.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_)) && self.link.is_open()
    }

    fn send_header(&mut self, now: Instant) {
        let (from, to) = (self.config.local_domain.clone(), self.config.remote_domain.clone());
        self.link.send_header(now, Some(&from), Some(&to), false);
    }

    fn on_input(&mut self, now: Instant, input: Input) -> Result<(), Misbehaviour> {
        let el = match input {
            Input::Header(h) => {
                let State::ExpectHeader(phase) = std::mem::replace(&mut self.state, State::Done) else {
                    return Err(Misbehaviour::UnexpectedElement("stream:stream".into()));
                };
                self.state = State::ExpectFeatures(phase, check_header(&h)?);
                return Ok(());
            }
            Input::Element(el) => el,
        };
        // A verification answer may come at any point after the stream is open.
        if el.ns() == ns::DIALBACK && el.name() == "verify" {
            return match Dialback::parse(&el) {
                Some(Dialback::VerifyAnswer(a)) => {
                    self.link.push_event(Event::DialbackVerified(a));
                    Ok(())
                }
                _ => Err(Misbehaviour::UnexpectedElement("db:verify".into())),
            };
        }
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match state {
            State::ExpectFeatures(phase, id) if el.is("features", ns::STREAM) => {
                self.on_features(now, phase, id, Features::parse(&el))?
            }
            State::ExpectProceed if el.is("proceed", ns::TLS) => {
                self.link.start_tls(TlsRole::Client);
                State::AwaitTls
            }
            State::ExpectProceed if el.is("failure", ns::TLS) => {
                self.link.end(CloseReason::Peer);
                State::Done
            }
            State::ExpectSasl(neg) if el.is("success", ns::SASL) => {
                self.link.set_authenticated(now);
                self.link.restart(now);
                self.send_header(now);
                let authed =
                    Authed { secured: neg.secured, method: AuthMethod::SaslExternal, bidi: neg.bidi };
                State::ExpectHeader(Phase::Authed(authed))
            }
            State::ExpectSasl(neg) if el.is("failure", ns::SASL) => {
                let condition = features::sasl_failure_condition(&el);
                match self.try_dialback(now, &neg) {
                    true => State::ExpectDialback(neg),
                    false => {
                        self.link.end(CloseReason::AuthFailed(AuthFailure::Sasl(condition)));
                        State::Done
                    }
                }
            }
            State::ExpectDialback(neg) if el.is("result", ns::DIALBACK) => {
                self.on_dialback_answer(now, neg, &el)?
            }
            State::Established(authed) => {
                self.check_incoming(authed, &el)?;
                self.link.push_event(Event::Stanza(el));
                State::Established(authed)
            }
            _ => return Err(unexpected(&el)),
        };
        Ok(())
    }

    fn on_features(
        &mut self,
        now: Instant,
        phase: Phase,
        stream_id: String,
        f: Features,
    ) -> Result<State, Misbehaviour> {
        Ok(match phase {
            Phase::Plain => {
                if f.starttls.is_none() {
                    return Err(Misbehaviour::TlsRequired);
                }
                self.link.send(now, &features::tls_element("starttls"));
                State::ExpectProceed
            }
            Phase::Secured(secured) => {
                self.verify_ready = true;
                while let Some(req) = self.pending_verifies.pop_front() {
                    self.link.send(now, &req.to_element());
                }
                let bidi = self.config.want_bidi && f.bidi;
                if bidi {
                    self.link.send(now, &features::bidi_request());
                }
                let neg = Negotiating { secured, stream_id, features: f, bidi };
                if self.config.auth.allow_sasl_external
                    && neg.features.mechanisms.iter().any(|m| m == EXTERNAL)
                {
                    let authzid =
                        (!self.config.auth.empty_authzid).then_some(self.config.local_domain.as_str());
                    self.link.send(now, &features::sasl_external_auth(authzid));
                    State::ExpectSasl(neg)
                } else if self.try_dialback(now, &neg) {
                    State::ExpectDialback(neg)
                } else {
                    self.link.end(CloseReason::AuthFailed(AuthFailure::NoMechanism));
                    State::Done
                }
            }
            Phase::Authed(authed) => {
                self.link.push_event(Event::Authenticated {
                    peer_domain: self.config.remote_domain.clone(),
                    local_domain: self.config.local_domain.clone(),
                    method: authed.method,
                    bidi: authed.bidi,
                });
                State::Established(authed)
            }
        })
    }

    /// Send `<db:result>` if dialback is allowed, offered and possible; whether it was sent.
    fn try_dialback(&mut self, now: Instant, neg: &Negotiating) -> bool {
        let Some(secret) = &self.config.dialback_secret else { return false };
        if !self.config.auth.allow_dialback || !neg.features.dialback {
            return false;
        }
        let (local, remote) = (&self.config.local_domain, &self.config.remote_domain);
        let key = dialback_key(secret, remote, local, &neg.stream_id);
        self.link.send(now, &result_request(local, remote, &key));
        true
    }

    fn on_dialback_answer(
        &mut self,
        now: Instant,
        neg: Negotiating,
        el: &Element,
    ) -> Result<State, Misbehaviour> {
        let Some(Dialback::ResultAnswer { from, to, verdict }) = Dialback::parse(el) else {
            return Err(unexpected(el));
        };
        if !same_domain(&from, &self.config.remote_domain) || !same_domain(&to, &self.config.local_domain) {
            return Err(Misbehaviour::MissingAddress("db:result"));
        }
        if verdict != Verdict::Valid {
            self.link.end(CloseReason::AuthFailed(AuthFailure::DialbackRefused));
            return Ok(State::Done);
        }
        self.link.set_authenticated(now);
        let authed = Authed { secured: neg.secured, method: AuthMethod::Dialback, bidi: neg.bidi };
        self.link.push_event(Event::Authenticated {
            peer_domain: self.config.remote_domain.clone(),
            local_domain: self.config.local_domain.clone(),
            method: AuthMethod::Dialback,
            bidi: neg.bidi,
        });
        Ok(State::Established(authed))
    }

    /// A stanza from the receiver: only over bidi, and only from the domain its certificate
    /// proved (dialback authenticates us to it, not it to us).
    fn check_incoming(&self, authed: Authed, el: &Element) -> Result<(), Misbehaviour> {
        if !is_stanza(el) {
            return Err(unexpected(el));
        }
        let from = el.attr("from").and_then(jid_domain).ok_or(Misbehaviour::MissingAddress("from"))?;
        let to = el.attr("to").and_then(jid_domain).ok_or(Misbehaviour::MissingAddress("to"))?;
        if !authed.bidi || !authed.secured.server_cert_ok || !same_domain(from, &self.config.remote_domain) {
            return Err(Misbehaviour::UnauthenticatedFrom(from.to_owned()));
        }
        if !same_domain(to, &self.config.local_domain) {
            return Err(Misbehaviour::UnknownHost(to.to_owned()));
        }
        Ok(())
    }
}

/// Check a received header; returns the stream id (empty if the peer sent none).
pub(crate) fn check_header(h: &StreamHeader) -> Result<String, Misbehaviour> {
    if h.content_ns != ns::JABBER_SERVER {
        return Err(Misbehaviour::BadNamespace(h.content_ns.clone()));
    }
    if h.version.as_deref() != Some("1.0") {
        return Err(Misbehaviour::BadVersion(h.version.clone()));
    }
    Ok(h.id.clone().unwrap_or_default())
}

/// `message`, `presence` or `iq` in the server namespace.
pub(crate) fn is_stanza(el: &Element) -> bool {
    el.ns() == ns::JABBER_SERVER && matches!(el.name(), "message" | "presence" | "iq")
}

pub(crate) fn unexpected(el: &Element) -> Misbehaviour {
    Misbehaviour::UnexpectedElement(el.name().to_owned())
}
