//! Rows of docs/protocol.md §6 (ping, disco, pubsub watch, presence payloads) and §3.10 (Raft
//! RPC errors the serving node answers) against a running root node.

use std::time::Duration;

use proto::error::{StanzaErrorCondition as C, StanzaErrorType as Ty};
use proto::stanza::registry::RegistryError as E;

use crate::raw_peer::{stanza_error, Next, RawPeer, T};
use crate::solo_root::{SoloRoot, ROOT};

const A: &str = "ex-a.lan";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const RAFT: &str = "urn:xmpp:raft";
const EXT: &str = "https://ns.icroot.dev/raft-ext/0";
const CLUSTER: &str = "icroot-test";

async fn scene() -> (SoloRoot, RawPeer) {
    let root = SoloRoot::start(|z| z).await;
    let a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    (root, a)
}

async fn condition(peer: &mut RawPeer, kind: &str, payload: &str) -> (C, Ty) {
    let e = stanza_error(&peer.iq(kind, payload).await);
    (e.condition, e.kind)
}

/// §6.1: anything but `<ping/>` in a get is not a ping; the router has no service for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_1_not_a_ping_gets_service_unavailable() {
    let (root, mut a) = scene().await;
    for (kind, payload) in [
        ("get", "<pong xmlns='urn:xmpp:ping'/>"),
        ("set", "<ping xmlns='urn:xmpp:ping'/>"),
        ("get", "<query xmlns='jabber:iq:version'/>"),
    ] {
        assert_eq!(condition(&mut a, kind, payload).await.0, C::ServiceUnavailable, "{kind} {payload}");
    }
    root.shutdown().await;
}

/// §6.2: a disco#info query for a node the root does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_2_disco_info_for_an_unknown_node_gets_item_not_found() {
    let (root, mut a) = scene().await;
    let q = "<query xmlns='http://jabber.org/protocol/disco#info' node='no-such-node'/>";
    assert_eq!(condition(&mut a, "get", q).await, (C::ItemNotFound, Ty::Cancel));
    root.shutdown().await;
}

/// §6.2: a disco#items query for a node the root does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_2_disco_items_for_an_unknown_node_gets_item_not_found() {
    let (root, mut a) = scene().await;
    let q = "<query xmlns='http://jabber.org/protocol/disco#items' node='no-such-node'/>";
    assert_eq!(condition(&mut a, "get", q).await, (C::ItemNotFound, Ty::Cancel));
    root.shutdown().await;
}

fn pubsub(inner: &str) -> String {
    format!("<pubsub xmlns='{PUBSUB}'>{inner}</pubsub>")
}

/// §6.3 rows answered `bad-request`, and §4.4's `jid-malformed` for the subscribe `jid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_3_malformed_subscriptions_get_bad_request() {
    let (root, mut a) = scene().await;
    let watch = |attrs: &str| {
        pubsub(&format!(
            "<subscribe node='registry' jid='{A}'/><watch xmlns='https://ns.icroot.dev/registry/0' {attrs}/>"
        ))
    };
    let cases = [
        ("neither", pubsub("")),
        ("subscribe-no-node", pubsub(&format!("<subscribe jid='{A}'/>"))),
        ("subscribe-no-jid", pubsub("<subscribe node='registry'/>")),
        ("unsubscribe-no-node", pubsub(&format!("<unsubscribe jid='{A}'/>"))),
        ("unsubscribe-no-jid", pubsub("<unsubscribe node='registry'/>")),
        ("since-revision", watch("since-revision='ten'")),
        ("since-revision-negative", watch("since-revision='-1'")),
        ("prefix-too-long", watch(&format!("prefix='{}'", "p".repeat(254)))),
    ];
    for (name, payload) in cases {
        assert_eq!(condition(&mut a, "set", &payload).await, (C::BadRequest, Ty::Modify), "{name}");
    }
    let other = stanza_error(&a.iq("set", &pubsub("<subscribe node='registry' jid='ex-b.lan'/>")).await);
    assert_eq!(other.condition, C::BadRequest);
    let app = other.app.expect("an application condition");
    assert!(app.is("invalid-jid", "http://jabber.org/protocol/pubsub#errors"), "{app}");
    let bad = condition(&mut a, "set", &pubsub("<subscribe node='registry' jid='@'/>")).await;
    assert_eq!(bad, (C::JidMalformed, Ty::Modify));
    root.shutdown().await;
}

