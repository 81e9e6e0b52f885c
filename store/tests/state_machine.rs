//! Applying registry commands: revisions, CAS, ownership, lease expiry, validation.

use proto::record::command::Kind;
use proto::record::{
    DeregisterCloud, DeregisterExchange, ErrorCode, ExpireLeases, RegisterCloud, RegisterExchange,
    RenewLease, UpdateCloud, UpdateExchange,
};
use store::testkit::{self, cloud, exchange};

use crate::common::{code, Fixture};

const A: &str = "ex-a.example";
const B: &str = "ex-b.example";

fn register(domain: &str) -> Kind {
    Kind::RegisterExchange(RegisterExchange { exchange: Some(exchange(domain, &["compute"], &["eu-west"])) })
}

fn update(domain: &str, caps: &[&str], expected: Option<u64>) -> Kind {
    Kind::UpdateExchange(UpdateExchange {
        exchange: Some(exchange(domain, caps, &["eu-west"])),
        expected_revision: expected,
    })
}

fn register_cloud(id: &str, owner: &str) -> Kind {
    Kind::RegisterCloud(RegisterCloud { cloud: Some(cloud(id, owner, &["storage"], &["eu-west"])) })
}

#[test]
fn revisions_advance_per_change_and_records_carry_them() {
    let mut f = Fixture::new();
    let a = f.ok(A, 1000, register(A));
    assert_eq!(a.revision, 1);
    let x = a.exchange.unwrap();
    assert_eq!((x.created_revision, x.modified_revision, x.lease_expires_ms), (1, 1, 61_000));
    assert_eq!(f.ok(B, 1000, register(B)).revision, 2);
    let u = f.ok(A, 2000, update(A, &["gpu"], None)).exchange.unwrap();
    assert_eq!((u.created_revision, u.modified_revision), (1, 3));
    // The lease end is not the update's business.
    assert_eq!(u.lease_expires_ms, 61_000);
    assert_eq!(f.sm.revision(), 3);
    assert_eq!(f.sm.exchange(A).unwrap(), Some(u));
    assert_eq!(code(&f.refused(A, register(A))), ErrorCode::ExchangeExists);
    assert_eq!(f.sm.revision(), 3, "a refusal changes nothing");
}

#[test]
fn compare_and_set_refuses_a_stale_revision() {
    let mut f = Fixture::new();
    f.ok(A, 0, register(A));
    let e = f.refused(A, update(A, &["gpu"], Some(7)));
    assert_eq!((code(&e), e.expected, e.actual), (ErrorCode::RevisionMismatch, 7, 1));
    let u = f.ok(A, 0, update(A, &["gpu"], Some(1))).exchange.unwrap();
    assert_eq!(u.modified_revision, 2);
    // The old token is now stale for every write kind.
    let e = f.refused(
        A,
        Kind::DeregisterExchange(DeregisterExchange { domain: A.into(), expected_revision: Some(1) }),
    );
    assert_eq!((code(&e), e.actual), (ErrorCode::RevisionMismatch, 2));
    f.ok(A, 0, register_cloud("a/eu", A));
    let e = f
        .refused(A, Kind::DeregisterCloud(DeregisterCloud { id: "a/eu".into(), expected_revision: Some(0) }));
    assert_eq!((code(&e), e.expected, e.actual), (ErrorCode::RevisionMismatch, 0, 3));
    f.ok(A, 0, Kind::DeregisterCloud(DeregisterCloud { id: "a/eu".into(), expected_revision: Some(3) }));
    assert_eq!(f.sm.cloud("a/eu").unwrap(), None);
}

