use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::error::{StanzaError, StanzaErrorCondition};
use crate::stanza::registry::strategies;
use crate::stanza::registry::{CloudRecord, ExchangeRecord, RecordKind, RegistryError};

fn stored_exchange() -> StoredExchange {
    StoredExchange {
        domain: "ex-a.example".into(),
        organisation: "Example Org".into(),
        regions: vec!["eu-west".into()],
        endpoints: vec!["xmpp:ex-a.example".into()],
        trust_anchors: vec!["ab".repeat(32)],
        capabilities: vec!["compute".into()],
        metadata: [("tier".to_owned(), "gold".to_owned())].into(),
        lease_ttl_secs: 60,
        lease_expires_ms: 1_767_225_600_000,
        created_revision: 3,
        modified_revision: 5,
    }
}

fn stored_cloud() -> StoredCloud {
    StoredCloud {
        id: "ex-a/eu".into(),
        owner: "ex-a.example".into(),
        services: vec!["compute".into(), "storage".into()],
        regions: vec!["eu-west".into()],
        metadata: [("sla".to_owned(), "99.9".to_owned())].into(),
        created_revision: 6,
        modified_revision: 6,
    }
}

fn every_kind() -> Vec<command::Kind> {
    use command::Kind as K;
    vec![
        K::RegisterExchange(RegisterExchange { exchange: Some(stored_exchange()) }),
        K::UpdateExchange(UpdateExchange { exchange: Some(stored_exchange()), expected_revision: Some(5) }),
        K::UpdateExchange(UpdateExchange { exchange: Some(stored_exchange()), expected_revision: None }),
        K::DeregisterExchange(DeregisterExchange {
            domain: "ex-a.example".into(),
            expected_revision: Some(0),
        }),
        K::RenewLease(RenewLease { domain: "ex-a.example".into() }),
        K::ExpireLeases(ExpireLeases { max_expired: 100 }),
        K::RegisterCloud(RegisterCloud { cloud: Some(stored_cloud()) }),
        K::UpdateCloud(UpdateCloud { cloud: Some(stored_cloud()), expected_revision: Some(6) }),
        K::DeregisterCloud(DeregisterCloud { id: "ex-a/eu".into(), expected_revision: None }),
    ]
}

#[test]
fn every_command_variant_round_trips() {
    for kind in every_kind() {
        let cmd =
            Command { actor: "ex-a.example".into(), is_admin: false, proposed_at_ms: 42, kind: Some(kind) };
        let bytes = cmd.encode_to_vec();
        assert_eq!(Command::decode(bytes.as_slice()), Ok(cmd));
    }
}

#[test]
fn optional_revision_zero_is_distinct_from_absent() {
    // CAS against revision 0 must survive encoding: prost `optional` keeps presence.
    let with = DeregisterExchange { domain: "d".into(), expected_revision: Some(0) };
    let without = DeregisterExchange { domain: "d".into(), expected_revision: None };
    assert_ne!(with.encode_to_vec(), without.encode_to_vec());
    assert_eq!(
        DeregisterExchange::decode(with.encode_to_vec().as_slice()).unwrap().expected_revision,
        Some(0)
    );
}

#[test]
fn command_wire_tags_are_stable() {
    // Pin the encoding: a renumbered tag would make old log entries decode as something else.
    let cmd = Command {
        actor: "a".into(),
        is_admin: true,
        proposed_at_ms: 1,
        kind: Some(command::Kind::RenewLease(RenewLease { domain: "d".into() })),
    };
    assert_eq!(hex::encode(cmd.encode_to_vec()), "0a0161100118016a030a0164");
    let kinds: Vec<u8> = every_kind()
        .into_iter()
        .map(|k| Command { kind: Some(k), ..Command::default() }.encode_to_vec()[0])
        .collect();
    // Field number << 3 | wire type 2 (length-delimited), for tags 10..=17.
    assert_eq!(kinds, [0x52, 0x5a, 0x5a, 0x62, 0x6a, 0x72, 0x7a, 0x82, 0x8a]);
}

#[test]
fn responses_round_trip() {
    let applied = CommandResponse {
        result: Some(command_response::Result::Applied(Applied {
            revision: 7,
            exchange: Some(stored_exchange()),
            cloud: Some(stored_cloud()),
            expired: vec!["ex-z.example".into()],
        })),
    };
    assert_eq!(CommandResponse::decode(applied.encode_to_vec().as_slice()), Ok(applied));
    let err = CommandResponse {
        result: Some(command_response::Result::Error(CommandError::from(&RegistryError::RevisionMismatch {
            expected: 3,
            actual: 5,
        }))),
    };
    assert_eq!(CommandResponse::decode(err.encode_to_vec().as_slice()), Ok(err));
}

