//! Registry write requests to Raft [`Command`]s, and the state machine's answer back to a
//! registry result or error. Ownership and admin checks happen in apply (the `store` crate),
//! from `actor` and `is_admin`, so every node decides the same way.

use std::time::{SystemTime, UNIX_EPOCH};

use proto::record::command::Kind;
use proto::record::{self, command_response, Command, CommandResponse, StoredCloud, StoredExchange};
use proto::stanza::registry::{Deregistered, RecordKind, RegistryError, RegistryRequest, RegistryResult};

/// What the answer to a write looks like.
#[derive(Clone, Debug)]
pub(crate) enum Shape {
    /// The Exchange record.
    Exchange,
    /// The Cloud record.
    Cloud,
    /// A `<deregistered/>` of this kind and key.
    Deregistered(RecordKind, String),
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The command for a write request from `actor`.
pub(crate) fn command(
    actor: &str,
    is_admin: bool,
    req: &RegistryRequest,
) -> Result<(Command, Shape), RegistryError> {
    // Only administrators may act for another domain (docs/protocol.md §5, "Acting domain").
    let named = match req {
        RegistryRequest::RegisterExchange(r) => r.domain.as_deref(),
        RegistryRequest::UpdateExchange(u) => u.domain.as_deref(),
        RegistryRequest::DeregisterExchange(d) => d.domain.as_deref(),
        RegistryRequest::RenewLease(r) => r.domain.as_deref(),
        RegistryRequest::RegisterCloud(r) => r.domain.as_deref(),
        RegistryRequest::UpdateCloud(u) => u.domain.as_deref(),
        _ => None,
    };
    if !is_admin && named.is_some_and(|d| !d.eq_ignore_ascii_case(actor)) {
        return Err(RegistryError::NotAdmin);
    }
    let target = |d: &Option<String>| d.clone().unwrap_or_else(|| actor.to_owned());
    let (kind, shape) = match req {
        RegistryRequest::RegisterExchange(r) => (
            Kind::RegisterExchange(record::RegisterExchange {
                exchange: Some(StoredExchange::from_spec(&target(&r.domain), &r.spec)),
            }),
            Shape::Exchange,
        ),
        RegistryRequest::UpdateExchange(u) => (
            Kind::UpdateExchange(record::UpdateExchange {
                exchange: Some(StoredExchange::from_spec(&target(&u.domain), &u.spec)),
                expected_revision: u.expected_revision,
            }),
            Shape::Exchange,
        ),
        RegistryRequest::DeregisterExchange(d) => {
            let domain = target(&d.domain);
            (
                Kind::DeregisterExchange(record::DeregisterExchange {
                    domain: domain.clone(),
                    expected_revision: d.expected_revision,
                }),
                Shape::Deregistered(RecordKind::Exchange, domain),
            )
        }
        RegistryRequest::RenewLease(r) => {
            (Kind::RenewLease(record::RenewLease { domain: target(&r.domain) }), Shape::Exchange)
        }
        RegistryRequest::RegisterCloud(r) => (
            Kind::RegisterCloud(record::RegisterCloud {
                cloud: Some(StoredCloud::from_spec(&r.id, &target(&r.domain), &r.spec)),
            }),
            Shape::Cloud,
        ),
        RegistryRequest::UpdateCloud(u) => (
            Kind::UpdateCloud(record::UpdateCloud {
                cloud: Some(StoredCloud::from_spec(&u.id, &target(&u.domain), &u.spec)),
                expected_revision: u.expected_revision,
            }),
            Shape::Cloud,
        ),
        RegistryRequest::DeregisterCloud(d) => (
            Kind::DeregisterCloud(record::DeregisterCloud {
                id: d.id.clone(),
                expected_revision: d.expected_revision,
            }),
            Shape::Deregistered(RecordKind::Cloud, d.id.clone()),
        ),
        _ => return Err(RegistryError::Malformed { detail: "not a write".into() }),
    };
    let cmd = Command { actor: actor.to_owned(), is_admin, proposed_at_ms: now_ms(), kind: Some(kind) };
    Ok((cmd, shape))
}

/// The registry answer for the state machine's response to a command of `shape`.
pub(crate) fn result(shape: Shape, resp: CommandResponse) -> Result<RegistryResult, RegistryError> {
    let applied = match resp.result {
        Some(command_response::Result::Applied(a)) => a,
        Some(command_response::Result::Error(e)) => return Err(RegistryError::from(&e)),
        // The proposer hands each part its own answer; a whole batch never reaches here.
        Some(command_response::Result::Batch(_)) | None => {
            return Err(RegistryError::Malformed { detail: "the state machine gave no answer".into() })
        }
    };
    let missing = || RegistryError::Malformed { detail: "the applied command returned no record".into() };
    match shape {
        Shape::Exchange => {
            applied.exchange.ok_or_else(missing).and_then(|x| x.try_into()).map(RegistryResult::Exchange)
        }
        Shape::Cloud => {
            applied.cloud.ok_or_else(missing).and_then(|c| c.try_into()).map(RegistryResult::Cloud)
        }
        Shape::Deregistered(kind, key) => {
            Ok(RegistryResult::Deregistered(Deregistered { kind, key, revision: applied.revision }))
        }
    }
}
