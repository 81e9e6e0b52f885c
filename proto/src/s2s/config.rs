//! Configuration of the two negotiating roles. Plain data: the driver builds these from its own
//! typed configuration.

use std::time::Duration;

/// How TLS starts on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMode {
    /// RFC 6120 STARTTLS: a plaintext stream header, then `<starttls/>`, then TLS.
    StartTls,
    /// XEP-0368 direct TLS: TLS from the first byte, no `<starttls/>` feature.
    DirectTls,
}

/// Bounds on how long each phase may take. Every wait has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From the start of the connection until the stream is authenticated (TLS handshake and a
    /// dialback verification included).
    pub negotiation: Duration,
    /// An authenticated stream that received nothing (not even a keepalive) for this long is
    /// closed with `<connection-timeout/>`.
    pub idle: Duration,
    /// Send a single-space keepalive when nothing was sent for this long.
    pub keepalive_interval: Duration,
    /// After we send `</stream:stream>`, how long to wait for the peer's before giving up.
    pub close: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            negotiation: Duration::from_secs(30),
            idle: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            close: Duration::from_secs(5),
        }
    }
}

/// Which authentication methods the initiator will use, and what it demands of the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Use SASL EXTERNAL when the receiver offers it.
    pub allow_sasl_external: bool,
    /// Fall back to dialback (XEP-0220) when EXTERNAL is not offered or fails.
    pub allow_dialback: bool,
    /// Send the authzid as `=` (empty) instead of the base64 of our domain. Both are valid;
    /// Prosody accepts either.
    pub empty_authzid: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy { allow_sasl_external: true, allow_dialback: false, empty_authzid: false }
    }
}

/// Configuration of the initiating (connecting) side.
#[derive(Clone, Debug)]
pub struct InitiatorConfig {
    /// Our domain: the stream header's `from`, the domain our client certificate must name.
    pub local_domain: String,
    /// The domain we connect to: the header's `to`, which the server certificate must name.
    pub remote_domain: String,
    /// STARTTLS or direct TLS.
    pub tls: TlsMode,
    /// Authentication methods.
    pub auth: AuthPolicy,
    /// Ask for XEP-0288 bidirectional use of this stream when offered.
    pub want_bidi: bool,
    /// Our dialback secret (XEP-0185); required for dialback and for answering `<db:verify/>`.
    pub dialback_secret: Option<String>,
    /// Phase bounds.
    pub timeouts: Timeouts,
}

/// Configuration of the receiving (accepting) side.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Domains served here; a header `to` outside this list gets `<host-unknown/>`.
    pub local_domains: Vec<String>,
    /// STARTTLS or direct TLS (as the listener was set up).
    pub tls: TlsMode,
    /// Refuse authentication and stanzas until TLS is up (always true in production).
    pub require_tls: bool,
    /// Offer dialback (XEP-0220) after TLS for peers whose certificate does not do.
    pub allow_dialback: bool,
    /// Offer XEP-0288 bidirectional streams.
    pub offer_bidi: bool,
    /// Our dialback secret, to answer `<db:verify/>` for keys we issued as originating server.
    pub dialback_secret: Option<String>,
    /// Failed SASL attempts tolerated before the stream is closed (RFC 6120 §6.4.5 asks for 2–5).
    pub max_auth_failures: u8,
    /// Phase bounds.
    pub timeouts: Timeouts,
}

impl ReceiverConfig {
    /// A receiver for `local_domains` with TLS required, dialback off, bidi on, default timeouts.
    pub fn new(local_domains: Vec<String>) -> Self {
        ReceiverConfig {
            local_domains,
            tls: TlsMode::StartTls,
            require_tls: true,
            allow_dialback: false,
            offer_bidi: true,
            dialback_secret: None,
            max_auth_failures: 3,
            timeouts: Timeouts::default(),
        }
    }
}

impl InitiatorConfig {
    /// An initiator from `local_domain` to `remote_domain` over STARTTLS, SASL EXTERNAL only,
    /// bidi requested, default timeouts.
    pub fn new(local_domain: impl Into<String>, remote_domain: impl Into<String>) -> Self {
        InitiatorConfig {
            local_domain: local_domain.into(),
            remote_domain: remote_domain.into(),
            tls: TlsMode::StartTls,
            auth: AuthPolicy::default(),
            want_bidi: true,
            dialback_secret: None,
            timeouts: Timeouts::default(),
        }
    }
}
