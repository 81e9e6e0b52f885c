//! Fault injection per link, for tests and `jepsen/` (this kernel has no netem): delay, drop,
//! duplicate or blackhole the stanzas a node exchanges with one remote domain.
//!
//! Outbound stanzas pass [`FaultHook::decide`] before they are queued; inbound stanzas from a
//! blackholed domain are discarded on arrival, so a blackhole cuts both directions from this
//! node's point of view while the TCP connection itself stays up (like a silent partition).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to do to the stanzas of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFault {
    /// Discard every stanza, both directions.
    pub blackhole: bool,
    /// Probability (0..=1) that an outbound stanza is discarded.
    pub drop_probability: f64,
    /// Probability (0..=1) that an outbound stanza is sent twice.
    pub duplicate_probability: f64,
    /// Fixed delay added to every outbound stanza.
    pub delay: Duration,
    /// Extra uniformly random delay in `0..=jitter` (reorders stanzas).
    pub jitter: Duration,
}

/// The fate of one outbound stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Send it now.
    Deliver,
    /// Discard it silently.
    Drop,
    /// Send one copy after each delay (one entry normally, two when duplicated).
    Delayed(Vec<Duration>),
}

/// Per-remote-domain faults of one node. Cheap to consult when no fault is set.
#[derive(Debug)]
pub struct FaultHook {
    faults: RwLock<HashMap<String, LinkFault>>,
    /// Seeded so a jepsen schedule reproduces the same drops.
    rng: Mutex<StdRng>,
}

impl Default for FaultHook {
    fn default() -> Self {
        Self::new(0)
    }
}

impl FaultHook {
    /// No faults; random choices seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        FaultHook { faults: RwLock::new(HashMap::new()), rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    /// Set the fault for the link to `remote_domain`.
    pub fn set(&self, remote_domain: &str, fault: LinkFault) {
        self.faults
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(remote_domain.to_ascii_lowercase(), fault);
    }

    /// Remove the fault for `remote_domain`.
    pub fn clear(&self, remote_domain: &str) {
        self.faults.write().unwrap_or_else(|p| p.into_inner()).remove(&remote_domain.to_ascii_lowercase());
    }

    /// Remove every fault.
    pub fn clear_all(&self) {
        self.faults.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The fault set for `remote_domain`, if any.
    pub fn get(&self, remote_domain: &str) -> Option<LinkFault> {
        self.faults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&remote_domain.to_ascii_lowercase())
            .copied()
    }

    /// Whether stanzas from `remote_domain` must be discarded on arrival.
    pub fn blocks_inbound(&self, remote_domain: &str) -> bool {
        self.get(remote_domain).is_some_and(|f| f.blackhole)
    }

    /// Decide the fate of one stanza to `remote_domain`.
    pub fn decide(&self, remote_domain: &str) -> Fate {
        let Some(f) = self.get(remote_domain) else { return Fate::Deliver };
        if f.blackhole {
            return Fate::Drop;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if f.drop_probability > 0.0 && rng.gen_bool(f.drop_probability.clamp(0.0, 1.0)) {
            return Fate::Drop;
        }
        let copies = if f.duplicate_probability > 0.0 && rng.gen_bool(f.duplicate_probability.clamp(0.0, 1.0))
        {
            2
        } else {
            1
        };
        if f.delay.is_zero() && f.jitter.is_zero() && copies == 1 {
            return Fate::Deliver;
        }
        let mut delays = Vec::with_capacity(copies);
        for _ in 0..copies {
            let jitter_ms = u64::try_from(f.jitter.as_millis()).unwrap_or(u64::MAX);
            let extra = if jitter_ms == 0 { 0 } else { rng.gen_range(0..=jitter_ms) };
            delays.push(f.delay + Duration::from_millis(extra));
        }
        Fate::Delayed(delays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_fault_delivers() {
        assert_eq!(FaultHook::new(1).decide("x"), Fate::Deliver);
    }

    #[test]
    fn blackhole_drops_both_ways_until_cleared() {
        let h = FaultHook::new(1);
        h.set("Peer.Example", LinkFault { blackhole: true, ..LinkFault::default() });
        assert_eq!(h.decide("peer.example"), Fate::Drop);
        assert!(h.blocks_inbound("peer.example"));
        h.clear("peer.example");
        assert_eq!(h.decide("peer.example"), Fate::Deliver);
        assert!(!h.blocks_inbound("peer.example"));
    }

    #[test]
    fn drop_probability_is_roughly_honoured() {
        let h = FaultHook::new(9);
        h.set("p", LinkFault { drop_probability: 0.3, ..LinkFault::default() });
        let dropped = (0..10_000).filter(|_| h.decide("p") == Fate::Drop).count();
        assert!((2_700..3_300).contains(&dropped), "dropped {dropped}");
    }

    #[test]
    fn duplicate_and_delay() {
        let h = FaultHook::new(2);
        h.set(
            "p",
            LinkFault {
                duplicate_probability: 1.0,
                delay: Duration::from_millis(50),
                jitter: Duration::from_millis(10),
                ..LinkFault::default()
            },
        );
        let Fate::Delayed(d) = h.decide("p") else { panic!("not delayed") };
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|x| *x >= Duration::from_millis(50) && *x <= Duration::from_millis(60)));
    }
}
