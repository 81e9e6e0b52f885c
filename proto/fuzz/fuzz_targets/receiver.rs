//! Fuzz the receiving S2S state machine with arbitrary peer bytes. The harness plays a driver:
//! when the machine asks for TLS it "completes" a handshake without a client certificate (so the
//! dialback path opens), and it answers dialback verifications with a fuzzer-chosen verdict.
//! Asserts: no panic; no stanza is delivered before authentication; a stream ended with a stream
//! error wrote `<stream:error>` and `</stream:stream>`.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use proto::s2s::{CloseReason, Event, Receiver, ReceiverConfig, TlsInfo};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let now = Instant::now();
    let mut config = ReceiverConfig::new(vec!["root.example".into()]);
    config.allow_dialback = true;
    config.dialback_secret = Some("s3cr3t".into());
    config.require_tls = flags & 1 == 0;
    let mut rx = Receiver::new(config, now);
    let mut authenticated = false;
    let mut written = Vec::new();
    // Chunk sizes from the flags byte, so split points vary too.
    let chunk = 1 + usize::from(flags >> 2);
    for (i, piece) in body.chunks(chunk).enumerate() {
        let t = now + Duration::from_millis(i as u64);
        rx.handle_input(t, piece);
        while let Some(ev) = rx.poll_event() {
            match ev {
                Event::StartTls { .. } => {
                    let _ = rx.take_tls_bytes();
                    rx.handle_tls_established(t, TlsInfo::default());
                }
                Event::VerifyDialback { .. } => rx.handle_dialback_verified(t, flags & 2 != 0),
                Event::Authenticated { .. } => authenticated = true,
                Event::Stanza(_) => assert!(authenticated, "stanza delivered before authentication"),
                Event::Closed { reason } => {
                    while let Some(bytes) = rx.poll_transmit() {
                        written.extend_from_slice(&bytes);
                    }
                    if let CloseReason::SentError(_) = reason {
                        let text = String::from_utf8_lossy(&written);
                        assert!(text.contains("<stream:error>"), "no stream error written: {text}");
                        assert!(text.ends_with("</stream:stream>"), "stream not closed: {text}");
                    }
                    return;
                }
                _ => {}
            }
        }
        while let Some(bytes) = rx.poll_transmit() {
            written.extend_from_slice(&bytes);
        }
    }
});
