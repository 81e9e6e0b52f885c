use super::*;
use crate::ns;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
    xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
    from='a.example' to='b.example' id='s1' version='1.0' xml:lang='en'>";

/// Feed `input` in chunks of `chunk` bytes and collect every event, stopping at the first error.
fn run(input: &[u8], chunk: usize, limits: Limits) -> (Vec<XmlEvent>, Option<StreamError>) {
    let mut r = StreamReader::new(limits);
    let mut events = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        r.push(piece);
        loop {
            match r.next_event() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn error_of(input: &str) -> Cond {
    let (_, e) = run(input.as_bytes(), 7, Limits::POST_AUTH);
    e.expect("an error").condition
}

fn stanzas(events: &[XmlEvent]) -> Vec<&Element> {
    events.iter().filter_map(|e| if let XmlEvent::Stanza(s) = e { Some(s) } else { None }).collect()
}

#[test]
fn header_stanzas_keepalive_close() {
    let input = format!(
        "{HEADER}<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq> <db:result from='a' to='b'>k</db:result></stream:stream>"
    );
    let (events, err) = run(input.as_bytes(), input.len(), Limits::PRE_AUTH);
    assert_eq!(err, None);
    let XmlEvent::StreamOpen(h) = &events[0] else { panic!("no header: {events:?}") };
    assert_eq!(h.content_ns, ns::JABBER_SERVER);
    assert_eq!(
        (h.from.as_deref(), h.to.as_deref(), h.id.as_deref()),
        (Some("a.example"), Some("b.example"), Some("s1"))
    );
    assert_eq!((h.version.as_deref(), h.lang.as_deref()), (Some("1.0"), Some("en")));
    assert!(h.declares_dialback);
    let s = stanzas(&events);
    assert_eq!(s.len(), 2);
    assert!(s[0].is("iq", ns::JABBER_SERVER));
    assert!(s[0].child("ping", ns::PING).is_some());
    assert!(s[1].is("result", ns::DIALBACK));
    assert_eq!(s[1].text(), "k");
    assert_eq!(events.last(), Some(&XmlEvent::StreamClose));
}

#[test]
fn whitespace_alone_is_a_keepalive() {
    let mut r = StreamReader::new(Limits::PRE_AUTH);
    r.push(HEADER.as_bytes());
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::StreamOpen(_)))));
    assert_eq!(r.next_event(), Ok(None));
    r.push(b" ");
    assert_eq!(r.next_event(), Ok(Some(XmlEvent::Keepalive)));
    assert_eq!(r.next_event(), Ok(None));
}

#[test]
fn every_split_point_gives_the_same_stanzas() {
    let body = "<message to='b' from='a'><body>1 &lt; 2 &amp; &#x263A; &#65; ]]&gt; &apos;</body>\
        <x xmlns='urn:a' y='q&quot;&gt;&#10;'><![CDATA[<not> a tag ]] ]]></x><z:e xmlns:z='urn:z'/></message>\
        <presence/>  <iq id='&lt;' type='result'/>";
    let input = format!("{HEADER}{body}</stream:stream>");
    let (whole, err) = run(input.as_bytes(), input.len(), Limits::POST_AUTH);
    assert_eq!(err, None);
    let expected: Vec<Element> = stanzas(&whole).into_iter().cloned().collect();
    assert_eq!(expected.len(), 3);
    let body_el = expected[0].child("body", ns::JABBER_SERVER).expect("body");
    assert_eq!(body_el.text(), "1 < 2 & \u{263A} A ]]> '");
    let x = expected[0].child("x", "urn:a").expect("x");
    assert_eq!(x.attr("y"), Some("q\">\n"));
    assert_eq!(x.text(), "<not> a tag ]] ");
    assert!(expected[0].child("e", "urn:z").is_some());
    assert_eq!(expected[2].attr("id"), Some("<"));
    for split in 1..input.len() {
        let mut r = StreamReader::new(Limits::POST_AUTH);
        let mut got = Vec::new();
        for piece in [&input.as_bytes()[..split], &input.as_bytes()[split..]] {
            r.push(piece);
            while let Some(ev) = r.next_event().expect("no error") {
                if let XmlEvent::Stanza(s) = ev {
                    got.push(s);
                }
            }
        }
        assert_eq!(got, expected, "split at {split}");
    }
    let (trickled, err) = run(input.as_bytes(), 1, Limits::POST_AUTH);
    assert_eq!(err, None);
    assert_eq!(stanzas(&trickled).into_iter().cloned().collect::<Vec<_>>(), expected);
}

#[test]
fn restricted_xml_is_refused() {
    assert_eq!(
        error_of("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>"),
        Cond::RestrictedXml
    );
    assert_eq!(error_of(&format!("{HEADER}<!-- hi -->")), Cond::RestrictedXml);
    assert_eq!(error_of(&format!("{HEADER}<iq id='1' type='get'><!-- hi --></iq>")), Cond::RestrictedXml);
    assert_eq!(error_of(&format!("{HEADER}<?pi x?>")), Cond::RestrictedXml);
    assert_eq!(error_of(&format!("{HEADER}<m>&custom;</m>")), Cond::RestrictedXml);
    assert_eq!(error_of(&format!("{HEADER}<m a='&custom;'/>")), Cond::RestrictedXml);
    assert_eq!(error_of(&format!("{HEADER}<m><!DOCTYPE x></m>")), Cond::RestrictedXml);
}

