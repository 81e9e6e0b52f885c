//! Fuzz the incremental stream reader: arbitrary bytes, split at fuzzer-chosen points, must never
//! panic, must stay within its limits, and must give the same events whatever the split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::xml::{Limits, StreamReader, XmlEvent};

const LIMITS: Limits = Limits { max_stanza_bytes: 4096, max_depth: 8 };

fn run(chunks: &[&[u8]]) -> (Vec<XmlEvent>, Option<proto::error::StreamErrorCondition>) {
    let mut reader = StreamReader::new(LIMITS);
    let mut events = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        loop {
            match reader.next_event() {
                Ok(Some(XmlEvent::Keepalive)) => {}
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Some(e.condition)),
            }
        }
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    // First byte picks a split point so the fuzzer explores chunk boundaries too.
    let Some((&k, body)) = data.split_first() else { return };
    let cut = if body.is_empty() { 0 } else { k as usize % body.len() };
    let whole = run(&[body]);
    let split = run(&[&body[..cut], &body[cut..]]);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    let trickled = run(&bytes);
    // An error may surface at a different event count only if the input was invalid; the events
    // produced before it, and the error itself, must agree.
    assert_eq!(whole, split);
    assert_eq!(whole, trickled);
});
