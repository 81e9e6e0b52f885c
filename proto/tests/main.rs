//! `proto` integration tests: one binary, one module per concern.

mod negotiation;
mod protocol_doc;
mod raft_roundtrip;
mod raft_xep0362;
mod reader_split;
