use proptest::prelude::*;

use super::*;
use crate::xml::parse_fragment;

fn parse(xml: &str) -> Element {
    parse_fragment(xml).expect("test XML is well-formed")
}

fn root_info() -> InfoResult {
    InfoResult {
        node: None,
        identities: vec![Identity {
            category: "server".into(),
            kind: "im".into(),
            name: Some("icroot".into()),
            lang: Some("en".into()),
        }],
        features: vec![ns::DISCO_INFO.into(), ns::PING.into(), ns::REGISTRY.into()],
    }
}

#[test]
fn info_result_parses_from_the_wire() {
    let xml = "<query xmlns='http://jabber.org/protocol/disco#info'>\
               <identity category='server' type='im' name='icroot' xml:lang='en'/>\
               <feature var='http://jabber.org/protocol/disco#info'/><feature var='urn:xmpp:ping'/>\
               <feature var='https://ns.icroot.dev/registry/0'/></query>";
    let info = InfoResult::try_from(&parse(xml)).unwrap();
    assert_eq!(info, root_info());
    assert!(info.has_feature(ns::PING));
    assert!(!info.has_feature(ns::RAFT));
    assert_eq!(InfoResult::try_from(&parse(&info.to_element().to_xml())), Ok(info));
}

#[test]
fn queries_carry_the_node() {
    let q = InfoQuery { node: Some("registry".into()) };
    assert_eq!(
        q.to_element().to_xml(),
        "<query xmlns='http://jabber.org/protocol/disco#info' node='registry'/>"
    );
    assert_eq!(InfoQuery::try_from(&q.to_element()), Ok(q));
    let q = ItemsQuery::default();
    assert_eq!(q.to_element().to_xml(), "<query xmlns='http://jabber.org/protocol/disco#items'/>");
    assert_eq!(ItemsQuery::try_from(&q.to_element()), Ok(q));
    assert_eq!(
        InfoQuery::try_from(&ItemsQuery::default().to_element()),
        Err(ParseError::WrongElement {
            name: "query",
            ns: ns::DISCO_INFO,
            found: "{http://jabber.org/protocol/disco#items}query".into()
        })
    );
}

#[test]
fn info_result_rejects_invalid() {
    assert_eq!(
        InfoResult::try_from(&InfoQuery::default().to_element()),
        Err(ParseError::MissingChild { element: "query", child: "identity" })
    );
    let no_type = InfoQuery::default()
        .to_element()
        .with_child(Element::new("identity", ns::DISCO_INFO).with_attr("category", "server"));
    assert_eq!(
        InfoResult::try_from(&no_type),
        Err(ParseError::MissingAttr { element: "identity", attr: "type" })
    );
    let no_category = InfoQuery::default()
        .to_element()
        .with_child(Element::new("identity", ns::DISCO_INFO).with_attr("type", "im"));
    assert_eq!(
        InfoResult::try_from(&no_category),
        Err(ParseError::MissingAttr { element: "identity", attr: "category" })
    );
    let no_var = root_info().to_element().with_child(Element::new("feature", ns::DISCO_INFO));
    assert_eq!(
        InfoResult::try_from(&no_var),
        Err(ParseError::MissingAttr { element: "feature", attr: "var" })
    );
    let flood = root_info().to_element().with_children(
        (0..MAX_DISCO_ENTRIES)
            .map(|i| Element::new("feature", ns::DISCO_INFO).with_attr("var", i.to_string())),
    );
    assert_eq!(
        InfoResult::try_from(&flood),
        Err(ParseError::Invalid(format!("<query/> lists more than {MAX_DISCO_ENTRIES} entries")))
    );
}

#[test]
fn items_result_parses_and_rejects() {
    let xml = "<query xmlns='http://jabber.org/protocol/disco#items' node='n'>\
               <item jid='root.example' node='registry' name='Registry changes'/><item jid='root2.example'/></query>";
    let items = ItemsResult::try_from(&parse(xml)).unwrap();
    assert_eq!(items.node.as_deref(), Some("n"));
    assert_eq!(
        items.items,
        [
            DiscoItem {
                jid: "root.example".into(),
                node: Some("registry".into()),
                name: Some("Registry changes".into())
            },
            DiscoItem { jid: "root2.example".into(), node: None, name: None },
        ]
    );
    let no_jid = ItemsQuery::default().to_element().with_child(Element::new("item", ns::DISCO_ITEMS));
    assert_eq!(ItemsResult::try_from(&no_jid), Err(ParseError::MissingAttr { element: "item", attr: "jid" }));
    let flood = ItemsQuery::default().to_element().with_children(
        (0..=MAX_DISCO_ENTRIES)
            .map(|i| Element::new("item", ns::DISCO_ITEMS).with_attr("jid", i.to_string())),
    );
    assert!(matches!(ItemsResult::try_from(&flood), Err(ParseError::Invalid(_))));
}

proptest! {
    #[test]
    fn info_and_items_round_trip(
        node in proptest::option::of("[ -~]{1,20}"),
        ids in proptest::collection::vec(("[a-z]{1,8}", "[a-z]{1,8}", proptest::option::of("[ -~]{1,12}")), 1..4),
        features in proptest::collection::vec("[a-z:/.#]{1,30}", 0..5),
        items in proptest::collection::vec(("[a-z.]{1,12}", proptest::option::of("[a-z]{1,6}")), 0..4),
    ) {
        let info = InfoResult {
            node: node.clone(),
            identities: ids.into_iter().map(|(c, k, n)| Identity { category: c, kind: k, name: n, lang: None }).collect(),
            features,
        };
        prop_assert_eq!(InfoResult::try_from(&parse(&info.to_element().to_xml())), Ok(info));
        let res = ItemsResult {
            node,
            items: items.into_iter().map(|(jid, node)| DiscoItem { jid, node, name: None }).collect(),
        };
        prop_assert_eq!(ItemsResult::try_from(&parse(&res.to_element().to_xml())), Ok(res));
    }
}
