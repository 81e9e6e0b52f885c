//! S2S negotiation end to end, in memory: an `Initiator` and a `Receiver` wired together through
//! real rustls connections (in-memory `read_tls`/`write_tls`), certificates from a test CA, and
//! a virtual clock. Refusals are driven with raw XML against a lone state machine and checked
//! by parsing what it wrote back.

mod harness;
mod refusals;

use std::time::Duration;

use proto::error::StreamErrorCondition as Cond;
use proto::ns;
use proto::s2s::{
    dialback_key, AuthFailure, AuthMethod, CloseReason, Event, InitiatorConfig, ReceiverConfig, SendError,
    TlsMode, Verdict,
};
use proto::xml::Element;

use harness::*;

// ---------------------------------------------------------------- happy paths over real TLS

fn exchange_both_ways(p: &mut Pair) {
    p.init.send_stanza(p.now, &message("agent@ix.example", ROOT, "hello root")).expect("initiator may send");
    p.recv
        .send_stanza(p.now, &message(ROOT, "agent@ix.example/cli", "hello ix"))
        .expect("bidi: receiver may send");
    p.pump();
    let at_root = stanzas(&p.r.events);
    assert_eq!(at_root.len(), 1);
    assert_eq!(at_root[0].child("body", ns::JABBER_SERVER).map(Element::text).as_deref(), Some("hello root"));
    let at_ix = stanzas(&p.i.events);
    assert_eq!(at_ix.len(), 1);
    assert_eq!(at_ix[0].attr("to"), Some("agent@ix.example/cli"));
}

