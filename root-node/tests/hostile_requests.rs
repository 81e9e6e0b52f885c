//! Hostile request table: every "bad input" row of docs/protocol.md, sent to a running root node
//! over real S2S, with the exact error the root answers on the wire. docs/testing.md maps each
//! row to its test.
//!
//! ```text
//!  raw_peer (plain TCP | authenticated TLS + bidi) ─bad bytes/stanzas─▶ root node
//!          ◀─ <stream:error/> | <iq|message|presence type='error'> | nothing ─┘
//! ```

mod envelope;
mod registry;
mod sasl;
mod stream;
mod xeps;
