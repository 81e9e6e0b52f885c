//! Refusals: raw XML against a lone state machine; each asserts the exact stream-error condition
//! written on the wire (and reported in `Event::Closed`).

use std::time::{Duration, Instant};

use proto::error::StreamErrorCondition as Cond;
use proto::s2s::{
    dialback_key, AuthFailure, CloseReason, Event, Initiator, Receiver, ReceiverConfig, TlsInfo, TlsMode,
    TlsRole,
};

use super::harness::*;

#[test]
fn external_offered_only_for_a_certificate_naming_from() {
    let pki = Pki::new();
    let mut good = Raw::new(Some(pki.issue(IX).chain[0].clone()));
    good.feed(IX_HEADER);
    assert!(good.text().contains("<mechanism>EXTERNAL</mechanism>"), "{}", good.text());
    let mut other = Raw::new(Some(pki.issue("elsewhere.example").chain[0].clone()));
    other.feed(IX_HEADER);
    assert!(!other.text().contains("EXTERNAL"));
    // Trying anyway is refused at the SASL level.
    other.feed("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>");
    assert!(
        other
            .text()
            .ends_with("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"),
        "{}",
        other.text()
    );
    assert!(!other.recv.is_established());
}

#[test]
fn bad_authzid_gets_invalid_authzid_then_too_many_failures() {
    let mut raw = Raw::new(Some(Pki::new().issue(IX).chain[0].clone()));
    raw.feed(IX_HEADER);
    // base64("evil.example")
    raw.feed("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>ZXZpbC5leGFtcGxl</auth>");
    assert!(
        raw.text()
            .ends_with("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-authzid/></failure>"),
        "{}",
        raw.text()
    );
    assert_eq!(raw.error(), None, "one failure does not end the stream");
    raw.feed("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>");
    assert!(raw.text().ends_with("<invalid-mechanism/></failure>"));
    raw.feed("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>!!</auth>");
    assert_eq!(raw.error(), Some(Cond::PolicyViolation));
}

#[test]
fn unknown_to_domain_is_host_unknown() {
    let mut raw = Raw::new(None);
    raw.feed(&IX_HEADER.replace("to='root1.icroot.example'", "to='nobody.example'"));
    assert_eq!(raw.error(), Some(Cond::HostUnknown));
    assert!(raw.text().contains("<stream:stream"), "a header precedes the error");
}

#[test]
fn bad_namespace_and_version() {
    let mut raw = Raw::new(None);
    raw.feed(&IX_HEADER.replace("xmlns='jabber:server'", "xmlns='jabber:client'"));
    assert_eq!(raw.error(), Some(Cond::InvalidNamespace));
    let mut raw = Raw::new(None);
    raw.feed(&IX_HEADER.replace("version='1.0'", "version='0.9'"));
    assert_eq!(raw.error(), Some(Cond::UnsupportedVersion));
    let mut raw = Raw::new(None);
    raw.feed(&IX_HEADER.replace(" version='1.0'", ""));
    assert_eq!(raw.error(), Some(Cond::UnsupportedVersion));
}

#[test]
fn stanza_before_auth_is_not_authorized() {
    let mut raw = Raw::new(None);
    raw.feed(IX_HEADER)
        .feed("<message from='ix.example' to='root1.icroot.example'><body>hi</body></message>");
    assert_eq!(raw.error(), Some(Cond::NotAuthorized));
    assert!(stanzas(&raw.events).is_empty());
}

