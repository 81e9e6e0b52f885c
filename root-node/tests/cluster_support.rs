//! Helpers of the cluster tests: admin requests with a bounded wait, polling the cluster view
//! until a condition holds (never sleeping as synchronisation), registering and reading
//! Exchange records, running the `icroot` binary.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use proto::stanza::registry::bounds::LEASE_TTL_SECS_MAX;
use proto::stanza::registry::{
    ClusterStatus, ClusterStatusRequest, Consistency, ExchangeRecord, ExchangeSpec, GetExchange,
    RegisterExchange, RegistryError, RegistryRequest, RegistryResult,
};
use root_node::client::{Client, ClientError};
use root_node::profile::Profile;

/// Poll interval of every wait below.
pub const POLL: Duration = Duration::from_millis(100);

/// A client for the profile at `path`.
pub fn client(path: &Path) -> Client {
    Client::connect(&Profile::load(path).unwrap()).unwrap()
}

/// `req` with at most `limit` spent (the client itself retries "wait" answers for up to 20 s).
pub async fn request(
    c: &Client,
    req: &RegistryRequest,
    limit: Duration,
) -> Result<Option<RegistryResult>, String> {
    match tokio::time::timeout(limit, c.request(req)).await {
        Err(_) => Err(format!("no answer within {limit:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(r)) => Ok(r),
    }
}

/// The cluster as `c`'s root sees it, if it answers within 3 s.
pub async fn status(c: &Client) -> Option<ClusterStatus> {
    match request(c, &RegistryRequest::ClusterStatus(ClusterStatusRequest), Duration::from_secs(3)).await {
        Ok(Some(RegistryResult::Cluster(s))) => Some(s),
        _ => None,
    }
}

/// Poll `c`'s cluster view until `ok` holds; panics with the last view after `deadline`.
pub async fn wait_status(
    c: &Client,
    deadline: Duration,
    what: &str,
    ok: impl Fn(&ClusterStatus) -> bool,
) -> ClusterStatus {
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(s) = status(c).await {
            if ok(&s) {
                return s;
            }
            last = Some(s);
        }
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}; last view {last:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// Voters (members that are not learners) in a view.
pub fn voters(s: &ClusterStatus) -> usize {
    s.members.iter().filter(|m| m.role.as_str() != "learner").count()
}

/// An admin's registration of Exchange `domain`.
pub fn register(domain: &str) -> RegistryRequest {
    RegistryRequest::RegisterExchange(RegisterExchange {
        domain: Some(domain.to_owned()),
        spec: ExchangeSpec {
            organisation: format!("org of {domain}"),
            regions: vec!["eu-west".into()],
            capabilities: vec!["compute".into()],
            lease_ttl_secs: LEASE_TTL_SECS_MAX,
            ..Default::default()
        },
    })
}

/// Register `domain` as the admin; `Ok` when acknowledged (or found already registered by an
/// earlier attempt whose answer was lost).
pub async fn register_acked(c: &Client, domain: &str, limit: Duration) -> bool {
    match tokio::time::timeout(limit, c.request(&register(domain))).await {
        Ok(Ok(_)) => true,
        Ok(Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. })) => true,
        _ => false,
    }
}

/// Read Exchange `domain` through `c`.
pub async fn lookup(c: &Client, domain: &str, consistency: Consistency) -> Result<ExchangeRecord, String> {
    let get = RegistryRequest::GetExchange(GetExchange { domain: domain.to_owned(), consistency });
    match request(c, &get, Duration::from_secs(10)).await? {
        Some(RegistryResult::Exchange(x)) => Ok(x),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Run the `icroot` binary with `args` (at most a minute); its output.
pub async fn icroot(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_icroot"))
        .args(args)
        .env("ICROOT_LOG", "warn")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run).await.expect("icroot finished within a minute").unwrap()
}

/// The single JSON document a `--json` run printed on stdout.
pub fn json_of(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {text}\nstderr: {}", stderr(out)))
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
