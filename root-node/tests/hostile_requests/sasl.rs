//! Negotiation rows after TLS (docs/protocol.md §2.2 restart header, §2.5 SASL EXTERNAL, §2.6
//! dialback not offered, §2.8 stanza before authentication) against a running root node, driven
//! by hand over direct TLS: the exact `<failure/>` or stream error for each.

use base64::Engine as _;
use proto::error::StreamErrorCondition as Cond;
use proto::xml::Element;

use crate::raw_peer::RawPeer;
use crate::solo_root::{SoloRoot, ROOT};

const A: &str = "ex-a.lan";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

fn header(from: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
         xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
         from='{from}' to='{ROOT}' version='1.0'>"
    )
}

fn auth(mechanism: &str, text: &str) -> String {
    format!("<auth xmlns='{SASL}' mechanism='{mechanism}'>{text}</auth>")
}

/// Open a stream over TLS presenting a certificate for `cert` and claiming `from`; return the
/// peer and whether the features offer EXTERNAL.
async fn opened(root: &SoloRoot, cert: &str, from: &str) -> (RawPeer, bool) {
    let mut p = RawPeer::tls_only(root.direct_tls, &root.ca, cert, ROOT).await;
    p.send(header(from)).await;
    let features = p.element().await;
    assert_eq!(features.name(), "features", "{features}");
    let external =
        features.child("mechanisms", SASL).is_some_and(|m| m.children().any(|c| c.text() == "EXTERNAL"));
    (p, external)
}

/// The SASL failure condition in `el`.
fn failure(el: &Element) -> String {
    assert!(el.is("failure", SASL), "expected a SASL failure: {el}");
    el.children().next().map(|c| c.name().to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_5_sasl_refusals() {
    let root = SoloRoot::start(|z| z).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cases = [
        ("invalid-mechanism", A, auth("PLAIN", "AGEAYg==")),
        ("incorrect-encoding", A, auth("EXTERNAL", "***")),
        ("invalid-authzid", A, auth("EXTERNAL", &b64("ex-b.lan"))),
        ("not-authorized", "ex-b.lan", auth("EXTERNAL", "=")),
    ];
    for (want, from, bytes) in cases {
        let (mut p, external) = opened(&root, A, from).await;
        assert_eq!(external, from == A, "{want}: EXTERNAL offered only when the certificate names from");
        p.send(bytes).await;
        assert_eq!(failure(&p.element().await), want);
    }
    // The third failure on one stream also ends it.
    let (mut p, _) = opened(&root, A, A).await;
    for _ in 0..2 {
        p.send(auth("PLAIN", "AGEAYg==")).await;
        assert_eq!(failure(&p.element().await), "invalid-mechanism");
    }
    let err = p.stream_error(auth("PLAIN", "AGEAYg==")).await;
    assert_eq!(err.condition, Cond::PolicyViolation, "{err:?}");
    root.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_2_restart_naming_other_domains_and_s2_8_stanza_before_auth() {
    let root = SoloRoot::start(|z| z).await;
    let (mut p, _) = opened(&root, A, A).await;
    p.send(auth("EXTERNAL", "=")).await;
    let success = p.element().await;
    assert!(success.is("success", SASL), "{success}");
    p.restart_reader();
    let err = p.stream_error(header("ex-b.lan")).await;
    assert_eq!(err.condition, Cond::NotAuthorized, "restart from another domain: {err:?}");

    let (p, _) = opened(&root, A, A).await;
    let err = p
        .stream_error(format!(
            "<iq type='get' id='1' from='{A}' to='{ROOT}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
    assert_eq!(err.condition, Cond::NotAuthorized, "stanza before SASL: {err:?}");

    // §2.6: the root offers no dialback (the default for roots), so a request for it is refused.
    let (p, _) = opened(&root, A, A).await;
    let err = p.stream_error(format!("<db:result from='{A}' to='{ROOT}'>abcd</db:result>")).await;
    assert_eq!(err.condition, Cond::UnsupportedStanzaType, "dialback not offered: {err:?}");
    root.shutdown().await;
}
