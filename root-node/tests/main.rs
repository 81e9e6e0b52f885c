//! root-node integration tests: real in-process root nodes on loopback (TLS, SRV through the
//! dev cluster's DNS server, RocksDB in a temp dir), driven through the CLI's own code paths.

// clippy's allow-unwrap-in-tests covers #[test] functions only, not the shared helpers here.
#![allow(clippy::unwrap_used)]

mod dev_walk;
mod disco;
mod hostile_requests;
mod interop;
mod leases;
mod peer;
mod presence;
mod pubsub;
mod raw_peer;
mod readyz;
mod services;
mod solo_root;
