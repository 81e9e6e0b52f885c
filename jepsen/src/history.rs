//! The recorded history of a test run: one JSON object per line, in the order events happened.
//!
//! Every client operation appears twice: an `invoke` when the client starts it, and a completion
//! — `ok` (it happened, with its result), `fail` (it certainly did not happen) or `info` (unknown:
//! the client timed out or lost its connection, so the operation may or may not have taken
//! effect, at any time after its invocation).

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// What an event says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The client started the operation.
    Invoke,
    /// It completed and took effect.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Unknown outcome.
    Info,
}

/// The operation, with its argument (on invoke) or result (on completion).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum Op {
    /// Read a register. Result: its value, if any.
    Read {
        /// The register.
        key: String,
        /// `None` on invoke; the value read (or `None` for absent) on ok.
        value: Option<String>,
    },
    /// Write a register unconditionally.
    Write {
        /// The register.
        key: String,
        /// The value written.
        value: String,
    },
    /// Write `new` only if the register holds `expected` (`None`: only if absent).
    Cas {
        /// The register.
        key: String,
        /// The value it must hold.
        expected: Option<String>,
        /// The value to write.
        new: String,
    },
    /// Add an element to the set workload.
    Add {
        /// The element.
        element: String,
    },
    /// Read the whole set (the final read of the set workload).
    ReadSet {
        /// `None` on invoke; the elements on ok.
        elements: Option<Vec<String>>,
    },
}

impl Op {
    /// The register this operation touches (`None` for set operations).
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Read { key, .. } | Op::Write { key, .. } | Op::Cas { key, .. } => Some(key),
            Op::Add { .. } | Op::ReadSet { .. } => None,
        }
    }
}

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The client (logical process) that performed it; one operation at a time per process.
    pub process: u64,
    /// Invoke or completion.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
    /// Nanoseconds since the start of the run.
    pub time_ns: u64,
}

/// Why a history file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// I/O.
    #[error("reading history: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not an event.
    #[error("history line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Write `events` as JSON lines.
pub fn write_jsonl<W: Write>(mut out: W, events: &[Event]) -> std::io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Read JSON lines written by [`write_jsonl`].
pub fn read_jsonl<R: BufRead>(input: R) -> Result<Vec<Event>, HistoryError> {
    let mut events = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let e = serde_json::from_str(&line)
            .map_err(|e| HistoryError::Parse { line: n + 1, reason: e.to_string() })?;
        events.push(e);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trip_and_format() {
        let events = vec![
            Event {
                process: 1,
                kind: EventType::Invoke,
                op: Op::Cas { key: "k".into(), expected: None, new: "a".into() },
                time_ns: 5,
            },
            Event {
                process: 1,
                kind: EventType::Info,
                op: Op::Cas { key: "k".into(), expected: None, new: "a".into() },
                time_ns: 9,
            },
        ];
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &events).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.starts_with(r#"{"process":1,"type":"invoke","f":"cas","key":"k""#), "{text}");
        assert_eq!(read_jsonl(&buf[..]).unwrap(), events);
        assert!(matches!(read_jsonl(&b"{}\n"[..]), Err(HistoryError::Parse { line: 1, .. })));
    }
}
