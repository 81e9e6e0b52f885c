//! `compare-etcd`: icroot side by side with etcd 3.4 on one machine — the same workloads against a
//! 3-member etcd and a 3-node icroot cluster, both as real processes on loopback with data on the
//! real disk, in alternation, and a table of icroot/etcd ratios against the product goals
//! (docs/benchmarks.md, "Comparison with etcd").
//!
//! ```text
//!  compare-etcd ─┬─ etcd e1..e3 (127.0.0.21..23:2379, plain HTTP/2 gRPC) ◀── etcd-client, 64 conns
//!                └─ icroot n1..n3 (127.0.0.11..13:5269, S2S + TLS)       ◀── root_node::bench, 64 streams
//!  rounds r = 1..R: (etcd, icroot) when r is odd, (icroot, etcd) when even; each:
//!      write@1, write@64, read@64 (linearizable) — 1 s warm-up + --duration s measured
//!  kills k = 1..K, alternating the system first: SIGKILL the leader ─▶ first committed write
//!  ─▶ table (median over rounds) | --json (settings, machine, every run, every kill, summary)
//! ```
//!
//! Fairness, decided up front and kept equal on both sides:
//! - Durability: etcd fsyncs its WAL by default (no `--unsafe-no-fsync`); icroot's RocksDB log
//!   store fsyncs every append. Both data directories are on the `--workdir` disk (tmpfs refused).
//! - Timers: heartbeat 100 ms; election timeout 1000 ms (etcd randomises it in [1000, 2000) ms,
//!   so icroot gets `election_timeout_min_ms = 1000`, `election_timeout_max_ms = 2000`).
//! - Transport: icroot pays TLS on every S2S stream, etcd runs plain HTTP (gRPC over h2c); this
//!   favours etcd.
//! - Load generator: both run in this process (same CPU cost on the same 2 cores as the
//!   servers); 64 domains = 64 connections (icroot: one S2S stream per bench domain; etcd: one
//!   etcd-client channel per domain), connection `i` to member `i mod 3` (icroot `--spread`),
//!   worker `w` uses connection `w mod 64`, closed loop, one request outstanding per worker,
//!   10 s per-request deadline, HDR histograms 1 µs..60 s with 3 significant digits. Which
//!   member leads is not controlled (write@1 uses connection 0, to member 1, on both sides: the
//!   leader, or a follower that forwards); every run records the leader at its start.
//! - Write: icroot `update-exchange` of the worker's own domain ↔ etcd `put` of
//!   `/icroot/exchanges/bench-N.demo.lan`. The value is the prost encoding of the
//!   `StoredExchange` icroot keeps for the same write (`root_node::bench::bench_spec`: 97 bytes
//!   at small sequence numbers), so both stores write a record of the same size.
//! - Linearizable read: icroot linearizable `get-exchange` of a random bench domain ↔ etcd
//!   `get` (default linearizable range, not serializable) of a random bench key, checked found.
//! - Before measuring, every key is written once (icroot bench registers every domain).
//! - Leader kill: the leader is found (etcd: maintenance status `leader`; icroot: cluster
//!   status), the writer's connections to both survivors are opened before the SIGKILL, then one
//!   writer tries survivor after survivor with a 1 s deadline per attempt until the first
//!   acknowledged write. The killed member is restarted and waited for (etcd: /health and raft
//!   index within 5 of the leader's; icroot: /readyz, which means caught up with the leader's
//!   commit index), then 3 s to settle.

mod clusters;
mod facts;
mod failover;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use serde_json::{json, Value};

use clusters::{Etcd, Icroot};
use failover::KillResult;
use workload::{RunResult, System, Workload};

/// Benchmark icroot against a 3-member etcd 3.4 on this machine (docs/benchmarks.md).
///
/// Starts both clusters on loopback under --workdir (wiped first), runs write@1, write@64 and
/// linearizable read@64 on both in alternation, kills each leader --kills times, and prints
/// metric | etcd | icroot | icroot/etcd | goal | met. Progress goes to stderr.
#[derive(Debug, Parser)]
#[command(name = "compare-etcd", version)]
struct Args {
    /// Where both clusters keep their data (wiped at start; must not be tmpfs).
    #[arg(long, default_value = "/var/tmp/icroot-compare-etcd")]
    workdir: PathBuf,
    /// The icroot binary (default: target/release/icroot of this binary's target dir, else
    /// `icroot` on PATH).
    #[arg(long)]
    icroot: Option<PathBuf>,
    /// The etcd binary (Debian package etcd-server).
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd: PathBuf,
    /// When --etcd is missing, `apt-get install -y etcd-server` (needs root).
    #[arg(long)]
    install: bool,
    /// Seconds measured per workload run (after a 1 s warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Rounds; each runs every workload on both systems (odd: etcd first, even: icroot first).
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Leader kills per system.
    #[arg(long, default_value_t = 5)]
    kills: u32,
    /// CI smoke: 1 s runs, 1 round, 1 kill, still 64 clients; asserts only that every run had
    /// ops and no errors and every kill a committed write (exit 1 otherwise).
    #[arg(long)]
    smoke: bool,
    /// Print one JSON document (settings, machine, every run and kill, summary) on stdout.
    #[arg(long)]
    json: bool,
}

