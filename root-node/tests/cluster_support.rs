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
    matches!(
        tokio::time::timeout(limit, c.request(&register(domain))).await,
        Ok(Ok(_) | Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. }))
    )
}

/// Read Exchange `domain` through `c`.
pub async fn lookup(c: &Client, domain: &str, consistency: Consistency) -> Result<ExchangeRecord, String> {
    let get = RegistryRequest::GetExchange(GetExchange { domain: domain.to_owned(), consistency });
    match request(c, &get, Duration::from_secs(10)).await? {
        Some(RegistryResult::Exchange(x)) => Ok(x),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Run the `icroot` binary with `args` (at most a minute); its output. On timeout the panic
/// shows what it wrote to stderr (`ICROOT_TEST_CHILD_LOG=debug` for more).
pub async fn icroot(args: &[&str]) -> Output {
    use tokio::io::AsyncReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_icroot"))
        .args(args)
        .env("ICROOT_LOG", std::env::var("ICROOT_TEST_CHILD_LOG").unwrap_or("warn".into()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b).await;
        b
    });
    let stderr = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let sink = stderr.clone();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = err.read(&mut buf).await {
            sink.lock().await.extend_from_slice(&buf[..n]);
        }
    });
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(status) => {
            let status = status.unwrap();
            let stdout = stdout.await.unwrap();
            reader.await.unwrap();
            let stderr = stderr.lock().await.clone();
            Output { status, stdout, stderr }
        }
        Err(_) => {
            let _ = child.kill().await;
            let text = String::from_utf8_lossy(&stderr.lock().await).into_owned();
            panic!("`icroot {}` did not finish within a minute; stderr:\n{text}", args.join(" "))
        }
    }
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

/// A counter from `GET /metrics` on an admin address (0 when absent).
pub fn metric(admin: std::net::SocketAddr, name: &str) -> u64 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(admin).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
        .map_or(0, |v| v as u64)
}
