use proptest::prelude::*;

use super::*;
use crate::stanza::envelope::{Message, MessageType};
use crate::xml::parse_fragment;

fn parse(xml: &str) -> Element {
    parse_fragment(xml).expect("test XML is well-formed")
}

#[test]
fn subscribe_with_resume_parses_from_the_wire() {
    let xml = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
               <subscribe node='registry' jid='ex-a.example'/>\
               <watch xmlns='https://ns.icroot.dev/registry/0' since-revision='41' prefix='ex-'/></pubsub>";
    let req = PubsubRequest::try_from(&parse(xml)).unwrap();
    let expected = Subscribe {
        node: REGISTRY_NODE.into(),
        jid: "ex-a.example".into(),
        since_revision: Some(41),
        prefix: Some("ex-".into()),
    };
    assert_eq!(req, PubsubRequest::Subscribe(expected));
    assert_eq!(req.to_element(), parse(xml));
}

#[test]
fn plain_xep0060_subscribe_has_no_watch() {
    let s =
        Subscribe { node: "registry".into(), jid: "ex-a.example".into(), since_revision: None, prefix: None };
    let el = PubsubRequest::Subscribe(s.clone()).to_element();
    assert_eq!(
        el.to_xml(),
        "<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='registry' jid='ex-a.example'/></pubsub>"
    );
    assert_eq!(PubsubRequest::try_from(&el), Ok(PubsubRequest::Subscribe(s)));
}

#[test]
fn unsubscribe_round_trips() {
    let u = PubsubRequest::Unsubscribe(Unsubscribe {
        node: "registry".into(),
        jid: "ex-a.example".into(),
        subid: Some("s1".into()),
    });
    assert_eq!(PubsubRequest::try_from(&parse(&u.to_element().to_xml())), Ok(u));
}

#[test]
fn requests_reject_invalid() {
    let sub = |attrs: &[(&str, &str)]| {
        let mut s = Element::new("subscribe", ns::PUBSUB);
        for (k, v) in attrs {
            s.set_attr(*k, *v);
        }
        Element::new("pubsub", ns::PUBSUB).with_child(s)
    };
    assert_eq!(
        PubsubRequest::try_from(&sub(&[("jid", "a")])),
        Err(ParseError::MissingAttr { element: "subscribe", attr: "node" })
    );
    assert_eq!(
        PubsubRequest::try_from(&sub(&[("node", "n")])),
        Err(ParseError::MissingAttr { element: "subscribe", attr: "jid" })
    );
    let bad_rev = sub(&[("node", "n"), ("jid", "a")])
        .with_child(Element::new("watch", ns::REGISTRY).with_attr("since-revision", "soon"));
    assert_eq!(
        PubsubRequest::try_from(&bad_rev),
        Err(ParseError::InvalidAttr { element: "watch", attr: "since-revision", value: "soon".into() })
    );
    let long = sub(&[("node", "n"), ("jid", "a")])
        .with_child(Element::new("watch", ns::REGISTRY).with_attr("prefix", "p".repeat(254)));
    assert_eq!(
        PubsubRequest::try_from(&long),
        Err(ParseError::Invalid("the watch prefix exceeds 253 bytes".into()))
    );
    assert_eq!(
        PubsubRequest::try_from(&Element::new("pubsub", ns::PUBSUB)),
        Err(ParseError::MissingChild { element: "pubsub", child: "subscribe" })
    );
    let unsub = Element::new("pubsub", ns::PUBSUB)
        .with_child(Element::new("unsubscribe", ns::PUBSUB).with_attr("node", "n"));
    assert_eq!(
        PubsubRequest::try_from(&unsub),
        Err(ParseError::MissingAttr { element: "unsubscribe", attr: "jid" })
    );
}

#[test]
fn subscription_result() {
    let xml = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
               <subscription node='registry' jid='ex-a.example' subid='s1' subscription='subscribed'/></pubsub>";
    let s = Subscription::try_from(&parse(xml)).unwrap();
    assert_eq!(s.state, SubscriptionState::Subscribed);
    assert_eq!(s.subid.as_deref(), Some("s1"));
    assert_eq!(s.to_element(), parse(xml));
    let bad = parse(&xml.replace("'subscribed'", "'maybe'"));
    assert_eq!(
        Subscription::try_from(&bad),
        Err(ParseError::InvalidAttr { element: "subscription", attr: "subscription", value: "maybe".into() })
    );
    assert_eq!(
        Subscription::try_from(&Element::new("pubsub", ns::PUBSUB)),
        Err(ParseError::MissingChild { element: "pubsub", child: "subscription" })
    );
}

