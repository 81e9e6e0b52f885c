//! The two clusters under test, each three real processes on loopback with data under the work
//! directory: etcd members `e1..e3` on 127.0.0.21..23 (client 2379, peer 2380, plain HTTP) and
//! icroot nodes `1..3` on 127.0.0.11..13 (S2S 5269 with TLS, admin HTTP 9269), laid out by
//! `icroot init`. Every child is started with `kill_on_drop`, so dropping a cluster (normal end,
//! error, Ctrl-C) kills its processes.
//!
//! ```text
//!  WORKDIR/etcd/e<i>/         etcd --data-dir, e<i>.log
//!  WORKDIR/icroot/            icroot init --dir (ca.pem, ca.key, profiles/, clients/)
//!  WORKDIR/icroot/nodes/<i>/  node.toml (+ [raft] timers) + data/ + node.log
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use etcd_client::{Client as EtcdClient, ConnectOptions};
use proto::stanza::registry::{
    ClusterStatusRequest, RegisterExchange, RegistryError, RegistryRequest, RegistryResult,
};
use raft_xmpp_transport::pki::DevCa;
use root_node::client::{Client, ClientError};
use root_node::profile::Profile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// Members of each cluster.
pub const MEMBERS: usize = 3;
/// Raft heartbeat on both sides (ms).
pub const HEARTBEAT_MS: u64 = 100;
/// Election timeout on both sides (ms): etcd's `--election-timeout`, icroot's
/// `election_timeout_min_ms` (etcd randomises in [T, 2T), icroot in [min, max]).
pub const ELECTION_MS: u64 = 1000;

/// A domain / key written only by the leader-kill test.
pub const FAILOVER_DOMAIN: &str = "failover.demo.lan";

/// A child process killed when dropped.
#[derive(Debug)]
struct Proc {
    child: Option<Child>,
}

impl Proc {
    fn spawn(mut cmd: Command, log: &Path) -> Result<Proc> {
        let out =
            File::options().create(true).append(true).open(log).with_context(|| log.display().to_string())?;
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out).kill_on_drop(true);
        let child = cmd.spawn().with_context(|| format!("starting {:?}", cmd.as_std().get_program()))?;
        Ok(Proc { child: Some(child) })
    }

    /// SIGKILL (at once; the process is reaped afterwards by [`Proc::reap`]).
    fn kill(&mut self) -> Result<()> {
        match &mut self.child {
            Some(c) => Ok(c.start_kill()?),
            None => bail!("process is not running"),
        }
    }

    async fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait().await;
        }
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            _ => None,
        }
    }
}

/// `GET path` over HTTP/1.0 with a 1 s deadline: (status code, body).
pub async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        Some((code, body))
    };
    tokio::time::timeout(Duration::from_secs(1), fut).await.ok().flatten()
}

