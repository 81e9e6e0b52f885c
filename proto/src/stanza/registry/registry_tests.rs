use std::collections::BTreeMap;

use proptest::prelude::*;

use super::strategies;
use super::*;
use crate::error::{StanzaError, StanzaErrorCondition as C, StanzaErrorType};
use crate::xml::parse_fragment;

const FP: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn parse(xml: &str) -> Element {
    parse_fragment(xml).expect("test XML is well-formed")
}

pub(super) fn spec() -> ExchangeSpec {
    ExchangeSpec {
        organisation: "Example Org".into(),
        regions: vec!["eu-west".into(), "us-east".into()],
        endpoints: vec!["xmpp:ex-a.example".into()],
        trust_anchors: vec![FP.into()],
        capabilities: vec!["compute".into()],
        metadata: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
        lease_ttl_secs: 60,
    }
}

#[test]
fn register_exchange_parses_from_the_wire() {
    let xml = format!(
        "<register-exchange xmlns='{}' organisation='Example Org' lease-ttl='60'>\
         <region>eu-west</region><region>us-east</region><endpoint>xmpp:ex-a.example</endpoint>\
         <trust-anchor>{}</trust-anchor><capability>compute</capability><meta key='tier'>gold</meta>\
         </register-exchange>",
        ns::REGISTRY,
        FP.to_uppercase()
    );
    let req = RegistryRequest::try_from(&parse(&xml)).unwrap();
    assert_eq!(req, RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec: spec() }));
    assert_eq!(req.iq_type(), IqType::Set);
}

#[test]
fn lease_ttl_defaults() {
    let el = parse(&format!("<register-exchange xmlns='{}' organisation='O'/>", ns::REGISTRY));
    let req = RegisterExchange::try_from(&el).unwrap();
    assert_eq!(req.spec.lease_ttl_secs, bounds::LEASE_TTL_SECS_DEFAULT);
}

#[test]
fn requests_serialize_exactly() {
    let d =
        DeregisterCloud { domain: Some("ex-b.example".into()), id: "c/1".into(), expected_revision: Some(5) };
    assert_eq!(
        d.to_element().to_xml(),
        format!(
            "<deregister-cloud xmlns='{}' domain='ex-b.example' id='c/1' expected-revision='5'/>",
            ns::REGISTRY
        )
    );
    let g = GetExchange { domain: "ex-a.example".into(), consistency: Consistency::Stale };
    assert_eq!(
        g.to_element().to_xml(),
        format!("<get-exchange xmlns='{}' domain='ex-a.example' consistency='stale'/>", ns::REGISTRY)
    );
    let s = Search { limit: 10, region: Some("eu".into()), ..Search::default() };
    assert_eq!(s.to_element().to_xml(), format!("<search xmlns='{}' region='eu' limit='10'/>", ns::REGISTRY));
}

#[test]
fn domains_are_normalized() {
    let el = parse(&format!("<get-exchange xmlns='{}' domain='Ex-A.Example.'/>", ns::REGISTRY));
    assert_eq!(GetExchange::try_from(&el).unwrap().domain, "ex-a.example");
}

#[test]
fn consistency_values() {
    let el = |c: &str| parse(&format!("<get-cloud xmlns='{}' id='c1' consistency='{c}'/>", ns::REGISTRY));
    assert_eq!(GetCloud::try_from(&el("linearizable")).unwrap().consistency, Consistency::Linearizable);
    assert_eq!(GetCloud::try_from(&el("stale")).unwrap().consistency, Consistency::Stale);
    assert_eq!(
        GetCloud::try_from(&el("eventual")),
        Err(crate::stanza::ParseError::InvalidAttr {
            element: "get-cloud",
            attr: "consistency",
            value: "eventual".into()
        }
        .into())
    );
}

