//! `jepsen` CLI: `test` runs one test against a real icroot cluster in network namespaces and
//! writes a run folder; `check` re-checks a recorded history.jsonl. See jepsen/README.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use jepsen::nemesis::NemesisKind;
use jepsen::report::Verdict;
use jepsen::runner::{self, TestOptions};

#[derive(Parser, Debug)]
#[command(name = "jepsen", about = "Partition and failover testing for icroot")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Expect {
    Valid,
    Invalid,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a test (needs root: network namespaces and nftables).
    Test {
        /// Root nodes, each a process in its own network namespace.
        #[arg(long, default_value_t = 5)]
        nodes: u64,
        /// Seconds of workload (nemesis active).
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Comma-separated nemeses: partition, kill, pause (empty: none).
        #[arg(long, default_value = "partition,kill", value_delimiter = ',')]
        nemesis: Vec<String>,
        /// Seed of the nemesis schedule and the clients' choices.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The icroot binary (default: `icroot` next to this executable, i.e. the same target dir).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Where run folders are created.
        #[arg(long, default_value = "jepsen-runs")]
        dir: PathBuf,
        /// Register-workload clients.
        #[arg(long, default_value_t = 5)]
        clients: u64,
        /// Set-workload clients.
        #[arg(long, default_value_t = 2)]
        set_clients: u64,
        /// Register keys.
        #[arg(long, default_value_t = 3)]
        keys: usize,
        /// Start nodes with ICROOT_UNSAFE_STALE_READS=1 (reads skip the leader check): the
        /// deliberately broken mode the checker must flag.
        #[arg(long)]
        unsafe_stale_reads: bool,
        /// Exit 0 only if the verdict is this (`invalid` for the broken mode).
        #[arg(long, value_enum, default_value_t = Expect::Valid)]
        expect: Expect,
    },
    /// Redraw latency.png and throughput.png of a run folder from its history.jsonl and nemesis.json.
    Plot {
        /// The run folder.
        dir: PathBuf,
    },
    /// Check a recorded history.jsonl and print the checkers' reports.
    Check {
        /// The history file.
        history: PathBuf,
    },
}

/// SIGTERM (what `timeout` sends): stop like Ctrl-C, cleaning up.
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

fn replot(dir: &std::path::Path) -> anyhow::Result<()> {
    use jepsen::plot::{latency_png, throughput_png, Window};
    let file = std::fs::File::open(dir.join("history.jsonl"))?;
    let history = jepsen::history::read_jsonl(std::io::BufReader::new(file))?;
    let nemesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("nemesis.json"))?)?;
    let windows: Vec<Window> = nemesis["applied"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| Window {
                    from: w["from"].as_f64().unwrap_or(0.0),
                    to: w["to"].as_f64().unwrap_or(0.0),
                    label: w["what"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let seconds = history.last().map_or(1.0, |e| e.time_ns as f64 / 1e9);
    latency_png(&dir.join("latency.png"), &history, &windows, seconds)?;
    throughput_png(&dir.join("throughput.png"), &history, &windows, seconds)
}

fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("icroot")))
        .unwrap_or_else(|| PathBuf::from("target/debug/icroot"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Plot { dir } => match replot(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}: {e:#}", dir.display());
                ExitCode::from(2)
            }
        },
        Cmd::Check { history } => {
            let events = match std::fs::File::open(&history)
                .map_err(anyhow::Error::from)
                .and_then(|f| Ok(jepsen::history::read_jsonl(std::io::BufReader::new(f))?))
            {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: {}: {e}", history.display());
                    return ExitCode::from(2);
                }
            };
            let reg = jepsen::checker::check_registers(&events);
            let set = jepsen::checker::set::check_set(&events);
            println!("{:#}", serde_json::json!({"register": reg, "set": set}));
            if reg.valid() && (set.valid() || set.acknowledged == 0) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Cmd::Test {
            nodes,
            time,
            nemesis,
            seed,
            binary,
            dir,
            clients,
            set_clients,
            keys,
            unsafe_stale_reads,
            expect,
        } => {
            let kinds: Result<Vec<NemesisKind>, String> =
                nemesis.iter().filter(|s| !s.is_empty()).map(|s| s.parse()).collect();
            let kinds = match kinds {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = TestOptions {
                nodes,
                time: Duration::from_secs(time),
                nemesis: kinds,
                seed,
                binary: binary.unwrap_or_else(default_binary),
                dir,
                clients,
                set_clients,
                keys: keys.max(1),
                unsafe_stale_reads,
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: tokio runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let result = rt.block_on(async {
                tokio::select! {
                    r = runner::run(&opts) => r,
                    _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; namespaces and nodes removed")),
                    _ = terminated() => Err(anyhow::anyhow!("terminated; namespaces and nodes removed")),
                }
            });
            match result {
                Ok(report) => {
                    println!(
                        "{:?}: {} ok / {} fail / {} info; register anomalies {}, set lost {} unexpected {}; {}",
                        report.verdict,
                        report.counts[0],
                        report.counts[1],
                        report.counts[2],
                        report.register.anomalies.len(),
                        report.set.lost.len(),
                        report.set.unexpected.len(),
                        report.dir.join("report.md").display()
                    );
                    let want = match expect {
                        Expect::Valid => Verdict::Valid,
                        Expect::Invalid => Verdict::Invalid,
                    };
                    if report.verdict == want {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("verdict {:?}, expected {want:?}", report.verdict);
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
