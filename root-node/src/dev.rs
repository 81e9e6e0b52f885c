//! `icroot dev`: a complete local cluster in one process, discovered the production way.
//!
//! ```text
//!  DIR/pki       CA (kept across runs) + a certificate per root node, demo Exchange, admin
//!  LocalDns      _xmpp-server._tcp / _xmpps-server._tcp SRV + A for every root node
//!  DIR/nodes/N   node.toml (what `icroot node` would read) + RocksDB; N RootServices on loopback
//!  bootstrap     node 1 initializes all N as voters when its log is empty; later runs resume
//!  demo data     ix3.demo.lan registers itself (and a Cloud) over real S2S
//!  DIR/profiles  <domain>.toml per demo Exchange + admin.toml;  DIR/ready once all of it holds
//! ```
//!
//! ix1 and ix2 are left unregistered so a new user can register them (see the quick start).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::stanza::registry::{
    CloudSpec, ExchangeSpec, RegisterCloud, RegisterExchange, RegistryError, RegistryRequest,
};
use raft_xmpp_transport::discovery::{LocalDns, ZoneRecords};
use raft_xmpp_transport::pki::{write_file, DevCa, PkiError};
use serde_json::json;
use tokio::net::TcpListener;

use crate::client::{Client, ClientError};
use crate::config::{ConfigError, NodeConfig};
use crate::profile::{Profile, RawProfile, RawRoot};
use crate::service::{Listeners, RootService, ServiceError};

/// The consortium administrator domain of the dev cluster.
pub const ADMIN_DOMAIN: &str = "admin.consortium.lan";
/// Demo Exchanges that get profiles; the last one is registered by `icroot dev` itself.
pub const DEMO_EXCHANGES: &[&str] = &["ix1.demo.lan", "ix2.demo.lan", "ix3.demo.lan"];
/// How long to wait for a leader and the demo data.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// Why the dev cluster did not come up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// Files under DIR.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Certificates.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A generated config did not load (a bug).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node did not start.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The demo data could not be written.
    #[error("demo data: {0}")]
    Demo(#[from] ClientError),
    /// No leader in time.
    #[error("no leader elected within {0:?}")]
    NoLeader(Duration),
    /// Nodes must be 1..=9.
    #[error("--nodes must be between 1 and 9, and --nodes plus --spare-nodes at most 9")]
    NodeCount,
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io { path: path.to_owned(), source }
}

/// Options of `icroot dev`.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Root nodes (1..=9).
    pub nodes: u64,
    /// The working directory.
    pub dir: PathBuf,
}

/// A running dev cluster.
#[derive(Debug)]
pub struct DevCluster {
    nodes: Vec<RootService>,
    /// Serves SRV records for the nodes for as long as the cluster runs.
    _dns: LocalDns,
    ready_path: PathBuf,
    ready: serde_json::Value,
}

pub(crate) fn node_domain(id: u64) -> String {
    format!("n{id}.icroot.lan")
}

/// The CA under DIR/pki, created on the first run.
pub(crate) fn dev_ca(pki: &Path) -> Result<DevCa, DevError> {
    let (cert, key) = (pki.join("ca.pem"), pki.join("ca.key"));
    if cert.exists() && key.exists() {
        return Ok(DevCa::load(&cert, &key)?);
    }
    let ca = DevCa::new("icroot dev CA")?;
    ca.save(&cert, &key)?;
    Ok(ca)
}

/// DIR/pki/<domain>.pem and .key, issued on the first run.
pub(crate) fn ensure_cert(ca: &DevCa, pki: &Path, domain: &str) -> Result<(PathBuf, PathBuf), DevError> {
    let (cert, key) = (pki.join(format!("{domain}.pem")), pki.join(format!("{domain}.key")));
    if !(cert.exists() && key.exists()) {
        let (_, pem) = ca.issue(domain)?;
        write_file(&cert, &pem.cert_pem, 0o644)?;
        write_file(&key, &pem.key_pem, 0o600)?;
    }
    Ok((cert, key))
}

async fn loopback() -> Result<TcpListener, DevError> {
    TcpListener::bind("127.0.0.1:0").await.map_err(io(Path::new("127.0.0.1:0")))
}

