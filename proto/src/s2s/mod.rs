//! RFC 6120 server-to-server stream negotiation as sans-IO state machines: STARTTLS or direct TLS
//! (XEP-0368), SASL EXTERNAL or dialback (XEP-0220, keys per XEP-0185), bidi (XEP-0288).
//!
//! ```text
//!   socket ─▶ (driver: TLS) ─▶ handle_input(now, plaintext) ─┐          ┌─▶ poll_event(): StartTls,
//!                                                            ▼          │     Authenticated, Stanza,
//!                                   Initiator / Receiver (this module) ─┤     VerifyDialback, Closed
//!   socket ◀─ (driver: TLS) ◀─ poll_transmit() ◀──────────────┘          └─▶ poll_timeout() / handle_timeout(now)
//! ```
//!
//! No sockets, no clocks, no TLS: the driver runs rustls when told ([`Event::StartTls`]) and
//! verifies the peer's certificate chain; this module checks the certificate's *name* against
//! the stream's domains ([`identity`]) and everything on the XML stream. Every peer violation is
//! a [`Misbehaviour`] answered with one RFC 6120 stream error, written as `<stream:error>` plus
//! `</stream:stream>`, followed by [`Event::Closed`].

mod config;
pub mod dialback;
mod event;
mod features;
pub mod identity;
mod initiator;
mod link;
mod misbehaviour;
mod receiver;

pub use config::{AuthPolicy, InitiatorConfig, ReceiverConfig, Timeouts, TlsMode};
pub use dialback::{dialback_key, Verdict, VerifyAnswer, VerifyRequest};
pub use event::{AuthFailure, AuthMethod, CloseReason, Event, SendError, TlsInfo, TlsRole};
pub use initiator::Initiator;
pub use misbehaviour::Misbehaviour;
pub use receiver::Receiver;
