//! root-node integration tests: real in-process root nodes on loopback (TLS, SRV through the
//! dev cluster's DNS server, RocksDB in a temp dir), driven through the CLI's own code paths;
//! `cluster_procs` runs real `icroot node` processes.

// clippy's allow-unwrap-in-tests covers #[test] functions only, not the shared helpers here.
#![allow(clippy::unwrap_used)]

mod batched_writes;
mod bench_smoke;
mod cluster_procs;
mod cluster_support;
mod deploy_init;
mod dev_walk;
mod disco;
mod hostile_requests;
mod indeterminate;
mod interop;
mod leases;
mod membership;
mod peer;
mod presence;
mod pubsub;
mod raw_peer;
mod readyz;
mod request_once;
mod same_domain;
mod services;
mod snapshot_backup;
mod solo_root;
