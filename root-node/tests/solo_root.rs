//! Test fixture: one root node (a single-voter cluster) on loopback with its own CA, RocksDB in a
//! temp dir, and an in-process DNS server publishing its SRV records plus any the test adds
//! (e.g. a Prosody's), so the root can dial back to the peers that talk to it.
//!
//! ```text
//!  DevCa ─▶ certs ─▶ node.toml ─▶ RootService (STARTTLS + direct TLS on 127.0.0.1:0)
//!  LocalDns: _xmpp-server / _xmpps-server ._tcp.root.icroot.lan + the test's extra records
//!  profile(domain) ─▶ a CLI profile (cert for `domain`) pointed at the root
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use raft_xmpp_transport::discovery::{LocalDns, ZoneRecords};
use raft_xmpp_transport::pki::{write_file, DevCa};
use root_node::profile::{Profile, RawProfile};
use root_node::{Listeners, NodeConfig, RootService};
use tokio::net::TcpListener;

/// The root's XMPP domain.
pub const ROOT: &str = "root.icroot.lan";
/// The consortium administrator domain the root trusts.
pub const ADMIN: &str = "admin.consortium.lan";
/// How long the single node may take to elect itself.
const LEADER_DEADLINE: Duration = Duration::from_secs(30);

/// A running single-node root.
pub struct SoloRoot {
    pub root: RootService,
    pub ca: DevCa,
    /// STARTTLS and direct-TLS S2S addresses.
    pub starttls: SocketAddr,
    #[allow(dead_code)]
    pub direct_tls: SocketAddr,
    /// Serves the SRV records for as long as the test runs.
    pub dns: LocalDns,
    pub dir: tempfile::TempDir,
}

impl SoloRoot {
    /// Start the root; `extra` adds records to the zone (the root's own are added first).
    pub async fn start(extra: impl FnOnce(ZoneRecords) -> ZoneRecords) -> SoloRoot {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("icroot test CA").unwrap();
        let (st, dt, admin) = (bind().await, bind().await, bind().await);
        let (starttls, direct_tls) = (st.local_addr().unwrap(), dt.local_addr().unwrap());
        let host = format!("host.{ROOT}");
        let zone = ZoneRecords::new()
            .srv(&format!("_xmpp-server._tcp.{ROOT}"), 10, 0, starttls.port(), &host)
            .srv(&format!("_xmpps-server._tcp.{ROOT}"), 10, 0, direct_tls.port(), &host)
            .addr(&host, starttls.ip());
        let dns = LocalDns::start("127.0.0.1:0".parse().unwrap(), extra(zone)).await.unwrap();
        let d = dir.path();
        let (_, pem) = ca.issue(ROOT).unwrap();
        write_file(&d.join("root.pem"), &pem.cert_pem, 0o644).unwrap();
        write_file(&d.join("root.key"), &pem.key_pem, 0o600).unwrap();
        write_file(&d.join("ca.pem"), ca.cert_pem(), 0o644).unwrap();
        let toml = format!(
            "node_id = 1\ndomain = \"{ROOT}\"\ncluster_name = \"icroot-test\"\ndata_dir = \"{d}/data\"\n\
             admin_domains = [\"{ADMIN}\"]\n[listen]\nstarttls = [\"{starttls}\"]\n\
             direct_tls = [\"{direct_tls}\"]\nadmin_http = \"{admin}\"\n[tls]\ncert = \"{d}/root.pem\"\n\
             key = \"{d}/root.key\"\nca = [\"{d}/ca.pem\"]\n[discovery]\nmode = \"srv\"\n\
             nameservers = [\"{dns}\"]\n[bootstrap]\n1 = \"{ROOT}\"\n[raft]\nheartbeat_interval_ms = 250\n\
             election_timeout_min_ms = 1000\nelection_timeout_max_ms = 2000\n",
            d = d.display(),
            admin = admin.local_addr().unwrap(),
            dns = dns.addr(),
        );
        let config = NodeConfig::from_toml(&toml).unwrap();
        let listeners = Listeners { starttls: vec![st], direct_tls: vec![dt], admin_http: admin };
        let root = RootService::start(config, listeners).await.unwrap();
        root.raft()
            .wait(Some(LEADER_DEADLINE))
            .metrics(|m| m.current_leader == Some(1), "node 1 leads")
            .await
            .unwrap();
        SoloRoot { root, ca, starttls, direct_tls, dns, dir }
    }

    /// A CLI profile for `domain` (a certificate from the root's CA), addressed to the root's
    /// STARTTLS port.
    pub fn profile(&self, domain: &str) -> Profile {
        let d = self.dir.path().join("profiles");
        let (_, pem) = self.ca.issue(domain).unwrap();
        let (cert, key) = (d.join(format!("{domain}.pem")), d.join(format!("{domain}.key")));
        write_file(&cert, &pem.cert_pem, 0o644).unwrap();
        write_file(&key, &pem.key_pem, 0o600).unwrap();
        let raw = RawProfile {
            domain: domain.into(),
            cert,
            key,
            ca: self.dir.path().join("ca.pem"),
            root_domain: ROOT.into(),
            root_address: Some(self.starttls.to_string()),
            nameservers: vec![],
        };
        let path: PathBuf = d.join(format!("{domain}.toml"));
        std::fs::write(&path, toml::to_string(&raw).unwrap()).unwrap();
        Profile::load(&path).unwrap()
    }

    pub async fn shutdown(self) {
        self.root.shutdown().await;
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}