/// Poll `check` every 100 ms until it holds (nothing to subscribe to: the state is in another
/// process), or fail after `deadline` with `what`.
async fn poll<F, Fut>(deadline: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Ok(());
        }
        if start.elapsed() > deadline {
            bail!("{what}: not within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Poll `ready(i)` for every running process `i` (not stopped by a kill); one that exited
/// fails at once with `name(i)`, which also says where its log is.
async fn wait_running<F, Fut>(
    procs: &mut [Proc],
    name: impl Fn(usize) -> String,
    deadline: Duration,
    ready: F,
) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for (i, p) in procs.iter_mut().enumerate() {
        if p.child.is_none() {
            continue;
        }
        if let Some(status) = p.exited() {
            bail!("{} exited ({status})", name(i));
        }
        poll(deadline, &format!("{} ready", name(i)), || ready(i)).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// etcd

/// Three etcd members.
#[derive(Debug)]
pub struct Etcd {
    binary: PathBuf,
    dir: PathBuf,
    procs: Vec<Proc>,
}

/// Client URL of member `i` (0-based).
pub fn etcd_client_url(i: usize) -> String {
    format!("http://127.0.0.2{}:2379", i + 1)
}

fn etcd_host(i: usize) -> String {
    format!("127.0.0.2{}:2379", i + 1)
}

/// One gRPC connection (HTTP/2 channel) to member `i`, established before it returns.
pub async fn etcd_connect(i: usize) -> Result<EtcdClient> {
    let opts = ConnectOptions::new().with_connect_timeout(Duration::from_secs(5));
    let mut c = EtcdClient::connect([etcd_client_url(i)], Some(opts))
        .await
        .with_context(|| format!("connecting to etcd member e{}", i + 1))?;
    // tonic channels connect lazily: one request opens the connection now.
    c.status().await.with_context(|| format!("status of etcd member e{}", i + 1))?;
    Ok(c)
}

impl Etcd {
    /// Start three members and wait until each reports the same leader.
    pub async fn start(binary: &Path, workdir: &Path) -> Result<Etcd> {
        let dir = workdir.join("etcd");
        std::fs::create_dir_all(&dir)?;
        let mut e = Etcd { binary: binary.to_owned(), dir, procs: Vec::new() };
        for i in 0..MEMBERS {
            let p = e.spawn(i)?;
            e.procs.push(p);
        }
        e.wait_ready(Duration::from_secs(30)).await?;
        Ok(e)
    }

    fn spawn(&self, i: usize) -> Result<Proc> {
        let cluster: Vec<String> =
            (0..MEMBERS).map(|j| format!("e{}=http://127.0.0.2{}:2380", j + 1, j + 1)).collect();
        let ip = format!("127.0.0.2{}", i + 1);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--name")
            .arg(format!("e{}", i + 1))
            .arg("--data-dir")
            .arg(self.dir.join(format!("e{}", i + 1)))
            .arg("--listen-peer-urls")
            .arg(format!("http://{ip}:2380"))
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://{ip}:2380"))
            .arg("--listen-client-urls")
            .arg(format!("http://{ip}:2379"))
            .arg("--advertise-client-urls")
            .arg(format!("http://{ip}:2379"))
            .arg("--initial-cluster")
            .arg(cluster.join(","))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--initial-cluster-token")
            .arg("icroot-compare-etcd")
            .arg("--heartbeat-interval")
            .arg(HEARTBEAT_MS.to_string())
            .arg("--election-timeout")
            .arg(ELECTION_MS.to_string())
            .arg("--logger")
            .arg("zap")
            .arg("--log-level")
            .arg("warn");
        Proc::spawn(cmd, &self.dir.join(format!("e{}.log", i + 1)))
    }

    /// Every running member answers /health and knows a leader.
    pub async fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let dir = self.dir.display().to_string();
        let name = |i: usize| format!("etcd member e{} (log {dir}/e{}.log)", i + 1, i + 1);
        wait_running(&mut self.procs, name, deadline, |i| async move {
            matches!(http_get(&etcd_host(i), "/health").await, Some((200, b)) if b.contains("\"true\""))
        })
        .await
    }

    /// (this member's id, the leader's id as it sees it, its raft index).
    pub async fn status(client: &mut EtcdClient) -> Result<(u64, u64, u64)> {
        let s = client.status().await?;
        let me = s.header().map_or(0, |h| h.member_id());
        Ok((me, s.leader(), s.raft_index()))
    }

    /// The current leader (0-based index), asked of every running member until they agree.
    pub async fn leader(&self) -> Result<usize> {
        let mut ids = Vec::new();
        let mut leader = None;
        for i in 0..MEMBERS {
            if self.procs[i].child.is_none() {
                ids.push(0);
                continue;
            }
            let mut c = etcd_connect(i).await?;
            let (me, l, _) = Self::status(&mut c).await?;
            ids.push(me);
            if l != 0 {
                leader = Some(l);
            }
        }
        let l = leader.context("no etcd member knows a leader")?;
        ids.iter().position(|id| *id == l).context("the etcd leader is not one of the members")
    }

    /// SIGKILL member `i`.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        self.procs[i].kill()
    }

    /// Restart member `i` (after [`Etcd::kill`]) and wait until it is healthy and its raft
    /// index is within 5 entries of the leader's.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.procs[i].reap().await;
        self.procs[i] = self.spawn(i)?;
        self.wait_ready(Duration::from_secs(30)).await?;
        let start = Instant::now();
        loop {
            let l = self.leader().await?;
            let (_, _, lead_index) = Self::status(&mut etcd_connect(l).await?).await?;
            let (_, _, my_index) = Self::status(&mut etcd_connect(i).await?).await?;
            if my_index + 5 >= lead_index {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("etcd member e{} did not catch up ({my_index} vs leader {lead_index})", i + 1);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// icroot

/// Three `icroot node` processes laid out by `icroot init`.
#[derive(Debug)]
pub struct Icroot {
    binary: PathBuf,
    dir: PathBuf,
    procs: Vec<Proc>,
}

/// S2S address of node `i` (0-based; node id i + 1).
fn icroot_s2s(i: usize) -> (String, u16) {
    (format!("127.0.0.1{}", i + 1), 5269)
}

fn icroot_admin(i: usize) -> String {
    format!("127.0.0.1{}:9269", i + 1)
}

fn icroot_domain(i: usize) -> String {
    format!("n{}.icroot.lan", i + 1)
}

impl Icroot {
    /// `icroot init`, the raft timers into each node.toml, start the nodes, wait for /readyz.
    pub async fn start(binary: &Path, workdir: &Path) -> Result<Icroot> {
        let dir = workdir.join("icroot");
        let sub = |s: &str| dir.join(s).display().to_string();
        let out = Command::new(binary)
            .arg("init")
            .arg("--dir")
            .arg(&dir)
            .args(["--nodes", "3", "--node-host", "127.0.0.1{id}", "--bind", "127.0.0.1{id}"])
            .args(["--admin-http", "127.0.0.1{id}:9269", "--discovery", "static"])
            .arg("--config-dir")
            .arg(sub("nodes/{id}"))
            .arg("--data-dir")
            .arg(sub("nodes/{id}/data"))
            .output()
            .await
            .with_context(|| format!("running {} init", binary.display()))?;
        if !out.status.success() {
            bail!("icroot init failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        for i in 0..MEMBERS {
            let path = dir.join("nodes").join((i + 1).to_string()).join("node.toml");
            let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            let mut t: toml::Table = toml::from_str(&text).with_context(|| path.display().to_string())?;
            let mut raft = toml::Table::new();
            raft.insert("heartbeat_interval_ms".into(), toml::Value::Integer(HEARTBEAT_MS as i64));
            raft.insert("election_timeout_min_ms".into(), toml::Value::Integer(ELECTION_MS as i64));
            raft.insert("election_timeout_max_ms".into(), toml::Value::Integer(2 * ELECTION_MS as i64));
            t.insert("raft".into(), toml::Value::Table(raft));
            std::fs::write(&path, toml::to_string(&t)?)?;
        }
        let mut c = Icroot { binary: binary.to_owned(), dir, procs: Vec::new() };
        for i in 0..MEMBERS {
            let p = c.spawn(i)?;
            c.procs.push(p);
        }
        c.wait_ready(Duration::from_secs(60)).await?;
        c.register(FAILOVER_DOMAIN).await?;
        Ok(c)
    }

    fn spawn(&self, i: usize) -> Result<Proc> {
        let node_dir = self.dir.join("nodes").join((i + 1).to_string());
        let mut cmd = Command::new(&self.binary);
        cmd.arg("node").arg("--config").arg(node_dir.join("node.toml")).env("RUST_LOG", "warn");
        Proc::spawn(cmd, &node_dir.join("node.log"))
    }

    /// Every running node answers /readyz with 200 (a member that knows its leader and has
    /// applied up to the leader's commit index).
    pub async fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let dir = self.dir.display().to_string();
        let name = |i: usize| format!("icroot node {} (log {dir}/nodes/{}/node.log)", i + 1, i + 1);
        wait_running(&mut self.procs, name, deadline, |i| async move {
            matches!(http_get(&icroot_admin(i), "/readyz").await, Some((200, _)))
        })
        .await
    }

    /// The admin profile (roots, CA) written by `icroot init`.
    pub fn admin_profile(&self) -> PathBuf {
        self.dir.join("profiles").join("admin.toml")
    }

    /// The CA certificate and key the nodes trust for Exchanges.
    pub fn ca(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("ca.pem"), self.dir.join("ca.key"))
    }

    /// A client of `domain` (certificate issued on first use) talking to node `i` only.
    pub fn client(&self, domain: &str, i: usize) -> Result<Client> {
        let mut p = Profile::load(&self.admin_profile())?;
        if domain != p.domain {
            let (ca_cert, ca_key) = self.ca();
            let ca = DevCa::load(&ca_cert, &ca_key)?;
            let pki = self.dir.join("compare-pki");
            std::fs::create_dir_all(&pki)?;
            let (cert, key) = (pki.join(format!("{domain}.pem")), pki.join(format!("{domain}.key")));
            if !(cert.exists() && key.exists()) {
                let (_, pem) = ca.issue(domain)?;
                raft_xmpp_transport::pki::write_file(&cert, &pem.cert_pem, 0o644)?;
                raft_xmpp_transport::pki::write_file(&key, &pem.key_pem, 0o600)?;
            }
            (p.domain, p.cert, p.key) = (domain.to_owned(), cert, key);
        }
        (p.root_domain, p.root_address, p.fallback_roots) =
            (icroot_domain(i), Some(icroot_s2s(i)), Vec::new());
        Ok(Client::connect(&p)?)
    }

    async fn register(&self, domain: &str) -> Result<()> {
        let c = self.client(domain, 0)?;
        let spec = root_node::bench::bench_spec(domain, 0);
        let req = RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec });
        let r = c.request(&req).await;
        c.close().await;
        match r {
            Ok(_) | Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. }) => {
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!("registering {domain}: {e}")),
        }
    }

    /// The current leader (0-based), as a running node reports it.
    pub async fn leader(&self) -> Result<usize> {
        for i in 0..MEMBERS {
            if self.procs[i].child.is_none() {
                continue;
            }
            let c = self.client("admin.consortium.lan", i)?;
            let r = c.request(&RegistryRequest::ClusterStatus(ClusterStatusRequest)).await;
            c.close().await;
            if let Ok(Some(RegistryResult::Cluster(s))) = r {
                if let Some(l) = s.leader.and_then(|l| l.checked_sub(1)) {
                    return usize::try_from(l).context("leader id");
                }
            }
        }
        bail!("no icroot node knows a leader")
    }

    /// SIGKILL node `i`.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        self.procs[i].kill()
    }

    /// Restart node `i` and wait until every node is ready again.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.procs[i].reap().await;
        self.procs[i] = self.spawn(i)?;
        self.wait_ready(Duration::from_secs(60)).await
    }
}
