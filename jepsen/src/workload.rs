//! The workloads, run by client tasks in the host namespace through the real client path
//! (`root_node::client::Client`, S2S XMPP as the consortium administrator), each recording
//! invoke/ok/fail/info events into the shared [`Recorder`].
//!
//! ```text
//!  register: keys k<j>.reg.jepsen.lan (Exchanges); the register's value is metadata `v`.
//!            read  = get-exchange (linearizable)            → ok Read{value}
//!            write = update-exchange                        → ok | info
//!            cas   = update-exchange expected-revision=r    → ok | fail (revision mismatch) | info
//!  set:      add   = register-cloud s-<process>-<n>         → ok | fail | info
//!            final = search kind=cloud prefix=s- (all pages, after healing)
//! ```
//!
//! CAS on a value is expressed through the record's revision: every written value is unique and
//! nothing else modifies these records, so "holds value v" ⇔ "modified-revision is the revision
//! that wrote v". Requests are sent once ([`Client::request_once`]): a refusal is the answer to
//! that request, a timeout or broken stream is `info`, and after `info` the logical process is
//! retired (a new process id continues), as Jepsen does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::stanza::registry::{
    bounds, CloudSpec, Consistency, ExchangeSpec, GetExchange, RecordKind, RegisterCloud, RegisterExchange,
    RegistryError, RegistryRequest, RegistryResult, Search, SearchHit, UpdateExchange,
};
use raft_xmpp_transport::RequestError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use root_node::client::{Client, ClientError};
use root_node::profile::Profile;

use crate::history::{Event, EventType, Op};

/// How long one client operation may take before it is `info`.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after an operation that failed (a refused connection fails at once).
pub const BACKOFF: Duration = Duration::from_millis(100);
/// Pause after an operation with unknown outcome. Every `info` write stays concurrent with the
/// rest of the history in the linearizability search, so a client that keeps getting them
/// (its node forwards to a dead leader) slows down rather than multiply them.
pub const INFO_BACKOFF: Duration = Duration::from_secs(1);
/// The Exchange that owns the set workload's Clouds.
pub const SET_OWNER: &str = "set.jepsen.lan";

/// The history being recorded, with the run's time origin.
#[derive(Clone, Debug)]
pub struct Recorder {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    /// Start the clock.
    pub fn new() -> Self {
        Recorder { start: Instant::now(), events: Arc::default() }
    }

    /// Nanoseconds since the start.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Append an event stamped now.
    pub fn record(&self, process: u64, kind: EventType, op: Op) {
        let time_ns = self.now_ns();
        if let Ok(mut ev) = self.events.lock() {
            ev.push(Event { process, kind, op, time_ns });
        }
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Register key `j`.
pub fn key(j: usize) -> String {
    format!("k{j}.reg.jepsen.lan")
}

fn spec(value: Option<&str>) -> ExchangeSpec {
    ExchangeSpec {
        organisation: "jepsen".into(),
        lease_ttl_secs: bounds::LEASE_TTL_SECS_MAX,
        metadata: value.map(|v| BTreeMap::from([("v".to_owned(), v.to_owned())])).unwrap_or_default(),
        ..Default::default()
    }
}

/// A write's outcome: `fail` only when the root refused this very request for a reason that
/// means it was not applied; anything else that is not success is unknown.
fn write_outcome(e: &ClientError) -> EventType {
    match e {
        ClientError::Refused {
            error:
                RegistryError::RevisionMismatch { .. }
                | RegistryError::NotFound { .. }
                | RegistryError::AlreadyRegistered { .. }
                | RegistryError::NotOwner { .. }
                | RegistryError::NotAdmin
                | RegistryError::Malformed { .. },
            ..
        } => EventType::Fail,
        // Never sent: the stream could not be opened, or the local queue was full.
        ClientError::Transport(RequestError::Unreachable(_) | RequestError::QueueFull) => EventType::Fail,
        _ => EventType::Info,
    }
}

fn value_of(r: &Option<RegistryResult>) -> Option<(Option<String>, u64)> {
    match r {
        Some(RegistryResult::Exchange(x)) => Some((x.spec.metadata.get("v").cloned(), x.modified_revision)),
        _ => None,
    }
}

/// Create the register keys (value `init`) and the set owner before the clients start; recorded
/// as writes of process 0.
pub async fn setup(client: &Client, rec: &Recorder, keys: usize) -> anyhow::Result<()> {
    let mut targets: Vec<(String, Option<String>)> =
        (0..keys).map(|j| (key(j), Some("init".into()))).collect();
    targets.push((SET_OWNER.into(), None));
    for (domain, value) in targets {
        let req = RegistryRequest::RegisterExchange(RegisterExchange {
            domain: Some(domain.clone()),
            spec: spec(value.as_deref()),
        });
        if let Some(v) = &value {
            rec.record(0, EventType::Invoke, Op::Write { key: domain.clone(), value: v.clone() });
        }
        // Client::request retries while the cluster elects; AlreadyRegistered after a retry is fine.
        match client.request(&req).await {
            Ok(_) | Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. }) => {}
            Err(e) => anyhow::bail!("setting up {domain}: {e}"),
        }
        if let Some(v) = value {
            rec.record(0, EventType::Ok, Op::Write { key: domain, value: v });
        }
    }
    Ok(())
}

