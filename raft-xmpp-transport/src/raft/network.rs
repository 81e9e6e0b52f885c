//! openraft's `RaftNetworkFactory` over [`XmppNode`]: each RPC is one iq request to the target
//! node's domain, with the RPC's deadline as the request deadline.
//!
//! Failure mapping (STYLE.md): DNS/connect/TLS failures → `Unreachable`; a stream that broke, a
//! full queue, or an answer we cannot read → `Network`; no answer in time → `Timeout`; an error
//! answer from the peer → `RemoteError`.

use std::time::Duration;

use openraft::error::{RPCError, Timeout, Unreachable};
use openraft::network::{RPCTypes, RaftNetworkFactory};
use proto::ns;
use proto::raft_types::{RaftTypes, RootNode};
use proto::stanza::raft::RaftPayload;
use proto::xml::Element;

use super::rpc::{network_err, remote_err, Carrier, Msg, RaftRpcClient, RpcErr};
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
    type Network = RaftRpcClient<XmppRaftConnection>;

    async fn new_client(&mut self, target: u64, node: &RootNode) -> Self::Network {
        RaftRpcClient(XmppRaftConnection {
            node: self.node.clone(),
            local_id: self.local_id,
            target,
            domain: node.domain.clone(),
            cluster: self.cluster.clone(),
        })
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

impl Carrier for XmppRaftConnection {
    fn cluster(&self) -> &str {
        &self.cluster
    }

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
}

impl XmppRaftConnection {
    fn map_err<E: std::error::Error>(&self, e: RequestError, action: RPCTypes) -> RpcErr<E> {
        match e {
            RequestError::Unreachable(reason) => RPCError::Unreachable(Unreachable::new(&Msg(reason))),
            RequestError::Timeout(timeout) => {
                RPCError::Timeout(Timeout { action, id: self.local_id, target: self.target, timeout })
            }
            RequestError::Remote(err) => remote_err(self.target, err),
            other => network_err(other),
        }
    }
}
