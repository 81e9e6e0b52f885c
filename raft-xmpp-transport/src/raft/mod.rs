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
mod service;

pub use memnet::{MemNet, MemNetwork};
pub use network::{XmppRaftConnection, XmppRaftNetwork};
pub use service::{raft_answer, serve_raft_payload};

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