#[test]
fn stored_records_convert_both_ways() {
    let x = ExchangeRecord::try_from(stored_exchange()).unwrap();
    assert_eq!(x.spec.lease_ttl_secs, 60);
    assert_eq!(StoredExchange::from(&x), stored_exchange());
    let c = CloudRecord::try_from(stored_cloud()).unwrap();
    assert_eq!(StoredCloud::from(&c), stored_cloud());
    let fresh = StoredExchange::from_spec("ex-a.example", &x.spec);
    assert_eq!((fresh.created_revision, fresh.modified_revision, fresh.lease_expires_ms), (0, 0, 0));
    assert_eq!(StoredCloud::from_spec(&c.id, &c.owner, &c.spec).created_revision, 0);
}

#[test]
fn stored_records_are_revalidated() {
    let bad = StoredExchange { regions: vec!["r".repeat(65)], ..stored_exchange() };
    assert_eq!(
        ExchangeRecord::try_from(bad),
        Err(RegistryError::InvalidField { field: "region".into(), reason: "65 bytes, at most 64".into() })
    );
    let upper = StoredExchange { domain: "EX-A.example".into(), ..stored_exchange() };
    assert_eq!(
        ExchangeRecord::try_from(upper),
        Err(RegistryError::InvalidField {
            field: "domain".into(),
            reason: "must be lowercase without a trailing dot".into()
        })
    );
    let bad_id = StoredCloud { id: "a b".into(), ..stored_cloud() };
    assert!(
        matches!(CloudRecord::try_from(bad_id), Err(RegistryError::InvalidField { field, .. }) if field == "id")
    );
}

#[test]
fn command_errors_round_trip_registry_errors() {
    use RegistryError as E;
    let all = [
        E::Malformed { detail: "x".into() },
        E::InvalidField { field: "region".into(), reason: "too long".into() },
        E::RevisionMismatch { expected: 3, actual: 5 },
        E::AlreadyRegistered { kind: RecordKind::Exchange, key: "a".into() },
        E::AlreadyRegistered { kind: RecordKind::Cloud, key: "c".into() },
        E::NotFound { kind: RecordKind::Exchange, key: "a".into() },
        E::NotFound { kind: RecordKind::Cloud, key: "c".into() },
        E::LeaseExpired { domain: "a".into() },
        E::NotOwner { owner: "b".into() },
        E::NotAdmin,
        E::NotRegistered { domain: "a".into() },
        E::QuotaExceeded { what: "clouds".into(), max: 9 },
        E::NotLeader { leader: Some("root1.example".into()) },
        E::NotLeader { leader: None },
        E::NoQuorum,
        E::RevisionCompacted { oldest: 77 },
    ];
    for e in all {
        let ce = CommandError::from(&e);
        let decoded = CommandError::decode(ce.encode_to_vec().as_slice()).unwrap();
        assert_eq!(RegistryError::from(&decoded), e);
    }
    let unknown = CommandError { code: 999, detail: "from the future".into(), ..CommandError::default() };
    assert_eq!(
        RegistryError::from(&unknown),
        E::Other(Box::new(StanzaError::new(StanzaErrorCondition::InternalServerError, "from the future")))
    );
}

fn stored_kind() -> impl Strategy<Value = command::Kind> {
    use command::Kind as K;
    let x = || strategies::exchange_record().prop_map(|r| StoredExchange::from(&r));
    let c = || strategies::cloud_record().prop_map(|r| StoredCloud::from(&r));
    let rev = || proptest::option::of(any::<u64>());
    prop_oneof![
        x().prop_map(|e| K::RegisterExchange(RegisterExchange { exchange: Some(e) })),
        (x(), rev())
            .prop_map(|(e, r)| K::UpdateExchange(UpdateExchange { exchange: Some(e), expected_revision: r })),
        (strategies::domain(), rev())
            .prop_map(|(d, r)| K::DeregisterExchange(DeregisterExchange { domain: d, expected_revision: r })),
        strategies::domain().prop_map(|d| K::RenewLease(RenewLease { domain: d })),
        any::<u32>().prop_map(|m| K::ExpireLeases(ExpireLeases { max_expired: m })),
        c().prop_map(|c| K::RegisterCloud(RegisterCloud { cloud: Some(c) })),
        (c(), rev()).prop_map(|(c, r)| K::UpdateCloud(UpdateCloud { cloud: Some(c), expected_revision: r })),
        (strategies::cloud_id(), rev())
            .prop_map(|(id, r)| K::DeregisterCloud(DeregisterCloud { id, expected_revision: r })),
    ]
}

proptest! {
    #[test]
    fn commands_round_trip(kind in stored_kind(), actor in strategies::domain(), admin in any::<bool>(), now in any::<u64>()) {
        let cmd = Command { actor, is_admin: admin, proposed_at_ms: now, kind: Some(kind) };
        prop_assert_eq!(Command::decode(cmd.encode_to_vec().as_slice()), Ok(cmd));
    }

    #[test]
    fn records_survive_storage(x in strategies::exchange_record(), c in strategies::cloud_record()) {
        let sx = StoredExchange::decode(StoredExchange::from(&x).encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(ExchangeRecord::try_from(sx), Ok(x));
        let sc = StoredCloud::decode(StoredCloud::from(&c).encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(CloudRecord::try_from(sc), Ok(c));
    }
}
