//! What every Raft RPC client shares, whatever carries its stanzas (S2S or the in-memory
//! network): openraft request → XEP-0362 payload → carrier → answer payload → openraft response.

use std::future::Future;
use std::time::Duration;

use openraft::error::{Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError};
use openraft::network::{RPCOption, RPCTypes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use proto::raft_types::{self as rt, RaftTypes, RootNode};
use proto::stanza::raft::RaftPayload;
use proto::xml::Element;

/// openraft's RPC error for our type configuration.
pub(super) type RpcErr<E = openraft::error::Infallible> = RPCError<u64, RootNode, RaftError<u64, E>>;

/// An error message as an `std::error::Error` (openraft's error constructors take one).
#[derive(Debug)]
pub(super) struct Msg(pub String);

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Msg {}

pub(super) fn network_err<E: std::error::Error>(e: impl std::fmt::Display) -> RpcErr<E> {
    RPCError::Network(NetworkError::new(&Msg(e.to_string())))
}

/// The peer answered with an error: openraft sees the remote as unable to serve.
pub(super) fn remote_err<E: std::error::Error>(target: u64, why: impl std::fmt::Display) -> RpcErr<E> {
    tracing::debug!(target, error = %why, "raft RPC refused by peer");
    RPCError::RemoteError(RemoteError::new(target, RaftError::Fatal(Fatal::Stopped)))
}

fn unexpected<E: std::error::Error>(got: &RaftPayload) -> RpcErr<E> {
    network_err(format!("unexpected answer <{}/>", got.to_element().name()))
}

/// Carries one request payload to the peer and brings its answer payload back.
pub trait Carrier: Sync {
    /// The Raft group both ends belong to.
    fn cluster(&self) -> &str;

    /// Deliver `payload`, wait at most `ttl` for the answer.
    fn call<E: std::error::Error>(
        &self,
        payload: Element,
        action: RPCTypes,
        ttl: Duration,
    ) -> impl Future<Output = Result<RaftPayload, RpcErr<E>>> + Send;
}

/// openraft's RPC client over any [`Carrier`].
#[derive(Debug)]
pub struct RaftRpcClient<C>(pub(super) C);

impl<C: Carrier + Send + 'static> openraft::network::RaftNetwork<RaftTypes> for RaftRpcClient<C> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcErr> {
        append_entries(&self.0, rpc, option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcErr<InstallSnapshotError>> {
        install_snapshot(&self.0, rpc, option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Result<VoteResponse<u64>, RpcErr> {
        vote(&self.0, rpc, option).await
    }
}

async fn append_entries<C: Carrier>(
    c: &C,
    rpc: AppendEntriesRequest<RaftTypes>,
    option: RPCOption,
) -> Result<AppendEntriesResponse<u64>, RpcErr> {
    let (rpc, cut_at) = super::fit_append_entries(rpc, super::APPEND_STANZA_BUDGET);
    let payload = rt::append_entries_request_to_stanza(&rpc, c.cluster()).to_element();
    match c.call(payload, RPCTypes::AppendEntries, option.hard_ttl()).await? {
        RaftPayload::AppendResponse(r) => rt::append_entries_response_from_stanza(&r, c.cluster())
            .map(|resp| super::widen_append_response(resp, cut_at))
            .map_err(network_err),
        other => Err(unexpected(&other)),
    }
}

async fn install_snapshot<C: Carrier>(
    c: &C,
    rpc: InstallSnapshotRequest<RaftTypes>,
    option: RPCOption,
) -> Result<InstallSnapshotResponse<u64>, RpcErr<InstallSnapshotError>> {
    let chunk = rt::install_snapshot_request_to_stanza(&rpc, c.cluster()).map_err(network_err)?;
    match c.call(chunk.to_element(), RPCTypes::InstallSnapshot, option.hard_ttl()).await? {
        RaftPayload::SnapshotResponse(r) => {
            rt::install_snapshot_response_from_stanza(&r, c.cluster()).map_err(network_err)
        }
        other => Err(unexpected(&other)),
    }
}

async fn vote<C: Carrier>(
    c: &C,
    rpc: VoteRequest<u64>,
    option: RPCOption,
) -> Result<VoteResponse<u64>, RpcErr> {
    let payload = rt::vote_request_to_stanza(&rpc, c.cluster()).to_element();
    match c.call(payload, RPCTypes::Vote, option.hard_ttl()).await? {
        RaftPayload::Vote(v) => rt::vote_response_from_stanza(&v, c.cluster()).map_err(network_err),
        other => Err(unexpected(&other)),
    }
}
