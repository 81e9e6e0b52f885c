use proptest::prelude::*;

use super::*;

const INF: u64 = u64::MAX;

fn op(process: u64, call_ns: u64, return_ns: u64, op: RegOp) -> Operation {
    Operation { process, call_ns, return_ns, op }
}
fn w(v: &str) -> RegOp {
    RegOp::Write(v.into())
}
fn r(v: Option<&str>) -> RegOp {
    RegOp::Read(v.map(str::to_owned))
}
fn cas(expected: Option<&str>, new: &str, known_ok: bool) -> RegOp {
    RegOp::Cas { expected: expected.map(str::to_owned), new: new.into(), known_ok }
}

fn verdict(ops: &[Operation]) -> KeyVerdict {
    check_key(ops, DEFAULT_BUDGET)
}

#[test]
fn empty_and_sequential_histories_are_linearizable() {
    assert_eq!(verdict(&[]), KeyVerdict::Linearizable);
    let ops = [op(1, 0, 10, w("a")), op(2, 20, 30, r(Some("a"))), op(1, 40, 50, cas(Some("a"), "b", true))];
    assert_eq!(verdict(&ops), KeyVerdict::Linearizable);
}

#[test]
fn a_stale_read_is_caught_with_a_two_operation_witness() {
    let ops = [op(1, 0, 10, w("a")), op(3, 5, 8, r(None)), op(2, 20, 30, r(None))];
    let KeyVerdict::NotLinearizable { witness } = verdict(&ops) else { panic!("stale read accepted") };
    assert_eq!(witness, vec![ops[0].clone(), ops[2].clone()]);
}

#[test]
fn a_witness_keeps_the_writes_of_the_values_it_reads() {
    // b is written after a; a later read of a is stale. Removing the write of a alone would
    // still fail (a read of a value never written) but explain nothing: the witness keeps it.
    let ops = [
        op(1, 0, 10, w("a")),
        op(1, 20, 30, w("b")),
        op(2, 25, 26, r(Some("b"))),
        op(3, 40, 50, r(Some("a"))),
    ];
    let KeyVerdict::NotLinearizable { witness } = verdict(&ops) else { panic!("stale read accepted") };
    assert_eq!(witness, vec![ops[0].clone(), ops[1].clone(), ops[3].clone()]);
}

#[test]
fn concurrent_operations_may_take_either_order() {
    let ops = [op(1, 0, 10, w("a")), op(2, 2, 12, r(None)), op(3, 4, 14, r(Some("a")))];
    assert_eq!(verdict(&ops), KeyVerdict::Linearizable);
}

#[test]
fn values_cannot_flip_back_after_both_writes_completed() {
    let ops = [
        op(1, 0, 10, w("a")),
        op(2, 0, 10, w("b")),
        op(3, 20, 30, r(Some("b"))),
        op(3, 40, 50, r(Some("a"))),
    ];
    assert!(matches!(verdict(&ops), KeyVerdict::NotLinearizable { .. }));
}

#[test]
fn two_successful_creates_of_the_same_key_are_not_linearizable() {
    let ops = [op(1, 0, 10, cas(None, "a", true)), op(2, 20, 30, cas(None, "b", true))];
    assert!(matches!(verdict(&ops), KeyVerdict::NotLinearizable { .. }));
    // Overlapping, one of them cannot have succeeded either.
    let ops = [op(1, 0, 10, cas(None, "a", true)), op(2, 5, 15, cas(None, "b", true))];
    assert!(matches!(verdict(&ops), KeyVerdict::NotLinearizable { .. }));
}

#[test]
fn indeterminate_writes_may_or_may_not_have_happened() {
    // Seen later: it happened.
    let seen = [op(1, 0, INF, w("a")), op(2, 20, 30, r(Some("a")))];
    assert_eq!(verdict(&seen), KeyVerdict::Linearizable);
    // Never seen: it did not (or not yet).
    let unseen = [op(1, 0, INF, w("a")), op(2, 20, 30, r(None))];
    assert_eq!(verdict(&unseen), KeyVerdict::Linearizable);
    // But once seen, it cannot vanish.
    let vanished = [op(1, 0, INF, w("a")), op(2, 20, 30, r(Some("a"))), op(2, 40, 50, r(None))];
    assert!(matches!(verdict(&vanished), KeyVerdict::NotLinearizable { .. }));
}

