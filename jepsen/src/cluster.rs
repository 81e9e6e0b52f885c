//! The icroot cluster under test: certificates from a fresh dev CA, one `node.toml` per node
//! (static routes to the peers' namespace addresses), and one `icroot node --config` process per
//! node started inside its namespace, which the nemesis may SIGKILL, restart, SIGSTOP or SIGCONT.
//!
//! ```text
//!  run/pki        CA + n<i>.jepsen.lan + admin.consortium.lan certificates (raft_xmpp_transport::pki)
//!  run/nodes/<i>  node.toml (root_node::config::RawConfig) + RocksDB data + node.log
//!  ip netns exec jepsen-n<i> icroot node --config run/nodes/<i>/node.toml
//! ```

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use raft_xmpp_transport::pki::{write_file, DevCa};
use root_node::config::RawConfig;
use root_node::profile::{Profile, RawProfile};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::netns::{node_addr, ns_name};

/// The domain of client `name`. Every client has its own, so a node's log tells them apart (and
/// nodes before main `e11e1fb` answered a domain over only one of its streams). All are
/// consortium administrators (they may write every record).
pub fn client_domain(name: &str) -> String {
    format!("{name}.clients.jepsen.lan")
}
/// S2S (STARTTLS) port of every node inside its namespace.
pub const S2S_PORT: u16 = 5269;
/// Admin HTTP port of every node inside its namespace.
pub const ADMIN_PORT: u16 = 9269;

/// Domain of node `id`.
pub fn node_domain(id: u64) -> String {
    format!("n{id}.jepsen.lan")
}

/// One node process.
#[derive(Debug)]
struct NodeProc {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// The running cluster.
#[derive(Debug)]
pub struct Cluster {
    binary: PathBuf,
    unsafe_stale_reads: bool,
    nodes: BTreeMap<u64, NodeProc>,
    clients: BTreeMap<String, RawProfile>,
    dir: PathBuf,
}

impl Cluster {
    /// Write certificates and configs for `n` nodes and the named clients under `dir`, and
    /// start every node.
    pub fn start(
        dir: &Path,
        n: u64,
        binary: &Path,
        unsafe_stale_reads: bool,
        client_names: &[String],
    ) -> Result<Cluster> {
        if !binary.exists() {
            bail!(
                "{}: no icroot binary there (build it: cargo build -p root-node --bin icroot)",
                binary.display()
            );
        }
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki)?;
        let ca = DevCa::new("jepsen CA")?;
        let ca_path = pki.join("ca.pem");
        ca.save(&ca_path, &pki.join("ca.key"))?;
        let issue = |domain: &str| -> Result<(PathBuf, PathBuf)> {
            let (cert, key) = (pki.join(format!("{domain}.pem")), pki.join(format!("{domain}.key")));
            let (_, pem) = ca.issue(domain)?;
            write_file(&cert, &pem.cert_pem, 0o644)?;
            write_file(&key, &pem.key_pem, 0o600)?;
            Ok((cert, key))
        };
        let routes: BTreeMap<String, String> =
            (1..=n).map(|i| (node_domain(i), format!("{}:{S2S_PORT}", node_addr(i)))).collect();
        let bootstrap: BTreeMap<String, String> = (1..=n).map(|i| (i.to_string(), node_domain(i))).collect();
        let mut nodes = BTreeMap::new();
        for id in 1..=n {
            let (cert, key) = issue(&node_domain(id))?;
            let node_dir = dir.join("nodes").join(id.to_string());
            std::fs::create_dir_all(&node_dir)?;
            // Through serde, so keys this runner does not set keep the node's defaults.
            let raw: RawConfig = serde_json::from_value(json!({
                "node_id": id,
                "domain": node_domain(id),
                "cluster_name": "jepsen",
                "data_dir": node_dir.join("data"),
                "admin_domains": client_names.iter().map(|c| client_domain(c)).collect::<Vec<_>>(),
                "listen": {
                    "starttls": [format!("{}:{S2S_PORT}", node_addr(id))],
                    "admin_http": format!("{}:{ADMIN_PORT}", node_addr(id)),
                },
                "tls": {"cert": cert, "key": key, "ca": [ca_path]},
                "discovery": {"mode": "static", "routes": routes},
                "bootstrap": bootstrap,
            }))?;
            let config = node_dir.join("node.toml");
            std::fs::write(&config, toml::to_string(&raw)?)?;
            // Refuse now, with the node's own message, what the node would refuse at start.
            root_node::NodeConfig::load(&config)?;
            nodes.insert(id, NodeProc { config, log: node_dir.join("node.log"), child: None, paused: false });
        }
        let mut clients = BTreeMap::new();
        for name in client_names {
            let domain = client_domain(name);
            let (cert, key) = issue(&domain)?;
            let raw: RawProfile = serde_json::from_value(json!({
                "domain": domain,
                "cert": cert,
                "key": key,
                "ca": ca_path,
                "root_domain": node_domain(1),
            }))?;
            clients.insert(name.clone(), raw);
        }
        let mut cluster =
            Cluster { binary: binary.to_owned(), unsafe_stale_reads, nodes, clients, dir: dir.to_owned() };
        for id in 1..=n {
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    /// Node ids.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The profile of client `name` (one given to [`Cluster::start`]) talking to node `id`.
    pub fn profile(&self, name: &str, id: u64) -> Result<Profile> {
        let mut raw = self.clients.get(name).with_context(|| format!("no client {name}"))?.clone();
        raw.root_domain = node_domain(id);
        raw.root_address = Some(format!("{}:{S2S_PORT}", node_addr(id)));
        Ok(Profile::from_raw(raw, &self.dir)?)
    }

    fn spawn(&mut self, id: u64) -> Result<()> {
        let (binary, stale) = (self.binary.clone(), self.unsafe_stale_reads);
        let node = self.nodes.get_mut(&id).context("no such node")?;
        let log = OpenOptions::new().create(true).append(true).open(&node.log)?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns_name(id)])
            .arg(&binary)
            .arg("node")
            .arg("--config")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .env("RUST_LOG", "info");
        // Test-only switches (root-node/src/test_faults.rs, registry.rs): link faults on request;
        // stale reads only in the broken mode.
        cmd.env("ICROOT_TEST_FAULT_API", "1");
        if stale {
            cmd.env("ICROOT_UNSAFE_STALE_READS", "1");
        }
        node.child = Some(cmd.spawn().context("starting icroot node")?);
        node.paused = false;
        Ok(())
    }

