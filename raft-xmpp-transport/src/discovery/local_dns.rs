//! A real, in-process authoritative DNS server (hickory-server) answering SRV and A/AAAA queries
//! over UDP and TCP on loopback. Tests and `icroot dev` point [`super::Discovery`] at it, so
//! discovery takes the same path as production: real DNS messages, real SRV records.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

/// Records to serve. Names are absolute (a trailing dot is added if missing).
#[derive(Clone, Debug, Default)]
pub struct ZoneRecords {
    records: Vec<Record>,
}

/// TTL of every served record: short, so a test that restarts the server with new records is not
/// fooled by a cache for long.
const TTL_SECS: u32 = 5;

fn name(s: &str) -> Name {
    let abs = if s.ends_with('.') { s.to_owned() } else { format!("{s}.") };
    Name::from_ascii(&abs).unwrap_or_else(|_| Name::root())
}

impl ZoneRecords {
    /// No records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an SRV record at `owner` (e.g. `_xmpp-server._tcp.example.net`); a target of `.` means
    /// "no service".
    #[must_use]
    pub fn srv(mut self, owner: &str, priority: u16, weight: u16, port: u16, target: &str) -> Self {
        let target = if target == "." { Name::root() } else { name(target) };
        self.records.push(Record::from_rdata(
            name(owner),
            TTL_SECS,
            RData::SRV(SRV::new(priority, weight, port, target)),
        ));
        self
    }

    /// Add an address record.
    #[must_use]
    pub fn addr(mut self, owner: &str, ip: IpAddr) -> Self {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.records.push(Record::from_rdata(name(owner), TTL_SECS, data));
        self
    }
}

/// A running DNS server; stops when dropped.
#[derive(Debug)]
pub struct LocalDns {
    addr: SocketAddr,
    /// Owns the server tasks; aborting it stops answering.
    task: tokio::task::JoinHandle<()>,
}

/// How many free UDP ports to try when the same TCP port is taken (port 0 only).
const MAX_BIND_ATTEMPTS: usize = 16;

/// A UDP socket and a TCP listener on one port. With port 0 the UDP port is picked first, and the
/// same TCP port may already be in use (e.g. by an outgoing connection): then try another.
async fn bind_pair(bind: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener, SocketAddr)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp = UdpSocket::bind(bind).await?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp, addr)),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && bind.port() == 0
                    && attempt < MAX_BIND_ATTEMPTS => {}
            Err(e) => return Err(e),
        }
    }
}

impl LocalDns {
    /// Serve `records` on `bind` (UDP and TCP on the same port; port 0 picks a free one).
    pub async fn start(bind: SocketAddr, records: ZoneRecords) -> std::io::Result<Self> {
        let origin = Name::root();
        let mut zone = InMemoryZoneHandler::<hickory_resolver::net::runtime::TokioRuntimeProvider>::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(name("ns.invalid"), name("hostmaster.invalid"), 1, 3600, 600, 86400, TTL_SECS);
        zone.upsert_mut(Record::from_rdata(origin.clone(), TTL_SECS, RData::SOA(soa)), 1);
        for r in records.records {
            zone.upsert_mut(r, 1);
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);

        let (udp, tcp, addr) = bind_pair(bind).await?;
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        let task = tokio::spawn(async move {
            if let Err(e) = server.block_until_done().await {
                tracing::warn!(error = %e, "local DNS server stopped");
            }
        });
        Ok(LocalDns { addr, task })
    }

    /// Where the server listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LocalDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
