//! The store's integration tests, one binary (see STYLE.md).

// clippy's allow-unwrap-in-tests covers #[test] functions only, not the shared helpers here.
#![allow(clippy::unwrap_used)]

mod common;
mod crash;
mod listing;
mod log_store;
mod restore;
mod search_feed;
mod snapshot;
mod snapshot_stream;
mod state_machine;
mod suite;
