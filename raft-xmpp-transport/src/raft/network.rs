//! openraft's `RaftNetworkFactory` over [`XmppNode`]: each RPC is one iq request to the target
//! node's domain, with the RPC's deadline as the request deadline.
//!
//! Failure mapping (STYLE.md): DNS/connect/TLS failures → `Unreachable`; a stream that broke, a
//! full queue, or an answer we cannot read → `Network`; no answer in time → `Timeout`; an error
//! answer from the peer → `RemoteError`.

use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use proto::ns;
use proto::raft_types::{self as rt, RaftTypes, RootNode};
use proto::stanza::raft::RaftPayload;
use proto::xml::Element;

use crate::node::{RequestError, XmppNode};

/// Creates one [`XmppRaftConnection`] per target node.
#[derive(Clone, Debug)]
pub struct XmppRaftNetwork {
    node: XmppNode,
    local_id: u64,
    cluster: String,
}

impl XmppRaftNetwork {
    /// Raft RPCs of node `local_id` in `cluster`, carried by `node`.
    pub fn new(node: XmppNode, local_id: u64, cluster: impl Into<String>) -> Self {
        XmppRaftNetwork { node, local_id, cluster: cluster.into() }
    }
}

impl RaftNetworkFactory<RaftTypes> for XmppRaftNetwork {
    type Network = XmppRaftConnection;

    async fn new_client(&mut self, target: u64, node: &RootNode) -> Self::Network {
        XmppRaftConnection {
            node: self.node.clone(),
            local_id: self.local_id,
            target,
            domain: node.domain.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

/// The RPC client towards one node.
#[derive(Debug)]
pub struct XmppRaftConnection {
    node: XmppNode,
    local_id: u64,
    target: u64,
    domain: String,
    cluster: String,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<u64, RootNode, RaftError<u64, E>>;

impl XmppRaftConnection {
    /// Send `payload` in an iq set and return the answer's payload.
    async fn call<E: std::error::Error>(
        &self,
        payload: Element,
        action: RPCTypes,
        ttl: Duration,
    ) -> Result<RaftPayload, RpcErr<E>> {
        let iq = Element::new("iq", ns::JABBER_SERVER)
            .with_attr("type", "set")
            .with_attr("to", self.domain.clone())
            .with_attr("from", self.node.domain().to_owned())
            .with_child(payload);
        let answer = self.node.request(iq, ttl).await.map_err(|e| self.map_err(e, action))?;
        let payload = answer
            .children()
            .find(|c| RaftPayload::is_raft_payload(c))
            .ok_or_else(|| network_err(format!("answer from {} carries no raft payload", self.domain)))?;
        RaftPayload::from_element(payload).map_err(network_err)
    }

    fn map_err<E: std::error::Error>(&self, e: RequestError, action: RPCTypes) -> RpcErr<E> {
        match e {
            RequestError::Unreachable(reason) => RPCError::Unreachable(Unreachable::new(&Msg(reason))),
            RequestError::Timeout(timeout) => {
                RPCError::Timeout(Timeout { action, id: self.local_id, target: self.target, timeout })
            }
            RequestError::Remote(err) => {
                tracing::debug!(target = self.target, error = %err, "raft RPC refused by peer");
                RPCError::RemoteError(RemoteError::new(self.target, RaftError::Fatal(Fatal::Stopped)))
            }
            other => network_err(other),
        }
    }
}

/// An error message as an `std::error::Error` (openraft's error constructors take one).
#[derive(Debug)]
struct Msg(String);

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Msg {}

fn network_err<E: std::error::Error>(e: impl std::fmt::Display) -> RpcErr<E> {
    RPCError::Network(NetworkError::new(&Msg(e.to_string())))
}

fn unexpected<E: std::error::Error>(got: &RaftPayload) -> RpcErr<E> {
    network_err(format!("unexpected answer <{}/>", got.to_element().name()))
}

impl RaftNetwork<RaftTypes> for XmppRaftConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcErr> {
        let payload = rt::append_entries_request_to_stanza(&rpc, &self.cluster).to_element();
        match self.call(payload, RPCTypes::AppendEntries, option.hard_ttl()).await? {
            RaftPayload::AppendResponse(r) => {
                rt::append_entries_response_from_stanza(&r, &self.cluster).map_err(network_err)
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcErr<InstallSnapshotError>> {
        let chunk = rt::install_snapshot_request_to_stanza(&rpc, &self.cluster).map_err(network_err)?;
        match self.call(chunk.to_element(), RPCTypes::InstallSnapshot, option.hard_ttl()).await? {
            RaftPayload::SnapshotResponse(r) => {
                rt::install_snapshot_response_from_stanza(&r, &self.cluster).map_err(network_err)
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Result<VoteResponse<u64>, RpcErr> {
        let payload = rt::vote_request_to_stanza(&rpc, &self.cluster).to_element();
        match self.call(payload, RPCTypes::Vote, option.hard_ttl()).await? {
            RaftPayload::Vote(v) => rt::vote_response_from_stanza(&v, &self.cluster).map_err(network_err),
            other => Err(unexpected(&other)),
        }
    }
}
