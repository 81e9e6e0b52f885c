//! `store` — openraft log storage and the registry state machine on RocksDB.
//!
//! ```text
//!  openraft ─▶ RaftLogStorage (RocksDB `meta` + `logs` column families)
//!          └─▶ RaftStateMachine (registry tables, indexes, snapshots)
//! ```
//!
//! Not built yet: this crate is the subject of its own issue.
