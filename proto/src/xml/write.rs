//! Serialization of [`Element`]s and stream headers.
//!
//! Elements in the stream namespace are written with the `stream:` prefix and dialback elements
//! with `db:`, as every S2S implementation expects; both prefixes are declared on the stream
//! header we send. Everything else declares its namespace with a default `xmlns` where it
//! differs from the parent's.

use super::element::{Element, Node};
use super::reader::StreamHeader;
use crate::ns;

/// What closes a stream.
pub const STREAM_CLOSE: &[u8] = b"</stream:stream>";

/// Write an XML declaration and a `<stream:stream>` start tag for `h`, declaring the `stream`
/// prefix and, when `h.declares_dialback`, the `db` prefix.
pub fn write_stream_header(h: &StreamHeader, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    escape_into(&h.content_ns, true, out);
    out.extend_from_slice(b"' xmlns:stream='http://etherx.jabber.org/streams'");
    if h.declares_dialback {
        out.extend_from_slice(b" xmlns:db='jabber:server:dialback'");
    }
    for (k, v) in
        [("from", &h.from), ("to", &h.to), ("id", &h.id), ("version", &h.version), ("xml:lang", &h.lang)]
    {
        if let Some(v) = v {
            out.push(b' ');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"='");
            escape_into(v, true, out);
            out.push(b'\'');
        }
    }
    out.push(b'>');
}

/// The prefix we always write for a namespace, if it has one.
fn fixed_prefix(uri: &str) -> Option<&'static str> {
    match uri {
        ns::STREAM => Some("stream"),
        ns::DIALBACK => Some("db"),
        _ => None,
    }
}

/// Where an element is written, which decides the namespace declarations it needs.
#[derive(Clone, Copy)]
enum Ctx<'a> {
    /// A standalone fragment: declares everything it uses.
    Standalone,
    /// A top-level element of a stream whose header declared `stream:`/`db:` and this default.
    StreamTop(&'a str),
    /// Inside a parent whose default namespace is this.
    Nested(&'a str),
}

fn write_in(el: &Element, ctx: Ctx<'_>, out: &mut Vec<u8>) {
    let prefix = fixed_prefix(el.ns());
    out.push(b'<');
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(el.name().as_bytes());
    let parent_default = match ctx {
        Ctx::Standalone => None,
        Ctx::StreamTop(d) | Ctx::Nested(d) => Some(d),
    };
    // Default namespace in force for this element's unprefixed children.
    let child_default = match prefix {
        Some(p) => {
            if !matches!(ctx, Ctx::StreamTop(_)) {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"='");
                escape_into(el.ns(), true, out);
                out.push(b'\'');
            }
            parent_default.unwrap_or("")
        }
        None => {
            if parent_default != Some(el.ns()) {
                out.extend_from_slice(b" xmlns='");
                escape_into(el.ns(), true, out);
                out.push(b'\'');
            }
            el.ns()
        }
    };
    for (k, v) in el.attrs() {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"='");
        escape_into(v, true, out);
        out.push(b'\'');
    }
    if el.nodes().is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for node in el.nodes() {
        match node {
            Node::Element(c) => write_in(c, Ctx::Nested(child_default), out),
            Node::Text(t) => escape_into(t, false, out),
        }
    }
    out.extend_from_slice(b"</");
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(el.name().as_bytes());
    out.push(b'>');
}

/// Write `el` as a standalone fragment that declares every namespace it uses.
pub fn write_fragment(el: &Element, out: &mut Vec<u8>) {
    write_in(el, Ctx::Standalone, out);
}

/// Write a top-level stanza (or nonza) on a stream whose default namespace is `stream_ns`.
///
/// The stream header must have declared the `stream` and `db` prefixes (ours always does).
pub fn write_stanza(el: &Element, stream_ns: &str, out: &mut Vec<u8>) {
    write_in(el, Ctx::StreamTop(stream_ns), out);
}

/// Escape character data (`attr = false`) or an attribute value in single quotes.
pub fn escape_into(s: &str, attr: bool, out: &mut Vec<u8>) {
    if attr {
        escape_generic::<true>(s.as_bytes(), out);
    } else {
        escape_generic::<false>(s.as_bytes(), out);
    }
}

/// What `b` is written as, when it cannot be written as itself.
fn escaped<const ATTR: bool>(b: u8) -> Option<&'static [u8]> {
    match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\'' if ATTR => Some(b"&apos;"),
        b'"' if ATTR => Some(b"&quot;"),
        // Keep whitespace in attribute values intact across attribute-value normalisation.
        b'\t' if ATTR => Some(b"&#9;"),
        b'\n' if ATTR => Some(b"&#10;"),
        b'\r' => Some(b"&#13;"),
        _ => None,
    }
}

