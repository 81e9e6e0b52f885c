//! A linearizability checker for register histories: the Wing–Gong search with Lowe's memo of
//! (linearized set, state), run separately per key (P-compositionality: a history of independent
//! registers is linearizable iff each register's sub-history is).
//!
//! Indeterminate operations (`info`) get a return time of +∞: they may be linearized anywhere
//! after their invocation, including after everything else, which is the same as never having
//! happened. Failed operations (`fail`) certainly did not happen and are dropped; so are reads
//! whose result is unknown (a read has no effect).

use std::collections::{BTreeMap, HashSet};

use crate::history::{Event, EventType, Op};

/// A register operation as the checker sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegOp {
    /// Read that returned this value.
    Read(Option<String>),
    /// Unconditional write.
    Write(String),
    /// Compare-and-set; `known_ok` when the client saw it succeed, false when the outcome is unknown.
    Cas {
        /// Value required.
        expected: Option<String>,
        /// Value written.
        new: String,
        /// The client saw success.
        known_ok: bool,
    },
}

/// One complete operation with its real-time interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client that ran it.
    pub process: u64,
    /// Invocation time.
    pub call_ns: u64,
    /// Completion time; `u64::MAX` when unknown (`info`).
    pub return_ns: u64,
    /// What it did.
    pub op: RegOp,
}

/// The register model: the state after `op` from `state`, or `None` if `op` cannot happen there.
fn step(state: &Option<String>, op: &RegOp) -> Option<Option<String>> {
    match op {
        RegOp::Read(v) => (v == state).then(|| state.clone()),
        RegOp::Write(v) => Some(Some(v.clone())),
        RegOp::Cas { expected, new, known_ok } => {
            if expected == state {
                Some(Some(new.clone()))
            } else if *known_ok {
                None
            } else {
                // It ran and found another value: no effect, still consistent.
                Some(state.clone())
            }
        }
    }
}

/// The result of checking one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    /// A linearization exists.
    Linearizable,
    /// None exists; `witness` is a small sub-history that still has none.
    NotLinearizable {
        /// A minimal failing set of operations (removing any one makes it linearizable).
        witness: Vec<Operation>,
    },
    /// The search hit its budget.
    Unknown,
}

/// Turn a history into per-key operation lists (the register workload's operations only).
pub fn operations_by_key(history: &[Event]) -> BTreeMap<String, Vec<Operation>> {
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<Operation>> = BTreeMap::new();
    for e in history {
        if e.op.key().is_none() {
            continue;
        }
        if e.kind == EventType::Invoke {
            open.insert(e.process, e);
            continue;
        }
        let Some(inv) = open.remove(&e.process) else { continue };
        let return_ns = if e.kind == EventType::Info { u64::MAX } else { e.time_ns };
        let op = match (&e.kind, &e.op) {
            (EventType::Fail, _) => continue,
            (EventType::Ok, Op::Read { value, .. }) => RegOp::Read(value.clone()),
            (_, Op::Read { .. }) => continue,
            (_, Op::Write { value, .. }) => RegOp::Write(value.clone()),
            (kind, Op::Cas { expected, new, .. }) => {
                RegOp::Cas { expected: expected.clone(), new: new.clone(), known_ok: *kind == EventType::Ok }
            }
            _ => continue,
        };
        let key = e.op.key().unwrap_or_default().to_owned();
        out.entry(key).or_default().push(Operation {
            process: e.process,
            call_ns: inv.time_ns,
            return_ns,
            op,
        });
    }
    // Invocations never completed (the run ended): outcome unknown.
    for (_, inv) in open {
        let op = match &inv.op {
            Op::Write { value, .. } => RegOp::Write(value.clone()),
            Op::Cas { expected, new, .. } => {
                RegOp::Cas { expected: expected.clone(), new: new.clone(), known_ok: false }
            }
            _ => continue,
        };
        let key = inv.op.key().unwrap_or_default().to_owned();
        out.entry(key).or_default().push(Operation {
            process: inv.process,
            call_ns: inv.time_ns,
            return_ns: u64::MAX,
            op,
        });
    }
    out
}

/// Search budget: states explored per key before giving up with `Unknown`.
pub const DEFAULT_BUDGET: u64 = 5_000_000;

/// Whether `ops` on one register (initially absent) are linearizable.
pub fn check_key(ops: &[Operation], budget: u64) -> KeyVerdict {
    match search(ops, budget) {
        Some(true) => KeyVerdict::Linearizable,
        None => KeyVerdict::Unknown,
        Some(false) => KeyVerdict::NotLinearizable { witness: shrink(ops.to_vec(), budget) },
    }
}