/// One register client: random reads, writes and CAS on `keys` registers until `until`.
pub async fn register_client(
    client: Client,
    rec: Recorder,
    worker: u64,
    workers: u64,
    keys: usize,
    seed: u64,
    until: Instant,
) -> Client {
    let mut rng = StdRng::seed_from_u64(seed ^ (worker << 32));
    let mut process = worker;
    let mut known: BTreeMap<String, (Option<String>, u64)> = BTreeMap::new();
    let mut n = 0u64;
    while Instant::now() < until {
        let k = key(rng.gen_range(0..keys));
        let roll: f64 = rng.gen();
        let outcome = if roll < 0.4 || (roll >= 0.7 && !known.contains_key(&k)) {
            let req = RegistryRequest::GetExchange(GetExchange {
                domain: k.clone(),
                consistency: Consistency::Linearizable,
            });
            rec.record(process, EventType::Invoke, Op::Read { key: k.clone(), value: None });
            match client.request_once(&req, OP_TIMEOUT).await {
                Ok(r) => match value_of(&r) {
                    Some((v, rev)) => {
                        known.insert(k.clone(), (v.clone(), rev));
                        rec.record(process, EventType::Ok, Op::Read { key: k, value: v });
                        EventType::Ok
                    }
                    None => {
                        rec.record(process, EventType::Fail, Op::Read { key: k, value: None });
                        EventType::Fail
                    }
                },
                Err(e) => {
                    // Classified like a write for the record; a read that did not complete has no
                    // effect either way and the checker drops it.
                    let kind = write_outcome(&e);
                    rec.record(process, kind, Op::Read { key: k, value: None });
                    kind
                }
            }
        } else {
            n += 1;
            let new = format!("{process}-{n}");
            let (op, expected_revision) = match known.get(&k) {
                Some((v, rev)) if roll >= 0.7 => {
                    (Op::Cas { key: k.clone(), expected: v.clone(), new: new.clone() }, Some(*rev))
                }
                _ => (Op::Write { key: k.clone(), value: new.clone() }, None),
            };
            let req = RegistryRequest::UpdateExchange(UpdateExchange {
                domain: Some(k.clone()),
                expected_revision,
                spec: spec(Some(&new)),
            });
            rec.record(process, EventType::Invoke, op.clone());
            let kind = match client.request_once(&req, OP_TIMEOUT).await {
                Ok(r) => {
                    if let Some((v, rev)) = value_of(&r) {
                        known.insert(k.clone(), (v, rev));
                    }
                    EventType::Ok
                }
                Err(e) => write_outcome(&e),
            };
            rec.record(process, kind, op);
            kind
        };
        pause_after(outcome).await;
        if outcome == EventType::Info {
            process += workers;
        }
    }
    client
}

async fn pause_after(outcome: EventType) {
    match outcome {
        EventType::Fail => tokio::time::sleep(BACKOFF).await,
        EventType::Info => tokio::time::sleep(INFO_BACKOFF).await,
        _ => {}
    }
}

