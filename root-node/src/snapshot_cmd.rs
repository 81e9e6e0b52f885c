//! `icroot snapshot save FILE` (online, admin profile) and `icroot snapshot restore FILE
//! --config NODE.toml` (offline, etcd-style: seed an empty data dir so the node starts a NEW
//! cluster from the backup). See docs/cli.md.
//!
//! ```text
//!  save:    Client ─<open/>─▶ root builds a snapshot ─▶ <chunk/> × n (≤ 256 KiB, SHA-256 each)
//!           ─▶ FILE.partial ─▶ whole-file SHA-256 + format verify ─▶ fsync ─▶ rename to FILE
//!  restore: NODE.toml ─▶ empty data_dir? ─▶ store::snapshot::restore::restore_into
//! ```
//!
//! Progress bars go to stderr, only when it is a terminal and `--json` is off.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use proto::raft_types::RootNode;
use proto::stanza::envelope::IqType;
use raft_xmpp_transport::RequestError;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::client::{Client, ClientError};
use crate::profile::Profile;
use crate::snapshot_wire::{self as wire, Chunk, ChunkRequest, Export, MAX_CHUNK_BYTES};
use crate::NodeConfig;

/// `icroot snapshot …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotOp {
    /// Pull the profile's root's snapshot (built afresh) into FILE (admin profile).
    Save {
        /// Where to write the snapshot (via FILE.partial, renamed when complete and verified).
        file: PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Seed the EMPTY data dir of NODE.toml from FILE; the node then starts a new cluster of
    /// the config's `bootstrap` members (or of itself alone) holding the snapshot's records.
    Restore {
        /// A file written by `icroot snapshot save`.
        file: PathBuf,
        /// The node config whose `data_dir` to seed.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Deadline of one chunk (or open) round trip.
const ROUND_TRIP: Duration = Duration::from_secs(60);
/// Attempts per chunk when the link fails.
const CHUNK_ATTEMPTS: u32 = 3;

fn progress(total: u64, json: bool, what: &str) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(what.to_owned());
    pb
}

fn invalid(msg: String) -> ClientError {
    ClientError::Invalid(msg)
}

/// FILE.partial next to FILE.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    file.with_file_name(name)
}

/// Save the root's snapshot to `file`; what was saved, as JSON.
pub async fn save(client: &Client, file: &Path, force: bool, json: bool) -> Result<Value, ClientError> {
    if file.exists() && !force {
        return Err(invalid(format!("{} exists; pass --force to overwrite it", file.display())));
    }
    let answer = client.iq(IqType::Set, wire::open_request(), ROUND_TRIP).await?;
    let export = answer
        .as_ref()
        .map(Export::parse)
        .transpose()
        .map_err(|e| ClientError::Unexpected(e.to_string()))?
        .ok_or_else(|| ClientError::Unexpected("empty answer to <open/>".into()))?;
    let result = fetch(client, &export, file, json).await;
    if let Err(e) = client.iq(IqType::Set, wire::close_request(&export.id), ROUND_TRIP).await {
        tracing::debug!(error = %e, "closing the export failed (the root closes it when idle)");
    }
    let records = result?;
    Ok(json!({
        "file": file,
        "bytes": export.size,
        "sha256": export.sha256,
        "snapshot_id": export.snapshot_id,
        "last_log_term": export.last_log.map(|l| l.0),
        "last_log_index": export.last_log.map(|l| l.1),
        "revision": export.revision,
        "records": records,
    }))
}

