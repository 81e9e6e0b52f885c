//! `root-node` — the `icroot` service: config, CLI, wiring of transport + store + openraft,
//! registry/disco/ping handlers, the admin HTTP endpoint and the embedded local cluster.
//!
//! ```text
//!  stanzas ─▶ router ─┬─▶ urn:xmpp:raft ─▶ openraft ─▶ store (RocksDB)
//!                     ├─▶ registry ─▶ client_write (leader) | forward to leader | local read
//!                     └─▶ disco / ping
//!  icroot CLI ─▶ profile ─▶ client XmppNode ─S2S─▶ a root node
//! ```

mod admin_http;
mod bounce;
pub mod cli;
pub mod client;
mod commands;
pub mod config;
pub mod dev;
pub mod output;
pub mod profile;
mod registry;
mod router;
pub mod service;
mod status;

pub use config::NodeConfig;
pub use registry::FORWARD_NS;
pub use service::{run, Listeners, RootService, ServiceError};
