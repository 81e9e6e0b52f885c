//! Search (indexes in step with writes, paging) and the change feed.

use std::collections::BTreeSet;

use proto::record::command::Kind;
use proto::record::{DeregisterCloud, RegisterCloud, RegisterExchange};
use proto::stanza::registry::{RecordKind, Search, SearchHit};
use store::testkit::{self, cloud, exchange, CAPABILITIES, REGIONS};
use store::{ChangeKind, StoreError};

use crate::common::Fixture;

/// Every key a search returns, following cursors to the end.
fn all_keys(f: &Fixture, query: Search) -> Vec<String> {
    let mut keys = Vec::new();
    let mut q = query;
    for _ in 0..10_000 {
        let page = f.sm.search(&q).unwrap();
        assert!(page.hits.len() <= q.limit.max(1) as usize);
        keys.extend(page.hits.iter().map(|h| match h {
            SearchHit::Exchange(x) => format!("x:{}", x.domain),
            SearchHit::Cloud(c) => format!("c:{}", c.id),
            _ => unreachable!(),
        }));
        match page.next {
            Some(n) => q.after = Some(n),
            None => return keys,
        }
    }
    panic!("search did not terminate");
}

/// What the indexes must agree with: a filter over every record.
fn brute_force(f: &Fixture, kind: RecordKind, cap: Option<&str>, region: Option<&str>) -> Vec<String> {
    let everything = all_keys(f, Search { kind: Some(kind), limit: 7, ..Search::default() });
    everything
        .into_iter()
        .filter(|k| {
            let (caps, regions) = match k.split_once(':') {
                Some(("x", d)) => {
                    let x = f.sm.exchange(d).unwrap().unwrap();
                    (x.capabilities, x.regions)
                }
                Some((_, id)) => {
                    let c = f.sm.cloud(id).unwrap().unwrap();
                    (c.services, c.regions)
                }
                None => unreachable!(),
            };
            cap.is_none_or(|c| caps.iter().any(|x| x == c))
                && region.is_none_or(|r| regions.iter().any(|x| x == r))
        })
        .collect()
}

#[test]
fn indexes_stay_in_step_with_updates_and_deletes() {
    let mut f = Fixture::new();
    for i in 1..=700 {
        f.apply(testkit::mixed_command(i));
    }
    let mut checked = 0;
    for kind in [RecordKind::Exchange, RecordKind::Cloud] {
        for cap in CAPABILITIES.iter().map(Some).chain([None]) {
            for region in REGIONS.iter().map(Some).chain([None]) {
                let via_index = all_keys(
                    &f,
                    Search {
                        kind: Some(kind),
                        capability: cap.map(|s| s.to_string()),
                        region: region.map(|s| s.to_string()),
                        limit: 5,
                        ..Search::default()
                    },
                );
                let expected = brute_force(&f, kind, cap.copied(), region.copied());
                assert_eq!(via_index, expected, "{kind:?} cap {cap:?} region {region:?}");
                checked += expected.len();
            }
        }
    }
    assert!(checked > 100, "the workload must leave records to find ({checked})");
}

#[test]
fn search_filters_combine_and_pages_resume() {
    let mut f = Fixture::new();
    for n in 0..12u64 {
        let d = format!("ex-{n:02}.example");
        let caps: &[&str] = if n % 2 == 0 { &["compute"] } else { &["storage"] };
        let x = exchange(&d, caps, &[if n < 6 { "eu-west" } else { "us-east" }]);
        f.ok(&d, 0, Kind::RegisterExchange(RegisterExchange { exchange: Some(x) }));
    }
    f.ok(
        "ex-00.example",
        0,
        Kind::RegisterCloud(RegisterCloud {
            cloud: Some(cloud("ex-00/c", "ex-00.example", &["compute"], &["eu-west"])),
        }),
    );
    let compute_eu = all_keys(
        &f,
        Search {
            capability: Some("compute".into()),
            region: Some("eu-west".into()),
            limit: 1,
            ..Search::default()
        },
    );
    assert_eq!(compute_eu, ["x:ex-00.example", "x:ex-02.example", "x:ex-04.example", "c:ex-00/c"]);
    let prefixed = all_keys(&f, Search { prefix: Some("ex-1".into()), limit: 1, ..Search::default() });
    assert_eq!(prefixed, ["x:ex-10.example", "x:ex-11.example"]);
    let page =
        f.sm.search(&Search { kind: Some(RecordKind::Exchange), limit: 5, ..Search::default() }).unwrap();
    assert_eq!(page.hits.len(), 5);
    assert_eq!(page.revision, 13);
    assert_eq!(page.next.as_deref(), Some("exchange:ex-04.example"));
    // Deregistering takes the record out of every index at once.
    f.ok(
        "ex-00.example",
        0,
        Kind::DeregisterCloud(DeregisterCloud { id: "ex-00/c".into(), expected_revision: None }),
    );
    let clouds = all_keys(
        &f,
        Search {
            kind: Some(RecordKind::Cloud),
            capability: Some("compute".into()),
            limit: 3,
            ..Search::default()
        },
    );
    assert!(clouds.is_empty());
    assert!(matches!(
        f.sm.search(&Search { after: Some("bogus".into()), ..Search::default() }),
        Err(StoreError::InvalidQuery(_))
    ));
}

#[test]
fn change_feed_is_revision_ordered_resumable_and_bounded() {
    let mut f = Fixture::new();
    for i in 1..=300 {
        f.apply(testkit::mixed_command(i));
    }
    let rev = f.sm.revision();
    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let page = f.sm.changes_since(since, 64).unwrap();
        if page.changes.is_empty() {
            assert_eq!(page.revision, rev);
            break;
        }
        since = page.changes.last().unwrap().revision;
        seen.extend(page.changes);
    }
    let revisions: Vec<u64> = seen.iter().map(|c| c.revision).collect();
    assert_eq!(revisions, (1..=rev).collect::<Vec<_>>(), "one change per revision, in order");
    let deletes = seen.iter().filter(|c| c.change_kind() == ChangeKind::Delete).count();
    assert!(deletes > 0 && deletes < seen.len());
    // A put carries the record as stored after the change.
    let last_put =
        seen.iter().rev().find(|c| c.change_kind() == ChangeKind::Put && c.exchange.is_some()).unwrap();
    let x = last_put.exchange.as_ref().unwrap();
    if let Some(now) = f.sm.exchange(&x.domain).unwrap() {
        assert!(now.modified_revision >= last_put.revision);
    }

    // Retention: only the last N changes stay; older positions are reported compacted.
    let mut g = Fixture::new();
    g.sm.set_change_retention(10);
    let keys: BTreeSet<u64> = (1..=40).collect();
    for i in keys {
        let d = testkit::domain(i);
        g.ok(
            &d,
            0,
            Kind::RegisterExchange(RegisterExchange { exchange: Some(exchange(&d, &["ai"], &["eu-west"])) }),
        );
    }
    match g.sm.changes_since(5, 100) {
        Err(StoreError::Compacted { oldest }) => assert_eq!(oldest, 31),
        other => panic!("expected compacted, got {other:?}"),
    }
    let tail = g.sm.changes_since(30, 100).unwrap();
    assert_eq!(tail.changes.iter().map(|c| c.revision).collect::<Vec<_>>(), (31..=40).collect::<Vec<_>>());
}