#[test]
fn missing_attributes_are_named() {
    use crate::stanza::ParseError::MissingAttr;
    let cases: [(&str, &'static str, &'static str); 9] = [
        ("<register-exchange/>", "register-exchange", "organisation"),
        ("<register-cloud/>", "register-cloud", "id"),
        ("<update-cloud/>", "update-cloud", "id"),
        ("<deregister-cloud/>", "deregister-cloud", "id"),
        ("<get-exchange/>", "get-exchange", "domain"),
        ("<get-cloud/>", "get-cloud", "id"),
        ("<add-learner node-id='4'/>", "add-learner", "domain"),
        ("<promote/>", "promote", "node-id"),
        ("<remove-member/>", "remove-member", "node-id"),
    ];
    for (xml, element, attr) in cases {
        let el = parse(&xml.replacen("/>", &format!(" xmlns='{}'/>", ns::REGISTRY), 1));
        assert_eq!(RegistryRequest::try_from(&el), Err(MissingAttr { element, attr }.into()), "{xml}");
    }
}

#[test]
fn bad_numbers_are_named() {
    let el = parse(&format!(
        "<update-exchange xmlns='{}' organisation='O' expected-revision='-1'/>",
        ns::REGISTRY
    ));
    assert_eq!(
        RegistryRequest::try_from(&el),
        Err(crate::stanza::ParseError::InvalidAttr {
            element: "update-exchange",
            attr: "expected-revision",
            value: "-1".into()
        }
        .into())
    );
}

#[test]
fn unknown_elements_and_namespaces_are_malformed() {
    assert_eq!(
        RegistryRequest::try_from(&Element::new("frobnicate", ns::REGISTRY)),
        Err(RegistryError::Malformed { detail: "unknown registry element <frobnicate/>".into() })
    );
    assert_eq!(
        RegistryRequest::try_from(&Element::new("search", ns::PING)),
        Err(RegistryError::Malformed { detail: "<search/> is not in the registry namespace".into() })
    );
    let typo = RegisterExchange { domain: None, spec: spec() }
        .to_element()
        .with_child(Element::new("regoin", ns::REGISTRY));
    assert_eq!(
        RegisterExchange::try_from(&typo),
        Err(RegistryError::Malformed {
            detail: "<register-exchange/> does not define a <regoin/> child".into()
        })
    );
    let ext =
        RegisterExchange { domain: None, spec: spec() }.to_element().with_child(Element::new("x", "urn:ext"));
    assert!(RegisterExchange::try_from(&ext).is_ok(), "foreign-namespace children are extensions");
}

#[test]
fn from_iq_checks_the_iq_type() {
    let req = RegistryRequest::Search(Search { limit: 5, ..Search::default() });
    let iq = req.to_iq("s1", "ex-a.example", "root.example");
    assert_eq!(iq.kind, IqType::Get);
    assert_eq!(RegistryRequest::from_iq(&iq), Ok(req.clone()));
    let wrong = Iq { kind: IqType::Set, ..iq };
    assert_eq!(
        RegistryRequest::from_iq(&wrong),
        Err(RegistryError::Malformed { detail: "<search/> must be sent in an iq of type get".into() })
    );
    let no_payload = Iq { payload: None, ..wrong };
    assert_eq!(
        RegistryRequest::from_iq(&no_payload),
        Err(crate::stanza::ParseError::MissingChild { element: "iq", child: "payload" }.into())
    );
}

#[test]
fn records_parse_from_the_wire() {
    let xml = format!(
        "<cloud xmlns='{}' id='ex-a/eu-compute' owner='ex-a.example' created-revision='6' modified-revision='7'>\
         <service>compute</service><region>eu-west</region><meta key='sla'>99.9</meta></cloud>",
        ns::REGISTRY
    );
    let c = CloudRecord::try_from(&parse(&xml)).unwrap();
    assert_eq!(c.id, "ex-a/eu-compute");
    assert_eq!(c.spec.services, ["compute"]);
    assert_eq!(c.spec.metadata.get("sla").map(String::as_str), Some("99.9"));
    assert_eq!((c.created_revision, c.modified_revision), (6, 7));
    for attr in ["id", "owner", "created-revision", "modified-revision"] {
        let mut el = c.to_element();
        el.remove_attr(attr);
        assert_eq!(
            CloudRecord::try_from(&el),
            Err(crate::stanza::ParseError::MissingAttr { element: "cloud", attr }.into())
        );
    }
    let x = ExchangeRecord {
        domain: "ex-a.example".into(),
        spec: spec(),
        lease_expires_ms: 1,
        created_revision: 2,
        modified_revision: 3,
    };
    for attr in ["domain", "organisation", "lease-expires", "created-revision", "modified-revision"] {
        let mut el = x.to_element();
        el.remove_attr(attr);
        assert_eq!(
            ExchangeRecord::try_from(&el),
            Err(crate::stanza::ParseError::MissingAttr { element: "exchange", attr }.into())
        );
    }
}