async fn get_chunk(client: &Client, req: &ChunkRequest) -> Result<Chunk, ClientError> {
    let mut attempt = 1;
    loop {
        let r = client.iq(IqType::Get, req.to_element(), ROUND_TRIP).await;
        match r {
            Ok(Some(el)) => return Chunk::parse(&el).map_err(|e| ClientError::Unexpected(e.to_string())),
            Ok(None) => return Err(ClientError::Unexpected("empty answer to <chunk/>".into())),
            Err(ClientError::Transport(RequestError::Unreachable(_) | RequestError::Network(_)))
                if attempt < CHUNK_ATTEMPTS =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Pull every chunk into FILE.partial, check it, move it to `file`; the record count.
async fn fetch(client: &Client, export: &Export, file: &Path, json: bool) -> Result<u64, ClientError> {
    let partial = partial_path(file);
    let io = |what: &str, p: &Path, e: std::io::Error| invalid(format!("{what} {}: {e}", p.display()));
    let mut out = File::create(&partial).map_err(|e| io("cannot create", &partial, e))?;
    let pb = progress(export.size, json, "saving");
    let mut hash = Sha256::new();
    let mut offset = 0u64;
    let outcome: Result<(), ClientError> = async {
        while offset < export.size {
            let length = (export.size - offset).min(u64::from(MAX_CHUNK_BYTES)) as u32;
            let req = ChunkRequest { id: export.id.clone(), offset, length };
            let chunk = get_chunk(client, &req).await?;
            if chunk.offset != offset || chunk.data.is_empty() || chunk.data.len() > length as usize {
                return Err(ClientError::Unexpected(format!(
                    "asked for {length} bytes at {offset}, got {} at {}",
                    chunk.data.len(),
                    chunk.offset
                )));
            }
            out.write_all(&chunk.data).map_err(|e| io("cannot write", &partial, e))?;
            hash.update(&chunk.data);
            offset += chunk.data.len() as u64;
            pb.set_position(offset);
        }
        Ok(())
    }
    .await;
    pb.finish_and_clear();
    let checked = outcome.and_then(|()| {
        if hex::encode(hash.finalize()) != export.sha256 {
            return Err(invalid("the saved file's SHA-256 does not match the root's; nothing saved".into()));
        }
        out.sync_all().map_err(|e| io("cannot sync", &partial, e))?;
        let reader =
            std::io::BufReader::new(File::open(&partial).map_err(|e| io("cannot read", &partial, e))?);
        let (header, records) = store::snapshot::format::verify(reader)
            .map_err(|e| invalid(format!("the received snapshot does not verify: {e}")))?;
        if header.snapshot_id != export.snapshot_id {
            return Err(invalid(format!(
                "received snapshot {} instead of {}",
                header.snapshot_id, export.snapshot_id
            )));
        }
        Ok(records)
    });
    match checked {
        Ok(records) => {
            std::fs::rename(&partial, file).map_err(|e| io("cannot rename to", file, e))?;
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("cannot sync", dir, e))?;
            }
            Ok(records)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Seed `config`'s empty data dir from `file`; what was restored, as JSON.
pub async fn restore(file: &Path, config_path: &Path, json: bool) -> anyhow::Result<Value> {
    let config = NodeConfig::load(config_path)?;
    let members: BTreeMap<u64, RootNode> = if config.bootstrap.is_empty() {
        BTreeMap::from([(config.node_id, RootNode { domain: config.domain.clone() })])
    } else {
        config.bootstrap.clone()
    };
    store::snapshot::restore::check_empty_dir(&config.data_dir)?;
    let size = std::fs::metadata(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?.len();
    let pb = progress(2 * size, json, "verifying and restoring");
    let mut inc = |n: u64| pb.inc(n);
    let report =
        store::snapshot::restore::restore_into(&config.data_dir, file, config.node_id, &members, &mut inc)
            .await;
    pb.finish_and_clear();
    let report = report?;
    Ok(json!({
        "data_dir": config.data_dir,
        "node_id": config.node_id,
        "snapshot_id": report.snapshot_id,
        "last_log_term": report.last_log_id.leader_id.term,
        "last_log_index": report.last_log_id.index,
        "revision": report.revision,
        "records": report.records,
        "members": members.iter().map(|(id, n)| json!({"id": id, "domain": n.domain})).collect::<Vec<_>>(),
    }))
}

fn text(op: &SnapshotOp, v: &Value) -> String {
    match op {
        SnapshotOp::Save { file, .. } => format!(
            "saved snapshot {} ({} records, revision {}, last log index {}, {} bytes, sha256 {}) to {}\n",
            v["snapshot_id"].as_str().unwrap_or("?"),
            v["records"],
            v["revision"],
            v["last_log_index"],
            v["bytes"],
            v["sha256"].as_str().unwrap_or("?"),
            file.display()
        ),
        SnapshotOp::Restore { config, .. } => format!(
            "restored {} records (revision {}, last log index {}) into {}\n\
             start the node with `icroot node --config {}`: it forms a new cluster of {}\n",
            v["records"],
            v["revision"],
            v["last_log_index"],
            v["data_dir"].as_str().unwrap_or("?"),
            config.display(),
            v["members"]
        ),
    }
}

/// Run `icroot snapshot …`; prints the outcome (text or one JSON document).
pub async fn main(profile: Option<&Path>, json: bool, op: &SnapshotOp) -> ExitCode {
    let outcome: Result<Value, (String, &'static str)> = match op {
        SnapshotOp::Save { file, force } => {
            let Some(path) = profile else {
                eprintln!("error: `snapshot save` needs --profile FILE (an admin profile)");
                return ExitCode::from(2);
            };
            match Profile::load(path).map_err(|e| ClientError::Invalid(e.to_string())) {
                Err(e) => Err((e.to_string(), "see docs/cli.md for the profile format")),
                Ok(profile) => match Client::connect(&profile) {
                    Err(e) => Err((e.to_string(), e.hint())),
                    Ok(client) => {
                        let r = save(&client, file, *force, json).await;
                        client.close().await;
                        r.map_err(|e| {
                            let hint = match &e {
                                ClientError::Refused { condition, .. } if condition == "forbidden" => {
                                    "snapshots are for consortium administrators: use the admin profile"
                                }
                                other => other.hint(),
                            };
                            (e.to_string(), hint)
                        })
                    }
                },
            }
        }
        SnapshotOp::Restore { file, config } => restore(file, config, json).await.map_err(|e| {
            (format!("{e:#}"), "restore seeds an empty data_dir of a stopped node; see docs/cli.md")
        }),
    };
    match outcome {
        Ok(v) => {
            if json {
                println!("{v}");
            } else {
                print!("{}", text(op, &v));
            }
            ExitCode::SUCCESS
        }
        Err((message, hint)) => {
            if json {
                println!("{}", json!({"error": {"message": message, "hint": hint}}));
            }
            eprintln!("error: {message}");
            eprintln!("hint: {hint}");
            ExitCode::FAILURE
        }
    }
}
