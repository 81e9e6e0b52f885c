//! [`RegistryError`]: every way a registry request fails, mapped one-to-one onto an RFC 6120
//! stanza error plus an application-specific condition element in [`ns::REGISTRY`].
//!
//! ```text
//!  RegistryError ─▶ StanzaError { condition, text, app: <revision-mismatch …/> } ─▶ <error/>
//!  <error/> ─▶ StanzaError ─▶ RegistryError (by the app element; none → Other)
//! ```

use std::fmt;

use crate::error::{StanzaError, StanzaErrorCondition as C, StanzaErrorType};
use crate::ns;
use crate::stanza::ParseError;
use crate::xml::Element;

/// Which kind of record an error or search names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordKind {
    /// An Exchange record (keyed by domain).
    Exchange,
    /// A Cloud record (keyed by id).
    Cloud,
}

impl RecordKind {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Exchange => "exchange",
            RecordKind::Cloud => "cloud",
        }
    }

    /// Parse the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exchange" => Some(RecordKind::Exchange),
            "cloud" => Some(RecordKind::Cloud),
            _ => None,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed registry request. See docs/protocol.md ("Registry errors") for the wire table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The request is not well-formed (missing attribute, unknown element, …):
    /// `bad-request` + `<malformed/>`.
    #[error("malformed request: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// A field is outside its bounds: `not-acceptable` + `<invalid-field name='…' reason='…'/>`.
    #[error("invalid field '{field}': {reason}")]
    InvalidField {
        /// The wire name of the field (e.g. `region`, `meta`, `record`).
        field: String,
        /// Which bound it broke.
        reason: String,
    },
    /// Compare-and-set failed: `conflict` + `<revision-mismatch expected='…' actual='…'/>`.
    #[error("expected revision {expected}, the record is at {actual}")]
    RevisionMismatch {
        /// The revision the request expected.
        expected: u64,
        /// The record's current modified revision.
        actual: u64,
    },
    /// Register of a key that exists: `conflict` + `<already-registered kind='…' key='…'/>`.
    #[error("{kind} {key} is already registered")]
    AlreadyRegistered {
        /// Record kind.
        kind: RecordKind,
        /// Domain or cloud id.
        key: String,
    },
    /// No such record: `item-not-found` + `<not-found kind='…' key='…'/>`.
    #[error("no {kind} {key}")]
    NotFound {
        /// Record kind.
        kind: RecordKind,
        /// Domain or cloud id.
        key: String,
    },
    /// The Exchange's lease ran out before the renewal: `item-not-found` + `<lease-expired/>`.
    #[error("the lease of {domain} has expired; register again")]
    LeaseExpired {
        /// The Exchange domain.
        domain: String,
    },
    /// The record belongs to another Exchange: `forbidden` + `<not-owner owner='…'/>`.
    #[error("the record is owned by {owner}")]
    NotOwner {
        /// The owning Exchange domain.
        owner: String,
    },
    /// Only consortium administrators may do this: `forbidden` + `<not-admin/>`.
    #[error("only a consortium administrator may do this")]
    NotAdmin,
    /// The acting Exchange has no record yet (needed before registering Clouds):
    /// `registration-required` + `<not-registered domain='…'/>`.
    #[error("{domain} must register as an Exchange first")]
    NotRegistered {
        /// The acting domain.
        domain: String,
    },
    /// A per-Exchange or per-registry quota is full: `resource-constraint` +
    /// `<quota-exceeded what='…' max='…'/>`.
    #[error("quota exceeded: at most {max} {what}")]
    QuotaExceeded {
        /// What is counted (e.g. `clouds`).
        what: String,
        /// The quota.
        max: u64,
    },
    /// This node cannot serve a linearizable request: `service-unavailable` (wait) +
    /// `<not-leader leader='…'/>` naming the leader's domain when known.
    #[error("not the leader{}", leader.as_deref().map(|l| format!("; try {l}")).unwrap_or_default())]
    NotLeader {
        /// The current leader's domain, if known.
        leader: Option<String>,
    },
    /// A watch asked to resume from a revision whose changes are no longer kept:
    /// `item-not-found` + `<revision-compacted oldest='…'/>`. Search again, then watch from
    /// the page's revision.
    #[error("changes before revision {oldest} are no longer kept; search again and watch from there")]
    RevisionCompacted {
        /// The oldest revision a watch may resume from.
        oldest: u64,
    },
    /// The cluster has no quorum: `service-unavailable` (wait) + `<no-quorum/>`.
    #[error("the root cluster has no quorum; retry later")]
    NoQuorum,
    /// Any other stanza error (no registry condition element), kept as received.
    #[error("{0}")]
    Other(Box<StanzaError>),
}

impl From<ParseError> for RegistryError {
    fn from(e: ParseError) -> Self {
        RegistryError::Malformed { detail: e.to_string() }
    }
}

