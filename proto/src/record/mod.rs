//! At-rest encodings with prost: the registry records as stored, the [`Command`] a Raft log
//! entry carries, and the [`CommandResponse`] the state machine answers with.
//!
//! ```text
//!  RegistryRequest (stanza) ─▶ root checks actor ─▶ Command ─▶ prost bytes ─▶ Raft log ─▶ apply
//!  apply ─▶ CommandResponse { Applied | CommandError } ─▶ RegistryResult | RegistryError
//! ```
//!
//! Compatibility rule for every message here: a field tag, once used, is never reused or
//! renumbered, even after the field is removed (reserve it in a comment instead). Log entries
//! and snapshots written by older nodes must keep decoding.

mod commands;
mod convert;
mod stored;

pub use commands::{
    batch_key, command, command_response, is_batchable, Applied, BatchApplied, Command, CommandBatch,
    CommandError, CommandResponse, DeregisterCloud, DeregisterExchange, ErrorCode, ExpireLeases,
    RegisterCloud, RegisterExchange, RenewLease, UpdateCloud, UpdateExchange, MAX_BATCH_BYTES,
    MAX_BATCH_PARTS,
};
pub use stored::{StoredCloud, StoredExchange};

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
