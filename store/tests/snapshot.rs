//! Snapshot files: build → install gives an identical registry; damaged files are refused.

use std::fs;

use openraft::storage::RaftStateMachine;
use openraft::RaftSnapshotBuilder;
use proto::stanza::registry::Search;
use store::snapshot::format::{self, Item, SnapshotHeader, SnapshotReader, SnapshotWriter};
use store::testkit;
use store::StoreError;

use crate::common::Fixture;

fn populated(n: u64) -> Fixture {
    let mut f = Fixture::new();
    for i in 1..=n {
        f.apply(testkit::mixed_command(i));
    }
    f
}

#[test]
fn build_then_install_gives_an_identical_registry() {
    let a = populated(800);
    let (path, meta) = a.sm.build_snapshot_file().unwrap();
    assert_eq!(meta.last_log_id.map(|l| l.index), Some(800));
    // Writes after the build do not leak into the file (point-in-time).
    let mut a = a;
    let digest_at_build = a.sm.registry_digest().unwrap();
    a.apply(testkit::mixed_command(801));
    assert_ne!(a.sm.registry_digest().unwrap(), digest_at_build);

    let b = populated(3); // something to be replaced
    let installed = b.sm.install_snapshot_file(&path).unwrap();
    assert_eq!(installed, meta);
    assert_eq!(b.sm.registry_digest().unwrap(), digest_at_build);
    assert_eq!(b.sm.meta().last_applied, meta.last_log_id);
    let q = Search { limit: 200, ..Search::default() };
    let mut a2 = populated(800);
    assert_eq!(a2.sm.search(&q).unwrap(), b.sm.search(&q).unwrap());
    // The installed node's feed starts after the snapshot's revision.
    let rev = b.sm.revision();
    assert!(matches!(b.sm.changes_since(0, 10), Err(StoreError::Compacted { oldest }) if oldest == rev + 1));
    // Applying the same next entry on both keeps them identical.
    a2.apply(testkit::mixed_command(801));
    let e = testkit::entry(801, testkit::mixed_command(801));
    b.sm.apply_entries([e]).unwrap();
    assert_eq!(a2.sm.registry_digest().unwrap(), b.sm.registry_digest().unwrap());
}

#[tokio::test]
async fn openraft_snapshot_round_trip_through_bytes() {
    let mut a = populated(300);
    let snap = a.sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
    let mut b = Fixture::new();
    let mut rx = b.sm.begin_receiving_snapshot().await.unwrap();
    *rx = *snap.snapshot;
    b.sm.install_snapshot(&snap.meta, rx).await.unwrap();
    assert_eq!(a.sm.registry_digest().unwrap(), b.sm.registry_digest().unwrap());
    assert_eq!(b.sm.get_current_snapshot().await.unwrap().unwrap().meta, snap.meta);
    // Restart: the installed state is on disk.
    let Fixture { dir, log, sm, .. } = b;
    let digest = sm.registry_digest().unwrap();
    drop((log, sm));
    let (_l, sm) = store::open(dir.path()).unwrap();
    assert_eq!(sm.registry_digest().unwrap(), digest);
    let _ = &mut a;
}

#[test]
fn damaged_snapshot_files_are_refused_before_anything_changes() {
    let a = populated(200);
    let (path, _) = a.sm.build_snapshot_file().unwrap();
    let good = fs::read(&path).unwrap();
    let b = populated(50);
    let before = b.sm.registry_digest().unwrap();
    let bad = b.dir.path().join("bad.icsnap.in");
    for (what, bytes) in [
        ("flipped byte", {
            let mut v = good.clone();
            let mid = v.len() / 2;
            v[mid] ^= 0x40;
            v
        }),
        ("truncated", good[..good.len() - 10].to_vec()),
        ("trailing garbage", [good.as_slice(), b"x"].concat()),
        ("bad magic", [b"NOTSNAP!".as_slice(), &good[8..]].concat()),
    ] {
        fs::write(&bad, &bytes).unwrap();
        let err = b.sm.install_snapshot_file(&bad).unwrap_err();
        assert!(matches!(err, StoreError::Snapshot(_)), "{what}: {err}");
        assert_eq!(b.sm.registry_digest().unwrap(), before, "{what} changed the registry");
    }
}

#[test]
fn format_streams_records_and_checks_counts() {
    let meta = openraft::SnapshotMeta { snapshot_id: "t".into(), ..Default::default() };
    let header = SnapshotHeader::from_raft(&meta, 9);
    let mut w = SnapshotWriter::new(Vec::new(), &header).unwrap();
    let x = testkit::exchange("ex-a.example", &["ai"], &["eu-west"]);
    let c = testkit::cloud("a/1", "ex-a.example", &["gpu"], &[]);
    w.write_item(Item::Exchange(x.clone())).unwrap();
    w.write_item(Item::Cloud(c.clone())).unwrap();
    let (bytes, count) = w.finish().unwrap();
    assert_eq!(count, 2);
    assert_eq!(&bytes[..8], format::MAGIC);
    let mut r = SnapshotReader::new(bytes.as_slice()).unwrap();
    assert_eq!(r.header(), &header);
    assert_eq!(r.next_item().unwrap(), Some(Item::Exchange(x)));
    assert_eq!(r.next_item().unwrap(), Some(Item::Cloud(c)));
    assert_eq!(r.next_item().unwrap(), None);
    // A frame length beyond the bound is refused without allocating it.
    let mut huge = bytes[..8 + 4].to_vec();
    huge.extend_from_slice(&(format::MAX_FRAME_BYTES + 1).to_be_bytes());
    assert!(matches!(SnapshotReader::new(huge.as_slice()), Err(StoreError::Snapshot(_))));
    // A newer version is refused by name.
    let mut v2 = bytes.clone();
    v2[8..12].copy_from_slice(&2u32.to_be_bytes());
    assert!(matches!(format::verify(v2.as_slice()), Err(StoreError::Snapshot(m)) if m.contains("version 2")));
}
