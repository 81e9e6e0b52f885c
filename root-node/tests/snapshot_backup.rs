//! `icroot snapshot save` pulls a running root's snapshot over S2S (admins only) and
//! `icroot snapshot restore` seeds an empty data dir from it (never a non-empty one); a single
//! node started there forms a new one-member cluster that serves every saved record and takes
//! new writes after them.

use std::time::Duration;

use proto::stanza::envelope::IqType;
use proto::stanza::registry::{Consistency, RegistryRequest, RegistryResult};
use proto::xml::Element;
use raft_xmpp_transport::discovery::LocalDns;
use root_node::client::ClientError;
use root_node::dev::{DevCluster, DevOptions, ADMIN_DOMAIN};
use root_node::provision::{zone, NodePorts, Provisioner};
use root_node::snapshot_wire::{self as wire, Chunk, ChunkRequest, Export, MAX_CHUNK_BYTES};
use root_node::{NodeConfig, RootService};

use crate::cluster_support::{client, icroot, json_of, lookup, register, request, stderr, wait_status};

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshot_save_then_restore_into_an_empty_dir_serves_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("old") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profiles = opts.dir.join("profiles");
    let admin = profiles.join("admin.toml");
    let admin_c = client(&admin);
    // ~8 KiB per record, so the file spans several 256 KiB chunks.
    let domains: Vec<String> = (0..60).map(|i| format!("saved-{i}.backup.lan")).collect();
    let mut saved = Vec::new();
    for d in &domains {
        let mut req = register(d);
        if let RegistryRequest::RegisterExchange(r) = &mut req {
            r.spec.metadata = (0..8)
                .map(|k| (format!("k{k}"), format!("{d}-{k}-").repeat(60)[..1000].to_owned()))
                .collect();
        }
        request(&admin_c, &req, T).await.unwrap();
        saved.push(lookup(&admin_c, d, Consistency::Linearizable).await.unwrap());
    }
    admin_c.close().await;

    // Only administrators may export.
    let file = tmp.path().join("backup.icsnap");
    let ix1 = profiles.join("ix1.demo.lan.toml");
    let out =
        icroot(&["--profile", ix1.to_str().unwrap(), "--json", "snapshot", "save", file.to_str().unwrap()])
            .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    assert!(!file.exists());

    let out =
        icroot(&["--profile", admin.to_str().unwrap(), "--json", "snapshot", "save", file.to_str().unwrap()])
            .await;
    assert!(out.status.success(), "save failed: {}", stderr(&out));
    let report = json_of(&out);
    // 60 Exchanges plus the demo Exchange and Cloud `icroot dev` registers.
    assert_eq!(report["records"].as_u64(), Some(62), "{report}");
    assert!(report["bytes"].as_u64().unwrap() > u64::from(MAX_CHUNK_BYTES), "more than one chunk: {report}");
    assert_eq!(report["bytes"].as_u64(), Some(std::fs::metadata(&file).unwrap().len()));
    assert!(!tmp.path().join("backup.icsnap.partial").exists());
    let out =
        icroot(&["--profile", admin.to_str().unwrap(), "snapshot", "save", file.to_str().unwrap()]).await;
    assert!(!out.status.success() && stderr(&out).contains("--force"), "{}", stderr(&out));
    cluster.shutdown().await;

    // A new cluster directory: its own CA, one node (id 7) that knows nothing of the old one.
    let prov = Provisioner::open(&tmp.path().join("new")).unwrap();
    let (ports, listeners) = NodePorts::bind(7).await.unwrap();
    let dns = LocalDns::start("127.0.0.1:0".parse().unwrap(), zone(&[ports])).await.unwrap();
    let config_path = prov.write_node(&ports, dns.addr(), &[]).unwrap();
    let out = icroot(&[
        "--json",
        "snapshot",
        "restore",
        file.to_str().unwrap(),
        "--config",
        config_path.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    let restored = json_of(&out);
    assert_eq!(restored["records"], report["records"], "{restored}");
    assert_eq!(restored["revision"], report["revision"], "{restored}");
    assert_eq!(restored["members"][0]["id"].as_u64(), Some(7), "{restored}");
    // Never over existing data.
    let out =
        icroot(&["snapshot", "restore", file.to_str().unwrap(), "--config", config_path.to_str().unwrap()])
            .await;
    assert!(!out.status.success() && stderr(&out).contains("not empty"), "{}", stderr(&out));

    let config = NodeConfig::load(&config_path).unwrap();
    let node = RootService::start(config, listeners).await.unwrap();
    let admin = prov.write_profile(ADMIN_DOMAIN, &ports, dns.addr()).unwrap();
    let c = client(&admin);
    let s = wait_status(&c, T, "the restored node leads itself", |s| s.leader == Some(7)).await;
    assert_eq!(s.members.len(), 1, "a new one-member cluster: {s:?}");
    for old in &saved {
        let x = lookup(&c, &old.domain, Consistency::Linearizable).await.unwrap();
        assert_eq!(x.modified_revision, old.modified_revision, "{} restored as it was", old.domain);
        assert_eq!(x.spec.metadata, old.spec.metadata);
    }
    let new = request(&c, &register("fresh.backup.lan"), T).await.unwrap();
    let Some(RegistryResult::Exchange(new)) = new else { panic!("register answers the record: {new:?}") };
    let backup_revision = report["revision"].as_u64().unwrap();
    assert!(new.modified_revision > backup_revision, "new writes continue after the backup's revision");
    c.close().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshot_export_refuses_oversized_unknown_closed_and_non_admin_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profiles = opts.dir.join("profiles");
    let (admin, ix1) = (client(&profiles.join("admin.toml")), client(&profiles.join("ix1.demo.lan.toml")));
    let rt = Duration::from_secs(20);
    let condition = |r: Result<Option<Element>, ClientError>| match r {
        Err(ClientError::Refused { condition, .. }) => condition,
        other => panic!("expected a refusal, got {other:?}"),
    };

    assert_eq!(condition(ix1.iq(IqType::Set, wire::open_request(), rt).await), "forbidden");
    let export =
        Export::parse(&admin.iq(IqType::Set, wire::open_request(), rt).await.unwrap().unwrap()).unwrap();
    assert!(export.size > 0 && export.last_log.is_some(), "{export:?}");
    let chunk =
        |id: &str, offset: u64, length: u32| ChunkRequest { id: id.into(), offset, length }.to_element();
    // Not even admins read past the bounds or outside an open export.
    let big = chunk(&export.id, 0, MAX_CHUNK_BYTES + 1);
    assert_eq!(condition(admin.iq(IqType::Get, big, rt).await), "not-acceptable");
    let past = chunk(&export.id, export.size + 1, 16);
    assert_eq!(condition(admin.iq(IqType::Get, past, rt).await), "not-acceptable");
    assert_eq!(condition(admin.iq(IqType::Get, chunk("nope", 0, 16), rt).await), "item-not-found");
    assert_eq!(condition(ix1.iq(IqType::Get, chunk(&export.id, 0, 16), rt).await), "forbidden");
    // The last bytes of the file come back short, checksummed.
    let tail = admin.iq(IqType::Get, chunk(&export.id, export.size - 10, 4096), rt).await.unwrap().unwrap();
    assert_eq!(Chunk::parse(&tail).unwrap().data.len(), 10);
    // A wrong iq type is a bad request; after close the export is gone.
    assert_eq!(condition(admin.iq(IqType::Get, wire::open_request(), rt).await), "bad-request");
    admin.iq(IqType::Set, wire::close_request(&export.id), rt).await.unwrap();
    assert_eq!(condition(admin.iq(IqType::Get, chunk(&export.id, 0, 16), rt).await), "item-not-found");
    admin.close().await;
    ix1.close().await;
    cluster.shutdown().await;
}
