//! The three RFC 6120 stanzas — `<iq/>`, `<message/>`, `<presence/>` — as typed envelopes around
//! payload elements, plus a small RFC 7622 [`Jid`] helper.
//!
//! ```text
//!  Element{jabber:server|jabber:client} ─▶ Iq | Message | Presence ─▶ payload Element(s) ─▶ raft, registry, …
//! ```
//!
//! Addresses stay strings: between root nodes they are bare domains, but a stanza relayed by a
//! real XMPP server may carry `local@domain/resource`; [`Jid::parse`] splits and checks them
//! where a handler needs to.

use crate::error::StanzaError;
use crate::ns;
use crate::stanza::{required_attr, ParseError};
use crate::xml::Element;

mod jid;
mod presence;
pub use jid::{Jid, JidError, MAX_JID_PART_BYTES};
pub use presence::{Presence, PresenceType, Show, MAX_STATUS_BYTES};

/// Whether `el` is `name` in one of the two content namespaces we accept.
fn is_stanza(el: &Element, name: &str) -> bool {
    el.name() == name && (el.ns() == ns::JABBER_SERVER || el.ns() == ns::JABBER_CLIENT)
}

fn expect_stanza(el: &Element, name: &'static str) -> Result<(), ParseError> {
    if is_stanza(el, name) {
        Ok(())
    } else {
        Err(ParseError::WrongElement {
            name,
            ns: ns::JABBER_SERVER,
            found: format!("{{{}}}{}", el.ns(), el.name()),
        })
    }
}

/// The `<error/>` child in the stanza's own content namespace, parsed.
fn error_child(el: &Element, element: &'static str) -> Result<Option<StanzaError>, ParseError> {
    match el.child("error", el.ns()) {
        None => Ok(None),
        Some(e) => {
            StanzaError::from_element(e).map(Some).ok_or(ParseError::MissingChild { element, child: "error" })
        }
    }
}

/// Child elements that are neither the error nor (for presence) the RFC 6121 content children.
fn payload_children<'a>(el: &'a Element, skip: &'a [&'a str]) -> impl Iterator<Item = &'a Element> {
    let content_ns = el.ns();
    el.children()
        .filter(move |c| !(c.ns() == content_ns && (c.name() == "error" || skip.contains(&c.name()))))
}

/// RFC 6120 §8.2.3 iq types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IqType {
    /// A request for information.
    Get,
    /// A request to change state.
    Set,
    /// A successful answer.
    Result,
    /// A failed answer.
    Error,
}

impl IqType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "result" => IqType::Result,
            "error" => IqType::Error,
            _ => return None,
        })
    }

    /// Whether this is a request (get/set), which must be answered.
    pub fn is_request(self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

/// An `<iq/>` stanza.
///
/// Invariants enforced on parse (RFC 6120 §8.2.3): `id` is present; get/set carry exactly one
/// payload child; result carries at most one; error carries an `<error/>` child (and may echo
/// the request payload). `from`/`to` are required on S2S streams (§8.1.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iq {
    /// Request/response correlation id.
    pub id: String,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// The iq type.
    pub kind: IqType,
    /// The single payload child (required for get/set).
    pub payload: Option<Element>,
    /// The error (present exactly when `kind` is [`IqType::Error`]).
    pub error: Option<StanzaError>,
}

impl Iq {
    /// A get/set request carrying `payload`.
    pub fn request(
        kind: IqType,
        id: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        payload: Element,
    ) -> Self {
        Iq { id: id.into(), from: from.into(), to: to.into(), kind, payload: Some(payload), error: None }
    }

    /// The result answering `req`: same id, addresses swapped.
    pub fn result_for(req: &Iq, payload: Option<Element>) -> Self {
        Iq {
            id: req.id.clone(),
            from: req.to.clone(),
            to: req.from.clone(),
            kind: IqType::Result,
            payload,
            error: None,
        }
    }

    /// The error answering `req`: same id, addresses swapped, request payload not echoed.
    pub fn error_for(req: &Iq, error: StanzaError) -> Self {
        Iq {
            id: req.id.clone(),
            from: req.to.clone(),
            to: req.from.clone(),
            kind: IqType::Error,
            payload: None,
            error: Some(error),
        }
    }

    /// The `<iq/>` element in `jabber:server`.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("iq", ns::JABBER_SERVER)
            .with_attr("id", self.id.clone())
            .with_attr("from", self.from.clone())
            .with_attr("to", self.to.clone())
            .with_attr("type", self.kind.as_str());
        if let Some(p) = &self.payload {
            e.append_child(p.clone());
        }
        if let Some(err) = &self.error {
            e.append_child(err.to_element(ns::JABBER_SERVER));
        }
        e
    }
}