/// Whether every value `ops` read or expect is written by one of `ops` (or is the initial
/// absence): a witness without the write of a value it reads only shows that values do not
/// appear from nowhere, not what went wrong.
fn closed(ops: &[Operation]) -> bool {
    let written: HashSet<&str> = ops
        .iter()
        .filter_map(|o| match &o.op {
            RegOp::Write(v) | RegOp::Cas { new: v, .. } => Some(v.as_str()),
            RegOp::Read(_) => None,
        })
        .collect();
    ops.iter().all(|o| match &o.op {
        RegOp::Read(Some(v)) | RegOp::Cas { expected: Some(v), .. } => written.contains(v.as_str()),
        _ => true,
    })
}

/// Remove operations one at a time while the rest stays non-linearizable and closed (see
/// [`closed`]; when the whole history is not closed, closure is not required).
fn shrink(mut ops: Vec<Operation>, budget: u64) -> Vec<Operation> {
    let need_closed = closed(&ops);
    // Latest first: an operation is removed before the writes it depends on are tried, so a
    // chain of CAS drops in one pass; repeat until nothing more can go.
    loop {
        let before = ops.len();
        let mut i = ops.len();
        while i > 0 {
            i -= 1;
            let mut candidate = ops.clone();
            candidate.remove(i);
            if (!need_closed || closed(&candidate)) && search(&candidate, budget) == Some(false) {
                ops = candidate;
            }
        }
        if ops.len() == before {
            return ops;
        }
    }
}

/// Wing–Gong with memoization. `Some(linearizable)`, or `None` when over budget.
fn search(ops: &[Operation], budget: u64) -> Option<bool> {
    // Entries: (time, is_return, op index); returns sort after calls at equal times.
    let mut entries: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        entries.push((o.call_ns, false, i));
        entries.push((o.return_ns, true, i));
    }
    entries.sort();
    let n = entries.len();
    // A doubly linked list over entries, with a sentinel head at index n.
    let mut next: Vec<usize> = (1..=n).chain([0]).collect();
    let mut prev: Vec<usize> = std::iter::once(n).chain(0..n).collect();
    next[n] = if n == 0 { n } else { 0 };
    if n > 0 {
        next[n - 1] = n;
    }
    let mut return_of = vec![0usize; ops.len()];
    for (idx, (_, is_ret, op)) in entries.iter().enumerate() {
        if *is_ret {
            return_of[*op] = idx;
        }
    }
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, i: usize| {
        let (p, nx) = (prev[i], next[i]);
        next[p] = nx;
        prev[nx] = p;
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, i: usize| {
        let (p, nx) = (prev[i], next[i]);
        next[p] = i;
        prev[nx] = i;
    };

    let mut linearized = vec![0u64; ops.len().div_ceil(64)];
    let mut cache: HashSet<(Vec<u64>, Option<String>)> = HashSet::new();
    let mut stack: Vec<(usize, Option<String>)> = Vec::new();
    let mut state: Option<String> = None;
    let mut entry = next[n];
    let mut steps = 0u64;
    while next[n] != n {
        steps += 1;
        if steps > budget {
            return None;
        }
        // Past the end of the list (defensive: every call's return follows it), or at a return
        // whose operation could not be linearized before it: undo the last choice.
        if entry == n || entries[entry].1 {
            let Some((call, s)) = stack.pop() else { return Some(false) };
            let op = entries[call].2;
            state = s;
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut next, &mut prev, return_of[op]);
            unlift(&mut next, &mut prev, call);
            entry = next[call];
            continue;
        }
        // A call: linearize it here if the model allows and this (set, state) is new.
        let op = entries[entry].2;
        if let Some(new_state) = step(&state, &ops[op].op) {
            let mut bits = linearized.clone();
            bits[op / 64] |= 1 << (op % 64);
            if cache.insert((bits.clone(), new_state.clone())) {
                stack.push((entry, std::mem::replace(&mut state, new_state)));
                linearized = bits;
                lift(&mut next, &mut prev, entry);
                lift(&mut next, &mut prev, return_of[op]);
                entry = next[n];
                continue;
            }
        }
        entry = next[entry];
    }
    Some(true)
}

#[cfg(test)]
#[path = "linearizable_tests.rs"]
mod tests;
