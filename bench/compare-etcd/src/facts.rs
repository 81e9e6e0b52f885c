//! The work directory (real disk only) and the machine facts printed with every result.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

/// (mount point, source device, file system type) of the mount holding `path`.
fn mount_of(path: &Path) -> Option<(PathBuf, String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut best: Option<(PathBuf, String, String)> = None;
    for line in text.lines() {
        // id parent major:minor root mount-point options... - fstype source super-options
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(mp), Some(dash)) = (fields.get(4), fields.iter().position(|f| *f == "-")) else {
            continue;
        };
        let mp = PathBuf::from(mp.replace("\\040", " "));
        let (Some(fstype), Some(source)) = (fields.get(dash + 1), fields.get(dash + 2)) else {
            continue;
        };
        if path.starts_with(&mp)
            && best.as_ref().is_none_or(|(b, _, _)| mp.as_os_str().len() >= b.as_os_str().len())
        {
            best = Some((mp, (*source).to_owned(), (*fstype).to_owned()));
        }
    }
    best
}

/// The nearest existing ancestor of `path`, resolved.
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path.to_owned();
    loop {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        if !p.pop() {
            return PathBuf::from("/");
        }
    }
}

/// Refuse a tmpfs (or ramfs) work directory, then wipe and create it.
pub fn prepare_workdir(dir: &Path) -> Result<()> {
    let abs = if dir.is_absolute() { dir.to_owned() } else { std::env::current_dir()?.join(dir) };
    if let Some((mp, _, fs)) = mount_of(&existing_ancestor(&abs)) {
        if fs == "tmpfs" || fs == "ramfs" {
            bail!(
                "--workdir {} is on {fs} ({}): both systems must fsync to a real disk; pick a \
                 directory on one (e.g. under /var/tmp)",
                dir.display(),
                mp.display()
            );
        }
    }
    if abs == Path::new("/") || abs.parent().is_none() {
        bail!("--workdir {} would wipe a file system root", dir.display());
    }
    match std::fs::remove_dir_all(&abs) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("wiping {}", abs.display()));
        }
        _ => {}
    }
    std::fs::create_dir_all(&abs).with_context(|| format!("creating {}", abs.display()))?;
    Ok(())
}

fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_owned())
}

/// nproc, CPU model, kernel, the work directory's disk, etcd version, icroot commit.
pub fn machine(workdir: &Path, etcd: &Path, icroot: &Path) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned());
    let disk =
        mount_of(&existing_ancestor(workdir)).map(|(mp, src, fs)| format!("{src} {fs} at {}", mp.display()));
    let etcd_version = first_line(Command::new(etcd).arg("--version"));
    let icroot_version = first_line(Command::new(icroot).arg("--version"));
    let commit = first_line(Command::new("git").args([
        "-C",
        env!("CARGO_MANIFEST_DIR"),
        "rev-parse",
        "--short",
        "HEAD",
    ]));
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "kernel": kernel,
        "disk": disk,
        "etcd": etcd_version,
        "icroot": icroot_version,
        "icroot_commit": commit,
    })
}

/// The facts on one line.
pub fn describe(m: &Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or("?").to_owned();
    format!(
        "{} cpus ({}), kernel {}, workdir disk {}, {}, {} (commit {})",
        m["nproc"],
        s("cpu"),
        s("kernel"),
        s("disk"),
        s("etcd"),
        s("icroot"),
        s("icroot_commit")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_workdir_is_refused_and_a_disk_one_is_wiped() {
        if mount_of(Path::new("/dev/shm")).is_some_and(|(_, _, fs)| fs == "tmpfs") {
            let e = prepare_workdir(Path::new("/dev/shm/compare-etcd-test")).map(|_| ()).unwrap_err();
            assert!(e.to_string().contains("tmpfs"), "{e}");
            assert!(!Path::new("/dev/shm/compare-etcd-test").exists());
        }
        let base = std::env::temp_dir().join(format!("compare-etcd-facts-{}", std::process::id()));
        if mount_of(&existing_ancestor(&base)).is_some_and(|(_, _, fs)| fs != "tmpfs") {
            std::fs::create_dir_all(base.join("old")).unwrap_or_else(|e| panic!("{e}"));
            prepare_workdir(&base).unwrap_or_else(|e| panic!("{e}"));
            assert!(base.is_dir() && !base.join("old").exists(), "wiped and recreated");
            let _ = std::fs::remove_dir_all(&base);
        }
        assert!(prepare_workdir(Path::new("/")).is_err());
    }
}
