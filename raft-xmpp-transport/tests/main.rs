//! `raft-xmpp-transport` integration tests: one binary, one module per concern.

mod discovery;
mod federation;
mod support;
