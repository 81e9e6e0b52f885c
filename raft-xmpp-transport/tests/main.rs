//! `raft-xmpp-transport` integration tests: one binary, one module per concern.

// Fixture setup outside #[test] functions: a failed step should panic right there.
#![allow(clippy::unwrap_used)]

mod discovery;
mod federation;
mod memstore;
mod raft;
mod support;
