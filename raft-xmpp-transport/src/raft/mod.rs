//! openraft over XMPP: the client side ([`XmppRaftNetwork`], openraft's `RaftNetworkFactory`) sends
//! each RPC as an `<iq type='set'>` carrying a XEP-0362 payload; the serving side
//! ([`serve_raft_payload`]) turns a received payload into a call on the local `Raft` and the answer
//! payload. Both ends use `proto`'s lossless conversions, so what crosses the wire is exactly
//! what `docs/protocol.md` describes.
//!
//! ```text
//!  openraft ─▶ XmppRaftConnection::append_entries ─▶ <iq set><append/></iq> ─▶ XmppNode::request
//!                                                                                   │ S2S
//!  peer: router ─▶ serve_raft_payload ─▶ Raft::append_entries ─▶ <iq result><append-response/></iq>
//! ```

mod memnet;
mod network;
pub(crate) mod rpc;
mod service;

pub use memnet::{MemNet, MemNetwork};
pub use network::{XmppRaftConnection, XmppRaftNetwork};
pub use rpc::{Carrier, RaftRpcClient};
pub use service::{raft_answer, serve_raft_payload};

/// Serialized size an `<append/>` may reach: the 512 KiB post-authentication stanza limit minus
/// room for the iq envelope and the `<append/>` attributes.
pub const APPEND_STANZA_BUDGET: usize = 448 * 1024;

/// Cut an AppendEntries request so its stanza stays within `budget` bytes. Returns the request to
/// send and, when entries were cut, the log id of the last entry kept: a `Success` answer then
/// means only that prefix was accepted, which openraft's `PartialSuccess` expresses exactly, so
/// it sends the rest next. At least one entry is always kept (record bounds keep single entries
/// far below the budget).
pub fn fit_append_entries(
    mut rpc: openraft::raft::AppendEntriesRequest<proto::raft_types::RaftTypes>,
    budget: usize,
) -> (openraft::raft::AppendEntriesRequest<proto::raft_types::RaftTypes>, Option<openraft::LogId<u64>>) {
    use prost::Message as _;
    // Fixed cost of the element and its attributes and extension.
    let mut total = 512;
    let mut keep = 0;
    for e in &rpc.entries {
        let record_len = match &e.payload {
            openraft::EntryPayload::Normal(cmd) => cmd.encoded_len() + 40,
            _ => proto::raft_types::entry_to_record(e).encoded_len(),
        };
        // base64 (4 per 3, rounded up) plus the <entry encoded='true'></entry> markup.
        let entry_len = record_len.div_ceil(3) * 4 + 48;
        if keep > 0 && total + entry_len > budget {
            break;
        }
        total += entry_len;
        keep += 1;
    }
    if keep == rpc.entries.len() {
        return (rpc, None);
    }
    rpc.entries.truncate(keep);
    let last = rpc.entries.last().map(|e| e.log_id);
    (rpc, last)
}

/// The answer to a cut request, in terms of the whole request.
pub fn widen_append_response(
    resp: openraft::raft::AppendEntriesResponse<u64>,
    cut_at: Option<openraft::LogId<u64>>,
) -> openraft::raft::AppendEntriesResponse<u64> {
    match (resp, cut_at) {
        (openraft::raft::AppendEntriesResponse::Success, Some(last)) => {
            openraft::raft::AppendEntriesResponse::PartialSuccess(Some(last))
        }
        (other, _) => other,
    }
}

/// openraft settings that must agree with this transport.
///
/// * `snapshot_max_chunk_size` ≤ [`proto::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES`] so every
///   chunk fits one stanza well under the 512 KiB S2S limit;
/// * `install_snapshot_timeout` well above one S2S round trip of a full chunk (the default
///   200 ms is not).
pub fn check_raft_config(config: &openraft::Config) -> Result<(), String> {
    let max = proto::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES as u64;
    if config.snapshot_max_chunk_size > max {
        return Err(format!(
            "snapshot_max_chunk_size {} exceeds the stanza budget {max}",
            config.snapshot_max_chunk_size
        ));
    }
    if config.install_snapshot_timeout < 1000 {
        return Err(format!(
            "install_snapshot_timeout {} ms is too small for chunks over S2S (use ≥ 1000)",
            config.install_snapshot_timeout
        ));
    }
    Ok(())
}
