//! Parsing one complete, already delimited top-level element (or the stream header tag) with
//! quick-xml, resolving namespaces against the stream's declarations and enforcing RFC 6120's
//! restricted XML: only the five predefined entities and character references; no comments,
//! processing instructions or DTDs; only XML 1.0 characters.

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

fn to_str(bytes: &[u8]) -> Result<&str, StreamError> {
    let s = std::str::from_utf8(bytes).map_err(|_| err(Cond::NotWellFormed, "invalid UTF-8"))?;
    if let Some(c) = s.chars().find(|c| !is_xml_char(*c)) {
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
    let mut plain = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| err(Cond::NotWellFormed, e.to_string()))?;
        let key: String = attr.key.as_ref().to_owned();
        let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(map_xml_error)?;
        if let Some(c) = value.chars().find(|c| !is_xml_char(*c)) {
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
            plain.push((key, value.into_owned()));
        }
    }
    let qname: String = start.name().as_ref().to_owned();
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname.as_str()),
    };
    let uri = match lookup(scope, prefix) {
        Some(uri) => uri.to_owned(),
        None if prefix.is_none() => String::new(),
        None => return Err(err(Cond::BadNamespacePrefix, format!("undeclared prefix in <{qname}>"))),
    };
    let mut el = Element::new(local, uri);
    for (key, value) in plain {
        match key.split_once(':') {
            None => el.set_attr(key, value),
            Some(("xml", _)) => el.set_attr(key, value),
            Some((p, _)) => {
                // Attributes in foreign namespaces are not part of any protocol we speak: the
                // prefix must still be declared (well-formedness), but the attribute is dropped.
                if lookup(scope, Some(p)).is_none() {
                    return Err(err(
                        Cond::BadNamespacePrefix,
                        format!("undeclared prefix in attribute {key}"),
                    ));
                }
            }
        }
    }
    Ok(el)
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
            Event::Text(t) => append_text(&mut stack, &t.xml10_content())?,
            Event::CData(c) => append_text(&mut stack, &c.xml10_content())?,
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
                append_text(&mut stack, ch.encode_utf8(&mut [0; 4]))?;
            }
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) | Event::Decl(_) => {
                return Err(err(Cond::RestrictedXml, "comments, PIs and DTDs are not allowed in XMPP"));
            }
            Event::Eof => return Err(err(Cond::NotWellFormed, "element not closed")),
        }
    }
}

fn append_text(stack: &mut [(Element, usize)], text: &str) -> Result<(), StreamError> {
    match stack.last_mut() {
        Some((el, _)) => {
            el.append_text(text);
            Ok(())
        }
        None if text.chars().all(char::is_whitespace) => Ok(()),
        None => Err(err(Cond::NotWellFormed, "text outside an element")),
    }
}
