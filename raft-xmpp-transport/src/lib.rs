//! `raft-xmpp-transport` — real XMPP server-to-server federation for icroot: the tokio driver of
//! `proto`'s S2S state machines, TLS, DNS SRV discovery, and openraft's network over it.
//!
//! ```text
//!  TCP ─▶ TLS (rustls) ─▶ link (proto::s2s Initiator/Receiver) ─▶ node router ─┬─▶ pending (peer, id)
//!   ▲                                                                          └─▶ Incoming (root-node)
//!   └── node::send(to) ─▶ fault hook ─▶ peer queue ─▶ link or dial (discovery: SRV ─▶ A/AAAA)
//! ```
//!
//! Crate map: [`discovery`] (SRV, static routes, an in-process DNS server), [`tls`] (rustls
//! configs), `link` (one connection's task), [`node`] (listeners, pool, routing, requests),
//! [`fault`] (delay/drop/duplicate/blackhole per link).

pub mod config;
pub mod discovery;
pub mod fault;
mod link;
pub mod node;
pub mod pki;
pub mod raft;
pub mod tls;

pub use config::{Backoff, DialbackPolicy, TransportConfig};
pub use link::{Direction, LinkEnd, LinkId};
pub use node::{Incoming, RequestError, SendError, StartError, XmppNode};