#[test]
fn sasl_external_over_starttls_then_bidi_stanzas() {
    let pki = Pki::new();
    let mut p = Pair::new(
        &pki,
        &pki.issue(IX),
        &pki.issue(ROOT),
        ix_config(TlsMode::StartTls),
        root_config(TlsMode::StartTls),
    );
    p.pump();
    assert_eq!(authenticated(&p.i.events), Some((ROOT.to_owned(), AuthMethod::SaslExternal, true)));
    assert_eq!(authenticated(&p.r.events), Some((IX.to_owned(), AuthMethod::SaslExternal, true)));
    let sent = String::from_utf8_lossy(&p.i.plaintext_out).into_owned();
    assert!(sent.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), "{sent}");
    // authzid = base64("ix.example")
    assert!(sent.contains("mechanism='EXTERNAL'>aXguZXhhbXBsZQ==</auth>"), "{sent}");
    assert!(sent.contains("<bidi xmlns='urn:xmpp:bidi'/>"), "{sent}");
    let answered = String::from_utf8_lossy(&p.r.plaintext_out).into_owned();
    assert!(answered.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"));
    assert!(answered.contains("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
    assert_eq!(answered.matches("<stream:stream").count(), 3, "plain, after TLS, after SASL");
    assert!(!answered.contains("jabber:server:dialback'><errors"), "dialback not offered when disabled");
    exchange_both_ways(&mut p);
    assert!(closed(&p.i.events).is_none() && closed(&p.r.events).is_none());

    // A graceful close from the initiator ends both sides cleanly.
    p.init.close(p.now);
    p.pump();
    assert_eq!(closed(&p.r.events), Some(&CloseReason::Peer));
    assert_eq!(closed(&p.i.events), Some(&CloseReason::Local));
}

#[test]
fn direct_tls_variant() {
    let pki = Pki::new();
    let mut p = Pair::new(
        &pki,
        &pki.issue(IX),
        &pki.issue(ROOT),
        ix_config(TlsMode::DirectTls),
        root_config(TlsMode::DirectTls),
    );
    p.pump();
    assert_eq!(authenticated(&p.i.events), Some((ROOT.to_owned(), AuthMethod::SaslExternal, true)));
    let answered = String::from_utf8_lossy(&p.r.plaintext_out).into_owned();
    assert!(!answered.contains("starttls"), "no STARTTLS feature on direct TLS: {answered}");
    assert_eq!(answered.matches("<stream:stream").count(), 2);
    exchange_both_ways(&mut p);
}

fn dialback_pair(pki: &Pki) -> Pair {
    let mut rc = root_config(TlsMode::StartTls);
    rc.allow_dialback = true;
    let mut ic = ix_config(TlsMode::StartTls);
    ic.auth.allow_dialback = true;
    // The exchange's certificate names another domain: EXTERNAL cannot be offered.
    Pair::new(pki, &pki.issue("elsewhere.example"), &pki.issue(ROOT), ic, rc)
}

#[test]
fn dialback_when_the_certificate_names_another_domain() {
    let pki = Pki::new();
    let mut p = dialback_pair(&pki);
    p.pump();
    let answered = String::from_utf8_lossy(&p.r.plaintext_out).into_owned();
    assert!(!answered.contains("EXTERNAL"), "EXTERNAL offered for a cert that does not name ix.example");
    assert!(answered.contains("<dialback xmlns='urn:xmpp:features:dialback'>"));
    let req = p.take_verify_request().expect("receiver asks for verification");
    assert_eq!((req.from.as_str(), req.to.as_str()), (ROOT, IX));
    assert!(authenticated(&p.r.events).is_none(), "not before the verdict");
    // Stanzas must wait for authentication.
    assert_eq!(p.init.send_stanza(p.now, &message(IX, ROOT, "early")), Err(SendError::NotAuthenticated));

    // The test is the authoritative server for ix.example.
    let valid = dialback_key(IX_SECRET, &req.from, &req.to, &req.id) == req.key;
    assert!(valid);
    p.recv.handle_dialback_verified(p.now, valid);
    p.pump();
    assert_eq!(authenticated(&p.r.events), Some((IX.to_owned(), AuthMethod::Dialback, true)));
    assert_eq!(authenticated(&p.i.events), Some((ROOT.to_owned(), AuthMethod::Dialback, true)));
    exchange_both_ways(&mut p);
}

#[test]
fn dialback_verified_through_a_second_stream_to_the_authoritative_server() {
    let pki = Pki::new();
    let mut p = dialback_pair(&pki);
    p.pump();
    let req = p.take_verify_request().unwrap();

    // root dials ix.example's own server, which answers <db:verify/> with its secret.
    let mut auth_rc = ReceiverConfig::new(vec![IX.to_owned()]);
    auth_rc.dialback_secret = Some(IX_SECRET.to_owned());
    let mut verifier =
        Pair::new(&pki, &pki.issue(ROOT), &pki.issue(IX), InitiatorConfig::new(ROOT, IX), auth_rc);
    verifier.init.send_dialback_verify(verifier.now, req.clone()).unwrap();
    let mut forged = req.clone();
    forged.key = dialback_key("wrong secret", &req.from, &req.to, &req.id);
    verifier.init.send_dialback_verify(verifier.now, forged).unwrap();
    verifier.pump();
    let answers: Vec<_> = verifier
        .i
        .events
        .iter()
        .filter_map(|e| if let Event::DialbackVerified(a) = e { Some(a.clone()) } else { None })
        .collect();
    assert_eq!(answers.len(), 2);
    assert_eq!(
        (answers[0].from.as_str(), answers[0].to.as_str(), answers[0].id.as_str()),
        (IX, ROOT, req.id.as_str())
    );
    assert_eq!(answers[0].verdict, Verdict::Valid);
    assert_eq!(answers[1].verdict, Verdict::Invalid);

    p.recv.handle_dialback_verified(p.now, answers[0].verdict == Verdict::Valid);
    p.pump();
    assert_eq!(authenticated(&p.i.events).map(|a| a.1), Some(AuthMethod::Dialback));
}

#[test]
fn dialback_refused_closes_with_not_authorized() {
    let pki = Pki::new();
    let mut p = dialback_pair(&pki);
    p.pump();
    p.take_verify_request().unwrap();
    p.recv.handle_dialback_verified(p.now, false);
    p.pump();
    assert!(String::from_utf8_lossy(&p.r.plaintext_out).contains("type='invalid'"));
    assert_eq!(stream_error_written(&p.r.plaintext_out), Some(Cond::NotAuthorized));
    assert_eq!(closed(&p.i.events), Some(&CloseReason::AuthFailed(AuthFailure::DialbackRefused)));
}

#[test]
fn wrong_certificate_name_without_dialback_fails() {
    let pki = Pki::new();
    // Dialback disabled on the receiver: nothing the initiator can use.
    let mut ic = ix_config(TlsMode::StartTls);
    ic.auth.allow_dialback = true;
    let mut p = Pair::new(
        &pki,
        &pki.issue("elsewhere.example"),
        &pki.issue(ROOT),
        ic,
        root_config(TlsMode::StartTls),
    );
    p.pump();
    assert_eq!(closed(&p.i.events), Some(&CloseReason::AuthFailed(AuthFailure::NoMechanism)));
    assert_eq!(closed(&p.r.events), Some(&CloseReason::Peer));
    assert!(authenticated(&p.r.events).is_none());
}

#[test]
fn receiver_without_bidi_cannot_send() {
    let pki = Pki::new();
    let mut rc = root_config(TlsMode::StartTls);
    rc.offer_bidi = false;
    let mut p = Pair::new(&pki, &pki.issue(IX), &pki.issue(ROOT), ix_config(TlsMode::StartTls), rc);
    p.pump();
    assert_eq!(authenticated(&p.i.events).map(|a| a.2), Some(false));
    assert_eq!(p.recv.send_stanza(p.now, &message(ROOT, IX, "x")), Err(SendError::WrongDirection));
    assert_eq!(p.init.send_stanza(p.now, &message("other.example", ROOT, "x")), Err(SendError::BadAddress));
    p.init.send_stanza(p.now, &message(IX, ROOT, "fine")).unwrap();
    p.pump();
    assert_eq!(stanzas(&p.r.events).len(), 1);
}

#[test]
fn keepalive_then_idle_timeout() {
    let pki = Pki::new();
    let mut ic = ix_config(TlsMode::StartTls);
    ic.timeouts.keepalive_interval = Duration::from_secs(10);
    let mut rc = root_config(TlsMode::StartTls);
    rc.timeouts.idle = Duration::from_secs(25);
    rc.timeouts.keepalive_interval = Duration::from_secs(3600);
    let mut p = Pair::new(&pki, &pki.issue(IX), &pki.issue(ROOT), ic, rc);
    p.pump();
    assert!(p.recv.is_established());
    let before = p.i.plaintext_out.len();
    p.advance(Duration::from_secs(10));
    assert_eq!(&p.i.plaintext_out[before..], b" ", "single-space keepalive");
    // The keepalive kept the receiver's idle clock fresh: 20 s after it, still open.
    p.advance(Duration::from_secs(5));
    assert!(p.recv.is_established());
    // The initiator goes silent: only the receiver's clock moves on.
    p.recv.handle_timeout(p.now + Duration::from_secs(19));
    assert!(p.recv.is_established(), "idle 24 s < 25 s");
    p.recv.handle_timeout(p.now + Duration::from_secs(20));
    let out: Vec<u8> = std::iter::from_fn(|| p.recv.poll_transmit()).flatten().collect();
    // The receiver's header went out long ago; re-attach one so the transcript parses.
    assert_eq!(stream_error_in(&[IX_HEADER.as_bytes(), &out].concat()), Some(Cond::ConnectionTimeout));
    assert!(matches!(p.recv.poll_event(), Some(Event::Closed { reason: CloseReason::SentError(_) })));
}
