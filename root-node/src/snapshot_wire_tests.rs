//! The snapshot-export wire: round trips, and the bounds and checksums a peer cannot bypass.

use proto::error::StanzaErrorCondition as Cond;

use super::*;

#[test]
fn export_and_chunk_round_trip() {
    let e = Export {
        id: "1-7".into(),
        size: 300_000,
        sha256: sha256_hex(b"x"),
        snapshot_id: "5-1-1200-r1180-1".into(),
        last_log: Some((5, 1200)),
        revision: 1180,
    };
    assert_eq!(Export::parse(&e.to_element()), Ok(e.clone()));
    let empty = Export { last_log: None, ..e };
    assert_eq!(Export::parse(&empty.to_element()), Ok(empty));

    let r = ChunkRequest { id: "1-7".into(), offset: 262_144, length: MAX_CHUNK_BYTES };
    assert_eq!(ChunkRequest::parse(&r.to_element()), Ok(r));
    let c = Chunk { offset: 262_144, data: (0..=255u8).cycle().take(MAX_CHUNK_BYTES as usize).collect() };
    let el = c.to_element("1-7");
    assert!(el.to_xml().len() < proto::xml::Limits::POST_AUTH.max_stanza_bytes - 1024, "fits a stanza");
    assert_eq!(Chunk::parse(&el), Ok(c));
}

#[test]
fn tampered_or_oversized_chunks_are_refused() {
    let c = Chunk { offset: 0, data: b"snapshot bytes".to_vec() };
    let mut el = c.to_element("1-1");
    el.set_attr("sha256", sha256_hex(b"other bytes"));
    assert!(Chunk::parse(&el).unwrap_err().detail.contains("checksum"));

    let big = Chunk { offset: 0, data: vec![1; MAX_CHUNK_BYTES as usize + 4096] };
    assert!(Chunk::parse(&big.to_element("1-1")).unwrap_err().detail.contains("larger"));

    for length in [0, MAX_CHUNK_BYTES + 1] {
        let r = ChunkRequest { id: "1-1".into(), offset: 0, length };
        assert_eq!(ChunkRequest::parse(&r.to_element()).unwrap_err().condition, Cond::NotAcceptable);
    }
    let missing = Element::new("chunk", NS).with_attr("offset", "0").with_attr("length", "10");
    assert_eq!(ChunkRequest::parse(&missing).unwrap_err().condition, Cond::BadRequest);
}
