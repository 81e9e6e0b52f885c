//! What the negotiation state machines tell their driver.

use rustls_pki_types::CertificateDer;

use super::dialback::{VerifyAnswer, VerifyRequest};
use crate::error::StreamError;
use crate::xml::Element;

/// Which TLS role the driver must take when [`Event::StartTls`] arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsRole {
    /// Run a TLS client (we initiated the connection).
    Client,
    /// Run a TLS server (we accepted it).
    Server,
}

/// What the driver learned from the finished TLS handshake.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// The peer's certificate chain, end-entity first (empty if none was presented).
    pub peer_certs: Vec<CertificateDer<'static>>,
    /// Whether the driver's verifier chained `peer_certs` to a trust anchor. Only then is the
    /// certificate's name considered at all.
    pub chain_verified: bool,
}

/// How the peer's domain was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// RFC 6120 SASL EXTERNAL with a PKIX certificate.
    SaslExternal,
    /// XEP-0220 server dialback.
    Dialback,
}

/// Why an authentication attempt was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The receiver answered SASL with `<failure>` (its condition element name, e.g.
    /// `not-authorized`, `invalid-authzid`) and no fallback was left.
    Sasl(String),
    /// The receiver answered dialback with `type='invalid'` or `type='error'`.
    DialbackRefused,
    /// Nothing both sides support was offered (e.g. no EXTERNAL and dialback disabled).
    NoMechanism,
    /// The server certificate does not chain or does not name the remote domain, and policy does
    /// not allow going on without it.
    ServerCertificate,
}

/// Why the stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// We called `close()` (and the peer answered, or the close timeout passed).
    Local,
    /// The peer closed the stream without an error.
    Peer,
    /// We sent this stream error (the peer misbehaved, or a timeout passed).
    SentError(StreamError),
    /// The peer sent this stream error.
    ReceivedError(StreamError),
    /// Our authentication attempt failed; we closed the stream.
    AuthFailed(AuthFailure),
    /// The transport ended without a stream close (`handle_eof`).
    TransportClosed,
}

impl CloseReason {
    /// The stream error sent or received, if any.
    pub fn stream_error(&self) -> Option<&StreamError> {
        match self {
            CloseReason::SentError(e) | CloseReason::ReceivedError(e) => Some(e),
            _ => None,
        }
    }
}

/// An output of the state machine. Poll until `None` after every input.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Start TLS now: the driver runs a handshake in `role` over the socket, first feeding it the
    /// bytes from `take_tls_bytes()` (already read, but belonging to TLS), then reports with
    /// `handle_tls_established`. From then on `handle_input`/`poll_transmit` carry plaintext.
    StartTls {
        /// Client or server.
        role: TlsRole,
    },
    /// The stream is authenticated: stanzas may flow.
    Authenticated {
        /// The peer's authenticated domain.
        peer_domain: String,
        /// Our domain on this stream.
        local_domain: String,
        /// How the initiator was authenticated.
        method: AuthMethod,
        /// Whether XEP-0288 was negotiated (the receiver may send on this stream too).
        bidi: bool,
    },
    /// A stanza from the peer, already checked against the authenticated domains.
    Stanza(Element),
    /// (Receiver) the peer asked to be accepted by dialback: ask the authoritative server for
    /// `request.to` (the originating domain) whether it issued `request.key`, e.g. by sending
    /// `request` over an [`Initiator`](super::Initiator) with `send_dialback_verify`, and answer
    /// with `handle_dialback_verified`.
    VerifyDialback {
        /// The `<db:verify/>` to send to the authoritative server, ready to go.
        request: VerifyRequest,
    },
    /// (Initiator) the answer to a `<db:verify/>` we sent with `send_dialback_verify`.
    DialbackVerified(VerifyAnswer),
    /// The stream is over; nothing more will be sent or received. Bytes may remain in
    /// `poll_transmit` (the error and the stream close): write them, then drop the connection.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why `send_stanza` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The stream is not authenticated yet: queue and retry after [`Event::Authenticated`].
    #[error("stream not authenticated yet")]
    NotAuthenticated,
    /// The receiver of a stream may send only if bidi was negotiated.
    #[error("this stream carries stanzas only the other way (no bidi)")]
    WrongDirection,
    /// The stanza's `from` is not our domain on this stream, or its `to` not the peer's.
    #[error("stanza addresses do not match the stream's domains")]
    BadAddress,
    /// The stream is closing or closed.
    #[error("stream closed")]
    Closed,
    /// Too many `<db:verify/>` requests are waiting to be sent.
    #[error("too many pending dialback verifications")]
    QueueFull,
}
