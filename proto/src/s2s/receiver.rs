//! The receiving (accepting) side of an S2S stream.
//!
//! ```text
//!  [StartTls]  header ◀─ header+features(starttls required) ◀─ <starttls/> ─▶ <proceed/> ─▶ TLS ─┐
//!  [DirectTls] TLS ───────────────────────────────────────────────────────────────────────────────┤
//!      header ─▶ header+features(EXTERNAL if the cert names `from`, dialback, bidi) ─▶ (<bidi/>)
//!        ├▶ <auth EXTERNAL> ─▶ <success/> ─▶ header ─▶ header+features(bidi) ─▶ Established
//!        └▶ <db:result>key ─▶ Event::VerifyDialback ─▶ handle_dialback_verified ─▶ <db:result type/>
//! ```
//! `<db:verify/>` requests (we are the authoritative server) are answered in any state.

use std::time::Instant;

use rustls_pki_types::CertificateDer;

use super::config::{ReceiverConfig, TlsMode};
use super::dialback::{
    dialback_key, keys_equal, result_answer, Dialback, Verdict, VerifyAnswer, VerifyRequest,
};
use super::event::{AuthMethod, Event, SendError, TlsInfo, TlsRole};
use super::features::{self, AuthzidError, Features, EXTERNAL};
use super::identity::{cert_names_domain, jid_domain, same_domain};
use super::initiator::{check_header, is_stanza, unexpected};
use super::link::{Input, Link};
use super::misbehaviour::Misbehaviour;
use crate::ns;
use crate::xml::{Element, StreamHeader};

/// The initiator's certificate as the TLS handshake delivered it.
#[derive(Clone, Debug)]
struct PeerTls {
    /// End-entity certificate, if one was presented and its chain verified.
    verified_cert: Option<CertificateDer<'static>>,
}

/// An authenticated peer.
#[derive(Clone, Debug)]
struct Authed {
    peer: String,
    local: String,
    method: AuthMethod,
    bidi: bool,
}

#[derive(Clone, Debug)]
enum Phase {
    Plain,
    Secured(PeerTls),
    Authed(Authed),
}

/// Header exchanged and features sent; waiting for the initiator's next step.
#[derive(Clone, Debug)]
struct Negotiating {
    /// `None` before TLS.
    tls: Option<PeerTls>,
    /// The header's `from` (claimed, not yet proven).
    peer: String,
    /// The header's `to` (one of our domains).
    local: String,
    stream_id: String,
    offered: Features,
    bidi: bool,
    auth_failures: u8,
}

#[derive(Clone, Debug)]
enum State {
    AwaitTls,
    ExpectHeader(Phase),
    Negotiating(Negotiating),
    /// A dialback key is being checked by the driver.
    AwaitVerdict(Negotiating),
    Established(Authed),
    Done,
}

/// Sans-IO receiving S2S stream: feed it bytes and time, poll bytes and events.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiverConfig,
    link: Link,
    state: State,
}

impl Receiver {
    /// Accept a connection. With direct TLS an [`Event::StartTls`] comes first.
    pub fn new(config: ReceiverConfig, now: Instant) -> Self {
        let mut this = Receiver {
            link: Link::new(config.timeouts, now),
            state: State::ExpectHeader(Phase::Plain),
            config,
        };
        this.link.error_header = (this.config.local_domains.first().cloned(), None);
        if this.config.tls == TlsMode::DirectTls {
            this.link.start_tls(TlsRole::Server);
            this.state = State::AwaitTls;
        }
        this
    }