    /// SIGKILL node `id` (no-op when it is down).
    pub fn kill(&mut self, id: u64) -> Result<()> {
        let node = self.nodes.get_mut(&id).context("no such node")?;
        if let Some(mut child) = node.child.take() {
            child.kill()?;
            child.wait()?;
        }
        node.paused = false;
        Ok(())
    }

    /// Start node `id` again if it is down (it resumes from its data directory).
    pub fn restart(&mut self, id: u64) -> Result<()> {
        if self.nodes.get(&id).is_some_and(|n| n.child.is_none()) {
            self.spawn(id)?;
        }
        Ok(())
    }

    fn signal(&mut self, id: u64, sig: &str, paused: bool) -> Result<()> {
        let node = self.nodes.get_mut(&id).context("no such node")?;
        if let Some(child) = &node.child {
            let status = Command::new("kill").args([sig, &child.id().to_string()]).status()?;
            if !status.success() {
                bail!("kill {sig} node {id} failed");
            }
            node.paused = paused;
        }
        Ok(())
    }

    /// SIGSTOP node `id`.
    pub fn pause(&mut self, id: u64) -> Result<()> {
        self.signal(id, "-STOP", true)
    }

    /// SIGCONT node `id`.
    pub fn resume(&mut self, id: u64) -> Result<()> {
        if self.nodes.get(&id).is_some_and(|n| n.paused) {
            self.signal(id, "-CONT", false)?;
        }
        Ok(())
    }

    /// Resume paused nodes and restart dead ones.
    pub fn recover_all(&mut self) -> Result<()> {
        for id in self.ids() {
            self.resume(id)?;
            self.restart(id)?;
        }
        Ok(())
    }

    /// Nodes whose process exited on its own (a crash, not a nemesis kill): (id, status).
    pub fn crashed(&mut self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for (id, node) in &mut self.nodes {
            if let Some(child) = &mut node.child {
                if let Ok(Some(status)) = child.try_wait() {
                    out.push((*id, status.to_string()));
                    node.child = None;
                }
            }
        }
        out
    }

    /// Wait until every node answers `/readyz` with 200, or fail after `deadline`.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut all = true;
            for id in self.ids() {
                if !readyz(id).await {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(());
            }
            if start.elapsed() > deadline {
                bail!("cluster not ready within {deadline:?}; see {}/nodes/*/node.log", self.dir.display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL every node.
    pub fn stop(&mut self) {
        for id in self.ids() {
            let _ = self.resume(id);
            let _ = self.kill(id);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Set link faults on node `id` (`POST /test/link-faults`, see root-node/src/test_faults.rs).
pub async fn link_faults(id: u64, body: &str) -> Result<()> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect((node_addr(id), ADMIN_PORT)).await?;
        let req = format!(
            "POST /test/link-faults HTTP/1.0\r\nHost: node\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        anyhow::Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .with_context(|| format!("node {id}: link-faults request timed out"))??;
    if !answer.starts_with("HTTP/1.1 200") && !answer.starts_with("HTTP/1.0 200") {
        bail!("node {id} refused link faults: {}", answer.lines().next().unwrap_or(""));
    }
    Ok(())
}

/// `GET /readyz` on node `id`'s admin HTTP: whether it answered 200 within a second.
pub async fn readyz(id: u64) -> bool {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect((node_addr(id), ADMIN_PORT)).await.ok()?;
        s.write_all(b"GET /readyz HTTP/1.0\r\nHost: node\r\n\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.1 200") || buf[..n].starts_with(b"HTTP/1.0 200"))
    };
    tokio::time::timeout(Duration::from_secs(1), fut).await.ok().flatten().unwrap_or(false)
}
