//! Serialization of [`Element`]s and stream headers.
//!
//! Elements in the stream namespace are written with the `stream:` prefix and dialback elements
//! with `db:`, as every S2S implementation expects; both prefixes are declared on the stream
//! header we send. Everything else declares its namespace with a default `xmlns` where it
//! differs from the parent's.

use super::element::{Element, Node};
use crate::ns;

/// The prefix we always write for a namespace, if it has one.
fn fixed_prefix(uri: &str) -> Option<&'static str> {
    match uri {
        ns::STREAM => Some("stream"),
        ns::DIALBACK => Some("db"),
        _ => None,
    }
}

/// Write `el` as it appears inside a parent whose default namespace is `parent_ns`
/// (`None` for a standalone fragment, which then declares any prefix it uses).
pub fn write_element(el: &Element, parent_ns: Option<&str>, out: &mut Vec<u8>) {
    let prefix = fixed_prefix(el.ns());
    out.push(b'<');
    if let Some(p) = prefix {
        out.extend_from_slice(p.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(el.name().as_bytes());
    // Default namespace in force for this element's unprefixed children.
    let child_default = match prefix {
        Some(p) => {
            if parent_ns.is_none() {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"='");
                escape_into(el.ns(), true, out);
                out.push(b'\'');
            }
            parent_ns.unwrap_or("")
        }
        None => {
            if parent_ns != Some(el.ns()) {
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
            Node::Element(c) => write_element(c, Some(child_default), out),
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

/// Write a top-level stanza (or nonza) on a stream whose default namespace is `stream_ns`.
pub fn write_stanza(el: &Element, stream_ns: &str, out: &mut Vec<u8>) {
    write_element(el, Some(stream_ns), out);
}

/// Escape character data (`attr = false`) or an attribute value in single quotes.
pub fn escape_into(s: &str, attr: bool, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\'' if attr => out.extend_from_slice(b"&apos;"),
            b'"' if attr => out.extend_from_slice(b"&quot;"),
            // Keep whitespace in attribute values intact across attribute-value normalisation.
            b'\t' if attr => out.extend_from_slice(b"&#9;"),
            b'\n' if attr => out.extend_from_slice(b"&#10;"),
            b'\r' => out.extend_from_slice(b"&#13;"),
            _ => out.push(b),
        }
    }
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
