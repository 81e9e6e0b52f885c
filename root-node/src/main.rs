//! `icroot`: parse the command line, set up logging, run the command, report errors with a hint.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use root_node::cli::{self, Cli, Command};
use root_node::client::Client;
use root_node::dev::{DevCluster, DevOptions};
use root_node::watch::WatchOptions;
use root_node::{output, NodeConfig};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: stanza handling allocates many small, short-lived buffers,
/// and glibc's malloc/free were about a fifth of a lookup-heavy profile (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logs(default: &str) {
    let filter = EnvFilter::try_from_env("ICROOT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("stopping");
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Node { config } => {
            init_logs("info");
            report(run_node(config).await)
        }
        Command::Dev { nodes, dir, spare_nodes } => {
            init_logs("info");
            report(run_dev(DevOptions { nodes: *nodes, dir: dir.clone() }, *spare_nodes).await)
        }
        Command::Snapshot(op) => {
            init_logs("warn");
            root_node::snapshot_cmd::main(cli.profile.as_deref(), cli.json, op).await
        }
        Command::Bench(args) => {
            init_logs("warn");
            root_node::bench::main(args, cli.json).await
        }
        Command::Init(args) => {
            init_logs("warn");
            report(run_init(args))
        }
        Command::Dns { zone, listen } => {
            init_logs("info");
            report(run_dns(zone, *listen).await)
        }
        Command::Watch { prefix, since_revision } => {
            init_logs("warn");
            let opts = WatchOptions {
                prefix: prefix.clone(),
                since_revision: *since_revision,
                ..Default::default()
            };
            root_node::watch::run_cli(cli.profile.as_deref(), cli.json, opts).await
        }
        _ => {
            init_logs("warn");
            run_client(&cli).await
        }
    }
}

async fn run_node(path: &std::path::Path) -> anyhow::Result<()> {
    let config = NodeConfig::load(path)?;
    root_node::run(config, shutdown_signal()).await?;
    Ok(())
}

async fn run_dev(opts: DevOptions, spares: u64) -> anyhow::Result<()> {
    let cluster = DevCluster::start_with_spares(&opts, spares).await.context("icroot dev")?;
    for s in cluster.ready()["spare_nodes"].as_array().into_iter().flatten() {
        eprintln!(
            "icroot dev: spare node {} ({}): `icroot node --config {}`, then `icroot cluster add-learner --node-id {} --domain {}`",
            s["id"], s["domain"].as_str().unwrap_or("?"), s["config"].as_str().unwrap_or("?"), s["id"], s["domain"].as_str().unwrap_or("?")
        );
    }
    eprintln!(
        "icroot dev: {} root nodes ready; profiles in {}; Ctrl-C to stop",
        cluster.nodes().len(),
        opts.dir.join("profiles").display()
    );
    shutdown_signal().await;
    cluster.shutdown().await;
    Ok(())
}

fn run_init(args: &root_node::init::InitArgs) -> anyhow::Result<()> {
    let out = root_node::init::run(args).context("icroot init")?;
    let nodes: Vec<&str> = out.domains.iter().map(|(_, d)| d.as_str()).collect();
    println!("icroot init: {} nodes ({}) in {}", nodes.len(), nodes.join(", "), args.dir.display());
    for p in &out.profiles {
        println!("  profile {}", p.display());
    }
    Ok(())
}

async fn run_dns(zone: &std::path::Path, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let _dns = root_node::dns::serve(zone, listen).await.context("icroot dns")?;
    shutdown_signal().await;
    Ok(())
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_client(cli: &Cli) -> ExitCode {
    let Some(profile) = root_node::profile::load_for_command(cli.profile.as_deref()) else {
        return ExitCode::from(2);
    };
    let outcome = match Client::connect(&profile) {
        Ok(client) => {
            let r = cli::run_client(&client, &cli.command).await;
            client.close().await;
            r
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(result) => {
            if cli.json {
                println!("{}", output::result_json(result.as_ref()));
            } else {
                print!("{}", output::result_text(result.as_ref()));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let unknown = matches!(e, root_node::client::ClientError::Indeterminate { .. });
            if cli.json {
                let outcome = if unknown { "unknown" } else { "failed" };
                let doc = serde_json::json!({"error": {"message": e.to_string(), "hint": e.hint(), "outcome": outcome}});
                println!("{doc}");
            }
            eprintln!("error: {e}");
            eprintln!("hint: {}", e.hint());
            // 3: the write may have been applied (see docs/cli.md, "Output and errors").
            if unknown {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