#[test]
fn cluster_status_parses_from_the_wire() {
    let xml = format!(
        "<cluster xmlns='{}' node-id='2' leader='1' term='5' commit-index='120' applied-index='119'>\
         <member node-id='1' domain='root1.example' role='leader' reachable='true'/>\
         <member node-id='4' domain='root4.example' role='learner' reachable='false'/></cluster>",
        ns::REGISTRY
    );
    let RegistryResult::Cluster(c) = RegistryResult::try_from(&parse(&xml)).unwrap() else { panic!("kind") };
    assert_eq!((c.node_id, c.leader, c.term, c.commit_index, c.applied_index), (2, Some(1), 5, 120, 119));
    assert_eq!(
        c.members[1],
        Member { node_id: 4, domain: "root4.example".into(), role: MemberRole::Learner, reachable: false }
    );
    let bad_role = parse(&xml.replace("'learner'", "'observer'"));
    assert_eq!(
        ClusterStatus::try_from(&bad_role),
        Err(crate::stanza::ParseError::InvalidAttr {
            element: "member",
            attr: "role",
            value: "observer".into()
        }
        .into())
    );
    let no_reach = parse(&xml.replace(" reachable='false'", ""));
    assert_eq!(
        ClusterStatus::try_from(&no_reach),
        Err(crate::stanza::ParseError::MissingAttr { element: "member", attr: "reachable" }.into())
    );
}

#[test]
fn results_reject_foreign_children() {
    let el = SearchResults::default().to_element().with_child(Element::new("deregistered", ns::REGISTRY));
    assert_eq!(
        SearchResults::try_from(&el),
        Err(RegistryError::Malformed { detail: "<results/> cannot hold <deregistered/>".into() })
    );
    let el = parse(&format!("<deregistered xmlns='{}' kind='zone' key='k' revision='1'/>", ns::REGISTRY));
    assert_eq!(
        Deregistered::try_from(&el),
        Err(crate::stanza::ParseError::InvalidAttr {
            element: "deregistered",
            attr: "kind",
            value: "zone".into()
        }
        .into())
    );
}

fn every_error() -> Vec<RegistryError> {
    use RegistryError as E;
    vec![
        E::Malformed { detail: "<x/> lacks y".into() },
        E::InvalidField { field: "region".into(), reason: "65 bytes, at most 64".into() },
        E::RevisionMismatch { expected: 3, actual: 5 },
        E::AlreadyRegistered { kind: RecordKind::Exchange, key: "ex-a.example".into() },
        E::AlreadyRegistered { kind: RecordKind::Cloud, key: "c1".into() },
        E::NotFound { kind: RecordKind::Exchange, key: "ex-a.example".into() },
        E::NotFound { kind: RecordKind::Cloud, key: "c1".into() },
        E::LeaseExpired { domain: "ex-a.example".into() },
        E::NotOwner { owner: "ex-b.example".into() },
        E::NotAdmin,
        E::NotRegistered { domain: "ex-c.example".into() },
        E::QuotaExceeded { what: "clouds".into(), max: 100 },
        E::NotLeader { leader: Some("root1.example".into()) },
        E::NotLeader { leader: None },
        E::RevisionCompacted { oldest: 1000 },
        E::NoQuorum,
        E::Other(Box::new(StanzaError::new(C::InternalServerError, "disk full"))),
    ]
}

#[test]
fn every_error_round_trips_through_stanza_error_and_xml() {
    for e in every_error() {
        let s = e.to_stanza_error();
        assert_eq!(RegistryError::from_stanza_error(&s), e, "{e:?}");
        let wire = parse(&s.to_element(ns::JABBER_SERVER).to_xml());
        let back = StanzaError::from_element(&wire).unwrap();
        assert_eq!(back, s);
        assert_eq!(RegistryError::from(&back), e);
    }
}