fn addr(l: &TcpListener) -> SocketAddr {
    l.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl DevCluster {
    /// Bring the cluster up and write DIR/ready.
    pub async fn start(opts: &DevOptions) -> Result<Self, DevError> {
        Self::start_with_spares(opts, 0).await
    }

    /// Bring the cluster up with `spares` more nodes provisioned but not started (certificate,
    /// DNS records, DIR/nodes/<id>/node.toml with no bootstrap) for `icroot node` and
    /// `icroot cluster add-learner`; DIR/ready lists them under `spare_nodes`.
    pub async fn start_with_spares(opts: &DevOptions, spares: u64) -> Result<Self, DevError> {
        if !(1..=9).contains(&opts.nodes) || opts.nodes + spares > 9 {
            return Err(DevError::NodeCount);
        }
        let dir = std::path::absolute(&opts.dir).map_err(io(&opts.dir))?;
        let ready_path = dir.join("ready");
        let _ = std::fs::remove_file(&ready_path);
        let pki = dir.join("pki");
        std::fs::create_dir_all(&pki).map_err(io(&pki))?;
        let ca = dev_ca(&pki)?;
        let ids: Vec<u64> = (1..=opts.nodes).collect();
        let mut bound = Vec::new();
        let mut zone = ZoneRecords::new();
        for id in &ids {
            let (st, dt, admin) = (loopback().await?, loopback().await?, loopback().await?);
            let d = node_domain(*id);
            let host = format!("host.{d}");
            zone = zone
                .srv(&format!("_xmpp-server._tcp.{d}"), 10, 0, addr(&st).port(), &host)
                .srv(&format!("_xmpps-server._tcp.{d}"), 10, 0, addr(&dt).port(), &host)
                .addr(&host, addr(&st).ip());
            bound.push((*id, d, st, dt, admin));
        }
        let spare_ports = crate::provision::reserve((opts.nodes + 1..=opts.nodes + spares).collect())?;
        let zone = crate::provision::with_nodes(zone, &spare_ports);
        let dns = LocalDns::start("127.0.0.1:0".parse().expect("literal address"), zone)
            .await
            .map_err(io(Path::new("local DNS")))?;
        let mut nodes = Vec::new();
        for (id, d, st, dt, admin) in bound {
            let (cert, key) = ensure_cert(&ca, &pki, &d)?;
            let node_dir = dir.join("nodes").join(id.to_string());
            let toml = node_toml(
                id,
                &d,
                &node_dir,
                &[addr(&st)],
                &[addr(&dt)],
                addr(&admin),
                &cert,
                &key,
                &pki,
                dns.addr(),
                &ids,
            );
            let cfg_path = node_dir.join("node.toml");
            std::fs::create_dir_all(&node_dir).map_err(io(&node_dir))?;
            std::fs::write(&cfg_path, toml).map_err(io(&cfg_path))?;
            let config = NodeConfig::load(&cfg_path)?;
            let listeners = Listeners { starttls: vec![st], direct_tls: vec![dt], admin_http: admin };
            nodes.push(RootService::start(config, listeners).await?);
        }
        let spare_nodes = crate::provision::write_spares(&dir, &spare_ports, dns.addr())?;
        let leader = wait_leader(&nodes[0]).await?;
        let root_addr = nodes[0].config().listen_starttls.first().copied();
        let profiles = dir.join("profiles");
        for d in DEMO_EXCHANGES.iter().copied().chain([ADMIN_DOMAIN]) {
            let (cert, key) = ensure_cert(&ca, &pki, d)?;
            let name = if d == ADMIN_DOMAIN { "admin".to_owned() } else { d.to_owned() };
            let raw = RawProfile {
                domain: d.to_owned(),
                cert,
                key,
                ca: pki.join("ca.pem"),
                root_domain: node_domain(1),
                root_address: root_addr.map(|a| a.to_string()),
                nameservers: vec![dns.addr()],
                fallback_roots: nodes[1..]
                    .iter()
                    .map(|n| RawRoot {
                        domain: n.config().domain.clone(),
                        address: n.config().listen_starttls.first().map(|a| a.to_string()),
                    })
                    .collect(),
            };
            let path = profiles.join(format!("{name}.toml"));
            let text = toml::to_string(&raw).map_err(|e| DevError::Io {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            write_file(&path, &format!("# icroot client profile written by `icroot dev`\n{text}"), 0o644)?;
        }
        let demo = DEMO_EXCHANGES[DEMO_EXCHANGES.len() - 1];
        register_demo(&Profile::load(&profiles.join(format!("{demo}.toml")))?).await?;

        let ready = json!({
            "nodes": nodes.iter().map(|n| {
                let m = n.raft().metrics().borrow().clone();
                let role = if m.current_leader == Some(m.id) { "leader" } else { "follower" };
                json!({
                    "id": n.config().node_id,
                    "domain": n.config().domain,
                    "address": n.config().listen_starttls.first().map(|a| a.to_string()),
                    "direct_tls_address": n.config().listen_direct_tls.first().map(|a| a.to_string()),
                    "admin_http": n.admin_addr().to_string(),
                    "role": role,
                })
            }).collect::<Vec<_>>(),
            "leader": {"id": leader, "domain": node_domain(leader)},
            "admin_http": nodes.iter().map(|n| format!("http://{}", n.admin_addr())).collect::<Vec<_>>(),
            "dns": dns.addr().to_string(),
            "profiles": profiles,
            "spare_nodes": spare_nodes,
        });
        let tmp = dir.join("ready.tmp");
        std::fs::write(&tmp, format!("{ready:#}\n")).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &ready_path).map_err(io(&ready_path))?;
        tracing::info!(dir = %dir.display(), leader, "dev cluster ready");
        Ok(DevCluster { nodes, _dns: dns, ready_path, ready })
    }

    /// What DIR/ready says.
    pub fn ready(&self) -> &serde_json::Value {
        &self.ready
    }

    /// The running nodes.
    pub fn nodes(&self) -> &[RootService] {
        &self.nodes
    }

    /// Stop every node and remove DIR/ready.
    pub async fn shutdown(self) {
        let _ = std::fs::remove_file(&self.ready_path);
        for n in self.nodes {
            n.shutdown().await;
        }
    }
}

async fn wait_leader(node: &RootService) -> Result<u64, DevError> {
    let m = node
        .raft()
        .wait(Some(READY_DEADLINE))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .map_err(|_| DevError::NoLeader(READY_DEADLINE))?;
    m.current_leader.ok_or(DevError::NoLeader(READY_DEADLINE))
}

/// Register the demo Exchange and its Cloud as itself; already there (a resumed run) is fine.
async fn register_demo(profile: &Profile) -> Result<(), DevError> {
    let client = Client::connect(profile)?;
    let spec = ExchangeSpec {
        organisation: "Demo Exchange Three".into(),
        regions: vec!["ap-south".into()],
        capabilities: vec!["storage".into()],
        endpoints: vec![format!("xmpp:{}", profile.domain)],
        lease_ttl_secs: proto::stanza::registry::bounds::LEASE_TTL_SECS_MAX,
        ..Default::default()
    };
    let cloud = CloudSpec {
        services: vec!["storage".into()],
        regions: vec!["ap-south".into()],
        ..Default::default()
    };
    let reqs = [
        RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec }),
        RegistryRequest::RegisterCloud(RegisterCloud { domain: None, id: "ix3/objects".into(), spec: cloud }),
    ];
    for req in &reqs {
        match client.request(req).await {
            Ok(_) | Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. }) => {}
            Err(e) => {
                client.close().await;
                return Err(e.into());
            }
        }
    }
    client.close().await;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn node_toml(
    id: u64,
    domain: &str,
    data: &Path,
    starttls: &[SocketAddr],
    direct: &[SocketAddr],
    admin: SocketAddr,
    cert: &Path,
    key: &Path,
    pki: &Path,
    dns: SocketAddr,
    ids: &[u64],
) -> String {
    let list = |a: &[SocketAddr]| a.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    let members: String = ids.iter().map(|i| format!("{i} = \"{}\"\n", node_domain(*i))).collect();
    format!(
        "# Written by `icroot dev` on each start (ports and the DNS server are picked afresh).\n\
         node_id = {id}\ndomain = \"{domain}\"\ncluster_name = \"icroot-dev\"\ndata_dir = \"{data}\"\n\
         admin_domains = [\"{ADMIN_DOMAIN}\"]\n\n[listen]\nstarttls = [{st}]\ndirect_tls = [{dt}]\n\
         admin_http = \"{admin}\"\n\n[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\nca = [\"{ca}\"]\n\n\
         [discovery]\nmode = \"srv\"\nnameservers = [\"{dns}\"]\n\n[bootstrap]\n{members}\n[raft]\n\
         heartbeat_interval_ms = 250\nelection_timeout_min_ms = 1000\nelection_timeout_max_ms = 2000\n",
        data = data.join("data").display(),
        st = list(starttls),
        dt = list(direct),
        cert = cert.display(),
        key = key.display(),
        ca = pki.join("ca.pem").display(),
    )
}
