//! A transport node: one XMPP domain's listeners, its links to other domains, and the routing of
//! stanzas between those links and the application.
//!
//! ```text
//!  listeners ─accept─▶ link (Receiver) ─┐                       ┌─▶ pending requests (peer, id)
//!  send(to) ─▶ peer queue ─▶ link (Initiator, dialled by SRV) ──┼─▶ router ─┤
//!                         └▶ or the peer's inbound bidi link ───┘           └─▶ Incoming channel (app)
//! ```

mod peer;
mod pending;
mod shared;
mod sources;

use std::sync::Arc;
use std::time::Duration;

use proto::error::StanzaError;
use proto::s2s::TlsMode;
use proto::xml::Element;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::shared::Shared;
use crate::config::TransportConfig;
use crate::discovery::Discovery;
use crate::fault::FaultHook;
use crate::link::Direction;
use crate::tls::{TlsContext, TlsSetupError};

/// A stanza for the application.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The authenticated domain it came from.
    pub from_domain: String,
    /// The stanza.
    pub stanza: Element,
    /// The link it arrived on; [`XmppNode::reply`] answers over the same stream.
    pub link: crate::link::LinkId,
}

/// Why a stanza could not be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The stanza has no usable `to`.
    #[error("stanza has no valid 'to' address")]
    NoAddress,
    /// The queue to that domain is full.
    #[error("outbound queue to {0} is full")]
    QueueFull(String),
    /// The domain could not be reached recently; retry after the backoff.
    #[error("{peer} is unreachable: {reason}")]
    Unreachable {
        /// The remote domain.
        peer: String,
        /// The last failure.
        reason: String,
    },
    /// The node is shutting down.
    #[error("transport is shutting down")]
    ShuttingDown,
}

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The peer could not be reached (DNS, connect or TLS failure).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The stream to the peer broke while the request was outstanding.
    #[error("stream failed: {0}")]
    Network(String),
    /// No answer before the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer answered with an error.
    #[error("peer answered with an error: {0}")]
    Remote(Box<StanzaError>),
    /// Too many requests outstanding, or the peer's queue is full.
    #[error("too many outstanding requests")]
    QueueFull,
    /// The stanza id is already in use for that peer.
    #[error("request id {0} already outstanding")]
    DuplicateId(String),
    /// The request was not a valid iq.
    #[error("not a request: {0}")]
    Invalid(String),
}

impl From<SendError> for RequestError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Unreachable { reason, .. } => RequestError::Unreachable(reason),
            SendError::QueueFull(_) => RequestError::QueueFull,
            SendError::NoAddress => RequestError::Invalid(e.to_string()),
            SendError::ShuttingDown => RequestError::Network(e.to_string()),
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// TLS configuration.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// Dialback enabled without a secret.
    #[error("dialback is enabled but no dialback secret is configured")]
    NoDialbackSecret,
}

/// A running transport node. Cheap to clone.
#[derive(Clone, Debug)]
pub struct XmppNode {
    shared: Arc<Shared>,
}

impl XmppNode {
    /// Start serving on `listeners` (each in STARTTLS or direct-TLS mode) and dialling peers found by
    /// `discovery`. Returns the node and the channel of stanzas for the application.
    pub fn start(
        config: TransportConfig,
        listeners: Vec<(TcpListener, TlsMode)>,
        discovery: Discovery,
    ) -> Result<(XmppNode, mpsc::Receiver<Incoming>), StartError> {
        let d = &config.dialback;
        if (d.accept || d.initiate) && d.secret.is_none() {
            return Err(StartError::NoDialbackSecret);
        }
        let tls = TlsContext::new(&config.identity, &config.trust_anchors, !config.dialback.accept)?;
        let (tx, rx) = mpsc::channel(config.inbound_queue_len);
        let shared = Shared::new(config, tls, discovery, tx);
        for (listener, mode) in listeners {
            let s = shared.clone();
            let task = tokio::spawn(async move { s.accept_loop(listener, mode).await });
            shared.track_task(task);
        }
        Ok((XmppNode { shared }, rx))
    }

    /// Our domain.
    pub fn domain(&self) -> &str {
        &self.shared.config.domain
    }

    /// The fault hook of this node's links.
    pub fn faults(&self) -> &FaultHook {
        &self.shared.faults
    }

    /// Send a stanza to the domain of its `to` address (fire and forget). `from` defaults to our
    /// domain.
    pub fn send(&self, stanza: Element) -> Result<(), SendError> {
        self.shared.send(stanza)
    }

    /// Answer a stanza that arrived on `link` over that same stream when it can carry stanzas
    /// to the answer's `to` domain (several streams of one domain — e.g. two client processes
    /// of one Exchange — each get their own answers); otherwise like [`XmppNode::send`].
    pub fn reply(&self, link: crate::link::LinkId, stanza: Element) -> Result<(), SendError> {
        self.shared.reply(link, stanza)
    }

    /// Send an iq request and wait for its result. An `iq type='error'` answer is
    /// `RequestError::Remote`. The iq gets an id if it has none.
    pub async fn request(&self, iq: Element, timeout: Duration) -> Result<Element, RequestError> {
        self.shared.request(iq, timeout).await
    }

    /// Authenticated links now: (peer domain, direction, bidi).
    pub fn links(&self) -> Vec<(String, Direction, bool)> {
        self.shared.established_links()
    }

    /// Requests waiting for answers.
    pub fn pending_requests(&self) -> usize {
        self.shared.pending.len()
    }

    /// Peer domains whose authenticated stream the peer's side ended: a closing
    /// `</stream:stream>` (a node shutting down), or the socket closed or reset without one (a
    /// node whose process died). A partition, by contrast, ends nothing until timeouts run out.
    /// Lagging receivers miss events, never block the transport.
    pub fn link_losses(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.shared.link_lost.subscribe()
    }

    /// Whether every address `peer` resolves to (SRV/static discovery) refuses TCP connections
    /// right now, each within `timeout`: nothing listens there, so the peer's process is gone.
    /// False when any address accepts or stays silent, or when `peer` does not resolve.
    pub async fn refuses_connections(&self, peer: &str, timeout: Duration) -> bool {
        self.shared.refuses_connections(peer, timeout).await
    }

    /// Close every link and stop accepting.
    pub async fn shutdown(&self) {
        self.shared.shutdown().await;
    }
}
