//! `proto` — everything icroot says on the wire, with no I/O.
//!
//! ```text
//!  bytes ─▶ xml::StreamReader ─▶ Element ─▶ stanza::* (typed)      ◀── you are here (no sockets,
//!  bytes ◀─ xml::write        ◀─ Element ◀─ stanza::*                   no tokio, time passed in)
//!          s2s: stream negotiation as initiating / receiving state machines
//!          record: at-rest encodings (prost), base64'd inside <entry encoded='true'/>
//! ```
//!
//! `raft-xmpp-transport` drives these state machines with sockets and TLS; `store` persists
//! `record` types; `root-node` answers the typed stanzas. The `openraft` feature adds
//! [`raft_types`]: the openraft type configuration and lossless conversions to and from the
//! XEP-0362 stanzas.

pub mod error;
pub mod ns;
#[cfg(feature = "openraft")]
pub mod raft_types;
pub mod record;
pub mod s2s;
pub mod stanza;
pub mod xml;
