#![cfg(feature = "openraft")]
//! Property: every openraft RPC (vote, append-entries, install-snapshot; request and response)
//! survives openraft → typed stanza → Element → XML text → parse_fragment → Element → typed
//! stanza → openraft unchanged. Plus the conversion's refusals.

use std::collections::{BTreeMap, BTreeSet};

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{CommittedLeaderId, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote};
use proptest::prelude::*;
use prost::Message as _;
use proto::raft_types::*;
use proto::record::Command;
use proto::stanza::raft::{self as st, RaftPayload, MAX_SNAPSHOT_CHUNK_BYTES};
use proto::xml::parse_fragment;

const CLUSTER: &str = "icroot-test";

/// Through the wire: serialize to text, parse the text back, and retype it.
fn wire(p: RaftPayload) -> RaftPayload {
    let text = p.to_element().to_xml();
    let el = parse_fragment(&text).unwrap_or_else(|e| panic!("our XML does not parse: {e}\n{text}"));
    let back =
        RaftPayload::from_element(&el).unwrap_or_else(|e| panic!("our stanza does not parse: {e}\n{text}"));
    assert_eq!(back, p, "{text}");
    back
}

/// Node ids and terms: small values (collisions, zero) and the extremes.
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![0..4u64, any::<u64>(), Just(u64::MAX)]
}

fn log_id() -> impl Strategy<Value = LogId<u64>> {
    (num(), num(), num()).prop_map(|(t, n, i)| LogId::new(CommittedLeaderId::new(t, n), i))
}

fn vote() -> impl Strategy<Value = Vote<u64>> {
    (num(), num(), any::<bool>())
        .prop_map(|(t, n, c)| if c { Vote::new_committed(t, n) } else { Vote::new(t, n) })
}

/// An arbitrary command envelope (the registry payload itself is the record module's concern:
/// here it only has to survive the trip through `<entry encoded='true'/>` byte for byte).
fn command() -> impl Strategy<Value = Command> {
    ("\\PC{0,120}", any::<bool>(), any::<u64>()).prop_map(|(actor, is_admin, proposed_at_ms)| Command {
        actor,
        is_admin,
        proposed_at_ms,
        kind: None,
    })
}

/// Any valid membership: one voter set or a joint pair, plus learners; every node has a domain.
fn membership() -> impl Strategy<Value = Membership<u64, RootNode>> {
    let set = proptest::collection::btree_set(0..12u64, 1..5);
    (
        proptest::collection::vec(set, 1..=2),
        proptest::collection::btree_set(0..12u64, 0..3),
        "[a-z0-9.-]{0,12}",
    )
        .prop_map(|(configs, learners, suffix): (Vec<BTreeSet<u64>>, _, String)| {
            let ids = configs.iter().flatten().copied().chain(learners);
            let nodes: BTreeMap<u64, RootNode> =
                ids.map(|id| (id, RootNode::new(format!("root{id}.{suffix}")))).collect();
            Membership::new(configs, nodes)
        })
}

fn entry() -> impl Strategy<Value = RaftEntry> {
    let payload = prop_oneof![
        Just(EntryPayload::Blank),
        command().prop_map(EntryPayload::Normal),
        membership().prop_map(EntryPayload::Membership),
    ];
    (log_id(), payload).prop_map(|(log_id, payload)| openraft::Entry { log_id, payload })
}

fn append_request() -> impl Strategy<Value = AppendEntriesRequest<RaftTypes>> {
    (
        vote(),
        proptest::option::of(log_id()),
        proptest::collection::vec(entry(), 0..6),
        proptest::option::of(log_id()),
    )
        .prop_map(|(vote, prev_log_id, entries, leader_commit)| AppendEntriesRequest {
            vote,
            prev_log_id,
            entries,
            leader_commit,
        })
}

fn append_response() -> impl Strategy<Value = AppendEntriesResponse<u64>> {
    // Built by prop_map because openraft's response is not Clone, which `Just` needs.
    (0..4u8, proptest::option::of(log_id()), vote()).prop_map(|(kind, matched, vote)| match kind {
        0 => AppendEntriesResponse::Success,
        1 => AppendEntriesResponse::PartialSuccess(matched),
        2 => AppendEntriesResponse::Conflict,
        _ => AppendEntriesResponse::HigherVote(vote),
    })
}

fn snapshot_request() -> impl Strategy<Value = InstallSnapshotRequest<RaftTypes>> {
    (
        vote(),
        proptest::option::of(log_id()),
        proptest::option::of(log_id()),
        membership(),
        "[ -~]{0,24}",
        num(),
        proptest::collection::vec(any::<u8>(), 0..2048),
        any::<bool>(),
    )
        .prop_map(|(vote, last_log_id, m_log, m, snapshot_id, offset, data, done)| {
            InstallSnapshotRequest {
                vote,
                meta: SnapshotMeta {
                    last_log_id,
                    last_membership: StoredMembership::new(m_log, m),
                    snapshot_id,
                },
                offset,
                data,
                done,
            }
        })
}

