//! XEP-0060 event notifications (`<event><items>…</items></event>`) and the message that
//! carries them with icroot's `<revision/>` stamp.

use super::{MAX_EVENT_ENTRIES, REGISTRY_NODE};
use crate::ns;
use crate::stanza::envelope::{Message, MessageType};
use crate::stanza::{expect_element, parse_attr, required_attr, ParseError};
use crate::xml::Element;

/// One published `<item id='…'>payload</item>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventItem {
    /// Item id (see [`super::item_id`]).
    pub id: String,
    /// The payload (a registry record), if the notification includes it.
    pub payload: Option<Element>,
}

/// `<event xmlns='…pubsub#event'><items node='…'>` with published items and retractions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The node.
    pub node: String,
    /// Items published (created or changed records).
    pub items: Vec<EventItem>,
    /// Ids retracted (removed records).
    pub retracts: Vec<String>,
}

impl Event {
    /// An empty event on the registry node.
    pub fn registry() -> Self {
        Event { node: REGISTRY_NODE.to_owned(), items: Vec::new(), retracts: Vec::new() }
    }

    /// The `<event/>` element.
    pub fn to_element(&self) -> Element {
        let mut items = Element::new("items", ns::PUBSUB_EVENT).with_attr("node", self.node.clone());
        for i in &self.items {
            let mut item = Element::new("item", ns::PUBSUB_EVENT).with_attr("id", i.id.clone());
            if let Some(p) = &i.payload {
                item.append_child(p.clone());
            }
            items.append_child(item);
        }
        for r in &self.retracts {
            items.append_child(Element::new("retract", ns::PUBSUB_EVENT).with_attr("id", r.clone()));
        }
        Element::new("event", ns::PUBSUB_EVENT).with_child(items)
    }
}

impl TryFrom<&Element> for Event {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "event", ns::PUBSUB_EVENT)?;
        let items_el = el
            .child("items", ns::PUBSUB_EVENT)
            .ok_or(ParseError::MissingChild { element: "event", child: "items" })?;
        let mut ev = Event {
            node: required_attr(items_el, "items", "node")?.to_owned(),
            items: Vec::new(),
            retracts: Vec::new(),
        };
        for c in items_el.children().filter(|c| c.ns() == ns::PUBSUB_EVENT) {
            if ev.items.len() + ev.retracts.len() >= MAX_EVENT_ENTRIES {
                return Err(ParseError::Invalid(format!(
                    "<items/> holds more than {MAX_EVENT_ENTRIES} entries"
                )));
            }
            match c.name() {
                "item" => ev.items.push(EventItem {
                    id: required_attr(c, "item", "id")?.to_owned(),
                    payload: c.children().next().cloned(),
                }),
                "retract" => ev.retracts.push(required_attr(c, "retract", "id")?.to_owned()),
                _ => {}
            }
        }
        Ok(ev)
    }
}

/// A change notification: a headline message with the [`Event`] and the registry revision the
/// change was committed at (`<revision xmlns=REGISTRY value='…'/>`), which a watcher passes as
/// `since-revision` to resume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The event.
    pub event: Event,
    /// The registry revision of the change, when the publisher is an icroot root.
    pub revision: Option<u64>,
}

impl Notification {
    /// The `<message type='headline'/>` from the root to a subscriber.
    pub fn to_message(&self, from: impl Into<String>, to: impl Into<String>) -> Message {
        let mut payloads = vec![self.event.to_element()];
        if let Some(r) = self.revision {
            payloads.push(Element::new("revision", ns::REGISTRY).with_attr("value", r.to_string()));
        }
        Message::new(MessageType::Headline, from, to, payloads)
    }

    /// Read a notification from a message's payloads.
    pub fn from_message(msg: &Message) -> Result<Self, ParseError> {
        let ev = msg
            .payloads
            .iter()
            .find(|p| p.is("event", ns::PUBSUB_EVENT))
            .ok_or(ParseError::MissingChild { element: "message", child: "event" })?;
        let revision = match msg.payloads.iter().find(|p| p.is("revision", ns::REGISTRY)) {
            Some(r) => Some(parse_attr(r, "revision", "value")?),
            None => None,
        };
        Ok(Notification { event: Event::try_from(ev)?, revision })
    }
}
