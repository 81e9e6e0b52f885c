//! The node's TOML configuration: a raw serde shape ([`RawConfig`], unknown keys rejected by
//! name) checked once into the typed [`NodeConfig`] the service runs on. docs/configuration.md
//! documents every field; keep the two in step.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::raft_types::RootNode;
use proto::stanza::registry::bounds::normalize_domain;
use serde::{Deserialize, Serialize};

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The TOML did not parse or has unknown or missing keys (the message names them).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The key, dotted (e.g. `raft.heartbeat_interval_ms`).
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, reason: reason.into() }
}

/// The file as written. Every key is documented in docs/configuration.md.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// This node's Raft id: unique in the cluster, never reused for another node.
    pub node_id: u64,
    /// This node's XMPP domain: what its certificate names and peers address it by.
    pub domain: String,
    /// Name of the Raft cluster; every node of one cluster uses the same, and Raft stanzas for
    /// another cluster are refused.
    #[serde(default = "default_cluster_name")]
    pub cluster_name: String,
    /// Directory of the RocksDB log and state machine and the snapshot files.
    pub data_dir: PathBuf,
    /// Domains of consortium administrators (may write any record and change membership).
    #[serde(default)]
    pub admin_domains: Vec<String>,
    /// Sockets to listen on.
    pub listen: RawListen,
    /// Certificate, key and trust anchors.
    pub tls: RawTls,
    /// How to find other XMPP domains.
    pub discovery: RawDiscovery,
    /// Initial members (node id → domain). The member with the lowest id initializes the
    /// cluster when its log is empty; nodes that already hold data ignore this.
    #[serde(default)]
    pub bootstrap: BTreeMap<String, String>,
    /// Raft timers.
    #[serde(default)]
    pub raft: RawRaft,
    /// The node's own housekeeping timers.
    #[serde(default)]
    pub timers: RawTimers,
    /// Registry changes kept for watchers to resume from (≥ 1).
    #[serde(default = "default_change_retention")]
    pub change_retention: u64,
}

/// `[timers]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimers {
    /// Longest the leader's lease-expiry task sleeps between looks at the lease index (it
    /// also wakes at the earliest lease end); 50..=60000.
    #[serde(default = "default_lease_expiry_tick")]
    pub lease_expiry_tick_ms: u64,
    /// How long `GET /readyz` may take to confirm the leader's commit index; 100..=30000.
    #[serde(default = "default_readyz_deadline")]
    pub readyz_deadline_ms: u64,
}

fn default_lease_expiry_tick() -> u64 {
    1000
}
fn default_readyz_deadline() -> u64 {
    900
}

impl Default for RawTimers {
    fn default() -> Self {
        RawTimers {
            lease_expiry_tick_ms: default_lease_expiry_tick(),
            readyz_deadline_ms: default_readyz_deadline(),
        }
    }
}

fn default_change_retention() -> u64 {
    store::DEFAULT_CHANGE_RETENTION
}

fn default_cluster_name() -> String {
    "icroot".into()
}

/// `[listen]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    /// S2S listeners speaking STARTTLS (the standard `_xmpp-server._tcp` service), at least one.
    pub starttls: Vec<SocketAddr>,
    /// S2S listeners speaking direct TLS (XEP-0368 `_xmpps-server._tcp`); optional.
    #[serde(default)]
    pub direct_tls: Vec<SocketAddr>,
    /// The admin HTTP endpoint (`/metrics`, `/healthz`, `/readyz`).
    #[serde(default = "default_admin_http")]
    pub admin_http: SocketAddr,
}

fn default_admin_http() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9269))
}

/// `[tls]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain, leaf first; the leaf names `domain` as a SAN dNSName.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); must not be readable by other users.
    pub key: PathBuf,
    /// PEM files of the CA certificates peers' chains must lead to.
    pub ca: Vec<PathBuf>,
}

/// `[discovery]`: `mode = "srv"` or `mode = "static"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum RawDiscovery {
    /// DNS SRV (`_xmpps-server._tcp`, `_xmpp-server._tcp`), then A/AAAA on 5269.
    Srv {
        /// DNS servers (`ip:port`); empty means those of `/etc/resolv.conf`.
        #[serde(default)]
        nameservers: Vec<SocketAddr>,
    },
    /// Fixed addresses, no DNS: domain → `host:port` (STARTTLS).
    Static {
        /// Domain → address.
        routes: BTreeMap<String, String>,
    },
}

