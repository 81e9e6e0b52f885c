use proptest::prelude::*;

use super::*;
use crate::error::{StanzaErrorCondition, StanzaErrorType};
use crate::xml::parse_fragment;

fn parse(xml: &str) -> Element {
    parse_fragment(xml).expect("test XML is well-formed")
}

fn ping() -> Element {
    Element::new("ping", ns::PING)
}

#[test]
fn iq_get_parses_from_the_wire() {
    let iq = Iq::try_from(&parse(
        "<iq xmlns='jabber:server' id='p1' from='a.example' to='b.example' type='get'>\
         <ping xmlns='urn:xmpp:ping'/></iq>",
    ))
    .unwrap();
    assert_eq!(iq, Iq::request(IqType::Get, "p1", "a.example", "b.example", ping()));
}

#[test]
fn iq_serializes_exactly() {
    let iq = Iq::request(IqType::Set, "x'1", "a.example", "b.example", ping());
    assert_eq!(
        iq.to_element().to_xml(),
        "<iq xmlns='jabber:server' id='x&apos;1' from='a.example' to='b.example' type='set'>\
         <ping xmlns='urn:xmpp:ping'/></iq>"
    );
}

#[test]
fn iq_in_jabber_client_is_accepted() {
    let iq = Iq::try_from(&parse(
        "<iq xmlns='jabber:client' id='p1' from='u@a.example/r' to='b.example' type='result'/>",
    ))
    .unwrap();
    assert_eq!(iq.kind, IqType::Result);
    assert_eq!(iq.payload, None);
    assert_eq!(iq.from, "u@a.example/r");
}

#[test]
fn iq_result_and_error_swap_addresses_and_keep_id() {
    let req = Iq::request(IqType::Get, "q7", "ex-a.example", "root.example", ping());
    let res = Iq::result_for(&req, None);
    assert_eq!((res.id.as_str(), res.from.as_str(), res.to.as_str()), ("q7", "root.example", "ex-a.example"));
    assert_eq!(res.kind, IqType::Result);
    let err = Iq::error_for(&req, StanzaError::new(StanzaErrorCondition::ItemNotFound, "no"));
    assert_eq!(err.kind, IqType::Error);
    assert_eq!(err.to, "ex-a.example");
    let back = Iq::try_from(&parse(&err.to_element().to_xml())).unwrap();
    assert_eq!(back, err);
    assert_eq!(back.error.unwrap().kind, StanzaErrorType::Cancel);
}

#[test]
fn iq_error_may_echo_the_request() {
    let xml = "<iq xmlns='jabber:server' id='1' from='a' to='b' type='error'><ping xmlns='urn:xmpp:ping'/>\
               <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
    let iq = Iq::try_from(&parse(xml)).unwrap();
    assert_eq!(iq.payload, Some(ping()));
    assert_eq!(iq.error.map(|e| e.condition), Some(StanzaErrorCondition::ServiceUnavailable));
}

#[test]
fn iq_missing_attributes_are_named() {
    for attr in ["id", "from", "to", "type"] {
        let mut el = Iq::request(IqType::Get, "1", "a", "b", ping()).to_element();
        el.remove_attr(attr);
        assert_eq!(Iq::try_from(&el), Err(ParseError::MissingAttr { element: "iq", attr }), "{attr}");
    }
}

#[test]
fn iq_rejects_bad_type_and_wrong_element() {
    let el = Iq::request(IqType::Get, "1", "a", "b", ping()).to_element().with_attr("type", "put");
    assert_eq!(
        Iq::try_from(&el),
        Err(ParseError::InvalidAttr { element: "iq", attr: "type", value: "put".into() })
    );
    assert_eq!(
        Iq::try_from(&Element::new("iq", ns::PING)),
        Err(ParseError::WrongElement {
            name: "iq",
            ns: ns::JABBER_SERVER,
            found: "{urn:xmpp:ping}iq".into()
        })
    );
}

