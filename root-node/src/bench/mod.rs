//! `icroot bench`: a load generator against a running `icroot dev` cluster, or any cluster given
//! by a profile and the CA its nodes trust (docs/benchmarks.md).
//!
//! ```text
//!  setup:    CA (DIR/pki of `icroot dev`, or --ca-cert/--ca-key) ─▶ certificate per
//!            bench-N.demo.lan ─▶ one Client (S2S stream) per domain
//!            ─▶ register-exchange as itself (already registered is fine)
//!  measure:  N workers ─▶ write | renew | read | stale requests ─▶ a root node (forwarded to the
//!            leader by followers) ─▶ per-worker HDR histograms ─▶ Report (table or --json)
//! ```
//!
//! The root answers over the stream a request arrived on, and a Client keeps many requests in
//! flight, so workers beyond the number of domains share streams.

mod load;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use proto::stanza::registry::{
    bounds::LEASE_TTL_SECS_MAX, ExchangeSpec, RegisterExchange, RegistryError, RegistryRequest,
};
use raft_xmpp_transport::pki::DevCa;
use serde_json::json;

pub use load::{Mix, OpKind, Pace};
pub use report::{Recorder, Report};

use crate::client::{Client, ClientError};
use crate::profile::Profile;

/// `icroot bench` options.
#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// The directory of a running `icroot dev` (its CA under DIR/pki issues the bench domains'
    /// certificates; DIR/profiles/ix1.demo.lan.toml says where the roots are). Default
    /// `icroot-dev` unless --profile is given.
    #[arg(long, conflicts_with_all = ["profile", "ca_cert", "ca_key", "pki_dir"])]
    pub dev_dir: Option<PathBuf>,
    /// Bench a cluster that is not `icroot dev`: a client profile (e.g. one `icroot init` wrote)
    /// says where the roots are and which CA they present; needs --ca-cert and --ca-key.
    #[arg(long, requires_all = ["ca_cert", "ca_key"])]
    pub profile: Option<PathBuf>,
    /// With --profile: the certificate of the CA the roots trust for Exchanges (e.g. `icroot
    /// init`'s DIR/ca.pem); it issues the bench domains' certificates.
    #[arg(long, requires = "profile")]
    pub ca_cert: Option<PathBuf>,
    /// With --profile: that CA's private key (e.g. DIR/ca.key).
    #[arg(long, requires = "profile")]
    pub ca_key: Option<PathBuf>,
    /// With --profile: where the bench domains' certificates go (default: `bench-pki` next to
    /// the CA key); issued on first use, kept for later runs.
    #[arg(long, requires = "profile")]
    pub pki_dir: Option<PathBuf>,
    /// Bench Exchanges (bench-0.demo.lan …), each with its own S2S stream.
    #[arg(long, default_value_t = 16)]
    pub domains: usize,
    /// Workers, each with one request outstanding at a time.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before the measured part (same workers and streams; not counted).
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Open loop: requests per second over all workers, latency measured from each request's
    /// scheduled send time. Without it the bench is closed-loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Op weights: write (update-exchange), renew (renew-lease), read (linearizable
    /// get-exchange), stale (stale get-exchange).
    #[arg(long, default_value = "write=1,read=1,stale=1", value_parser = Mix::parse)]
    pub mix: Mix,
    /// Spread the domains' streams over every root node instead of the profile's first root.
    #[arg(long)]
    pub spread: bool,
    /// Seconds one request may take before it counts as a `timeout` error.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
}

/// The record a bench domain writes: small and valid, `seq` changes on every write.
pub fn bench_spec(domain: &str, seq: u64) -> ExchangeSpec {
    ExchangeSpec {
        organisation: "icroot bench".into(),
        regions: vec!["bench".into()],
        capabilities: vec!["bench".into()],
        endpoints: vec![format!("xmpp:{domain}")],
        lease_ttl_secs: LEASE_TTL_SECS_MAX,
        metadata: [("seq".to_owned(), seq.to_string())].into_iter().collect(),
        ..Default::default()
    }
}

