//! `icroot init`: lay out certificates, node configs and client profiles for a cluster that runs
//! as separate processes (containers, hosts) rather than in one process like `icroot dev`.
//!
//! ```text
//!  DIR/ca.pem, ca.key      a CA standing in for the consortium's (kept across runs)
//!  DIR/nodes/<id>/         node.toml + cert.pem + key.pem + ca.pem: what one node mounts at
//!                          --config-dir (paths in node.toml point there, data at --data-dir)
//!  DIR/clients/, profiles/ admin and Exchange certificates, and a profile per domain
//!  DIR/dns/zone.toml       SRV + A records of the nodes, for `icroot dns` (when hosts are IPs)
//! ```
//!
//! The deploy/compose cert step runs this; see deploy/README.md. Re-running keeps the CA and
//! every certificate that exists and rewrites the configs and profiles.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Args;
use raft_xmpp_transport::pki::{write_file, DevCa, PkiError};

use crate::dns::{ZoneAddr, ZoneFile, ZoneSrv};
use crate::profile::{RawProfile, RawRoot};

/// Options of `icroot init`.
#[derive(Clone, Debug, Args)]
pub struct InitArgs {
    /// Output directory.
    #[arg(long, default_value = "icroot-cluster")]
    pub dir: PathBuf,
    /// Number of root nodes (1..=9).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Each node's XMPP domain; `{id}` is replaced by the node id, `{ord}` by id − 1.
    #[arg(long, default_value = "n{id}.icroot.lan")]
    pub node_domain: String,
    /// Each node's address as other nodes reach it (IP or host name, no port); `{id}` as above.
    #[arg(long, default_value = "n{id}.icroot.lan")]
    pub node_host: String,
    /// S2S STARTTLS port every node listens on.
    #[arg(long, default_value_t = 5269)]
    pub port: u16,
    /// How nodes find each other: `static` routes to node_host:port, or `srv` (DNS).
    #[arg(long, value_parser = ["static", "srv"], default_value = "static")]
    pub discovery: String,
    /// DNS server (`ip:port`) for `--discovery srv` (repeatable; none: /etc/resolv.conf).
    #[arg(long = "nameserver")]
    pub nameservers: Vec<SocketAddr>,
    /// Raft cluster name.
    #[arg(long, default_value = "icroot")]
    pub cluster_name: String,
    /// The consortium administrator's domain (gets a certificate and `profiles/admin.toml`).
    #[arg(long, default_value = "admin.consortium.lan")]
    pub admin: String,
    /// An Exchange domain to issue a certificate and profile for (repeatable).
    #[arg(long = "exchange", default_values = ["ix1.demo.lan", "ix2.demo.lan"])]
    pub exchanges: Vec<String>,
    /// `host:port` the profiles reach node 1 at (default: its node_host and port); with `{id}`,
    /// the other nodes at theirs become the profiles' `fallback_roots`.
    #[arg(long)]
    pub root_address: Option<String>,
    /// IP address the nodes' S2S listener binds; `{id}` as above.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: String,
    /// Where a node finds its directory (node.toml's cert/key/ca paths point here); `{id}` as above.
    #[arg(long, default_value = "/etc/icroot")]
    pub config_dir: String,
    /// The nodes' data_dir; `{id}` as above.
    #[arg(long, default_value = "/var/lib/icroot")]
    pub data_dir: String,
    /// The nodes' admin HTTP `ip:port` (/readyz for health checks); `{id}` as above.
    #[arg(long, default_value = "0.0.0.0:9269")]
    pub admin_http: String,
    /// `uid:gid` to give the node directories to (the container user; needs root).
    #[arg(long, value_parser = parse_owner)]
    pub node_owner: Option<(u32, u32)>,
    /// `uid:gid` to give the CA, clients and profiles to (the operator; needs root).
    #[arg(long, value_parser = parse_owner)]
    pub client_owner: Option<(u32, u32)>,
}

fn parse_owner(s: &str) -> Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or_else(|| format!("`{s}` is not uid:gid"))?;
    Ok((u.parse().map_err(|_| format!("bad uid `{u}`"))?, g.parse().map_err(|_| format!("bad gid `{g}`"))?))
}

/// Why `icroot init` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A file or directory.
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
    /// An option is out of range.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InitError + '_ {
    move |source| InitError::Io { path: path.to_owned(), source }
}

