//! Wiring of one root node: certificates → transport, RocksDB store → openraft, the stanza
//! router, bootstrap, the admin HTTP endpoint; and a clean stop.
//!
//! ```text
//!  NodeConfig ─▶ load PEMs ─▶ XmppNode (listeners, discovery) ──incoming──▶ router
//!            └─▶ store::open(data_dir) ─▶ Raft(XmppRaftNetwork) ◀─────────────┘
//!            └─▶ admin HTTP (/metrics /healthz /readyz)
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use openraft::Raft;
use proto::raft_types::RaftTypes;
use proto::s2s::TlsMode;
use raft_xmpp_transport::discovery::{Discovery, Endpoint, TlsStart};
use raft_xmpp_transport::pki::{load_certs, load_key, PkiError};
use raft_xmpp_transport::raft::XmppRaftNetwork;
use raft_xmpp_transport::tls::TlsIdentity;
use raft_xmpp_transport::{TransportConfig, XmppNode};
use store::StateMachineStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{DiscoveryConfig, NodeConfig};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A certificate, key or CA file.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The data directory.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The transport.
    #[error("transport: {0}")]
    Transport(#[from] raft_xmpp_transport::StartError),
    /// DNS configuration.
    #[error("discovery: {0}")]
    Discovery(#[from] raft_xmpp_transport::discovery::DiscoveryError),
    /// Binding a listener.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// openraft refused to start or bootstrap.
    #[error("raft: {0}")]
    Raft(String),
}

/// Bound sockets for a node (tests and `icroot dev` bind port 0 and pass them in).
#[derive(Debug)]
pub struct Listeners {
    /// STARTTLS S2S listeners.
    pub starttls: Vec<TcpListener>,
    /// Direct-TLS S2S listeners.
    pub direct_tls: Vec<TcpListener>,
    /// The admin HTTP listener.
    pub admin_http: TcpListener,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServiceError> {
    TcpListener::bind(addr).await.map_err(|source| ServiceError::Bind { addr, source })
}

impl Listeners {
    /// Bind every address of `config`.
    pub async fn bind(config: &NodeConfig) -> Result<Self, ServiceError> {
        let mut starttls = Vec::new();
        for a in &config.listen_starttls {
            starttls.push(bind(*a).await?);
        }
        let mut direct_tls = Vec::new();
        for a in &config.listen_direct_tls {
            direct_tls.push(bind(*a).await?);
        }
        Ok(Listeners { starttls, direct_tls, admin_http: bind(config.admin_http).await? })
    }
}

/// What handlers share: the config, the Raft handle, the transport and the registry.
pub(crate) struct NodeCtx {
    pub config: NodeConfig,
    pub raft: Raft<RaftTypes>,
    pub xmpp: XmppNode,
    pub sm: StateMachineStore,
    /// Presence subscribers, peers' announced roles, renewals in flight.
    pub presence: crate::presence::PresenceState,
    /// Registry watchers (XEP-0060) served by this node.
    pub pubsub: crate::pubsub::Subscriptions,
    /// Open `icroot snapshot save` exports.
    pub exports: crate::snapshot_export::Exports,
    /// Registry writes, coalesced into Raft entries.
    pub writes: crate::propose::Proposer,
    /// Linearizable reads, coalesced into read-index rounds.
    pub reads: crate::propose::ReadIndex,
}

impl std::fmt::Debug for NodeCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCtx").field("node_id", &self.config.node_id).finish_non_exhaustive()
    }
}

/// A running root node.
#[derive(Debug)]
pub struct RootService {
    ctx: Arc<NodeCtx>,
    admin_addr: SocketAddr,
    /// Router, admin HTTP and metrics tasks; aborted on shutdown after Raft has stopped.
    tasks: Vec<JoinHandle<()>>,
}

fn identity(
    config: &NodeConfig,
) -> Result<(TlsIdentity, Vec<rustls_pki_types::CertificateDer<'static>>), ServiceError> {
    let cert_chain = load_certs(&config.cert)?;
    let key = load_key(&config.key)?;
    let mut anchors = Vec::new();
    for ca in &config.ca {
        anchors.extend(load_certs(ca)?);
    }
    Ok((TlsIdentity { cert_chain, key }, anchors))
}

fn discovery(config: &NodeConfig) -> Result<Discovery, ServiceError> {
    let seed = config.node_id;
    Ok(match &config.discovery {
        DiscoveryConfig::Srv { nameservers } if nameservers.is_empty() => Discovery::from_system(seed)?,
        DiscoveryConfig::Srv { nameservers } => Discovery::with_nameservers(nameservers, seed),
        DiscoveryConfig::Static { routes } => {
            let mut d = Discovery::with_nameservers(&[], seed);
            for (domain, (host, port)) in routes {
                d.add_static_route(
                    domain,
                    vec![Endpoint { host: host.clone(), port: *port, tls: TlsStart::StartTls }],
                );
            }
            d
        }
    })
}