#[test]
fn iq_payload_counts_follow_rfc6120() {
    let bare = |ty: &str| {
        Element::new("iq", ns::JABBER_SERVER)
            .with_attr("id", "1")
            .with_attr("from", "a")
            .with_attr("to", "b")
            .with_attr("type", ty)
    };
    let get_empty = Iq::try_from(&bare("get")).unwrap_err();
    assert_eq!(get_empty, ParseError::Invalid("an iq of type get needs exactly one payload child".into()));
    assert_eq!(get_empty.to_stanza_error().condition, StanzaErrorCondition::BadRequest);
    let set_two = Iq::try_from(&bare("set").with_child(ping()).with_child(ping())).unwrap_err();
    assert_eq!(set_two, ParseError::Invalid("an iq of type set needs exactly one payload child".into()));
    let result_two = Iq::try_from(&bare("result").with_child(ping()).with_child(ping())).unwrap_err();
    assert_eq!(result_two, ParseError::Invalid("an iq of type result has at most one payload child".into()));
    assert_eq!(Iq::try_from(&bare("error")), Err(ParseError::MissingChild { element: "iq", child: "error" }));
}

#[test]
fn message_parses_and_round_trips() {
    let xml = "<message xmlns='jabber:server' from='a.example' to='b.example' type='headline' id='m1'>\
               <event xmlns='http://jabber.org/protocol/pubsub#event'/><x xmlns='urn:example'/></message>";
    let m = Message::try_from(&parse(xml)).unwrap();
    assert_eq!(m.kind, MessageType::Headline);
    assert_eq!(m.id.as_deref(), Some("m1"));
    assert_eq!(m.payloads.len(), 2);
    assert_eq!(Message::try_from(&parse(&m.to_element().to_xml())), Ok(m));
}

#[test]
fn message_type_defaults_to_normal() {
    let m = Message::try_from(&parse("<message xmlns='jabber:server' from='a' to='b'/>")).unwrap();
    assert_eq!(m.kind, MessageType::Normal);
    let odd =
        Message::try_from(&parse("<message xmlns='jabber:server' from='a' to='b' type='weird'/>")).unwrap();
    assert_eq!(odd.kind, MessageType::Normal, "RFC 6121 §5.2.2: unknown types are normal");
    assert_eq!(odd.to_element().attr("type"), None);
}

#[test]
fn message_errors() {
    let m = Message::new(MessageType::Normal, "a", "b", vec![ping()]);
    let e = Message::error_for(&m, StanzaError::new(StanzaErrorCondition::ServiceUnavailable, "x"));
    assert_eq!((e.from.as_str(), e.to.as_str(), e.kind), ("b", "a", MessageType::Error));
    assert_eq!(Message::try_from(&e.to_element()), Ok(e));
    let no_error = Message::new(MessageType::Error, "a", "b", vec![]).to_element();
    assert_eq!(
        Message::try_from(&no_error),
        Err(ParseError::MissingChild { element: "message", child: "error" })
    );
    let mut stray = m.to_element();
    stray.append_child(StanzaError::new(StanzaErrorCondition::Conflict, "x").to_element(ns::JABBER_SERVER));
    assert_eq!(
        Message::try_from(&stray),
        Err(ParseError::Invalid("an <error/> child needs type='error'".into()))
    );
    let mut no_from = m.to_element();
    no_from.remove_attr("from");
    assert_eq!(
        Message::try_from(&no_from),
        Err(ParseError::MissingAttr { element: "message", attr: "from" })
    );
}

#[test]
fn presence_parses_content_children_apart_from_payloads() {
    let xml = "<presence xmlns='jabber:server' from='root1.example' to='root2.example'>\
               <show>dnd</show><status>busy</status><priority>-5</priority>\
               <raft-role xmlns='https://ns.icroot.dev/registry/0' role='leader' term='5' node-id='1'/></presence>";
    let p = Presence::try_from(&parse(xml)).unwrap();
    assert_eq!(p.kind, PresenceType::Available);
    assert_eq!(p.show, Some(Show::Dnd));
    assert_eq!(p.status.as_deref(), Some("busy"));
    assert_eq!(p.priority, Some(-5));
    assert_eq!(p.payloads.len(), 1);
    assert_eq!(p.payloads[0].name(), "raft-role");
    assert_eq!(Presence::try_from(&parse(&p.to_element().to_xml())), Ok(p));
}

#[test]
fn presence_every_type_round_trips() {
    use PresenceType as P;
    for kind in
        [P::Available, P::Unavailable, P::Subscribe, P::Subscribed, P::Unsubscribe, P::Unsubscribed, P::Probe]
    {
        let p = Presence::new(kind, "a", "b");
        assert_eq!(Presence::try_from(&p.to_element()), Ok(p));
    }
    let e = Presence::error_for(
        &Presence::new(P::Probe, "a", "b"),
        StanzaError::new(StanzaErrorCondition::Gone, "x"),
    );
    assert_eq!((e.from.as_str(), e.kind), ("b", P::Error));
    assert_eq!(Presence::try_from(&e.to_element()), Ok(e));
}