/// Replace `{id}` by the node id and `{ord}` by id − 1 (a StatefulSet pod's ordinal).
fn subst(template: &str, id: u64) -> String {
    template.replace("{id}", &id.to_string()).replace("{ord}", &id.saturating_sub(1).to_string())
}

/// `host:port`, with brackets around an IPv6 literal.
fn host_port(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    }
}

/// What `icroot init` wrote.
#[derive(Clone, Debug)]
pub struct InitOutcome {
    /// The node domains, by id.
    pub domains: Vec<(u64, String)>,
    /// The profile files.
    pub profiles: Vec<PathBuf>,
}

/// Write DIR; see the module documentation for the layout.
pub fn run(a: &InitArgs) -> Result<InitOutcome, InitError> {
    if !(1..=9).contains(&a.nodes) {
        return Err(InitError::Invalid("--nodes must be between 1 and 9".into()));
    }
    if a.nodes > 1 && !(a.node_domain.contains("{id}") || a.node_domain.contains("{ord}")) {
        return Err(InitError::Invalid(
            "--node-domain must contain {id} or {ord} for more than one node".into(),
        ));
    }
    let dir = &a.dir;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let ca = if ca_cert.exists() && ca_key.exists() {
        DevCa::load(&ca_cert, &ca_key)?
    } else {
        let ca = DevCa::new(&format!("{} CA", a.cluster_name))?;
        ca.save(&ca_cert, &ca_key)?;
        ca
    };
    let ids: Vec<u64> = (1..=a.nodes).collect();
    let checked = |field: &'static str, d: &str| {
        crate::config::domain(field, d).map_err(|e| InitError::Invalid(format!("--{field}: {e}")))
    };
    let domains: Vec<(u64, String)> = ids
        .iter()
        .map(|id| Ok((*id, checked("node-domain", &subst(&a.node_domain, *id))?)))
        .collect::<Result<_, InitError>>()?;
    checked("admin", &a.admin)?;
    for x in &a.exchanges {
        checked("exchange", x)?;
    }
    for id in &ids {
        let bind = subst(&a.bind, *id);
        bind.parse::<IpAddr>().map_err(|_| InitError::Invalid(format!("--bind: `{bind}` is not an IP")))?;
        let http = subst(&a.admin_http, *id);
        http.parse::<SocketAddr>()
            .map_err(|_| InitError::Invalid(format!("--admin-http: `{http}` is not ip:port")))?;
    }
    let mut zone = ZoneFile::default();
    for (id, d) in &domains {
        let node_dir = dir.join("nodes").join(id.to_string());
        let (cert, key) = (node_dir.join("cert.pem"), node_dir.join("key.pem"));
        if previous_domain(&node_dir.join("node.toml")).is_some_and(|p| &p != d) {
            // The node's domain changed since the last run: its certificate names the old one.
            for f in [&cert, &key] {
                match std::fs::remove_file(f) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(f)(e)),
                    _ => {}
                }
            }
        }
        issue(&ca, &cert, &key, d)?;
        write_file(&node_dir.join("ca.pem"), ca.cert_pem(), 0o644)?;
        let path = node_dir.join("node.toml");
        write_file(&path, &node_toml(a, *id, d, &domains), 0o644)?;
        let host = subst(&a.node_host, *id);
        if let Ok(ip) = host.parse::<IpAddr>() {
            let target = format!("host.{d}");
            zone.srv.push(ZoneSrv {
                name: format!("_xmpp-server._tcp.{d}"),
                priority: 10,
                weight: 0,
                port: a.port,
                target: target.clone(),
            });
            zone.address.push(ZoneAddr { name: target, ip });
        }
        if let Some((u, g)) = a.node_owner {
            chown_tree(&node_dir, u, g)?;
        }
    }
    if !zone.srv.is_empty() {
        let path = dir.join("dns").join("zone.toml");
        let text = toml::to_string(&zone).map_err(|e| InitError::Invalid(e.to_string()))?;
        write_file(&path, &format!("# SRV records of the nodes, written by `icroot init`\n{text}"), 0o644)?;
    }
    // Node `id` as clients reach it; node 1 is the profiles' root, the others their fallbacks.
    let address_of = |id: u64| match &a.root_address {
        Some(t) => subst(t, id),
        None => host_port(&subst(&a.node_host, id), a.port),
    };
    let per_node = a.root_address.as_ref().is_none_or(|t| t.contains("{id}") || t.contains("{ord}"));
    let fallback_roots: Vec<RawRoot> = if per_node {
        domains[1..]
            .iter()
            .map(|(id, d)| RawRoot { domain: d.clone(), address: Some(address_of(*id)) })
            .collect()
    } else {
        Vec::new()
    };
    let mut profiles = Vec::new();
    for d in std::iter::once(&a.admin).chain(&a.exchanges) {
        let (cert, key) =
            (dir.join("clients").join(format!("{d}.pem")), dir.join("clients").join(format!("{d}.key")));
        issue(&ca, &cert, &key, d)?;
        let name = if d == &a.admin { "admin".to_owned() } else { d.clone() };
        let raw = RawProfile {
            domain: d.clone(),
            cert: Path::new("../clients").join(format!("{d}.pem")),
            key: Path::new("../clients").join(format!("{d}.key")),
            ca: "../ca.pem".into(),
            root_domain: domains[0].1.clone(),
            root_address: Some(address_of(1)),
            nameservers: Vec::new(),
            fallback_roots: fallback_roots.clone(),
        };
        let path = dir.join("profiles").join(format!("{name}.toml"));
        let text = toml::to_string(&raw).map_err(|e| InitError::Invalid(e.to_string()))?;
        write_file(&path, &format!("# icroot client profile written by `icroot init`\n{text}"), 0o644)?;
        profiles.push(path);
    }
    if let Some((u, g)) = a.client_owner {
        for sub in ["clients", "profiles", "dns"] {
            chown_tree(&dir.join(sub), u, g)?;
        }
        for f in [&ca_cert, &ca_key, dir] {
            std::os::unix::fs::chown(f, Some(u), Some(g)).map_err(io(f))?;
        }
    }
    Ok(InitOutcome { domains, profiles })
}