/// `[raft]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRaft {
    /// Leader heartbeat, and the deadline of each AppendEntries over S2S (≥ 100).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_ms: u64,
    /// Lower bound of the randomised election timeout (> 2 × heartbeat).
    #[serde(default = "default_election_min")]
    pub election_timeout_min_ms: u64,
    /// Upper bound of the election timeout (> the lower bound).
    #[serde(default = "default_election_max")]
    pub election_timeout_max_ms: u64,
    /// Deadline of one snapshot chunk's round trip (≥ 1000).
    #[serde(default = "default_install_snapshot")]
    pub install_snapshot_timeout_ms: u64,
    /// Build a snapshot after this many applied entries since the last one.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every_entries: u64,
}

fn default_heartbeat() -> u64 {
    250
}
fn default_election_min() -> u64 {
    1000
}
fn default_election_max() -> u64 {
    2000
}
fn default_install_snapshot() -> u64 {
    10_000
}
fn default_snapshot_every() -> u64 {
    10_000
}

impl Default for RawRaft {
    fn default() -> Self {
        RawRaft {
            heartbeat_interval_ms: default_heartbeat(),
            election_timeout_min_ms: default_election_min(),
            election_timeout_max_ms: default_election_max(),
            install_snapshot_timeout_ms: default_install_snapshot(),
            snapshot_every_entries: default_snapshot_every(),
        }
    }
}

/// Typed discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryConfig {
    /// SRV through these servers (empty: the system's).
    Srv {
        /// DNS servers.
        nameservers: Vec<SocketAddr>,
    },
    /// Fixed routes: domain → (host, port), STARTTLS.
    Static {
        /// Domain → endpoint.
        routes: BTreeMap<String, (String, u16)>,
    },
}

/// The checked configuration of one root node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Raft node id.
    pub node_id: u64,
    /// Our XMPP domain, lowercase.
    pub domain: String,
    /// Raft cluster name.
    pub cluster_name: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Administrator domains, lowercase.
    pub admin_domains: Vec<String>,
    /// STARTTLS listeners.
    pub listen_starttls: Vec<SocketAddr>,
    /// Direct-TLS listeners.
    pub listen_direct_tls: Vec<SocketAddr>,
    /// Admin HTTP address.
    pub admin_http: SocketAddr,
    /// Certificate chain file.
    pub cert: PathBuf,
    /// Private key file.
    pub key: PathBuf,
    /// Trust anchor files.
    pub ca: Vec<PathBuf>,
    /// Discovery.
    pub discovery: DiscoveryConfig,
    /// Initial members; empty when this node joins an existing cluster.
    pub bootstrap: BTreeMap<u64, RootNode>,
    /// openraft settings, validated and checked against the transport.
    pub raft: openraft::Config,
    /// Longest sleep of the leader's lease-expiry task.
    pub lease_expiry_tick: Duration,
    /// Deadline of one `/readyz` check.
    pub readyz_deadline: Duration,
    /// Registry changes kept in the feed watchers resume from.
    pub change_retention: u64,
}

impl NodeConfig {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: path.to_owned(), message },
            other => other,
        })
    }

    /// Parse and check TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: PathBuf::new(), message: e.to_string() })?;
        NodeConfig::try_from(raw)
    }

    /// Whether `domain` is a consortium administrator.
    pub fn is_admin(&self, domain: &str) -> bool {
        self.admin_domains.iter().any(|a| a == domain)
    }

    /// The election timeout's lower bound (how long a request may wait for a new leader).
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.raft.election_timeout_min)
    }
}

pub(crate) fn domain(field: &'static str, d: &str) -> Result<String, ConfigError> {
    normalize_domain(field, d).map_err(|e| invalid(field, e.to_string()))
}

