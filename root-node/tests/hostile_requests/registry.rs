//! Registry rows (docs/protocol.md §5, table §5.7, bounds §5.1) against a running root node:
//! raw requests from an authenticated Exchange stream, and the exact RFC 6120 condition, error
//! type and registry application element of each refusal.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proto::error::{StanzaErrorCondition as C, StanzaErrorType as Ty};
use proto::stanza::registry::{RecordKind, RegistryError as E};

use crate::raw_peer::{stanza_error, RawPeer, T};
use crate::solo_root::{node_domain, SoloRoot, ADMIN, ADMIN2, ROOT};

const R: &str = "https://ns.icroot.dev/registry/0";
const A: &str = "ex-a.lan";
const B: &str = "ex-b.lan";

/// Send a request and return the refusal: condition, type and the registry error it carries.
async fn refusal(peer: &mut RawPeer, kind: &str, payload: &str) -> (C, Ty, E) {
    let answer = peer.iq(kind, payload).await;
    assert_eq!(answer.attr("to"), Some(peer.domain.as_str()), "{answer}");
    let e = stanza_error(&answer);
    let app = E::from_stanza_error(&e);
    assert!(!matches!(app, E::Other(_)), "no registry application element: {answer}");
    (e.condition, e.kind, app)
}

/// A request that must succeed.
async fn ok(peer: &mut RawPeer, kind: &str, payload: &str) -> proto::xml::Element {
    let answer = peer.iq(kind, payload).await;
    assert_eq!(answer.attr("type"), Some("result"), "{payload} refused: {answer}");
    let payload = answer.children().next().cloned();
    payload.unwrap_or_else(|| panic!("empty result: {answer}"))
}

fn register(attrs: &str, body: &str) -> String {
    format!("<register-exchange xmlns='{R}' organisation='Org' {attrs}>{body}</register-exchange>")
}

async fn scene() -> (SoloRoot, RawPeer, RawPeer) {
    let root = SoloRoot::start(|z| z).await;
    let a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    let b = RawPeer::connect(root.direct_tls, &root.ca, B, ROOT).await;
    (root, a, b)
}

/// §5.7 row 1 (and §5: wrong iq type, unknown children in R).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_malformed_requests_get_bad_request_malformed() {
    let (root, mut a, _b) = scene().await;
    let cases = [
        ("missing-attribute", "get", format!("<get-exchange xmlns='{R}'/>")),
        ("unparsable-number", "set", register("lease-ttl='ten'", "")),
        (
            "negative-number",
            "set",
            format!("<update-exchange xmlns='{R}' organisation='o' expected-revision='-1'/>"),
        ),
        ("unknown-element", "get", format!("<frobnicate xmlns='{R}'/>")),
        ("unknown-child", "set", register("", &format!("<colour xmlns='{R}'>red</colour>"))),
        ("read-in-set", "set", format!("<get-exchange xmlns='{R}' domain='{A}'/>")),
        ("write-in-get", "get", register("", "")),
    ];
    for (name, kind, payload) in cases {
        let (cond, ty, app) = refusal(&mut a, kind, &payload).await;
        assert_eq!((cond, ty), (C::BadRequest, Ty::Modify), "{name}: {app:?}");
        assert!(matches!(app, E::Malformed { .. }), "{name}: {app:?}");
    }
    root.shutdown().await;
}

