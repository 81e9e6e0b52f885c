//! One test per bound: the limit itself is accepted, one past it is refused with the field named.

use super::bounds::*;
use super::tests::spec;
use super::*;

fn invalid(field: &str) -> impl Fn(&RegistryError) -> bool + '_ {
    move |e| matches!(e, RegistryError::InvalidField { field: f, .. } if f == field)
}

/// Parse a register-exchange built from `spec` (bypassing `validate` on the way out).
fn parse_exchange(spec: &ExchangeSpec) -> Result<RegisterExchange, RegistryError> {
    let el = RegisterExchange { domain: None, spec: spec.clone() }.to_element();
    RegisterExchange::try_from(&el)
}

fn parse_cloud(spec: &CloudSpec) -> Result<RegisterCloud, RegistryError> {
    let el = RegisterCloud { domain: None, id: "c1".into(), spec: spec.clone() }.to_element();
    RegisterCloud::try_from(&el)
}

fn n(len: usize) -> String {
    "a".repeat(len)
}

fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("v{i}")).collect()
}

#[test]
fn organisation() {
    let ok = ExchangeSpec { organisation: n(MAX_ORGANISATION_BYTES), ..spec() };
    assert!(parse_exchange(&ok).is_ok());
    let long = ExchangeSpec { organisation: n(MAX_ORGANISATION_BYTES + 1), ..spec() };
    assert_eq!(
        parse_exchange(&long),
        Err(RegistryError::InvalidField {
            field: "organisation".into(),
            reason: "257 bytes, at most 256".into()
        })
    );
    let empty = ExchangeSpec { organisation: String::new(), ..spec() };
    assert_eq!(
        parse_exchange(&empty),
        Err(RegistryError::InvalidField { field: "organisation".into(), reason: "empty".into() })
    );
    let ctl = ExchangeSpec { organisation: "a\u{7}b".into(), ..spec() };
    assert_eq!(
        parse_exchange(&ctl),
        Err(RegistryError::InvalidField {
            field: "organisation".into(),
            reason: "contains a control character".into()
        })
    );
}

/// Check a list field: max items accepted, one more refused, an over-long entry refused, a
/// duplicate refused.
fn check_list_bound(
    field: &str,
    max_items: usize,
    max_len: usize,
    set: impl Fn(Vec<String>) -> ExchangeSpec,
) {
    assert!(parse_exchange(&set(numbered(max_items))).is_ok(), "{field} at max count");
    let e = parse_exchange(&set(numbered(max_items + 1))).unwrap_err();
    assert_eq!(
        e,
        RegistryError::InvalidField {
            field: field.into(),
            reason: format!("{} entries, at most {max_items}", max_items + 1)
        }
    );
    assert!(parse_exchange(&set(vec![n(max_len)])).is_ok(), "{field} at max length");
    let e = parse_exchange(&set(vec![n(max_len + 1)])).unwrap_err();
    assert_eq!(
        e,
        RegistryError::InvalidField {
            field: field.into(),
            reason: format!("{} bytes, at most {max_len}", max_len + 1)
        }
    );
    let e = parse_exchange(&set(vec!["x".into(), "x".into()])).unwrap_err();
    assert_eq!(e, RegistryError::InvalidField { field: field.into(), reason: "\"x\" appears twice".into() });
    assert!(invalid(field)(&parse_exchange(&set(vec![String::new()])).unwrap_err()));
}

#[test]
fn exchange_lists() {
    check_list_bound("region", MAX_REGIONS, MAX_REGION_BYTES, |v| ExchangeSpec { regions: v, ..spec() });
    check_list_bound("endpoint", MAX_ENDPOINTS, MAX_ENDPOINT_BYTES, |v| ExchangeSpec {
        endpoints: v,
        ..spec()
    });
    check_list_bound("capability", MAX_CAPABILITIES, MAX_CAPABILITY_BYTES, |v| ExchangeSpec {
        capabilities: v,
        ..spec()
    });
}

