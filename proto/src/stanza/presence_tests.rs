use super::*;
use crate::stanza::envelope::{Presence, PresenceType};
use crate::xml::parse_fragment;

#[test]
fn raft_role_parses_serializes_and_round_trips() {
    let el = parse_fragment(
        "<raft-role xmlns='https://ns.icroot.dev/registry/0' role='leader' term='5' node-id='1' leader='1'/>",
    )
    .unwrap();
    let role = RaftRole::try_from(&el).unwrap();
    assert_eq!(role, RaftRole { role: MemberRole::Leader, term: 5, node_id: 1, leader: Some(1) });
    assert_eq!(role.to_element(), el);
    let follower = RaftRole { role: MemberRole::Candidate, term: u64::MAX, node_id: 0, leader: None };
    assert_eq!(RaftRole::try_from(&parse_fragment(&follower.to_element().to_xml()).unwrap()), Ok(follower));
}

#[test]
fn raft_role_rejects_each_missing_or_bad_attribute() {
    let good = RaftRole { role: MemberRole::Follower, term: 2, node_id: 3, leader: Some(1) }.to_element();
    for attr in ["role", "term", "node-id"] {
        let mut el = good.clone();
        el.remove_attr(attr);
        assert_eq!(RaftRole::try_from(&el), Err(ParseError::MissingAttr { element: "raft-role", attr }));
    }
    let bad_role = good.clone().with_attr("role", "king");
    assert_eq!(
        RaftRole::try_from(&bad_role),
        Err(ParseError::InvalidAttr { element: "raft-role", attr: "role", value: "king".into() })
    );
    let bad_term = good.clone().with_attr("term", "-1");
    assert_eq!(
        RaftRole::try_from(&bad_term),
        Err(ParseError::InvalidAttr { element: "raft-role", attr: "term", value: "-1".into() })
    );
    let bad_leader = good.with_attr("leader", "x");
    assert_eq!(
        RaftRole::try_from(&bad_leader),
        Err(ParseError::InvalidAttr { element: "raft-role", attr: "leader", value: "x".into() })
    );
}

#[test]
fn lease_heartbeat_rides_in_presence() {
    let p = Presence::new(PresenceType::Available, "ex-a.example", "root.example")
        .with_payload(LeaseHeartbeat.to_element());
    let xml = p.to_element().to_xml();
    assert_eq!(
        xml,
        "<presence xmlns='jabber:server' from='ex-a.example' to='root.example'>\
         <lease xmlns='https://ns.icroot.dev/registry/0'/></presence>"
    );
    let back = Presence::try_from(&parse_fragment(&xml).unwrap()).unwrap();
    assert_eq!(back.payloads.iter().map(LeaseHeartbeat::try_from).collect::<Vec<_>>(), [Ok(LeaseHeartbeat)]);
    assert_eq!(
        LeaseHeartbeat::try_from(&Element::new("lease", ns::PING)),
        Err(ParseError::WrongElement {
            name: "lease",
            ns: ns::REGISTRY,
            found: "{urn:xmpp:ping}lease".into()
        })
    );
}
