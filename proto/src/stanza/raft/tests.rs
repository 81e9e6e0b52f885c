//! Unit tests: each payload round-trips through its Element, and bad input is refused.

use super::*;
use crate::xml::parse_fragment;

const EXT_NS: &str = "https://ns.icroot.dev/raft-ext/0";

fn parse(xml: &str) -> Result<RaftPayload, ParseError> {
    let el = parse_fragment(xml).expect("well-formed test XML");
    RaftPayload::from_element(&el)
}

fn err(xml: &str) -> ParseError {
    parse(xml).expect_err("must be refused")
}

fn sample_append() -> Append {
    Append {
        term: 5,
        prev_log_index: 10,
        leader_commit: 9,
        cluster: "c".to_owned(),
        ext: Some(AppendExt {
            leader: 2,
            committed: true,
            prev_log_leader: Some(LeaderId { term: 4, node: 1 }),
            commit_leader: None,
        }),
        entries: vec![Entry::Encoded(vec![0, 1, 2, 255]), Entry::Text(" a < b & c ".to_owned())],
    }
}

fn sample_chunk() -> SnapshotChunk {
    SnapshotChunk {
        cluster: "c".to_owned(),
        vote: FullVote { term: 7, node: 3, committed: true },
        snapshot_id: "7-3-100".to_owned(),
        last_log: Some(LogId { leader: LeaderId { term: 7, node: 3 }, index: 100 }),
        membership_log: None,
        membership: Membership {
            configs: vec![[1, 2, 3].into(), [3, 4].into()],
            nodes: [
                (1, "a.example".to_owned()),
                (2, "b.example".to_owned()),
                (9, "learner.example".to_owned()),
            ]
            .into(),
        },
        offset: 4096,
        data: (0..=255).collect(),
        done: false,
    }
}

#[test]
fn every_payload_round_trips_through_xml_text() {
    let payloads = [
        RaftPayload::RequestVote(RequestVote {
            term: 3,
            last_log_term: 0,
            last_log_index: 0,
            cluster: "c".to_owned(),
            ext: Some(RequestVoteExt { leader: 1, committed: false, last_log_node: None }),
        }),
        RaftPayload::Vote(Vote {
            term: u64::MAX,
            vote_granted: false,
            cluster: "c'\"&<".to_owned(),
            ext: Some(VoteExt {
                leader: 2,
                committed: true,
                last_log: Some(LogId { leader: LeaderId { term: 1, node: 0 }, index: 0 }),
            }),
        }),
        RaftPayload::Append(sample_append()),
        RaftPayload::AppendResponse(AppendResponse {
            term: 5,
            success: true,
            cluster: "c".to_owned(),
            ext: Some(AppendResult::PartialSuccess(None)),
        }),
        RaftPayload::AppendResponse(AppendResponse {
            term: 6,
            success: false,
            cluster: "c".to_owned(),
            ext: Some(AppendResult::HigherVote { leader: 4, committed: false }),
        }),
        RaftPayload::SnapshotChunk(sample_chunk()),
        RaftPayload::SnapshotResponse(SnapshotResponse {
            cluster: "c".to_owned(),
            vote: FullVote { term: 1, node: 1, committed: false },
        }),
    ];
    for p in payloads {
        let xml = p.to_element().to_xml();
        assert!(RaftPayload::is_raft_payload(&p.to_element()), "{xml}");
        assert_eq!(parse(&xml), Ok(p), "{xml}");
    }
}

#[test]
fn extension_lives_in_its_own_namespace_inside_the_xep_element() {
    let el = sample_append().to_element();
    assert!(el.is("append", ns::RAFT));
    let ext = el.child("ext", EXT_NS).expect("ext child");
    assert_eq!(ext.attr("prev-log-term"), Some("4"));
    assert_eq!(ext.attr("commit-term"), None);
    assert_eq!(el.children().filter(|c| c.is("entry", ns::RAFT)).count(), 2);
}

#[test]
fn pure_xep_payload_parses_without_extension() {
    let p =
        parse("<append xmlns='urn:xmpp:raft' term='1' prev-log-index='0' leader-commit='0' cluster='x'/>");
    let Ok(RaftPayload::Append(a)) = p else { panic!("{p:?}") };
    assert_eq!(a.ext, None);
    assert!(a.entries.is_empty());
}

#[test]
fn base64_entry_tolerates_whitespace_and_absent_encoded_means_text() {
    let p = parse(
        "<append xmlns='urn:xmpp:raft' term='1' prev-log-index='0' leader-commit='0' cluster='x'>\
         <entry encoded='1'>\n  U0VU\n  IFggPSAx\n</entry><entry> raw </entry></append>",
    );
    let Ok(RaftPayload::Append(a)) = p else { panic!("{p:?}") };
    assert_eq!(a.entries, vec![Entry::Encoded(b"SET X = 1".to_vec()), Entry::Text(" raw ".to_owned())]);
}

#[test]
fn missing_required_attribute_is_refused() {
    assert_eq!(
        err("<request-vote xmlns='urn:xmpp:raft' term='1' last-log-term='1' last-log-index='1'/>"),
        ParseError::MissingAttr { element: "request-vote", attr: "cluster" }
    );
    assert_eq!(
        err("<vote xmlns='urn:xmpp:raft' term='1' cluster='c'/>"),
        ParseError::MissingAttr { element: "vote", attr: "vote-granted" }
    );
}

