//! Nemeses and their seeded schedule. The schedule (which fault, which shape, how long, which
//! random nodes) is a pure function of the seed and the options, so a seed reproduces it; only
//! "the leader" is resolved at run time, by asking the nodes.
//!
//! ```text
//!  schedule(seed) ─▶ [quiet, fault, heal, quiet, fault, heal, …] ─▶ apply: nft rules (partition),
//!                                                                   SIGKILL + restart (kill),
//!                                                                   SIGSTOP / SIGCONT (pause)
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The kinds of fault the runner can inject (`--nemesis` takes a comma-separated list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisKind {
    /// Network partitions through nftables.
    Partition,
    /// SIGKILL then restart.
    Kill,
    /// SIGSTOP then SIGCONT.
    Pause,
    /// Remove a member from the Raft cluster, then add it back (learner, then voter).
    Member,
    /// Drop, duplicate and delay stanzas on the links of some nodes (the transport's fault hook).
    Link,
}

impl std::str::FromStr for NemesisKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "partition" => Ok(NemesisKind::Partition),
            "kill" => Ok(NemesisKind::Kill),
            "pause" => Ok(NemesisKind::Pause),
            "member" => Ok(NemesisKind::Member),
            "link" => Ok(NemesisKind::Link),
            other => Err(format!("unknown nemesis `{other}` (partition, kill, pause, member, link)")),
        }
    }
}

/// Which nodes a fault targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The current leader (resolved at run time).
    Leader,
    /// These nodes.
    Nodes(Vec<u64>),
}

/// One fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Two random halves that cannot talk.
    PartitionHalves {
        /// The smaller side.
        minority: Vec<u64>,
    },
    /// The leader cut off from every other node.
    PartitionLeader,
    /// Each node sees only its ring neighbours: everyone has a majority, no two agree.
    PartitionRing,
    /// Two halves joined only through one bridge node that sees both.
    PartitionBridge {
        /// The bridge node.
        bridge: u64,
        /// One side (the rest is the other).
        side: Vec<u64>,
    },
    /// SIGKILL these nodes; restart them when the window ends.
    Kill {
        /// Whom.
        target: Target,
    },
    /// SIGSTOP these nodes; SIGCONT when the window ends.
    Pause {
        /// Whom.
        target: Target,
    },
    /// Remove this member (its process keeps running); add it back when the window ends.
    RemoveMember {
        /// Whom (one node).
        target: Target,
    },
    /// Faults on every link to and from these nodes (node to node; clients are not affected).
    LinkFaults {
        /// Whose links.
        nodes: Vec<u64>,
        /// Probability that a stanza is dropped, per mille.
        drop_permille: u32,
        /// Probability that a stanza is sent twice, per mille.
        duplicate_permille: u32,
        /// Fixed delay, ms.
        delay_ms: u64,
        /// Extra random delay up to this, ms (reorders).
        jitter_ms: u64,
    },
}

/// A fault and its window, relative to the start of the workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// When to inject.
    pub at: Duration,
    /// How long it lasts before healing.
    pub duration: Duration,
    /// What.
    pub fault: Fault,
}

fn random_minority(rng: &mut StdRng, ids: &[u64], max: usize) -> Vec<u64> {
    let k = rng.gen_range(1..=max.max(1));
    let mut v: Vec<u64> = ids.choose_multiple(rng, k).copied().collect();
    v.sort_unstable();
    v
}

/// The schedule for a run of `time` on nodes `ids` with the enabled `kinds`.
pub fn schedule(seed: u64, ids: &[u64], kinds: &[NemesisKind], time: Duration) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    if kinds.is_empty() || ids.is_empty() {
        return out;
    }
    let minority = (ids.len() - 1) / 2;
    // The first fault after a few quiet seconds; keep the last seconds quiet too.
    let mut t = Duration::from_secs(rng.gen_range(3..=6));
    let end = time.saturating_sub(Duration::from_secs(3));
    while t < end {
        let duration = Duration::from_secs(rng.gen_range(4..=10)).min(end - t);
        let fault = match kinds[rng.gen_range(0..kinds.len())] {
            NemesisKind::Partition => match rng.gen_range(0..4) {
                0 => {
                    let mut shuffled = ids.to_vec();
                    shuffled.shuffle(&mut rng);
                    let mut m = shuffled[..ids.len() / 2].to_vec();
                    m.sort_unstable();
                    Fault::PartitionHalves { minority: m }
                }
                1 => Fault::PartitionLeader,
                2 if ids.len() >= 4 => Fault::PartitionRing,
                _ => {
                    let mut shuffled = ids.to_vec();
                    shuffled.shuffle(&mut rng);
                    let bridge = shuffled[0];
                    let mut side = shuffled[1..].to_vec();
                    side.truncate((ids.len() - 1) / 2);
                    side.sort_unstable();
                    Fault::PartitionBridge { bridge, side }
                }
            },
            NemesisKind::Kill if rng.gen_bool(0.4) => Fault::Kill { target: Target::Leader },
            NemesisKind::Kill => {
                Fault::Kill { target: Target::Nodes(random_minority(&mut rng, ids, minority)) }
            }
            NemesisKind::Pause if rng.gen_bool(0.4) => Fault::Pause { target: Target::Leader },
            NemesisKind::Link => Fault::LinkFaults {
                nodes: random_minority(&mut rng, ids, ids.len()),
                drop_permille: [0, 50, 200][rng.gen_range(0..3)],
                duplicate_permille: [0, 100][rng.gen_range(0..2)],
                delay_ms: rng.gen_range(0..=200),
                jitter_ms: rng.gen_range(0..=100),
            },
            NemesisKind::Member if rng.gen_bool(0.4) => Fault::RemoveMember { target: Target::Leader },
            NemesisKind::Member => {
                Fault::RemoveMember { target: Target::Nodes(vec![ids[rng.gen_range(0..ids.len())]]) }
            }
            NemesisKind::Pause => {
                Fault::Pause { target: Target::Nodes(random_minority(&mut rng, ids, minority)) }
            }
        };
        out.push(Planned { at: t, duration, fault });
        t += duration + Duration::from_secs(rng.gen_range(3..=8));
    }
    out
}

