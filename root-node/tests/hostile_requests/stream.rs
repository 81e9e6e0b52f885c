//! Stream-level rows (docs/protocol.md §1.2, §2.2, §2.3, §2.8) against a running root node: each
//! bad input on its own connection, before authentication (plain TCP on the STARTTLS port) or
//! after it (a `RawPeer`), and the exact stream error the root ends the stream with.

use proto::error::StreamErrorCondition as Cond;
use proto::xml::Limits;

use crate::raw_peer::{one_shot, one_shot_within, RawPeer};
use crate::solo_root::{SoloRoot, ROOT};

const EX: &str = "ex-a.lan";

fn header(attrs: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
         xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' {attrs}>"
    )
}

/// A well-formed header from an unknown domain to the root.
fn hdr() -> String {
    header(&format!("from='m.evil.lan' to='{ROOT}' version='1.0'"))
}

/// Run every case on a fresh plain connection and check its condition (and text, if given).
async fn pre_auth(root: &SoloRoot, cases: Vec<(&str, Vec<u8>, Cond, Option<String>)>) {
    for (name, bytes, want, text) in cases {
        let got = one_shot(root.starttls, &bytes).await;
        assert_eq!(got.condition, want, "{name}: {got:?}");
        if let Some(t) = text {
            assert!(got.text.as_deref().unwrap_or_default().contains(&t), "{name}: {got:?}");
        }
    }
}

/// §1.2 before authentication: every row of the reader's table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_2_bad_xml_before_authentication() {
    let root = SoloRoot::start(|z| z).await;
    let h = hdr();
    let b = |s: String| s.into_bytes();
    let pre = Limits::PRE_AUTH;
    let cases = vec![
        ("dtd", b("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>".into()), Cond::RestrictedXml, None),
        ("dtd-in-stream", b(format!("{h}<!DOCTYPE x>")), Cond::RestrictedXml, None),
        ("comment", b(format!("{h}<!-- hi -->")), Cond::RestrictedXml, None),
        ("processing-instruction", b(format!("{h}<?evil x?>")), Cond::RestrictedXml, None),
        ("entity-reference", b(format!("{h}<iq>&custom;</iq>")), Cond::RestrictedXml, None),
        (
            "encoding",
            b(format!("<?xml version='1.0' encoding='ISO-8859-1'?>{}", &h["<?xml version='1.0'?>".len()..])),
            Cond::UnsupportedEncoding,
            None,
        ),
        ("not-utf8", [h.as_bytes(), b"<iq>\xff\xfe</iq>"].concat(), Cond::NotWellFormed, None),
        ("u+0001", b(format!("{h}<iq>\u{1}</iq>")), Cond::NotWellFormed, None),
        ("char-ref-0", b(format!("{h}<iq>&#0;</iq>")), Cond::NotWellFormed, None),
        ("mismatched-tags", b(format!("{h}<iq><a></b></iq>")), Cond::NotWellFormed, None),
        ("duplicate-attribute", b(format!("{h}<iq a='1' a='2'/>")), Cond::NotWellFormed, None),
        ("text-before-header", b(format!("hello{h}")), Cond::NotWellFormed, None),
        ("text-between-stanzas", b(format!("{h}hello")), Cond::NotWellFormed, None),
        (
            "header-not-stream",
            b(format!(
                "<?xml version='1.0'?><stream:foo xmlns='jabber:server' \
                 xmlns:stream='http://etherx.jabber.org/streams' to='{ROOT}' version='1.0'>"
            )),
            Cond::InvalidNamespace,
            None,
        ),
        (
            "header-wrong-streams-ns",
            b(format!(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
                 xmlns:stream='urn:not-streams' to='{ROOT}' version='1.0'>"
            )),
            Cond::InvalidNamespace,
            None,
        ),
        ("undeclared-prefix", b(format!("{h}<x:iq/>")), Cond::BadNamespacePrefix, None),
        (
            "stanza-over-limit",
            b(format!("{h}<iq>{}</iq>", "x".repeat(pre.max_stanza_bytes + 1))),
            Cond::PolicyViolation,
            Some(format!("stanza larger than {} bytes", pre.max_stanza_bytes)),
        ),
        (
            "nesting-over-limit",
            b(format!("{h}{}", "<a>".repeat(pre.max_depth + 1))),
            Cond::PolicyViolation,
            None,
        ),
    ];
    pre_auth(&root, cases).await;
    root.shutdown().await;
}

