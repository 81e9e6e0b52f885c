//! Incremental, bounded XML stream reader.
//!
//! A small lexer walks the bytes once, keeping its state across [`StreamReader::push`] calls, so a
//! stanza split at any byte boundary (or trickled one byte at a time) costs linear time. It finds
//! the stream header and each complete top-level element, enforces the size and depth limits while
//! bytes arrive, and rejects what RFC 6120 §11.1 forbids (comments, processing instructions, DTDs)
//! before any parser sees it. Each complete element is then parsed by quick-xml (see `build.rs`)
//! with namespaces resolved against the stream header's declarations.

use super::element::Element;
use super::parse::{build_element, parse_header, NsScope};
use crate::error::{StreamError, StreamErrorCondition as Cond};

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

/// Where the lexer is inside the markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    /// Character data (or between stanzas).
    Content,
    /// Just after `<`.
    Open,
    /// Inside a start tag; `quote` is the open attribute quote, `slash` whether `/` came last.
    StartTag { quote: Option<u8>, slash: bool },
    /// Inside an end tag.
    EndTag,
    /// Inside `<?…`; `q` whether `?` came last.
    Pi { q: bool },
    /// Matching `<![CDATA[`; `matched` bytes of it seen so far.
    CdataOpen { matched: usize },
    /// Inside a CDATA section; `brackets` consecutive `]` seen.
    Cdata { brackets: u8 },
}

const CDATA_OPEN: &[u8] = b"<![CDATA[";

/// Turns arbitrarily chunked bytes into [`XmlEvent`]s.
#[derive(Debug)]
pub struct StreamReader {
    limits: Limits,
    /// Unconsumed input; `buf[..pos]` has been lexed.
    buf: Vec<u8>,
    pos: usize,
    lex: Lex,
    /// Offset of the `<` that began the current tag.
    tag_start: usize,
    /// Offset where the current top-level element began (meaningful while `depth >= 2`).
    item_start: usize,
    /// 0 = before the stream header, 1 = at stream level, n>1 = inside a stanza of depth n-1.
    depth: usize,
    /// Whether anything but whitespace was seen before the header (only an XML declaration may be).
    seen_decl: bool,
    header: Option<StreamHeader>,
    /// The header's raw start tag, re-used as namespace context for each stanza.
    header_ns: NsScope,
    /// Set once a stream error was returned: the stream is dead.
    failed: Option<StreamError>,
    closed: bool,
}

impl StreamReader {
    /// A reader expecting a stream header.
    pub fn new(limits: Limits) -> Self {
        StreamReader {
            limits,
            buf: Vec::new(),
            pos: 0,
            lex: Lex::Content,
            tag_start: 0,
            item_start: 0,
            depth: 0,
            seen_decl: false,
            header: None,
            header_ns: Vec::new(),
            failed: None,
            closed: false,
        }
    }

    /// Change the limits (e.g. after authentication).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The header of the current stream, once received.
    pub fn header(&self) -> Option<&StreamHeader> {
        self.header.as_ref()
    }

    /// Append received bytes. Call [`next_event`](Self::next_event) until it returns `Ok(None)`
    /// before pushing more, so the buffer never holds more than one stanza's worth plus one read.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Expect a fresh stream header (after STARTTLS or SASL success); buffered bytes are kept.
    pub fn restart(&mut self) {
        self.buf.drain(..self.pos.min(self.buf.len()));
        let limits = self.limits;
        let buf = std::mem::take(&mut self.buf);
        *self = StreamReader::new(limits);
        self.buf = buf;
    }