/// §5.7 row 2 with the §5.1 bounds: `not-acceptable` + `<invalid-field name='…'/>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_1_fields_out_of_bounds_get_not_acceptable_invalid_field() {
    let (root, mut a, _b) = scene().await;
    let many = |tag: &str, n: usize| (0..n).map(|i| format!("<{tag}>v{i}</{tag}>")).collect::<String>();
    // `n` meta values of `len` bytes each (each within its own bound): over the 16 KiB record
    // bound when n × len is.
    let many_long = |n: usize, len: usize| {
        (0..n).map(|i| format!("<meta key='k{i}'>{}</meta>", "x".repeat(len))).collect::<String>()
    };
    let cases = [
        ("organisation", "set", format!("<register-exchange xmlns='{R}' organisation=''/>")),
        (
            "organisation",
            "set",
            format!("<register-exchange xmlns='{R}' organisation='{}'/>", "o".repeat(257)),
        ),
        ("lease-ttl", "set", register("lease-ttl='4'", "")),
        ("lease-ttl", "set", register("lease-ttl='86401'", "")),
        ("region", "set", register("", &format!("<region>{}</region>", "r".repeat(65)))),
        ("region", "set", register("", &many("region", 33))),
        ("endpoint", "set", register("", &format!("<endpoint>{}</endpoint>", "e".repeat(513)))),
        ("trust-anchor", "set", register("", "<trust-anchor>not-a-sha256</trust-anchor>")),
        ("capability", "set", register("", &format!("<capability>{}</capability>", "c".repeat(65)))),
        ("meta", "set", register("", "<meta key='k'>1</meta><meta key='k'>2</meta>")),
        ("id", "set", format!("<register-cloud xmlns='{R}' id='has space'/>")),
        ("limit", "get", format!("<search xmlns='{R}' limit='0'/>")),
        ("limit", "get", format!("<search xmlns='{R}' limit='201'/>")),
        ("domain", "get", format!("<get-exchange xmlns='{R}' domain='not_a_dns_name!'/>")),
        ("domain", "get", format!("<get-exchange xmlns='{R}' domain='{}.lan'/>", "l".repeat(64))),
        (
            "meta",
            "set",
            register("", &(0..65).map(|i| format!("<meta key='k{i}'>v</meta>")).collect::<String>()),
        ),
        ("record", "set", register("", &many_long(17, 1000))),
        (
            "trust-anchor",
            "set",
            register("", &"<trust-anchor>{}</trust-anchor>".replace("{}", &"ab".repeat(32)).repeat(17)),
        ),
        (
            "service",
            "set",
            format!(
                "<register-cloud xmlns='{R}' id='a/s'><service>{}</service></register-cloud>",
                "s".repeat(65)
            ),
        ),
        ("capability", "get", format!("<search xmlns='{R}' capability='{}'/>", "c".repeat(65))),
        ("prefix", "get", format!("<search xmlns='{R}' prefix='{}'/>", "p".repeat(254))),
        ("after", "get", format!("<search xmlns='{R}' after='{}'/>", "a".repeat(513))),
    ];
    for (field, kind, payload) in cases {
        let (cond, ty, app) = refusal(&mut a, kind, &payload).await;
        assert_eq!((cond, ty), (C::NotAcceptable, Ty::Modify), "{field}: {app:?}");
        match app {
            E::InvalidField { field: got, .. } => assert_eq!(got, field, "{payload}"),
            other => panic!("{field}: expected <invalid-field/>, got {other:?}"),
        }
    }
    // Nothing refused was written.
    let got = refusal(&mut a, "get", &format!("<get-exchange xmlns='{R}' domain='{A}'/>")).await;
    assert_eq!(got.2, E::NotFound { kind: RecordKind::Exchange, key: A.into() });
    root.shutdown().await;
}

