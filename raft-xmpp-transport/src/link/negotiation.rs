//! One interface over `proto`'s two negotiating roles, so a single driver runs both.

use std::time::Instant;

use proto::s2s::{Event, Initiator, Receiver, SendError, TlsInfo, VerifyRequest};
use proto::xml::Element;

/// What the link driver needs from a negotiation state machine.
pub(crate) trait Negotiation: Send + 'static {
    fn handle_input(&mut self, now: Instant, data: &[u8]);
    fn take_tls_bytes(&mut self) -> Vec<u8>;
    fn handle_tls_established(&mut self, now: Instant, tls: TlsInfo);
    fn handle_dialback_verified(&mut self, now: Instant, valid: bool);
    fn send_dialback_verify(&mut self, now: Instant, request: VerifyRequest) -> Result<(), SendError>;
    fn send_stanza(&mut self, now: Instant, stanza: &Element) -> Result<(), SendError>;
    fn close(&mut self, now: Instant);
    fn handle_eof(&mut self);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn poll_event(&mut self) -> Option<Event>;
}

macro_rules! delegate {
    ($t:ty) => {
        fn handle_input(&mut self, now: Instant, data: &[u8]) {
            <$t>::handle_input(self, now, data)
        }
        fn take_tls_bytes(&mut self) -> Vec<u8> {
            <$t>::take_tls_bytes(self)
        }
        fn handle_tls_established(&mut self, now: Instant, tls: TlsInfo) {
            <$t>::handle_tls_established(self, now, tls)
        }
        fn send_stanza(&mut self, now: Instant, stanza: &Element) -> Result<(), SendError> {
            <$t>::send_stanza(self, now, stanza)
        }
        fn close(&mut self, now: Instant) {
            <$t>::close(self, now)
        }
        fn handle_eof(&mut self) {
            <$t>::handle_eof(self)
        }
        fn handle_timeout(&mut self, now: Instant) {
            <$t>::handle_timeout(self, now)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            <$t>::poll_timeout(self)
        }
        fn poll_transmit(&mut self) -> Option<Vec<u8>> {
            <$t>::poll_transmit(self)
        }
        fn poll_event(&mut self) -> Option<Event> {
            <$t>::poll_event(self)
        }
    };
}

impl Negotiation for Initiator {
    delegate!(Initiator);
    fn handle_dialback_verified(&mut self, _now: Instant, _valid: bool) {
        // Only a receiving stream asks for verification.
    }
    fn send_dialback_verify(&mut self, now: Instant, request: VerifyRequest) -> Result<(), SendError> {
        Initiator::send_dialback_verify(self, now, request)
    }
}

impl Negotiation for Receiver {
    delegate!(Receiver);
    fn handle_dialback_verified(&mut self, now: Instant, valid: bool) {
        Receiver::handle_dialback_verified(self, now, valid)
    }
    fn send_dialback_verify(&mut self, _now: Instant, _request: VerifyRequest) -> Result<(), SendError> {
        // Verification streams are ones we dial.
        Err(SendError::WrongDirection)
    }
}
