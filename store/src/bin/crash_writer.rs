//! Crash-safety helper: appends and applies the mixed workload to the store in `<dir>` until
//! killed, printing `acked <index>` after each append is reported durable. Every 200 entries
//! it builds a snapshot and purges the log up to it, so kills land in those paths too.
//!
//! Usage: `store-crash-writer <dir>`. Picks up where the last (killed) run stopped, first
//! applying log entries the state machine had not yet applied, as openraft would.

use std::io::Write;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;
use store::testkit;

const SNAPSHOT_EVERY: u64 = 200;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: store-crash-writer <dir>")?;
    let (mut log, sm) = store::open(&dir)?;
    let state = log.get_log_state().await?;
    let applied = sm.meta().last_applied.map_or(0, |l| l.index);
    let last = state.last_log_id.map_or(0, |l| l.index);
    let pending = log.try_get_log_entries(applied + 1..=last).await?;
    sm.apply_entries(pending)?;
    let mut out = std::io::stdout().lock();
    for i in last + 1.. {
        let entry = testkit::entry(i, testkit::mixed_command(i));
        log.blocking_append([entry.clone()]).await?;
        writeln!(out, "acked {i}")?;
        out.flush()?;
        sm.apply_entries([entry])?;
        if i % SNAPSHOT_EVERY == 0 {
            let (_, meta) = sm.build_snapshot_file()?;
            if let Some(upto) = meta.last_log_id {
                log.purge(upto).await?;
            }
        }
    }
    Ok(())
}
