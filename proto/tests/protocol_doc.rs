//! Every XML example in docs/protocol.md is well-formed XMPP that our reader accepts, so the
//! normative document cannot drift into examples the code would refuse.

use proto::xml::{Limits, StreamReader, XmlEvent};

/// The ```xml blocks of the protocol document.
fn xml_blocks() -> Vec<(usize, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let text = std::fs::read_to_string(path).expect("docs/protocol.md");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```xml") => current = Some((n + 1, String::new())),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().expect("open block")),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

const HEADER: &str = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns:db='jabber:server:dialback' version='1.0'>";

#[test]
fn every_xml_example_parses() {
    let blocks = xml_blocks();
    assert!(blocks.len() >= 30, "found only {} xml examples", blocks.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (line, body) in &blocks {
        // Examples show stream headers, or stanzas as they appear inside a stream, possibly
        // several per block; "…" marks elided parts and such blocks are only illustrative.
        if body.contains('…') || body.contains("...") {
            continue;
        }
        checked += 1;
        let input = if body.contains("<stream:stream") { body.clone() } else { format!("{HEADER}{body}") };
        let mut reader = StreamReader::new(Limits::POST_AUTH);
        reader.push(input.as_bytes());
        let mut stanzas = 0;
        loop {
            match reader.next_event() {
                Ok(Some(XmlEvent::Stanza(_))) => stanzas += 1,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    failures.push(format!("docs/protocol.md:{line}: {e}"));
                    break;
                }
            }
        }
        if stanzas == 0 && !body.contains("<stream:stream") && !body.contains("</stream:stream>") {
            failures.push(format!("docs/protocol.md:{line}: no complete element"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{checked} of {} xml examples checked (the rest elide parts with …)", blocks.len());
    assert!(checked >= 30, "only {checked} examples checked");
}
