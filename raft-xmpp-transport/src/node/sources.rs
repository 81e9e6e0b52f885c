//! Per-source accounting of unauthenticated inbound connections (flood protection).
//!
//! The global `max_inbound_links` bounds file descriptors and memory, but alone it lets a single
//! host that opens that many idle connections lock every new peer out for a negotiation timeout,
//! over and over. Counting the connections that have not authenticated yet per source (an IPv4
//! address, an IPv6 /64) bounds one host's share of the global limit; see
//! [`TransportConfig::max_negotiating_per_source`](crate::TransportConfig::max_negotiating_per_source).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::shared::lock;

/// Unauthenticated inbound connections per source key. Entries are removed at zero, so the map
/// holds at most one entry per connection alive (itself bounded by `max_inbound_links`).
#[derive(Debug, Default)]
pub(crate) struct Sources {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One unauthenticated connection counted against its source; released on drop.
#[derive(Debug)]
pub(crate) struct SourceSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: IpAddr,
}

impl Sources {
    /// Count a connection from `addr`, unless its source already holds `max`.
    pub(crate) fn try_acquire(&self, addr: IpAddr, max: usize) -> Option<SourceSlot> {
        let key = source_key(addr);
        let mut counts = lock(&self.counts);
        let n = counts.entry(key).or_insert(0);
        if *n >= max {
            if *n == 0 {
                counts.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(SourceSlot { counts: self.counts.clone(), key })
    }

    #[cfg(test)]
    fn held(&self, addr: IpAddr) -> usize {
        lock(&self.counts).get(&source_key(addr)).copied().unwrap_or(0)
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// What one source is: an IPv4 address, or an IPv6 /64 (one host usually owns a whole /64, so
/// counting single IPv6 addresses would bound nothing).
fn source_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_holds_at_most_max_and_gets_slots_back_on_drop() {
        let sources = Sources::default();
        let a: Vec<_> = (0..3).map(|_| sources.try_acquire(ip("10.0.0.1"), 3).unwrap()).collect();
        assert!(sources.try_acquire(ip("10.0.0.1"), 3).is_none());
        let other = sources.try_acquire(ip("10.0.0.2"), 3).expect("other sources are not affected");
        drop(a);
        assert_eq!(sources.held(ip("10.0.0.1")), 0);
        assert!(sources.try_acquire(ip("10.0.0.1"), 3).is_some());
        drop(other);
        assert!(lock(&sources.counts).is_empty(), "entries are removed at zero");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let sources = Sources::default();
        let _s = sources.try_acquire(ip("2001:db8:1:2::1"), 1).unwrap();
        assert!(sources.try_acquire(ip("2001:db8:1:2:ffff::9"), 1).is_none(), "same /64");
        assert!(sources.try_acquire(ip("2001:db8:1:3::1"), 1).is_some(), "another /64");
        let _v4 = sources.try_acquire(ip("192.0.2.7"), 1).unwrap();
        assert!(sources.try_acquire(ip("::ffff:192.0.2.7"), 1).is_none());
    }

    #[test]
    fn a_zero_limit_refuses_and_leaves_no_entry() {
        let sources = Sources::default();
        assert!(sources.try_acquire(ip("10.0.0.1"), 0).is_none());
        assert!(lock(&sources.counts).is_empty());
    }
}
