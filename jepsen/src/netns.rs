//! The test network: one Linux network namespace per node, each with a veth into a bridge the
//! runner creates, addresses from 198.51.100.0/24 (TEST-NET-2; 203.0.113.0/24 if the machine
//! uses that), never routed anywhere else, and an nftables table per namespace through which
//! partitions are applied.
//!
//! ```text
//!  host (runner, clients)          [ns jepsen-hub]            [ns jepsen-n1] 198.51.100.1  icroot node 1
//!  jepsen-h0 198.51.100.254 ── veth ── br0 ──┬── veth ─────────── eth0
//!                                         ├── veth ─────────── [ns jepsen-n2] 198.51.100.2 …
//!                                         └── …     each node ns: nft table inet jepsen (partitions)
//! ```
//!
//! The bridge lives in a namespace of its own: bridged frames pass through the iptables FORWARD
//! chain of the namespace the bridge is in (`bridge-nf-call-iptables`), and a host's firewall
//! (Docker sets FORWARD to DROP) must neither break nor be changed by the test network.
//! Clients run in the host namespace and are never cut off: a partition separates nodes from
//! nodes, as in Jepsen. Needs root (CAP_NET_ADMIN), `ip` (iproute2) and `nft` (nftables).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The namespace holding the bridge every node's veth is plugged into.
pub const HUB: &str = "jepsen-hub";
/// The host's veth into the hub.
pub const HOST_IF: &str = "jepsen-h0";
/// The host's (clients') address on the bridge.
pub fn host_addr() -> Ipv4Addr {
    addr(254)
}

/// Documentation ranges (RFC 5737) tried in turn; the first no local link of this machine uses
/// is taken for the run (TEST-NET-2, then TEST-NET-3).
const SUBNETS: [[u8; 3]; 2] = [[198, 51, 100], [203, 0, 113]];
static SUBNET: std::sync::OnceLock<[u8; 3]> = std::sync::OnceLock::new();

fn addr(last: u8) -> Ipv4Addr {
    let [a, b, c] = *SUBNET.get().unwrap_or(&SUBNETS[0]);
    Ipv4Addr::new(a, b, c, last)
}

/// Whether only the default route covers `prefix` here (no local link uses it).
fn unused(prefix: [u8; 3]) -> Result<bool> {
    let probe = Ipv4Addr::new(prefix[0], prefix[1], prefix[2], 1).to_string();
    let out = Command::new("ip").args(["-4", "route", "get", &probe]).output().context("running ip")?;
    Ok(String::from_utf8_lossy(&out.stdout).contains(" via "))
}

/// Namespace of node `id` (1-based).
pub fn ns_name(id: u64) -> String {
    format!("jepsen-n{id}")
}

/// Address of node `id` (1-based, at most 250).
pub fn node_addr(id: u64) -> Ipv4Addr {
    addr(u8::try_from(id).unwrap_or(250))
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
        take_lock()?;
        cleanup(nodes.max(9));
        let mut chosen = None;
        for prefix in SUBNETS {
            if unused(prefix)? {
                chosen = Some(prefix);
                break;
            }
        }
        let Some(prefix) = chosen else {
            bail!("198.51.100.0/24 and 203.0.113.0/24 are both on local links of this machine; jepsen needs one unused");
        };
        if *SUBNET.get_or_init(|| prefix) != prefix {
            bail!("the test subnet was already chosen for another network in this process");
        }
        let mut net = Net { nodes, up: true };
        net.create().inspect_err(|_| net.teardown())?;
        Ok(net)
    }

    fn create(&mut self) -> Result<()> {
        let in_ns = |ns: &str, args: &[&str]| {
            let mut all = vec!["netns", "exec", ns];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        run("ip", &["netns", "add", HUB])?;
        in_ns(HUB, &["ip", "link", "add", "br0", "type", "bridge"])?;
        in_ns(HUB, &["ip", "link", "set", "br0", "up"])?;
        run("ip", &["link", "add", HOST_IF, "type", "veth", "peer", "name", "hv", "netns", HUB])?;
        in_ns(HUB, &["ip", "link", "set", "hv", "master", "br0", "up"])?;
        run("ip", &["addr", "add", &format!("{}/24", host_addr()), "dev", HOST_IF])?;
        run("ip", &["link", "set", HOST_IF, "up"])?;
        for id in 1..=self.nodes {
            let ns = ns_name(id);
            let hub_if = format!("jv-n{id}");
            run("ip", &["netns", "add", &ns])?;
            in_ns(
                HUB,
                &["ip", "link", "add", &hub_if, "type", "veth", "peer", "name", "eth0", "netns", &ns],
            )?;
            in_ns(HUB, &["ip", "link", "set", &hub_if, "master", "br0", "up"])?;
            in_ns(&ns, &["ip", "addr", "add", &format!("{}/24", node_addr(id)), "dev", "eth0"])?;
            in_ns(&ns, &["ip", "link", "set", "eth0", "up"])?;
            in_ns(&ns, &["ip", "link", "set", "lo", "up"])?;
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
             chain input {{\ntype filter hook input priority 0; policy accept;\n{}\n}}\n\
             chain output {{\ntype filter hook output priority 0; policy accept;\n{}\n}}\n}}\n",
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
            let _ = std::fs::remove_file(LOCK);
            self.up = false;
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Holds the pid of the run that owns the test network (names and addresses are fixed).
const LOCK: &str = "/run/icroot-jepsen.pid";

/// Refuse to start while another live run owns the network; take over a dead run's lock.
fn take_lock() -> Result<()> {
    if let Ok(pid) = std::fs::read_to_string(LOCK) {
        let pid = pid.trim();
        let alive = std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "jepsen");
        if alive && pid != std::process::id().to_string() {
            bail!("another jepsen run (pid {pid}) is using the test network; one run at a time per machine");
        }
    }
    std::fs::write(LOCK, std::process::id().to_string()).with_context(|| format!("writing {LOCK}"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Remove namespaces `jepsen-n1..=max` and the hub (which takes the veths with it),
/// ignoring what does not exist.
fn cleanup(max: u64) {
    let quiet = |args: &[&str]| {
        let _ = Command::new("ip").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    for id in 1..=max {
        quiet(&["netns", "del", &ns_name(id)]);
    }
    quiet(&["netns", "del", HUB]);
    quiet(&["link", "del", HOST_IF]);
}
