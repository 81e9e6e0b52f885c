//! The four XEP-0362 elements, each with its optional icroot `<ext/>` child.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use prost::Message as _;

use super::{
    bool_str, opt_leader_id, opt_log_id, required_bool, with_log_id, LeaderId, LogEntryRecord, LogId, EXT,
};
use crate::ns;
use crate::stanza::{expect_element, parse_attr, parse_bool_attr, required_attr, ParseError};
use crate::xml::{Element, Node};

/// Attribute names of the last log id in a `<vote/>`'s extension.
const LAST_LOG: [&str; 3] = ["last-log-term", "last-log-node", "last-log-index"];
/// Attribute names of the matched log id in an `<append-response/>`'s extension.
const MATCH: [&str; 3] = ["match-term", "match-node", "match-index"];

/// `<request-vote/>`: a candidate asks for a vote (XEP-0362 §4.1, RequestVote).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestVote {
    /// `term`: the candidate's term.
    pub term: u64,
    /// `last-log-term`: term of the candidate's last log entry (0 when its log is empty).
    pub last_log_term: u64,
    /// `last-log-index`: index of the candidate's last log entry (0 when its log is empty).
    pub last_log_index: u64,
    /// `cluster`: which Raft group this is for.
    pub cluster: String,
    /// What openraft needs beyond the XEP.
    pub ext: Option<RequestVoteExt>,
}

/// `<ext/>` inside `<request-vote/>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestVoteExt {
    /// `leader`: the candidate's node id (the node half of the vote's leader id).
    pub leader: u64,
    /// `committed`: whether the vote is already committed.
    pub committed: bool,
    /// `last-log-node`: node id of the candidate's last log id; absent when the log is empty,
    /// which is how an empty log differs from a log whose last id is term 0, index 0.
    pub last_log_node: Option<u64>,
}

/// `<vote/>`: the answer to a request-vote (XEP-0362 §4.1, RequestVoteResponse).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vote {
    /// `term`: the voter's current term.
    pub term: u64,
    /// `vote-granted`.
    pub vote_granted: bool,
    /// `cluster`.
    pub cluster: String,
    /// What openraft needs beyond the XEP.
    pub ext: Option<VoteExt>,
}

/// `<ext/>` inside `<vote/>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VoteExt {
    /// `leader`: node id of the voter's current vote (its term is the XEP `term`).
    pub leader: u64,
    /// `committed`: whether the voter's current vote is committed.
    pub committed: bool,
    /// `last-log-term`, `last-log-node`, `last-log-index`: the voter's last log id (all three
    /// absent when its log is empty).
    pub last_log: Option<LogId>,
}

/// `<append/>`: the leader replicates entries or sends a heartbeat (XEP-0362 §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Append {
    /// `term`: the leader's term.
    pub term: u64,
    /// `prev-log-index`: index of the entry just before the first one sent (0 when none).
    pub prev_log_index: u64,
    /// `leader-commit`: the leader's commit index (0 when nothing is committed).
    pub leader_commit: u64,
    /// `cluster`.
    pub cluster: String,
    /// What openraft needs beyond the XEP.
    pub ext: Option<AppendExt>,
    /// The `<entry/>` children, in order.
    pub entries: Vec<Entry>,
}

/// `<ext/>` inside `<append/>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendExt {
    /// `leader`: the leader's node id.
    pub leader: u64,
    /// `committed`: whether the leader's vote is committed (always true from a real leader).
    pub committed: bool,
    /// `prev-log-term`, `prev-log-node`: leader id of the previous log id; absent when there is
    /// no previous entry (then `prev-log-index` is 0 and means nothing).
    pub prev_log_leader: Option<LeaderId>,
    /// `commit-term`, `commit-node`: leader id of the committed log id; absent when nothing is
    /// committed (then `leader-commit` is 0 and means nothing).
    pub commit_leader: Option<LeaderId>,
}

/// `<entry/>` inside `<append/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// `encoded='false'` (or absent): the character data as is, whitespace included.
    Text(String),
    /// `encoded='true'`: base64 (standard alphabet, whitespace ignored) of these bytes. From
    /// icroot, the bytes are a prost [`LogEntryRecord`].
    Encoded(Vec<u8>),
}

/// `<append-response/>` (XEP-0362 §4.2, AppendEntriesResponse).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendResponse {
    /// `term`: the follower's current term.
    pub term: u64,
    /// `success`.
    pub success: bool,
    /// `cluster`.
    pub cluster: String,
    /// What openraft needs beyond the XEP: `<ext result='…'/>`.
    pub ext: Option<AppendResult>,
}