proptest! {
    #[test]
    fn vote_request_round_trips(vote in vote(), last_log_id in proptest::option::of(log_id())) {
        let req = VoteRequest { vote, last_log_id };
        let p = wire(RaftPayload::RequestVote(vote_request_to_stanza(&req, CLUSTER)));
        let RaftPayload::RequestVote(rv) = p else { panic!("{p:?}") };
        prop_assert_eq!(vote_request_from_stanza(&rv, CLUSTER), Ok(req));
    }

    #[test]
    fn vote_response_round_trips(vote in vote(), granted in any::<bool>(), last in proptest::option::of(log_id())) {
        let resp = VoteResponse { vote, vote_granted: granted, last_log_id: last };
        let p = wire(RaftPayload::Vote(vote_response_to_stanza(&resp, CLUSTER)));
        let RaftPayload::Vote(v) = p else { panic!("{p:?}") };
        prop_assert_eq!(vote_response_from_stanza(&v, CLUSTER), Ok(resp));
    }

    #[test]
    fn append_request_round_trips(req in append_request()) {
        let p = wire(RaftPayload::Append(append_entries_request_to_stanza(&req, CLUSTER)));
        let RaftPayload::Append(a) = p else { panic!("{p:?}") };
        let back = append_entries_request_from_stanza(&a, CLUSTER).expect("converts back");
        prop_assert_eq!(back.vote, req.vote);
        prop_assert_eq!(back.prev_log_id, req.prev_log_id);
        prop_assert_eq!(back.leader_commit, req.leader_commit);
        prop_assert_eq!(back.entries, req.entries);
    }

    #[test]
    fn append_response_round_trips(resp in append_response(), term in num()) {
        let p = wire(RaftPayload::AppendResponse(append_entries_response_to_stanza(&resp, term, CLUSTER)));
        let RaftPayload::AppendResponse(r) = p else { panic!("{p:?}") };
        prop_assert_eq!(r.success, matches!(resp, AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_)));
        prop_assert_eq!(append_entries_response_from_stanza(&r, CLUSTER), Ok(resp));
    }

    #[test]
    fn install_snapshot_request_round_trips(req in snapshot_request()) {
        let chunk = install_snapshot_request_to_stanza(&req, CLUSTER).expect("small chunk");
        let p = wire(RaftPayload::SnapshotChunk(chunk));
        let RaftPayload::SnapshotChunk(c) = p else { panic!("{p:?}") };
        prop_assert_eq!(install_snapshot_request_from_stanza(&c, CLUSTER), Ok(req));
    }

    #[test]
    fn install_snapshot_response_round_trips(vote in vote()) {
        let resp = InstallSnapshotResponse { vote };
        let p = wire(RaftPayload::SnapshotResponse(install_snapshot_response_to_stanza(&resp, CLUSTER)));
        let RaftPayload::SnapshotResponse(r) = p else { panic!("{p:?}") };
        prop_assert_eq!(install_snapshot_response_from_stanza(&r, CLUSTER), Ok(resp));
    }
}

#[test]
fn command_strategy_really_carries_bytes() {
    // The property above tests less if the strategy only ever yields empty commands.
    use proptest::strategy::ValueTree as _;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let nonempty =
        (0..20).any(|_| command().new_tree(&mut runner).expect("tree").current() != Command::default());
    assert!(nonempty, "command() only yields defaults");
}

fn sample_request() -> AppendEntriesRequest<RaftTypes> {
    AppendEntriesRequest {
        vote: Vote::new_committed(3, 1),
        prev_log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), 7)),
        entries: vec![openraft::Entry {
            log_id: LogId::new(CommittedLeaderId::new(3, 1), 8),
            payload: EntryPayload::Blank,
        }],
        leader_commit: None,
    }
}

#[test]
fn cluster_mismatch_is_refused() {
    let a = append_entries_request_to_stanza(&sample_request(), "other");
    assert_eq!(
        append_entries_request_from_stanza(&a, CLUSTER).map(|_| ()),
        Err(ConvertError::ClusterMismatch { expected: CLUSTER.to_owned(), found: "other".to_owned() })
    );
    let v = vote_response_to_stanza(&VoteResponse::new(Vote::new(1, 1), None, true), "other");
    assert!(matches!(vote_response_from_stanza(&v, CLUSTER), Err(ConvertError::ClusterMismatch { .. })));
}

#[test]
fn pure_xep_stanza_lacks_what_openraft_needs() {
    let mut a = append_entries_request_to_stanza(&sample_request(), CLUSTER);
    a.ext = None;
    assert_eq!(
        append_entries_request_from_stanza(&a, CLUSTER).map(|_| ()),
        Err(ConvertError::MissingExt { element: "append" })
    );
    let rv = st::RequestVote {
        term: 1,
        last_log_term: 1,
        last_log_index: 1,
        cluster: CLUSTER.to_owned(),
        ext: None,
    };
    assert_eq!(
        vote_request_from_stanza(&rv, CLUSTER),
        Err(ConvertError::MissingExt { element: "request-vote" })
    );
}