/// §5.7 rows 3–5: revision mismatch, already registered, not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_conflicts_and_absent_records() {
    let (root, mut a, mut b) = scene().await;
    let x = ok(&mut a, "set", &register("", "")).await;
    let rev: u64 = x.attr("modified-revision").unwrap().parse().unwrap();
    let stale = format!("<update-exchange xmlns='{R}' organisation='O2' expected-revision='{}'/>", rev + 7);
    let got = refusal(&mut a, "set", &stale).await;
    assert_eq!(got, (C::Conflict, Ty::Cancel, E::RevisionMismatch { expected: rev + 7, actual: rev }));
    let got = refusal(&mut a, "set", &register("", "")).await;
    let exists = E::AlreadyRegistered { kind: RecordKind::Exchange, key: A.into() };
    assert_eq!(got, (C::Conflict, Ty::Cancel, exists));
    ok(&mut a, "set", &format!("<register-cloud xmlns='{R}' id='a/one'/>")).await;
    let got = refusal(&mut a, "set", &format!("<register-cloud xmlns='{R}' id='a/one'/>")).await;
    let exists = E::AlreadyRegistered { kind: RecordKind::Cloud, key: "a/one".into() };
    assert_eq!(got, (C::Conflict, Ty::Cancel, exists));

    let absent_x = E::NotFound { kind: RecordKind::Exchange, key: "gone.lan".into() };
    let absent_c = E::NotFound { kind: RecordKind::Cloud, key: "a/none".into() };
    let cases = [
        ("get", format!("<get-exchange xmlns='{R}' domain='gone.lan'/>"), &absent_x),
        ("get", format!("<get-cloud xmlns='{R}' id='a/none'/>"), &absent_c),
        ("set", format!("<update-cloud xmlns='{R}' id='a/none'/>"), &absent_c),
        ("set", format!("<deregister-cloud xmlns='{R}' id='a/none'/>"), &absent_c),
    ];
    for (kind, payload, want) in cases {
        let got = refusal(&mut a, kind, &payload).await;
        assert_eq!(got, (C::ItemNotFound, Ty::Cancel, want.clone()), "{payload}");
    }
    // ex-b has no record: its own update / deregister / renew find nothing. (Its stream is the
    // one `scene` opened: the root answers a domain on one of its links, not per connection.)
    let absent_b = E::NotFound { kind: RecordKind::Exchange, key: B.into() };
    for payload in [
        format!("<update-exchange xmlns='{R}' organisation='O'/>"),
        format!("<deregister-exchange xmlns='{R}'/>"),
        format!("<renew-lease xmlns='{R}'/>"),
    ] {
        let got = refusal(&mut b, "set", &payload).await;
        assert_eq!(got, (C::ItemNotFound, Ty::Cancel, absent_b.clone()), "{payload}");
    }
    root.shutdown().await;
}

/// §5.7 row 6: renewing after the lease ended. The leader's lease-expiry task removes the record
/// right at its end, so on a running root the answer is `<lease-expired/>` only in the moment
/// before that and `<not-found/>` after; both are `item-not-found`, and the renewal never revives
/// the record. (The `<lease-expired/>` decision itself: store `state_machine::
/// a_renewal_after_the_lease_ended_is_refused`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_renew_after_the_lease_ended_gets_item_not_found() {
    let (root, mut a, _b) = scene().await;
    let x = ok(&mut a, "set", &register("lease-ttl='5'", "")).await;
    let expires_ms: u64 = x.attr("lease-expires").unwrap().parse().unwrap();
    // Waiting for wall-clock time to pass the lease end (not a synchronisation): the root's
    // clock is this machine's clock.
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(expires_ms.saturating_sub(now_ms) + 50)).await;
    let (cond, ty, app) = refusal(&mut a, "set", &format!("<renew-lease xmlns='{R}'/>")).await;
    assert_eq!((cond, ty), (C::ItemNotFound, Ty::Cancel), "{app:?}");
    let gone = E::NotFound { kind: RecordKind::Exchange, key: A.into() };
    assert!(app == E::LeaseExpired { domain: A.into() } || app == gone, "{app:?}");
    // Not revived: the record is gone (at once, or after the expiry commit in flight).
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let got = a.iq("get", &format!("<get-exchange xmlns='{R}' domain='{A}'/>")).await;
        if got.attr("type") == Some("error") {
            assert_eq!(E::from_stanza_error(&stanza_error(&got)), gone);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the expired record is still there: {got}");
        // Bounded poll while the expiry commit is in flight.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    root.shutdown().await;
}

