//! `restore_into`: an empty data dir seeded from a snapshot file holds the same registry, the
//! new membership at the snapshot's log id and a vote at its term; a non-empty directory, a
//! damaged file and a membership without the node are refused before anything is written.

use std::collections::BTreeMap;
use std::fs;

use openraft::storage::RaftStateMachine;
use proto::raft_types::RootNode;
use store::snapshot::restore::restore_into;
use store::{testkit, StoreError};

use crate::common::Fixture;

fn members(ids: &[u64]) -> BTreeMap<u64, RootNode> {
    ids.iter().map(|i| (*i, RootNode { domain: format!("r{i}.new.example") })).collect()
}

#[tokio::test]
async fn restore_seeds_an_empty_dir_with_the_records_and_a_new_membership() {
    let mut a = Fixture::new();
    for i in 1..=300 {
        a.apply(testkit::mixed_command(i));
    }
    let (path, meta) = a.sm.build_snapshot_file().unwrap();
    let size = fs::metadata(&path).unwrap().len();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut seen = 0u64;
    let report = restore_into(&data, &path, 7, &members(&[7, 8, 9]), &mut |n| seen += n).await.unwrap();
    assert_eq!(seen, 2 * size, "progress covers the verify pass and the rewrite pass");
    assert_eq!(Some(report.last_log_id), meta.last_log_id);
    assert_eq!(report.revision, a.sm.revision());
    assert!(report.snapshot_id.starts_with("restored-"));

    let (log, mut sm) = store::open(&data).unwrap();
    assert_eq!(sm.registry_digest().unwrap(), a.sm.registry_digest().unwrap());
    let (applied, membership) = sm.applied_state().await.unwrap();
    assert_eq!(applied, meta.last_log_id);
    assert_eq!(membership.log_id(), &meta.last_log_id);
    let voters: Vec<u64> = membership.membership().voter_ids().collect();
    assert_eq!(voters, vec![7, 8, 9]);
    let vote = log.vote().unwrap().unwrap();
    assert_eq!((vote.leader_id.term, vote.leader_id.node_id), (meta.last_log_id.unwrap().leader_id.term, 7));
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_membership, membership, "the snapshot a learner would get says the same");
    drop((log, sm));

    // Never over existing data.
    let again = restore_into(&data, &path, 7, &members(&[7]), &mut |_| {}).await;
    assert!(matches!(&again, Err(StoreError::Snapshot(m)) if m.contains("not empty")), "{again:?}");
}

#[tokio::test]
async fn damaged_files_and_foreign_memberships_are_refused_before_writing() {
    let mut a = Fixture::new();
    for i in 1..=50 {
        a.apply(testkit::mixed_command(i));
    }
    let (path, _) = a.sm.build_snapshot_file().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let damaged = tmp.path().join("damaged.icsnap");
    fs::write(&damaged, &bytes).unwrap();
    let data = tmp.path().join("data");
    let r = restore_into(&data, &damaged, 1, &members(&[1]), &mut |_| {}).await;
    assert!(matches!(r, Err(StoreError::Snapshot(_))), "{r:?}");
    assert!(!data.exists(), "nothing created for a damaged file");

    let r = restore_into(&data, &path, 1, &members(&[2, 3]), &mut |_| {}).await;
    assert!(matches!(&r, Err(StoreError::Snapshot(m)) if m.contains("include this node")), "{r:?}");
    assert!(!data.exists());
}
