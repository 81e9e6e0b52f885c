//! SRV discovery against a real DNS server started in-process on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use raft_xmpp_transport::discovery::{Discovery, DiscoveryError, Endpoint, LocalDns, TlsStart, ZoneRecords};

async fn dns(records: ZoneRecords) -> (LocalDns, Discovery) {
    let server = LocalDns::start(SocketAddr::from(([127, 0, 0, 1], 0)), records).await.expect("dns server");
    let discovery = Discovery::with_nameservers(&[server.addr()], 7);
    (server, discovery)
}

fn ep(host: &str, port: u16, tls: TlsStart) -> Endpoint {
    Endpoint { host: host.into(), port, tls }
}

#[tokio::test]
async fn srv_records_merged_and_ordered_by_priority() {
    let records = ZoneRecords::new()
        .srv("_xmpps-server._tcp.ix.lan", 10, 0, 5270, "tls1.ix.lan")
        .srv("_xmpp-server._tcp.ix.lan", 5, 0, 5269, "plain1.ix.lan")
        .srv("_xmpp-server._tcp.ix.lan", 10, 0, 5271, "plain2.ix.lan")
        .srv("_xmpps-server._tcp.ix.lan", 20, 0, 5272, "tls2.ix.lan");
    let (_server, discovery) = dns(records).await;
    let eps = discovery.endpoints("ix.lan").await.expect("endpoints");
    assert_eq!(
        eps,
        vec![
            ep("plain1.ix.lan", 5269, TlsStart::StartTls),
            ep("tls1.ix.lan", 5270, TlsStart::Direct),
            ep("plain2.ix.lan", 5271, TlsStart::StartTls),
            ep("tls2.ix.lan", 5272, TlsStart::Direct),
        ]
    );
}

#[tokio::test]
async fn weights_decide_order_within_a_priority() {
    // With weight 65535 against 0, RFC 2782 picks the heavy record first unless the random
    // number is exactly 0: over 20 lookups the heavy one must lead nearly always.
    let records = ZoneRecords::new().srv("_xmpp-server._tcp.w.lan", 1, 0, 1, "light.w.lan").srv(
        "_xmpp-server._tcp.w.lan",
        1,
        65535,
        2,
        "heavy.w.lan",
    );
    let (_server, discovery) = dns(records).await;
    let mut heavy_first = 0;
    for _ in 0..20 {
        let eps = discovery.endpoints("w.lan").await.expect("endpoints");
        assert_eq!(eps.len(), 2);
        if eps[0].host == "heavy.w.lan" {
            heavy_first += 1;
        }
    }
    assert!(heavy_first >= 19, "heavy first only {heavy_first}/20");
}

#[tokio::test]
async fn root_target_means_no_service() {
    let records = ZoneRecords::new().srv("_xmpp-server._tcp.closed.lan", 0, 0, 0, ".");
    let (_server, discovery) = dns(records).await;
    assert_eq!(discovery.endpoints("closed.lan").await, Err(DiscoveryError::NoService("closed.lan".into())));
}

#[tokio::test]
async fn no_srv_falls_back_to_the_domain_on_5269() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    let records = ZoneRecords::new().addr("bare.lan", ip);
    let (_server, discovery) = dns(records).await;
    let eps = discovery.endpoints("bare.lan").await.expect("endpoints");
    assert_eq!(eps, vec![ep("bare.lan", 5269, TlsStart::StartTls)]);
    let addrs = discovery.addresses(&eps[0]).await.expect("addresses");
    assert_eq!(addrs, vec![SocketAddr::new(ip, 5269)]);
}

#[tokio::test]
async fn srv_target_addresses_resolve() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let records =
        ZoneRecords::new().srv("_xmpp-server._tcp.t.lan", 0, 0, 15269, "node.t.lan").addr("node.t.lan", ip);
    let (_server, discovery) = dns(records).await;
    let eps = discovery.endpoints("t.lan").await.expect("endpoints");
    assert_eq!(discovery.addresses(&eps[0]).await, Ok(vec![SocketAddr::new(ip, 15269)]));
    let missing = ep("nowhere.t.lan", 1, TlsStart::StartTls);
    assert_eq!(discovery.addresses(&missing).await, Err(DiscoveryError::NoAddress("nowhere.t.lan".into())));
}

#[tokio::test]
async fn static_routes_bypass_dns() {
    let (_server, mut discovery) = dns(ZoneRecords::new()).await;
    let fixed = vec![ep("127.0.0.1", 6000, TlsStart::Direct)];
    discovery.add_static_route("Pinned.LAN", fixed.clone());
    assert_eq!(discovery.endpoints("pinned.lan").await, Ok(fixed));
}