impl RootService {
    /// Start a node on already-bound listeners.
    pub async fn start(config: NodeConfig, listeners: Listeners) -> Result<Self, ServiceError> {
        let (ident, anchors) = identity(&config)?;
        let mut tcfg = TransportConfig::new(config.domain.clone(), ident, anchors);
        tcfg.seed = config.node_id;
        let mut socks: Vec<(TcpListener, TlsMode)> =
            listeners.starttls.into_iter().map(|l| (l, TlsMode::StartTls)).collect();
        socks.extend(listeners.direct_tls.into_iter().map(|l| (l, TlsMode::DirectTls)));
        let (log, mut sm) = store::open(&config.data_dir)?;
        sm.set_change_retention(config.change_retention);
        let (xmpp, incoming) = XmppNode::start(tcfg, socks, discovery(&config)?)?;
        let network = XmppRaftNetwork::new(xmpp.clone(), config.node_id, &config.cluster_name);
        let raft = Raft::new(config.node_id, Arc::new(config.raft.clone()), network, log, sm.clone())
            .await
            .map_err(|e| ServiceError::Raft(e.to_string()))?;
        let admin_addr = listeners
            .admin_http
            .local_addr()
            .map_err(|source| ServiceError::Bind { addr: config.admin_http, source })?;
        let presence = crate::presence::PresenceState::default();
        let writes = crate::propose::Proposer::start(raft.clone());
        let reads = crate::propose::ReadIndex::start(raft.clone(), xmpp.clone(), config.node_id);
        let ctx = Arc::new(NodeCtx {
            config,
            writes,
            reads,
            raft,
            xmpp,
            sm,
            presence,
            pubsub: Default::default(),
            exports: Default::default(),
        });
        let tasks = vec![
            tokio::spawn(crate::router::run(ctx.clone(), incoming)),
            tokio::spawn(crate::admin_http::serve(ctx.clone(), listeners.admin_http)),
            tokio::spawn(crate::admin_http::export_raft_metrics(ctx.clone())),
            tokio::spawn(crate::leases::run(ctx.clone())),
            tokio::spawn(crate::presence::announce(ctx.clone())),
            tokio::spawn(crate::pubsub::run(ctx.clone())),
            tokio::spawn(crate::failover::run(ctx.clone())),
        ];
        bootstrap(&ctx).await?;
        tracing::info!(node_id = ctx.config.node_id, domain = %ctx.config.domain, admin = %admin_addr, "root node started");
        Ok(RootService { ctx, admin_addr, tasks })
    }

    /// Where the admin HTTP endpoint listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The Raft handle (membership, metrics).
    pub fn raft(&self) -> &Raft<RaftTypes> {
        &self.ctx.raft
    }

    /// The transport.
    pub fn xmpp(&self) -> &XmppNode {
        &self.ctx.xmpp
    }

    /// The Raft roles other members last announced in presence, by node id.
    pub fn peer_roles(&self) -> std::collections::BTreeMap<u64, proto::stanza::presence::RaftRole> {
        self.ctx.presence.peer_roles()
    }

    /// The addresses subscribed to this node's presence.
    pub fn presence_subscribers(&self) -> Vec<String> {
        self.ctx.presence.subscribers()
    }

    /// Registry subscriptions this node serves now.
    pub fn subscriptions(&self) -> usize {
        self.ctx.pubsub.len()
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.ctx.config
    }

    /// Stop Raft, close every link, flush the store.
    pub async fn shutdown(self) {
        if let Err(e) = self.ctx.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
        self.ctx.xmpp.shutdown().await;
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = self.ctx.sm.flush() {
            tracing::warn!(error = %e, "store flush failed");
        }
        tracing::info!(node_id = self.ctx.config.node_id, "root node stopped");
    }
}

/// Initialize the cluster from `bootstrap` when this node is its lowest id and holds no state.
async fn bootstrap(ctx: &NodeCtx) -> Result<(), ServiceError> {
    let members = &ctx.config.bootstrap;
    if members.keys().next() != Some(&ctx.config.node_id) {
        return Ok(());
    }
    let initialized = ctx.raft.is_initialized().await.map_err(|e| ServiceError::Raft(e.to_string()))?;
    if initialized {
        tracing::info!("log holds state; resuming without bootstrap");
        return Ok(());
    }
    tracing::info!(members = members.len(), "bootstrapping a new cluster");
    ctx.raft.initialize(members.clone()).await.map_err(|e| ServiceError::Raft(e.to_string()))
}

/// Run one node until `shutdown` resolves.
pub async fn run(config: NodeConfig, shutdown: impl Future<Output = ()>) -> Result<(), ServiceError> {
    let listeners = Listeners::bind(&config).await?;
    let node = RootService::start(config, listeners).await?;
    shutdown.await;
    node.shutdown().await;
    Ok(())
}
