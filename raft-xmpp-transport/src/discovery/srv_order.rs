//! RFC 2782 ordering of SRV answers, merged across `_xmpps-server._tcp` (direct TLS, XEP-0368) and
//! `_xmpp-server._tcp` (STARTTLS, RFC 6120 §3.2). Pure and seeded so it can be tested exactly.
//!
//! Order: ascending priority; within one priority, direct-TLS records before STARTTLS ones (XEP-0368
//! lets a client prefer either; direct TLS saves a round trip); within one (priority, kind) group,
//! RFC 2782's weighted random selection, where zero-weight records still get a small chance.

use rand::Rng;

/// How TLS starts on a connection to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsStart {
    /// TLS first, then the XML stream (XEP-0368, `_xmpps-server._tcp`).
    Direct,
    /// XML stream first, then `<starttls/>` (RFC 6120, `_xmpp-server._tcp`).
    StartTls,
}

/// One SRV answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is preferred.
    pub priority: u16,
    /// Relative share among records of the same priority.
    pub weight: u16,
    /// Port on the target.
    pub port: u16,
    /// Target host name, without the trailing dot; `.` alone means "no service".
    pub target: String,
    /// Which service name the record came from.
    pub tls: TlsStart,
}

/// A place to connect to, in the order to try.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How TLS starts there.
    pub tls: TlsStart,
}

/// Whether `records` of one service say "decidedly not available" (a single record whose target is
/// the root, RFC 2782).
pub fn says_no_service(records: &[SrvRecord]) -> bool {
    records.len() == 1 && is_root(&records[0].target)
}

fn is_root(target: &str) -> bool {
    target.is_empty() || target == "."
}

/// Order `records` for connection attempts. Records whose target is `.` are dropped.
pub fn order_srv<R: Rng>(mut records: Vec<SrvRecord>, rng: &mut R) -> Vec<Endpoint> {
    records.retain(|r| !is_root(&r.target));
    let kind_rank = |t: TlsStart| match t {
        TlsStart::Direct => 0u8,
        TlsStart::StartTls => 1,
    };
    records.sort_by_key(|r| (r.priority, kind_rank(r.tls)));
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let key = (first.priority, first.tls);
        let len = rest.iter().take_while(|r| (r.priority, r.tls) == key).count();
        let (group, tail) = rest.split_at(len);
        weighted_shuffle(group.to_vec(), rng, &mut out);
        rest = tail;
    }
    out
}

/// RFC 2782 §"Usage rules": repeatedly pick a record with probability proportional to its weight
/// (zero-weight records placed first in the running sum, so they are picked only when the random
/// number is 0).
fn weighted_shuffle<R: Rng>(mut group: Vec<SrvRecord>, rng: &mut R, out: &mut Vec<Endpoint>) {
    group.sort_by_key(|r| r.weight != 0);
    while !group.is_empty() {
        let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
        let pick = rng.gen_range(0..=total);
        let mut running = 0u32;
        let idx = group
            .iter()
            .position(|r| {
                running += u32::from(r.weight);
                running >= pick
            })
            .unwrap_or(group.len() - 1);
        let r = group.remove(idx);
        out.push(Endpoint { host: r.target, port: r.port, tls: r.tls });
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn rec(priority: u16, weight: u16, target: &str, tls: TlsStart) -> SrvRecord {
        SrvRecord { priority, weight, port: 5269, target: target.into(), tls }
    }

    #[test]
    fn priority_then_direct_tls_first() {
        let records = vec![
            rec(20, 0, "c", TlsStart::StartTls),
            rec(10, 5, "b", TlsStart::StartTls),
            rec(10, 5, "a", TlsStart::Direct),
            rec(30, 1, "d", TlsStart::Direct),
        ];
        let hosts: Vec<_> =
            order_srv(records, &mut StdRng::seed_from_u64(1)).into_iter().map(|e| e.host).collect();
        assert_eq!(hosts, ["a", "b", "c", "d"]);
    }

    #[test]
    fn weights_shape_the_first_choice() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut heavy_first = 0;
        for _ in 0..2000 {
            let records =
                vec![rec(1, 90, "heavy", TlsStart::StartTls), rec(1, 10, "light", TlsStart::StartTls)];
            if order_srv(records, &mut rng)[0].host == "heavy" {
                heavy_first += 1;
            }
        }
        // Expected 90 %; allow a wide band so the test is about the rule, not the sample.
        assert!((1650..=1950).contains(&heavy_first), "heavy first {heavy_first}/2000");
    }

    #[test]
    fn zero_weight_records_are_kept_and_rarely_first() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut zero_first = 0;
        for _ in 0..1000 {
            let out = order_srv(
                vec![rec(1, 0, "z", TlsStart::Direct), rec(1, 50, "w", TlsStart::Direct)],
                &mut rng,
            );
            assert_eq!(out.len(), 2);
            if out[0].host == "z" {
                zero_first += 1;
            }
        }
        assert!(zero_first < 100, "zero-weight first {zero_first}/1000");
    }

    #[test]
    fn same_seed_same_order() {
        let records: Vec<_> = (0..8).map(|i| rec(1, 10, &format!("h{i}"), TlsStart::StartTls)).collect();
        let a = order_srv(records.clone(), &mut StdRng::seed_from_u64(42));
        let b = order_srv(records, &mut StdRng::seed_from_u64(42));
        assert_eq!(a, b);
    }

    #[test]
    fn root_target_means_no_service() {
        assert!(says_no_service(&[rec(0, 0, ".", TlsStart::Direct)]));
        assert!(!says_no_service(&[rec(0, 0, "x", TlsStart::Direct)]));
        assert!(order_srv(vec![rec(0, 0, ".", TlsStart::Direct)], &mut StdRng::seed_from_u64(0)).is_empty());
    }
}
