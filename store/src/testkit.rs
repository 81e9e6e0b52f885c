//! Deterministic records, commands and workloads shared by the tests, the crash-safety
//! helper binary and the benchmark. Not for production use.

use std::collections::BTreeMap;

use openraft::{CommittedLeaderId, EntryPayload, LogId};
use proto::raft_types::RaftEntry;
use proto::record::{
    command, Command, DeregisterExchange, ExpireLeases, RegisterCloud, RegisterExchange, StoredCloud,
    StoredExchange, UpdateExchange,
};

/// Capabilities the generated Exchanges draw from.
pub const CAPABILITIES: [&str; 8] = ["compute", "storage", "network", "gpu", "edge", "hpc", "ai", "archive"];
/// Regions the generated records draw from.
pub const REGIONS: [&str; 5] = ["eu-west", "eu-north", "us-east", "ap-south", "sa-east"];

/// A valid Exchange record (revisions and lease end left for apply to assign).
pub fn exchange(domain: &str, capabilities: &[&str], regions: &[&str]) -> StoredExchange {
    StoredExchange {
        domain: domain.to_owned(),
        organisation: "Example Org".to_owned(),
        regions: regions.iter().map(|s| (*s).to_owned()).collect(),
        endpoints: vec![format!("xmpp:{domain}")],
        trust_anchors: vec!["ab".repeat(32)],
        capabilities: capabilities.iter().map(|s| (*s).to_owned()).collect(),
        metadata: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
        lease_ttl_secs: 60,
        ..StoredExchange::default()
    }
}

/// A valid Cloud record.
pub fn cloud(id: &str, owner: &str, services: &[&str], regions: &[&str]) -> StoredCloud {
    StoredCloud {
        id: id.to_owned(),
        owner: owner.to_owned(),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        regions: regions.iter().map(|s| (*s).to_owned()).collect(),
        metadata: BTreeMap::new(),
        ..StoredCloud::default()
    }
}

/// A command by `actor` (not an administrator) proposed at `now_ms`.
pub fn command(actor: &str, now_ms: u64, kind: command::Kind) -> Command {
    Command { actor: actor.to_owned(), is_admin: false, proposed_at_ms: now_ms, kind: Some(kind) }
}

/// A normal log entry at `index` (term 1, leader 1) carrying `cmd`.
pub fn entry(index: u64, cmd: Command) -> RaftEntry {
    openraft::Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(cmd),
    }
}

/// The domain of generated Exchange number `n`.
pub fn domain(n: u64) -> String {
    format!("ex-{n:07}.example")
}

/// Register Exchange `n` with one capability and one region picked from `n`: the benchmark's
/// workload (every command creates a record).
pub fn register_command(n: u64) -> Command {
    let d = domain(n);
    let x = exchange(&d, &[CAPABILITIES[(n % 8) as usize]], &[REGIONS[(n % 5) as usize]]);
    command(&d, n * 1000, command::Kind::RegisterExchange(RegisterExchange { exchange: Some(x) }))
}

/// Command `i` of a mixed workload over 64 Exchange slots: registers (some refused as
/// duplicates), updates, Cloud registrations, deregistrations (cascading to Clouds) and lease
/// expiry. Deterministic in `i`, so a log can be replayed and compared.
pub fn mixed_command(i: u64) -> Command {
    let slot = domain(i % 64);
    let now = i * 1000;
    let region = REGIONS[(i % 5) as usize];
    let cap = CAPABILITIES[(i % 8) as usize];
    if i % 97 == 0 {
        let mut c =
            command("root1.example", now, command::Kind::ExpireLeases(ExpireLeases { max_expired: 10 }));
        c.is_admin = true;
        return c;
    }
    let kind = match i % 5 {
        0 | 1 => command::Kind::RegisterExchange(RegisterExchange {
            exchange: Some(exchange(&slot, &[cap], &[region])),
        }),
        2 => command::Kind::UpdateExchange(UpdateExchange {
            exchange: Some(exchange(&slot, &[cap, "edge"], &[region])),
            expected_revision: None,
        }),
        3 => command::Kind::RegisterCloud(RegisterCloud {
            cloud: Some(cloud(&format!("c-{}", i % 128), &slot, &[cap], &[region])),
        }),
        _ => command::Kind::DeregisterExchange(DeregisterExchange {
            domain: domain((i / 5) % 64),
            expected_revision: None,
        }),
    };
    let actor = match &kind {
        command::Kind::DeregisterExchange(d) => d.domain.clone(),
        _ => slot,
    };
    command(&actor, now, kind)
}