#[test]
fn trust_anchors() {
    let fp = |i: usize| format!("{i:064x}");
    let max = ExchangeSpec { trust_anchors: (0..MAX_TRUST_ANCHORS).map(fp).collect(), ..spec() };
    assert!(parse_exchange(&max).is_ok());
    let over = ExchangeSpec { trust_anchors: (0..=MAX_TRUST_ANCHORS).map(fp).collect(), ..spec() };
    assert!(invalid("trust-anchor")(&parse_exchange(&over).unwrap_err()));
    for bad in [n(63), n(65), format!("{}g", n(63))] {
        let s = ExchangeSpec { trust_anchors: vec![bad.clone()], ..spec() };
        assert_eq!(
            parse_exchange(&s),
            Err(RegistryError::InvalidField {
                field: "trust-anchor".into(),
                reason: "not 64 hex digits (a SHA-256 fingerprint)".into()
            }),
            "{bad}"
        );
    }
    // Uppercase is accepted on the wire and stored lowercase; built in code it must be lowercase.
    let upper = ExchangeSpec { trust_anchors: vec!["AB".repeat(32)], ..spec() };
    assert_eq!(parse_exchange(&upper).unwrap().spec.trust_anchors, ["ab".repeat(32)]);
    assert_eq!(
        upper.validate(),
        Err(RegistryError::InvalidField {
            field: "trust-anchor".into(),
            reason: "must be lowercase hex".into()
        })
    );
}

#[test]
fn metadata() {
    let meta = |count: usize, klen: usize, vlen: usize| {
        (0..count).map(|i| (format!("{i:0klen$}"), n(vlen))).collect::<std::collections::BTreeMap<_, _>>()
    };
    let ok = ExchangeSpec { metadata: meta(MAX_META_KEYS, 2, 10), ..spec() };
    assert!(parse_exchange(&ok).is_ok());
    let many = ExchangeSpec { metadata: meta(MAX_META_KEYS + 1, 2, 1), ..spec() };
    assert_eq!(
        parse_exchange(&many),
        Err(RegistryError::InvalidField { field: "meta".into(), reason: "more than 64 keys".into() })
    );
    assert_eq!(
        many.validate(),
        Err(RegistryError::InvalidField { field: "meta".into(), reason: "65 keys, at most 64".into() })
    );
    let long_key = ExchangeSpec { metadata: meta(1, MAX_META_KEY_BYTES + 1, 1), ..spec() };
    assert!(invalid("meta")(&parse_exchange(&long_key).unwrap_err()));
    let long_value = ExchangeSpec { metadata: meta(1, 1, MAX_META_VALUE_BYTES + 1), ..spec() };
    assert!(invalid("meta")(&parse_exchange(&long_value).unwrap_err()));
    let max_value = ExchangeSpec { metadata: meta(1, 1, MAX_META_VALUE_BYTES), ..spec() };
    assert!(parse_exchange(&max_value).is_ok());
    let dup = RegisterExchange { domain: None, spec: spec() }
        .to_element()
        .with_child(Element::new("meta", ns::REGISTRY).with_attr("key", "tier").with_text("x"));
    assert_eq!(
        RegisterExchange::try_from(&dup),
        Err(RegistryError::InvalidField {
            field: "meta".into(),
            reason: "key \"tier\" appears twice".into()
        })
    );
    let keyless = RegisterExchange { domain: None, spec: spec() }
        .to_element()
        .with_child(Element::new("meta", ns::REGISTRY));
    assert_eq!(
        RegisterExchange::try_from(&keyless),
        Err(RegistryError::InvalidField {
            field: "meta".into(),
            reason: "a <meta/> lacks its key attribute".into()
        })
    );
}

#[test]
fn lease_ttl() {
    for ok in [LEASE_TTL_SECS_MIN, LEASE_TTL_SECS_MAX] {
        assert!(parse_exchange(&ExchangeSpec { lease_ttl_secs: ok, ..spec() }).is_ok());
    }
    for bad in [0, LEASE_TTL_SECS_MIN - 1, LEASE_TTL_SECS_MAX + 1] {
        assert_eq!(
            parse_exchange(&ExchangeSpec { lease_ttl_secs: bad, ..spec() }),
            Err(RegistryError::InvalidField {
                field: "lease-ttl".into(),
                reason: format!("{bad} s is outside 5..=86400")
            })
        );
    }
}

#[test]
fn total_record_size() {
    // 16 values of 1 KiB are each within bounds but together exceed 16 KiB.
    let metadata = (0..16).map(|i| (format!("k{i:02}"), n(MAX_META_VALUE_BYTES))).collect();
    let big = ExchangeSpec { metadata, ..spec() };
    assert!(big.content_bytes() > MAX_RECORD_BYTES);
    let e = parse_exchange(&big).unwrap_err();
    assert_eq!(
        e,
        RegistryError::InvalidField {
            field: "record".into(),
            reason: format!("{} bytes, at most {MAX_RECORD_BYTES}", big.content_bytes())
        }
    );
    let metadata = (0..16).map(|i| (format!("k{i:02}"), n(MAX_META_VALUE_BYTES))).collect();
    let big_cloud = CloudSpec { metadata, ..CloudSpec::default() };
    assert!(invalid("record")(&parse_cloud(&big_cloud).unwrap_err()));
}