/// openraft's four answers to an append, as `<ext result='…'/>` inside `<append-response/>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendResult {
    /// `result='success'` (XEP `success='true'`).
    Success,
    /// `result='partial-success'` with `match-term`, `match-node`, `match-index` (all absent
    /// for `None`): entries up to this log id matched (XEP `success='true'`).
    PartialSuccess(Option<LogId>),
    /// `result='conflict'`: the previous log id did not match (XEP `success='false'`).
    Conflict,
    /// `result='higher-vote'` with `leader` and `committed`: the follower has seen a higher
    /// vote, whose term is the XEP `term` (XEP `success='false'`).
    HigherVote {
        /// Node id of the higher vote.
        leader: u64,
        /// Whether the higher vote is committed.
        committed: bool,
    },
}

impl TryFrom<&Element> for RequestVote {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = "request-vote";
        expect_element(el, E, ns::RAFT)?;
        let ext = match el.child(EXT, ns::RAFT_EXT) {
            None => None,
            Some(x) => Some(RequestVoteExt {
                leader: parse_attr(x, EXT, "leader")?,
                committed: required_bool(x, EXT, "committed")?,
                last_log_node: crate::stanza::parse_opt_attr(x, EXT, "last-log-node")?,
            }),
        };
        Ok(RequestVote {
            term: parse_attr(el, E, "term")?,
            last_log_term: parse_attr(el, E, "last-log-term")?,
            last_log_index: parse_attr(el, E, "last-log-index")?,
            cluster: required_attr(el, E, "cluster")?.to_owned(),
            ext,
        })
    }
}

impl RequestVote {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        let el = Element::new("request-vote", ns::RAFT)
            .with_attr("term", self.term.to_string())
            .with_attr("last-log-term", self.last_log_term.to_string())
            .with_attr("last-log-index", self.last_log_index.to_string())
            .with_attr("cluster", self.cluster.as_str());
        match &self.ext {
            None => el,
            Some(x) => el.with_child(
                Element::new(EXT, ns::RAFT_EXT)
                    .with_attr("leader", x.leader.to_string())
                    .with_attr("committed", bool_str(x.committed))
                    .with_opt_attr("last-log-node", x.last_log_node.map(|n| n.to_string())),
            ),
        }
    }
}

impl TryFrom<&Element> for Vote {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = "vote";
        expect_element(el, E, ns::RAFT)?;
        let ext = match el.child(EXT, ns::RAFT_EXT) {
            None => None,
            Some(x) => Some(VoteExt {
                leader: parse_attr(x, EXT, "leader")?,
                committed: required_bool(x, EXT, "committed")?,
                last_log: opt_log_id(x, EXT, LAST_LOG)?,
            }),
        };
        Ok(Vote {
            term: parse_attr(el, E, "term")?,
            vote_granted: required_bool(el, E, "vote-granted")?,
            cluster: required_attr(el, E, "cluster")?.to_owned(),
            ext,
        })
    }
}

impl Vote {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        let el = Element::new("vote", ns::RAFT)
            .with_attr("term", self.term.to_string())
            .with_attr("vote-granted", bool_str(self.vote_granted))
            .with_attr("cluster", self.cluster.as_str());
        match &self.ext {
            None => el,
            Some(x) => el.with_child(with_log_id(
                Element::new(EXT, ns::RAFT_EXT)
                    .with_attr("leader", x.leader.to_string())
                    .with_attr("committed", bool_str(x.committed)),
                LAST_LOG,
                x.last_log,
            )),
        }
    }
}

impl TryFrom<&Element> for Append {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = "append";
        expect_element(el, E, ns::RAFT)?;
        let ext = match el.child(EXT, ns::RAFT_EXT) {
            None => None,
            Some(x) => Some(AppendExt {
                leader: parse_attr(x, EXT, "leader")?,
                committed: required_bool(x, EXT, "committed")?,
                prev_log_leader: opt_leader_id(x, EXT, "prev-log-term", "prev-log-node")?,
                commit_leader: opt_leader_id(x, EXT, "commit-term", "commit-node")?,
            }),
        };
        let entries = el
            .children()
            .filter(|c| c.is("entry", ns::RAFT))
            .map(Entry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Append {
            term: parse_attr(el, E, "term")?,
            prev_log_index: parse_attr(el, E, "prev-log-index")?,
            leader_commit: parse_attr(el, E, "leader-commit")?,
            cluster: required_attr(el, E, "cluster")?.to_owned(),
            ext,
            entries,
        })
    }
}