#[test]
fn non_numeric_or_negative_term_is_refused() {
    for term in ["x", "-1", "", "18446744073709551616", "1.0"] {
        let xml =
            format!("<append-response xmlns='urn:xmpp:raft' term='{term}' success='true' cluster='c'/>");
        assert_eq!(
            err(&xml),
            ParseError::InvalidAttr { element: "append-response", attr: "term", value: term.to_owned() }
        );
    }
}

#[test]
fn bad_boolean_is_refused() {
    assert!(matches!(
        err("<vote xmlns='urn:xmpp:raft' term='1' vote-granted='yes' cluster='c'/>"),
        ParseError::InvalidAttr { attr: "vote-granted", .. }
    ));
}

#[test]
fn bad_base64_is_refused() {
    let e = err("<append xmlns='urn:xmpp:raft' term='1' prev-log-index='0' leader-commit='0' cluster='c'>\
                 <entry encoded='true'>not*base64</entry></append>");
    assert!(matches!(e, ParseError::Invalid(ref m) if m.contains("base64")), "{e:?}");
    let e = err(&sample_chunk().to_element().to_xml().replace("<data>", "<data>%"));
    assert!(matches!(e, ParseError::Invalid(ref m) if m.contains("base64")), "{e:?}");
}

#[test]
fn entry_with_child_element_is_refused() {
    let e = err("<append xmlns='urn:xmpp:raft' term='1' prev-log-index='0' leader-commit='0' cluster='c'>\
                 <entry encoded='true'><b/></entry></append>");
    assert!(matches!(e, ParseError::Invalid(_)), "{e:?}");
}

#[test]
fn half_a_log_id_in_the_extension_is_refused() {
    let xml = format!(
        "<append xmlns='urn:xmpp:raft' term='1' prev-log-index='3' leader-commit='0' cluster='c'>\
         <ext xmlns='{EXT_NS}' leader='1' committed='true' prev-log-term='1'/></append>"
    );
    assert_eq!(err(&xml), ParseError::MissingAttr { element: "ext", attr: "prev-log-node" });
    let xml = format!(
        "<vote xmlns='urn:xmpp:raft' term='1' vote-granted='true' cluster='c'>\
         <ext xmlns='{EXT_NS}' leader='1' committed='true' last-log-term='1' last-log-node='2'/></vote>"
    );
    assert_eq!(err(&xml), ParseError::MissingAttr { element: "ext", attr: "last-log-index" });
}

#[test]
fn unknown_append_result_is_refused() {
    let xml = format!(
        "<append-response xmlns='urn:xmpp:raft' term='1' success='true' cluster='c'>\
         <ext xmlns='{EXT_NS}' result='maybe'/></append-response>"
    );
    assert!(matches!(err(&xml), ParseError::InvalidAttr { attr: "result", .. }));
}

#[test]
fn oversized_snapshot_chunk_is_refused() {
    let mut chunk = sample_chunk();
    chunk.data = vec![7; MAX_SNAPSHOT_CHUNK_BYTES + 1];
    let e = err(&chunk.to_element().to_xml());
    assert!(matches!(e, ParseError::Invalid(ref m) if m.contains("exceeds")), "{e:?}");
    chunk.data.pop();
    assert!(parse(&chunk.to_element().to_xml()).is_ok());
}

#[test]
fn duplicate_membership_node_is_refused() {
    let xml = sample_chunk()
        .to_element()
        .to_xml()
        .replace("</membership>", "<node id='1' domain='z'/></membership>");
    assert!(matches!(err(&xml), ParseError::Invalid(ref m) if m.contains("duplicate")));
}

#[test]
fn snapshot_chunk_without_meta_is_refused() {
    let xml = format!("<snapshot-chunk xmlns='{EXT_NS}' cluster='c' term='1' leader='1' committed='true' offset='0' done='true'><data/></snapshot-chunk>");
    assert_eq!(err(&xml), ParseError::MissingChild { element: "snapshot-chunk", child: "meta" });
}

#[test]
fn foreign_element_is_not_a_raft_payload() {
    let el = parse_fragment("<ping xmlns='urn:xmpp:ping'/>").expect("xml");
    assert!(!RaftPayload::is_raft_payload(&el));
    assert!(matches!(RaftPayload::from_element(&el), Err(ParseError::WrongElement { .. })));
    // The XEP namespace does not hold our extension elements, and vice versa.
    let el = parse_fragment("<snapshot-response xmlns='urn:xmpp:raft'/>").expect("xml");
    assert!(!RaftPayload::is_raft_payload(&el));
}

#[test]
fn text_entry_has_no_record_and_garbage_record_is_refused() {
    assert!(matches!(
        Entry::Text("x".to_owned()).to_record(),
        Err(ParseError::InvalidAttr { attr: "encoded", .. })
    ));
    assert!(Entry::Encoded(vec![0xff, 0xff, 0xff]).to_record().is_err());
    let rec =
        LogEntryRecord { term: 1, node: 2, index: 3, payload: Some(EntryPayloadRecord::Normal(vec![9])) };
    assert_eq!(Entry::from_record(&rec).to_record(), Ok(rec));
}

#[test]
fn membership_record_refuses_duplicates() {
    let dup_voter = MembershipRecord { configs: vec![VoterSetRecord { voters: vec![1, 1] }], nodes: vec![] };
    assert!(Membership::try_from(dup_voter).is_err());
    let n = NodeRecord { id: 1, domain: "a".to_owned() };
    let dup_node = MembershipRecord { configs: vec![], nodes: vec![n.clone(), n] };
    assert!(Membership::try_from(dup_node).is_err());
}
