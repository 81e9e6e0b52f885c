//! The acceptance walk of ../shared/acceptance/dev-cluster.sh, in process: `icroot dev` comes
//! up, status shows three voters and one leader, an Exchange registers, looks itself up and is
//! found by capability, another Exchange is refused when it writes the first one's record;
//! writes sent to a follower are forwarded; a restart on the same directory resumes the data.

use std::path::Path;

use clap::Parser;
use proto::stanza::registry::{RegistryError, RegistryResult, SearchHit};
use root_node::cli::{run_client, Cli};
use root_node::client::{Client, ClientError};
use root_node::dev::{DevCluster, DevOptions};
use root_node::profile::{Profile, RawProfile};

async fn cli(profile: &Path, args: &[&str]) -> Result<Option<RegistryResult>, ClientError> {
    let argv = ["icroot", "--profile", profile.to_str().unwrap()].into_iter().chain(args.iter().copied());
    let parsed = Cli::try_parse_from(argv).unwrap();
    let client = Client::connect(&Profile::load(profile).unwrap()).unwrap();
    let r = run_client(&client, &parsed.command).await;
    client.close().await;
    r
}

fn exchange(r: Option<RegistryResult>) -> proto::stanza::registry::ExchangeRecord {
    match r {
        Some(RegistryResult::Exchange(x)) => x,
        other => panic!("expected an exchange record, got {other:?}"),
    }
}

/// A copy of `profile` addressed to another root node.
fn retarget(profile: &Path, domain: &str, address: &str, out: &Path) {
    let mut raw: RawProfile = toml::from_str(&std::fs::read_to_string(profile).unwrap()).unwrap();
    raw.root_domain = domain.into();
    raw.root_address = Some(address.into());
    std::fs::write(out, toml::to_string(&raw).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dev_cluster_register_lookup_search_refuse_forward_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(opts.dir.join("ready")).unwrap()).unwrap();
    assert_eq!(ready["nodes"].as_array().unwrap().len(), 3);
    assert!(ready["leader"]["domain"].as_str().unwrap().ends_with(".icroot.lan"));
    let profiles = opts.dir.join("profiles");
    let (admin, a, b) =
        (profiles.join("admin.toml"), profiles.join("ix1.demo.lan.toml"), profiles.join("ix2.demo.lan.toml"));

    let Some(RegistryResult::Cluster(status)) = cli(&admin, &["status"]).await.unwrap() else {
        panic!("status answers a cluster view")
    };
    assert_eq!(status.members.len(), 3);
    let leaders: Vec<_> = status.members.iter().filter(|m| Some(m.node_id) == status.leader).collect();
    assert_eq!(leaders.len(), 1, "{status:?}");
    assert!(status.members.iter().all(|m| m.role.as_str() != "learner"), "three voters: {status:?}");

    let reg = exchange(
        cli(&a, &["exchange", "register", "--region", "eu-west", "--capability", "compute"]).await.unwrap(),
    );
    assert_eq!(reg.domain, "ix1.demo.lan");
    let looked = exchange(cli(&a, &["lookup", "exchange", "ix1.demo.lan"]).await.unwrap());
    assert_eq!(looked.spec.regions, vec!["eu-west".to_owned()]);
    let Some(RegistryResult::SearchResults(found)) =
        cli(&b, &["search", "--capability", "compute"]).await.unwrap()
    else {
        panic!("search answers a page")
    };
    assert!(found.hits.iter().any(|h| matches!(h, SearchHit::Exchange(x) if x.domain == "ix1.demo.lan")));
    assert!(
        !found.hits.iter().any(|h| matches!(h, SearchHit::Exchange(x) if x.domain == "ix3.demo.lan")),
        "ix3 offers storage only"
    );

    let err =
        cli(&b, &["exchange", "update", "--domain", "ix1.demo.lan", "--region", "evil"]).await.unwrap_err();
    // Naming another Exchange's domain is for administrators only (docs/protocol.md §5.7).
    match &err {
        ClientError::Refused { condition, error: RegistryError::NotAdmin } => {
            assert_eq!(condition, "forbidden")
        }
        other => panic!("expected forbidden/not-admin, got {other:?}"),
    }
    let after = exchange(cli(&a, &["lookup", "exchange", "ix1.demo.lan"]).await.unwrap());
    assert_eq!(after.spec.regions, vec!["eu-west".to_owned()], "the foreign write did not take effect");
    assert_eq!(after.modified_revision, reg.modified_revision);

    // Through a follower: the write is forwarded to the leader and acted on as ix2 itself.
    let leader = status.leader.unwrap();
    let follower = ready["nodes"].as_array().unwrap().iter().find(|n| n["id"] != leader).unwrap();
    let via = tmp.path().join("ix2-via-follower.toml");
    retarget(&b, follower["domain"].as_str().unwrap(), follower["address"].as_str().unwrap(), &via);
    let ix2 = exchange(
        cli(&via, &["exchange", "register", "--region", "us-east", "--capability", "network"]).await.unwrap(),
    );
    assert_eq!(ix2.domain, "ix2.demo.lan");
    let err = cli(&via, &["exchange", "deregister", "--domain", "ix1.demo.lan"]).await.unwrap_err();
    assert!(matches!(err, ClientError::Refused { error: RegistryError::NotAdmin, .. }), "{err:?}");
    let seen = exchange(cli(&via, &["lookup", "exchange", "ix2.demo.lan"]).await.unwrap());
    assert_eq!(seen.modified_revision, ix2.modified_revision, "linearizable read through the follower");

    // The admin may change anyone's record.
    let by_admin = exchange(
        cli(&admin, &["exchange", "update", "--domain", "ix1.demo.lan", "--region", "eu-north"])
            .await
            .unwrap(),
    );
    assert_eq!(by_admin.spec.regions, vec!["eu-north".to_owned()]);

    cluster.shutdown().await;
    assert!(!opts.dir.join("ready").exists(), "a clean stop removes the ready file");

    // Resume from disk: no re-bootstrap, the records are still there.
    let cluster = DevCluster::start(&opts).await.unwrap();
    let again = exchange(cli(&a, &["lookup", "exchange", "ix1.demo.lan"]).await.unwrap());
    assert_eq!(again.spec.regions, vec!["eu-north".to_owned()]);
    let ix2_again = exchange(cli(&b, &["lookup", "exchange", "ix2.demo.lan"]).await.unwrap());
    assert_eq!(ix2_again.modified_revision, ix2.modified_revision);
    cluster.shutdown().await;
}
