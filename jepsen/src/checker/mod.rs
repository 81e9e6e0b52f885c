//! Checkers: linearizability of the register workload (per key) and the set workload's
//! lost/unexpected elements.

pub mod linearizable;
pub mod set;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::Event;
use linearizable::{check_key, operations_by_key, KeyVerdict, DEFAULT_BUDGET};

/// The register workload's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegisterReport {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked (all keys).
    pub operations: usize,
    /// Keys whose sub-history has no linearization, each with a minimal failing witness (as
    /// human-readable lines).
    pub anomalies: BTreeMap<String, Vec<String>>,
    /// Keys the search gave up on (budget).
    pub unknown: Vec<String>,
}

impl RegisterReport {
    /// Every key linearizable.
    pub fn valid(&self) -> bool {
        self.anomalies.is_empty() && self.unknown.is_empty()
    }
}

/// Check the register workload in `history`.
pub fn check_registers(history: &[Event]) -> RegisterReport {
    let by_key = operations_by_key(history);
    let mut report = RegisterReport {
        keys: by_key.len(),
        operations: by_key.values().map(Vec::len).sum(),
        anomalies: BTreeMap::new(),
        unknown: Vec::new(),
    };
    for (key, ops) in by_key {
        match check_key(&ops, DEFAULT_BUDGET) {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Unknown => report.unknown.push(key),
            KeyVerdict::NotLinearizable { witness } => {
                let lines = witness
                    .iter()
                    .map(|o| {
                        let end =
                            if o.return_ns == u64::MAX { "∞".to_owned() } else { o.return_ns.to_string() };
                        format!("process {} [{} .. {}] {:?}", o.process, o.call_ns, end, o.op)
                    })
                    .collect();
                report.anomalies.insert(key, lines);
            }
        }
    }
    report
}
