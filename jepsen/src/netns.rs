//! The test network: one Linux network namespace per node, each with a veth into a bridge the
//! runner creates, addresses from 192.0.2.0/24 (TEST-NET-1, never routed anywhere else), and an
//! nftables table per namespace through which partitions are applied.
//!
//! ```text
//!  host (runner, clients) 192.0.2.254 ── jepsen-br0 ──┬─ veth ─ [ns jepsen-n1] 192.0.2.1  icroot node 1
//!                                                     ├─ veth ─ [ns jepsen-n2] 192.0.2.2  icroot node 2
//!                                                     └─ …      nft table inet jepsen: drop to/from peers
//! ```
//!
//! Clients run in the host namespace and are never cut off: a partition separates nodes from
//! nodes, as in Jepsen. Needs root (CAP_NET_ADMIN), `ip` (iproute2) and `nft` (nftables).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The bridge every namespace's veth is plugged into.
pub const BRIDGE: &str = "jepsen-br0";
/// The host's (clients') address on the bridge.
pub const HOST_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

/// Namespace of node `id` (1-based).
pub fn ns_name(id: u64) -> String {
    format!("jepsen-n{id}")
}

/// Address of node `id` (1-based, at most 250).
pub fn node_addr(id: u64) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, u8::try_from(id).unwrap_or(250))
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(cmd).args(args).output().with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        bail!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn nft_script(ns: &str, script: &str) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (Debian package nftables)")?;
    child.stdin.take().context("nft stdin")?.write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft in {ns}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The namespaces and bridge of one run; removed on [`Net::teardown`] (and on drop).
#[derive(Debug)]
pub struct Net {
    nodes: u64,
    up: bool,
}

impl Net {
    /// Create the bridge and `nodes` namespaces (removing leftovers of an earlier run first).
    pub fn setup(nodes: u64) -> Result<Net> {
        if !(1..=250).contains(&nodes) {
            bail!("--nodes must be 1..=250");
        }
        if !is_root() {
            bail!("network namespaces need root: run as root (CI does)");
        }
        cleanup(nodes.max(9));
        let mut net = Net { nodes, up: true };
        net.create().inspect_err(|_| net.teardown())?;
        Ok(net)
    }

    fn create(&mut self) -> Result<()> {
        run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
        run("ip", &["addr", "add", &format!("{HOST_ADDR}/24"), "dev", BRIDGE])?;
        run("ip", &["link", "set", BRIDGE, "up"])?;
        for id in 1..=self.nodes {
            let ns = ns_name(id);
            let host_if = format!("jv-n{id}");
            run("ip", &["netns", "add", &ns])?;
            run("ip", &["link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
            run("ip", &["link", "set", &host_if, "master", BRIDGE, "up"])?;
            let exec = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &ns];
                all.extend_from_slice(args);
                run("ip", &all)
            };
            exec(&["ip", "addr", "add", &format!("{}/24", node_addr(id)), "dev", "eth0"])?;
            exec(&["ip", "link", "set", "eth0", "up"])?;
            exec(&["ip", "link", "set", "lo", "up"])?;
            self.isolate_from(id, &BTreeSet::new())?;
        }
        Ok(())
    }

    /// Number of nodes.
    pub fn nodes(&self) -> u64 {
        self.nodes
    }

    /// Make node `id` drop every packet from or to the nodes in `peers` (replacing its rules).
    pub fn isolate_from(&self, id: u64, peers: &BTreeSet<u64>) -> Result<()> {
        let rules = if peers.is_empty() {
            (String::new(), String::new())
        } else {
            let set = peers.iter().map(|p| node_addr(*p).to_string()).collect::<Vec<_>>().join(", ");
            (format!("ip saddr {{ {set} }} drop"), format!("ip daddr {{ {set} }} drop"))
        };
        let script = format!(
            "table inet jepsen\ndelete table inet jepsen\ntable inet jepsen {{\n\
             chain input {{ type filter hook input priority 0; policy accept; {} }}\n\
             chain output {{ type filter hook output priority 0; policy accept; {} }}\n}}\n",
            rules.0, rules.1
        );
        nft_script(&ns_name(id), &script)
    }

    /// Apply a whole partition: `blocked[i]` is what node i+1 may not talk to.
    pub fn apply(&self, grudge: &[(u64, BTreeSet<u64>)]) -> Result<()> {
        for (id, peers) in grudge {
            self.isolate_from(*id, peers)?;
        }
        Ok(())
    }

    /// Remove every partition.
    pub fn heal(&self) -> Result<()> {
        for id in 1..=self.nodes {
            self.isolate_from(id, &BTreeSet::new())?;
        }
        Ok(())
    }

    /// Delete the namespaces and the bridge.
    pub fn teardown(&mut self) {
        if self.up {
            cleanup(self.nodes);
            self.up = false;
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Remove namespaces `jepsen-n1..=max` and the bridge, ignoring what does not exist.
fn cleanup(max: u64) {
    for id in 1..=max {
        let _ = Command::new("ip").args(["netns", "del", &ns_name(id)]).stderr(Stdio::null()).status();
        let _ = Command::new("ip")
            .args(["link", "del", &format!("jv-n{id}")])
            .stderr(Stdio::null())
            .status();
    }
    let _ = Command::new("ip").args(["link", "del", BRIDGE]).stderr(Stdio::null()).status();
}
