//! Helpers shared by the test modules.

use proto::record::{command, command_response, Applied, Command, CommandResponse, ErrorCode};
use store::{testkit, LogStore, StateMachineStore};
use tempfile::TempDir;

/// A fresh store in a temporary directory (dropped with the directory).
pub struct Fixture {
    pub dir: TempDir,
    pub log: LogStore,
    pub sm: StateMachineStore,
    next_index: u64,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (log, sm) = store::open(dir.path()).unwrap();
        Fixture { dir, log, sm, next_index: 1 }
    }

    /// Apply `cmd` as the next log entry; its response.
    pub fn apply(&mut self, cmd: Command) -> CommandResponse {
        let e = testkit::entry(self.next_index, cmd);
        self.next_index += 1;
        self.sm.apply_entries([e]).unwrap().remove(0)
    }

    /// Apply `kind` by `actor` at `now_ms`, expecting success.
    pub fn ok(&mut self, actor: &str, now_ms: u64, kind: command::Kind) -> Applied {
        applied(self.apply(testkit::command(actor, now_ms, kind)))
    }

    /// Apply `kind` by `actor`, expecting a refusal; its code.
    pub fn refused(&mut self, actor: &str, kind: command::Kind) -> proto::record::CommandError {
        match self.apply(testkit::command(actor, 0, kind)).result {
            Some(command_response::Result::Error(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

pub fn applied(r: CommandResponse) -> Applied {
    match r.result {
        Some(command_response::Result::Applied(a)) => a,
        other => panic!("expected applied, got {other:?}"),
    }
}

pub fn code(e: &proto::record::CommandError) -> ErrorCode {
    ErrorCode::try_from(e.code).unwrap()
}
