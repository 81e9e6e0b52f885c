//! TEST-ONLY: link faults from outside the process, for the jepsen suite (this kernel has no
//! netem). With `ICROOT_TEST_FAULT_API=1` in the node's environment the admin HTTP endpoint also
//! serves `POST /test/link-faults`, whose body sets the transport's [`FaultHook`] per remote
//! domain; without it the route does not exist. Never set it on a real node.
//!
//! ```text
//!  jepsen ─POST /test/link-faults─▶ admin HTTP ─▶ XmppNode::faults().set(domain, LinkFault)
//!                                                 outbound stanzas to that domain: drop / dup / delay
//! ```
//!
//! Body: one line per domain, `DOMAIN drop=P duplicate=P delay_ms=N jitter_ms=N blackhole=B`
//! (omitted keys are 0/false), or `clear` to remove every fault.
//!
//! [`FaultHook`]: raft_xmpp_transport::fault::FaultHook

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use raft_xmpp_transport::fault::LinkFault;

use crate::service::NodeCtx;

/// Most lines one request may carry.
const MAX_LINES: usize = 64;

/// Whether the environment enables the route (read once).
pub(crate) fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        let on = std::env::var("ICROOT_TEST_FAULT_API").is_ok_and(|v| v == "1");
        if on {
            tracing::warn!("ICROOT_TEST_FAULT_API=1: POST /test/link-faults is served (test only)");
        }
        on
    })
}

/// The route, to merge into the admin router when [`enabled`].
pub(crate) fn routes() -> Router<Arc<NodeCtx>> {
    Router::new().route("/test/link-faults", post(set_faults))
}

fn parse_line(line: &str) -> Result<(String, LinkFault), String> {
    let mut words = line.split_whitespace();
    let domain = words.next().ok_or("empty line")?.to_ascii_lowercase();
    let mut f = LinkFault::default();
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| format!("`{w}` is not key=value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|_| format!("`{w}`: not a number"));
        let ms = |v: &str| v.parse::<u64>().map(Duration::from_millis).map_err(|_| format!("`{w}`: not ms"));
        match k {
            "drop" => f.drop_probability = num(v)?.clamp(0.0, 1.0),
            "duplicate" => f.duplicate_probability = num(v)?.clamp(0.0, 1.0),
            "delay_ms" => f.delay = ms(v)?.min(Duration::from_secs(10)),
            "jitter_ms" => f.jitter = ms(v)?.min(Duration::from_secs(10)),
            "blackhole" => f.blackhole = v == "true",
            _ => return Err(format!("unknown key `{k}`")),
        }
    }
    Ok((domain, f))
}

async fn set_faults(State(ctx): State<Arc<NodeCtx>>, body: String) -> (StatusCode, String) {
    let hook = ctx.xmpp.faults();
    let mut parsed = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()).take(MAX_LINES) {
        if line == "clear" {
            hook.clear_all();
            continue;
        }
        match parse_line(line) {
            Ok(p) => parsed.push(p),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")),
        }
    }
    let n = parsed.len();
    for (domain, fault) in parsed {
        hook.set(&domain, fault);
    }
    (StatusCode::OK, format!("{n} link faults set\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_bounds_and_refuse_unknown_keys() {
        let (d, f) = parse_line("N2.jepsen.lan drop=0.2 duplicate=3 delay_ms=50 jitter_ms=99999").unwrap();
        assert_eq!(d, "n2.jepsen.lan");
        assert_eq!(f.drop_probability, 0.2);
        assert_eq!(f.duplicate_probability, 1.0);
        assert_eq!(f.delay, Duration::from_millis(50));
        assert_eq!(f.jitter, Duration::from_secs(10));
        assert!(!f.blackhole);
        assert!(parse_line("n2 speed=9").is_err());
        assert!(parse_line("n2 drop=x").is_err());
    }
}