#[test]
fn notification_parses_from_the_wire() {
    let xml = "<message xmlns='jabber:server' from='root.example' to='ex-b.example' type='headline'>\
               <event xmlns='http://jabber.org/protocol/pubsub#event'><items node='registry'>\
               <item id='exchange:ex-a.example'><exchange xmlns='https://ns.icroot.dev/registry/0'/></item>\
               <retract id='cloud:ex-a/eu'/></items></event>\
               <revision xmlns='https://ns.icroot.dev/registry/0' value='42'/></message>";
    let msg = Message::try_from(&parse(xml)).unwrap();
    let n = Notification::from_message(&msg).unwrap();
    assert_eq!(n.revision, Some(42));
    assert_eq!(n.event.node, "registry");
    assert_eq!(n.event.items[0].id, "exchange:ex-a.example");
    assert_eq!(n.event.items[0].payload.as_ref().map(Element::name), Some("exchange"));
    assert_eq!(n.event.retracts, ["cloud:ex-a/eu"]);
    let out = n.to_message("root.example", "ex-b.example");
    assert_eq!(out.kind, MessageType::Headline);
    assert_eq!(out.to_element(), parse(xml));
}

#[test]
fn notification_rejects_invalid() {
    let msg = |payloads| Message::new(MessageType::Headline, "a", "b", payloads);
    assert_eq!(
        Notification::from_message(&msg(vec![])),
        Err(ParseError::MissingChild { element: "message", child: "event" })
    );
    assert_eq!(
        Event::try_from(&Element::new("event", ns::PUBSUB_EVENT)),
        Err(ParseError::MissingChild { element: "event", child: "items" })
    );
    let no_node = Element::new("event", ns::PUBSUB_EVENT).with_child(Element::new("items", ns::PUBSUB_EVENT));
    assert_eq!(Event::try_from(&no_node), Err(ParseError::MissingAttr { element: "items", attr: "node" }));
    let mut ev = Event::registry();
    ev.retracts.push("x".into());
    let no_id = Event::registry().to_element();
    let no_id = Element::new("event", ns::PUBSUB_EVENT).with_child(
        no_id
            .child("items", ns::PUBSUB_EVENT)
            .cloned()
            .unwrap()
            .with_child(Element::new("retract", ns::PUBSUB_EVENT)),
    );
    assert_eq!(Event::try_from(&no_id), Err(ParseError::MissingAttr { element: "retract", attr: "id" }));
    let bad_rev = msg(vec![ev.to_element(), Element::new("revision", ns::REGISTRY).with_attr("value", "x")]);
    assert_eq!(
        Notification::from_message(&bad_rev),
        Err(ParseError::InvalidAttr { element: "revision", attr: "value", value: "x".into() })
    );
    let mut flood = Event::registry();
    flood.retracts = (0..=MAX_EVENT_ENTRIES).map(|i| i.to_string()).collect();
    assert!(matches!(Event::try_from(&flood.to_element()), Err(ParseError::Invalid(_))));
}

#[test]
fn item_ids() {
    assert_eq!(item_id(RecordKind::Cloud, "ex-a/eu:1"), "cloud:ex-a/eu:1");
    assert_eq!(parse_item_id("cloud:ex-a/eu:1"), Some((RecordKind::Cloud, "ex-a/eu:1")));
    assert_eq!(parse_item_id("exchange:ex-a.example"), Some((RecordKind::Exchange, "ex-a.example")));
    assert_eq!(parse_item_id("zone:x"), None);
    assert_eq!(parse_item_id("nocolon"), None);
}

proptest! {
    #[test]
    fn notifications_round_trip(
        ids in proptest::collection::vec("[a-z:./-]{1,20}", 0..5),
        retracts in proptest::collection::vec("[a-z:./-]{1,20}", 0..5),
        revision in proptest::option::of(any::<u64>()),
        since in proptest::option::of(any::<u64>()),
    ) {
        let event = Event {
            node: REGISTRY_NODE.into(),
            items: ids.into_iter().map(|id| EventItem { id, payload: Some(Element::new("cloud", ns::REGISTRY)) }).collect(),
            retracts,
        };
        let n = Notification { event, revision };
        let wire = parse(&n.to_message("r", "s").to_element().to_xml());
        prop_assert_eq!(Notification::from_message(&Message::try_from(&wire).unwrap()), Ok(n));
        let req = PubsubRequest::Subscribe(Subscribe { node: "registry".into(), jid: "s".into(), since_revision: since, prefix: None });
        prop_assert_eq!(PubsubRequest::try_from(&parse(&req.to_element().to_xml())), Ok(req));
    }
}
