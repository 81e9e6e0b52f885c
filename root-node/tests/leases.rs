//! Lease expiry by the leader: an Exchange that stops renewing disappears once its lease ends;
//! one that keeps renewing stays.

use std::time::{Duration, Instant};

use proto::stanza::registry::{RegistryRequest, RegistryResult, RenewLease};
use root_node::dev::{DevCluster, DevOptions};

use crate::peer::{eventually, Exchange};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unrenewed_lease_expires_and_a_renewed_one_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let node = &cluster.ready()["nodes"][0];
    let lapsing = Exchange::connect(&opts.dir, "ix1.demo.lan", node);
    let renewing = Exchange::connect(&opts.dir, "ix2.demo.lan", node);
    let started = Instant::now();
    let x1 = lapsing.register(5).await;
    let x2 = renewing.register(5).await;
    assert!(x1.lease_expires_ms > 0 && x2.lease_expires_ms > 0);

    // ix2 renews every second (well inside its 5 s lease) while we wait for ix1 to go.
    let renew = RegistryRequest::RenewLease(RenewLease { domain: None });
    let mut last_renewed = x2.lease_expires_ms;
    let mut gone = false;
    while started.elapsed() < Duration::from_secs(20) {
        match renewing.request(&renew).await.unwrap() {
            Some(RegistryResult::Exchange(x)) => {
                assert!(x.lease_expires_ms >= last_renewed, "a renewal moves the lease end forward");
                last_renewed = x.lease_expires_ms;
            }
            other => panic!("renew answers the record, got {other:?}"),
        }
        if lapsing.lookup("ix1.demo.lan").await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(gone, "ix1's 5 s lease was not expired within 20 s");
    assert!(started.elapsed() >= Duration::from_secs(4), "ix1 went before its lease could have ended");
    assert!(last_renewed > x2.lease_expires_ms, "ix2 renewed at least once");

    // Past ix2's original lease end and still there.
    eventually(Duration::from_secs(10), "ix2's first lease end passes", || async {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
            > x2.lease_expires_ms + 500
    })
    .await;
    renewing.request(&renew).await.unwrap();
    let still = renewing.lookup("ix2.demo.lan").await.expect("a renewed Exchange stays registered");
    assert_eq!(still.created_revision, x2.created_revision);
    // A renewal after the end is refused: the record is gone.
    assert!(lapsing.request(&renew).await.is_err());

    lapsing.xmpp.shutdown().await;
    renewing.xmpp.shutdown().await;
    cluster.shutdown().await;
}
