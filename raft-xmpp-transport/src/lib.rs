//! `raft-xmpp-transport` — the tokio driver for `proto`'s S2S state machines.
//!
//! ```text
//!  TCP ─▶ TLS (rustls) ─▶ proto::xml::StreamReader ─▶ proto::s2s ─▶ stanzas ─▶ router
//!   ▲                                                                          │
//!   └──────────── connection pool per remote domain (SRV discovery) ◀──────────┘
//!                 openraft RaftNetworkFactory lives here
//! ```
pub mod discovery;