/// §5.7 rows 7–9: another Exchange's Cloud, acting for another domain, membership by a
/// non-admin, a Cloud before the Exchange record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_ownership_admin_and_registration_refusals() {
    let (root, mut a, mut b) = scene().await;
    ok(&mut a, "set", &register("", "")).await;
    ok(&mut a, "set", &format!("<register-cloud xmlns='{R}' id='a/one'/>")).await;
    let not_owner = (C::Forbidden, Ty::Cancel, E::NotOwner { owner: A.into() });
    for payload in [
        format!("<update-cloud xmlns='{R}' id='a/one'><service>x</service></update-cloud>"),
        format!("<deregister-cloud xmlns='{R}' id='a/one'/>"),
    ] {
        assert_eq!(refusal(&mut b, "set", &payload).await, not_owner, "{payload}");
    }
    let not_admin = (C::Forbidden, Ty::Cancel, E::NotAdmin);
    for (kind, payload) in [
        ("set", register(&format!("domain='{A}'"), "")),
        ("set", register("domain='ex-c.lan'", "")),
        ("set", format!("<update-exchange xmlns='{R}' organisation='O' domain='{A}'/>")),
        ("set", format!("<deregister-exchange xmlns='{R}' domain='{A}'/>")),
        ("set", format!("<renew-lease xmlns='{R}' domain='{A}'/>")),
        ("set", format!("<register-cloud xmlns='{R}' id='b/x' domain='{A}'/>")),
        ("set", format!("<add-learner xmlns='{R}' node-id='4' domain='{}'/>", node_domain(4))),
        ("set", format!("<promote xmlns='{R}' node-id='1'/>")),
        ("set", format!("<remove-member xmlns='{R}' node-id='1'/>")),
    ] {
        assert_eq!(refusal(&mut b, kind, &payload).await, not_admin, "{payload}");
    }
    let got = refusal(&mut b, "set", &format!("<register-cloud xmlns='{R}' id='b/x'/>")).await;
    assert_eq!(got, (C::RegistrationRequired, Ty::Auth, E::NotRegistered { domain: B.into() }));
    // The administrator may act for ex-a (control: the refusals above are about who asks).
    let mut admin = RawPeer::connect(root.direct_tls, &root.ca, ADMIN, ROOT).await;
    ok(&mut admin, "set", &format!("<update-exchange xmlns='{R}' organisation='By admin' domain='{A}'/>"))
        .await;
    root.shutdown().await;
}

/// §5.7 row 10: the Clouds-per-Exchange quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_cloud_quota_gets_resource_constraint_quota_exceeded() {
    let (root, mut a, _b) = scene().await;
    ok(&mut a, "set", &register("", "")).await;
    let max = proto::stanza::registry::bounds::MAX_CLOUDS_PER_EXCHANGE;
    for i in 0..max {
        ok(&mut a, "set", &format!("<register-cloud xmlns='{R}' id='a/{i}'/>")).await;
    }
    let got = refusal(&mut a, "set", &format!("<register-cloud xmlns='{R}' id='a/over'/>")).await;
    let want = E::QuotaExceeded { what: "clouds".into(), max: max as u64 };
    assert_eq!(got, (C::ResourceConstraint, Ty::Wait, want));
    root.shutdown().await;
}

/// §5.7 row 12: a follower that is itself asked to write on behalf of another member (a
/// forwarded request: no second hop) names the leader. (A forwarded linearizable read it can
/// serve itself, after asking the leader for its read index.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_forwarded_write_at_a_follower_gets_not_leader() {
    // Three voters, nodes 1 and 2 running: a quorum; the test speaks as member 3.
    let root = SoloRoot::cluster(3, &[1, 2], |z| z).await;
    let leader = root.wait_leader(|_| true).await;
    let (follower, follower_domain, follower_addr) = if leader == 1 {
        (&root.others[0].service, root.others[0].domain.clone(), root.others[0].direct_tls)
    } else {
        (&root.root, ROOT.to_owned(), root.direct_tls)
    };
    // The follower believes a forwarder only once it knows the membership (and the leader).
    follower
        .raft()
        .wait(Some(T))
        .metrics(
            |m| m.current_leader == Some(leader) && m.membership_config.membership().nodes().count() == 3,
            "the follower knows the leader and all three members",
        )
        .await
        .unwrap();
    let mut n3 = RawPeer::connect(follower_addr, &root.ca, &node_domain(3), &follower_domain).await;
    let fwd = format!(
        "<forwarded xmlns='{}' actor='{A}'><renew-lease xmlns='{R}'/></forwarded>",
        root_node::FORWARD_NS
    );
    let got = refusal(&mut n3, "set", &fwd).await;
    let want = E::NotLeader { leader: Some(node_domain(leader)) };
    assert_eq!(got, (C::ServiceUnavailable, Ty::Wait, want));
    root.shutdown().await;
}

