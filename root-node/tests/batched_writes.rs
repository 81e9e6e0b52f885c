//! The leader coalesces concurrent writes into shared Raft entries (root-node/src/propose.rs):
//! many Exchanges writing at once each get their own record back (never another's), every
//! write is applied once with its own revision, fewer log entries than writes were used, and
//! concurrent linearizable reads all see every write acknowledged before they began.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use proto::stanza::registry::{
    Consistency, ExchangeSpec, GetExchange, RegisterExchange, RegistryRequest, RegistryResult, UpdateExchange,
};
use raft_xmpp_transport::pki::{write_file, DevCa};
use root_node::client::Client;
use root_node::dev::{DevCluster, DevOptions};
use root_node::profile::Profile;

use crate::cluster_support::{metric, request, status};

const WRITERS: usize = 48;

fn spec(domain: &str, seq: u64) -> ExchangeSpec {
    ExchangeSpec {
        organisation: "batch test".into(),
        regions: vec!["eu".into()],
        capabilities: vec!["compute".into()],
        endpoints: vec![format!("xmpp:{domain}")],
        metadata: [("seq".to_owned(), seq.to_string())].into_iter().collect(),
        lease_ttl_secs: 600,
        ..Default::default()
    }
}

async fn clients(dir: &std::path::Path) -> Vec<Arc<Client>> {
    let pki = dir.join("pki");
    let ca = DevCa::load(&pki.join("ca.pem"), &pki.join("ca.key")).unwrap();
    let template = Profile::load(&dir.join("profiles/ix1.demo.lan.toml")).unwrap();
    (0..WRITERS)
        .map(|i| {
            let domain = format!("batch-{i}.demo.lan");
            let (_, pem) = ca.issue(&domain).unwrap();
            let (cert, key) = (pki.join(format!("{domain}.pem")), pki.join(format!("{domain}.key")));
            write_file(&cert, &pem.cert_pem, 0o644).unwrap();
            write_file(&key, &pem.key_pem, 0o600).unwrap();
            let p = Profile { domain, cert, key, ..template.clone() };
            Arc::new(Client::connect(&p).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_entries_and_each_gets_its_own_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let cluster = DevCluster::start(&DevOptions { nodes: 3, dir: dir.clone() }).await.unwrap();
    let clients = clients(&dir).await;
    let limit = Duration::from_secs(20);
    for c in &clients {
        let req =
            RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec: spec(c.domain(), 0) });
        request(c, &req, limit).await.unwrap();
    }
    let before = status(&clients[0]).await.unwrap();

    // Three rounds of every writer at once, each round's writes sent together.
    let mut revisions = BTreeSet::new();
    for round in 1..=3u64 {
        let mut tasks = tokio::task::JoinSet::new();
        for c in &clients {
            let c = Arc::clone(c);
            tasks.spawn(async move {
                let domain = c.domain().to_owned();
                let req = RegistryRequest::UpdateExchange(UpdateExchange {
                    domain: None,
                    expected_revision: None,
                    spec: spec(&domain, round),
                });
                let got = request(&c, &req, Duration::from_secs(20)).await;
                (domain, got)
            });
        }
        while let Some(r) = tasks.join_next().await {
            let (domain, got) = r.unwrap();
            match got {
                Ok(Some(RegistryResult::Exchange(x))) => {
                    assert_eq!(x.domain, domain, "an answer went to the wrong writer");
                    assert_eq!(x.spec.metadata.get("seq"), Some(&round.to_string()), "{domain}: {x:?}");
                    assert!(revisions.insert(x.modified_revision), "revision {} twice", x.modified_revision);
                }
                other => panic!("{domain}: {other:?}"),
            }
        }
    }
    assert_eq!(revisions.len(), 3 * WRITERS);

    // Every write applied exactly once: the revision moved by one per write.
    let after = status(&clients[0]).await.unwrap();
    let first = *revisions.first().unwrap();
    assert_eq!(*revisions.last().unwrap(), first + 3 * WRITERS as u64 - 1, "revisions are contiguous");
    // ... in fewer log entries than writes (each round's writes arrive together).
    let entries = after.commit_index - before.commit_index;
    assert!(
        entries < 3 * WRITERS as u64,
        "{entries} entries for {} writes: nothing was batched",
        3 * WRITERS
    );

    // Concurrent linearizable reads (sharing read-index rounds), a third through each node, all
    // see the last round: followers ask the leader for its read index and read locally.
    let readers = spread_clients(&dir, &cluster).await;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in readers.iter().enumerate() {
        let c = Arc::clone(c);
        let target = format!("batch-{}.demo.lan", (i + 1) % WRITERS);
        tasks.spawn(async move {
            let req = RegistryRequest::GetExchange(GetExchange {
                domain: target,
                consistency: Consistency::Linearizable,
            });
            request(&c, &req, Duration::from_secs(20)).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(Some(RegistryResult::Exchange(x))) => {
                assert_eq!(x.spec.metadata.get("seq"), Some(&"3".to_owned()), "{x:?}")
            }
            other => panic!("{other:?}"),
        }
    }
    // Followers served theirs from their own state machine after a read-index round.
    let follower_rounds: u64 = cluster
        .nodes()
        .iter()
        .map(|n| metric(n.admin_addr(), "icroot_read_index_rounds_total{role=\"follower\"}"))
        .sum();
    assert!(follower_rounds > 0, "no follower served a linearizable read itself");
}

/// Clients of the batch domains whose streams go to node `i % 3` (the bench's --spread).
async fn spread_clients(dir: &std::path::Path, cluster: &DevCluster) -> Vec<Arc<Client>> {
    let pki = dir.join("pki");
    let template = Profile::load(&dir.join("profiles/ix1.demo.lan.toml")).unwrap();
    let roots: Vec<(String, Option<(String, u16)>)> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let a = n.config().listen_starttls[0];
            (n.config().domain.clone(), Some((a.ip().to_string(), a.port())))
        })
        .collect();
    (0..WRITERS)
        .map(|i| {
            let domain = format!("batch-{i}.demo.lan");
            let (cert, key) = (pki.join(format!("{domain}.pem")), pki.join(format!("{domain}.key")));
            let (root_domain, root_address) = roots[i % roots.len()].clone();
            let p = Profile {
                domain,
                cert,
                key,
                root_domain,
                root_address,
                fallback_roots: vec![],
                ..template.clone()
            };
            Arc::new(Client::connect(&p).unwrap())
        })
        .collect()
}
