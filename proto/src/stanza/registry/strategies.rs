//! Proptest strategies producing values that satisfy every registry bound.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, hash_set, vec};
use proptest::option;
use proptest::prelude::*;

use super::*;

/// A lowercase DNS domain.
pub(crate) fn domain() -> impl Strategy<Value = String> {
    vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4).prop_map(|labels| labels.join("."))
}

/// Distinct printable strings (including XML-special characters) for a list field.
fn list(max_items: usize, max_len: usize) -> impl Strategy<Value = Vec<String>> {
    let item = format!("[a-zA-Z0-9 <>&'\"é_.-]{{1,{max_len}}}");
    let item = proptest::string::string_regex(&item).expect("valid regex");
    hash_set(item, 0..max_items).prop_map(|s| s.into_iter().collect())
}

fn meta() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map("[a-z][a-z0-9_.-]{0,15}", "[ -~]{0,40}", 0..6)
}

/// A valid Exchange spec (kept small so proptest stays fast; bounds are tested separately).
pub(crate) fn exchange_spec() -> impl Strategy<Value = ExchangeSpec> {
    (
        "[A-Za-z][A-Za-z &'.,-]{0,30}",
        list(4, 16),
        list(3, 40),
        hash_set("[0-9a-f]{64}", 0..3),
        list(5, 16),
        meta(),
        bounds::LEASE_TTL_SECS_MIN..=bounds::LEASE_TTL_SECS_MAX,
    )
        .prop_map(
            |(organisation, regions, endpoints, anchors, capabilities, metadata, lease_ttl_secs)| {
                ExchangeSpec {
                    organisation,
                    regions,
                    endpoints,
                    trust_anchors: anchors.into_iter().collect(),
                    capabilities,
                    metadata,
                    lease_ttl_secs,
                }
            },
        )
}

/// A valid Cloud spec.
pub(crate) fn cloud_spec() -> impl Strategy<Value = CloudSpec> {
    (list(4, 16), list(4, 16), meta()).prop_map(|(services, regions, metadata)| CloudSpec {
        services,
        regions,
        metadata,
    })
}

/// A valid Cloud id.
pub(crate) fn cloud_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._:/-]{0,30}"
}

/// A valid Exchange record.
pub(crate) fn exchange_record() -> impl Strategy<Value = ExchangeRecord> {
    (domain(), exchange_spec(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
        |(domain, spec, l, c, m)| ExchangeRecord {
            domain,
            spec,
            lease_expires_ms: l,
            created_revision: c,
            modified_revision: m,
        },
    )
}

/// A valid Cloud record.
pub(crate) fn cloud_record() -> impl Strategy<Value = CloudRecord> {
    (cloud_id(), domain(), cloud_spec(), any::<u64>(), any::<u64>()).prop_map(|(id, owner, spec, c, m)| {
        CloudRecord { id, owner, spec, created_revision: c, modified_revision: m }
    })
}

fn consistency() -> impl Strategy<Value = Consistency> {
    prop_oneof![Just(Consistency::Linearizable), Just(Consistency::Stale)]
}

fn short() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,20}"
}

/// Any valid registry request.
pub(crate) fn request() -> impl Strategy<Value = RegistryRequest> {
    let d = || option::of(domain());
    let r = || option::of(any::<u64>());
    prop_oneof![
        (d(), exchange_spec())
            .prop_map(|(domain, spec)| RegistryRequest::RegisterExchange(RegisterExchange { domain, spec })),
        (d(), r(), exchange_spec()).prop_map(|(domain, expected_revision, spec)| {
            RegistryRequest::UpdateExchange(UpdateExchange { domain, expected_revision, spec })
        }),
        (d(), r()).prop_map(|(domain, expected_revision)| {
            RegistryRequest::DeregisterExchange(DeregisterExchange { domain, expected_revision })
        }),
        d().prop_map(|domain| RegistryRequest::RenewLease(RenewLease { domain })),
        (d(), cloud_id(), cloud_spec()).prop_map(|(domain, id, spec)| RegistryRequest::RegisterCloud(
            RegisterCloud { domain, id, spec }
        )),
        (d(), cloud_id(), r(), cloud_spec()).prop_map(|(domain, id, expected_revision, spec)| {
            RegistryRequest::UpdateCloud(UpdateCloud { domain, id, expected_revision, spec })
        }),
        (d(), cloud_id(), r()).prop_map(|(domain, id, expected_revision)| {
            RegistryRequest::DeregisterCloud(DeregisterCloud { domain, id, expected_revision })
        }),
        (domain(), consistency()).prop_map(|(domain, consistency)| RegistryRequest::GetExchange(
            GetExchange { domain, consistency }
        )),
        (cloud_id(), consistency())
            .prop_map(|(id, consistency)| RegistryRequest::GetCloud(GetCloud { id, consistency })),
        search().prop_map(RegistryRequest::Search),
        Just(RegistryRequest::ClusterStatus(ClusterStatusRequest)),
        (any::<u64>(), domain())
            .prop_map(|(node_id, domain)| RegistryRequest::AddLearner(AddLearner { node_id, domain })),
        any::<u64>().prop_map(|node_id| RegistryRequest::Promote(Promote { node_id })),
        any::<u64>().prop_map(|node_id| RegistryRequest::RemoveMember(RemoveMember { node_id })),
    ]
}

/// A valid search.
pub(crate) fn search() -> impl Strategy<Value = Search> {
    (
        option::of(prop_oneof![Just(RecordKind::Exchange), Just(RecordKind::Cloud)]),
        option::of(short()),
        option::of(short()),
        option::of(short()),
        1..=bounds::SEARCH_LIMIT_MAX,
        option::of("[ -~]{1,40}"),
        consistency(),
    )
        .prop_map(|(kind, capability, region, prefix, limit, after, consistency)| Search {
            kind,
            capability,
            region,
            prefix,
            limit,
            after,
            consistency,
        })
}

fn member() -> impl Strategy<Value = Member> {
    (
        any::<u64>(),
        domain(),
        prop_oneof![
            Just(MemberRole::Leader),
            Just(MemberRole::Follower),
            Just(MemberRole::Candidate),
            Just(MemberRole::Learner)
        ],
        any::<bool>(),
    )
        .prop_map(|(node_id, domain, role, reachable)| Member { node_id, domain, role, reachable })
}

/// Any valid registry result.
pub(crate) fn result() -> impl Strategy<Value = RegistryResult> {
    let hit = prop_oneof![
        exchange_record().prop_map(SearchHit::Exchange),
        cloud_record().prop_map(SearchHit::Cloud)
    ];
    prop_oneof![
        exchange_record().prop_map(RegistryResult::Exchange),
        cloud_record().prop_map(RegistryResult::Cloud),
        (prop_oneof![Just(RecordKind::Exchange), Just(RecordKind::Cloud)], short(), any::<u64>()).prop_map(
            |(kind, key, revision)| RegistryResult::Deregistered(Deregistered { kind, key, revision })
        ),
        (any::<u64>(), vec(hit, 0..4), option::of(short())).prop_map(|(revision, hits, next)| {
            RegistryResult::SearchResults(SearchResults { revision, hits, next })
        }),
        (
            any::<u64>(),
            option::of(any::<u64>()),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            vec(member(), 0..5)
        )
            .prop_map(|(node_id, leader, term, commit_index, applied_index, members)| {
                RegistryResult::Cluster(ClusterStatus {
                    node_id,
                    leader,
                    term,
                    commit_index,
                    applied_index,
                    members,
                })
            }),
    ]
}
