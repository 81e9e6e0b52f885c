//! `jepsen` — partition and failover testing of icroot for testers: workloads against a real
//! cluster, nemeses, a recorded history, and checkers that decide whether anything was lost or
//! any read was stale.
//!
//! ```text
//!  clients (S2S, as Exchanges) ─▶ icroot cluster ◀─ nemesis (partitions, kills, pauses, faults)
//!        │ invoke / ok / fail / info
//!        ▼
//!  history.jsonl ─▶ checker::{linearizable (per key, WGL), set (lost / unexpected)} ─▶ report
//! ```
//!
//! Built so far: the history format and both checkers. The runner and nemeses arrive once the
//! `icroot` binary exists (see the jepsen issue).

pub mod checker;
pub mod history;
