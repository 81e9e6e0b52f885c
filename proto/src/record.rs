//! At-rest encodings with prost (being written). `Command` is the Raft log's application entry.

/// A registry command carried in a Raft log entry (placeholder; fields being written).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Command {
    /// Placeholder until the registry commands land.
    #[prost(bytes = "vec", tag = "1")]
    pub placeholder: Vec<u8>,
}

/// The state machine's answer to a [`Command`] (placeholder; fields being written).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommandResponse {
    /// Placeholder until the registry commands land.
    #[prost(bytes = "vec", tag = "1")]
    pub placeholder: Vec<u8>,
}