/// §6.3: subscribing to a node that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_3_unknown_node_gets_item_not_found() {
    let (root, mut a) = scene().await;
    let payload = pubsub(&format!("<subscribe node='no-such-node' jid='{A}'/>"));
    assert_eq!(condition(&mut a, "set", &payload).await, (C::ItemNotFound, Ty::Cancel));
    root.shutdown().await;
}

/// §6.3 and §5.7: resuming a watch from a revision the root no longer keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_3_resume_from_a_compacted_revision_gets_revision_compacted() {
    let root = SoloRoot::start_with("change_retention = 2", |z| z).await;
    let mut a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    let r = "https://ns.icroot.dev/registry/0";
    let reg = a.iq("set", &format!("<register-exchange xmlns='{r}' organisation='O'/>")).await;
    assert_eq!(reg.attr("type"), Some("result"), "{reg}");
    for i in 0..5 {
        let up = a.iq("set", &format!("<update-exchange xmlns='{r}' organisation='O{i}'/>")).await;
        assert_eq!(up.attr("type"), Some("result"), "{up}");
    }
    let payload =
        pubsub(&format!("<subscribe node='registry' jid='{A}'/><watch xmlns='{r}' since-revision='0'/>"));
    let e = stanza_error(&a.iq("set", &payload).await);
    assert_eq!((e.condition, e.kind), (C::ItemNotFound, Ty::Cancel));
    assert!(matches!(E::from_stanza_error(&e), E::RevisionCompacted { oldest } if oldest > 0), "{e:?}");
    root.shutdown().await;
}

/// §6.4: presence with a broken `<raft-role/>` is never answered with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_4_bad_raft_role_payload_is_ignored_without_an_error() {
    let (root, mut a) = scene().await;
    let role = "https://ns.icroot.dev/registry/0";
    for attrs in [
        "term='1' node-id='9'",
        "role='leader' node-id='9'",
        "role='leader' term='1'",
        "role='boss' term='x' node-id='y'",
    ] {
        a.send(format!("<presence from='{A}' to='{ROOT}'><raft-role xmlns='{role}' {attrs}/></presence>"))
            .await;
    }
    let before = a.fence().await;
    assert!(before.iter().all(|s| s.attr("type") != Some("error")), "{before:?}");
    match a.next(Duration::from_millis(500)).await {
        None => {}
        Some(Next::Stanza(s)) => assert_ne!(s.attr("type"), Some("error"), "{s}"),
        Some(other) => panic!("{other:?}"),
    }
    root.shutdown().await;
}

/// §3.10 (with §3.8): Raft payloads the serving node refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_10_bad_raft_requests_get_bad_request_or_unexpected_request() {
    let (root, mut a) = scene().await;
    let ext = format!("<ext xmlns='{EXT}' leader='9' committed='false'/>");
    let vote_req = |cluster: &str, ext: &str| {
        format!("<request-vote xmlns='{RAFT}' term='1' last-log-term='0' last-log-index='0' cluster='{cluster}'>{ext}</request-vote>")
    };
    let cases = [
        ("missing-term", format!("<request-vote xmlns='{RAFT}' cluster='{CLUSTER}'>{ext}</request-vote>"), C::BadRequest),
        ("bad-number", vote_req(CLUSTER, &ext).replace("term='1'", "term='-1'"), C::BadRequest),
        ("wrong-cluster", vote_req("other-cluster", &ext), C::BadRequest),
        ("no-ext", vote_req(CLUSTER, ""), C::BadRequest),
        (
            "response-as-request",
            format!("<vote xmlns='{RAFT}' term='1' vote-granted='true' cluster='{CLUSTER}'><ext xmlns='{EXT}' leader='9' committed='false'/></vote>"),
            C::UnexpectedRequest,
        ),
    ];
    for (name, payload, want) in cases {
        assert_eq!(condition(&mut a, "set", &payload).await.0, want, "{name}");
    }
    // The XEP's message form: the error comes back as a message.
    a.send(format!("<message id='rm' from='{A}' to='{ROOT}'>{}</message>", vote_req("other-cluster", &ext)))
        .await;
    let answer = loop {
        match a.next(T).await {
            Some(Next::Stanza(s)) if s.attr("id") == Some("rm") => break s,
            Some(Next::Stanza(_)) => continue,
            other => panic!("no answer to the message: {other:?}"),
        }
    };
    assert_eq!(answer.name(), "message", "{answer}");
    assert_eq!(stanza_error(&answer).condition, C::BadRequest);
    root.shutdown().await;
}

