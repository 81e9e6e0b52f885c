//! Log storage behaviour beyond openraft's suite: durability across reopen.

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;
use store::testkit;

#[tokio::test]
async fn vote_entries_and_purge_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _sm) = store::open(dir.path()).unwrap();
        log.save_vote(&openraft::Vote::new_committed(3, 2)).await.unwrap();
        let entries: Vec<_> = (1..=20).map(|i| testkit::entry(i, testkit::mixed_command(i))).collect();
        log.blocking_append(entries).await.unwrap();
        log.purge(openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), 5)).await.unwrap();
        log.truncate(openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), 18)).await.unwrap();
    }
    let (mut log, _sm) = store::open(dir.path()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(openraft::Vote::new_committed(3, 2)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(5));
    assert_eq!(state.last_log_id.map(|l| l.index), Some(17));
    let got = log.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(), (6..=17).collect::<Vec<_>>());
    assert_eq!(got[0], testkit::entry(6, testkit::mixed_command(6)));
}