impl Append {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("append", ns::RAFT)
            .with_attr("term", self.term.to_string())
            .with_attr("prev-log-index", self.prev_log_index.to_string())
            .with_attr("leader-commit", self.leader_commit.to_string())
            .with_attr("cluster", self.cluster.as_str());
        if let Some(x) = &self.ext {
            let mut ext = Element::new(EXT, ns::RAFT_EXT)
                .with_attr("leader", x.leader.to_string())
                .with_attr("committed", bool_str(x.committed));
            if let Some(l) = x.prev_log_leader {
                ext = ext
                    .with_attr("prev-log-term", l.term.to_string())
                    .with_attr("prev-log-node", l.node.to_string());
            }
            if let Some(l) = x.commit_leader {
                ext = ext
                    .with_attr("commit-term", l.term.to_string())
                    .with_attr("commit-node", l.node.to_string());
            }
            el.append_child(ext);
        }
        for e in &self.entries {
            el.append_child(e.to_element());
        }
        el
    }
}

impl TryFrom<&Element> for Entry {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = "entry";
        expect_element(el, E, ns::RAFT)?;
        if el.children().next().is_some() {
            return Err(ParseError::Invalid("<entry/> must hold only character data".to_owned()));
        }
        // Borrow the usual single text node instead of concatenating: entries are the bulk of
        // every append, and this copy showed up in the append_entries bench.
        let text = match el.nodes() {
            [Node::Text(t)] => Cow::Borrowed(t.as_str()),
            _ => Cow::Owned(el.text()),
        };
        if parse_bool_attr(el, E, "encoded")? != Some(true) {
            return Ok(Entry::Text(text.into_owned()));
        }
        // XML Schema base64Binary allows whitespace (the XEP's own example is indented); we never
        // write any, so try the plain decode first rather than scan every byte for it.
        let decoded = BASE64.decode(text.as_bytes()).or_else(|e| {
            let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            if compact.len() == text.len() {
                Err(e)
            } else {
                BASE64.decode(compact)
            }
        });
        decoded
            .map(Entry::Encoded)
            .map_err(|e| ParseError::Invalid(format!("<entry encoded='true'/> is not base64: {e}")))
    }
}

impl Entry {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        let el = Element::new("entry", ns::RAFT);
        match self {
            Entry::Text(t) => el.with_attr("encoded", "false").with_text(t.as_str()),
            Entry::Encoded(b) => el.with_attr("encoded", "true").with_text(BASE64.encode(b)),
        }
    }

    /// An encoded entry holding `record`.
    pub fn from_record(record: &LogEntryRecord) -> Self {
        Entry::Encoded(record.encode_to_vec())
    }

    /// The [`LogEntryRecord`] inside an encoded entry; a text entry (from a pure XEP-0362
    /// peer) has none.
    pub fn to_record(&self) -> Result<LogEntryRecord, ParseError> {
        match self {
            Entry::Encoded(b) => LogEntryRecord::decode(b.as_slice())
                .map_err(|e| ParseError::Invalid(format!("<entry/> holds no log entry record: {e}"))),
            Entry::Text(_) => {
                Err(ParseError::InvalidAttr { element: "entry", attr: "encoded", value: "false".to_owned() })
            }
        }
    }
}

impl TryFrom<&Element> for AppendResponse {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = "append-response";
        expect_element(el, E, ns::RAFT)?;
        let ext = match el.child(EXT, ns::RAFT_EXT) {
            None => None,
            Some(x) => Some(match required_attr(x, EXT, "result")? {
                "success" => AppendResult::Success,
                "partial-success" => AppendResult::PartialSuccess(opt_log_id(x, EXT, MATCH)?),
                "conflict" => AppendResult::Conflict,
                "higher-vote" => AppendResult::HigherVote {
                    leader: parse_attr(x, EXT, "leader")?,
                    committed: required_bool(x, EXT, "committed")?,
                },
                other => {
                    return Err(ParseError::InvalidAttr {
                        element: EXT,
                        attr: "result",
                        value: other.to_owned(),
                    })
                }
            }),
        };
        Ok(AppendResponse {
            term: parse_attr(el, E, "term")?,
            success: required_bool(el, E, "success")?,
            cluster: required_attr(el, E, "cluster")?.to_owned(),
            ext,
        })
    }
}

impl AppendResponse {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        let el = Element::new("append-response", ns::RAFT)
            .with_attr("term", self.term.to_string())
            .with_attr("success", bool_str(self.success))
            .with_attr("cluster", self.cluster.as_str());
        let Some(result) = self.ext else { return el };
        let ext = Element::new(EXT, ns::RAFT_EXT);
        el.with_child(match result {
            AppendResult::Success => ext.with_attr("result", "success"),
            AppendResult::PartialSuccess(m) => {
                with_log_id(ext.with_attr("result", "partial-success"), MATCH, m)
            }
            AppendResult::Conflict => ext.with_attr("result", "conflict"),
            AppendResult::HigherVote { leader, committed } => ext
                .with_attr("result", "higher-vote")
                .with_attr("leader", leader.to_string())
                .with_attr("committed", bool_str(committed)),
        })
    }
}