impl TryFrom<&Element> for Iq {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_stanza(el, "iq")?;
        let id = required_attr(el, "iq", "id")?.to_owned();
        let from = required_attr(el, "iq", "from")?.to_owned();
        let to = required_attr(el, "iq", "to")?.to_owned();
        let ty = required_attr(el, "iq", "type")?;
        let kind = IqType::parse(ty).ok_or_else(|| ParseError::InvalidAttr {
            element: "iq",
            attr: "type",
            value: ty.to_owned(),
        })?;
        let error = error_child(el, "iq")?;
        let mut payloads = payload_children(el, &[]);
        let payload = payloads.next().cloned();
        let extra = payloads.next().is_some();
        match kind {
            IqType::Get | IqType::Set if payload.is_none() || extra || error.is_some() => {
                Err(ParseError::Invalid(format!("an iq of type {ty} needs exactly one payload child")))
            }
            IqType::Result if extra || error.is_some() => {
                Err(ParseError::Invalid("an iq of type result has at most one payload child".into()))
            }
            IqType::Error if error.is_none() => {
                Err(ParseError::MissingChild { element: "iq", child: "error" })
            }
            IqType::Error if extra => {
                Err(ParseError::Invalid("an iq of type error echoes at most one payload child".into()))
            }
            _ => Ok(Iq { id, from, to, kind, payload, error }),
        }
    }
}

/// RFC 6121 §5.2.2 message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MessageType {
    /// No `type` attribute (or one we do not understand, as RFC 6121 §5.2.2 requires).
    #[default]
    Normal,
    /// One-to-one chat.
    Chat,
    /// Multi-user chat.
    Groupchat,
    /// Alert or notification that expects no reply (pubsub events use this).
    Headline,
    /// An error answer.
    Error,
}

impl MessageType {
    /// The `type` attribute value (`None` for normal, which is the default on the wire).
    pub fn as_attr(self) -> Option<&'static str> {
        match self {
            MessageType::Normal => None,
            MessageType::Chat => Some("chat"),
            MessageType::Groupchat => Some("groupchat"),
            MessageType::Headline => Some("headline"),
            MessageType::Error => Some("error"),
        }
    }

    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("chat") => MessageType::Chat,
            Some("groupchat") => MessageType::Groupchat,
            Some("headline") => MessageType::Headline,
            Some("error") => MessageType::Error,
            _ => MessageType::Normal,
        }
    }
}

/// A `<message/>` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Optional id (XEP-0362 messages and pubsub events may carry one).
    pub id: Option<String>,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// The message type.
    pub kind: MessageType,
    /// Payload children in document order (everything but `<error/>`).
    pub payloads: Vec<Element>,
    /// The error (present exactly when `kind` is [`MessageType::Error`]).
    pub error: Option<StanzaError>,
}

impl Message {
    /// A message of `kind` with payloads.
    pub fn new(
        kind: MessageType,
        from: impl Into<String>,
        to: impl Into<String>,
        payloads: Vec<Element>,
    ) -> Self {
        Message { id: None, from: from.into(), to: to.into(), kind, payloads, error: None }
    }

    /// The error bounced for `msg`: same id, addresses swapped, payloads dropped.
    pub fn error_for(msg: &Message, error: StanzaError) -> Self {
        Message {
            id: msg.id.clone(),
            from: msg.to.clone(),
            to: msg.from.clone(),
            kind: MessageType::Error,
            payloads: Vec::new(),
            error: Some(error),
        }
    }

    /// The `<message/>` element in `jabber:server`.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("message", ns::JABBER_SERVER)
            .with_opt_attr("id", self.id.clone())
            .with_attr("from", self.from.clone())
            .with_attr("to", self.to.clone())
            .with_opt_attr("type", self.kind.as_attr());
        for p in &self.payloads {
            e.append_child(p.clone());
        }
        if let Some(err) = &self.error {
            e.append_child(err.to_element(ns::JABBER_SERVER));
        }
        e
    }
}

impl TryFrom<&Element> for Message {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_stanza(el, "message")?;
        let from = required_attr(el, "message", "from")?.to_owned();
        let to = required_attr(el, "message", "to")?.to_owned();
        let kind = MessageType::parse(el.attr("type"));
        let error = error_child(el, "message")?;
        if kind == MessageType::Error && error.is_none() {
            return Err(ParseError::MissingChild { element: "message", child: "error" });
        }
        if kind != MessageType::Error && error.is_some() {
            return Err(ParseError::Invalid("an <error/> child needs type='error'".into()));
        }
        let payloads = payload_children(el, &[]).cloned().collect();
        Ok(Message { id: el.attr("id").map(str::to_owned), from, to, kind, payloads, error })
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