/// The Exchange record's `lease-expires`, read from the root.
async fn lease_end(peer: &mut RawPeer, domain: &str) -> Option<u64> {
    let r = "https://ns.icroot.dev/registry/0";
    let got = peer.iq("get", &format!("<get-exchange xmlns='{r}' domain='{domain}'/>")).await;
    let end = got.children().next().and_then(|x| x.attr("lease-expires")).map(|v| v.parse().unwrap());
    end
}

/// §6.4: presence that is not a lease renewal for this node changes nothing and is never
/// answered: `<lease/>` in another namespace, from a domain without a record, addressed to
/// another address than the node's bare domain; `<exchange-unavailable/>` without a domain.
/// A proper `<lease/>` then does renew (the control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_4_presence_that_is_not_a_renewal_is_ignored() {
    let (root, mut a) = scene().await;
    let mut b = RawPeer::connect(root.direct_tls, &root.ca, "ex-b.lan", ROOT).await;
    let r = "https://ns.icroot.dev/registry/0";
    let reg = a.iq("set", &format!("<register-exchange xmlns='{r}' organisation='O' lease-ttl='60'/>")).await;
    assert_eq!(reg.attr("type"), Some("result"), "{reg}");
    let before = lease_end(&mut a, A).await.unwrap();
    for p in [
        format!("<presence from='{A}' to='{ROOT}'><lease xmlns='urn:not-the-registry'/></presence>"),
        format!("<presence from='{A}' to='someone@{ROOT}'><lease xmlns='{r}'/></presence>"),
        format!("<presence from='{A}' to='{ROOT}/res'><lease xmlns='{r}'/></presence>"),
        format!("<presence type='unavailable' from='{A}' to='{ROOT}'><exchange-unavailable xmlns='{r}'/></presence>"),
    ] {
        a.send(p).await;
    }
    b.send(format!("<presence from='ex-b.lan' to='{ROOT}'><lease xmlns='{r}'/></presence>")).await;
    for peer in [&mut a, &mut b] {
        let before_pong = peer.fence().await;
        assert!(before_pong.iter().all(|s| s.attr("type") != Some("error")), "{before_pong:?}");
        match peer.next(Duration::from_millis(500)).await {
            None => {}
            Some(Next::Stanza(s)) => assert_ne!(s.attr("type"), Some("error"), "{s}"),
            Some(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(lease_end(&mut a, A).await, Some(before), "an ignored presence renewed the lease");
    assert_eq!(lease_end(&mut b, "ex-b.lan").await, None, "a lease presence created a record");
    // Control: the proper heartbeat renews (asynchronously, so poll within a bound).
    a.send(format!("<presence from='{A}' to='{ROOT}'><lease xmlns='{r}'/></presence>")).await;
    let deadline = tokio::time::Instant::now() + T;
    while lease_end(&mut a, A).await == Some(before) {
        assert!(tokio::time::Instant::now() < deadline, "the lease heartbeat did not renew");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    root.shutdown().await;
}

/// §6.3: one subscription more than the node serves (1024: 128 domains × their 8 each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_3_a_subscription_over_the_node_limit_gets_too_many_subscriptions() {
    let root = SoloRoot::start(|z| z).await;
    // docs/protocol.md §6.3: 1024 per node, 8 per domain (a ninth replaces the oldest).
    let (total, per_domain) = (1024, 8);
    let mut watchers = Vec::new();
    for d in 0..total / per_domain {
        let domain = format!("w{d}.lan");
        let mut w = RawPeer::connect(root.direct_tls, &root.ca, &domain, ROOT).await;
        for _ in 0..per_domain {
            let got = w.iq("set", &pubsub(&format!("<subscribe node='registry' jid='{domain}'/>"))).await;
            assert_eq!(got.attr("type"), Some("result"), "{got}");
        }
        watchers.push(w);
    }
    let mut late = RawPeer::connect(root.direct_tls, &root.ca, "late.lan", ROOT).await;
    let e = stanza_error(&late.iq("set", &pubsub("<subscribe node='registry' jid='late.lan'/>")).await);
    assert_eq!((e.condition, e.kind), (C::PolicyViolation, Ty::Cancel), "{e:?}");
    let app = e.app.expect("an application condition");
    assert!(app.is("too-many-subscriptions", "http://jabber.org/protocol/pubsub#errors"), "{app}");
    root.shutdown().await;
}
