//! `icroot-tests` — cross-crate integration tests (real TLS clusters on loopback, SRV from an
//! in-process DNS server, crash/restart, membership). Populated by the root-node issue.
