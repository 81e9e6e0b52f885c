//! Incremental, bounded XML stream reader (being implemented; API fixed).

use super::element::Element;
use crate::error::{StreamError, StreamErrorCondition};

/// Bounds applied to everything the peer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest stanza (or stream header) in bytes, counted on the wire.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside one stanza (the stanza element is depth 1).
    pub max_depth: usize,
}

impl Limits {
    /// Before the stream is authenticated: 10 kB, as deployed servers do.
    pub const PRE_AUTH: Limits = Limits { max_stanza_bytes: 10_000, max_depth: 16 };
    /// After authentication: 512 KiB.
    pub const POST_AUTH: Limits = Limits { max_stanza_bytes: 512 * 1024, max_depth: 32 };
}

/// The attributes of a received `<stream:stream>` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamHeader {
    /// The default (content) namespace, e.g. `jabber:server`.
    pub content_ns: String,
    /// `from`.
    pub from: Option<String>,
    /// `to`.
    pub to: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// Whether the header declared the dialback prefix (`xmlns:db`).
    pub declares_dialback: bool,
}

/// What the reader produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XmlEvent {
    /// A stream header was received.
    StreamOpen(StreamHeader),
    /// A complete top-level element (stanza or nonza).
    Stanza(Element),
    /// Whitespace between stanzas (keepalive).
    Keepalive,
    /// `</stream:stream>`.
    StreamClose,
}

/// Turns arbitrarily chunked bytes into [`XmlEvent`]s.
#[derive(Debug)]
pub struct StreamReader {
    limits: Limits,
    buf: Vec<u8>,
}

impl StreamReader {
    /// A reader expecting a stream header.
    pub fn new(limits: Limits) -> Self {
        StreamReader { limits, buf: Vec::new() }
    }
    /// Change the limits (e.g. after authentication).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }
    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
    /// The next complete event, `Ok(None)` if more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<XmlEvent>, StreamError> {
        Err(StreamError::new(StreamErrorCondition::InternalServerError, "reader not implemented"))
    }
    /// Expect a fresh stream header (after STARTTLS or SASL success); buffered bytes are kept.
    pub fn restart(&mut self) {}
    /// Take bytes received but not yet parsed (e.g. to hand to TLS after `<proceed/>`).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Parse one standalone element (namespaces must be declared in the text).
pub fn parse_fragment(xml: &str) -> Result<Element, StreamError> {
    let _ = xml;
    Err(StreamError::new(StreamErrorCondition::InternalServerError, "reader not implemented"))
}