/// For a partition fault: each node and the nodes it must not talk to. `leader` resolves
/// [`Fault::PartitionLeader`].
pub fn grudge(fault: &Fault, ids: &[u64], leader: u64) -> Vec<(u64, BTreeSet<u64>)> {
    let all: BTreeSet<u64> = ids.iter().copied().collect();
    let split = |a: &BTreeSet<u64>| -> Vec<(u64, BTreeSet<u64>)> {
        let b: BTreeSet<u64> = all.difference(a).copied().collect();
        ids.iter().map(|i| (*i, if a.contains(i) { b.clone() } else { a.clone() })).collect()
    };
    match fault {
        Fault::PartitionHalves { minority } => split(&minority.iter().copied().collect()),
        Fault::PartitionLeader => split(&BTreeSet::from([leader])),
        Fault::PartitionRing => {
            let n = ids.len();
            (0..n)
                .map(|i| {
                    let near = [i, (i + 1) % n, (i + n - 1) % n];
                    let far = (0..n).filter(|j| !near.contains(j)).map(|j| ids[j]).collect();
                    (ids[i], far)
                })
                .collect()
        }
        Fault::PartitionBridge { bridge, side } => {
            let a: BTreeSet<u64> = side.iter().copied().collect();
            let b: BTreeSet<u64> = all.iter().filter(|i| !a.contains(i) && *i != bridge).copied().collect();
            ids.iter()
                .map(|i| {
                    let blocked = if a.contains(i) {
                        b.clone()
                    } else if b.contains(i) {
                        a.clone()
                    } else {
                        BTreeSet::new()
                    };
                    (*i, blocked)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_reproduces_the_schedule_and_another_changes_it() {
        let ids = [1, 2, 3, 4, 5];
        let kinds = [
            NemesisKind::Partition,
            NemesisKind::Kill,
            NemesisKind::Pause,
            NemesisKind::Member,
            NemesisKind::Link,
        ];
        let a = schedule(42, &ids, &kinds, Duration::from_secs(120));
        assert_eq!(a, schedule(42, &ids, &kinds, Duration::from_secs(120)));
        assert_ne!(a, schedule(43, &ids, &kinds, Duration::from_secs(120)));
        assert!(a.len() >= 5, "{a:?}");
        for p in &a {
            assert!(p.at + p.duration <= Duration::from_secs(117), "{p:?}");
            if let Fault::RemoveMember { target: Target::Nodes(n) } = &p.fault {
                assert_eq!(n.len(), 1, "{p:?}");
            }
            if let Fault::Kill { target: Target::Nodes(n) } | Fault::Pause { target: Target::Nodes(n) } =
                &p.fault
            {
                assert!(!n.is_empty() && n.len() <= 2, "never a majority: {p:?}");
            }
        }
    }

    #[test]
    fn ring_gives_everyone_a_majority_and_no_two_the_same() {
        let ids = [1, 2, 3, 4, 5];
        let g = grudge(&Fault::PartitionRing, &ids, 1);
        for (i, blocked) in &g {
            assert_eq!(blocked.len(), 2, "node {i} sees itself and two neighbours");
            assert!(!blocked.contains(i));
        }
        let sees = |i: u64| -> BTreeSet<u64> {
            let b = &g.iter().find(|(n, _)| *n == i).unwrap().1;
            ids.iter().copied().filter(|j| !b.contains(j)).collect()
        };
        assert_ne!(sees(1), sees(3));
        // Symmetric: if i blocks j then j blocks i.
        for (i, b) in &g {
            for j in b {
                assert!(g.iter().find(|(n, _)| n == j).unwrap().1.contains(i));
            }
        }
    }

    #[test]
    fn bridge_node_sees_both_sides_which_do_not_see_each_other() {
        let ids = [1, 2, 3, 4, 5];
        let g = grudge(&Fault::PartitionBridge { bridge: 3, side: vec![1, 2] }, &ids, 1);
        let of = |i: u64| g.iter().find(|(n, _)| *n == i).unwrap().1.clone();
        assert!(of(3).is_empty());
        assert_eq!(of(1), BTreeSet::from([4, 5]));
        assert_eq!(of(4), BTreeSet::from([1, 2]));
        let leader = grudge(&Fault::PartitionLeader, &ids, 2);
        assert_eq!(leader.iter().find(|(n, _)| *n == 2).unwrap().1, BTreeSet::from([1, 3, 4, 5]));
        assert_eq!(leader.iter().find(|(n, _)| *n == 5).unwrap().1, BTreeSet::from([2]));
    }
}