/// One set client: registers Clouds with unique ids until `until`.
pub async fn set_client(client: Client, rec: Recorder, worker: u64, workers: u64, until: Instant) -> Client {
    let mut process = worker;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let id = format!("s-{worker}-{n}");
        let req = RegistryRequest::RegisterCloud(RegisterCloud {
            domain: Some(SET_OWNER.into()),
            id: id.clone(),
            spec: CloudSpec { services: vec!["jepsen".into()], ..Default::default() },
        });
        rec.record(process, EventType::Invoke, Op::Add { element: id.clone() });
        let kind = match client.request_once(&req, OP_TIMEOUT).await {
            Ok(_) => EventType::Ok,
            Err(e) => write_outcome(&e),
        };
        rec.record(process, kind, Op::Add { element: id });
        pause_after(kind).await;
        if kind == EventType::Info {
            process += workers;
        }
    }
    client
}

/// The set workload's final read: every page of the Clouds named `s-…`, linearizable, retried
/// (a read has no effect) with a fresh client to each node in turn until `deadline`.
pub async fn final_set_read(profiles: &[Profile], rec: &Recorder, process: u64, deadline: Instant) -> bool {
    rec.record(process, EventType::Invoke, Op::ReadSet { elements: None });
    let mut attempt = 0usize;
    while Instant::now() < deadline && !profiles.is_empty() {
        let profile = &profiles[attempt % profiles.len()];
        attempt += 1;
        let Ok(client) = Client::connect(profile) else { continue };
        let read = read_all(&client).await;
        client.close().await;
        if let Some(elements) = read {
            tracing::info!(node = %profile.root_domain, elements = elements.len(), "final set read");
            rec.record(process, EventType::Ok, Op::ReadSet { elements: Some(elements) });
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    rec.record(process, EventType::Fail, Op::ReadSet { elements: None });
    false
}

async fn read_all(client: &Client) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let req = RegistryRequest::Search(Search {
            kind: Some(RecordKind::Cloud),
            prefix: Some("s-".into()),
            limit: bounds::SEARCH_LIMIT_MAX,
            after: after.take(),
            consistency: Consistency::Linearizable,
            ..Default::default()
        });
        let page = client.request_once(&req, OP_TIMEOUT).await;
        if let Err(e) = &page {
            tracing::warn!(error = %e, "final set read page");
        }
        match page.ok()? {
            Some(RegistryResult::SearchResults(page)) => {
                out.extend(page.hits.iter().filter_map(|h| match h {
                    SearchHit::Cloud(c) => Some(c.id.clone()),
                    _ => None,
                }));
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Some(out),
                }
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(error: RegistryError) -> ClientError {
        ClientError::Refused { condition: "x".into(), error }
    }

    #[test]
    fn only_certain_refusals_and_unsent_requests_are_failures() {
        let mismatch = refused(RegistryError::RevisionMismatch { expected: 1, actual: 2 });
        assert_eq!(write_outcome(&mismatch), EventType::Fail);
        assert_eq!(write_outcome(&refused(RegistryError::NotAdmin)), EventType::Fail);
        let unsent = ClientError::Transport(RequestError::Unreachable("refused".into()));
        assert_eq!(write_outcome(&unsent), EventType::Fail);
        // The write may have been committed: a timeout, a broken stream, no quorum (the leader's
        // own deadline), a forward whose answer was lost.
        for e in [
            ClientError::Transport(RequestError::Timeout(OP_TIMEOUT)),
            ClientError::Transport(RequestError::Network("reset".into())),
            refused(RegistryError::NoQuorum),
            refused(RegistryError::NotLeader { leader: None }),
        ] {
            assert_eq!(write_outcome(&e), EventType::Info, "{e}");
        }
    }

    #[test]
    fn a_record_gives_the_register_value_and_revision() {
        let record = proto::stanza::registry::ExchangeRecord {
            domain: key(0),
            spec: spec(Some("3-7")),
            lease_expires_ms: 0,
            created_revision: 2,
            modified_revision: 9,
        };
        assert_eq!(value_of(&Some(RegistryResult::Exchange(record))), Some((Some("3-7".into()), 9)));
        assert_eq!(value_of(&None), None);
    }
}
