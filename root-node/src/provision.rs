//! Provisioning root nodes the way `icroot dev` does, for nodes that run as their own
//! processes (`icroot node --config`): the dev CA and certificates under DIR/pki, a node.toml
//! per node under DIR/nodes/<id>/, SRV/A records for the dev DNS server, client profiles.
//! Tests use it to start real processes and to add a node to a running cluster.
//!
//! ```text
//!  Provisioner::open(DIR) ─▶ DIR/pki/ca.pem (+ key, kept across runs)
//!  NodePorts::reserve(id) ─▶ zone(&[ports]) ─▶ LocalDns (SRV _xmpp-server/_xmpps-server + A)
//!  write_node(ports, dns, bootstrap) ─▶ DIR/nodes/<id>/node.toml + DIR/pki/n<id>.icroot.lan.*
//!  write_profile(domain, root)     ─▶ DIR/profiles/<name>.toml
//! ```
//!
//! A node that joins a running cluster gets an empty `bootstrap` and is then added with
//! `icroot cluster add-learner` / `promote`. Its DNS records must exist before the leader
//! replicates to it: provision every node's ports up front and serve one zone for all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use raft_xmpp_transport::discovery::ZoneRecords;
use raft_xmpp_transport::pki::{write_file, DevCa};

use crate::dev::{dev_ca, ensure_cert, io, node_domain, node_toml, DevError, ADMIN_DOMAIN};
use crate::profile::RawProfile;
use crate::service::Listeners;

/// The loopback sockets one node will listen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePorts {
    /// Raft node id.
    pub id: u64,
    /// STARTTLS S2S listener.
    pub starttls: SocketAddr,
    /// Direct-TLS S2S listener.
    pub direct_tls: SocketAddr,
    /// Admin HTTP listener.
    pub admin: SocketAddr,
}

/// A free loopback port for another process to bind. Picked below the kernel's ephemeral
/// range, which `bind(…:0)` (every test's and the DNS server's sockets) never hands out, so it
/// stays free until the node binds it unless someone asks for that port by number.
fn free_port() -> Result<SocketAddr, DevError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    if low > 11_024 {
        let (start, span) = (low - 10_000, 10_000);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
        for _ in 0..500 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = start + seed.wrapping_add(n.wrapping_mul(7_919)) % span;
            let Ok(port) = u16::try_from(port) else { continue };
            if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return l.local_addr().map_err(io(Path::new("127.0.0.1")));
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io(Path::new("127.0.0.1:0")))?;
    l.local_addr().map_err(io(Path::new("127.0.0.1:0")))
}

impl NodePorts {
    /// Pick three free loopback ports for node `id`, for a node in another process (see
    /// `free_port`: a port cannot be handed over bound).
    pub fn reserve(id: u64) -> Result<Self, DevError> {
        Ok(NodePorts { id, starttls: free_port()?, direct_tls: free_port()?, admin: free_port()? })
    }

    /// Bind three loopback listeners for node `id` run in this process (no window in which
    /// another program could take a port); pass them to [`crate::RootService::start`].
    pub async fn bind(id: u64) -> Result<(Self, Listeners), DevError> {
        let any = || async {
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(io(Path::new("127.0.0.1:0")))
        };
        let (st, dt, admin) = (any().await?, any().await?, any().await?);
        let addr = |l: &tokio::net::TcpListener| l.local_addr().map_err(io(Path::new("127.0.0.1:0")));
        let ports = NodePorts { id, starttls: addr(&st)?, direct_tls: addr(&dt)?, admin: addr(&admin)? };
        Ok((ports, Listeners { starttls: vec![st], direct_tls: vec![dt], admin_http: admin }))
    }

    /// The node's XMPP domain (`n<id>.icroot.lan`).
    pub fn domain(&self) -> String {
        node_domain(self.id)
    }
}

/// Reserve ports for each of `ids`.
pub fn reserve(ids: Vec<u64>) -> Result<Vec<NodePorts>, DevError> {
    ids.into_iter().map(NodePorts::reserve).collect()
}

/// The SRV and A records that make `nodes` discoverable by domain.
pub fn zone(nodes: &[NodePorts]) -> ZoneRecords {
    with_nodes(ZoneRecords::new(), nodes)
}

