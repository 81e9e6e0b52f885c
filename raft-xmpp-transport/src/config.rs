//! What a transport node needs to know: its identity, whom it trusts, and its bounds.

use std::time::Duration;

use proto::s2s::Timeouts;
use rustls_pki_types::CertificateDer;

use crate::tls::TlsIdentity;

/// Dialback (XEP-0220) policy. Off by default: root nodes authenticate each other with
/// certificates only; enable it for Exchanges whose servers cannot present a usable certificate.
#[derive(Clone, Debug, Default)]
pub struct DialbackPolicy {
    /// Accept dialback from peers whose TLS certificate does not name their domain.
    pub accept: bool,
    /// Use dialback ourselves when a peer does not offer SASL EXTERNAL.
    pub initiate: bool,
    /// Our XEP-0185 secret (required when either is on).
    pub secret: Option<String>,
}

/// Reconnect backoff: randomised, growing, capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Upper bound of the wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(10) }
    }
}

/// Configuration of one transport node.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Our XMPP domain (what our certificate names, the `from` of everything we send).
    pub domain: String,
    /// Our certificate and key.
    pub identity: TlsIdentity,
    /// CA certificates peers' chains must lead to.
    pub trust_anchors: Vec<CertificateDer<'static>>,
    /// Dialback policy.
    pub dialback: DialbackPolicy,
    /// Negotiation, idle and keepalive bounds of every stream.
    pub stream_timeouts: Timeouts,
    /// Bound on one TCP connect attempt.
    pub connect_timeout: Duration,
    /// Stanzas queued for one remote domain before `send` fails with `QueueFull`.
    pub peer_queue_len: usize,
    /// Received stanzas waiting for the application before new requests are refused with
    /// `resource-constraint`.
    pub inbound_queue_len: usize,
    /// Requests awaiting an answer, all peers together.
    pub max_pending_requests: usize,
    /// Connections peers may hold open to us at once; more are closed on accept.
    ///
    /// This bounds descriptors and memory, not fairness: connections that never authenticate
    /// hold their place until the negotiation deadline, so sources that together open this many
    /// lock *new* inbound connections out for that long (links already authenticated, and links
    /// we dial, are not affected; with bidi a peer can answer over our stream).
    /// [`max_negotiating_per_source`](Self::max_negotiating_per_source) keeps one source from
    /// doing so alone; a flood from many sources is bounded only by this limit and the deadline.
    pub max_inbound_links: usize,
    /// Inbound connections one source (an IPv4 address, an IPv6 /64) may hold open while they are
    /// not authenticated yet; more from it are closed on accept. Once a connection authenticates
    /// it no longer counts (the peer is known; many domains may share a host). A legitimate
    /// server needs one or two at a time (its stream, a dialback verification stream).
    pub max_negotiating_per_source: usize,
    /// Reconnect backoff.
    pub backoff: Backoff,
    /// Seed for connection ordering and fault injection (reproducible runs).
    pub seed: u64,
}

impl TransportConfig {
    /// A configuration with the default bounds.
    pub fn new(
        domain: impl Into<String>,
        identity: TlsIdentity,
        trust_anchors: Vec<CertificateDer<'static>>,
    ) -> Self {
        TransportConfig {
            domain: domain.into().to_ascii_lowercase(),
            identity,
            trust_anchors,
            dialback: DialbackPolicy::default(),
            stream_timeouts: Timeouts::default(),
            connect_timeout: Duration::from_secs(5),
            peer_queue_len: 1024,
            inbound_queue_len: 4096,
            max_pending_requests: 65_536,
            max_inbound_links: 1024,
            max_negotiating_per_source: 16,
            backoff: Backoff::default(),
            seed: 0,
        }
    }
}
