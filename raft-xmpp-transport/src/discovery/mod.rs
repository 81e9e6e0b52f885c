//! Finding where a remote XMPP domain listens (RFC 6120 §3.2, XEP-0368).
//!
//! ```text
//!  domain ─▶ static route? ─▶ yes: configured endpoints
//!        └─▶ SRV _xmpps-server._tcp + _xmpp-server._tcp (concurrently) ─▶ srv_order ─▶ endpoints
//!                          └─ no SRV answer at all ─▶ the domain itself on 5269 (STARTTLS)
//!  endpoint host ─▶ A/AAAA ─▶ socket addresses
//! ```

mod local_dns;
mod srv_order;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use local_dns::{LocalDns, ZoneRecords};
pub use srv_order::{order_srv, says_no_service, Endpoint, SrvRecord, TlsStart};

/// The port RFC 6120 §3.2.2 falls back to when a domain has no SRV records.
pub const DEFAULT_S2S_PORT: u16 = 5269;

/// Why a domain could not be turned into endpoints or addresses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The domain publishes SRV records whose target is `.`: it offers no S2S service.
    #[error("{0} publishes no XMPP server-to-server service (SRV target '.')")]
    NoService(String),
    /// DNS failed (timeout, server failure, malformed name).
    #[error("DNS lookup for {name} failed: {reason}")]
    Dns {
        /// The name looked up.
        name: String,
        /// What the resolver said.
        reason: String,
    },
    /// The host exists but has no A/AAAA records.
    #[error("{0} has no address records")]
    NoAddress(String),
}

/// Resolves remote domains to ordered endpoints: static routes first, then DNS.
pub struct Discovery {
    resolver: TokioResolver,
    /// Per-domain endpoints from configuration; they bypass DNS entirely.
    static_routes: HashMap<String, Vec<Endpoint>>,
    /// Seeded so a test (or a jepsen run) reproduces the same connection order.
    rng: Mutex<StdRng>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery").field("static_routes", &self.static_routes).finish_non_exhaustive()
    }
}

impl Discovery {
    /// Use the given DNS servers (e.g. an in-process test server on `127.0.0.1:PORT`).
    pub fn with_nameservers(servers: &[SocketAddr], seed: u64) -> Self {
        let mut config = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
        for s in servers {
            let mut ns = NameServerConfig::udp_and_tcp(s.ip());
            for c in &mut ns.connections {
                c.port = s.port();
            }
            config.add_name_server(ns);
        }
        let mut opts = ResolverOpts::default();
        // Answers change when a test or an operator edits the zone; do not hold on to them long.
        opts.positive_max_ttl = Some(std::time::Duration::from_secs(30));
        opts.negative_max_ttl = Some(std::time::Duration::from_secs(5));
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .expect("a resolver with explicit name servers always builds");
        Discovery { resolver, static_routes: HashMap::new(), rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    /// Use the system's resolver configuration (`/etc/resolv.conf`).
    pub fn from_system(seed: u64) -> Result<Self, DiscoveryError> {
        let servers = system_nameservers()
            .map_err(|reason| DiscoveryError::Dns { name: "/etc/resolv.conf".into(), reason })?;
        Ok(Self::with_nameservers(&servers, seed))
    }

    /// Route `domain` to fixed endpoints, bypassing DNS.
    pub fn add_static_route(&mut self, domain: &str, endpoints: Vec<Endpoint>) {
        self.static_routes.insert(domain.to_ascii_lowercase(), endpoints);
    }

    /// Where to connect for `domain`, in the order to try.
    pub async fn endpoints(&self, domain: &str) -> Result<Vec<Endpoint>, DiscoveryError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if let Some(eps) = self.static_routes.get(&domain) {
            return Ok(eps.clone());
        }
        let (direct_name, starttls_name) =
            (format!("_xmpps-server._tcp.{domain}."), format!("_xmpp-server._tcp.{domain}."));
        let (direct, starttls) = tokio::join!(
            self.srv(&direct_name, TlsStart::Direct),
            self.srv(&starttls_name, TlsStart::StartTls)
        );
        let (direct, starttls) = match (direct, starttls) {
            (Err(e), Err(_)) => return Err(e),
            (d, s) => (d.unwrap_or_default(), s.unwrap_or_default()),
        };
        let refused = says_no_service(&direct) || says_no_service(&starttls);
        let mut all = direct;
        all.extend(starttls);
        let ordered = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            order_srv(all.clone(), &mut *rng)
        };
        if !ordered.is_empty() {
            return Ok(ordered);
        }
        if refused {
            return Err(DiscoveryError::NoService(domain));
        }
        Ok(vec![Endpoint { host: domain, port: DEFAULT_S2S_PORT, tls: TlsStart::StartTls }])
    }

    /// SRV records at `name`; no records is `Ok(empty)`, a DNS failure is an error.
    async fn srv(&self, name: &str, tls: TlsStart) -> Result<Vec<SrvRecord>, DiscoveryError> {
        match self.resolver.srv_lookup(name).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(srv) => Some(SrvRecord {
                        priority: srv.priority,
                        weight: srv.weight,
                        port: srv.port,
                        target: srv.target.to_ascii().trim_end_matches('.').to_owned(),
                        tls,
                    }),
                    _ => None,
                })
                .map(|mut r| {
                    if r.target.is_empty() {
                        r.target = ".".into();
                    }
                    r
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(DiscoveryError::Dns { name: name.to_owned(), reason: e.to_string() }),
        }
    }

    /// The socket addresses of an endpoint (IP literals are used as they are).
    pub async fn addresses(&self, endpoint: &Endpoint) -> Result<Vec<SocketAddr>, DiscoveryError> {
        if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, endpoint.port)]);
        }
        let name = format!("{}.", endpoint.host.trim_end_matches('.'));
        match self.resolver.lookup_ip(name.as_str()).await {
            Ok(ips) => {
                let addrs: Vec<_> = ips.iter().map(|ip| SocketAddr::new(ip, endpoint.port)).collect();
                if addrs.is_empty() {
                    Err(DiscoveryError::NoAddress(endpoint.host.clone()))
                } else {
                    Ok(addrs)
                }
            }
            Err(e) if e.is_no_records_found() => Err(DiscoveryError::NoAddress(endpoint.host.clone())),
            Err(e) => Err(DiscoveryError::Dns { name, reason: e.to_string() }),
        }
    }
}

/// Name servers listed in `/etc/resolv.conf` (port 53).
fn system_nameservers() -> Result<Vec<SocketAddr>, String> {
    let text = std::fs::read_to_string("/etc/resolv.conf").map_err(|e| e.to_string())?;
    let servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        return Err("no nameserver lines".into());
    }
    Ok(servers)
}
