//! Store benchmark: log append cost (synced vs not), apply throughput, snapshot build and
//! install, restart-to-serving time and RSS at N records.
//!
//! Usage: `store-bench [N]` (default 1 000 000, or env `STORE_BENCH_N`). Snapshot build + send,
//! restart and receive + install run in child processes (`store-bench send <dir>`,
//! `store-bench restart <dir> <digest>`, `store-bench install <dir> <file> <digest>`) so each
//! reports its own peak RSS. Send and receive go through openraft's state machine API with
//! chunks of the stanza budget, as the chunked transport does. Build with `--release` for
//! meaningful numbers.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use openraft::storage::{RaftLogStorageExt, RaftStateMachine};
use openraft::RaftSnapshotBuilder;
use proto::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES;
use proto::stanza::registry::Search;
use store::testkit;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Entries per apply call, like openraft's apply batches under load.
const APPLY_BATCH: u64 = 1000;
/// Single-entry appends timed per durability mode.
const APPEND_SAMPLES: u64 = 2000;

/// (VmRSS, VmHWM) in MiB from /proc/self/status.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn report(what: &str) {
    let (rss, hwm) = rss_mib();
    println!("  rss after {what}: VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB");
}

fn dir_mib(path: &Path) -> f64 {
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total as f64 / (1 << 20) as f64
}

