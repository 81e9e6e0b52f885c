//! openraft's own storage test suite over a temporary directory.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use proto::raft_types::RaftTypes;
use store::{LogStore, StateMachineStore};
use tempfile::TempDir;

struct TempStoreBuilder;

impl StoreBuilder<RaftTypes, LogStore, StateMachineStore, TempDir> for TempStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let (log, sm) = store::open(dir.path()).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(TempStoreBuilder).unwrap();
}
