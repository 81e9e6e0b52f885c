//! Conversions between the typed stanza records/errors and their stored forms.
//!
//! Stored → typed re-validates every bound: a record that fails (disk corruption, a newer
//! node's looser bounds) surfaces as an error instead of reaching the wire unchecked.

use super::{CommandError, ErrorCode, StoredCloud, StoredExchange};
use crate::error::{StanzaError, StanzaErrorCondition};
use crate::stanza::registry::{
    CloudRecord, CloudSpec, ExchangeRecord, ExchangeSpec, RecordKind, RegistryError,
};

impl StoredExchange {
    /// A new record's stored form: `domain` plus `spec`, no lease or revisions yet.
    pub fn from_spec(domain: &str, spec: &ExchangeSpec) -> Self {
        StoredExchange {
            domain: domain.to_owned(),
            organisation: spec.organisation.clone(),
            regions: spec.regions.clone(),
            endpoints: spec.endpoints.clone(),
            trust_anchors: spec.trust_anchors.clone(),
            capabilities: spec.capabilities.clone(),
            metadata: spec.metadata.clone(),
            lease_ttl_secs: spec.lease_ttl_secs,
            lease_expires_ms: 0,
            created_revision: 0,
            modified_revision: 0,
        }
    }
}

impl From<&ExchangeRecord> for StoredExchange {
    fn from(r: &ExchangeRecord) -> Self {
        StoredExchange {
            lease_expires_ms: r.lease_expires_ms,
            created_revision: r.created_revision,
            modified_revision: r.modified_revision,
            ..StoredExchange::from_spec(&r.domain, &r.spec)
        }
    }
}

impl TryFrom<StoredExchange> for ExchangeRecord {
    type Error = RegistryError;

    fn try_from(s: StoredExchange) -> Result<Self, RegistryError> {
        let r = ExchangeRecord {
            domain: s.domain,
            spec: ExchangeSpec {
                organisation: s.organisation,
                regions: s.regions,
                endpoints: s.endpoints,
                trust_anchors: s.trust_anchors,
                capabilities: s.capabilities,
                metadata: s.metadata,
                lease_ttl_secs: s.lease_ttl_secs,
            },
            lease_expires_ms: s.lease_expires_ms,
            created_revision: s.created_revision,
            modified_revision: s.modified_revision,
        };
        r.validate()?;
        Ok(r)
    }
}

impl StoredCloud {
    /// A new record's stored form: `id`, `owner` and `spec`, no revisions yet.
    pub fn from_spec(id: &str, owner: &str, spec: &CloudSpec) -> Self {
        StoredCloud {
            id: id.to_owned(),
            owner: owner.to_owned(),
            services: spec.services.clone(),
            regions: spec.regions.clone(),
            metadata: spec.metadata.clone(),
            created_revision: 0,
            modified_revision: 0,
        }
    }
}

impl From<&CloudRecord> for StoredCloud {
    fn from(r: &CloudRecord) -> Self {
        StoredCloud {
            created_revision: r.created_revision,
            modified_revision: r.modified_revision,
            ..StoredCloud::from_spec(&r.id, &r.owner, &r.spec)
        }
    }
}

impl TryFrom<StoredCloud> for CloudRecord {
    type Error = RegistryError;

    fn try_from(s: StoredCloud) -> Result<Self, RegistryError> {
        let r = CloudRecord {
            id: s.id,
            owner: s.owner,
            spec: CloudSpec { services: s.services, regions: s.regions, metadata: s.metadata },
            created_revision: s.created_revision,
            modified_revision: s.modified_revision,
        };
        r.validate()?;
        Ok(r)
    }
}

impl CommandError {
    /// The error with `code`, other fields empty.
    pub fn new(code: ErrorCode) -> Self {
        CommandError { code: code as i32, ..CommandError::default() }
    }

    fn key(mut self, key: &str) -> Self {
        self.key = key.to_owned();
        self
    }
}

