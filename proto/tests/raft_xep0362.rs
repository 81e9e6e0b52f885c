//! Every example message of XEP-0362 v0.2 ("Raft over XMPP", §4 Protocol) parses into the
//! typed form, and what we write for the same data uses the XEP's element and attribute names.
//! The example XML below is the XEP's, verbatim, used as test data.

use proto::ns;
use proto::stanza::raft::{Append, AppendResponse, Entry, RaftPayload, RequestVote, Vote};
use proto::xml::{parse_fragment, Element};

/// XEP-0362 §4.1, Example 1: "Duncan is soliciting votes to become leader of the cluster".
const EXAMPLE_1: &str = r#"
    <message from="duncan@inverness.lit/castle" to="macbeth@cawdor.lit/castle">
      <request-vote xmlns="urn:xmpp:raft" term="1" last-log-term="1" last-log-index="1" cluster="scotland"/>
    </message>
"#;

/// XEP-0362 §4.1, Example 2: "Macbeth votes for Duncan to become the next leader".
const EXAMPLE_2: &str = r#"
    <message from="macbeth@cawdor.lit/castle" to="duncan@inverness.lit/castle">
      <vote xmlns="urn:xmpp:raft" term="1" vote-granted="true" cluster="scotland"/>
    </message>
"#;

/// XEP-0362 §4.2, Example 3: "Duncan sends an append message to his followers".
const EXAMPLE_3: &str = r#"
  <message from="duncan@inverness.lit/castle" to="macbeth@cawdor.lit/castle">
    <append xmlns="urn:xmpp:raft" term="1" prev-log-index="1" leader-commit="1" cluster="scotland">
      <entry xmlns="urn:xmpp:raft" encoded="false">
        SET X = 1
      </entry>
      <entry xmlns="urn:xmpp:raft" encoded="true">
        U0VUIFggPSAx
      </entry>
    </append>
  </message>
"#;

/// XEP-0362 §4.2, Example 4: "Macbeth sends an append-response message to Duncan".
const EXAMPLE_4: &str = r#"
  <message from="macbeth@cawdor.lit/castle" to="duncan@inverness.lit/castle">
    <append-response xmlns="urn:xmpp:raft" term="1" success="true" cluster="scotland"/>
  </message>
"#;

/// The Raft payload inside an example `<message/>`, parsed.
fn payload(example: &str) -> (Element, RaftPayload) {
    let message = parse_fragment(example.trim()).expect("the XEP example is well-formed");
    assert_eq!(message.name(), "message");
    let el = message.child_ns(ns::RAFT).expect("a urn:xmpp:raft child").clone();
    assert!(RaftPayload::is_raft_payload(&el));
    let p = RaftPayload::from_element(&el).expect("the XEP example parses");
    (el, p)
}

/// Our serialization has exactly the XEP's attributes (names and values), and reparses equal.
fn assert_same_wire_names(original: &Element, ours: &Element) {
    assert_eq!(ours.name(), original.name());
    assert_eq!(ours.ns(), ns::RAFT);
    let mut a: Vec<_> = original.attrs().collect();
    let mut b: Vec<_> = ours.attrs().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let text = ours.to_xml();
    assert_eq!(parse_fragment(&text).as_ref(), Ok(ours), "{text}");
}

#[test]
fn example_1_request_vote() {
    let (el, p) = payload(EXAMPLE_1);
    let expected = RequestVote {
        term: 1,
        last_log_term: 1,
        last_log_index: 1,
        cluster: "scotland".to_owned(),
        ext: None,
    };
    assert_eq!(p, RaftPayload::RequestVote(expected.clone()));
    assert_same_wire_names(&el, &expected.to_element());
}

#[test]
fn example_2_vote() {
    let (el, p) = payload(EXAMPLE_2);
    let expected = Vote { term: 1, vote_granted: true, cluster: "scotland".to_owned(), ext: None };
    assert_eq!(p, RaftPayload::Vote(expected.clone()));
    assert_same_wire_names(&el, &expected.to_element());
}

#[test]
fn example_3_append_with_text_and_base64_entries() {
    let (el, p) = payload(EXAMPLE_3);
    let RaftPayload::Append(a) = p else { panic!("not an append: {p:?}") };
    assert_eq!((a.term, a.prev_log_index, a.leader_commit, a.cluster.as_str()), (1, 1, 1, "scotland"));
    assert_eq!(a.ext, None);
    assert_eq!(a.entries.len(), 2);
    // The text entry keeps its character data as is; the XEP's indentation is part of it.
    let Entry::Text(t) = &a.entries[0] else { panic!("{:?}", a.entries[0]) };
    assert_eq!(t.trim(), "SET X = 1");
    // The base64 entry decodes to the same command, the XEP's indentation notwithstanding.
    assert_eq!(a.entries[1], Entry::Encoded(b"SET X = 1".to_vec()));

    let ours = Append {
        entries: vec![Entry::Text("SET X = 1".to_owned()), Entry::Encoded(b"SET X = 1".to_vec())],
        ..a.clone()
    }
    .to_element();
    assert_same_wire_names(&el, &ours);
    let entries: Vec<&Element> = ours.children().collect();
    assert_eq!(entries.len(), 2);
    for (e, (encoded, text)) in entries.iter().zip([("false", "SET X = 1"), ("true", "U0VUIFggPSAx")]) {
        assert!(e.is("entry", ns::RAFT));
        assert_eq!(e.attr("encoded"), Some(encoded));
        assert_eq!(e.text(), text);
    }
    let reparsed = Append::try_from(&ours).expect("our append parses");
    assert_eq!(reparsed.entries, vec![Entry::Text("SET X = 1".to_owned()), a.entries[1].clone()]);
}

#[test]
fn example_4_append_response() {
    let (el, p) = payload(EXAMPLE_4);
    let expected = AppendResponse { term: 1, success: true, cluster: "scotland".to_owned(), ext: None };
    assert_eq!(p, RaftPayload::AppendResponse(expected.clone()));
    assert_same_wire_names(&el, &expected.to_element());
}

#[test]
fn our_extension_does_not_disturb_xep_attributes() {
    // A reader that knows only the XEP sees the same attributes whether or not <ext/> is there.
    let (el, _) = payload(EXAMPLE_1);
    let ext = RequestVote {
        term: 1,
        last_log_term: 1,
        last_log_index: 1,
        cluster: "scotland".to_owned(),
        ext: Some(proto::stanza::raft::RequestVoteExt {
            leader: 7,
            committed: false,
            last_log_node: Some(3),
        }),
    }
    .to_element();
    assert_same_wire_names(&el, &ext);
    let child = ext.children().next().expect("ext child");
    assert_eq!((child.name(), child.ns()), ("ext", ns::RAFT_EXT));
    assert_eq!(child.attr("leader"), Some("7"));
    assert_eq!(child.attr("last-log-node"), Some("3"));
}
