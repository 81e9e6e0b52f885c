//! The run folder: what happened and the verdict, for a tester to read and keep.
//!
//! ```text
//!  run/history.jsonl   every invoke/ok/fail/info (crate::history format)
//!  run/nemesis.json    the seeded plan and what was applied when
//!  run/results.json    verdict + register (per-key WGL) and set checker reports + counts
//!  run/report.md       the same for humans, with each anomaly's minimal failing sub-history
//!  run/latency.png, run/throughput.png   nemesis windows shaded
//!  run/nodes/<i>/node.log, run/pki, run/nodes/<i>/node.toml
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::json;

use crate::checker::set::{check_set, SetReport};
use crate::checker::{check_registers, RegisterReport};
use crate::history::{write_jsonl, Event, EventType};
use crate::nemesis::Planned;
use crate::plot::{self, Window};
use crate::runner::TestOptions;

/// A fault as it was applied (seconds since the start of the history).
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// Injected at.
    pub from: f64,
    /// Healed at.
    pub to: f64,
    /// What was done, with the nodes resolved.
    pub what: String,
}

/// The verdict of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every checker passed.
    Valid,
    /// A checker found an anomaly.
    Invalid,
    /// Nothing wrong found, but something could not be decided (search budget, no final read,
    /// the cluster did not recover, a node crashed).
    Unknown,
}

/// What [`write`] returns.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The run folder.
    pub dir: PathBuf,
    /// The verdict.
    pub verdict: Verdict,
    /// Register checker.
    pub register: RegisterReport,
    /// Set checker.
    pub set: SetReport,
    /// Completed operations by outcome: ok, fail, info.
    pub counts: [usize; 3],
}

/// Check `history` and write the run folder.
#[allow(clippy::too_many_arguments)]
pub fn write(
    dir: &Path,
    opts: &TestOptions,
    history: &[Event],
    plan: &[Planned],
    applied: &[Applied],
    seconds: f64,
    crashes: Vec<(u64, String)>,
    not_recovered: Option<String>,
    final_read: bool,
) -> Result<RunReport> {
    let file = |name: &str| dir.join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(file("history.jsonl"))?);
    write_jsonl(&mut out, history)?;
    drop(out);
    std::fs::write(
        file("nemesis.json"),
        serde_json::to_string_pretty(&json!({"plan": plan, "applied": applied}))?,
    )?;

    let register = check_registers(history);
    let set = check_set(history);
    let count = |k: EventType| history.iter().filter(|e| e.kind == k).count();
    let counts = [count(EventType::Ok), count(EventType::Fail), count(EventType::Info)];
    let needs_set = opts.set_clients > 0;
    let verdict = if !register.anomalies.is_empty()
        || (needs_set && (!set.lost.is_empty() || !set.unexpected.is_empty()))
    {
        Verdict::Invalid
    } else if !register.unknown.is_empty()
        || (needs_set && !final_read)
        || !crashes.is_empty()
        || not_recovered.is_some()
    {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let results = json!({
        "verdict": verdict,
        "seed": opts.seed,
        "nodes": opts.nodes,
        "time_s": opts.time.as_secs(),
        "nemesis": opts.nemesis,
        "unsafe_stale_reads": opts.unsafe_stale_reads,
        "ops": {"ok": counts[0], "fail": counts[1], "info": counts[2]},
        "register": register,
        "set": set,
        "node_crashes": crashes,
        "not_recovered": not_recovered,
    });
    std::fs::write(file("results.json"), format!("{results:#}\n"))?;

    let windows: Vec<Window> =
        applied.iter().map(|a| Window { from: a.from, to: a.to, label: a.what.clone() }).collect();
    let plot_err = plot::latency_png(&file("latency.png"), history, &windows, seconds)
        .and_then(|()| plot::throughput_png(&file("throughput.png"), history, &windows, seconds))
        .err();

    let mut md = String::new();
    let _ = writeln!(md, "# jepsen run: {verdict:?}\n");
    let _ = writeln!(
        md,
        "seed {} · {} nodes · {} s · nemesis {:?}{}\n",
        opts.seed,
        opts.nodes,
        opts.time.as_secs(),
        opts.nemesis,
        if opts.unsafe_stale_reads { " · ICROOT_UNSAFE_STALE_READS=1 (broken on purpose)" } else { "" }
    );
    let _ = writeln!(md, "operations: {} ok, {} fail, {} info\n", counts[0], counts[1], counts[2]);
    let _ = writeln!(
        md,
        "register: {} keys, {} operations, {} non-linearizable, {} undecided",
        register.keys,
        register.operations,
        register.anomalies.len(),
        register.unknown.len()
    );
    let _ = writeln!(
        md,
        "set: {} acknowledged, {} lost, {} unexpected, {} indeterminate that survived, final read: {}\n",
        set.acknowledged,
        set.lost.len(),
        set.unexpected.len(),
        set.recovered,
        set.final_read
    );
    for (key, witness) in &register.anomalies {
        let _ = writeln!(md, "## {key}: not linearizable; minimal failing sub-history\n\n```");
        for l in witness {
            let _ = writeln!(md, "{l}");
        }
        let _ = writeln!(md, "```\n");
    }
    if !set.lost.is_empty() {
        let _ = writeln!(md, "lost: {:?}\n", set.lost);
    }
    if !set.unexpected.is_empty() {
        let _ = writeln!(md, "unexpected: {:?}\n", set.unexpected);
    }
    for (id, status) in &crashes {
        let _ = writeln!(md, "node {id} exited on its own: {status} (see nodes/{id}/node.log)\n");
    }
    if let Some(e) = &not_recovered {
        let _ = writeln!(md, "cluster did not recover after healing: {e}\n");
    }
    let _ = writeln!(md, "## nemesis\n");
    for a in applied {
        let _ = writeln!(md, "- {:.1}–{:.1} s: {}", a.from, a.to, a.what);
    }
    match &plot_err {
        None => {
            let _ = writeln!(md, "\n![latency](latency.png)\n![throughput](throughput.png)");
        }
        Some(e) => {
            let _ = writeln!(md, "\nplots not written: {e}");
        }
    }
    std::fs::write(file("report.md"), md).context("writing report.md")?;
    Ok(RunReport { dir: dir.to_owned(), verdict, register, set, counts })
}
