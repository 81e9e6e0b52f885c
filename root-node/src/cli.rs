//! The `icroot` command line (docs/cli.md): `node`, `dev`, and the client commands that speak
//! to a root as a profile's domain.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use proto::stanza::registry::{
    bounds::LEASE_TTL_SECS_DEFAULT, CloudSpec, ClusterStatusRequest, Consistency, DeregisterCloud,
    DeregisterExchange, ExchangeSpec, GetCloud, GetExchange, RecordKind, RegisterCloud, RegisterExchange,
    RegistryRequest, RegistryResult, RenewLease, Search, UpdateCloud, UpdateExchange,
};

use crate::client::{Client, ClientError};

/// icroot — the Intercloud Root: a Raft cluster of root nodes speaking XMPP S2S.
#[derive(Debug, Parser)]
#[command(name = "icroot", version, about, propagate_version = true)]
pub struct Cli {
    /// Client profile (TOML: domain, cert, key, ca, root_domain, root_address) for client commands.
    #[arg(long, global = true, env = "ICROOT_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Print exactly one JSON document on stdout instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one root node from a TOML config (docs/configuration.md).
    Node {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a complete local cluster in the foreground (certificates, DNS, demo exchanges).
    Dev {
        /// Number of root nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Where certificates, data, profiles and the ready file go.
        #[arg(long, default_value = "icroot-dev")]
        dir: PathBuf,
        /// Also provision this many nodes without starting them (certificate, DNS records,
        /// DIR/nodes/<id>/node.toml) to add later with `icroot node` + `icroot cluster`.
        #[arg(long, default_value_t = 0)]
        spare_nodes: u64,
    },
    /// Write certificates, node configs and profiles for a multi-host cluster (deploy/).
    Init(crate::init::InitArgs),
    /// Serve the SRV/A records of `icroot init`'s dns/zone.toml (lab clusters only).
    Dns {
        /// The zone file.
        #[arg(long)]
        zone: PathBuf,
        /// UDP and TCP address to answer on.
        #[arg(long, default_value = "0.0.0.0:53")]
        listen: std::net::SocketAddr,
    },
    /// Members, leader, term and indexes as seen by the profile's root node.
    Status,
    /// The profile's Exchange record (or another's with --domain, admins only).
    #[command(subcommand)]
    Exchange(ExchangeOp),
    /// Clouds owned by the profile's Exchange.
    #[command(subcommand)]
    Cloud(CloudOp),
    /// Read one record.
    #[command(subcommand)]
    Lookup(LookupOp),
    /// Find records by capability/service, region or key prefix.
    Search(SearchArgs),
    /// Change the cluster's membership (admin profile only).
    #[command(subcommand)]
    Cluster(crate::cluster_cmd::ClusterOp),
    /// Save a root's snapshot over S2S (admin), or seed a new node's data dir from one.
    #[command(subcommand)]
    Snapshot(crate::snapshot_cmd::SnapshotOp),
    /// Load-test a running `icroot dev` cluster (or one given by --profile) as many Exchanges (docs/benchmarks.md).
    Bench(crate::bench::BenchArgs),
    /// Stream registry changes until Ctrl-C, resuming on another root node if this one is lost.
    Watch {
        /// Only keys (domains, Cloud ids) starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Start after this revision (e.g. a search page's revision) instead of now.
        #[arg(long)]
        since_revision: Option<u64>,
    },
}

/// Fields of an Exchange record; on update, only the fields given change.
#[derive(Debug, Args)]
pub struct ExchangeFields {
    /// Act on this Exchange instead of the profile's own (admins only).
    #[arg(long)]
    pub domain: Option<String>,
    /// Operating organisation (default on register: the domain).
    #[arg(long)]
    pub organisation: Option<String>,
    /// A region served (repeatable; replaces the list).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// A capability (repeatable; replaces the list).
    #[arg(long = "capability")]
    pub capabilities: Vec<String>,
    /// An endpoint URI (repeatable; replaces the list).
    #[arg(long = "endpoint")]
    pub endpoints: Vec<String>,
    /// Lease length in seconds.
    #[arg(long)]
    pub lease_ttl: Option<u32>,
    /// Metadata `key=value` (repeatable; replaces the map).
    #[arg(long = "meta", value_parser = parse_kv)]
    pub meta: Vec<(String, String)>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

/// `icroot exchange …`.
#[derive(Debug, Subcommand)]
pub enum ExchangeOp {
    /// Create the record.
    Register(ExchangeFields),
    /// Change fields of the record (read, modify, compare-and-set write).
    Update {
        /// The fields.
        #[command(flatten)]
        fields: ExchangeFields,
        /// Fail unless the record is at this revision (default: the revision just read).
        #[arg(long)]
        expect_revision: Option<u64>,
    },
    /// Remove the record and its Clouds.
    Deregister {
        /// Another Exchange (admins only).
        #[arg(long)]
        domain: Option<String>,
        /// Compare-and-set revision.
        #[arg(long)]
        expect_revision: Option<u64>,
    },
    /// Extend the lease.
    Renew {
        /// Another Exchange (admins only).
        #[arg(long)]
        domain: Option<String>,
    },
}

/// Fields of a Cloud; on update, only the fields given change.
#[derive(Debug, Args)]
pub struct CloudFields {
    /// The Cloud's id (registry-wide unique).
    pub id: String,
    /// Owner to act for (admins only).
    #[arg(long)]
    pub domain: Option<String>,
    /// A service offered (repeatable; replaces the list).
    #[arg(long = "service")]
    pub services: Vec<String>,
    /// A region (repeatable; replaces the list).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Metadata `key=value` (repeatable; replaces the map).
    #[arg(long = "meta", value_parser = parse_kv)]
    pub meta: Vec<(String, String)>,
}

/// `icroot cloud …`.
#[derive(Debug, Subcommand)]
pub enum CloudOp {
    /// Create a Cloud.
    Register(CloudFields),
    /// Change fields of a Cloud.
    Update {
        /// The fields.
        #[command(flatten)]
        fields: CloudFields,
        /// Fail unless the Cloud is at this revision (default: the revision just read).
        #[arg(long)]
        expect_revision: Option<u64>,
    },
    /// Remove a Cloud.
    Deregister {
        /// The Cloud's id.
        id: String,
        /// Compare-and-set revision.
        #[arg(long)]
        expect_revision: Option<u64>,
    },
}

/// `icroot lookup …`.
#[derive(Debug, Subcommand)]
pub enum LookupOp {
    /// An Exchange by domain.
    Exchange {
        /// The domain.
        domain: String,
        /// Accept a follower's possibly stale view.
        #[arg(long)]
        stale: bool,
    },
    /// A Cloud by id.
    Cloud {
        /// The id.
        id: String,
        /// Accept a follower's possibly stale view.
        #[arg(long)]
        stale: bool,
    },
}

/// `icroot search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Exchange capability or Cloud service.
    #[arg(long)]
    pub capability: Option<String>,
    /// Region.
    #[arg(long)]
    pub region: Option<String>,
    /// Domain or id prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only `exchange` or `cloud` records.
    #[arg(long, value_parser = ["exchange", "cloud"])]
    pub kind: Option<String>,
    /// Page size (1..=200).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Accept a follower's possibly stale view.
    #[arg(long)]
    pub stale: bool,
}

fn consistency(stale: bool) -> Consistency {
    if stale {
        Consistency::Stale
    } else {
        Consistency::Linearizable
    }
}

fn meta(kv: &[(String, String)]) -> BTreeMap<String, String> {
    kv.iter().cloned().collect()
}

fn apply_exchange(spec: &mut ExchangeSpec, f: &ExchangeFields) {
    if let Some(o) = &f.organisation {
        spec.organisation = o.clone();
    }
    let replace = |dst: &mut Vec<String>, src: &Vec<String>| {
        if !src.is_empty() {
            *dst = src.clone();
        }
    };
    replace(&mut spec.regions, &f.regions);
    replace(&mut spec.capabilities, &f.capabilities);
    replace(&mut spec.endpoints, &f.endpoints);
    if let Some(t) = f.lease_ttl {
        spec.lease_ttl_secs = t;
    }
    if !f.meta.is_empty() {
        spec.metadata = meta(&f.meta);
    }
}

fn apply_cloud(spec: &mut CloudSpec, f: &CloudFields) {
    if !f.services.is_empty() {
        spec.services = f.services.clone();
    }
    if !f.regions.is_empty() {
        spec.regions = f.regions.clone();
    }
    if !f.meta.is_empty() {
        spec.metadata = meta(&f.meta);
    }
}

fn unexpected(r: Option<RegistryResult>) -> ClientError {
    ClientError::Unexpected(format!("{r:?}"))
}

/// Run a client command (anything but `node`, `dev`, `init` and `dns`).
pub async fn run_client(client: &Client, command: &Command) -> Result<Option<RegistryResult>, ClientError> {
    let req = match command {
        Command::Status => RegistryRequest::ClusterStatus(ClusterStatusRequest),
        Command::Exchange(ExchangeOp::Register(f)) => {
            let owner = f.domain.clone().unwrap_or_else(|| client.domain().to_owned());
            let mut spec = ExchangeSpec {
                organisation: owner,
                lease_ttl_secs: LEASE_TTL_SECS_DEFAULT,
                ..Default::default()
            };
            apply_exchange(&mut spec, f);
            RegistryRequest::RegisterExchange(RegisterExchange { domain: f.domain.clone(), spec })
        }
        Command::Exchange(ExchangeOp::Update { fields, expect_revision }) => {
            let domain = fields.domain.clone().unwrap_or_else(|| client.domain().to_owned());
            let get = GetExchange { domain, consistency: Consistency::Linearizable };
            let current = match client.request(&RegistryRequest::GetExchange(get)).await? {
                Some(RegistryResult::Exchange(x)) => x,
                other => return Err(unexpected(other)),
            };
            let mut spec = current.spec.clone();
            apply_exchange(&mut spec, fields);
            RegistryRequest::UpdateExchange(UpdateExchange {
                domain: fields.domain.clone(),
                expected_revision: Some(expect_revision.unwrap_or(current.modified_revision)),
                spec,
            })
        }
        Command::Exchange(ExchangeOp::Deregister { domain, expect_revision }) => {
            RegistryRequest::DeregisterExchange(DeregisterExchange {
                domain: domain.clone(),
                expected_revision: *expect_revision,
            })
        }
        Command::Exchange(ExchangeOp::Renew { domain }) => {
            RegistryRequest::RenewLease(RenewLease { domain: domain.clone() })
        }
        Command::Cloud(CloudOp::Register(f)) => {
            let mut spec = CloudSpec::default();
            apply_cloud(&mut spec, f);
            RegistryRequest::RegisterCloud(RegisterCloud { domain: f.domain.clone(), id: f.id.clone(), spec })
        }
        Command::Cloud(CloudOp::Update { fields, expect_revision }) => {
            let get = GetCloud { id: fields.id.clone(), consistency: Consistency::Linearizable };
            let current = match client.request(&RegistryRequest::GetCloud(get)).await? {
                Some(RegistryResult::Cloud(c)) => c,
                other => return Err(unexpected(other)),
            };
            let mut spec = current.spec.clone();
            apply_cloud(&mut spec, fields);
            RegistryRequest::UpdateCloud(UpdateCloud {
                domain: fields.domain.clone(),
                id: fields.id.clone(),
                expected_revision: Some(expect_revision.unwrap_or(current.modified_revision)),
                spec,
            })
        }
        Command::Cloud(CloudOp::Deregister { id, expect_revision }) => {
            RegistryRequest::DeregisterCloud(DeregisterCloud {
                domain: None,
                id: id.clone(),
                expected_revision: *expect_revision,
            })
        }
        Command::Lookup(LookupOp::Exchange { domain, stale }) => RegistryRequest::GetExchange(GetExchange {
            domain: domain.to_ascii_lowercase().trim_end_matches('.').to_owned(),
            consistency: consistency(*stale),
        }),
        Command::Lookup(LookupOp::Cloud { id, stale }) => {
            RegistryRequest::GetCloud(GetCloud { id: id.clone(), consistency: consistency(*stale) })
        }
        Command::Search(a) => RegistryRequest::Search(Search {
            kind: a.kind.as_deref().and_then(RecordKind::parse),
            capability: a.capability.clone(),
            region: a.region.clone(),
            prefix: a.prefix.clone(),
            limit: a.limit,
            after: None,
            consistency: consistency(a.stale),
        }),
        Command::Cluster(op) => crate::cluster_cmd::request(op)?,
        Command::Node { .. }
        | Command::Dev { .. }
        | Command::Watch { .. }
        | Command::Snapshot(_)
        | Command::Bench(_)
        | Command::Init(_)
        | Command::Dns { .. } => {
            return Err(ClientError::Unexpected("not a client command".into()));
        }
    };
    client.request(&req).await
}