#[test]
fn text_entry_is_refused_where_a_log_entry_is_needed() {
    let mut a = append_entries_request_to_stanza(&sample_request(), CLUSTER);
    a.entries[0] = st::Entry::Text("SET X = 1".to_owned());
    assert!(matches!(append_entries_request_from_stanza(&a, CLUSTER), Err(ConvertError::Entry(_))));
    a.entries[0] = st::Entry::Encoded(b"SET X = 1".to_vec());
    assert!(matches!(append_entries_request_from_stanza(&a, CLUSTER), Err(ConvertError::Entry(_))));
    // A well-formed record whose payload kind is missing.
    a.entries[0] = st::Entry::from_record(&st::LogEntryRecord { term: 1, node: 1, index: 1, payload: None });
    assert!(matches!(append_entries_request_from_stanza(&a, CLUSTER), Err(ConvertError::Entry(_))));
}

#[test]
fn contradicting_xep_and_extension_are_refused() {
    let mut a = append_entries_request_to_stanza(&sample_request(), CLUSTER);
    a.leader_commit = 5; // no commit-term/commit-node: the XEP value must be 0
    assert!(matches!(append_entries_request_from_stanza(&a, CLUSTER), Err(ConvertError::Inconsistent(_))));

    let mut r = append_entries_response_to_stanza(&AppendEntriesResponse::Conflict, 3, CLUSTER);
    r.success = true;
    assert!(matches!(append_entries_response_from_stanza(&r, CLUSTER), Err(ConvertError::Inconsistent(_))));

    let req = VoteRequest { vote: Vote::new(2, 2), last_log_id: None };
    let mut rv = vote_request_to_stanza(&req, CLUSTER);
    assert_eq!((rv.last_log_term, rv.last_log_index), (0, 0));
    rv.last_log_index = 4;
    assert!(matches!(vote_request_from_stanza(&rv, CLUSTER), Err(ConvertError::Inconsistent(_))));
}

#[test]
fn oversized_snapshot_chunk_is_refused_on_the_way_out() {
    let req = InstallSnapshotRequest::<RaftTypes> {
        vote: Vote::new_committed(1, 1),
        meta: SnapshotMeta::default(),
        offset: 0,
        data: vec![0; MAX_SNAPSHOT_CHUNK_BYTES + 1],
        done: true,
    };
    assert_eq!(
        install_snapshot_request_to_stanza(&req, CLUSTER).map(|_| ()),
        Err(ConvertError::ChunkTooLarge(MAX_SNAPSHOT_CHUNK_BYTES + 1))
    );
}

#[test]
fn largest_chunk_stays_well_under_the_stanza_limit() {
    let req = InstallSnapshotRequest::<RaftTypes> {
        vote: Vote::new_committed(u64::MAX, u64::MAX),
        meta: SnapshotMeta::default(),
        offset: u64::MAX,
        data: vec![0xa5; MAX_SNAPSHOT_CHUNK_BYTES],
        done: false,
    };
    let chunk = install_snapshot_request_to_stanza(&req, CLUSTER).expect("fits");
    let len = chunk.to_element().to_xml().len();
    assert!(len < proto::xml::Limits::POST_AUTH.max_stanza_bytes * 3 / 4, "{len} bytes");
}

#[test]
fn documented_append_example_converts() {
    // The <append/> example of docs/protocol-parts/10-raft.md, kept in step with it here.
    let xml =
        "<append xmlns='urn:xmpp:raft' term='7' prev-log-index='120' leader-commit='118' cluster='icroot'>
  <ext xmlns='https://ns.icroot.dev/raft-ext/0' leader='2' committed='true'
       prev-log-term='6' prev-log-node='1' commit-term='6' commit-node='1'/>
  <entry encoded='true'>CAcQAhh5KgQKAmhp</entry>
  <entry encoded='true'>CAcQAhh6IgA=</entry>
</append>";
    let el = parse_fragment(xml).expect("xml");
    let a = st::Append::try_from(&el).expect("typed");
    let req = append_entries_request_from_stanza(&a, "icroot").expect("converts");
    let lid = |t, n, i| LogId::new(CommittedLeaderId::new(t, n), i);
    assert_eq!(req.vote, Vote::new_committed(7, 2));
    assert_eq!(req.prev_log_id, Some(lid(6, 1, 120)));
    assert_eq!(req.leader_commit, Some(lid(6, 1, 118)));
    let hi = Command::decode(&[0x0a, 2, b'h', b'i'][..]).expect("command");
    assert_eq!(
        req.entries,
        vec![
            openraft::Entry { log_id: lid(7, 2, 121), payload: EntryPayload::Normal(hi) },
            openraft::Entry { log_id: lid(7, 2, 122), payload: EntryPayload::Blank },
        ]
    );
}
