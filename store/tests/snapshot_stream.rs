//! Snapshots through openraft's API stream as files: the builder hands over the file, a
//! receiver gets chunks written into a temp file that becomes the current snapshot.

use std::path::Path;

use openraft::storage::RaftStateMachine;
use openraft::RaftSnapshotBuilder;
use proto::raft_types::RaftTypes;
use store::snapshot::format::{SnapshotHeader, SnapshotWriter};
use store::{testkit, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::Fixture;

/// Below openraft's default `snapshot_max_chunk_size`, so every test snapshot spans chunks.
const CHUNK_BYTES: usize = 512;

fn populated(n: u64) -> Fixture {
    let mut f = Fixture::new();
    for i in 1..=n {
        f.apply(testkit::mixed_command(i));
    }
    f
}

/// File names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Send `snap` to `to` the way openraft's chunked transport does; the bytes sent.
async fn send_in_chunks(
    snap: openraft::Snapshot<RaftTypes>,
    to: &mut Fixture,
    flip_byte_at: Option<usize>,
) -> (Vec<u8>, Result<(), openraft::StorageError<u64>>) {
    let mut from = snap.snapshot;
    let mut rx = to.sm.begin_receiving_snapshot().await.unwrap();
    let mut sent = Vec::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = from.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        let mut chunk = buf[..n].to_vec();
        if let Some(at) = flip_byte_at.filter(|at| (sent.len()..sent.len() + n).contains(at)) {
            chunk[at - sent.len()] ^= 0x40;
        }
        rx.write_all(&chunk).await.unwrap();
        sent.extend_from_slice(&buf[..n]);
    }
    rx.shutdown().await.unwrap();
    (sent, to.sm.install_snapshot(&snap.meta, rx).await)
}

#[tokio::test]
async fn a_snapshot_received_in_chunks_becomes_the_current_snapshot() {
    let a = populated(400);
    let snap = a.sm.clone().get_snapshot_builder().await.build_snapshot().await.unwrap();
    let meta = snap.meta.clone();
    let mut b = populated(5);
    let (sent, res) = send_in_chunks(snap, &mut b, None).await;
    res.unwrap();
    assert!(sent.len() > 4 * CHUNK_BYTES, "only {} bytes: not a multi-chunk test", sent.len());
    assert_eq!(a.sm.registry_digest().unwrap(), b.sm.registry_digest().unwrap());
    assert_eq!(b.sm.meta().last_applied, meta.last_log_id);
    // The temp file was moved into place: one snapshot file, no leftovers.
    let dir = b.dir.path().join("snapshots");
    assert_eq!(names(&dir), vec![format!("{}.icsnap", meta.snapshot_id)]);
    // The current snapshot is the bytes the leader sent, readable again for the next follower.
    let mut current = b.sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, meta);
    let mut again = Vec::new();
    current.snapshot.read_to_end(&mut again).await.unwrap();
    assert_eq!(again, sent);
}

#[tokio::test]
async fn a_damaged_received_snapshot_is_refused_and_its_temp_file_removed() {
    let a = populated(300);
    let snap = a.sm.clone().get_snapshot_builder().await.build_snapshot().await.unwrap();
    let mut b = populated(5);
    let before = b.sm.registry_digest().unwrap();
    let dir = b.dir.path().join("snapshots");
    let names_before = if dir.exists() { names(&dir) } else { Vec::new() };
    let (_, res) = send_in_chunks(snap, &mut b, Some(3 * CHUNK_BYTES + 17)).await;
    assert!(res.is_err(), "a flipped byte must fail verification");
    assert_eq!(b.sm.registry_digest().unwrap(), before);
    assert_eq!(names(&dir), names_before, "the refused file is gone, nothing else changed");
}

#[tokio::test]
async fn a_restarted_store_deletes_unfinished_receives() {
    let mut f = populated(3);
    let dir = f.dir.path().join("snapshots");
    let mut first = f.sm.begin_receiving_snapshot().await.unwrap();
    first.write_all(b"partial").await.unwrap();
    first.flush().await.unwrap();
    let _second = f.sm.begin_receiving_snapshot().await.unwrap();
    // openraft dropped the first stream for the second: only the second file is kept.
    let tmp: Vec<_> = names(&dir).into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert_eq!(tmp.len(), 1, "{tmp:?}");
    let Fixture { dir: data, log, sm, .. } = f;
    drop((log, sm, first, _second));
    let (_l, _sm) = store::open(data.path()).unwrap();
    assert!(names(&dir).iter().all(|n| !n.ends_with(".tmp")), "{:?}", names(&dir));
}

#[test]
fn a_snapshot_id_that_is_not_a_plain_file_name_is_refused() {
    let b = populated(5);
    let before = b.sm.registry_digest().unwrap();
    let path = b.dir.path().join("in.icsnap.in");
    for id in ["../escape", "a/b", ".hidden", ""] {
        let meta = openraft::SnapshotMeta { snapshot_id: id.into(), ..Default::default() };
        let w = SnapshotWriter::new(Vec::new(), &SnapshotHeader::from_raft(&meta, 0)).unwrap();
        std::fs::write(&path, w.finish().unwrap().0).unwrap();
        let err = b.sm.install_snapshot_file(&path).unwrap_err();
        assert!(
            matches!(&err, StoreError::Snapshot(m) if m.contains("unusable snapshot id")),
            "{id:?}: {err}"
        );
        assert_eq!(b.sm.registry_digest().unwrap(), before, "{id:?} changed the registry");
    }
}