/// `zone` plus the records of `nodes`.
pub fn with_nodes(mut zone: ZoneRecords, nodes: &[NodePorts]) -> ZoneRecords {
    for n in nodes {
        let d = n.domain();
        let host = format!("host.{d}");
        zone = zone
            .srv(&format!("_xmpp-server._tcp.{d}"), 10, 0, n.starttls.port(), &host)
            .srv(&format!("_xmpps-server._tcp.{d}"), 10, 0, n.direct_tls.port(), &host)
            .addr(&host, n.starttls.ip());
    }
    zone
}

/// Write the configs of `icroot dev --spare-nodes` (no bootstrap: they join by add-learner);
/// what DIR/ready says about them.
pub(crate) fn write_spares(
    dir: &Path,
    spares: &[NodePorts],
    dns: SocketAddr,
) -> Result<Vec<serde_json::Value>, DevError> {
    let prov = Provisioner::open(dir)?;
    spares
        .iter()
        .map(|p| {
            let config = prov.write_node(p, dns, &[])?;
            Ok(serde_json::json!({
                "id": p.id,
                "domain": p.domain(),
                "address": p.starttls.to_string(),
                "config": config,
            }))
        })
        .collect()
}

/// The dev CA and directory layout of one cluster directory.
#[derive(Debug)]
pub struct Provisioner {
    dir: PathBuf,
    pki: PathBuf,
    ca: DevCa,
}

impl Provisioner {
    /// Use (creating if needed) DIR and its CA.
    pub fn open(dir: &Path) -> Result<Self, DevError> {
        let dir = std::path::absolute(dir).map_err(io(dir))?;
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki).map_err(io(&pki))?;
        let ca = dev_ca(&pki)?;
        Ok(Provisioner { dir, pki, ca })
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// DIR/nodes/<id>/node.toml.
    pub fn node_config_path(&self, id: u64) -> PathBuf {
        self.dir.join("nodes").join(id.to_string()).join("node.toml")
    }

    /// Issue (once) the node's certificate and write its node.toml: SRV discovery through
    /// `dns`, the dev admin domain, and `bootstrap` as its initial members (empty for a node
    /// that joins a running cluster). Returns the config's path.
    pub fn write_node(
        &self,
        node: &NodePorts,
        dns: SocketAddr,
        bootstrap: &[u64],
    ) -> Result<PathBuf, DevError> {
        let d = node.domain();
        let (cert, key) = ensure_cert(&self.ca, &self.pki, &d)?;
        let path = self.node_config_path(node.id);
        let node_dir = path.parent().unwrap_or(&self.dir).to_owned();
        let text = node_toml(
            node.id,
            &d,
            &node_dir,
            &[node.starttls],
            &[node.direct_tls],
            node.admin,
            &cert,
            &key,
            &self.pki,
            dns,
            bootstrap,
        );
        std::fs::create_dir_all(&node_dir).map_err(io(&node_dir))?;
        std::fs::write(&path, text).map_err(io(&path))?;
        Ok(path)
    }

    /// Write DIR/profiles/<name>.toml for `domain` (certificate issued once) talking to `root`.
    /// `name` is `admin` for the consortium administrator ([`ADMIN_DOMAIN`]).
    pub fn write_profile(
        &self,
        domain: &str,
        root: &NodePorts,
        dns: SocketAddr,
    ) -> Result<PathBuf, DevError> {
        let (cert, key) = ensure_cert(&self.ca, &self.pki, domain)?;
        let raw = RawProfile {
            domain: domain.to_owned(),
            cert,
            key,
            ca: self.pki.join("ca.pem"),
            root_domain: root.domain(),
            root_address: Some(root.starttls.to_string()),
            nameservers: vec![dns],
            fallback_roots: Vec::new(),
        };
        let name = if domain == ADMIN_DOMAIN { "admin" } else { domain };
        let path = self.dir.join("profiles").join(format!("{name}-via-n{}.toml", root.id));
        let text = toml::to_string(&raw)
            .map_err(|e| DevError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) })?;
        write_file(&path, &text, 0o644)?;
        Ok(path)
    }
}
