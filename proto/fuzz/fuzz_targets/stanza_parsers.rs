//! Fuzz every typed stanza parser: arbitrary bytes as a stream of stanzas, each complete element
//! handed to every parser a router might use (envelopes, registry requests and results, raft
//! payloads, disco, ping, pubsub, presence payloads). No parser may panic, and whatever a parser
//! accepts must serialize to something it accepts again with the same meaning.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::stanza::envelope::{Iq, Message, Presence};
use proto::stanza::raft::RaftPayload;
use proto::stanza::registry::{RegistryRequest, RegistryResult};
use proto::stanza::{disco, ping, presence, pubsub};
use proto::xml::{Element, Limits, StreamReader, XmlEvent};

const HEADER: &[u8] = b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

fn all_elements(el: &Element, out: &mut Vec<Element>) {
    out.push(el.clone());
    for c in el.children() {
        all_elements(c, out);
    }
}

macro_rules! round_trip {
    ($ty:ty, $el:expr) => {
        if let Ok(v) = <$ty>::try_from($el) {
            let again = <$ty>::try_from(&v.to_element()).expect(concat!(stringify!($ty), " re-parses"));
            assert_eq!(v, again, concat!(stringify!($ty), " round trip"));
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let mut reader = StreamReader::new(Limits { max_stanza_bytes: 64 * 1024, max_depth: 16 });
    reader.push(HEADER);
    reader.push(data);
    while let Ok(Some(ev)) = reader.next_event() {
        let XmlEvent::Stanza(stanza) = ev else { continue };
        if let Ok(iq) = Iq::try_from(&stanza) {
            let _ = RegistryRequest::from_iq(&iq);
        }
        let _ = Message::try_from(&stanza);
        let _ = Presence::try_from(&stanza);
        let mut els = Vec::new();
        all_elements(&stanza, &mut els);
        for el in &els {
            round_trip!(RegistryRequest, el);
            round_trip!(RegistryResult, el);
            if let Ok(p) = RaftPayload::from_element(el) {
                let again = RaftPayload::from_element(&p.to_element()).expect("raft payload re-parses");
                assert_eq!(p, again);
            }
            round_trip!(disco::InfoQuery, el);
            round_trip!(disco::InfoResult, el);
            round_trip!(disco::ItemsQuery, el);
            round_trip!(disco::ItemsResult, el);
            round_trip!(ping::Ping, el);
            round_trip!(pubsub::PubsubRequest, el);
            round_trip!(presence::RaftRole, el);
        }
    }
});
