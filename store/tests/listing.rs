//! Key listings: the earliest lease end follows registrations, renewals and expiry; domain and
//! Cloud listings come in key order and stop at the limit.

use proto::record::command::Kind;
use proto::record::{ExpireLeases, RegisterCloud, RegisterExchange, RenewLease};
use store::testkit::{cloud, exchange};

use crate::common::Fixture;

fn register(f: &mut Fixture, domain: &str, ttl: u32, now_ms: u64) {
    let x =
        proto::record::StoredExchange { lease_ttl_secs: ttl, ..exchange(domain, &["compute"], &["eu-west"]) };
    f.ok(domain, now_ms, Kind::RegisterExchange(RegisterExchange { exchange: Some(x) }));
}

#[test]
fn next_lease_end_tracks_register_renew_and_expire() {
    let mut f = Fixture::new();
    assert_eq!(f.sm.next_lease_end_ms().unwrap(), None);
    register(&mut f, "b.example", 60, 1_000);
    register(&mut f, "a.example", 30, 2_000);
    assert_eq!(f.sm.next_lease_end_ms().unwrap(), Some(32_000));
    // Renewed before its end (a renewal after it is refused): now ends at 61 500.
    f.ok("a.example", 31_500, Kind::RenewLease(RenewLease { domain: "a.example".into() }));
    assert_eq!(f.sm.next_lease_end_ms().unwrap(), Some(61_000), "b now ends first");
    let mut expire =
        store::testkit::command("root.example", 61_000, Kind::ExpireLeases(ExpireLeases { max_expired: 10 }));
    expire.is_admin = true;
    let applied = crate::common::applied(f.apply(expire));
    assert_eq!(applied.expired, vec!["b.example".to_owned()]);
    assert_eq!(f.sm.next_lease_end_ms().unwrap(), Some(61_500));
}

#[test]
fn listings_are_in_key_order_and_bounded() {
    let mut f = Fixture::new();
    for d in ["c.example", "a.example", "b.example"] {
        register(&mut f, d, 60, 1_000);
    }
    for id in ["a/2", "a/1"] {
        f.ok(
            "a.example",
            1_000,
            Kind::RegisterCloud(RegisterCloud { cloud: Some(cloud(id, "a.example", &["compute"], &[])) }),
        );
    }
    assert_eq!(f.sm.exchange_domains(2).unwrap(), vec!["a.example".to_owned(), "b.example".to_owned()]);
    assert_eq!(f.sm.exchange_domains(10).unwrap().len(), 3);
    assert_eq!(
        f.sm.cloud_owners(10).unwrap(),
        vec![("a/1".to_owned(), "a.example".to_owned()), ("a/2".to_owned(), "a.example".to_owned())]
    );
    assert_eq!(f.sm.cloud_owners(1).unwrap().len(), 1);
}