#[test]
fn an_indeterminate_cas_may_have_found_another_value() {
    let ops = [op(1, 0, 10, w("x")), op(2, 20, INF, cas(Some("y"), "z", false)), op(3, 30, 40, r(Some("x")))];
    assert_eq!(verdict(&ops), KeyVerdict::Linearizable);
    let wrong = [op(1, 0, 10, w("x")), op(2, 20, 25, cas(Some("y"), "z", true))];
    assert!(matches!(verdict(&wrong), KeyVerdict::NotLinearizable { .. }));
}

#[test]
fn the_budget_bounds_the_search() {
    let ops: Vec<_> = (0..12)
        .map(|i| op(i, 0, 100, w(&format!("v{i}"))))
        .chain([op(99, 200, 210, r(Some("none")))])
        .collect();
    assert_eq!(check_key(&ops, 10), KeyVerdict::Unknown);
    assert!(matches!(check_key(&ops, DEFAULT_BUDGET), KeyVerdict::NotLinearizable { .. }));
}

#[test]
fn histories_are_split_by_key_and_fail_ops_dropped() {
    use crate::history::{Event, EventType, Op};
    let ev = |process, kind, op, time_ns| Event { process, kind, op, time_ns };
    let h = vec![
        ev(1, EventType::Invoke, Op::Write { key: "a".into(), value: "1".into() }, 0),
        ev(2, EventType::Invoke, Op::Write { key: "b".into(), value: "2".into() }, 1),
        ev(1, EventType::Ok, Op::Write { key: "a".into(), value: "1".into() }, 5),
        ev(2, EventType::Fail, Op::Write { key: "b".into(), value: "2".into() }, 6),
        ev(3, EventType::Invoke, Op::Read { key: "a".into(), value: None }, 7),
        ev(3, EventType::Ok, Op::Read { key: "a".into(), value: Some("1".into()) }, 9),
        ev(4, EventType::Invoke, Op::Cas { key: "b".into(), expected: None, new: "3".into() }, 10),
    ];
    let by_key = operations_by_key(&h);
    assert_eq!(by_key["a"], vec![op(1, 0, 5, w("1")), op(3, 7, 9, r(Some("1")))]);
    assert_eq!(by_key["b"], vec![op(4, 10, INF, cas(None, "3", false))]);
}

/// Histories produced by a real (atomic) register with random overlapping intervals around each
/// linearization point are always accepted.
fn linearizable_history() -> impl Strategy<Value = Vec<Operation>> {
    proptest::collection::vec((0u8..3, 0u8..3, 0u64..20, 0u64..20, any::<bool>()), 1..14).prop_map(|spec| {
        let mut state: Option<String> = None;
        let mut out = Vec::new();
        for (i, (kind, v, before, after, info)) in spec.into_iter().enumerate() {
            let at = (i as u64 + 1) * 100;
            let value = format!("v{v}");
            let o = match kind {
                0 => r(state.as_deref()),
                1 => {
                    state = Some(value.clone());
                    w(&value)
                }
                _ => {
                    let expected = if v % 2 == 0 { state.clone() } else { Some("nope".into()) };
                    let ok = expected == state;
                    if ok {
                        state = Some(value.clone());
                    }
                    if !ok && !info {
                        continue; // a failed CAS is a `fail`: dropped from the history
                    }
                    RegOp::Cas { expected, new: value, known_ok: !info }
                }
            };
            let ret = if info && !matches!(o, RegOp::Read(_)) { INF } else { at + after };
            out.push(op(i as u64, at - before.min(99), ret, o));
        }
        out
    })
}

proptest! {
    #[test]
    fn real_register_histories_are_accepted(ops in linearizable_history()) {
        prop_assert_eq!(verdict(&ops), KeyVerdict::Linearizable);
    }
}
