//! Crash safety: a child process appends and applies until SIGKILLed at a random point; after
//! every kill the store must hold every acknowledged entry, and its state machine must equal a
//! fresh replay of (snapshot +) log up to its last applied index.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use openraft::storage::RaftLogStorage;
use openraft::RaftLogReader;
use rand::{Rng, SeedableRng};
use store::testkit;

const ITERATIONS: usize = 20;
const SEED: u64 = 0x1c_2007;

/// Run the writer in `dir` until it has acknowledged `acks` more entries, then SIGKILL it
/// (it keeps writing meanwhile, so the kill lands anywhere in its loop). The last acked index.
fn run_and_kill(dir: &std::path::Path, acks: usize) -> Option<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = None;
    for _ in 0..acks {
        let line = lines.next().expect("writer exited early").unwrap();
        last = Some(line.strip_prefix("acked ").unwrap().parse::<u64>().unwrap());
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    // Lines printed between our last read and the kill were acknowledged too.
    for line in lines.map_while(Result::ok) {
        last = Some(line.strip_prefix("acked ").unwrap().parse::<u64>().unwrap());
    }
    last
}

/// Check the store in `dir` after a kill; the number of entries in its log.
async fn check(dir: &std::path::Path, acked: u64) {
    let (mut log, sm) = store::open(dir).unwrap();
    let state = log.get_log_state().await.unwrap();
    let last = state.last_log_id.map_or(0, |l| l.index);
    let purged = state.last_purged_log_id.map_or(0, |l| l.index);
    assert!(last >= acked, "acknowledged entry {acked} lost: log ends at {last}");
    let entries = log.try_get_log_entries(purged + 1..=last).await.unwrap();
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (purged + 1..=last).collect::<Vec<_>>(), "log has a gap");
    for e in &entries {
        assert_eq!(*e, testkit::entry(e.log_id.index, testkit::mixed_command(e.log_id.index)));
    }
    let applied = sm.meta().last_applied.map_or(0, |l| l.index);
    assert!(applied <= last && applied >= purged, "applied {applied} outside log [{purged}, {last}]");

    // Replay: the current snapshot (if any) plus the log up to `applied` into a fresh store.
    let replay_dir = tempfile::tempdir().unwrap();
    let (_l2, fresh) = store::open(replay_dir.path()).unwrap();
    let mut from = 1;
    let snap_dir = dir.join("snapshots");
    let snap = std::fs::read_dir(&snap_dir)
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "icsnap"))
        })
        .ok()
        .flatten();
    if let Some(path) = snap {
        let meta = fresh.install_snapshot_file(&path).unwrap();
        from = meta.last_log_id.map_or(0, |l| l.index) + 1;
        assert!(purged < from, "purged past the snapshot ({purged} ≥ {from})");
    }
    let replay = log.try_get_log_entries(from..=applied).await.unwrap();
    fresh.apply_entries(replay).unwrap();
    assert_eq!(fresh.meta().revision, sm.meta().revision);
    assert_eq!(
        fresh.registry_digest().unwrap(),
        sm.registry_digest().unwrap(),
        "state machine diverged from its log"
    );
}

#[tokio::test]
async fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut acked = 0;
    for _ in 0..ITERATIONS {
        let n = rng.gen_range(1..400);
        if let Some(last) = run_and_kill(dir.path(), n) {
            assert!(last > acked, "writer went backwards");
            acked = last;
        }
        check(dir.path(), acked).await;
    }
    assert!(acked > 1000, "the run must cross several snapshot/purge points ({acked})");
}