    /// Bytes read from the connection (plaintext once TLS is up).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.link.push_input(now, data);
        while let Some(input) = self.link.next_input() {
            if let Err(why) = self.on_input(now, input) {
                self.fail(why);
            }
        }
        self.sync_done();
    }

    /// Bytes already received that belong to the TLS handshake (after [`Event::StartTls`]).
    pub fn take_tls_bytes(&mut self) -> Vec<u8> {
        self.link.take_tls_bytes()
    }

    /// The TLS handshake finished; `tls.peer_certs` is the initiator's client certificate chain.
    pub fn handle_tls_established(&mut self, now: Instant, tls: TlsInfo) {
        if !matches!(self.state, State::AwaitTls) {
            return;
        }
        let verified_cert = tls.peer_certs.into_iter().next().filter(|_| tls.chain_verified);
        self.link.tls_established(now);
        self.state = State::ExpectHeader(Phase::Secured(PeerTls { verified_cert }));
    }

    /// The authoritative server's verdict on the key of the last [`Event::VerifyDialback`].
    /// Ignored unless a verification is pending.
    pub fn handle_dialback_verified(&mut self, now: Instant, valid: bool) {
        let State::AwaitVerdict(neg) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        self.link.send(now, &result_answer(&neg.local, &neg.peer, Verdict::from_bool(valid)));
        if !valid {
            self.fail(Misbehaviour::DialbackKeyRefused);
            return;
        }
        self.link.set_authenticated(now);
        self.establish(Authed {
            peer: neg.peer,
            local: neg.local,
            method: AuthMethod::Dialback,
            bidi: neg.bidi,
        });
    }

    /// Send a stanza to the initiator: only on an authenticated bidi stream, from our domain on
    /// this stream to the peer's.
    pub fn send_stanza(&mut self, now: Instant, stanza: &Element) -> Result<(), SendError> {
        let authed = match &self.state {
            State::Established(a) if self.link.is_open() => a,
            State::Done => return Err(SendError::Closed),
            _ if !self.link.is_open() => return Err(SendError::Closed),
            _ => return Err(SendError::NotAuthenticated),
        };
        if !authed.bidi {
            return Err(SendError::WrongDirection);
        }
        let addressed = |attr: &str, domain: &str| {
            stanza.attr(attr).and_then(jid_domain).is_some_and(|d| same_domain(d, domain))
        };
        if !addressed("from", &authed.local) || !addressed("to", &authed.peer) {
            return Err(SendError::BadAddress);
        }
        self.link.send(now, stanza);
        Ok(())
    }

    /// Close the stream gracefully.
    pub fn close(&mut self, now: Instant) {
        self.link.close(now);
        self.sync_done();
    }

    /// The connection ended (EOF or I/O error).
    pub fn handle_eof(&mut self) {
        self.link.eof();
        self.state = State::Done;
    }

    /// Act on expired deadlines (negotiation, idle, keepalive, close).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        self.sync_done();
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

    /// Whether the stream is authenticated and open.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_)) && self.link.is_open()
    }

    fn sync_done(&mut self) {
        if !self.link.is_open() {
            self.state = State::Done;
        }
    }

    fn fail(&mut self, why: Misbehaviour) {
        self.link.fail(why);
        self.state = State::Done;
    }

    fn establish(&mut self, authed: Authed) {
        self.link.push_event(Event::Authenticated {
            peer_domain: authed.peer.clone(),
            local_domain: authed.local.clone(),
            method: authed.method,
            bidi: authed.bidi,
        });
        self.state = State::Established(authed);
    }

    fn on_input(&mut self, now: Instant, input: Input) -> Result<(), Misbehaviour> {
        let el = match input {
            Input::Header(h) => {
                let State::ExpectHeader(phase) = std::mem::replace(&mut self.state, State::Done) else {
                    return Err(Misbehaviour::UnexpectedElement("stream:stream".into()));
                };
                return self.on_header(now, phase, &h);
            }
            Input::Element(el) => el,
        };
        if el.is("verify", ns::DIALBACK) {
            return self.answer_verify(now, &el);
        }
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match state {
            State::Negotiating(neg) => self.on_negotiating(now, neg, &el)?,
            State::AwaitVerdict(_) if is_stanza(&el) => return Err(Misbehaviour::StanzaBeforeAuth),
            State::Established(authed) => {
                self.check_incoming(&authed, &el)?;
                self.link.push_event(Event::Stanza(el));
                State::Established(authed)
            }
            _ if is_stanza(&el) => return Err(Misbehaviour::StanzaBeforeAuth),
            _ => return Err(unexpected(&el)),
        };
        Ok(())
    }

    fn on_header(&mut self, now: Instant, phase: Phase, h: &StreamHeader) -> Result<(), Misbehaviour> {
        // Whatever goes wrong below, the error goes out under a header addressed like this.
        let served = h.to.as_deref().filter(|to| self.serves(to)).map(str::to_owned);
        self.link.error_header =
            (served.clone().or_else(|| self.config.local_domains.first().cloned()), h.from.clone());
        check_header(h)?;
        let local = match h.to.as_deref() {
            None => return Err(Misbehaviour::MissingAddress("to")),
            Some(to) => served.ok_or_else(|| Misbehaviour::UnknownHost(to.to_owned()))?,
        };
        let peer = h.from.clone().ok_or(Misbehaviour::MissingAddress("from"))?;
        if let Phase::Authed(a) = &phase {
            if !same_domain(&a.peer, &peer) || !same_domain(&a.local, &local) {
                return Err(Misbehaviour::UnauthenticatedFrom(peer));
            }
        }
        let stream_id = self.link.send_header(now, Some(&local), Some(&peer), true);
        let tls = match phase {
            Phase::Authed(authed) => {
                let f = Features { bidi: authed.bidi, ..Features::default() };
                self.link.send(now, &f.to_element());
                self.establish(authed);
                return Ok(());
            }
            Phase::Plain => None,
            Phase::Secured(t) => Some(t),
        };
        let offered = self.features_for(tls.as_ref(), &peer);
        self.link.send(now, &offered.to_element());
        self.state = State::Negotiating(Negotiating {
            tls,
            peer,
            local,
            stream_id,
            offered,
            bidi: false,
            auth_failures: 0,
        });
        Ok(())
    }

    fn features_for(&self, tls: Option<&PeerTls>, peer: &str) -> Features {
        let Some(tls) = tls else {
            let mut f = Features { starttls: Some(self.config.require_tls), ..Features::default() };
            if !self.config.require_tls {
                f.dialback = self.config.allow_dialback;
                f.bidi = self.config.offer_bidi;
            }
            return f;
        };
        let external = tls.verified_cert.as_ref().is_some_and(|c| cert_names_domain(c, peer));
        Features {
            starttls: None,
            mechanisms: if external { vec![EXTERNAL.to_owned()] } else { Vec::new() },
            dialback: self.config.allow_dialback,
            bidi: self.config.offer_bidi,
        }
    }

    fn on_negotiating(
        &mut self,
        now: Instant,
        mut neg: Negotiating,
        el: &Element,
    ) -> Result<State, Misbehaviour> {
        let secured = neg.tls.is_some() || !self.config.require_tls;
        match (el.ns(), el.name()) {
            (ns::TLS, "starttls") if neg.tls.is_none() && self.config.tls == TlsMode::StartTls => {
                self.link.send(now, &features::tls_element("proceed"));
                self.link.start_tls(TlsRole::Server);
                Ok(State::AwaitTls)
            }
            (ns::BIDI, "bidi") if neg.offered.bidi && !neg.bidi => {
                neg.bidi = true;
                Ok(State::Negotiating(neg))
            }
            (ns::SASL, "auth") if !secured => Err(Misbehaviour::TlsRequired),
            (ns::SASL, "auth") => self.on_auth(now, neg, el),
            (ns::DIALBACK, "result") if !secured => Err(Misbehaviour::TlsRequired),
            (ns::DIALBACK, "result") if neg.offered.dialback => {
                let Some(Dialback::ResultRequest { from, to, key }) = Dialback::parse(el) else {
                    return Err(unexpected(el));
                };
                if !self.serves(&to) {
                    return Err(Misbehaviour::UnknownHost(to));
                }
                if !same_domain(&from, &neg.peer) {
                    return Err(Misbehaviour::UnauthenticatedFrom(from));
                }
                neg.local = to;
                let request = VerifyRequest {
                    from: neg.local.clone(),
                    to: neg.peer.clone(),
                    id: neg.stream_id.clone(),
                    key,
                };
                self.link.push_event(Event::VerifyDialback { request });
                Ok(State::AwaitVerdict(neg))
            }
            _ if is_stanza(el) => Err(Misbehaviour::StanzaBeforeAuth),
            _ => Err(unexpected(el)),
        }
    }

    fn on_auth(&mut self, now: Instant, mut neg: Negotiating, el: &Element) -> Result<State, Misbehaviour> {
        let refusal = if el.attr("mechanism") != Some(EXTERNAL) {
            Some("invalid-mechanism")
        } else if !neg.offered.mechanisms.iter().any(|m| m == EXTERNAL) {
            // The certificate does not chain or does not name the claimed domain.
            Some("not-authorized")
        } else {
            match features::parse_authzid(el) {
                Err(AuthzidError::Encoding) => Some("incorrect-encoding"),
                Ok(Some(authzid)) if !same_domain(&authzid, &neg.peer) => Some("invalid-authzid"),
                Ok(_) => None,
            }
        };
        if let Some(condition) = refusal {
            self.link.send(now, &features::sasl_failure(condition));
            neg.auth_failures = neg.auth_failures.saturating_add(1);
            if neg.auth_failures >= self.config.max_auth_failures {
                return Err(Misbehaviour::TooManyAuthFailures);
            }
            return Ok(State::Negotiating(neg));
        }
        self.link.send(now, &features::sasl_success());
        self.link.set_authenticated(now);
        self.link.restart(now);
        let authed =
            Authed { peer: neg.peer, local: neg.local, method: AuthMethod::SaslExternal, bidi: neg.bidi };
        Ok(State::ExpectHeader(Phase::Authed(authed)))
    }

    /// We are the authoritative server: did we issue this key?
    fn answer_verify(&mut self, now: Instant, el: &Element) -> Result<(), Misbehaviour> {
        let Some(Dialback::VerifyRequest(req)) = Dialback::parse(el) else {
            return Err(unexpected(el));
        };
        let verdict = match &self.config.dialback_secret {
            Some(secret) if self.serves(&req.to) => {
                // We were the originating server `req.to`, the asker the receiving server `req.from`.
                let expected = dialback_key(secret, &req.from, &req.to, &req.id);
                Verdict::from_bool(keys_equal(&expected, &req.key))
            }
            Some(_) => Verdict::Invalid,
            None => Verdict::Error,
        };
        let answer = VerifyAnswer { from: req.to, to: req.from, id: req.id, verdict };
        self.link.send(now, &answer.to_element());
        Ok(())
    }

    fn check_incoming(&self, authed: &Authed, el: &Element) -> Result<(), Misbehaviour> {
        if !is_stanza(el) {
            return Err(unexpected(el));
        }
        let from = el.attr("from").and_then(jid_domain).ok_or(Misbehaviour::MissingAddress("from"))?;
        let to = el.attr("to").and_then(jid_domain).ok_or(Misbehaviour::MissingAddress("to"))?;
        if !same_domain(from, &authed.peer) {
            return Err(Misbehaviour::UnauthenticatedFrom(from.to_owned()));
        }
        if !self.serves(to) {
            return Err(Misbehaviour::UnknownHost(to.to_owned()));
        }
        Ok(())
    }

    fn serves(&self, domain: &str) -> bool {
        self.config.local_domains.iter().any(|d| same_domain(d, domain))
    }
}
