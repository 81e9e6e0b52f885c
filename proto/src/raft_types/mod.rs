//! openraft's type configuration for icroot, and lossless conversions between openraft's RPC
//! types and the XEP-0362 stanzas of [`crate::stanza::raft`].
//!
//! ```text
//!  openraft RaftNetwork ─▶ *_to_stanza(rpc, cluster) ─▶ stanza::raft::* ─▶ Element ─▶ wire
//!  wire ─▶ Element ─▶ stanza::raft::* ─▶ *_from_stanza(stanza, cluster)? ─▶ openraft Raft handle
//! ```
//!
//! Going out, each function takes the cluster name to write; coming in, a stanza for another
//! cluster, one without the icroot `<ext/>` child, or one whose XEP fields contradict the
//! extension is a [`ConvertError`].

mod convert;
mod record_codec;

use std::fmt;

pub use convert::*;

use crate::record::{Command, CommandResponse};
use crate::stanza::ParseError;

openraft::declare_raft_types!(
    /// icroot's openraft type configuration. Snapshots are files (`tokio::fs::File`), so
    /// openraft reads and writes them in chunks and never holds a whole one in memory.
    pub RaftTypes:
        D = Command,
        R = CommandResponse,
        NodeId = u64,
        Node = RootNode,
        Entry = openraft::Entry<RaftTypes>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// What openraft knows about a member: its XMPP domain, which is all another root needs to
/// reach it (SRV discovery does the rest).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootNode {
    /// The node's XMPP domain, e.g. `root1.icroot.example`.
    pub domain: String,
}

impl RootNode {
    /// A node reached at `domain`.
    pub fn new(domain: impl Into<String>) -> Self {
        RootNode { domain: domain.into() }
    }
}

impl fmt::Display for RootNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.domain)
    }
}

/// Why a well-formed stanza is not a usable openraft RPC.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The stanza is for a different Raft cluster.
    #[error("stanza is for cluster {found:?}, this node serves {expected:?}")]
    ClusterMismatch {
        /// The cluster this node serves.
        expected: String,
        /// The stanza's `cluster`.
        found: String,
    },
    /// A pure XEP-0362 stanza: openraft needs the icroot `<ext/>` child.
    #[error("<{element}/> lacks the icroot <ext/> openraft needs")]
    MissingExt {
        /// The XEP element.
        element: &'static str,
    },
    /// An entry, or the record inside it, is unusable.
    #[error("bad log entry: {0}")]
    Entry(#[from] ParseError),
    /// The XEP fields contradict the extension.
    #[error("inconsistent stanza: {0}")]
    Inconsistent(String),
    /// A snapshot chunk larger than [`crate::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES`]; lower
    /// openraft's `snapshot_max_chunk_size`.
    #[error("snapshot chunk of {0} bytes exceeds the per-stanza limit")]
    ChunkTooLarge(usize),
}