impl From<&RegistryError> for CommandError {
    fn from(e: &RegistryError) -> Self {
        use RegistryError as E;
        match e {
            E::Malformed { detail } => {
                CommandError { detail: detail.clone(), ..CommandError::new(ErrorCode::Malformed) }
            }
            E::InvalidField { field, reason } => CommandError {
                detail: reason.clone(),
                ..CommandError::new(ErrorCode::InvalidField).key(field)
            },
            E::RevisionMismatch { expected, actual } => CommandError {
                expected: *expected,
                actual: *actual,
                ..CommandError::new(ErrorCode::RevisionMismatch)
            },
            E::AlreadyRegistered { kind: RecordKind::Cloud, key } => {
                CommandError::new(ErrorCode::CloudExists).key(key)
            }
            E::AlreadyRegistered { key, .. } => CommandError::new(ErrorCode::ExchangeExists).key(key),
            E::NotFound { kind: RecordKind::Cloud, key } => {
                CommandError::new(ErrorCode::CloudNotFound).key(key)
            }
            E::NotFound { key, .. } => CommandError::new(ErrorCode::ExchangeNotFound).key(key),
            E::LeaseExpired { domain } => CommandError::new(ErrorCode::LeaseExpired).key(domain),
            E::NotOwner { owner } => CommandError::new(ErrorCode::NotOwner).key(owner),
            E::NotAdmin => CommandError::new(ErrorCode::NotAdmin),
            E::NotRegistered { domain } => CommandError::new(ErrorCode::NotRegistered).key(domain),
            E::QuotaExceeded { what, max } => {
                CommandError { expected: *max, ..CommandError::new(ErrorCode::QuotaExceeded).key(what) }
            }
            E::NotLeader { leader } => {
                CommandError::new(ErrorCode::NotLeader).key(leader.as_deref().unwrap_or_default())
            }
            E::NoQuorum => CommandError::new(ErrorCode::NoQuorum),
            E::RevisionCompacted { oldest } => {
                CommandError { expected: *oldest, ..CommandError::new(ErrorCode::RevisionCompacted) }
            }
            E::Other(s) => {
                CommandError { detail: s.to_string(), ..CommandError::new(ErrorCode::Unspecified) }
            }
        }
    }
}

impl From<&CommandError> for RegistryError {
    fn from(e: &CommandError) -> Self {
        use RegistryError as E;
        let key = e.key.clone();
        match ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified) {
            ErrorCode::Malformed => E::Malformed { detail: e.detail.clone() },
            ErrorCode::InvalidField => E::InvalidField { field: key, reason: e.detail.clone() },
            ErrorCode::RevisionMismatch => E::RevisionMismatch { expected: e.expected, actual: e.actual },
            ErrorCode::ExchangeExists => E::AlreadyRegistered { kind: RecordKind::Exchange, key },
            ErrorCode::CloudExists => E::AlreadyRegistered { kind: RecordKind::Cloud, key },
            ErrorCode::ExchangeNotFound => E::NotFound { kind: RecordKind::Exchange, key },
            ErrorCode::CloudNotFound => E::NotFound { kind: RecordKind::Cloud, key },
            ErrorCode::LeaseExpired => E::LeaseExpired { domain: key },
            ErrorCode::NotOwner => E::NotOwner { owner: key },
            ErrorCode::NotAdmin => E::NotAdmin,
            ErrorCode::NotRegistered => E::NotRegistered { domain: key },
            ErrorCode::QuotaExceeded => E::QuotaExceeded { what: key, max: e.expected },
            ErrorCode::NotLeader => E::NotLeader { leader: Some(key).filter(|k| !k.is_empty()) },
            ErrorCode::NoQuorum => E::NoQuorum,
            ErrorCode::RevisionCompacted => E::RevisionCompacted { oldest: e.expected },
            // A code this node does not know: keep the text, call it a server fault.
            ErrorCode::Unspecified => E::Other(Box::new(StanzaError::new(
                StanzaErrorCondition::InternalServerError,
                e.detail.clone(),
            ))),
        }
    }
}