/// §2.2 (stream header checks) and §2.3 (what comes before TLS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_2_and_2_3_bad_headers_and_stanzas_before_tls() {
    let root = SoloRoot::start(|z| z).await;
    let h = hdr();
    let b = |s: String| s.into_bytes();
    let sasl = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>";
    let db = format!("<db:result from='m.evil.lan' to='{ROOT}'>abcd</db:result>");
    let cases = vec![
        (
            "content-namespace",
            b(format!("<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' from='m.evil.lan' to='{ROOT}' version='1.0'>")),
            Cond::InvalidNamespace,
            None,
        ),
        ("no-from", b(header(&format!("to='{ROOT}' version='1.0'"))), Cond::ImproperAddressing, None),
        ("no-to", b(header("from='m.evil.lan' version='1.0'")), Cond::ImproperAddressing, None),
        ("to-not-served", b(header("from='m.evil.lan' to='other.lan' version='1.0'")), Cond::HostUnknown, None),
        ("no-version", b(header(&format!("from='m.evil.lan' to='{ROOT}'"))), Cond::UnsupportedVersion, None),
        (
            "version-2",
            b(header(&format!("from='m.evil.lan' to='{ROOT}' version='2.0'"))),
            Cond::UnsupportedVersion,
            None,
        ),
        ("auth-before-tls", b(format!("{h}{sasl}")), Cond::PolicyViolation, None),
        ("dialback-before-tls", b(format!("{h}{db}")), Cond::PolicyViolation, None),
        ("iq-before-tls", b(format!("{h}<iq type='get' id='1' from='m.evil.lan' to='{ROOT}'/>")), Cond::NotAuthorized, None),
        ("message-before-tls", b(format!("{h}<message from='m.evil.lan' to='{ROOT}'/>")), Cond::NotAuthorized, None),
        ("presence-before-tls", b(format!("{h}<presence from='m.evil.lan' to='{ROOT}'/>")), Cond::NotAuthorized, None),
        ("other-before-tls", b(format!("{h}<hello xmlns='urn:x'/>")), Cond::UnsupportedStanzaType, None),
    ];
    pre_auth(&root, cases).await;
    root.shutdown().await;
}

/// §1.2 and §2.8 after authentication: each case on a freshly authenticated stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_2_and_2_8_bad_input_on_an_authenticated_stream() {
    let root = SoloRoot::start(|z| z).await;
    let post = Limits::POST_AUTH;
    let iq = |attrs: &str| format!("<iq type='get' id='x' {attrs}><ping xmlns='urn:xmpp:ping'/></iq>");
    let cases: Vec<(&str, String, Cond, Option<String>)> = vec![
        ("dtd", "<!DOCTYPE x>".into(), Cond::RestrictedXml, None),
        (
            "comment",
            format!("<iq type='get' id='c' from='{EX}' to='{ROOT}'><!-- x --></iq>"),
            Cond::RestrictedXml,
            None,
        ),
        ("processing-instruction", "<?evil x?>".into(), Cond::RestrictedXml, None),
        (
            "entity-reference",
            format!("<iq type='get' id='e' from='{EX}' to='{ROOT}'>&custom;</iq>"),
            Cond::RestrictedXml,
            None,
        ),
        (
            "u+0001",
            format!("<message from='{EX}' to='{ROOT}'><body>\u{1}</body></message>"),
            Cond::NotWellFormed,
            None,
        ),
        ("mismatched-tags", "<iq><a></b></iq>".into(), Cond::NotWellFormed, None),
        ("text-between-stanzas", "hello".into(), Cond::NotWellFormed, None),
        ("undeclared-prefix", "<x:iq/>".into(), Cond::BadNamespacePrefix, None),
        (
            "stanza-over-limit",
            format!(
                "<message from='{EX}' to='{ROOT}'><body>{}</body></message>",
                "x".repeat(post.max_stanza_bytes)
            ),
            Cond::PolicyViolation,
            Some(format!("stanza larger than {} bytes", post.max_stanza_bytes)),
        ),
        ("nesting-over-limit", "<a>".repeat(post.max_depth + 1), Cond::PolicyViolation, None),
        ("no-from", iq(&format!("to='{ROOT}'")), Cond::ImproperAddressing, None),
        ("empty-from", iq(&format!("from='' to='{ROOT}'")), Cond::ImproperAddressing, None),
        ("no-to", iq(&format!("from='{EX}'")), Cond::ImproperAddressing, None),
        ("from-other-domain", iq(&format!("from='ex-b.lan' to='{ROOT}'")), Cond::NotAuthorized, None),
        ("to-not-served", iq(&format!("from='{EX}' to='elsewhere.lan'")), Cond::HostUnknown, None),
        (
            "other-top-level-element",
            "<hello xmlns='jabber:server'/>".into(),
            Cond::UnsupportedStanzaType,
            None,
        ),
    ];
    for (name, bytes, want, text) in cases {
        let peer = RawPeer::connect(root.direct_tls, &root.ca, EX, ROOT).await;
        let got = peer.stream_error(bytes).await;
        assert_eq!(got.condition, want, "{name}: {got:?}");
        if let Some(t) = text {
            assert!(got.text.as_deref().unwrap_or_default().contains(&t), "{name}: {got:?}");
        }
    }
    root.shutdown().await;
}

/// §2.8: a connection that never authenticates is closed at the root's 30 s negotiation bound
/// (the default; roots do not configure it), with `connection-timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_8_no_authentication_within_30_s_gets_connection_timeout() {
    /// The bound of docs/protocol.md §2.8, and how late the close may come on a loaded machine.
    const NEGOTIATION: std::time::Duration = std::time::Duration::from_secs(30);
    const SLACK: std::time::Duration = std::time::Duration::from_secs(5);
    let root = SoloRoot::start(|z| z).await;
    let started = std::time::Instant::now();
    // A header and then silence: the stream is open, nothing else comes.
    let got = one_shot_within(root.starttls, hdr().as_bytes(), NEGOTIATION + SLACK).await;
    assert_eq!(got.condition, Cond::ConnectionTimeout, "{got:?}");
    assert!(started.elapsed() >= NEGOTIATION, "closed early: {:?}", started.elapsed());
    root.shutdown().await;
}
