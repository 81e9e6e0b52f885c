//! Property: any stanza stream, split at any byte boundaries, parses to the same stanzas, and
//! those stanzas are the elements that were written.

use proptest::prelude::*;
use proto::xml::{write, Element, Limits, StreamHeader, StreamReader, XmlEvent};

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,8}"
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(proto::ns::JABBER_SERVER.to_owned()),
        Just(proto::ns::RAFT.to_owned()),
        Just(proto::ns::DIALBACK.to_owned()),
        Just(proto::ns::REGISTRY.to_owned()),
        "urn:[a-z]{1,6}",
    ]
}

/// Text with the characters that need escaping, multi-byte UTF-8 and whitespace.
fn text() -> impl Strategy<Value = String> {
    "[a-z<>&'\" \u{e9}\u{263a}\u{1f600}\n\t\\]]{1,20}"
}

fn element() -> impl Strategy<Value = Element> {
    let leaf = (name(), namespace(), proptest::collection::vec((name(), text()), 0..3)).prop_map(
        |(n, ns, attrs)| attrs.into_iter().fold(Element::new(n, ns), |e, (k, v)| e.with_attr(k, v)),
    );
    leaf.prop_recursive(4, 24, 4, |inner| {
        (
            name(),
            namespace(),
            proptest::collection::vec(prop_oneof![inner.prop_map(Ok), text().prop_map(Err)], 0..4),
        )
            .prop_map(|(n, ns, kids)| {
                kids.into_iter().fold(Element::new(n, ns), |e, k| match k {
                    Ok(child) => e.with_child(child),
                    Err(t) => e.with_text(t),
                })
            })
    })
}

fn stream_bytes(stanzas: &[Element]) -> Vec<u8> {
    let header = StreamHeader {
        content_ns: proto::ns::JABBER_SERVER.into(),
        from: Some("a.example".into()),
        to: Some("b.example".into()),
        id: Some("x".into()),
        version: Some("1.0".into()),
        lang: None,
        declares_dialback: true,
    };
    let mut out = Vec::new();
    write::write_stream_header(&header, &mut out);
    for (i, s) in stanzas.iter().enumerate() {
        write::write_stanza(s, proto::ns::JABBER_SERVER, &mut out);
        if i % 2 == 0 {
            out.push(b' ');
        }
    }
    out.extend_from_slice(write::STREAM_CLOSE);
    out
}

fn parse_in_chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Element> {
    let mut reader = StreamReader::new(Limits::POST_AUTH);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    let mut got = Vec::new();
    let mut closed = false;
    for w in points.windows(2) {
        reader.push(&bytes[w[0]..w[1]]);
        while let Some(ev) = reader.next_event().expect("valid stream") {
            match ev {
                XmlEvent::Stanza(s) => got.push(s),
                XmlEvent::StreamClose => closed = true,
                XmlEvent::StreamOpen(_) | XmlEvent::Keepalive => {}
            }
        }
    }
    assert!(closed, "stream close seen");
    got
}

/// Merge adjacent text nodes the way the reader does, so generated trees compare equal.
fn normalise(e: &Element) -> Element {
    let mut out = Element::new(e.name(), e.ns());
    for (k, v) in e.attrs() {
        out.set_attr(k, v);
    }
    for n in e.nodes() {
        match n {
            proto::xml::Node::Element(c) => out.append_child(normalise(c)),
            proto::xml::Node::Text(t) => out.append_text(t.clone()),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_splits_parse_the_same(stanzas in proptest::collection::vec(element(), 1..6),
                                    cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let bytes = stream_bytes(&stanzas);
        let expected: Vec<Element> = stanzas.iter().map(normalise).collect();
        prop_assert_eq!(parse_in_chunks(&bytes, &[]), expected.clone());
        prop_assert_eq!(parse_in_chunks(&bytes, &cuts), expected);
    }
}