#[test]
fn presence_rejects_invalid_content() {
    let base = || Presence::new(PresenceType::Available, "a", "b").to_element();
    assert_eq!(
        Presence::try_from(&base().with_attr("type", "online")),
        Err(ParseError::InvalidAttr { element: "presence", attr: "type", value: "online".into() })
    );
    assert_eq!(
        Presence::try_from(&base().with_child(Element::new("show", ns::JABBER_SERVER).with_text("busy"))),
        Err(ParseError::InvalidAttr { element: "show", attr: "(text)", value: "busy".into() })
    );
    assert_eq!(
        Presence::try_from(&base().with_child(Element::new("priority", ns::JABBER_SERVER).with_text("300"))),
        Err(ParseError::InvalidAttr { element: "priority", attr: "(text)", value: "300".into() })
    );
    let long = "x".repeat(MAX_STATUS_BYTES + 1);
    assert_eq!(
        Presence::try_from(&base().with_child(Element::new("status", ns::JABBER_SERVER).with_text(long))),
        Err(ParseError::Invalid(format!("<status/> is longer than {MAX_STATUS_BYTES} bytes")))
    );
    assert_eq!(
        Presence::try_from(&base().with_attr("type", "error")),
        Err(ParseError::MissingChild { element: "presence", child: "error" })
    );
    let mut no_to = base();
    no_to.remove_attr("to");
    assert_eq!(Presence::try_from(&no_to), Err(ParseError::MissingAttr { element: "presence", attr: "to" }));
}

#[test]
fn jid_splits_parts() {
    let j = Jid::parse("user@Example.COM./res/with/slash@at").unwrap();
    assert_eq!(j.local.as_deref(), Some("user"));
    assert_eq!(j.domain, "Example.COM");
    assert_eq!(j.resource.as_deref(), Some("res/with/slash@at"));
    assert!(j.in_domain("example.com."));
    assert!(j.same_domain(&Jid::parse("example.com").unwrap()));
    assert!(!j.is_domain());
    assert_eq!(j.to_string(), "user@Example.COM/res/with/slash@at");
    let d: Jid = "root1.example".parse().unwrap();
    assert!(d.is_domain());
    assert!(!d.same_domain(&j));
}

#[test]
fn jid_rejects_each_bad_form() {
    assert_eq!(Jid::parse(""), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("."), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("u@"), Err(JidError::EmptyDomain));
    assert_eq!(Jid::parse("@d"), Err(JidError::EmptyLocal));
    assert_eq!(Jid::parse("d/"), Err(JidError::EmptyResource));
    let long = "a".repeat(MAX_JID_PART_BYTES + 1);
    assert_eq!(Jid::parse(&long), Err(JidError::TooLong { part: "domainpart", len: 1024 }));
    assert_eq!(Jid::parse(&format!("{long}@d")), Err(JidError::TooLong { part: "localpart", len: 1024 }));
    assert_eq!(Jid::parse(&format!("d/{long}")), Err(JidError::TooLong { part: "resourcepart", len: 1024 }));
    assert!(Jid::parse(&"a".repeat(MAX_JID_PART_BYTES)).is_ok());
}

fn addr() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{0,20}"
}

proptest! {
    #[test]
    fn iq_round_trips_through_xml(id in "[ -~]{1,20}", from in addr(), to in addr(), set in any::<bool>()) {
        let kind = if set { IqType::Set } else { IqType::Get };
        let iq = Iq::request(kind, id, from, to, ping());
        prop_assert_eq!(Iq::try_from(&parse(&iq.to_element().to_xml())), Ok(iq));
    }

    #[test]
    fn presence_round_trips(status in proptest::option::of("[ -~]{0,40}"), priority in any::<Option<i8>>()) {
        let mut p = Presence::new(PresenceType::Available, "a.example", "b.example");
        p.status = status.filter(|s| !s.is_empty());
        p.priority = priority;
        p.show = Some(Show::Xa);
        prop_assert_eq!(Presence::try_from(&parse(&p.to_element().to_xml())), Ok(p));
    }
}
