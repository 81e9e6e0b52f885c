//! Several streams of one domain on one root node: every client process of an Exchange gets its
//! own answers (the root answers over the stream a request arrived on), and one client may have
//! several requests in flight.

use std::sync::Arc;

use proto::stanza::registry::{Consistency, GetExchange, RegistryRequest, RegistryResult};
use root_node::client::Client;
use root_node::dev::{DevCluster, DevOptions};
use root_node::profile::Profile;

fn lookup_ix3() -> RegistryRequest {
    RegistryRequest::GetExchange(GetExchange {
        domain: "ix3.demo.lan".into(),
        consistency: Consistency::Stale,
    })
}

async fn lookups(client: &Client, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if let Ok(Some(RegistryResult::Exchange(x))) = client.request(&lookup_ix3()).await {
            assert_eq!(x.domain, "ix3.demo.lan");
            ok += 1;
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_of_one_domain_each_get_their_own_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profile = Profile::load(&opts.dir.join("profiles").join("ix1.demo.lan.toml")).unwrap();

    // Four separate streams of ix1.demo.lan to the same root node, all asking at once.
    let clients: Vec<Arc<Client>> = (0..4).map(|_| Arc::new(Client::connect(&profile).unwrap())).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for c in &clients {
        let c = c.clone();
        tasks.spawn(async move { lookups(&c, 10).await });
    }
    let counts = tasks.join_all().await;
    assert_eq!(counts, vec![10; 4], "every request of every stream answered");

    // One client, many requests in flight at once.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let c = clients[0].clone();
        tasks.spawn(async move { c.request(&lookup_ix3()).await });
    }
    let answers = tasks.join_all().await;
    let ok = answers.iter().filter(|a| matches!(a, Ok(Some(RegistryResult::Exchange(_))))).count();
    assert_eq!(ok, 16, "{answers:?}");

    for c in clients {
        Arc::try_unwrap(c).ok().unwrap().close().await;
    }
    cluster.shutdown().await;
}
