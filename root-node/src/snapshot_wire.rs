//! The snapshot-export wire (docs/protocol.md §5.8): how `icroot snapshot save` pulls a root
//! node's current snapshot file over S2S in checksummed chunks. Shared by the client
//! ([`crate::snapshot_cmd`]) and the root ([`crate::snapshot_export`]).
//!
//! ```text
//!  set <open/>                         ─▶ <export id size sha256 snapshot-id last-log-* revision/>
//!  get <chunk id offset length/>  (×n) ─▶ <chunk id offset sha256>base64</chunk>
//!  set <close id/>                     ─▶ empty result
//! ```

use base64::Engine as _;
use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::xml::Element;
use sha2::{Digest, Sha256};

/// Namespace of the snapshot-export requests.
pub const NS: &str = "https://ns.icroot.dev/snapshot/0";
/// Largest chunk a client may ask for (and the root sends): 256 KiB raw, ≈ 342 KiB of base64,
/// inside the 512 KiB S2S stanza limit.
pub const MAX_CHUNK_BYTES: u32 = 256 * 1024;

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A request or answer that does not follow this wire, and the condition it earns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct WireError {
    /// The RFC 6120 condition a root answers it with.
    pub condition: Cond,
    /// What is wrong.
    pub detail: String,
}

impl WireError {
    /// The stanza error a root answers with.
    pub fn to_stanza_error(&self) -> StanzaError {
        StanzaError::new(self.condition, self.detail.clone())
    }
}

fn bad(detail: String) -> WireError {
    WireError { condition: Cond::BadRequest, detail }
}

fn attr<'a>(el: &'a Element, name: &str) -> Result<&'a str, WireError> {
    el.attr(name).ok_or_else(|| bad(format!("<{}/> needs '{name}'", el.name())))
}

fn num(el: &Element, name: &str) -> Result<u64, WireError> {
    attr(el, name)?.parse().map_err(|_| bad(format!("<{}/> '{name}' is not a number", el.name())))
}

fn opt_num(el: &Element, name: &str) -> Result<Option<u64>, WireError> {
    el.attr(name).map(|_| num(el, name)).transpose()
}

/// `<open/>`: export the node's current snapshot (built afresh first).
pub fn open_request() -> Element {
    Element::new("open", NS)
}

/// `<close id='…'/>`: the client is done with an export.
pub fn close_request(id: &str) -> Element {
    Element::new("close", NS).with_attr("id", id)
}

/// The id of a `<chunk/>` request or `<close/>`.
pub fn export_id(el: &Element) -> Result<&str, WireError> {
    attr(el, "id")
}

/// An export the root opened: what the file is and how to fetch it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// Names the export in `<chunk/>` and `<close/>`.
    pub id: String,
    /// File size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the whole file.
    pub sha256: String,
    /// The snapshot's id (as in its header).
    pub snapshot_id: String,
    /// Term and index of the last log entry the snapshot covers.
    pub last_log: Option<(u64, u64)>,
    /// Registry revision of the snapshot.
    pub revision: u64,
}

impl Export {
    /// `<export/>`.
    pub fn to_element(&self) -> Element {
        let el = Element::new("export", NS)
            .with_attr("id", self.id.clone())
            .with_attr("size", self.size.to_string())
            .with_attr("sha256", self.sha256.clone())
            .with_attr("snapshot-id", self.snapshot_id.clone())
            .with_attr("revision", self.revision.to_string())
            .with_attr("chunk-max", MAX_CHUNK_BYTES.to_string());
        match self.last_log {
            Some((term, index)) => {
                el.with_attr("last-log-term", term.to_string()).with_attr("last-log-index", index.to_string())
            }
            None => el,
        }
    }

    /// Parse `<export/>`.
    pub fn parse(el: &Element) -> Result<Self, WireError> {
        if !el.is("export", NS) {
            return Err(bad(format!("expected <export/>, got <{}/>", el.name())));
        }
        let last_log = match (opt_num(el, "last-log-term")?, opt_num(el, "last-log-index")?) {
            (Some(t), Some(i)) => Some((t, i)),
            _ => None,
        };
        Ok(Export {
            id: attr(el, "id")?.to_owned(),
            size: num(el, "size")?,
            sha256: attr(el, "sha256")?.to_owned(),
            snapshot_id: attr(el, "snapshot-id")?.to_owned(),
            last_log,
            revision: num(el, "revision")?,
        })
    }
}

/// A `<chunk id offset length/>` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The export.
    pub id: String,
    /// Byte offset in the file.
    pub offset: u64,
    /// Bytes wanted (1..=[`MAX_CHUNK_BYTES`]).
    pub length: u32,
}

impl ChunkRequest {
    /// `<chunk/>` (get).
    pub fn to_element(&self) -> Element {
        Element::new("chunk", NS)
            .with_attr("id", self.id.clone())
            .with_attr("offset", self.offset.to_string())
            .with_attr("length", self.length.to_string())
    }

    /// Parse and bound a request.
    pub fn parse(el: &Element) -> Result<Self, WireError> {
        let length = num(el, "length")?;
        if length == 0 || length > u64::from(MAX_CHUNK_BYTES) {
            return Err(WireError {
                condition: Cond::NotAcceptable,
                detail: format!("length {length} outside 1..={MAX_CHUNK_BYTES}"),
            });
        }
        Ok(ChunkRequest { id: attr(el, "id")?.to_owned(), offset: num(el, "offset")?, length: length as u32 })
    }
}

/// The bytes at `offset` of an export, with their SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset in the file.
    pub offset: u64,
    /// The bytes (at most [`MAX_CHUNK_BYTES`]).
    pub data: Vec<u8>,
}

impl Chunk {
    /// `<chunk offset sha256>base64</chunk>` (result).
    pub fn to_element(&self, id: &str) -> Element {
        Element::new("chunk", NS)
            .with_attr("id", id)
            .with_attr("offset", self.offset.to_string())
            .with_attr("sha256", sha256_hex(&self.data))
            .with_text(base64::engine::general_purpose::STANDARD.encode(&self.data))
    }

    /// Parse a chunk, decode it and check its length bound and checksum.
    pub fn parse(el: &Element) -> Result<Self, WireError> {
        if !el.is("chunk", NS) {
            return Err(bad(format!("expected <chunk/>, got <{}/>", el.name())));
        }
        let text = el.text();
        if text.len() > (MAX_CHUNK_BYTES as usize).div_ceil(3) * 4 + 2 {
            return Err(bad("chunk larger than allowed".into()));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| bad(format!("chunk is not base64: {e}")))?;
        if sha256_hex(&data) != attr(el, "sha256")? {
            return Err(bad("chunk checksum mismatch".into()));
        }
        Ok(Chunk { offset: num(el, "offset")?, data })
    }
}

#[cfg(test)]
#[path = "snapshot_wire_tests.rs"]
mod tests;
