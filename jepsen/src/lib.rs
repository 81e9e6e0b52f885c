//! `jepsen` — partition and failover testing of icroot for testers: workloads against a real
//! cluster, nemeses, a recorded history, and checkers that decide whether anything was lost or
//! any read was stale.
//!
//! ```text
//!  clients (S2S, as admins) ─▶ icroot nodes in netns ◀─ nemesis (nft partitions, kill, pause, member)
//!        │ invoke / ok / fail / info
//!        ▼
//!  history.jsonl ─▶ checker::{linearizable (per key, WGL), set (lost / unexpected)} ─▶ report
//! ```
//!
//! `cargo run -p jepsen -- test …` (see jepsen/README.md) drives [`runner::run`].

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod netns;
pub mod plot;
pub mod report;
pub mod runner;
pub mod workload;