fn app(name: &str) -> Element {
    Element::new(name, ns::REGISTRY)
}

fn num(el: &Element, attr: &str) -> Option<u64> {
    el.attr(attr)?.parse().ok()
}

fn string(el: &Element, attr: &str) -> Option<String> {
    el.attr(attr).map(str::to_owned)
}

impl RegistryError {
    /// The stanza error sent on the wire.
    pub fn to_stanza_error(&self) -> StanzaError {
        use RegistryError as E;
        let (condition, app) = match self {
            E::Malformed { .. } => (C::BadRequest, app("malformed")),
            E::InvalidField { field, reason } => {
                (C::NotAcceptable, app("invalid-field").with_attr("name", field).with_attr("reason", reason))
            }
            E::RevisionMismatch { expected, actual } => (
                C::Conflict,
                app("revision-mismatch")
                    .with_attr("expected", expected.to_string())
                    .with_attr("actual", actual.to_string()),
            ),
            E::AlreadyRegistered { kind, key } => (
                C::Conflict,
                app("already-registered").with_attr("kind", kind.as_str()).with_attr("key", key),
            ),
            E::NotFound { kind, key } => {
                (C::ItemNotFound, app("not-found").with_attr("kind", kind.as_str()).with_attr("key", key))
            }
            E::LeaseExpired { domain } => (C::ItemNotFound, app("lease-expired").with_attr("domain", domain)),
            E::NotOwner { owner } => (C::Forbidden, app("not-owner").with_attr("owner", owner)),
            E::NotAdmin => (C::Forbidden, app("not-admin")),
            E::NotRegistered { domain } => {
                (C::RegistrationRequired, app("not-registered").with_attr("domain", domain))
            }
            E::QuotaExceeded { what, max } => (
                C::ResourceConstraint,
                app("quota-exceeded").with_attr("what", what).with_attr("max", max.to_string()),
            ),
            E::NotLeader { leader } => {
                (C::ServiceUnavailable, app("not-leader").with_opt_attr("leader", leader.clone()))
            }
            E::RevisionCompacted { oldest } => {
                (C::ItemNotFound, app("revision-compacted").with_attr("oldest", oldest.to_string()))
            }
            E::NoQuorum => (C::ServiceUnavailable, app("no-quorum")),
            E::Other(e) => return (**e).clone(),
        };
        let text = match self {
            E::Malformed { detail } => detail.clone(),
            other => other.to_string(),
        };
        let mut err = StanzaError::new(condition, text).with_app(app);
        if matches!(self, E::NotLeader { .. } | E::NoQuorum) {
            // Both clear up by themselves: tell the client to retry rather than give up.
            err.kind = StanzaErrorType::Wait;
        }
        err
    }

    /// Read a received stanza error. The registry condition element decides the variant; an
    /// error without one (or with one we cannot read) is [`RegistryError::Other`].
    pub fn from_stanza_error(e: &StanzaError) -> RegistryError {
        Self::from_app(e).unwrap_or_else(|| RegistryError::Other(Box::new(e.clone())))
    }

    fn from_app(e: &StanzaError) -> Option<RegistryError> {
        use RegistryError as E;
        let a = e.app.as_ref().filter(|a| a.ns() == ns::REGISTRY)?;
        let kind = || a.attr("kind").and_then(RecordKind::parse);
        Some(match a.name() {
            "malformed" => E::Malformed { detail: e.text.clone().unwrap_or_default() },
            "invalid-field" => E::InvalidField { field: string(a, "name")?, reason: string(a, "reason")? },
            "revision-mismatch" => {
                E::RevisionMismatch { expected: num(a, "expected")?, actual: num(a, "actual")? }
            }
            "already-registered" => E::AlreadyRegistered { kind: kind()?, key: string(a, "key")? },
            "not-found" => E::NotFound { kind: kind()?, key: string(a, "key")? },
            "lease-expired" => E::LeaseExpired { domain: string(a, "domain")? },
            "not-owner" => E::NotOwner { owner: string(a, "owner")? },
            "not-admin" => E::NotAdmin,
            "not-registered" => E::NotRegistered { domain: string(a, "domain")? },
            "quota-exceeded" => E::QuotaExceeded { what: string(a, "what")?, max: num(a, "max")? },
            "not-leader" => E::NotLeader { leader: string(a, "leader") },
            "revision-compacted" => E::RevisionCompacted { oldest: num(a, "oldest")? },
            "no-quorum" => E::NoQuorum,
            _ => return None,
        })
    }
}

impl From<&RegistryError> for StanzaError {
    fn from(e: &RegistryError) -> Self {
        e.to_stanza_error()
    }
}

impl From<&StanzaError> for RegistryError {
    fn from(e: &StanzaError) -> Self {
        RegistryError::from_stanza_error(e)
    }
}