#[test]
fn only_owners_or_admins_write() {
    let mut f = Fixture::new();
    let e = f.refused(B, register(A));
    assert_eq!((code(&e), e.key.as_str()), (ErrorCode::NotOwner, A));
    f.ok(A, 0, register(A));
    let e = f.refused(B, update(A, &["gpu"], None));
    assert_eq!((code(&e), e.key.as_str()), (ErrorCode::NotOwner, A));
    assert_eq!(code(&f.refused(B, Kind::RenewLease(RenewLease { domain: A.into() }))), ErrorCode::NotOwner);
    // A Cloud needs its owner registered, and only the owner may create it.
    assert_eq!(code(&f.refused(B, register_cloud("b/x", B))), ErrorCode::NotRegistered);
    assert_eq!(code(&f.refused(B, register_cloud("a/x", A))), ErrorCode::NotOwner);
    f.ok(A, 0, register_cloud("a/x", A));
    assert_eq!(code(&f.refused(A, register_cloud("a/x", A))), ErrorCode::CloudExists);
    let e =
        f.refused(B, Kind::DeregisterCloud(DeregisterCloud { id: "a/x".into(), expected_revision: None }));
    assert_eq!((code(&e), e.key.as_str()), (ErrorCode::NotOwner, A));
    // The owner cannot give a Cloud away by updating it.
    let moved = Kind::UpdateCloud(UpdateCloud {
        cloud: Some(cloud("a/x", B, &["storage"], &[])),
        expected_revision: None,
    });
    let e = f.refused(A, moved);
    assert_eq!((code(&e), e.key.as_str()), (ErrorCode::InvalidField, "owner"));
    // An administrator may remove anything.
    let mut admin = testkit::command(
        "root1.example",
        0,
        Kind::DeregisterExchange(DeregisterExchange { domain: A.into(), expected_revision: None }),
    );
    admin.is_admin = true;
    crate::common::applied(f.apply(admin));
    assert_eq!(f.sm.exchange(A).unwrap(), None);
    assert_eq!(f.sm.cloud("a/x").unwrap(), None, "an Exchange's Clouds go with it");
}

#[test]
fn invalid_records_and_empty_commands_are_refused() {
    let mut f = Fixture::new();
    let mut bad = exchange(A, &["compute"], &["eu-west"]);
    bad.lease_ttl_secs = 1;
    let e = f.refused(A, Kind::RegisterExchange(RegisterExchange { exchange: Some(bad) }));
    assert_eq!((code(&e), e.key.as_str()), (ErrorCode::InvalidField, "lease-ttl"));
    assert_eq!(
        code(&f.refused(A, Kind::RegisterExchange(RegisterExchange { exchange: None }))),
        ErrorCode::Malformed
    );
    let mut none = testkit::command(A, 0, register(A));
    none.kind = None;
    assert!(matches!(
        f.apply(none).result,
        Some(proto::record::command_response::Result::Error(e)) if code(&e) == ErrorCode::Malformed
    ));
    assert_eq!(f.sm.revision(), 0);
}

fn expire(now_ms: u64, max: u32) -> proto::record::Command {
    let mut c =
        testkit::command("root1.example", now_ms, Kind::ExpireLeases(ExpireLeases { max_expired: max }));
    c.is_admin = true;
    c
}

#[test]
fn leases_end_only_by_expire_commands_at_the_leaders_clock() {
    let mut f = Fixture::new();
    f.ok(A, 1_000, register(A)); // lease 60 s: ends at 61 000
    f.ok(B, 5_000, register(B)); // ends at 65 000
    f.ok(A, 1_000, register_cloud("a/eu", A));
    // Apply never looks at a clock: the record stays however late it is now.
    assert!(f.sm.exchange(A).unwrap().is_some());
    let non_admin = testkit::command(A, 1_000_000, Kind::ExpireLeases(ExpireLeases { max_expired: 10 }));
    assert!(matches!(
        f.apply(non_admin).result,
        Some(proto::record::command_response::Result::Error(e)) if code(&e) == ErrorCode::NotAdmin
    ));
    assert!(crate::common::applied(f.apply(expire(60_999, 10))).expired.is_empty());
    // Renewal moves the lease end from the leader's clock and leaves revisions alone.
    let before = f.sm.revision();
    let renewed = f.ok(B, 50_000, Kind::RenewLease(RenewLease { domain: B.into() })).exchange.unwrap();
    assert_eq!((renewed.lease_expires_ms, renewed.modified_revision), (110_000, 2));
    assert_eq!(f.sm.revision(), before);
    let gone = crate::common::applied(f.apply(expire(61_000, 10)));
    assert_eq!(gone.expired, vec![A.to_owned()]);
    assert_eq!(f.sm.exchange(A).unwrap(), None);
    assert_eq!(f.sm.cloud("a/eu").unwrap(), None);
    assert!(f.sm.exchange(B).unwrap().is_some());
    // Two changes: the Cloud, then the Exchange.
    assert_eq!(gone.revision, before + 2);
}