/// Warm-up before every measured run (seconds).
const WARMUP: f64 = 1.0;

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.smoke {
        (args.duration, args.rounds, args.kills) = (1.0, 1, 1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: compare-etcd: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = rt.block_on(async {
        tokio::select! {
            r = run(&args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // The clusters were dropped with the `run` future: their processes are killed.
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            if args.json {
                println!("{}", json!({"error": {"message": format!("{e:#}")}}));
            }
            eprintln!("error: compare-etcd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(args: &Args) -> Result<()> {
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration must be above 0 and at most 3600 seconds");
    }
    if args.rounds == 0 || args.rounds > 100 {
        bail!("--rounds must be between 1 and 100");
    }
    if args.kills > 100 {
        bail!("--kills must be at most 100");
    }
    Ok(())
}

fn find_icroot(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!(
                "--icroot {}: no such file (build it: cargo build --release -p root-node --bin icroot)",
                p.display()
            );
        }
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe().context("locating this binary")?;
    if let Some(target) = exe.parent().and_then(Path::parent) {
        let p = target.join("release").join("icroot");
        if p.is_file() {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("icroot");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "no icroot binary: build one (cargo build --release -p root-node --bin icroot) or pass --icroot PATH"
    )
}

fn ensure_etcd(args: &Args) -> Result<()> {
    if args.etcd.is_file() {
        return Ok(());
    }
    if !args.install {
        bail!(
            "{} not found: install Debian's etcd-server (`sudo apt-get install etcd-server`), pass \
             --install to let compare-etcd do it (as root), or --etcd PATH",
            args.etcd.display()
        );
    }
    eprintln!("== installing etcd-server (apt-get)");
    let status = std::process::Command::new("apt-get")
        .args(["install", "-y", "etcd-server"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    if !status.success() || !args.etcd.is_file() {
        bail!("apt-get install etcd-server failed ({status}); it needs root and Debian's package lists");
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// One row of the summary table.
#[derive(Debug)]
struct Row {
    metric: String,
    etcd: Option<f64>,
    icroot: Option<f64>,
    /// (">=" or "<=", bound) on icroot/etcd.
    goal: Option<(&'static str, f64)>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        match (self.etcd, self.icroot) {
            (Some(e), Some(i)) if e > 0.0 => Some(i / e),
            _ => None,
        }
    }

    fn met(&self) -> Option<bool> {
        let (op, bound) = self.goal?;
        let r = self.ratio()?;
        Some(if op == ">=" { r >= bound } else { r <= bound })
    }

    fn to_json(&self) -> Value {
        json!({
            "metric": self.metric,
            "etcd": self.etcd.map(|v| (v * 1000.0).round() / 1000.0),
            "icroot": self.icroot.map(|v| (v * 1000.0).round() / 1000.0),
            "ratio": self.ratio().map(|r| (r * 1000.0).round() / 1000.0),
            "goal": self.goal.map(|(op, b)| format!("{op} {b}")),
            "met": self.met(),
        })
    }
}

fn summary(runs: &[RunResult], kills: &[KillResult]) -> Vec<Row> {
    let med = |s: System, w: Workload, f: &dyn Fn(&RunResult) -> f64| {
        median(runs.iter().filter(|r| r.system == s && r.workload == w).map(f).collect())
    };
    let mut rows = Vec::new();
    let mut add = |metric: String, w: Workload, f: &dyn Fn(&RunResult) -> f64, goal| {
        rows.push(Row { metric, etcd: med(System::Etcd, w, f), icroot: med(System::Icroot, w, f), goal });
    };
    let tput = |r: &RunResult| r.throughput;
    let p50 = |r: &RunResult| r.p50_us as f64 / 1000.0;
    let p99 = |r: &RunResult| r.p99_us as f64 / 1000.0;
    add("write ops/s @1".into(), Workload::Write1, &tput, None);
    add("write p50 ms @1".into(), Workload::Write1, &p50, Some(("<=", 0.7)));
    add("write p99 ms @1".into(), Workload::Write1, &p99, None);
    add("write ops/s @64".into(), Workload::Write64, &tput, Some((">=", 2.0)));
    add("write p50 ms @64".into(), Workload::Write64, &p50, None);
    add("write p99 ms @64".into(), Workload::Write64, &p99, None);
    add("lin. read ops/s @64".into(), Workload::Read64, &tput, Some((">=", 2.0)));
    add("lin. read p50 ms @64".into(), Workload::Read64, &p50, None);
    add("lin. read p99 ms @64".into(), Workload::Read64, &p99, None);
    let kill = |s: System| {
        median(
            kills
                .iter()
                .filter(|k| k.system == s)
                .filter_map(|k| k.time)
                .map(|t| t.as_secs_f64() * 1e3)
                .collect(),
        )
    };
    rows.push(Row {
        metric: "leader kill → first write ms (median)".into(),
        etcd: kill(System::Etcd),
        icroot: kill(System::Icroot),
        goal: Some(("<=", 0.5)),
    });
    rows
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<40} {:>10} {:>10} {:>12} {:>7} {:>4}\n",
        "metric", "etcd", "icroot", "icroot/etcd", "goal", "met"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<40} {:>10} {:>10} {:>12} {:>7} {:>4}\n",
            r.metric,
            fmt_num(r.etcd),
            fmt_num(r.icroot),
            r.ratio().map_or("-".into(), |x| format!("{x:.2}")),
            r.goal.map_or("-".into(), |(op, b)| format!("{op} {b}")),
            match r.met() {
                None => "-",
                Some(true) => "yes",
                Some(false) => "no",
            }
        ));
    }
    out
}

fn kill_line(s: System, kills: &[KillResult]) -> String {
    let ms: Vec<f64> = kills
        .iter()
        .filter(|k| k.system == s)
        .filter_map(|k| k.time)
        .map(|t| t.as_secs_f64() * 1e3)
        .collect();
    let failed = kills.iter().filter(|k| k.system == s && k.time.is_none()).count();
    let min = ms.iter().copied().reduce(f64::min);
    let max = ms.iter().copied().reduce(f64::max);
    format!(
        "{}: leader kill → first write: median {} ms, min {} ms, max {} ms over {} kills ({failed} without a write)\n",
        s.as_str(),
        fmt_num(median(ms.clone())),
        fmt_num(min),
        fmt_num(max),
        ms.len() + failed
    )
}

/// Everything; `Ok(false)` when the smoke assertions failed.
async fn run(args: &Args) -> Result<bool> {
    check(args)?;
    ensure_etcd(args)?;
    let icroot_bin = find_icroot(args.icroot.as_deref())?;
    facts::prepare_workdir(&args.workdir)?;
    let machine = facts::machine(&args.workdir, &args.etcd, &icroot_bin);
    eprintln!("== machine: {}", facts::describe(&machine));

    eprintln!("== starting etcd (3 members) under {}", args.workdir.display());
    let mut etcd = Etcd::start(&args.etcd, &args.workdir).await?;
    eprintln!("== starting icroot (3 nodes) with {}", icroot_bin.display());
    let mut icroot = Icroot::start(&icroot_bin, &args.workdir).await?;

    let mut runs = Vec::new();
    for round in 1..=args.rounds {
        let order =
            if round % 2 == 1 { [System::Etcd, System::Icroot] } else { [System::Icroot, System::Etcd] };
        for w in Workload::ALL {
            for s in order {
                eprintln!("== round {round}/{}: {} {}", args.rounds, s.as_str(), w.as_str());
                // Not controlled, but recorded: write@1 uses connection 0, to member 1 on both sides,
                // which is the leader or forwards to it.
                let leader = match s {
                    System::Etcd => etcd.leader().await.ok(),
                    System::Icroot => icroot.leader().await.ok(),
                };
                let mut r = match s {
                    System::Etcd => workload::run_etcd(w, round, args.duration, WARMUP).await,
                    System::Icroot => workload::run_icroot(&icroot, w, round, args.duration, WARMUP).await,
                }
                .with_context(|| format!("round {round}: {} {}", s.as_str(), w.as_str()))?;
                r.leader = leader.map(|l| l + 1);
                eprintln!(
                    "   {} ops, {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors (leader {})",
                    r.ops,
                    r.throughput,
                    r.p50_us as f64 / 1e3,
                    r.p99_us as f64 / 1e3,
                    r.errors,
                    r.leader.map_or("?".into(), |l| l.to_string())
                );
                runs.push(r);
            }
        }
    }

    let mut kills = Vec::new();
    for n in 1..=args.kills {
        let order = if n % 2 == 1 { [System::Etcd, System::Icroot] } else { [System::Icroot, System::Etcd] };
        for s in order {
            eprintln!("== kill {n}/{}: {} leader", args.kills, s.as_str());
            let k = match s {
                System::Etcd => failover::kill_etcd(&mut etcd, n).await,
                System::Icroot => failover::kill_icroot(&mut icroot, n).await,
            }
            .with_context(|| format!("kill {n}: {}", s.as_str()))?;
            match k.time {
                Some(t) => eprintln!(
                    "   leader {} killed: first write after {:.1} ms ({} attempts)",
                    k.leader,
                    t.as_secs_f64() * 1e3,
                    k.attempts
                ),
                None => eprintln!("   leader {} killed: no committed write within 30 s", k.leader),
            }
            kills.push(k);
        }
    }
    drop((etcd, icroot));

    let rows = summary(&runs, &kills);
    let mut problems = Vec::new();
    if args.smoke {
        for r in &runs {
            if r.ops == 0 || r.errors > 0 {
                problems.push(format!(
                    "round {} {} {}: {} ops, {} errors",
                    r.round,
                    r.system.as_str(),
                    r.workload.as_str(),
                    r.ops,
                    r.errors
                ));
            }
        }
        for k in kills.iter().filter(|k| k.time.is_none()) {
            problems.push(format!("kill {} {}: no committed write", k.n, k.system.as_str()));
        }
    }
    if args.json {
        let doc = json!({
            "settings": {
                "duration_secs": args.duration,
                "warmup_secs": WARMUP,
                "rounds": args.rounds,
                "kills": args.kills,
                "domains": workload::DOMAINS,
                "smoke": args.smoke,
                "workdir": args.workdir,
                "icroot": icroot_bin,
                "etcd": args.etcd,
                "heartbeat_ms": clusters::HEARTBEAT_MS,
                "election_timeout_ms": clusters::ELECTION_MS,
                "value_bytes": workload::value("bench-0.demo.lan", 1).len(),
            },
            "machine": machine,
            "runs": runs.iter().map(RunResult::to_json).collect::<Vec<_>>(),
            "kills": kills.iter().map(KillResult::to_json).collect::<Vec<_>>(),
            "summary": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            "smoke_problems": problems,
        });
        println!("{doc}");
    } else {
        println!("machine: {}", facts::describe(&machine));
        print!("{}", table(&rows));
        print!("{}", kill_line(System::Etcd, &kills));
        print!("{}", kill_line(System::Icroot, &kills));
        for p in &problems {
            println!("smoke: {p}");
        }
    }
    if args.smoke && problems.is_empty() {
        eprintln!("== smoke ok: every run had ops and no errors, every kill a committed write");
    }
    Ok(problems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(system: System, workload: Workload, round: u32, throughput: f64, p50_us: u64) -> RunResult {
        RunResult {
            system,
            workload,
            round,
            ops: 1,
            errors: 0,
            throughput,
            p50_us,
            p99_us: 2 * p50_us,
            leader: None,
        }
    }

    #[test]
    fn medians_ratios_and_goals() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let runs = vec![
            run(System::Etcd, Workload::Write64, 1, 1000.0, 10_000),
            run(System::Etcd, Workload::Write64, 2, 3000.0, 30_000),
            run(System::Icroot, Workload::Write64, 1, 5000.0, 5_000),
            run(System::Icroot, Workload::Write64, 2, 3000.0, 3_000),
            run(System::Etcd, Workload::Write1, 1, 500.0, 2_000),
            run(System::Icroot, Workload::Write1, 1, 400.0, 1_500),
        ];
        let rows = summary(&runs, &[]);
        let row = |m: &str| rows.iter().find(|r| r.metric == m).unwrap_or_else(|| panic!("{m}"));
        let w64 = row("write ops/s @64");
        assert_eq!((w64.etcd, w64.icroot), (Some(2000.0), Some(4000.0)));
        assert_eq!(w64.met(), Some(true), "2.0 >= 2.0");
        let p50 = row("write p50 ms @1");
        assert_eq!(p50.ratio(), Some(0.75));
        assert_eq!(p50.met(), Some(false), "0.75 is not <= 0.7");
        let reads = row("lin. read ops/s @64");
        assert_eq!((reads.ratio(), reads.met()), (None, None), "no runs: no ratio, no verdict");
        assert!(table(&rows).contains("write ops/s @64"));
    }
}