/// The domain an earlier run wrote into `node.toml`, if any.
fn previous_domain(node_toml: &Path) -> Option<String> {
    let text = std::fs::read_to_string(node_toml).ok()?;
    toml::from_str::<crate::config::RawConfig>(&text).ok().map(|r| r.domain)
}

/// Issue a certificate for `domain` unless both files exist.
fn issue(ca: &DevCa, cert: &Path, key: &Path, domain: &str) -> Result<(), InitError> {
    if !(cert.exists() && key.exists()) {
        let (_, pem) = ca.issue(domain)?;
        write_file(cert, &pem.cert_pem, 0o644)?;
        write_file(key, &pem.key_pem, 0o600)?;
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), InitError> {
    if !path.exists() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(path))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            chown_tree(&entry.map_err(io(path))?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn node_toml(a: &InitArgs, id: u64, domain: &str, all: &[(u64, String)]) -> String {
    let cfg = |f: &str| Path::new(&subst(&a.config_dir, id)).join(f).display().to_string();
    let members: String = all.iter().map(|(i, d)| format!("{i} = \"{d}\"\n")).collect();
    let discovery = if a.discovery == "static" {
        let routes: String = all
            .iter()
            .filter(|(i, _)| *i != id)
            .map(|(i, d)| format!("\"{d}\" = \"{}\"\n", host_port(&subst(&a.node_host, *i), a.port)))
            .collect();
        format!("mode = \"static\"\n\n[discovery.routes]\n{routes}")
    } else {
        let ns: Vec<String> = a.nameservers.iter().map(|n| format!("\"{n}\"")).collect();
        format!("mode = \"srv\"\nnameservers = [{}]\n", ns.join(", "))
    };
    format!(
        "# Written by `icroot init`; see docs/configuration.md.\n\
         node_id = {id}\ndomain = \"{domain}\"\ncluster_name = \"{cluster}\"\ndata_dir = \"{data}\"\n\
         admin_domains = [\"{admin}\"]\n\n[listen]\nstarttls = [\"{listen}\"]\n\
         admin_http = \"{http}\"\n\n[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\nca = [\"{ca}\"]\n\n\
         [discovery]\n{discovery}\n[bootstrap]\n{members}",
        cluster = a.cluster_name,
        data = subst(&a.data_dir, id),
        admin = a.admin,
        listen = host_port(&subst(&a.bind, id), a.port),
        http = subst(&a.admin_http, id),
        cert = cfg("cert.pem"),
        key = cfg("key.pem"),
        ca = cfg("ca.pem"),
    )
}