    /// Take bytes received but not yet consumed as events (e.g. to hand to TLS after `<proceed/>`).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.consumed_upto());
        self.buf.clear();
        self.pos = 0;
        self.tag_start = 0;
        self.item_start = 0;
        self.lex = Lex::Content;
        rest
    }

    /// Where the next unconsumed byte begins: the start of a partial item, or the lex position.
    fn consumed_upto(&self) -> usize {
        match (self.depth, self.lex) {
            (d, _) if d >= 2 => self.item_start,
            (_, Lex::Content) => self.pos,
            _ => self.tag_start,
        }
    }

    fn fail(&mut self, condition: Cond, text: &str) -> StreamError {
        let e = StreamError::new(condition, text);
        self.failed = Some(e.clone());
        e
    }

    /// The next complete event, `Ok(None)` if more bytes are needed. After an error every call
    /// returns the same error: the stream must be closed with it.
    pub fn next_event(&mut self) -> Result<Option<XmlEvent>, StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.closed {
            return Ok(None);
        }
        let mut keepalive = false;
        while self.pos < self.buf.len() {
            if self.skip_plain() {
                self.check_size()?;
                if self.pos == self.buf.len() {
                    break;
                }
            }
            let b = self.buf[self.pos];
            let at = self.pos;
            self.pos += 1;
            match self.lex {
                Lex::Content => {
                    if b == b'<' {
                        self.lex = Lex::Open;
                        self.tag_start = at;
                    } else if self.depth <= 1 {
                        if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                            let what =
                                if self.depth == 0 { "before the stream header" } else { "between stanzas" };
                            return Err(self.fail(Cond::NotWellFormed, &format!("character data {what}")));
                        }
                        if self.depth == 1 {
                            keepalive = true;
                        }
                    }
                }
                Lex::Open => {
                    self.lex = match b {
                        b'/' => Lex::EndTag,
                        b'?' => Lex::Pi { q: false },
                        b'!' => Lex::CdataOpen { matched: 2 },
                        _ => Lex::StartTag { quote: None, slash: false },
                    };
                }
                Lex::CdataOpen { matched } => {
                    if b != CDATA_OPEN[matched] {
                        let what =
                            if self.buf[at] == b'-' { "an XML comment" } else { "a DTD or declaration" };
                        return Err(self.fail(Cond::RestrictedXml, &format!("{what} is not allowed in XMPP")));
                    }
                    if self.depth < 2 {
                        return Err(self.fail(Cond::NotWellFormed, "CDATA outside a stanza"));
                    }
                    self.lex = if matched + 1 == CDATA_OPEN.len() {
                        Lex::Cdata { brackets: 0 }
                    } else {
                        Lex::CdataOpen { matched: matched + 1 }
                    };
                }
                Lex::Cdata { brackets } => {
                    self.lex = match b {
                        b']' => Lex::Cdata { brackets: brackets.saturating_add(1) },
                        b'>' if brackets >= 2 => Lex::Content,
                        _ => Lex::Cdata { brackets: 0 },
                    };
                }
                Lex::Pi { q } => {
                    if b == b'>' && q {
                        self.lex = Lex::Content;
                        self.end_pi(at)?;
                    } else {
                        self.lex = Lex::Pi { q: b == b'?' };
                    }
                }
                Lex::StartTag { quote, slash } => match (quote, b) {
                    (Some(q), _) if q == b => self.lex = Lex::StartTag { quote: None, slash: false },
                    (Some(_), b'<') => {
                        return Err(self.fail(Cond::NotWellFormed, "'<' in an attribute value"))
                    }
                    (Some(_), _) => {}
                    (None, b'\'' | b'"') => self.lex = Lex::StartTag { quote: Some(b), slash: false },
                    (None, b'>') => {
                        self.lex = Lex::Content;
                        if let Some(ev) = self.end_start_tag(at, slash)? {
                            return Ok(Some(ev));
                        }
                    }
                    (None, _) => self.lex = Lex::StartTag { quote: None, slash: b == b'/' },
                },
                Lex::EndTag => {
                    if b == b'>' {
                        self.lex = Lex::Content;
                        if let Some(ev) = self.end_end_tag(at)? {
                            return Ok(Some(ev));
                        }
                    }
                }
            }
            self.check_size()?;
        }
        // Nothing but lexing state left: drop consumed bytes so the buffer stays bounded.
        self.compact();
        Ok(keepalive.then_some(XmlEvent::Keepalive))
    }

    /// Jump over bytes that cannot change the lexer's state (character data inside a stanza,
    /// attribute values, the inside of end tags and CDATA sections) with a vectorised search
    /// instead of one `match` per byte. Returns whether it moved; the byte it stops on (if any)
    /// is left for the per-byte state machine, so errors and limits come out exactly as if
    /// every byte had gone through it.
    fn skip_plain(&mut self) -> bool {
        let rest = &self.buf[self.pos..];
        let skip = match self.lex {
            Lex::Content if self.depth >= 2 => memchr::memchr(b'<', rest),
            Lex::StartTag { quote: Some(q), .. } => memchr::memchr2(q, b'<', rest),
            Lex::StartTag { quote: None, .. } => {
                let n = memchr::memchr3(b'>', b'\'', b'"', rest).unwrap_or(rest.len());
                if n > 0 {
                    // The skipped bytes only update whether `/` came last.
                    self.lex = Lex::StartTag { quote: None, slash: rest[n - 1] == b'/' };
                }
                Some(n)
            }
            Lex::EndTag => memchr::memchr(b'>', rest),
            Lex::Cdata { brackets: 0 } => memchr::memchr(b']', rest),
            _ => Some(0),
        }
        .unwrap_or(rest.len());
        self.pos += skip;
        skip > 0
    }

    fn check_size(&mut self) -> Result<(), StreamError> {
        let start = if self.depth >= 2 {
            self.item_start
        } else if self.lex == Lex::Content {
            return Ok(());
        } else {
            self.tag_start
        };
        if self.pos - start > self.limits.max_stanza_bytes {
            let max = self.limits.max_stanza_bytes;
            return Err(self.fail(Cond::PolicyViolation, &format!("stanza larger than {max} bytes")));
        }
        Ok(())
    }

    fn compact(&mut self) {
        let keep_from = self.consumed_upto();
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
            self.tag_start = self.tag_start.saturating_sub(keep_from);
            self.item_start = self.item_start.saturating_sub(keep_from);
        }
    }

    /// A processing instruction ended at `end`: only the XML declaration, first thing, is allowed.
    fn end_pi(&mut self, end: usize) -> Result<(), StreamError> {
        let pi = &self.buf[self.tag_start..=end];
        let is_decl =
            pi.starts_with(b"<?xml") && pi.get(5).is_some_and(|c| c.is_ascii_whitespace() || *c == b'?');
        if !is_decl || self.depth != 0 || self.seen_decl {
            return Err(self.fail(Cond::RestrictedXml, "processing instructions are not allowed in XMPP"));
        }
        self.seen_decl = true;
        let text = String::from_utf8_lossy(pi).to_ascii_lowercase();
        if let Some(i) = text.find("encoding") {
            let rest = &text[i..];
            if !(rest.contains("'utf-8'") || rest.contains("\"utf-8\"")) {
                return Err(self.fail(Cond::UnsupportedEncoding, "streams must be UTF-8"));
            }
        }
        Ok(())
    }

    fn end_start_tag(&mut self, end: usize, self_closing: bool) -> Result<Option<XmlEvent>, StreamError> {
        match self.depth {
            0 => {
                if self_closing {
                    return Err(self.fail(Cond::NotWellFormed, "the stream header must not be self-closing"));
                }
                let tag = self.buf[self.tag_start..=end].to_vec();
                let (header, ns) = parse_header(&tag)
                    .map_err(|e| self.fail(e.condition, e.text.as_deref().unwrap_or("")))?;
                self.depth = 1;
                self.header = Some(header.clone());
                self.header_ns = ns;
                self.consume_to(end + 1);
                Ok(Some(XmlEvent::StreamOpen(header)))
            }
            1 => {
                self.item_start = self.tag_start;
                if self_closing {
                    return self.finish_item(end).map(Some);
                }
                self.depth = 2;
                Ok(None)
            }
            d => {
                if !self_closing {
                    if d > self.limits.max_depth {
                        let max = self.limits.max_depth;
                        return Err(
                            self.fail(Cond::PolicyViolation, &format!("elements nested deeper than {max}"))
                        );
                    }
                    self.depth += 1;
                }
                Ok(None)
            }
        }
    }

    fn end_end_tag(&mut self, end: usize) -> Result<Option<XmlEvent>, StreamError> {
        match self.depth {
            0 => Err(self.fail(Cond::NotWellFormed, "end tag before the stream header")),
            1 => {
                let name = String::from_utf8_lossy(&self.buf[self.tag_start + 2..end]).trim().to_owned();
                let (prefix, local) =
                    name.split_once(':').map_or((None, name.as_str()), |(p, l)| (Some(p), l));
                let stream_prefix_ok =
                    self.header_ns.iter().any(|(p, uri)| p.as_deref() == prefix && uri == crate::ns::STREAM);
                if local != "stream" || !stream_prefix_ok {
                    return Err(self.fail(Cond::NotWellFormed, "end tag does not match the stream header"));
                }
                self.closed = true;
                self.consume_to(end + 1);
                Ok(Some(XmlEvent::StreamClose))
            }
            2 => self.finish_item(end).map(Some),
            _ => {
                self.depth -= 1;
                Ok(None)
            }
        }
    }

    /// A top-level element ended at `end` (inclusive): parse it.
    fn finish_item(&mut self, end: usize) -> Result<XmlEvent, StreamError> {
        let parsed = build_element(&self.buf[self.item_start..=end], &self.header_ns);
        self.depth = 1;
        self.consume_to(end + 1);
        match parsed {
            Ok(el) => Ok(XmlEvent::Stanza(el)),
            Err(e) => Err(self.fail(e.condition, e.text.as_deref().unwrap_or(""))),
        }
    }

    fn consume_to(&mut self, upto: usize) {
        self.buf.drain(..upto);
        self.pos -= upto;
        self.tag_start = 0;
        self.item_start = 0;
    }
}

/// Parse one standalone element (namespaces must be declared in the text).
pub fn parse_fragment(xml: &str) -> Result<Element, StreamError> {
    let ctx = vec![(Some("xml".to_owned()), crate::ns::XML.to_owned())];
    let mut reader = StreamReader::new(Limits { max_stanza_bytes: usize::MAX, max_depth: 256 });
    reader.header_ns = ctx;
    reader.depth = 1;
    reader.header = Some(StreamHeader::default());
    reader.push(xml.as_bytes());
    let mut out = None;
    while let Some(ev) = reader.next_event()? {
        match ev {
            XmlEvent::Stanza(el) if out.is_none() => out = Some(el),
            XmlEvent::Keepalive => {}
            _ => return Err(StreamError::new(Cond::NotWellFormed, "more than one element")),
        }
    }
    if reader.depth != 1 || reader.lex != Lex::Content {
        return Err(StreamError::new(Cond::NotWellFormed, "element not closed"));
    }
    out.ok_or_else(|| StreamError::new(Cond::NotWellFormed, "no element"))
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