fn host_port(field: &'static str, s: &str) -> Result<(String, u16), ConfigError> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| invalid(field, format!("`{s}` is not host:port")))?;
    let port = port.parse().map_err(|_| invalid(field, format!("`{s}` has no valid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid(field, format!("`{s}` has no host")));
    }
    Ok((host.to_owned(), port))
}

impl TryFrom<RawConfig> for NodeConfig {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let own = domain("domain", &raw.domain)?;
        if raw.cluster_name.is_empty() {
            return Err(invalid("cluster_name", "must not be empty"));
        }
        if raw.listen.starttls.is_empty() {
            return Err(invalid("listen.starttls", "at least one STARTTLS listener is required"));
        }
        if raw.tls.ca.is_empty() {
            return Err(invalid("tls.ca", "at least one trust anchor file is required"));
        }
        let admin_domains =
            raw.admin_domains.iter().map(|d| domain("admin_domains", d)).collect::<Result<_, _>>()?;
        let discovery = match raw.discovery {
            RawDiscovery::Srv { nameservers } => DiscoveryConfig::Srv { nameservers },
            RawDiscovery::Static { routes } => DiscoveryConfig::Static {
                routes: routes
                    .iter()
                    .map(|(d, a)| Ok((domain("discovery.routes", d)?, host_port("discovery.routes", a)?)))
                    .collect::<Result<_, ConfigError>>()?,
            },
        };
        let mut bootstrap = BTreeMap::new();
        for (id, d) in &raw.bootstrap {
            let id: u64 =
                id.parse().map_err(|_| invalid("bootstrap", format!("key `{id}` is not a node id")))?;
            bootstrap.insert(id, RootNode { domain: domain("bootstrap", d)? });
        }
        if !bootstrap.is_empty() && bootstrap.get(&raw.node_id).map(|n| &n.domain) != Some(&own) {
            return Err(invalid("bootstrap", format!("must list this node as {} = \"{own}\"", raw.node_id)));
        }
        let r = &raw.raft;
        if raw.change_retention == 0 {
            return Err(invalid("change_retention", "at least 1"));
        }
        if r.heartbeat_interval_ms < 100 {
            return Err(invalid(
                "raft.heartbeat_interval_ms",
                "at least 100 (one S2S round trip plus a batch)",
            ));
        }
        if r.election_timeout_min_ms <= 2 * r.heartbeat_interval_ms {
            return Err(invalid("raft.election_timeout_min_ms", "must exceed twice the heartbeat interval"));
        }
        let raft = openraft::Config {
            cluster_name: raw.cluster_name.clone(),
            heartbeat_interval: r.heartbeat_interval_ms,
            election_timeout_min: r.election_timeout_min_ms,
            election_timeout_max: r.election_timeout_max_ms,
            install_snapshot_timeout: r.install_snapshot_timeout_ms,
            snapshot_max_chunk_size: proto::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES as u64,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(r.snapshot_every_entries),
            // Pre-vote is not in openraft 0.9; a partitioned node's term bumps are contained by
            // the leader lease below (followers ignore votes while they hear a leader).
            enable_elect: true,
            ..Default::default()
        };
        raft_xmpp_transport::raft::check_raft_config(&raft).map_err(|e| invalid("raft", e))?;
        let raft = raft.validate().map_err(|e| invalid("raft", e.to_string()))?;
        let t = &raw.timers;
        if !(50..=60_000).contains(&t.lease_expiry_tick_ms) {
            return Err(invalid("timers.lease_expiry_tick_ms", "must be in 50..=60000"));
        }
        if !(100..=30_000).contains(&t.readyz_deadline_ms) {
            return Err(invalid("timers.readyz_deadline_ms", "must be in 100..=30000"));
        }
        let lease_expiry_tick = Duration::from_millis(t.lease_expiry_tick_ms);
        let readyz_deadline = Duration::from_millis(t.readyz_deadline_ms);
        Ok(NodeConfig {
            node_id: raw.node_id,
            domain: own,
            cluster_name: raw.cluster_name,
            data_dir: raw.data_dir,
            admin_domains,
            listen_starttls: raw.listen.starttls,
            listen_direct_tls: raw.listen.direct_tls,
            admin_http: raw.listen.admin_http,
            cert: raw.tls.cert,
            key: raw.tls.key,
            ca: raw.tls.ca,
            discovery,
            bootstrap,
            raft,
            lease_expiry_tick,
            readyz_deadline,
            change_retention: raw.change_retention,
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
