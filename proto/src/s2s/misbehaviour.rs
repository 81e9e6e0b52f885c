//! Every way the peer can break the negotiation or stanza rules, each answered by exactly one
//! RFC 6120 stream-error condition.

use crate::error::{StreamError, StreamErrorCondition as C};

/// A peer protocol violation (or an expired deadline) that ends the stream with a stream error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// The XML layer refused the input (not well-formed, too large, DTD, …); its condition is
    /// passed through.
    #[error("{0}")]
    Xml(StreamError),
    /// Stream header content namespace is not `jabber:server`.
    #[error("content namespace {0:?} is not jabber:server")]
    BadNamespace(String),
    /// Stream header `version` is missing or not `1.0`.
    #[error("stream version {0:?} is not 1.0")]
    BadVersion(Option<String>),
    /// Header or stanza `to` names a domain not served here.
    #[error("domain {0:?} is not served here")]
    UnknownHost(String),
    /// A header or stanza lacks a `from` or `to` we need.
    #[error("missing or malformed {0} address")]
    MissingAddress(&'static str),
    /// A stanza arrived before the stream was authenticated.
    #[error("stanza before authentication")]
    StanzaBeforeAuth,
    /// A stanza's `from` domain is not the one authenticated on this stream (or the peer may not
    /// send stanzas in this direction at all).
    #[error("stanza from {0:?}, which this stream did not authenticate")]
    UnauthenticatedFrom(String),
    /// An element that is not valid at this point of the negotiation, or unknown altogether.
    #[error("unexpected <{0}/>")]
    UnexpectedElement(String),
    /// Authentication or stanzas attempted before the TLS that policy requires, or the receiver
    /// did not offer TLS at all.
    #[error("TLS is required first")]
    TlsRequired,
    /// Too many failed authentication attempts.
    #[error("too many failed authentication attempts")]
    TooManyAuthFailures,
    /// The receiver offered nothing we can authenticate with.
    #[error("no mutually supported authentication method")]
    NoSharedAuthMethod,
    /// The initiator's dialback key was refused by its authoritative server.
    #[error("dialback key refused by the authoritative server")]
    DialbackKeyRefused,
    /// A deadline passed: negotiation too slow, or the authenticated stream went idle.
    #[error("{0} timed out")]
    Timeout(&'static str),
}

impl Misbehaviour {
    /// The stream-error condition this violation is answered with.
    pub fn condition(&self) -> C {
        match self {
            Misbehaviour::Xml(e) => e.condition,
            Misbehaviour::BadNamespace(_) => C::InvalidNamespace,
            Misbehaviour::BadVersion(_) => C::UnsupportedVersion,
            Misbehaviour::UnknownHost(_) => C::HostUnknown,
            Misbehaviour::MissingAddress(_) => C::ImproperAddressing,
            Misbehaviour::StanzaBeforeAuth => C::NotAuthorized,
            Misbehaviour::UnauthenticatedFrom(_) => C::NotAuthorized,
            Misbehaviour::UnexpectedElement(_) => C::UnsupportedStanzaType,
            Misbehaviour::TlsRequired => C::PolicyViolation,
            Misbehaviour::TooManyAuthFailures => C::PolicyViolation,
            Misbehaviour::NoSharedAuthMethod => C::UnsupportedFeature,
            Misbehaviour::DialbackKeyRefused => C::NotAuthorized,
            Misbehaviour::Timeout(_) => C::ConnectionTimeout,
        }
    }

    /// The stream error written on the wire.
    pub fn to_stream_error(&self) -> StreamError {
        match self {
            Misbehaviour::Xml(e) => e.clone(),
            other => StreamError::new(other.condition(), other.to_string()),
        }
    }
}
