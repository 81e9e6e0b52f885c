//! `root-node` — the `icroot` service: config, CLI, wiring of transport + store + openraft,
//! registry/disco/ping handlers, the admin HTTP endpoint and the embedded local cluster.
//!
//! ```text
//!  stanzas ─▶ router ─┬─▶ urn:xmpp:raft ─▶ openraft ─▶ store (RocksDB)
//!                     ├─▶ registry ─▶ propose: batched client_write / shared read-index (leader)
//!                     │               | forward to leader | local read
//!                     ├─▶ presence ─▶ lease renewal | role table | subscriber relay
//!                     ├─▶ pubsub ─▶ subscription table ◀─ deliver (applied change feed) ─▶ headlines
//!                     └─▶ disco / ping
//!  leader only: leases ─▶ ExpireLeases when a lease ends;  admin HTTP /readyz ─▶ ready
//!  followers: failover ─▶ leader's stream reset + port refuses ─▶ elect at once
//!  icroot CLI ─▶ profile ─▶ client XmppNode ─S2S─▶ a root node
//!  icroot bench ─▶ many bench Exchanges, one client each ─▶ load ─▶ HDR histograms ─▶ report
//!  icroot watch ─▶ subscribe ─▶ notifications ─▶ lost? resubscribe since last revision elsewhere
//! ```

mod admin_http;
pub mod bench;
mod bounce;
pub mod cli;
pub mod client;
pub mod cluster_cmd;
mod commands;
pub mod config;
pub mod dev;
mod disco;
pub mod dns;
mod failover;
pub mod init;
mod leases;
pub mod output;
mod presence;
pub mod profile;
mod propose;
pub mod provision;
mod pubsub;
mod ready;
mod registry;
mod router;
pub mod service;
pub mod snapshot_cmd;
mod snapshot_export;
pub mod snapshot_wire;
mod status;
mod test_faults;
pub mod watch;

pub use config::NodeConfig;
pub use disco::MAX_ITEMS as DISCO_MAX_ITEMS;
pub use presence::{EXCHANGE_UNAVAILABLE, MAX_SUBSCRIBERS as PRESENCE_MAX_SUBSCRIBERS};
pub use registry::FORWARD_NS;
pub use service::{run, Listeners, RootService, ServiceError};
