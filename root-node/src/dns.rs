//! `icroot dns`: a small authoritative DNS server for lab clusters (deploy/compose), serving the
//! SRV and A records `icroot init` wrote to DIR/dns/zone.toml. Nodes with `discovery.mode =
//! "srv"` then find each other the production way (`_xmpp-server._tcp.<domain>`). It answers
//! only the records in the file (TTL 5 s) and forwards nothing; real deployments use their own DNS.
//!
//! ```text
//!  zone.toml ─▶ ZoneFile ─▶ ZoneRecords ─▶ LocalDns (hickory-server, UDP + TCP on --listen)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use raft_xmpp_transport::discovery::{LocalDns, ZoneRecords};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The zone file: `[[srv]]` and `[[address]]` tables.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneFile {
    /// SRV records.
    #[serde(default)]
    pub srv: Vec<ZoneSrv>,
    /// A/AAAA records.
    #[serde(default)]
    pub address: Vec<ZoneAddr>,
}

/// One SRV record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSrv {
    /// Owner, e.g. `_xmpp-server._tcp.n1.icroot.lan`.
    pub name: String,
    /// RFC 2782 priority.
    pub priority: u16,
    /// RFC 2782 weight.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host name.
    pub target: String,
}

/// One address record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneAddr {
    /// Owner name.
    pub name: String,
    /// IPv4 (A) or IPv6 (AAAA) address.
    pub ip: IpAddr,
}

impl ZoneFile {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    /// The records to serve.
    pub fn records(&self) -> ZoneRecords {
        let mut z = ZoneRecords::new();
        for s in &self.srv {
            z = z.srv(&s.name, s.priority, s.weight, s.port, &s.target);
        }
        for a in &self.address {
            z = z.addr(&a.name, a.ip);
        }
        z
    }
}

/// Start serving `zone` on `listen` (UDP and TCP).
pub async fn serve(zone: &Path, listen: SocketAddr) -> anyhow::Result<LocalDns> {
    let file = ZoneFile::load(zone)?;
    let dns = LocalDns::start(listen, file.records())
        .await
        .map_err(|e| anyhow::anyhow!("listen on {listen}: {e}"))?;
    tracing::info!(addr = %dns.addr(), srv = file.srv.len(), address = file.address.len(), "serving DNS");
    Ok(dns)
}
