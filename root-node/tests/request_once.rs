//! `Client::request_once`: one attempt, so the outcome is the root's answer to that very request
//! (what jepsen needs to tell "did not happen" from "unknown"), and an unreachable root fails at
//! once instead of being retried until `REQUEST_DEADLINE`.

use std::time::{Duration, Instant};

use proto::stanza::registry::{
    bounds, Consistency, ExchangeSpec, GetExchange, RegistryError, RegistryRequest, RegistryResult,
    UpdateExchange,
};
use raft_xmpp_transport::RequestError;
use root_node::client::{Client, ClientError, REQUEST_DEADLINE};
use root_node::dev::{DevCluster, DevOptions};
use root_node::profile::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_attempt_answers_refusals_and_fails_fast_when_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profile = Profile::load(&opts.dir.join("profiles").join("ix3.demo.lan.toml")).unwrap();
    let client = Client::connect(&profile).unwrap();

    let get = RegistryRequest::GetExchange(GetExchange {
        domain: "ix3.demo.lan".into(),
        consistency: Consistency::Linearizable,
    });
    let Ok(Some(RegistryResult::Exchange(x))) = client.request_once(&get, Duration::from_secs(10)).await
    else {
        panic!("linearizable lookup of the demo Exchange");
    };

    // A compare-and-set against a revision that is not the record's: refused, with both revisions.
    let stale = x.modified_revision + 100;
    let spec =
        ExchangeSpec { organisation: "x".into(), lease_ttl_secs: bounds::LEASE_TTL_SECS_MAX, ..x.spec };
    let cas = RegistryRequest::UpdateExchange(UpdateExchange {
        domain: None,
        expected_revision: Some(stale),
        spec: spec.clone(),
    });
    match client.request_once(&cas, Duration::from_secs(10)).await {
        Err(ClientError::Refused { error: RegistryError::RevisionMismatch { expected, actual }, .. }) => {
            assert_eq!((expected, actual), (stale, x.modified_revision));
        }
        other => panic!("expected revision-mismatch, got {other:?}"),
    }
    // And with the right revision it applies.
    let cas = RegistryRequest::UpdateExchange(UpdateExchange {
        domain: None,
        expected_revision: Some(x.modified_revision),
        spec,
    });
    let Ok(Some(RegistryResult::Exchange(y))) = client.request_once(&cas, Duration::from_secs(10)).await
    else {
        panic!("CAS with the current revision");
    };
    assert!(y.modified_revision > x.modified_revision);
    client.close().await;

    // Nothing listens on this port: one attempt, Unreachable, long before the retry deadline.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut raw: root_node::profile::RawProfile = toml::from_str(
        &std::fs::read_to_string(opts.dir.join("profiles").join("ix3.demo.lan.toml")).unwrap(),
    )
    .unwrap();
    raw.root_address = Some(free.to_string());
    raw.nameservers.clear();
    let nowhere = Profile::from_raw(raw, &opts.dir.join("profiles")).unwrap();
    let client = Client::connect(&nowhere).unwrap();
    let started = Instant::now();
    let answer = client.request_once(&get, Duration::from_secs(10)).await;
    assert!(matches!(answer, Err(ClientError::Transport(RequestError::Unreachable(_)))), "{answer:?}");
    assert!(started.elapsed() < REQUEST_DEADLINE / 4, "took {:?}", started.elapsed());
    client.close().await;
    cluster.shutdown().await;
}