#[test]
fn expiry_is_oldest_first_and_bounded_per_command() {
    let mut f = Fixture::new();
    for (i, d) in ["ex-3.example", "ex-1.example", "ex-2.example"].iter().enumerate() {
        f.ok(d, (i as u64) * 1000, register(d));
    }
    let first = crate::common::applied(f.apply(expire(1_000_000, 2)));
    assert_eq!(first.expired, ["ex-3.example", "ex-1.example"]);
    let second = crate::common::applied(f.apply(expire(1_000_000, 2)));
    assert_eq!(second.expired, ["ex-2.example"]);
}

#[test]
fn state_and_metadata_survive_reopen() {
    let mut f = Fixture::new();
    f.ok(A, 0, register(A));
    f.ok(A, 0, register_cloud("a/eu", A));
    let meta = f.sm.meta();
    let digest = f.sm.registry_digest().unwrap();
    let Fixture { dir, log, sm, .. } = f;
    drop((log, sm));
    let (_log, sm) = store::open(dir.path()).unwrap();
    assert_eq!(sm.meta(), meta);
    assert_eq!(meta.last_applied.map(|l| l.index), Some(2));
    assert_eq!(sm.registry_digest().unwrap(), digest);
}

#[test]
fn a_renewal_after_the_lease_ended_is_refused() {
    let mut f = Fixture::new();
    f.ok(A, 1_000, register(A)); // lease 60 s: ends at 61 000
    let renew = || Kind::RenewLease(RenewLease { domain: A.into() });
    f.ok(A, 60_999, renew()); // just in time: now ends at 120 999
    let late = f.apply(testkit::command(A, 120_999, renew()));
    match late.result {
        Some(proto::record::command_response::Result::Error(e)) => {
            assert_eq!((code(&e), e.key.as_str()), (ErrorCode::LeaseExpired, A));
        }
        other => panic!("expected lease-expired, got {other:?}"),
    }
    // Refused, not revived: the lease end is unchanged until an expiry sweep removes it.
    assert_eq!(f.sm.exchange(A).unwrap().unwrap().lease_expires_ms, 120_999);
}

#[test]
fn clouds_per_exchange_are_capped() {
    let max = proto::stanza::registry::bounds::MAX_CLOUDS_PER_EXCHANGE;
    let mut f = Fixture::new();
    f.ok(A, 0, register(A));
    f.ok(B, 0, register(B));
    for i in 0..max {
        f.ok(A, 0, register_cloud(&format!("a/{i}"), A));
    }
    let e = f.refused(A, register_cloud("a/over", A));
    assert_eq!((code(&e), e.key.as_str(), e.expected), (ErrorCode::QuotaExceeded, "clouds", max as u64));
    // The quota is per owner, and a removal frees a slot.
    f.ok(B, 0, register_cloud("b/0", B));
    f.ok(A, 0, Kind::DeregisterCloud(DeregisterCloud { id: "a/0".into(), expected_revision: None }));
    f.ok(A, 0, register_cloud("a/over", A));
}

fn batch(parts: Vec<proto::record::Command>) -> proto::record::Command {
    proto::record::Command {
        kind: Some(Kind::Batch(proto::record::CommandBatch { commands: parts })),
        ..proto::record::Command::default()
    }
}