/// §5.7 row 13: two voters, one running: nobody can lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_7_no_quorum_gets_service_unavailable_no_quorum() {
    let root = SoloRoot::cluster(2, &[1], |z| z).await;
    let mut a = RawPeer::connect(root.direct_tls, &root.ca, A, ROOT).await;
    for (kind, payload) in
        [("get", format!("<get-exchange xmlns='{R}' domain='{A}'/>")), ("set", register("", ""))]
    {
        assert_eq!(refusal(&mut a, kind, &payload).await, (C::ServiceUnavailable, Ty::Wait, E::NoQuorum));
    }
    root.shutdown().await;
}

/// §5.8: snapshot export refusals: a non-administrator, a fifth open export, a chunk longer than
/// `chunk-max`, an unknown export id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_8_snapshot_export_refusals() {
    const S: &str = "https://ns.icroot.dev/snapshot/0";
    let (root, mut a, _b) = scene().await;
    let got = refusal(&mut a, "set", &format!("<open xmlns='{S}'/>")).await;
    assert_eq!(got, (C::Forbidden, Ty::Cancel, E::NotAdmin));
    let mut admin = RawPeer::connect(root.direct_tls, &root.ca, ADMIN, ROOT).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let export = ok(&mut admin, "set", &format!("<open xmlns='{S}'/>")).await;
        ids.push(export.attr("id").unwrap().to_owned());
    }
    let e = stanza_error(&admin.iq("set", &format!("<open xmlns='{S}'/>")).await);
    assert_eq!((e.condition, e.kind), (C::ResourceConstraint, Ty::Wait), "fifth export: {e:?}");
    let long = format!("<chunk xmlns='{S}' id='{}' offset='0' length='262145'/>", ids[0]);
    assert_eq!(stanza_error(&admin.iq("get", &long).await).condition, C::NotAcceptable);
    let unknown = format!("<chunk xmlns='{S}' id='no-such-export' offset='0' length='16'/>");
    assert_eq!(stanza_error(&admin.iq("get", &unknown).await).condition, C::ItemNotFound);
    // Another administrator domain cannot read (or close) an export this one opened.
    let mut other = RawPeer::connect(root.direct_tls, &root.ca, ADMIN2, ROOT).await;
    let foreign = format!("<chunk xmlns='{S}' id='{}' offset='0' length='16'/>", ids[1]);
    assert_eq!(stanza_error(&other.iq("get", &foreign).await).condition, C::ItemNotFound);
    // Close is idempotent and answers success, but only its opener's close removes it.
    let foreign_close = format!("<close xmlns='{S}' id='{}'/>", ids[1]);
    assert_eq!(other.iq("set", &foreign_close).await.attr("type"), Some("result"));
    let mine = format!("<chunk xmlns='{S}' id='{}' offset='0' length='16'/>", ids[1]);
    let answer = admin.iq("get", &mine).await;
    assert_eq!(answer.attr("type"), Some("result"), "still open for its opener: {answer}");
    for id in &ids {
        let closed = admin.iq("set", &format!("<close xmlns='{S}' id='{id}'/>")).await;
        assert_eq!(closed.attr("type"), Some("result"), "{closed}");
    }
    // Closed: its id is unknown now.
    let gone = format!("<chunk xmlns='{S}' id='{}' offset='0' length='16'/>", ids[0]);
    assert_eq!(stanza_error(&admin.iq("get", &gone).await).condition, C::ItemNotFound);
    root.shutdown().await;
}
