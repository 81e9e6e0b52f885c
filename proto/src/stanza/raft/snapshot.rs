//! `<snapshot-chunk/>` and `<snapshot-response/>`: openraft's chunked InstallSnapshot, which
//! XEP-0362 lacks, entirely in icroot's extension namespace.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::{
    opt_log_id, parse_vote_attrs, required_bool, with_log_id, with_vote_attrs, FullVote, LogId, Membership,
};
use crate::ns;
use crate::stanza::{expect_element, parse_attr, required_attr, ParseError};
use crate::xml::Element;

/// Largest snapshot chunk carried in one `<snapshot-chunk/>`, in raw bytes. Base64 makes it
/// 4/3 larger (~342 KiB), which keeps the stanza well under the 512 KiB S2S stanza limit with
/// room for the snapshot metadata. openraft's `snapshot_max_chunk_size` must not exceed it.
pub const MAX_SNAPSHOT_CHUNK_BYTES: usize = 256 * 1024;

const LAST_LOG: [&str; 3] = ["last-log-term", "last-log-node", "last-log-index"];
const LOG: [&str; 3] = ["log-term", "log-node", "log-index"];

/// `<snapshot-chunk/>`: one chunk of a snapshot sent by the leader (openraft
/// InstallSnapshotRequest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotChunk {
    /// `cluster`.
    pub cluster: String,
    /// `term`, `leader`, `committed`: the leader's vote.
    pub vote: FullVote,
    /// `<meta snapshot-id='…'/>`: identifies the snapshot across its chunks.
    pub snapshot_id: String,
    /// `<meta last-log-term last-log-node last-log-index/>`: last log id the snapshot covers.
    pub last_log: Option<LogId>,
    /// `<membership log-term log-node log-index/>`: log id of the membership's entry.
    pub membership_log: Option<LogId>,
    /// `<membership/>`: the last membership the snapshot applied.
    pub membership: Membership,
    /// `offset`: where `data` starts in the snapshot, in bytes.
    pub offset: u64,
    /// `<data/>`: base64 of at most [`MAX_SNAPSHOT_CHUNK_BYTES`] bytes.
    pub data: Vec<u8>,
    /// `done`: whether this is the last chunk.
    pub done: bool,
}

/// `<snapshot-response/>`: the follower's answer to a chunk (openraft InstallSnapshotResponse).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotResponse {
    /// `cluster`.
    pub cluster: String,
    /// `term`, `leader`, `committed`: the follower's current vote.
    pub vote: FullVote,
}

impl TryFrom<&Element> for SnapshotChunk {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        const E: &str = "snapshot-chunk";
        expect_element(el, E, ns::RAFT_EXT)?;
        let (cluster, vote) = parse_vote_attrs(el, E)?;
        let meta =
            el.child("meta", ns::RAFT_EXT).ok_or(ParseError::MissingChild { element: E, child: "meta" })?;
        let m = meta
            .child("membership", ns::RAFT_EXT)
            .ok_or(ParseError::MissingChild { element: "meta", child: "membership" })?;
        let data_el =
            el.child("data", ns::RAFT_EXT).ok_or(ParseError::MissingChild { element: E, child: "data" })?;
        let text = data_el.text();
        // No size check before decoding: the stream reader already bounds the whole stanza.
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let data =
            BASE64.decode(compact).map_err(|e| ParseError::Invalid(format!("<data/> is not base64: {e}")))?;
        if data.len() > MAX_SNAPSHOT_CHUNK_BYTES {
            return Err(ParseError::Invalid(format!(
                "snapshot chunk exceeds {MAX_SNAPSHOT_CHUNK_BYTES} bytes"
            )));
        }
        Ok(SnapshotChunk {
            cluster,
            vote,
            snapshot_id: required_attr(meta, "meta", "snapshot-id")?.to_owned(),
            last_log: opt_log_id(meta, "meta", LAST_LOG)?,
            membership_log: opt_log_id(m, "membership", LOG)?,
            membership: parse_membership(m)?,
            offset: parse_attr(el, E, "offset")?,
            data,
            done: required_bool(el, E, "done")?,
        })
    }
}

impl SnapshotChunk {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        let membership = with_log_id(membership_element(&self.membership), LOG, self.membership_log);
        let meta = with_log_id(
            Element::new("meta", ns::RAFT_EXT).with_attr("snapshot-id", self.snapshot_id.as_str()),
            LAST_LOG,
            self.last_log,
        )
        .with_child(membership);
        let data = Element::new("data", ns::RAFT_EXT).with_text(BASE64.encode(&self.data));
        with_vote_attrs(Element::new("snapshot-chunk", ns::RAFT_EXT), &self.cluster, self.vote)
            .with_attr("offset", self.offset.to_string())
            .with_attr("done", super::bool_str(self.done))
            .with_child(meta)
            .with_child(data)
    }
}

impl TryFrom<&Element> for SnapshotResponse {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "snapshot-response", ns::RAFT_EXT)?;
        let (cluster, vote) = parse_vote_attrs(el, "snapshot-response")?;
        Ok(SnapshotResponse { cluster, vote })
    }
}

impl SnapshotResponse {
    /// Serialize.
    pub fn to_element(&self) -> Element {
        with_vote_attrs(Element::new("snapshot-response", ns::RAFT_EXT), &self.cluster, self.vote)
    }
}

/// `<membership><config><voter id='1'/>…</config>…<node id='1' domain='…'/>…</membership>`.
fn membership_element(m: &Membership) -> Element {
    let mut el = Element::new("membership", ns::RAFT_EXT);
    for config in &m.configs {
        el.append_child(Element::new("config", ns::RAFT_EXT).with_children(
            config.iter().map(|id| Element::new("voter", ns::RAFT_EXT).with_attr("id", id.to_string())),
        ));
    }
    for (id, domain) in &m.nodes {
        el.append_child(
            Element::new("node", ns::RAFT_EXT)
                .with_attr("id", id.to_string())
                .with_attr("domain", domain.as_str()),
        );
    }
    el
}

/// Read what [`membership_element`] writes; duplicates are errors, not merged.
fn parse_membership(el: &Element) -> Result<Membership, ParseError> {
    let mut configs = Vec::new();
    let mut nodes = BTreeMap::new();
    for child in el.children() {
        if child.is("config", ns::RAFT_EXT) {
            let mut voters = BTreeSet::new();
            for v in child.children().filter(|v| v.is("voter", ns::RAFT_EXT)) {
                if !voters.insert(parse_attr::<u64>(v, "voter", "id")?) {
                    return Err(ParseError::Invalid("duplicate <voter/> in a <config/>".to_owned()));
                }
            }
            configs.push(voters);
        } else if child.is("node", ns::RAFT_EXT) {
            let id = parse_attr::<u64>(child, "node", "id")?;
            let domain = required_attr(child, "node", "domain")?.to_owned();
            if nodes.insert(id, domain).is_some() {
                return Err(ParseError::Invalid(format!("duplicate <node id='{id}'/> in <membership/>")));
            }
        }
    }
    Ok(Membership { configs, nodes })
}
