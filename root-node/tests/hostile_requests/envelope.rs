//! Envelope rows (docs/protocol.md §4.4) against a running root node: malformed iq, message and
//! presence stanzas on an authenticated stream, and the error each gets (or that it gets none).
//! `from`/`to` rows are stream errors on S2S (§2.8 applies before the envelope is parsed); they
//! are in `stream.rs`.

use proto::error::{StanzaErrorCondition as C, StanzaErrorType as Ty};
use proto::xml::Element;

use crate::raw_peer::{stanza_error, Next, RawPeer, T};
use crate::solo_root::{SoloRoot, ROOT};

const A: &str = "ex-a.lan";

/// The next stanza that is not presence (the root may send presence at any time).
async fn next_answer(peer: &mut RawPeer) -> Element {
    loop {
        match peer.next(T).await {
            Some(Next::Stanza(el)) if el.name() == "presence" && el.attr("type") != Some("error") => continue,
            Some(Next::Stanza(el)) => return el,
            other => panic!("no answer: {other:?}"),
        }
    }
}

fn assert_bad_request(name: &str, answer: &Element, stanza: &str) {
    assert_eq!(answer.name(), stanza, "{name}: answered with {answer}");
    let e = stanza_error(answer);
    assert_eq!((e.condition, e.kind), (C::BadRequest, Ty::Modify), "{name}: {answer}");
    assert_eq!(answer.attr("to"), Some(A), "{name}: {answer}");
    assert_eq!(answer.attr("from"), Some(ROOT), "{name}: {answer}");
}

/// iq rows that are answered `bad-request`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_4_malformed_iq_requests_get_bad_request() {
    let root = SoloRoot::start(|z| z).await;
    let mut a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    let ping = "<ping xmlns='urn:xmpp:ping'/>";
    let cases = [
        ("no-id", None, format!("<iq type='get' from='{A}' to='{ROOT}'>{ping}</iq>")),
        ("no-type", Some("t1"), format!("<iq id='t1' from='{A}' to='{ROOT}'>{ping}</iq>")),
        ("unknown-type", Some("t2"), format!("<iq type='fetch' id='t2' from='{A}' to='{ROOT}'>{ping}</iq>")),
        ("no-payload", Some("t3"), format!("<iq type='get' id='t3' from='{A}' to='{ROOT}'/>")),
        (
            "two-payloads",
            Some("t4"),
            format!("<iq type='get' id='t4' from='{A}' to='{ROOT}'>{ping}{ping}</iq>"),
        ),
    ];
    for (name, id, stanza) in cases {
        a.send(&stanza).await;
        let answer = next_answer(&mut a).await;
        assert_bad_request(name, &answer, "iq");
        assert_eq!(answer.attr("id"), id, "{name}: {answer}");
    }
    root.shutdown().await;
}

/// message and presence rows that are answered `bad-request` (in a stanza of the same name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_4_malformed_message_and_presence_get_bad_request() {
    let root = SoloRoot::start(|z| z).await;
    let mut a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    let err = "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>";
    let cases = [
        (
            "message",
            "message-error-child",
            format!("<message type='chat' id='m1' from='{A}' to='{ROOT}'>{err}</message>"),
        ),
        (
            "presence",
            "presence-error-child",
            format!("<presence id='p1' from='{A}' to='{ROOT}'>{err}</presence>"),
        ),
        (
            "presence",
            "presence-unknown-type",
            format!("<presence type='lurking' id='p2' from='{A}' to='{ROOT}'/>"),
        ),
        (
            "presence",
            "presence-unknown-show",
            format!("<presence id='p3' from='{A}' to='{ROOT}'><show>busy</show></presence>"),
        ),
        (
            "presence",
            "presence-priority-range",
            format!("<presence id='p4' from='{A}' to='{ROOT}'><priority>128</priority></presence>"),
        ),
        (
            "presence",
            "presence-status-too-long",
            format!(
                "<presence id='p5' from='{A}' to='{ROOT}'><status>{}</status></presence>",
                "s".repeat(1025)
            ),
        ),
    ];
    for (stanza_name, name, stanza) in cases {
        a.send(&stanza).await;
        let answer = next_answer(&mut a).await;
        assert_bad_request(name, &answer, stanza_name);
    }
    root.shutdown().await;
}

/// Rows that are never answered: an iq result with several children, and error stanzas without
/// `<error/>`. A ping after them is answered first (the fence); nothing else comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_4_results_and_errors_are_never_answered() {
    let root = SoloRoot::start(|z| z).await;
    let mut a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    let cases = [
        format!("<iq type='result' id='r1' from='{A}' to='{ROOT}'><a xmlns='urn:x'/><b xmlns='urn:x'/></iq>"),
        format!("<iq type='error' id='r2' from='{A}' to='{ROOT}'/>"),
        format!("<message type='error' id='r3' from='{A}' to='{ROOT}'/>"),
        format!("<presence type='error' id='r4' from='{A}' to='{ROOT}'/>"),
    ];
    for stanza in &cases {
        a.send(stanza).await;
    }
    let before = a.fence().await;
    assert!(before.is_empty(), "answered: {before:?}");
    // Handlers run concurrently, so also give a late answer a moment to show up.
    assert!(a.next(std::time::Duration::from_millis(500)).await.is_none(), "a late answer");
    root.shutdown().await;
}
