//! `root-node` — the `icroot` service: config, CLI, wiring of transport + store + openraft,
//! registry/disco/pubsub handlers and the admin HTTP endpoint.
//!
//! ```text
//!  stanzas ─▶ router ─┬─▶ urn:xmpp:raft ─▶ openraft
//!                     └─▶ registry / disco / pubsub / ping / presence ─▶ client_write / read
//! ```
//!
//! Not built yet: this crate is the subject of its own issue.
