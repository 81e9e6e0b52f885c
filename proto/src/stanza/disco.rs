//! XEP-0030 Service Discovery: `disco#info` and `disco#items` queries and results.
//!
//! ```xml
//! <query xmlns='http://jabber.org/protocol/disco#info' node='…'>
//!   <identity category='server' type='im' name='icroot'/><feature var='urn:xmpp:ping'/>
//! </query>
//! <query xmlns='http://jabber.org/protocol/disco#items'><item jid='…' node='…' name='…'/></query>
//! ```
//!
//! A query and its result share the element; the iq type (get vs result) tells them apart.

use crate::ns;
use crate::stanza::{expect_element, required_attr, ParseError};
use crate::xml::Element;

/// Most identities, features or items we read from one result (bounds allocation).
pub const MAX_DISCO_ENTRIES: usize = 1024;

fn node_attr(el: &Element) -> Option<String> {
    el.attr("node").map(str::to_owned)
}

fn too_many(element: &'static str) -> ParseError {
    ParseError::Invalid(format!("<{element}/> lists more than {MAX_DISCO_ENTRIES} entries"))
}

/// `<query xmlns='…disco#info' node?/>` sent in an iq get.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InfoQuery {
    /// The node queried, if any.
    pub node: Option<String>,
}

impl InfoQuery {
    /// The `<query/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("query", ns::DISCO_INFO).with_opt_attr("node", self.node.clone())
    }
}

impl TryFrom<&Element> for InfoQuery {
    type Error = ParseError;
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "query", ns::DISCO_INFO)?;
        Ok(InfoQuery { node: node_attr(el) })
    }
}

/// One `<identity/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Category (e.g. `server`, `pubsub`).
    pub category: String,
    /// Type within the category (e.g. `im`, `service`).
    pub kind: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// `xml:lang` of the name.
    pub lang: Option<String>,
}

impl Identity {
    /// An identity without name.
    pub fn new(category: impl Into<String>, kind: impl Into<String>) -> Self {
        Identity { category: category.into(), kind: kind.into(), name: None, lang: None }
    }
}

/// The disco#info result: at least one identity, and the features supported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoResult {
    /// The node answered for, echoed from the query.
    pub node: Option<String>,
    /// Identities (XEP-0030 requires at least one).
    pub identities: Vec<Identity>,
    /// Feature namespaces (`var`).
    pub features: Vec<String>,
}

impl InfoResult {
    /// The `<query/>` element.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("query", ns::DISCO_INFO).with_opt_attr("node", self.node.clone());
        for i in &self.identities {
            e.append_child(
                Element::new("identity", ns::DISCO_INFO)
                    .with_attr("category", i.category.clone())
                    .with_attr("type", i.kind.clone())
                    .with_opt_attr("name", i.name.clone())
                    .with_opt_attr("xml:lang", i.lang.clone()),
            );
        }
        for f in &self.features {
            e.append_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f.clone()));
        }
        e
    }

    /// Whether `feature` is listed.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

impl TryFrom<&Element> for InfoResult {
    type Error = ParseError;
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "query", ns::DISCO_INFO)?;
        let mut identities = Vec::new();
        let mut features = Vec::new();
        for c in el.children().filter(|c| c.ns() == ns::DISCO_INFO) {
            if identities.len() + features.len() >= MAX_DISCO_ENTRIES {
                return Err(too_many("query"));
            }
            match c.name() {
                "identity" => identities.push(Identity {
                    category: required_attr(c, "identity", "category")?.to_owned(),
                    kind: required_attr(c, "identity", "type")?.to_owned(),
                    name: c.attr("name").map(str::to_owned),
                    lang: c.attr("xml:lang").map(str::to_owned),
                }),
                "feature" => features.push(required_attr(c, "feature", "var")?.to_owned()),
                _ => {}
            }
        }
        if identities.is_empty() {
            return Err(ParseError::MissingChild { element: "query", child: "identity" });
        }
        Ok(InfoResult { node: node_attr(el), identities, features })
    }
}

/// `<query xmlns='…disco#items' node?/>` sent in an iq get.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemsQuery {
    /// The node queried, if any.
    pub node: Option<String>,
}

impl ItemsQuery {
    /// The `<query/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("query", ns::DISCO_ITEMS).with_opt_attr("node", self.node.clone())
    }
}

impl TryFrom<&Element> for ItemsQuery {
    type Error = ParseError;
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "query", ns::DISCO_ITEMS)?;
        Ok(ItemsQuery { node: node_attr(el) })
    }
}

/// One `<item/>` of an items result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoItem {
    /// The item's address.
    pub jid: String,
    /// The node at that address, if any.
    pub node: Option<String>,
    /// Human-readable name.
    pub name: Option<String>,
}

/// The disco#items result.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemsResult {
    /// The node answered for, echoed from the query.
    pub node: Option<String>,
    /// The items (possibly none).
    pub items: Vec<DiscoItem>,
}

impl ItemsResult {
    /// The `<query/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("query", ns::DISCO_ITEMS).with_opt_attr("node", self.node.clone()).with_children(
            self.items.iter().map(|i| {
                Element::new("item", ns::DISCO_ITEMS)
                    .with_attr("jid", i.jid.clone())
                    .with_opt_attr("node", i.node.clone())
                    .with_opt_attr("name", i.name.clone())
            }),
        )
    }
}

impl TryFrom<&Element> for ItemsResult {
    type Error = ParseError;
    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "query", ns::DISCO_ITEMS)?;
        let mut items = Vec::new();
        for c in el.children().filter(|c| c.is("item", ns::DISCO_ITEMS)) {
            if items.len() >= MAX_DISCO_ENTRIES {
                return Err(too_many("query"));
            }
            items.push(DiscoItem {
                jid: required_attr(c, "item", "jid")?.to_owned(),
                node: c.attr("node").map(str::to_owned),
                name: c.attr("name").map(str::to_owned),
            });
        }
        Ok(ItemsResult { node: node_attr(el), items })
    }
}

#[cfg(test)]
#[path = "disco_tests.rs"]
mod tests;
