//! The XML layer: an owned element tree, an incremental bounded stream reader, and the writer.
//!
//! ```text
//!  bytes (any chunking) ─▶ StreamReader::push ─▶ next_event() ─▶ XmlEvent::{StreamOpen, Stanza, Keepalive, StreamClose}
//!  Element / StreamHeader ─▶ write::* ─▶ bytes
//! ```

mod element;
mod parse;
mod reader;
pub mod write;

pub use element::{Element, Node};
pub use reader::{parse_fragment, Limits, StreamHeader, StreamReader, XmlEvent};