async fn append_cost(dir: &Path) -> Res {
    let (mut log, _sm) = store::open(dir)?;
    for (sync, label) in [(true, "synced (fsync WAL)"), (false, "not synced")] {
        log.set_sync_for_benchmark(sync);
        let base = if sync { 1 } else { APPEND_SAMPLES + 1 };
        let t = Instant::now();
        for i in base..base + APPEND_SAMPLES {
            log.blocking_append([testkit::entry(i, testkit::register_command(i))]).await?;
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / APPEND_SAMPLES as f64;
        println!("  log append, 1 entry, {label}: {us:.0} µs/append ({:.0}/s)", 1e6 / us);
    }
    log.set_sync_for_benchmark(true);
    let base = 2 * APPEND_SAMPLES + 1;
    let batches = 50;
    let t = Instant::now();
    for b in 0..batches {
        let start = base + b * 64;
        log.blocking_append((start..start + 64).map(|i| testkit::entry(i, testkit::register_command(i))))
            .await?;
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / batches as f64;
    println!("  log append, 64-entry batch, synced: {per:.0} µs/batch ({:.0} entries/s)", 64e6 / per);
    Ok(())
}

fn child(args: &[&str]) -> Res {
    let status = Command::new(std::env::current_exe()?).args(args).status()?;
    if !status.success() {
        return Err(format!("child {args:?} failed: {status}").into());
    }
    Ok(())
}

async fn run(n: u64) -> Res {
    let root = std::env::temp_dir().join(format!("store-bench-{}", std::process::id()));
    let (data, copy, log_dir) = (root.join("data"), root.join("copy"), root.join("log"));
    println!("store-bench: N = {n}, data in {}", root.display());

    append_cost(&log_dir).await?;

    let (_log, sm) = store::open(&data)?;
    let t = Instant::now();
    let mut i = 1;
    while i <= n {
        let end = (i + APPLY_BATCH).min(n + 1);
        sm.apply_entries((i..end).map(|k| testkit::entry(k, testkit::register_command(k))))?;
        i = end;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("  apply {n} registrations: {secs:.1} s ({:.0} entries/s)", n as f64 / secs);
    report("apply");

    let digest = hex::encode(sm.registry_digest()?);
    drop((_log, sm));

    // First reopen: what a crash leaves (no flush on close), so it replays the WAL.
    child(&["restart", data.to_str().ok_or("path")?, &digest])?;
    child(&["send", data.to_str().ok_or("path")?])?;
    println!("  data dir: {:.0} MiB on disk", dir_mib(&data));
    let snapshots = std::fs::read_dir(data.join("snapshots"))?;
    let file = snapshots
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "icsnap"))
        .ok_or("no snapshot file after the build")?;
    let kept: PathBuf = root.join("snap.icsnap");
    std::fs::copy(&file, &kept)?;
    child(&["install", copy.to_str().ok_or("path")?, kept.to_str().ok_or("path")?, &digest])?;
    // Restart once more: the first reopen replayed the WAL, this one measures a clean reopen.
    child(&["restart", data.to_str().ok_or("path")?, &digest])?;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// Reopen `dir` and serve a get and a search: the restart-to-serving time.
fn restart(dir: &str, digest: &str) -> Res {
    let t = Instant::now();
    let (_log, sm) = store::open(dir)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let x = sm.exchange(&testkit::domain(1))?;
    let page = sm.search(&Search { capability: Some("gpu".into()), limit: 50, ..Search::default() })?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "  restart to serving (open + get + 50-hit search): {ms:.0} ms, of which open {open_ms:.0} ms (found: {}, {} hits)",
        x.is_some(),
        page.hits.len()
    );
    report("restart");
    let t = Instant::now();
    let reads = 100_000u64;
    let n = sm.revision().max(1);
    for k in 0..reads {
        let key = testkit::domain(1 + (k * 7919) % n);
        std::hint::black_box(sm.exchange(&key)?);
    }
    println!("  random gets: {:.0}/s", reads as f64 / t.elapsed().as_secs_f64());
    report("100k random gets");
    if hex::encode(sm.registry_digest()?) != digest {
        return Err("digest changed across restart".into());
    }
    Ok(())
}

/// Build a snapshot through openraft's builder and read it back the way the chunked
/// transport sends it: seek, then one chunk of the stanza budget at a time.
async fn send(dir: &str) -> Res {
    let (_log, mut sm) = store::open(dir)?;
    let t = Instant::now();
    let mut snap = sm.get_snapshot_builder().await.build_snapshot().await?;
    let end = snap.snapshot.seek(SeekFrom::End(0)).await?;
    println!(
        "  snapshot build (streamed to file): {:.1} s, {:.0} MiB file",
        t.elapsed().as_secs_f64(),
        end as f64 / (1 << 20) as f64
    );
    report("snapshot build");
    let t = Instant::now();
    let (mut offset, mut chunks) = (0u64, 0u64);
    while offset < end {
        snap.snapshot.seek(SeekFrom::Start(offset)).await?;
        let mut buf = Vec::with_capacity(MAX_SNAPSHOT_CHUNK_BYTES);
        while buf.len() < buf.capacity() {
            if snap.snapshot.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        offset += std::hint::black_box(buf).len() as u64;
        chunks += 1;
    }
    println!(
        "  snapshot send (read in {} KiB chunks): {chunks} chunks in {:.1} s",
        MAX_SNAPSHOT_CHUNK_BYTES / 1024,
        t.elapsed().as_secs_f64()
    );
    report("snapshot build + send");
    Ok(())
}

/// Receive `file` into a fresh store at `dir` in chunks, as openraft's chunked receiver
/// writes them, install it, and check the registry digest.
async fn install(dir: &str, file: &str, digest: &str) -> Res {
    let (_log, mut sm) = store::open(dir)?;
    let meta = store::snapshot::read_header(Path::new(file))?.raft_meta()?;
    let t = Instant::now();
    let mut from = tokio::fs::File::open(file).await?;
    let mut rx = sm.begin_receiving_snapshot().await?;
    let mut buf = vec![0u8; MAX_SNAPSHOT_CHUNK_BYTES];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        rx.write_all(&buf[..n]).await?;
    }
    rx.shutdown().await?;
    println!("  snapshot receive (written in chunks): {:.1} s", t.elapsed().as_secs_f64());
    report("snapshot receive");
    let t = Instant::now();
    sm.install_snapshot(&meta, rx).await?;
    println!("  snapshot install (verify + stream into RocksDB): {:.1} s", t.elapsed().as_secs_f64());
    report("snapshot receive + install");
    let same = hex::encode(sm.registry_digest()?) == digest;
    println!("  installed registry digest equals source: {same}");
    if !same {
        return Err("digest mismatch after install".into());
    }
    Ok(())
}

fn main() -> Res {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // tokio::fs runs on the blocking pool, which a current-thread runtime has too.
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["restart", dir, digest] => restart(dir, digest),
        ["send", dir] => rt.block_on(send(dir)),
        ["install", dir, file, digest] => rt.block_on(install(dir, file, digest)),
        rest => {
            let n = rest
                .first()
                .map(|s| s.to_string())
                .or_else(|| std::env::var("STORE_BENCH_N").ok())
                .map_or(Ok(1_000_000), |s| s.parse::<u64>())?;
            rt.block_on(run(n))
        }
    }
}