#[test]
fn auth_before_required_tls_is_policy_violation() {
    let now = Instant::now();
    let mut recv = Receiver::new(root_config(TlsMode::StartTls), now);
    recv.handle_input(now, IX_HEADER.as_bytes());
    recv.handle_input(now, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>");
    let out = std::iter::from_fn(|| recv.poll_transmit()).flatten().collect::<Vec<u8>>();
    assert_eq!(stream_error_in(&out), Some(Cond::PolicyViolation));
}

#[test]
fn oversize_stanza_before_auth_is_policy_violation() {
    let mut raw = Raw::new(None);
    let big = format!(
        "<message from='ix.example' to='root1.icroot.example'><body>{}</body></message>",
        "x".repeat(20_000)
    );
    raw.feed(IX_HEADER).feed(&big);
    assert_eq!(raw.error(), Some(Cond::PolicyViolation));
}

#[test]
fn post_auth_limit_is_larger_but_bounded() {
    let mut raw = Raw::authenticated();
    let ok = format!(
        "<message from='ix.example' to='root1.icroot.example'><body>{}</body></message>",
        "x".repeat(20_000)
    );
    raw.feed(&ok);
    assert_eq!(stanzas(&raw.events).len(), 1, "20 kB is fine after auth");
    let big = format!(
        "<message from='ix.example' to='root1.icroot.example'><body>{}</body></message>",
        "x".repeat(600 * 1024)
    );
    raw.feed(&big);
    assert_eq!(raw.error(), Some(Cond::PolicyViolation));
}

#[test]
fn dtd_is_restricted_xml() {
    let mut raw = Raw::new(None);
    raw.feed("<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY x 'y'>]>");
    assert_eq!(raw.error(), Some(Cond::RestrictedXml));
    let mut raw = Raw::authenticated();
    raw.feed("<!-- hello -->");
    assert_eq!(raw.error(), Some(Cond::RestrictedXml));
}

#[test]
fn stanza_from_unauthenticated_domain_is_not_authorized() {
    let mut raw = Raw::authenticated();
    raw.feed("<message from='ix.example' to='root1.icroot.example'/>");
    assert_eq!(stanzas(&raw.events).len(), 1);
    raw.feed("<message from='mallory@evil.example' to='root1.icroot.example'/>");
    assert_eq!(raw.error(), Some(Cond::NotAuthorized));
    assert_eq!(stanzas(&raw.events).len(), 1, "the spoofed stanza is not delivered");
}

#[test]
fn stanza_to_unserved_domain_is_host_unknown() {
    let mut raw = Raw::authenticated();
    raw.feed("<iq type='get' id='1' from='ix.example' to='root-alias.example'/>");
    assert_eq!(stanzas(&raw.events).len(), 1, "any served domain is fine");
    raw.feed("<iq type='get' id='2' from='ix.example' to='other.example'/>");
    assert_eq!(raw.error(), Some(Cond::HostUnknown));
}

#[test]
fn stanza_without_from_is_improper_addressing() {
    let mut raw = Raw::authenticated();
    raw.feed("<presence to='root1.icroot.example'/>");
    assert_eq!(raw.error(), Some(Cond::ImproperAddressing));
}

#[test]
fn negotiation_timeout_is_connection_timeout() {
    let mut raw = Raw::new(None);
    raw.feed(IX_HEADER);
    let deadline = raw.recv.poll_timeout().unwrap();
    raw.recv.handle_timeout(deadline - Duration::from_millis(1));
    raw.drain();
    assert_eq!(raw.error(), None);
    raw.recv.handle_timeout(deadline);
    raw.drain();
    assert_eq!(raw.error(), Some(Cond::ConnectionTimeout));
    assert_eq!(raw.recv.poll_timeout(), None);
}

#[test]
fn timeout_before_any_header_still_writes_one() {
    let mut raw = Raw::new(None);
    raw.recv.handle_timeout(raw.now + Duration::from_secs(3600));
    raw.drain();
    assert_eq!(raw.error(), Some(Cond::ConnectionTimeout));
}

#[test]
fn db_verify_is_answered_by_the_authoritative_side() {
    let mut cfg = ReceiverConfig::new(vec![IX.to_owned()]);
    cfg.tls = TlsMode::DirectTls;
    cfg.dialback_secret = Some(IX_SECRET.to_owned());
    let mut raw = Raw::with_config(cfg, None);
    raw.feed(&IX_HEADER.replace(
        "from='ix.example' to='root1.icroot.example'",
        "from='root1.icroot.example' to='ix.example'",
    ));
    let key = dialback_key(IX_SECRET, ROOT, IX, "S1");
    raw.feed(&format!("<db:verify from='{ROOT}' to='{IX}' id='S1'>{key}</db:verify>"));
    assert!(
        raw.text().ends_with(&format!("<db:verify from='{IX}' to='{ROOT}' id='S1' type='valid'/>")),
        "{}",
        raw.text()
    );
    raw.feed(&format!("<db:verify from='{ROOT}' to='{IX}' id='S2'>{key}</db:verify>"));
    assert!(raw.text().ends_with("id='S2' type='invalid'/>"), "key bound to the stream id");
    assert_eq!(raw.error(), None);
}

#[test]
fn tls_bytes_after_starttls_are_handed_over() {
    let now = Instant::now();
    let mut recv = Receiver::new(root_config(TlsMode::StartTls), now);
    recv.handle_input(now, IX_HEADER.as_bytes());
    recv.handle_input(now, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01\x02");
    let events: Vec<_> = std::iter::from_fn(|| recv.poll_event()).collect();
    assert_eq!(events, vec![Event::StartTls { role: TlsRole::Server }]);
    recv.handle_input(now, b"\x00\x01");
    assert_eq!(recv.take_tls_bytes(), b"\x16\x03\x01\x02\x00\x01");
}

#[test]
fn initiator_refuses_server_certificate_for_another_domain() {
    let pki = Pki::new();
    let now = Instant::now();
    let mut init = Initiator::new(ix_config(TlsMode::DirectTls), now);
    assert_eq!(init.poll_event(), Some(Event::StartTls { role: TlsRole::Client }));
    let tls = TlsInfo { peer_certs: pki.issue("impostor.example").chain, chain_verified: true };
    init.handle_tls_established(now, tls);
    assert_eq!(
        init.poll_event(),
        Some(Event::Closed { reason: CloseReason::AuthFailed(AuthFailure::ServerCertificate) })
    );
    assert_eq!(init.poll_transmit(), None, "nothing is written in the clear");
}

#[test]
fn initiator_rejects_receiver_stanzas_without_bidi() {
    let now = Instant::now();
    let mut cfg = ix_config(TlsMode::DirectTls);
    cfg.want_bidi = false;
    let mut init = Initiator::new(cfg, now);
    let _ = init.poll_event();
    let pki = Pki::new();
    init.handle_tls_established(now, TlsInfo { peer_certs: pki.issue(ROOT).chain, chain_verified: true });
    let root_header = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
        from='root1.icroot.example' to='ix.example' id='s1' version='1.0'>";
    init.handle_input(now, root_header.as_bytes());
    init.handle_input(now, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>");
    init.handle_input(now, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    init.handle_input(now, root_header.replace("s1", "s2").as_bytes());
    init.handle_input(now, b"<stream:features/>");
    assert!(init.is_established());
    init.handle_input(now, b"<message from='root1.icroot.example' to='ix.example'/>");
    let out: Vec<u8> = std::iter::from_fn(|| init.poll_transmit()).flatten().collect();
    assert_eq!(stream_error_written(&out), Some(Cond::NotAuthorized));
}

#[test]
fn a_stanza_trickled_after_auth_is_bounded_by_the_idle_timeout() {
    let mut raw = Raw::authenticated();
    let idle = proto::s2s::Timeouts::default().idle;
    // One byte every second: each read is activity on the socket, but no stanza ever completes.
    let stanza =
        format!("<message from='{IX}' to='root1.icroot.example'><body>{}</body></message>", "x".repeat(400));
    let start = raw.now;
    for b in stanza.bytes().take(idle.as_secs() as usize + 5) {
        raw.now += Duration::from_secs(1);
        raw.recv.handle_input(raw.now, &[b]);
        raw.recv.handle_timeout(raw.now);
        raw.drain();
        if raw.error().is_some() {
            break;
        }
    }
    assert_eq!(raw.error(), Some(Cond::ConnectionTimeout));
    assert!(raw.now - start <= idle + Duration::from_secs(2), "closed after {:?}", raw.now - start);
}

#[test]
fn initiator_without_a_starttls_offer_closes_with_policy_violation() {
    let now = Instant::now();
    let mut init = Initiator::new(ix_config(TlsMode::StartTls), now);
    let root_header = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
        from='root1.icroot.example' to='ix.example' id='s1' version='1.0'>";
    init.handle_input(now, root_header.as_bytes());
    // Features in the clear without <starttls/>: the initiator never goes on without TLS.
    init.handle_input(now, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>");
    let out: Vec<u8> = std::iter::from_fn(|| init.poll_transmit()).flatten().collect();
    assert_eq!(stream_error_written(&out), Some(Cond::PolicyViolation));
    assert!(!String::from_utf8_lossy(&out).contains("<auth"), "no SASL in the clear");
}
