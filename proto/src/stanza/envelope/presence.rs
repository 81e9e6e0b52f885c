//! The `<presence/>` envelope (RFC 6121 §4): availability, subscription management, probes.

use super::{error_child, expect_stanza, payload_children};
use crate::error::StanzaError;
use crate::ns;
use crate::stanza::{required_attr, ParseError};
use crate::xml::Element;

/// RFC 6121 presence types; `Available` is the absence of a `type` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PresenceType {
    /// Online (no `type` attribute). From an Exchange this renews its lease.
    #[default]
    Available,
    /// Going offline.
    Unavailable,
    /// Ask to subscribe to the recipient's presence.
    Subscribe,
    /// Subscription approved.
    Subscribed,
    /// Cancel our subscription.
    Unsubscribe,
    /// Subscription denied or cancelled.
    Unsubscribed,
    /// Ask for the recipient's current presence.
    Probe,
    /// An error answer.
    Error,
}

impl PresenceType {
    /// The `type` attribute value (`None` for available).
    pub fn as_attr(self) -> Option<&'static str> {
        Some(match self {
            PresenceType::Available => return None,
            PresenceType::Unavailable => "unavailable",
            PresenceType::Subscribe => "subscribe",
            PresenceType::Subscribed => "subscribed",
            PresenceType::Unsubscribe => "unsubscribe",
            PresenceType::Unsubscribed => "unsubscribed",
            PresenceType::Probe => "probe",
            PresenceType::Error => "error",
        })
    }

    fn parse(s: Option<&str>) -> Option<Self> {
        Some(match s {
            None => PresenceType::Available,
            Some("unavailable") => PresenceType::Unavailable,
            Some("subscribe") => PresenceType::Subscribe,
            Some("subscribed") => PresenceType::Subscribed,
            Some("unsubscribe") => PresenceType::Unsubscribe,
            Some("unsubscribed") => PresenceType::Unsubscribed,
            Some("probe") => PresenceType::Probe,
            Some("error") => PresenceType::Error,
            Some(_) => return None,
        })
    }
}

/// RFC 6121 §4.7.2.1 `<show/>` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Show {
    /// Temporarily away.
    Away,
    /// Actively interested in chatting.
    Chat,
    /// Busy.
    Dnd,
    /// Away for an extended period.
    Xa,
}

impl Show {
    /// The element text.
    pub fn as_str(self) -> &'static str {
        match self {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "away" => Show::Away,
            "chat" => Show::Chat,
            "dnd" => Show::Dnd,
            "xa" => Show::Xa,
            _ => return None,
        })
    }
}

/// The longest `<status/>` text we accept, in bytes (RFC 6121 sets no limit; we bound it).
pub const MAX_STATUS_BYTES: usize = 1024;

/// A `<presence/>` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// Optional id.
    pub id: Option<String>,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// The presence type.
    pub kind: PresenceType,
    /// Availability detail.
    pub show: Option<Show>,
    /// Human-readable status (at most [`MAX_STATUS_BYTES`]).
    pub status: Option<String>,
    /// Priority, −128..=127.
    pub priority: Option<i8>,
    /// Extension payloads (e.g. the root's `<raft-role/>`), in document order.
    pub payloads: Vec<Element>,
    /// The error (present exactly when `kind` is [`PresenceType::Error`]).
    pub error: Option<StanzaError>,
}

impl Presence {
    /// A presence of `kind` with no show/status/priority.
    pub fn new(kind: PresenceType, from: impl Into<String>, to: impl Into<String>) -> Self {
        Presence {
            id: None,
            from: from.into(),
            to: to.into(),
            kind,
            show: None,
            status: None,
            priority: None,
            payloads: Vec::new(),
            error: None,
        }
    }

    /// Builder-style: add a payload.
    #[must_use]
    pub fn with_payload(mut self, payload: Element) -> Self {
        self.payloads.push(payload);
        self
    }

    /// The error bounced for `p`: same id, addresses swapped.
    pub fn error_for(p: &Presence, error: StanzaError) -> Self {
        Presence {
            id: p.id.clone(),
            error: Some(error),
            ..Presence::new(PresenceType::Error, p.to.clone(), p.from.clone())
        }
    }

    /// The `<presence/>` element in `jabber:server`.
    pub fn to_element(&self) -> Element {
        let cns = ns::JABBER_SERVER;
        let mut e = Element::new("presence", cns)
            .with_opt_attr("id", self.id.clone())
            .with_attr("from", self.from.clone())
            .with_attr("to", self.to.clone())
            .with_opt_attr("type", self.kind.as_attr());
        if let Some(s) = self.show {
            e.append_child(Element::new("show", cns).with_text(s.as_str()));
        }
        if let Some(s) = &self.status {
            e.append_child(Element::new("status", cns).with_text(s.clone()));
        }
        if let Some(p) = self.priority {
            e.append_child(Element::new("priority", cns).with_text(p.to_string()));
        }
        for p in &self.payloads {
            e.append_child(p.clone());
        }
        if let Some(err) = &self.error {
            e.append_child(err.to_element(cns));
        }
        e
    }
}

impl TryFrom<&Element> for Presence {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_stanza(el, "presence")?;
        let from = required_attr(el, "presence", "from")?.to_owned();
        let to = required_attr(el, "presence", "to")?.to_owned();
        let ty = el.attr("type");
        let kind = PresenceType::parse(ty).ok_or_else(|| ParseError::InvalidAttr {
            element: "presence",
            attr: "type",
            value: ty.unwrap_or_default().to_owned(),
        })?;
        let cns = el.ns();
        let show = match el.child("show", cns) {
            None => None,
            Some(s) => Some(Show::parse(&s.text()).ok_or_else(|| ParseError::InvalidAttr {
                element: "show",
                attr: "(text)",
                value: s.text(),
            })?),
        };
        let status = el.child("status", cns).map(Element::text);
        if status.as_ref().is_some_and(|s| s.len() > MAX_STATUS_BYTES) {
            return Err(ParseError::Invalid(format!("<status/> is longer than {MAX_STATUS_BYTES} bytes")));
        }
        let priority = match el.child("priority", cns) {
            None => None,
            Some(p) => Some(p.text().trim().parse::<i8>().map_err(|_| ParseError::InvalidAttr {
                element: "priority",
                attr: "(text)",
                value: p.text(),
            })?),
        };
        let error = error_child(el, "presence")?;
        if (kind == PresenceType::Error) != error.is_some() {
            return Err(match error {
                None => ParseError::MissingChild { element: "presence", child: "error" },
                Some(_) => ParseError::Invalid("an <error/> child needs type='error'".into()),
            });
        }
        let payloads = payload_children(el, &["show", "status", "priority"]).cloned().collect();
        Ok(Presence {
            id: el.attr("id").map(str::to_owned),
            from,
            to,
            kind,
            show,
            status,
            priority,
            payloads,
            error,
        })
    }
}
