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
/// A second administrator domain (another consortium operator).
pub const ADMIN2: &str = "ops.consortium.lan";
/// How long the single node may take to elect itself.
const LEADER_DEADLINE: Duration = Duration::from_secs(30);

/// A running single-node root.
pub struct SoloRoot {
    /// Node 1 (domain [`ROOT`]).
    pub root: RootService,
    /// The other running nodes of a [`SoloRoot::cluster`].
    pub others: Vec<OtherNode>,
    pub ca: DevCa,
    /// Node 1's STARTTLS and direct-TLS S2S addresses.
    pub starttls: SocketAddr,
    pub direct_tls: SocketAddr,
    /// Serves the SRV records for as long as the test runs.
    pub dns: LocalDns,
    pub dir: tempfile::TempDir,
}

/// Domain of node `id`: node 1 is [`ROOT`].
pub fn node_domain(id: u64) -> String {
    if id == 1 {
        ROOT.to_owned()
    } else {
        format!("n{id}.icroot.lan")
    }
}

/// A running node other than node 1.
pub struct OtherNode {
    pub service: RootService,
    pub domain: String,
    pub direct_tls: SocketAddr,
}

impl SoloRoot {
    /// Start the root; `extra` adds records to the zone (the root's own are added first).
    pub async fn start(extra: impl FnOnce(ZoneRecords) -> ZoneRecords) -> SoloRoot {
        SoloRoot::start_with("", extra).await
    }

    /// [`SoloRoot::start`] with `top_level` TOML (keys before the first table) in node.toml.
    pub async fn start_with(top_level: &str, extra: impl FnOnce(ZoneRecords) -> ZoneRecords) -> SoloRoot {
        let root = SoloRoot::cluster_with(1, &[1], top_level, extra).await;
        root.wait_leader(|l| l == 1).await;
        root
    }

    /// Bootstrap `voters` nodes (ids 1..=voters) but run only `running` (which must include 1);
    /// does not wait for a leader. Only running nodes are in DNS.
    pub async fn cluster(
        voters: u64,
        running: &[u64],
        extra: impl FnOnce(ZoneRecords) -> ZoneRecords,
    ) -> SoloRoot {
        SoloRoot::cluster_with(voters, running, "", extra).await
    }

    async fn cluster_with(
        voters: u64,
        running: &[u64],
        top_level: &str,
        extra: impl FnOnce(ZoneRecords) -> ZoneRecords,
    ) -> SoloRoot {
        assert!(running.contains(&1));
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::new("icroot test CA").unwrap();
        let mut zone = ZoneRecords::new();
        let mut bound = Vec::new();
        for id in running {
            let (st, dt, admin) = (bind().await, bind().await, bind().await);
            let domain = node_domain(*id);
            let host = format!("host.{domain}");
            let (sa, da) = (st.local_addr().unwrap(), dt.local_addr().unwrap());
            zone = zone
                .srv(&format!("_xmpp-server._tcp.{domain}"), 10, 0, sa.port(), &host)
                .srv(&format!("_xmpps-server._tcp.{domain}"), 10, 0, da.port(), &host)
                .addr(&host, sa.ip());
            bound.push((*id, domain, st, dt, admin));
        }
        let dns = LocalDns::start("127.0.0.1:0".parse().unwrap(), extra(zone)).await.unwrap();
        let d = dir.path();
        write_file(&d.join("ca.pem"), ca.cert_pem(), 0o644).unwrap();
        let members: String = (1..=voters).map(|i| format!("{i} = \"{}\"\n", node_domain(i))).collect();
        let mut nodes = Vec::new();
        for (id, domain, st, dt, admin) in bound {
            let (starttls, direct_tls) = (st.local_addr().unwrap(), dt.local_addr().unwrap());
            let nd = d.join(format!("n{id}"));
            let (_, pem) = ca.issue(&domain).unwrap();
            write_file(&nd.join("node.pem"), &pem.cert_pem, 0o644).unwrap();
            write_file(&nd.join("node.key"), &pem.key_pem, 0o600).unwrap();
            let toml = format!(
                "node_id = {id}\ndomain = \"{domain}\"\ncluster_name = \"icroot-test\"\n\
                 data_dir = \"{nd}/data\"\n{top_level}\nadmin_domains = [\"{ADMIN}\", \"{ADMIN2}\"]\n[listen]\nstarttls = [\"{starttls}\"]\n\
                 direct_tls = [\"{direct_tls}\"]\nadmin_http = \"{admin}\"\n[tls]\ncert = \"{nd}/node.pem\"\n\
                 key = \"{nd}/node.key\"\nca = [\"{d}/ca.pem\"]\n[discovery]\nmode = \"srv\"\n\
                 nameservers = [\"{dns}\"]\n[bootstrap]\n{members}[raft]\nheartbeat_interval_ms = 250\n\
                 election_timeout_min_ms = 1000\nelection_timeout_max_ms = 2000\n",
                nd = nd.display(),
                d = d.display(),
                admin = admin.local_addr().unwrap(),
                dns = dns.addr(),
            );
            let config = NodeConfig::from_toml(&toml).unwrap();
            let listeners = Listeners { starttls: vec![st], direct_tls: vec![dt], admin_http: admin };
            let service = RootService::start(config, listeners).await.unwrap();
            nodes.push((service, domain, starttls, direct_tls));
        }
        let (root, _, starttls, direct_tls) = nodes.remove(0);
        let others = nodes
            .into_iter()
            .map(|(service, domain, _, direct_tls)| OtherNode { service, domain, direct_tls })
            .collect();
        SoloRoot { root, others, ca, starttls, direct_tls, dns, dir }
    }

    /// Wait until node 1 sees a leader that satisfies `ok`; returns it.
    pub async fn wait_leader(&self, ok: impl Fn(u64) -> bool + Send + Sync) -> u64 {
        let m = self
            .root
            .raft()
            .wait(Some(LEADER_DEADLINE))
            .metrics(|m| m.current_leader.is_some_and(&ok), "the expected leader")
            .await
            .unwrap();
        m.current_leader.unwrap()
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
            fallback_roots: vec![],
        };
        let path: PathBuf = d.join(format!("{domain}.toml"));
        std::fs::write(&path, toml::to_string(&raw).unwrap()).unwrap();
        Profile::load(&path).unwrap()
    }

    pub async fn shutdown(self) {
        for n in self.others {
            n.service.shutdown().await;
        }
        self.root.shutdown().await;
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}