fn check(args: &BenchArgs) -> anyhow::Result<()> {
    if args.domains == 0 || args.domains > 10_000 {
        bail!("--domains must be between 1 and 10000");
    }
    if args.concurrency == 0 || args.concurrency > 100_000 {
        bail!("--concurrency must be between 1 and 100000");
    }
    if !(args.duration > 0.0 && args.duration <= 86_400.0) {
        bail!("--duration must be above 0 and at most 86400 seconds");
    }
    if !(args.warmup >= 0.0 && args.warmup <= 3_600.0) {
        bail!("--warmup must be between 0 and 3600 seconds");
    }
    if !(args.timeout > 0.0 && args.timeout <= 600.0) {
        bail!("--timeout must be above 0 and at most 600 seconds");
    }
    if let Some(r) = args.rate {
        if !(r > 0.0 && r.is_finite()) {
            bail!("--rate must be above 0");
        }
    }
    Ok(())
}

/// A profile for bench domain `i`, its certificate issued by the dev CA on first use.
fn bench_profile(
    ca: &DevCa,
    pki: &Path,
    template: &Profile,
    i: usize,
    spread: bool,
) -> anyhow::Result<Profile> {
    let domain = format!("bench-{i}.demo.lan");
    let (cert, key) =
        crate::dev::ensure_cert(ca, pki, &domain).with_context(|| format!("certificate for {domain}"))?;
    let mut p = Profile { domain, cert, key, ..template.clone() };
    if spread {
        let mut roots = template.roots();
        let n = roots.len();
        roots.rotate_left(i % n);
        let (first, rest) = roots.split_first().map(|(f, r)| (f.clone(), r.to_vec())).unwrap_or_default();
        (p.root_domain, p.root_address, p.fallback_roots) = (first.0, first.1, rest);
    }
    Ok(p)
}

/// Where the roots are (a profile) and the CA that issues the bench domains' certificates.
struct Target {
    template: Profile,
    ca: DevCa,
    pki: PathBuf,
}

fn target(args: &BenchArgs) -> anyhow::Result<Target> {
    if let Some(profile) = &args.profile {
        let (Some(ca_cert), Some(ca_key)) = (&args.ca_cert, &args.ca_key) else {
            bail!("--profile needs --ca-cert and --ca-key (the CA the roots trust for Exchanges)");
        };
        let template = Profile::load(profile).with_context(|| format!("profile {}", profile.display()))?;
        let ca = DevCa::load(ca_cert, ca_key)
            .with_context(|| format!("CA {} + {}", ca_cert.display(), ca_key.display()))?;
        let pki = match &args.pki_dir {
            Some(d) => d.clone(),
            None => ca_key.parent().unwrap_or(Path::new(".")).join("bench-pki"),
        };
        return Ok(Target { template, ca, pki });
    }
    let dir = args.dev_dir.clone().unwrap_or_else(|| PathBuf::from("icroot-dev"));
    let pki = dir.join("pki");
    let hint = "is `icroot dev` running with this --dir? (--dev-dir names that directory)";
    if !dir.join("ready").exists() {
        bail!("{} is missing: {hint}", dir.join("ready").display());
    }
    let ca =
        DevCa::load(&pki.join("ca.pem"), &pki.join("ca.key")).with_context(|| format!("dev CA: {hint}"))?;
    let template_path = dir.join("profiles").join(format!("{}.toml", crate::dev::DEMO_EXCHANGES[0]));
    let template = Profile::load(&template_path).with_context(|| hint.to_owned())?;
    Ok(Target { template, ca, pki })
}

