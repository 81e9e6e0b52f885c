//! XEP-0060 Publish-Subscribe, the subset a registry watcher needs, plus icroot's resume
//! extension.
//!
//! ```xml
//! <pubsub xmlns='http://jabber.org/protocol/pubsub'>
//!   <subscribe node='registry' jid='ex-a.example'/>
//!   <watch xmlns='https://ns.icroot.dev/registry/0' since-revision='41' prefix='ex-'/>
//! </pubsub>
//! <message type='headline'>
//!   <event xmlns='http://jabber.org/protocol/pubsub#event'>
//!     <items node='registry'><item id='exchange:ex-a.example'><exchange …/></item>
//!       <retract id='cloud:ex-a/eu'/></items>
//!   </event>
//!   <revision xmlns='https://ns.icroot.dev/registry/0' value='42'/>
//! </message>
//! ```

use super::registry::bounds::MAX_DOMAIN_BYTES;
use super::registry::RecordKind;
use crate::ns;
use crate::stanza::{expect_element, parse_opt_attr, required_attr, ParseError};
use crate::xml::Element;

/// The one node the root publishes registry changes on.
pub const REGISTRY_NODE: &str = "registry";
/// Most items plus retractions in one notification (bounds allocation).
pub const MAX_EVENT_ENTRIES: usize = 256;

/// The item id of a record: `exchange:<domain>` or `cloud:<id>`.
pub fn item_id(kind: RecordKind, key: &str) -> String {
    format!("{}:{key}", kind.as_str())
}

/// Split an item id made by [`item_id`].
pub fn parse_item_id(id: &str) -> Option<(RecordKind, &str)> {
    let (k, key) = id.split_once(':')?;
    Some((RecordKind::parse(k)?, key))
}

/// `<subscribe/>` (iq set), with the optional `<watch/>` resume extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    /// The node (normally [`REGISTRY_NODE`]).
    pub node: String,
    /// The subscribing address (the sender's domain).
    pub jid: String,
    /// Deliver every change after this revision first, then live changes.
    pub since_revision: Option<u64>,
    /// Only changes to keys with this prefix (≤ [`MAX_DOMAIN_BYTES`]).
    pub prefix: Option<String>,
}

/// `<unsubscribe/>` (iq set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The node.
    pub node: String,
    /// The subscribed address.
    pub jid: String,
    /// The subscription id, when the service issued one.
    pub subid: Option<String>,
}

/// A pubsub request (the `<pubsub/>` payload of an iq set).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PubsubRequest {
    /// Subscribe.
    Subscribe(Subscribe),
    /// Unsubscribe.
    Unsubscribe(Unsubscribe),
}

impl PubsubRequest {
    /// The `<pubsub/>` element.
    pub fn to_element(&self) -> Element {
        let e = Element::new("pubsub", ns::PUBSUB);
        match self {
            PubsubRequest::Subscribe(s) => {
                let e = e.with_child(
                    Element::new("subscribe", ns::PUBSUB)
                        .with_attr("node", s.node.clone())
                        .with_attr("jid", s.jid.clone()),
                );
                if s.since_revision.is_none() && s.prefix.is_none() {
                    return e;
                }
                e.with_child(
                    Element::new("watch", ns::REGISTRY)
                        .with_opt_attr("since-revision", s.since_revision.map(|r| r.to_string()))
                        .with_opt_attr("prefix", s.prefix.clone()),
                )
            }
            PubsubRequest::Unsubscribe(u) => e.with_child(
                Element::new("unsubscribe", ns::PUBSUB)
                    .with_attr("node", u.node.clone())
                    .with_attr("jid", u.jid.clone())
                    .with_opt_attr("subid", u.subid.clone()),
            ),
        }
    }
}

impl TryFrom<&Element> for PubsubRequest {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "pubsub", ns::PUBSUB)?;
        if let Some(s) = el.child("subscribe", ns::PUBSUB) {
            let watch = el.child("watch", ns::REGISTRY);
            let prefix = watch.and_then(|w| w.attr("prefix")).map(str::to_owned);
            if prefix.as_ref().is_some_and(|p| p.len() > MAX_DOMAIN_BYTES) {
                return Err(ParseError::Invalid(format!(
                    "the watch prefix exceeds {MAX_DOMAIN_BYTES} bytes"
                )));
            }
            let since_revision = match watch {
                Some(w) => parse_opt_attr(w, "watch", "since-revision")?,
                None => None,
            };
            return Ok(PubsubRequest::Subscribe(Subscribe {
                node: required_attr(s, "subscribe", "node")?.to_owned(),
                jid: required_attr(s, "subscribe", "jid")?.to_owned(),
                since_revision,
                prefix,
            }));
        }
        if let Some(u) = el.child("unsubscribe", ns::PUBSUB) {
            return Ok(PubsubRequest::Unsubscribe(Unsubscribe {
                node: required_attr(u, "unsubscribe", "node")?.to_owned(),
                jid: required_attr(u, "unsubscribe", "jid")?.to_owned(),
                subid: u.attr("subid").map(str::to_owned),
            }));
        }
        Err(ParseError::MissingChild { element: "pubsub", child: "subscribe" })
    }
}

/// XEP-0060 subscription states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscriptionState {
    /// Not subscribed.
    None,
    /// Awaiting approval.
    Pending,
    /// Needs configuration first.
    Unconfigured,
    /// Subscribed.
    Subscribed,
}

impl SubscriptionState {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::None => "none",
            SubscriptionState::Pending => "pending",
            SubscriptionState::Unconfigured => "unconfigured",
            SubscriptionState::Subscribed => "subscribed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => SubscriptionState::None,
            "pending" => SubscriptionState::Pending,
            "unconfigured" => SubscriptionState::Unconfigured,
            "subscribed" => SubscriptionState::Subscribed,
            _ => return None,
        })
    }
}

/// `<pubsub><subscription/></pubsub>`: the answer to a subscribe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The node.
    pub node: String,
    /// The subscribed address.
    pub jid: String,
    /// Subscription id, if issued.
    pub subid: Option<String>,
    /// The state.
    pub state: SubscriptionState,
}

impl Subscription {
    /// The `<pubsub/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("pubsub", ns::PUBSUB).with_child(
            Element::new("subscription", ns::PUBSUB)
                .with_attr("node", self.node.clone())
                .with_attr("jid", self.jid.clone())
                .with_opt_attr("subid", self.subid.clone())
                .with_attr("subscription", self.state.as_str()),
        )
    }
}

impl TryFrom<&Element> for Subscription {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "pubsub", ns::PUBSUB)?;
        let s = el
            .child("subscription", ns::PUBSUB)
            .ok_or(ParseError::MissingChild { element: "pubsub", child: "subscription" })?;
        let st = required_attr(s, "subscription", "subscription")?;
        let state = SubscriptionState::parse(st).ok_or_else(|| ParseError::InvalidAttr {
            element: "subscription",
            attr: "subscription",
            value: st.to_owned(),
        })?;
        Ok(Subscription {
            node: required_attr(s, "subscription", "node")?.to_owned(),
            jid: required_attr(s, "subscription", "jid")?.to_owned(),
            subid: s.attr("subid").map(str::to_owned),
            state,
        })
    }
}

mod event;
pub use event::{Event, EventItem, Notification};

#[cfg(test)]
#[path = "pubsub_tests.rs"]
mod tests;
