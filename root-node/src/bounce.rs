//! Envelope checks the router makes before dispatching (docs/protocol.md §4.4): an iq whose
//! `type` is missing or unknown, and a message that does not parse, are answered `bad-request`
//! in a stanza of the same name; error stanzas are never answered. (Presence envelopes are
//! checked by [`crate::presence`].)
//!
//! ```text
//!  Incoming ─▶ bounce::refusal ─┬─ Some(error stanza) ─▶ send, stop
//!                               └─ None ─▶ router dispatch (raft / presence / iq handlers / dropped)
//! ```

use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::stanza::envelope::Message;
use proto::xml::Element;

/// The error answer to `stanza` if its envelope is refused here, else `None`.
pub(crate) fn refusal(stanza: &Element) -> Option<Element> {
    if stanza.attr("type") == Some("error") {
        return None;
    }
    let problem = match stanza.name() {
        "iq" => match stanza.attr("type") {
            None => Some("<iq/> lacks the required attribute 'type'".to_owned()),
            Some("get" | "set" | "result") => None,
            Some(other) => Some(format!("<iq/> has an invalid type '{other}'")),
        },
        "message" => Message::try_from(stanza).err().map(|e| e.to_string()),
        _ => None,
    }?;
    Some(error_reply(stanza, &StanzaError::new(Cond::BadRequest, problem)))
}

/// `error` in a stanza of `request`'s name, id kept, addresses swapped.
fn error_reply(request: &Element, error: &StanzaError) -> Element {
    let mut reply = Element::new(request.name(), request.ns()).with_attr("type", "error");
    for (k, v) in [("id", request.attr("id")), ("to", request.attr("from")), ("from", request.attr("to"))] {
        if let Some(v) = v {
            reply.set_attr(k, v);
        }
    }
    reply.with_child(error.to_element(request.ns()))
}