/// Branch-free test for the bytes [`escaped`] rewrites, so a whole chunk can be checked at once.
fn needs_escape<const ATTR: bool>(b: u8) -> bool {
    let always = (b == b'&') | (b == b'<') | (b == b'>') | (b == b'\r');
    let in_attr = (b == b'\'') | (b == b'"') | (b == b'\t') | (b == b'\n');
    always | (ATTR & in_attr)
}

/// Copies runs of bytes that need no escaping in one go: entries are kilobytes of base64, and
/// pushing them byte by byte was most of the write time. Clean 32-byte chunks are recognised
/// with a branch-free test over a fixed-size array, which the compiler vectorises; only chunks
/// holding a special byte go byte by byte.
fn escape_generic<const ATTR: bool>(bytes: &[u8], out: &mut Vec<u8>) {
    const CHUNK: usize = 32;
    out.reserve(bytes.len());
    let mut copied = 0;
    let mut offset = 0;
    let mut escape_chunk = |chunk: &[u8], offset: usize, out: &mut Vec<u8>| {
        for (j, &b) in chunk.iter().enumerate() {
            if let Some(rep) = escaped::<ATTR>(b) {
                out.extend_from_slice(&bytes[copied..offset + j]);
                out.extend_from_slice(rep);
                copied = offset + j + 1;
            }
        }
    };
    let mut chunks = bytes.chunks_exact(CHUNK);
    for chunk in chunks.by_ref() {
        let arr: &[u8; CHUNK] = chunk.try_into().unwrap_or(&[0; CHUNK]);
        if arr.iter().fold(0u8, |acc, &b| acc | u8::from(needs_escape::<ATTR>(b))) != 0 {
            escape_chunk(chunk, offset, out);
        }
        offset += CHUNK;
    }
    escape_chunk(chunks.remainder(), offset, out);
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_namespace_declared_only_when_it_changes() {
        let e = Element::new("iq", ns::JABBER_SERVER)
            .with_attr("id", "a'b<")
            .with_child(Element::new("ping", ns::PING))
            .with_child(Element::new("x", ns::JABBER_SERVER).with_text("1 & 2"));
        let mut out = Vec::new();
        write_stanza(&e, ns::JABBER_SERVER, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<iq id='a&apos;b&lt;'><ping xmlns='urn:xmpp:ping'/><x>1 &amp; 2</x></iq>"
        );
    }

    /// The byte-at-a-time escaper the chunked one replaced.
    fn escape_reference(s: &str, attr: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for b in s.bytes() {
            match escaped::<true>(b) {
                Some(rep) if attr || !matches!(b, b'\'' | b'"' | b'\t' | b'\n') => out.extend_from_slice(rep),
                _ => out.push(b),
            }
        }
        out
    }

    #[test]
    fn chunked_escaping_matches_bytewise_at_every_offset() {
        let specials = ['&', '<', '>', '\'', '"', '\t', '\n', '\r', 'é'];
        for len in [0usize, 1, 31, 32, 33, 64, 65, 100] {
            for (i, special) in specials.iter().enumerate() {
                for at in [0, len / 2, len.saturating_sub(1)] {
                    let mut s: String = (0..len).map(|k| char::from(b'a' + (k % 26) as u8)).collect();
                    if len > 0 {
                        s.replace_range(at..=at, &special.to_string());
                        s.push(specials[(i + 1) % specials.len()]);
                    }
                    for attr in [false, true] {
                        let mut out = b"x".to_vec();
                        escape_into(&s, attr, &mut out);
                        assert_eq!(out[1..], escape_reference(&s, attr)[..], "{s:?} attr={attr}");
                    }
                }
            }
        }
    }

    #[test]
    fn stream_and_dialback_prefixes() {
        let e = Element::new("features", ns::STREAM).with_child(Element::new("bidi", ns::BIDI_FEATURE));
        let mut out = Vec::new();
        write_stanza(&e, ns::JABBER_SERVER, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<stream:features><bidi xmlns='urn:xmpp:features:bidi'/></stream:features>"
        );
        let standalone = Element::new("result", ns::DIALBACK).with_text("k").to_xml();
        assert_eq!(standalone, "<db:result xmlns:db='jabber:server:dialback'>k</db:result>");
    }
}
