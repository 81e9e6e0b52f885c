//! The set workload's checker: every acknowledged add must be in the final read (else it was
//! *lost*), and the final read may hold only elements some client tried to add and did not see
//! fail (else they are *unexpected*). Adds with unknown outcome (`info`) may be present or not.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::history::{Event, EventType, Op};

/// What the set checker found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetReport {
    /// Adds acknowledged to a client.
    pub acknowledged: usize,
    /// Acknowledged adds missing from the final read.
    pub lost: Vec<String>,
    /// Elements in the final read that no client added (or whose add failed).
    pub unexpected: Vec<String>,
    /// Adds with unknown outcome that did make it.
    pub recovered: usize,
    /// Whether a final read completed at all (without one nothing can be said).
    pub final_read: bool,
}

impl SetReport {
    /// Nothing lost, nothing unexpected, and the final read happened.
    pub fn valid(&self) -> bool {
        self.final_read && self.lost.is_empty() && self.unexpected.is_empty()
    }
}

/// Check the set workload's operations in `history`.
pub fn check_set(history: &[Event]) -> SetReport {
    let (mut ok, mut info, mut failed) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut final_read: Option<BTreeSet<String>> = None;
    for e in history {
        match (&e.kind, &e.op) {
            (EventType::Ok, Op::Add { element }) => {
                ok.insert(element.clone());
            }
            (EventType::Info, Op::Add { element }) => {
                info.insert(element.clone());
            }
            (EventType::Fail, Op::Add { element }) => {
                failed.insert(element.clone());
            }
            (EventType::Ok, Op::ReadSet { elements: Some(els) }) => {
                final_read = Some(els.iter().cloned().collect());
            }
            _ => {}
        }
    }
    let Some(read) = final_read else {
        return SetReport {
            acknowledged: ok.len(),
            lost: Vec::new(),
            unexpected: Vec::new(),
            recovered: 0,
            final_read: false,
        };
    };
    SetReport {
        acknowledged: ok.len(),
        lost: ok.difference(&read).cloned().collect(),
        unexpected: read
            .iter()
            .filter(|x| !ok.contains(*x) && !info.contains(*x) || failed.contains(*x))
            .cloned()
            .collect(),
        recovered: read.intersection(&info).count(),
        final_read: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventType, op: Op) -> Event {
        Event { process: 0, kind, op, time_ns: 0 }
    }
    fn add(kind: EventType, x: &str) -> Event {
        ev(kind, Op::Add { element: x.into() })
    }
    fn read(xs: &[&str]) -> Event {
        ev(EventType::Ok, Op::ReadSet { elements: Some(xs.iter().map(|s| (*s).to_owned()).collect()) })
    }

    #[test]
    fn all_acknowledged_present_is_valid() {
        let h = [
            add(EventType::Ok, "a"),
            add(EventType::Info, "b"),
            add(EventType::Info, "c"),
            read(&["a", "b"]),
        ];
        let r = check_set(&h);
        assert!(r.valid(), "{r:?}");
        assert_eq!((r.acknowledged, r.recovered), (1, 1));
    }

    #[test]
    fn a_lost_acknowledged_add_is_caught() {
        let r = check_set(&[add(EventType::Ok, "a"), add(EventType::Ok, "b"), read(&["b"])]);
        assert!(!r.valid());
        assert_eq!(r.lost, vec!["a".to_owned()]);
    }

    #[test]
    fn unexpected_and_failed_elements_are_caught() {
        let r = check_set(&[add(EventType::Fail, "f"), read(&["f", "ghost"])]);
        assert!(!r.valid());
        assert_eq!(r.unexpected, vec!["f".to_owned(), "ghost".to_owned()]);
    }

    #[test]
    fn no_final_read_is_not_valid() {
        assert!(!check_set(&[add(EventType::Ok, "a")]).valid());
    }
}