/// Issue certificates, connect one client per domain and register every domain.
async fn setup(args: &BenchArgs) -> anyhow::Result<Vec<Arc<Client>>> {
    let Target { template, ca, pki } = target(args)?;
    std::fs::create_dir_all(&pki).with_context(|| format!("creating {}", pki.display()))?;
    let mut clients = Vec::new();
    for i in 0..args.domains {
        let p = bench_profile(&ca, &pki, &template, i, args.spread)?;
        clients.push(Arc::new(Client::connect(&p).with_context(|| format!("client for {}", p.domain))?));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for c in &clients {
        let c = Arc::clone(c);
        tasks.spawn(async move {
            let spec = bench_spec(c.domain(), 0);
            let req = RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec });
            match c.request(&req).await {
                Ok(_) | Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. }) => {
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("registering {}: {e}", c.domain())),
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("setup task")??;
    }
    Ok(clients)
}

/// Run the bench; `progress` shows a bar on stderr while it runs.
pub async fn run(args: &BenchArgs, progress: bool) -> anyhow::Result<Report> {
    check(args)?;
    let clients = setup(args).await?;
    let domains = clients.iter().map(|c| c.domain().to_owned()).collect();
    let shared = Arc::new(load::Shared {
        clients,
        domains,
        mix: args.mix.clone(),
        timeout: Duration::from_secs_f64(args.timeout),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        unsent: AtomicU64::new(0),
    });
    let pace = args.rate.map_or(Pace::Closed, |rate| Pace::Open { rate });
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let measured = start + Duration::from_secs_f64(args.warmup);
    let end = measured + duration;
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        let times = load::Times { start, measured, end };
        workers.spawn(load::worker(Arc::clone(&shared), w, args.concurrency, pace, times));
    }
    let bar = progress.then(|| progress_bar(Arc::clone(&shared), start, end - start));
    let mut recorded = Recorder::default();
    while let Some(r) = workers.join_next().await {
        recorded.merge(r.context("bench worker")?);
    }
    let elapsed = measured.elapsed();
    if let Some((task, pb)) = bar {
        task.abort();
        // Wait for the task to go so that it no longer holds the clients.
        let _ = task.await;
        pb.finish_and_clear();
    }
    let shared = Arc::into_inner(shared).context("workers still hold the clients")?;
    let shared_unsent = shared.unsent.load(Ordering::Relaxed);
    for c in shared.clients {
        if let Some(c) = Arc::into_inner(c) {
            c.close().await;
        }
    }
    let settings = json!({
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "concurrency": args.concurrency,
        "rate": args.rate,
        "domains": args.domains,
        "duration_secs": args.duration,
        "warmup_secs": args.warmup,
        "target": if args.profile.is_some() { "profile" } else { "dev" },
        "mix": args.mix.to_json(),
        "spread": args.spread,
        "timeout_secs": args.timeout,
    });
    Ok(Report { settings, elapsed, recorded, unsent: shared_unsent })
}

/// A bar over the measured time with the running op count, on stderr.
fn progress_bar(
    shared: Arc<load::Shared>,
    start: Instant,
    duration: Duration,
) -> (tokio::task::JoinHandle<()>, indicatif::ProgressBar) {
    use indicatif::{ProgressBar, ProgressStyle};
    let total_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let pb = ProgressBar::new(total_ms);
    pb.set_style(
        ProgressStyle::with_template("bench [{bar:30}] {elapsed}/{duration} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let bar = pb.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            let done = shared.done.load(Ordering::Relaxed);
            let failed = shared.failed.load(Ordering::Relaxed);
            pb.set_position(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX).min(total_ms));
            pb.set_message(format!("{done} ops, {:.0} ops/s, {failed} errors", done as f64 / secs));
        }
    });
    (task, bar)
}

/// `icroot bench` from the command line: exit 0 when the bench ran (errors are in the report),
/// 1 when it could not start.
pub async fn main(args: &BenchArgs, json: bool) -> ExitCode {
    let progress = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    match run(args, progress).await {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                println!("{}", json!({"error": {"message": format!("{e:#}")}}));
            }
            eprintln!("error: icroot bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