fn parts(r: proto::record::CommandResponse) -> Vec<proto::record::CommandResponse> {
    match r.result {
        Some(proto::record::command_response::Result::Batch(b)) => b.parts,
        other => panic!("expected a batch answer, got {other:?}"),
    }
}

#[test]
fn a_batch_applies_its_parts_in_order_with_one_answer_each() {
    let mut f = Fixture::new();
    f.ok(B, 1000, register(B));
    let (c, e) = ("ex-c.example", "ex-e.example");
    f.ok(e, 1000, register(e));
    let answers = parts(f.apply(batch(vec![
        testkit::command(A, 2000, register(A)),
        testkit::command(B, 2000, update(B, &["gpu"], Some(1))),
        testkit::command(c, 2000, Kind::RenewLease(RenewLease { domain: c.into() })),
        testkit::command(c, 3000, Kind::RenewLease(RenewLease { domain: e.into() })),
    ])));
    assert_eq!(answers.len(), 4);
    // Each part took the next revision, as if applied one after another.
    let a = crate::common::applied(answers[0].clone());
    assert_eq!((a.revision, a.exchange.unwrap().lease_expires_ms), (3, 62_000));
    let b = crate::common::applied(answers[1].clone());
    assert_eq!((b.revision, b.exchange.unwrap().modified_revision), (4, 4));
    // Refusals are per part and change nothing.
    for (i, want) in [(2, ErrorCode::ExchangeNotFound), (3, ErrorCode::NotOwner)] {
        match &answers[i].result {
            Some(proto::record::command_response::Result::Error(e)) => assert_eq!(code(e), want, "part {i}"),
            other => panic!("part {i}: {other:?}"),
        }
    }
    assert_eq!(f.sm.revision(), 4);
    let feed = f.sm.changes_since(2, 10).unwrap();
    let revs: Vec<u64> = feed.changes.iter().map(|c| c.revision).collect();
    assert_eq!(revs, vec![3, 4]);
    assert_eq!(f.sm.exchange(B).unwrap().unwrap().capabilities, vec!["gpu".to_owned()]);
}

#[test]
fn a_batch_refuses_parts_that_may_not_share_an_entry() {
    let mut f = Fixture::new();
    f.ok(A, 0, register(A));
    let answers = parts(f.apply(batch(vec![
        testkit::command(B, 0, register(B)),
        // Same key as the part before: applying it against the state before the entry would
        // not see B, so it is refused rather than answered wrongly.
        testkit::command(B, 0, update(B, &["gpu"], None)),
        // Reads other records (the owner's Clouds): never batched.
        testkit::command(
            A,
            0,
            Kind::DeregisterExchange(DeregisterExchange { domain: A.into(), expected_revision: None }),
        ),
        testkit::command(A, 0, register_cloud("cloud-1", A)),
        batch(vec![testkit::command(A, 0, update(A, &["gpu"], None))]),
    ])));
    let malformed: Vec<bool> = answers
        .iter()
        .map(|r| {
            matches!(&r.result, Some(proto::record::command_response::Result::Error(e)) if code(e) == ErrorCode::Malformed)
        })
        .collect();
    assert_eq!(malformed, vec![false, true, true, true, true]);
    assert!(f.sm.exchange(A).unwrap().is_some(), "the refused deregistration did nothing");
    assert_eq!(f.sm.revision(), 2);
    // Too many parts: every part refused, nothing applied.
    let many: Vec<_> = (0..=proto::record::MAX_BATCH_PARTS)
        .map(|i| {
            let d = format!("ex-{i}.example");
            testkit::command(&d, 0, register(&d))
        })
        .collect();
    let answers = parts(f.apply(batch(many)));
    assert_eq!(answers.len(), proto::record::MAX_BATCH_PARTS + 1);
    assert_eq!(f.sm.revision(), 2);
}