#[test]
fn errors_use_the_documented_conditions() {
    use RegistryError as E;
    let cond = |e: E| {
        let s = StanzaError::from(&e);
        (s.condition, s.kind, s.app.map(|a| a.name().to_owned()).unwrap_or_default())
    };
    assert_eq!(
        cond(E::Malformed { detail: "x".into() }),
        (C::BadRequest, StanzaErrorType::Modify, "malformed".into())
    );
    assert_eq!(
        cond(E::InvalidField { field: "f".into(), reason: "r".into() }),
        (C::NotAcceptable, StanzaErrorType::Modify, "invalid-field".into())
    );
    assert_eq!(
        cond(E::RevisionMismatch { expected: 1, actual: 2 }),
        (C::Conflict, StanzaErrorType::Cancel, "revision-mismatch".into())
    );
    assert_eq!(
        cond(E::NotOwner { owner: "o".into() }),
        (C::Forbidden, StanzaErrorType::Cancel, "not-owner".into())
    );
    assert_eq!(cond(E::NotAdmin), (C::Forbidden, StanzaErrorType::Cancel, "not-admin".into()));
    assert_eq!(
        cond(E::NotRegistered { domain: "d".into() }),
        (C::RegistrationRequired, StanzaErrorType::Auth, "not-registered".into())
    );
    assert_eq!(
        cond(E::LeaseExpired { domain: "d".into() }),
        (C::ItemNotFound, StanzaErrorType::Cancel, "lease-expired".into())
    );
    assert_eq!(
        cond(E::QuotaExceeded { what: "w".into(), max: 1 }),
        (C::ResourceConstraint, StanzaErrorType::Wait, "quota-exceeded".into())
    );
    assert_eq!(cond(E::NoQuorum), (C::ServiceUnavailable, StanzaErrorType::Wait, "no-quorum".into()));
    assert_eq!(
        cond(E::NotLeader { leader: None }),
        (C::ServiceUnavailable, StanzaErrorType::Wait, "not-leader".into())
    );
    let s = StanzaError::from(&E::RevisionMismatch { expected: 3, actual: 5 });
    assert_eq!(
        s.app.unwrap().to_xml(),
        format!("<revision-mismatch xmlns='{}' expected='3' actual='5'/>", ns::REGISTRY)
    );
}

#[test]
fn foreign_or_unreadable_app_elements_are_other() {
    let plain = StanzaError::new(C::ServiceUnavailable, "no registry here");
    assert_eq!(RegistryError::from_stanza_error(&plain), RegistryError::Other(Box::new(plain.clone())));
    let broken =
        plain.clone().with_app(Element::new("revision-mismatch", ns::REGISTRY).with_attr("expected", "x"));
    assert_eq!(RegistryError::from_stanza_error(&broken), RegistryError::Other(Box::new(broken.clone())));
    let foreign = plain.with_app(Element::new("not-admin", "urn:other"));
    assert!(matches!(RegistryError::from_stanza_error(&foreign), RegistryError::Other(_)));
}

proptest! {
    #[test]
    fn every_request_round_trips(req in strategies::request()) {
        prop_assert_eq!(RegistryRequest::try_from(&req.to_element()), Ok(req.clone()));
        let iq = req.to_iq("id", "ex-a.example", "root.example");
        let wire = parse(&iq.to_element().to_xml());
        let iq = Iq::try_from(&wire).unwrap();
        prop_assert_eq!(RegistryRequest::from_iq(&iq), Ok(req));
    }

    #[test]
    fn every_result_round_trips(res in strategies::result()) {
        prop_assert_eq!(RegistryResult::try_from(&res.to_element()), Ok(res.clone()));
        prop_assert_eq!(RegistryResult::try_from(&parse(&res.to_element().to_xml())), Ok(res));
    }

    #[test]
    fn records_round_trip(x in strategies::exchange_record(), c in strategies::cloud_record()) {
        prop_assert_eq!(ExchangeRecord::try_from(&parse(&x.to_element().to_xml())), Ok(x.clone()));
        prop_assert_eq!(x.validate(), Ok(()));
        prop_assert_eq!(CloudRecord::try_from(&parse(&c.to_element().to_xml())), Ok(c.clone()));
        prop_assert_eq!(c.validate(), Ok(()));
    }
}