#[test]
fn malformed_input_is_not_well_formed() {
    assert_eq!(error_of(&format!("{HEADER}<a><b></a></b>")), Cond::NotWellFormed);
    assert_eq!(error_of(&format!("{HEADER}hello")), Cond::NotWellFormed);
    assert_eq!(error_of("garbage"), Cond::NotWellFormed);
    assert_eq!(error_of(&format!("{HEADER}<a>\u{1}</a>")), Cond::NotWellFormed);
    assert_eq!(error_of(&format!("{HEADER}<a>&#0;</a>")), Cond::NotWellFormed);
    assert_eq!(error_of(&format!("{HEADER}<a x='1' x='2'/>")), Cond::NotWellFormed);
    assert_eq!(error_of(&format!("{HEADER}</other>")), Cond::NotWellFormed);
    let mut bad = format!("{HEADER}<a>").into_bytes();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"</a>");
    assert_eq!(run(&bad, 3, Limits::POST_AUTH).1.map(|e| e.condition), Some(Cond::NotWellFormed));
}

#[test]
fn namespace_errors() {
    assert_eq!(
        error_of("<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:server'>"),
        Cond::InvalidNamespace
    );
    assert_eq!(error_of("<stream xmlns='jabber:server'>"), Cond::InvalidNamespace);
    assert_eq!(error_of(&format!("{HEADER}<q:iq/>")), Cond::BadNamespacePrefix);
    assert_eq!(error_of("<?xml version='1.0' encoding='ISO-8859-1'?><x>"), Cond::UnsupportedEncoding);
}

#[test]
fn size_limit_applies_while_bytes_arrive() {
    let limits = Limits { max_stanza_bytes: 300, max_depth: 4 };
    let big = format!("{HEADER}<message>{}", "x".repeat(400));
    let (events, err) = run(big.as_bytes(), 1, limits);
    assert_eq!(err.map(|e| e.condition), Some(Cond::PolicyViolation));
    assert_eq!(events.len(), 1, "only the header was produced");
    let huge_tag = format!("{HEADER}<message a='{}'", "x".repeat(400));
    assert_eq!(run(huge_tag.as_bytes(), 1, limits).1.map(|e| e.condition), Some(Cond::PolicyViolation));
    let ok = format!("{HEADER}<message>{}</message>", "x".repeat(50));
    assert_eq!(run(ok.as_bytes(), 1, limits).1, None);
    // The header itself is bounded too.
    let header = format!("<stream:stream from='{}'", "a".repeat(20_000));
    assert_eq!(
        run(header.as_bytes(), 1000, Limits::PRE_AUTH).1.map(|e| e.condition),
        Some(Cond::PolicyViolation)
    );
}

#[test]
fn depth_limit() {
    let limits = Limits { max_stanza_bytes: 10_000, max_depth: 3 };
    let ok = format!("{HEADER}<a><b><c/></b></a>");
    assert_eq!(run(ok.as_bytes(), 5, limits).1, None);
    let deep = format!("{HEADER}<a><b><c><d></d></c></b></a>");
    assert_eq!(run(deep.as_bytes(), 5, limits).1.map(|e| e.condition), Some(Cond::PolicyViolation));
}

#[test]
fn errors_are_sticky() {
    let mut r = StreamReader::new(Limits::PRE_AUTH);
    r.push(b"<!DOCTYPE x>");
    let e = r.next_event().expect_err("doctype");
    r.push(HEADER.as_bytes());
    assert_eq!(r.next_event(), Err(e));
}

#[test]
fn restart_and_take_buffered() {
    let mut r = StreamReader::new(Limits::PRE_AUTH);
    r.push(format!("{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01").as_bytes());
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::StreamOpen(_)))));
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::Stanza(_)))));
    assert_eq!(r.take_buffered(), b"\x16\x03\x01");
    r.restart();
    r.push(format!("{HEADER}<a").as_bytes());
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::StreamOpen(_)))));
    assert_eq!(r.next_event(), Ok(None));
    r.push(b"/>");
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::Stanza(_)))));
}

#[test]
fn restart_keeps_bytes_already_received() {
    let mut r = StreamReader::new(Limits::PRE_AUTH);
    r.push(format!("{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{HEADER}<x/>").as_bytes());
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::StreamOpen(_)))));
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::Stanza(_)))));
    r.restart();
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::StreamOpen(_)))));
    assert!(matches!(r.next_event(), Ok(Some(XmlEvent::Stanza(_)))));
}

#[test]
fn parse_fragment_round_trips_writer_output() {
    let el = Element::new("append", ns::RAFT)
        .with_attr("term", "5")
        .with_child(Element::new("entry", ns::RAFT).with_attr("encoded", "true").with_text("AAE="))
        .with_child(Element::new("result", ns::DIALBACK).with_text("a & b"));
    assert_eq!(parse_fragment(&el.to_xml()), Ok(el));
    assert!(parse_fragment("<a/><b/>").is_err());
    assert!(parse_fragment("<a>").is_err());
    assert!(parse_fragment("").is_err());
}

#[test]
fn stream_header_round_trips() {
    let h = StreamHeader {
        content_ns: ns::JABBER_SERVER.into(),
        from: Some("a.example".into()),
        to: Some("b'x".into()),
        id: Some("i".into()),
        version: Some("1.0".into()),
        lang: None,
        declares_dialback: true,
    };
    let mut out = Vec::new();
    super::super::write::write_stream_header(&h, &mut out);
    let (events, err) = run(&out, 3, Limits::PRE_AUTH);
    assert_eq!(err, None);
    assert_eq!(events, vec![XmlEvent::StreamOpen(h)]);
}
