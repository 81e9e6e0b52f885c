//! Parsing one complete, already delimited top-level element (or the stream header tag) with
//! quick-xml, resolving namespaces against the stream's declarations and enforcing RFC 6120's
//! restricted XML: only the five predefined entities and character references; no comments,
//! processing instructions or DTDs; only XML 1.0 characters.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::element::Element;
use super::reader::StreamHeader;
use crate::error::{StreamError, StreamErrorCondition as Cond};
use crate::ns;

/// Namespace bindings in scope: `(prefix, uri)`, `None` being the default namespace. Later
/// entries shadow earlier ones.
pub(crate) type NsScope = Vec<(Option<String>, String)>;

fn err(condition: Cond, text: impl Into<String>) -> StreamError {
    StreamError::new(condition, text)
}

fn map_xml_error(e: quick_xml::Error) -> StreamError {
    match e {
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            err(Cond::RestrictedXml, format!("entity &{name}; is not allowed (only the predefined five)"))
        }
        other => err(Cond::NotWellFormed, other.to_string()),
    }
}

/// Whether `c` is a character XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether valid UTF-8 `s` may hold a character XML 1.0 forbids. In UTF-8 those are the C0
/// controls but tab, LF and CR (bytes below 0x20) and U+FFFE/U+FFFF (`EF BF BE`/`EF BF BF`);
/// surrogates cannot occur in a `str`. Checking 32 bytes at a time without branches lets the
/// compiler vectorise the common all-clear case, which used to be a quarter of parse time.
fn may_hold_non_xml_char(s: &str) -> bool {
    const CHUNK: usize = 32;
    let suspect = |b: u8| {
        let control = (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
        u8::from(control | (b == 0xEF))
    };
    let mut chunks = s.as_bytes().chunks_exact(CHUNK);
    let flagged = chunks.by_ref().any(|c| {
        // A fixed-size array so the fold compiles to vector compares.
        let arr: &[u8; CHUNK] = c.try_into().unwrap_or(&[0; CHUNK]);
        arr.iter().fold(0, |acc, &b| acc | suspect(b)) != 0
    });
    flagged || chunks.remainder().iter().any(|&b| suspect(b) != 0)
}

/// The first character of `s` that XML 1.0 forbids, with a fast answer for clean text.
fn first_non_xml_char(s: &str) -> Option<char> {
    if !may_hold_non_xml_char(s) {
        return None;
    }
    s.chars().find(|c| !is_xml_char(*c))
}

fn to_str(bytes: &[u8]) -> Result<&str, StreamError> {
    let s = std::str::from_utf8(bytes).map_err(|_| err(Cond::NotWellFormed, "invalid UTF-8"))?;
    if let Some(c) = first_non_xml_char(s) {
        return Err(err(Cond::NotWellFormed, format!("character U+{:04X} is not allowed in XML", c as u32)));
    }
    Ok(s)
}

fn lookup<'a>(scope: &'a NsScope, prefix: Option<&str>) -> Option<&'a str> {
    scope.iter().rev().find(|(p, _)| p.as_deref() == prefix).map(|(_, uri)| uri.as_str())
}

/// Split a start tag into its element (name resolved, attributes unescaped) and the namespace
/// declarations it adds to `scope`.
fn open_element(start: &BytesStart<'_>, scope: &mut NsScope) -> Result<Element, StreamError> {
    // Becomes the element's attribute list as is (no copy, no per-attribute lookup): quick-xml
    // already rejects duplicate attributes, so there is nothing for `set_attr` to merge.
    let mut plain: Vec<(String, String)> = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| err(Cond::NotWellFormed, e.to_string()))?;
        let key: &str = attr.key.as_ref();
        let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(map_xml_error)?;
        if let Some(c) = first_non_xml_char(&value) {
            return Err(err(
                Cond::NotWellFormed,
                format!("character U+{:04X} is not allowed in XML", c as u32),
            ));
        }
        if key == "xmlns" {
            scope.push((None, value.into_owned()));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            if value.is_empty() {
                return Err(err(
                    Cond::BadNamespacePrefix,
                    format!("prefix '{prefix}' bound to no namespace"),
                ));
            }
            scope.push((Some(prefix.to_owned()), value.into_owned()));
        } else {
            plain.push((key.to_owned(), value.into_owned()));
        }
    }
    let qname = start.name();
    let qname: &str = qname.as_ref();
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    };
    let uri = match lookup(scope, prefix) {
        Some(uri) => uri.to_owned(),
        None if prefix.is_none() => String::new(),
        None => return Err(err(Cond::BadNamespacePrefix, format!("undeclared prefix in <{qname}>"))),
    };
    // Attributes in foreign namespaces are not part of any protocol we speak: the prefix must
    // still be declared (well-formedness), but the attribute is dropped.
    let foreign = |key: &str| key.split_once(':').is_some_and(|(p, _)| p != "xml");
    if plain.iter().any(|(key, _)| foreign(key)) {
        if let Some((key, _)) = plain.iter().find(|(key, _)| {
            key.split_once(':').is_some_and(|(p, _)| p != "xml" && lookup(scope, Some(p)).is_none())
        }) {
            return Err(err(Cond::BadNamespacePrefix, format!("undeclared prefix in attribute {key}")));
        }
        plain.retain(|(key, _)| !foreign(key));
    }
    Ok(Element::from_parsed(local, uri, plain))
}

