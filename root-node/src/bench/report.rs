//! `icroot bench` results: per-worker HDR histograms of answered requests (microseconds) and
//! error counts by op kind, merged into one [`Report`] printed as a table or as JSON.
//!
//! ```text
//!  worker ─▶ Recorder { op kind ─▶ histogram, errors by kind } ─merge─▶ Report ─▶ JSON | table
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::load::OpKind;

/// Largest latency a histogram holds (longer ones are clamped to it): one minute.
const MAX_LATENCY_US: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// What one worker saw.
#[derive(Debug, Default)]
pub struct Recorder {
    latencies: BTreeMap<OpKind, Histogram<u64>>,
    errors: BTreeMap<OpKind, BTreeMap<String, u64>>,
}

impl Recorder {
    /// An answered request of `kind` that took `latency`.
    pub fn ok(&mut self, kind: OpKind, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_LATENCY_US);
        self.latencies.entry(kind).or_insert_with(histogram).saturating_record(us);
    }

    /// A failed request of `kind`, `why` being a short error kind (a stanza condition, `timeout`, …).
    pub fn error(&mut self, kind: OpKind, why: String) {
        *self.errors.entry(kind).or_default().entry(why).or_default() += 1;
    }

    /// Fold `other` into this one.
    pub fn merge(&mut self, other: Recorder) {
        for (kind, h) in other.latencies {
            // Same bounds on both sides, so adding cannot fail.
            let _ = self.latencies.entry(kind).or_insert_with(histogram).add(&h);
        }
        for (kind, errs) in other.errors {
            let mine = self.errors.entry(kind).or_default();
            for (why, n) in errs {
                *mine.entry(why).or_default() += n;
            }
        }
    }
}

/// The outcome of one bench run.
#[derive(Debug)]
pub struct Report {
    /// What was run (mode, concurrency, rate, domains, mix).
    pub settings: Value,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Everything the workers saw.
    pub recorded: Recorder,
    /// Open loop: requests scheduled before the end but never sent (the root kept the workers
    /// too busy to meet `--rate`); 0 in closed loop.
    pub unsent: u64,
}

fn quantiles(h: &Histogram<u64>) -> Value {
    json!({
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
        "mean": (h.mean() * 10.0).round() / 10.0,
    })
}

impl Report {
    /// Answered requests of every kind.
    pub fn ops(&self) -> u64 {
        self.recorded.latencies.values().map(|h| h.len()).sum()
    }

    /// Failed requests of every kind.
    pub fn errors(&self) -> u64 {
        self.recorded.errors.values().flat_map(|e| e.values()).sum()
    }

    fn per_sec(&self, n: u64) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        (n as f64 / secs * 10.0).round() / 10.0
    }

    /// The JSON document of `--json` (docs/benchmarks.md describes it).
    pub fn to_json(&self) -> Value {
        let mut kinds: Vec<OpKind> = self.recorded.latencies.keys().copied().collect();
        kinds.extend(self.recorded.errors.keys().copied());
        kinds.sort();
        kinds.dedup();
        let ops: serde_json::Map<String, Value> = kinds
            .iter()
            .map(|k| {
                let h = self.recorded.latencies.get(k);
                let ok = h.map_or(0, |h| h.len());
                let errs = self.recorded.errors.get(k).map_or(0, |e| e.values().sum());
                let latency = h.map_or(Value::Null, quantiles);
                let v = json!({
                    "ok": ok,
                    "errors": errs,
                    "throughput_per_sec": self.per_sec(ok),
                    "latency_us": latency,
                });
                (k.as_str().to_owned(), v)
            })
            .collect();
        let errors: serde_json::Map<String, Value> =
            self.recorded.errors.iter().map(|(k, e)| (k.as_str().to_owned(), json!(e))).collect();
        json!({
            "settings": self.settings,
            "elapsed_secs": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "ops": self.ops(),
            "errors_total": self.errors(),
            "unsent": self.unsent,
            "throughput_per_sec": self.per_sec(self.ops()),
            "by_op": ops,
            "errors": errors,
        })
    }

    /// A table for people.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} ops in {:.2} s: {:.1} ops/s, {} errors\n",
            self.ops(),
            self.elapsed.as_secs_f64(),
            self.per_sec(self.ops()),
            self.errors()
        );
        out.push_str(&format!(
            "{:<8} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
            "op", "ok", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p999 µs", "max µs", "errors"
        ));
        for (k, h) in &self.recorded.latencies {
            let errs: u64 = self.recorded.errors.get(k).map_or(0, |e| e.values().sum());
            out.push_str(&format!(
                "{:<8} {:>9} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
                k.as_str(),
                h.len(),
                self.per_sec(h.len()),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
                errs
            ));
        }
        if self.unsent > 0 {
            out.push_str(&format!(
                "{} scheduled requests not sent: the workers could not keep up with --rate\n",
                self.unsent
            ));
        }
        for (k, e) in &self.recorded.errors {
            for (why, n) in e {
                out.push_str(&format!("error {}: {why} × {n}\n", k.as_str()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_recorders_report_counts_quantiles_and_errors() {
        let mut a = Recorder::default();
        for ms in 1..=100 {
            a.ok(OpKind::Read, Duration::from_millis(ms));
        }
        let mut b = Recorder::default();
        b.ok(OpKind::Write, Duration::from_millis(5));
        b.error(OpKind::Write, "timeout".into());
        b.error(OpKind::Write, "timeout".into());
        a.merge(b);
        let r = Report { settings: json!({}), elapsed: Duration::from_secs(2), recorded: a, unsent: 0 };
        let j = r.to_json();
        assert_eq!(j["ops"], 101);
        assert_eq!(j["errors_total"], 2);
        assert_eq!(j["errors"]["write"]["timeout"], 2);
        assert_eq!(j["by_op"]["read"]["ok"], 100);
        assert_eq!(j["by_op"]["read"]["throughput_per_sec"], 50.0);
        let p50 = j["by_op"]["read"]["latency_us"]["p50"].as_u64().unwrap_or(0);
        assert!((49_000..=51_000).contains(&p50), "{p50}");
        assert!(r.to_text().contains("error write: timeout × 2"));
    }
}
