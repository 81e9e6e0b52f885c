//! Entry records for commands, encoded and decoded without the generic path's intermediate
//! copy of the command bytes.
//!
//! A command entry's record is three log-id varints and the command's own prost encoding as a
//! length-delimited field. The generic path encodes the command into a `Vec` of its own and then
//! copies it into the record (and, coming in, copies it out of the record before decoding it);
//! for the 64-entry append of the `append_entries` bench that was two allocations and copies per
//! entry. These functions give exactly the generic results — same bytes out, same entries and
//! errors in — and anything but the plain command shape goes the generic way.

use openraft::EntryPayload;
use prost::encoding::{decode_varint, encoded_len_varint, WireType};
use prost::Message as _;

use super::convert::{entry_from_record, entry_to_record, RaftEntry};
use super::ConvertError;
use crate::record::Command;
use crate::stanza::raft::{self as st, LeaderId, LogId};
use crate::stanza::ParseError;

/// Field number of the record's `Normal` (command) payload.
const NORMAL_TAG: u32 = 5;

/// `entry_to_record(e).encode_to_vec()`, byte for byte.
pub(super) fn encode_entry_record(e: &RaftEntry) -> Vec<u8> {
    let EntryPayload::Normal(cmd) = &e.payload else {
        return entry_to_record(e).encode_to_vec();
    };
    let ids = [e.log_id.leader_id.term, e.log_id.leader_id.node_id, e.log_id.index];
    let body = cmd.encoded_len();
    // Three keyed varints (at most 11 bytes each), then key, length and the command.
    let mut buf = Vec::with_capacity(3 * 11 + 1 + encoded_len_varint(body as u64) + body);
    for (tag, value) in (1..).zip(ids) {
        // proto3 leaves zero scalars out, as the derived encoder does.
        if value != 0 {
            prost::encoding::uint64::encode(tag, &value, &mut buf);
        }
    }
    prost::encoding::message::encode(NORMAL_TAG, cmd, &mut buf);
    buf
}

/// The openraft entry in an `<entry/>`: `entry_from_record(e.to_record()?)`, with a command
/// decoded where it lies in the record.
pub(super) fn entry_from_stanza(e: &st::Entry) -> Result<RaftEntry, ConvertError> {
    if let st::Entry::Encoded(bytes) = e {
        if let Some((log_id, command)) = split_command_record(bytes) {
            return command_entry(log_id, command);
        }
    }
    entry_from_record(e.to_record()?)
}

/// A command entry from its log id and encoded command; errors as `entry_from_record`'s.
fn command_entry(log_id: LogId, command: &[u8]) -> Result<RaftEntry, ConvertError> {
    let log_id = openraft::LogId::new(
        openraft::CommittedLeaderId::new(log_id.leader.term, log_id.leader.node),
        log_id.index,
    );
    let cmd = Command::decode(command)
        .map_err(|e| ParseError::Invalid(format!("entry {log_id} holds no command: {e}")))?;
    Ok(openraft::Entry { log_id, payload: EntryPayload::Normal(cmd) })
}

/// The log id and command bytes of a record made only of fields 1–3 (varints) and one field 5;
/// `None` for any other shape (which the generic decoder then handles, errors included).
fn split_command_record(mut buf: &[u8]) -> Option<(LogId, &[u8])> {
    let mut ids = [0u64; 3];
    let mut command = None;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        let (tag, wire) = (key >> 3, key & 7);
        match (tag, wire) {
            // A repeated scalar field is last-one-wins in prost too.
            (1..=3, w) if w == WireType::Varint as u64 => {
                ids[usize::try_from(tag - 1).ok()?] = decode_varint(&mut buf).ok()?;
            }
            (t, w) if t == u64::from(NORMAL_TAG) && w == WireType::LengthDelimited as u64 => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                if command.is_some() || len > buf.len() {
                    return None;
                }
                let (body, rest) = buf.split_at(len);
                command = Some(body);
                buf = rest;
            }
            _ => return None,
        }
    }
    let [term, node, index] = ids;
    Some((LogId { leader: LeaderId { term, node }, index }, command?))
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, Entry};

    use super::*;

    fn entry(term: u64, node: u64, index: u64, payload: EntryPayload<super::super::RaftTypes>) -> RaftEntry {
        Entry { log_id: openraft::LogId::new(CommittedLeaderId::new(term, node), index), payload }
    }

    fn command(actor: &str) -> EntryPayload<super::super::RaftTypes> {
        EntryPayload::Normal(Command { actor: actor.to_owned(), ..Default::default() })
    }

    #[test]
    fn encoding_matches_the_generic_record_bytes() {
        for e in [
            entry(42, 1, 1_000_000, command(&"x".repeat(300))),
            entry(0, 0, 0, command("")),
            entry(u64::MAX, 7, 0, command("a")),
            entry(3, 2, 9, EntryPayload::Blank),
        ] {
            let bytes = encode_entry_record(&e);
            assert_eq!(bytes, entry_to_record(&e).encode_to_vec());
            let back = entry_from_stanza(&st::Entry::Encoded(bytes)).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn decoding_agrees_with_the_generic_path_on_odd_records() {
        let good = encode_entry_record(&entry(5, 1, 7, command("abc")));
        let mut twice = good.clone();
        twice.extend_from_slice(&good);
        let cases: Vec<Vec<u8>> = vec![
            good.clone(),
            twice,
            good[..good.len() - 1].to_vec(),
            vec![0x2a, 0x02, 0xff, 0xff],
            vec![0x08, 0x05],
            vec![0x38, 0x01, 0x2a, 0x00],
            Vec::new(),
        ];
        for bytes in cases {
            let e = st::Entry::Encoded(bytes.clone());
            let fast = entry_from_stanza(&e).map_err(|e| e.to_string());
            let generic = e.to_record().map_err(ConvertError::from).and_then(entry_from_record);
            assert_eq!(fast, generic.map_err(|e| e.to_string()), "{bytes:x?}");
        }
    }
}