/// Parse the `<stream:stream …>` start tag.
pub(crate) fn parse_header(tag: &[u8]) -> Result<(StreamHeader, NsScope), StreamError> {
    let text = to_str(tag)?;
    let mut reader = Reader::from_str(text);
    let start = match reader.read_event().map_err(map_xml_error)? {
        Event::Start(s) => s,
        _ => return Err(err(Cond::NotWellFormed, "expected a stream header")),
    };
    let mut scope: NsScope = vec![(Some("xml".into()), ns::XML.into())];
    let el = open_element(&start, &mut scope)?;
    if !el.is("stream", ns::STREAM) {
        return Err(err(
            Cond::InvalidNamespace,
            format!("stream header is <{}> in '{}'", el.name(), el.ns()),
        ));
    }
    let attr = |k: &str| el.attr(k).map(str::to_owned);
    let header = StreamHeader {
        content_ns: lookup(&scope, None).unwrap_or("").to_owned(),
        from: attr("from"),
        to: attr("to"),
        id: attr("id"),
        version: attr("version"),
        lang: attr("xml:lang"),
        declares_dialback: lookup(&scope, Some("db")) == Some(ns::DIALBACK),
    };
    Ok((header, scope))
}

/// Parse one complete element from `bytes` with `ctx` as the namespaces in scope.
pub(crate) fn build_element(bytes: &[u8], ctx: &NsScope) -> Result<Element, StreamError> {
    let text = to_str(bytes)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut scope = ctx.clone();
    // Open elements with the scope length to restore when each closes.
    let mut stack: Vec<(Element, usize)> = Vec::new();
    loop {
        let event = reader.read_event().map_err(map_xml_error)?;
        match event {
            Event::Start(start) => {
                let mark = scope.len();
                let el = open_element(&start, &mut scope)?;
                stack.push((el, mark));
            }
            Event::Empty(start) => {
                let mark = scope.len();
                let el = open_element(&start, &mut scope)?;
                scope.truncate(mark);
                match stack.last_mut() {
                    Some((parent, _)) => parent.append_child(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let Some((el, mark)) = stack.pop() else {
                    return Err(err(Cond::NotWellFormed, "unbalanced end tag"));
                };
                scope.truncate(mark);
                match stack.last_mut() {
                    Some((parent, _)) => parent.append_child(el),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => append_text(&mut stack, t.xml10_content())?,
            Event::CData(c) => append_text(&mut stack, c.xml10_content())?,
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(map_xml_error)? {
                    Some(c) if is_xml_char(c) => c,
                    Some(c) => {
                        return Err(err(
                            Cond::NotWellFormed,
                            format!("&#{}; is not an XML character", c as u32),
                        ))
                    }
                    None => match r.xml10_content().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(err(Cond::RestrictedXml, format!("entity &{other}; is not allowed")))
                        }
                    },
                };
                append_text(&mut stack, Cow::Borrowed(ch.encode_utf8(&mut [0; 4])))?;
            }
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) | Event::Decl(_) => {
                return Err(err(Cond::RestrictedXml, "comments, PIs and DTDs are not allowed in XMPP"));
            }
            Event::Eof => return Err(err(Cond::NotWellFormed, "element not closed")),
        }
    }
}

fn append_text(stack: &mut [(Element, usize)], text: Cow<'_, str>) -> Result<(), StreamError> {
    match stack.last_mut() {
        Some((el, _)) => {
            // Owned text (line endings normalised) moves in rather than being copied again.
            el.append_text(text.into_owned());
            Ok(())
        }
        None if text.chars().all(char::is_whitespace) => Ok(()),
        None => Err(err(Cond::NotWellFormed, "text outside an element")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_char_check_finds_what_the_per_char_check_finds() {
        let base: String = "abcdefghij".repeat(10);
        for bad in ['\u{0}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            for at in [0, 31, 32, 33, 63, 99] {
                let mut s = base.clone();
                s.insert(at, bad);
                assert_eq!(first_non_xml_char(&s), Some(bad), "{bad:?} at {at}");
            }
        }
        // Allowed characters that share the suspicious bytes: whitespace controls and other EF.. code points.
        let ok = format!("{base}\t\n\r\u{FFFD}\u{F000}{base}\u{10000}");
        assert_eq!(first_non_xml_char(&ok), None);
    }
}