#[test]
fn cloud_fields() {
    let set = |services: Vec<String>| CloudSpec { services, ..CloudSpec::default() };
    assert!(parse_cloud(&set(numbered(MAX_SERVICES))).is_ok());
    assert!(invalid("service")(&parse_cloud(&set(numbered(MAX_SERVICES + 1))).unwrap_err()));
    assert!(invalid("service")(&parse_cloud(&set(vec![n(MAX_SERVICE_BYTES + 1)])).unwrap_err()));
    let regions = CloudSpec { regions: numbered(MAX_REGIONS + 1), ..CloudSpec::default() };
    assert!(invalid("region")(&parse_cloud(&regions).unwrap_err()));
    let id = |id: &str| {
        GetCloud::try_from(&GetCloud { id: id.into(), consistency: Consistency::default() }.to_element())
    };
    assert!(id(&n(MAX_CLOUD_ID_BYTES)).is_ok());
    assert!(id("Ex-A/eu_1:compute.2").is_ok());
    assert!(invalid("id")(&id(&n(MAX_CLOUD_ID_BYTES + 1)).unwrap_err()));
    assert_eq!(
        id("has space"),
        Err(RegistryError::InvalidField {
            field: "id".into(),
            reason: "only A-Z a-z 0-9 . _ : / - are allowed".into()
        })
    );
}

#[test]
fn domains() {
    let get = |d: &str| {
        GetExchange::try_from(
            &GetExchange { domain: d.into(), consistency: Consistency::default() }.to_element(),
        )
    };
    let label = n(63);
    let longest = [label.as_str(), &label, &label, &n(61)].join(".");
    assert_eq!(longest.len(), MAX_DOMAIN_BYTES);
    assert!(get(&longest).is_ok());
    assert!(invalid("domain")(&get(&format!("{longest}a")).unwrap_err()));
    for bad in ["a..b", "-", "a-.example", "-a.example", "a_b.example", "u@d", "d/r", &n(64)] {
        let e = get(bad).unwrap_err();
        assert!(invalid("domain")(&e), "{bad}: {e:?}");
    }
    let renew =
        RenewLease::try_from(&Element::new("renew-lease", ns::REGISTRY).with_attr("domain", "bad domain"));
    assert!(invalid("domain")(&renew.unwrap_err()));
}

#[test]
fn search_bounds() {
    let search =
        |attr: &str, v: String| Search::try_from(&Element::new("search", ns::REGISTRY).with_attr(attr, v));
    assert_eq!(
        search("limit", "0".into()),
        Err(RegistryError::InvalidField { field: "limit".into(), reason: "0 is outside 1..=200".into() })
    );
    assert!(invalid("limit")(&search("limit", (SEARCH_LIMIT_MAX + 1).to_string()).unwrap_err()));
    assert_eq!(search("limit", SEARCH_LIMIT_MAX.to_string()).map(|s| s.limit), Ok(SEARCH_LIMIT_MAX));
    assert_eq!(
        Search::try_from(&Element::new("search", ns::REGISTRY)).map(|s| s.limit),
        Ok(SEARCH_LIMIT_DEFAULT)
    );
    for (attr, max) in [
        ("capability", MAX_CAPABILITY_BYTES),
        ("region", MAX_REGION_BYTES),
        ("prefix", MAX_DOMAIN_BYTES),
        ("after", MAX_CURSOR_BYTES),
    ] {
        assert!(search(attr, n(max)).is_ok(), "{attr}");
        assert!(invalid(attr)(&search(attr, n(max + 1)).unwrap_err()), "{attr}");
    }
    assert_eq!(
        search("kind", "zone".into()),
        Err(crate::stanza::ParseError::InvalidAttr { element: "search", attr: "kind", value: "zone".into() }
            .into())
    );
}

#[test]
fn cluster_member_count() {
    let member = |i: usize| {
        Element::new("member", ns::REGISTRY)
            .with_attr("node-id", i.to_string())
            .with_attr("domain", format!("root{i}.example"))
            .with_attr("role", "follower")
            .with_attr("reachable", "true")
    };
    let status = |count: usize| {
        ClusterStatus::try_from(
            &ClusterStatus {
                node_id: 1,
                leader: None,
                term: 1,
                commit_index: 0,
                applied_index: 0,
                members: vec![],
            }
            .to_element()
            .with_children((0..count).map(member)),
        )
    };
    assert_eq!(status(MAX_MEMBERS).map(|s| s.members.len()), Ok(MAX_MEMBERS));
    assert!(invalid("member")(&status(MAX_MEMBERS + 1).unwrap_err()));
}
