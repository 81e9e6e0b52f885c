//! The machinery both roles share: the bounded reader, the output buffer, the event queue, the
//! deadlines, and how a stream ends.

use std::collections::VecDeque;
use std::time::Instant;

use rand::RngCore;

use super::config::Timeouts;
use super::event::{CloseReason, Event, TlsRole};
use super::misbehaviour::Misbehaviour;
use crate::error::StreamError;
use crate::ns;
use crate::xml::{write, Element, Limits, StreamHeader, StreamReader, XmlEvent};

/// Where the stream is in its life, independent of the negotiation step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// Negotiating or authenticated.
    Open,
    /// We sent `</stream:stream>` and wait (until the deadline) for the peer's.
    Closing { deadline: Instant },
    /// Over; `Event::Closed` was emitted.
    Closed,
}

/// What a received [`XmlEvent`] means once the life-cycle events are taken out.
#[derive(Debug)]
pub(crate) enum Input {
    /// A stream header.
    Header(StreamHeader),
    /// A top-level element other than `<stream:error/>`.
    Element(Element),
}

/// Shared per-connection state. Owned by an `Initiator` or a `Receiver`.
#[derive(Debug)]
pub(crate) struct Link {
    reader: StreamReader,
    /// Bytes waiting for `poll_transmit`. Grows only by what the caller sends plus negotiation
    /// nonzas; the driver drains it after every call.
    out: Vec<u8>,
    /// Events waiting for `poll_event`; a handful per input at most.
    events: VecDeque<Event>,
    life: Life,
    timeouts: Timeouts,
    /// Until authentication; `None` afterwards.
    negotiation_deadline: Option<Instant>,
    /// When the peer last completed something (a stanza, a header, a keepalive): the idle clock.
    /// Partial input does not count, so a stanza trickled a byte at a time cannot keep an
    /// authenticated stream open past the idle timeout.
    last_rx: Instant,
    /// When the latest bytes arrived; becomes `last_rx` once they complete an item.
    latest_read: Instant,
    last_tx: Instant,
    /// Whether the current stream has our header on the wire (a stream error needs one first).
    pub(crate) header_sent: bool,
    /// True between `Event::StartTls` and `handle_tls_established`: the socket carries TLS
    /// handshake bytes, so nothing may be parsed or written in plaintext.
    pub(crate) awaiting_tls: bool,
    pub(crate) authenticated: bool,
    /// `(from, to)` of the header written before a stream error when none is out yet (the
    /// receiving side learns them from the peer's header).
    pub(crate) error_header: (Option<String>, Option<String>),
}

impl Link {
    pub(crate) fn new(timeouts: Timeouts, now: Instant) -> Self {
        Link {
            reader: StreamReader::new(Limits::PRE_AUTH),
            out: Vec::new(),
            events: VecDeque::new(),
            life: Life::Open,
            timeouts,
            negotiation_deadline: Some(now + timeouts.negotiation),
            last_rx: now,
            latest_read: now,
            last_tx: now,
            header_sent: false,
            awaiting_tls: false,
            authenticated: false,
            error_header: (None, None),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.life == Life::Open
    }

    pub(crate) fn push_event(&mut self, ev: Event) {
        self.events.push_back(ev);
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// Ask the driver for TLS; input is buffered unparsed until it reports back.
    pub(crate) fn start_tls(&mut self, role: TlsRole) {
        self.awaiting_tls = true;
        self.push_event(Event::StartTls { role });
    }

    /// Bytes received after the TLS switch point: they belong to the TLS handshake.
    pub(crate) fn take_tls_bytes(&mut self) -> Vec<u8> {
        if self.awaiting_tls {
            self.reader.take_buffered()
        } else {
            Vec::new()
        }
    }

    /// TLS is up: the next thing on the wire in both directions is a fresh stream header.
    pub(crate) fn tls_established(&mut self, now: Instant) {
        self.awaiting_tls = false;
        self.restart(now);
    }

    /// A stream restart (after TLS or SASL success).
    pub(crate) fn restart(&mut self, now: Instant) {
        self.reader.restart();
        self.header_sent = false;
        self.last_rx = now;
    }

    pub(crate) fn set_authenticated(&mut self, now: Instant) {
        self.authenticated = true;
        self.negotiation_deadline = None;
        self.last_rx = now;
        self.reader.set_limits(Limits::POST_AUTH);
    }

    pub(crate) fn push_input(&mut self, now: Instant, data: &[u8]) {
        self.latest_read = now;
        self.reader.push(data);
    }

    /// The next header or element to act on. Life-cycle events (peer close, stream errors,
    /// keepalives) are handled here; XML errors become our stream error.
    pub(crate) fn next_input(&mut self) -> Option<Input> {
        loop {
            if self.awaiting_tls || self.life == Life::Closed {
                return None;
            }
            let ev = match self.reader.next_event() {
                Ok(Some(ev)) => {
                    self.last_rx = self.latest_read;
                    ev
                }
                Ok(None) => return None,
                Err(e) => {
                    self.fail(Misbehaviour::Xml(e));
                    return None;
                }
            };
            let closing = matches!(self.life, Life::Closing { .. });
            match ev {
                XmlEvent::Keepalive => {}
                XmlEvent::StreamClose => {
                    let reason = if closing { CloseReason::Local } else { CloseReason::Peer };
                    self.finish(reason);
                }
                XmlEvent::Stanza(el) if el.is("error", ns::STREAM) => {
                    let err = StreamError::from_element(&el).unwrap_or_else(|| {
                        StreamError::new(crate::error::StreamErrorCondition::UndefinedCondition, "")
                    });
                    self.finish(CloseReason::ReceivedError(err));
                }
                // After our `</stream:stream>` the peer may still flush stanzas; they are dropped.
                _ if closing => {}
                XmlEvent::StreamOpen(h) => return Some(Input::Header(h)),
                XmlEvent::Stanza(el) => return Some(Input::Element(el)),
            }
        }
    }

    /// Write our stream header. `id` is `Some` on the receiving side.
    pub(crate) fn send_header(
        &mut self,
        now: Instant,
        from: Option<&str>,
        to: Option<&str>,
        with_id: bool,
    ) -> String {
        let id = if with_id { fresh_stream_id() } else { String::new() };
        let header = StreamHeader {
            content_ns: ns::JABBER_SERVER.to_owned(),
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            id: with_id.then(|| id.clone()),
            version: Some("1.0".to_owned()),
            lang: None,
            declares_dialback: true,
        };
        write::write_stream_header(&header, &mut self.out);
        self.header_sent = true;
        self.last_tx = now;
        id
    }

    /// Write one top-level element.
    pub(crate) fn send(&mut self, now: Instant, el: &Element) {
        write::write_stanza(el, ns::JABBER_SERVER, &mut self.out);
        self.last_tx = now;
    }

    /// End the stream with the stream error for `why`, preceded by our header (`error_header`)
    /// if the current stream has none yet (RFC 6120 §4.9.1.1).
    pub(crate) fn fail(&mut self, why: Misbehaviour) {
        if self.life == Life::Closed {
            return;
        }
        let err = why.to_stream_error();
        // During a TLS handshake the socket is not ours to write plaintext on.
        if !self.awaiting_tls && self.life == Life::Open {
            if !self.header_sent {
                let (from, to) = self.error_header.clone();
                // `now` only feeds the keepalive clock, which no longer matters.
                let now = self.last_tx;
                self.send_header(now, from.as_deref(), to.as_deref(), true);
            }
            write::write_stanza(&err.to_element(), ns::JABBER_SERVER, &mut self.out);
            self.out.extend_from_slice(write::STREAM_CLOSE);
        }
        self.finish(CloseReason::SentError(err));
    }

    /// End the stream without an error (e.g. after a refused authentication) for `reason`.
    pub(crate) fn end(&mut self, reason: CloseReason) {
        if self.life == Life::Open && !self.awaiting_tls {
            self.out.extend_from_slice(write::STREAM_CLOSE);
        }
        self.finish(reason);
    }

    /// `close()`: send `</stream:stream>` and wait for the peer's.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.life != Life::Open {
            return;
        }
        if self.awaiting_tls {
            self.finish(CloseReason::Local);
            return;
        }
        self.out.extend_from_slice(write::STREAM_CLOSE);
        self.life = Life::Closing { deadline: now + self.timeouts.close };
    }

    /// The transport ended.
    pub(crate) fn eof(&mut self) {
        let reason = if matches!(self.life, Life::Closing { .. }) {
            CloseReason::Local
        } else {
            CloseReason::TransportClosed
        };
        self.finish(reason);
    }

    fn finish(&mut self, reason: CloseReason) {
        if self.life == Life::Closed {
            return;
        }
        // Answer a peer's close so it need not wait for its own close timeout.
        if self.life == Life::Open && reason == CloseReason::Peer && !self.awaiting_tls {
            self.out.extend_from_slice(write::STREAM_CLOSE);
        }
        self.life = Life::Closed;
        self.push_event(Event::Closed { reason });
    }

    /// The earliest instant `handle_timeout` has something to do.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.life {
            Life::Closed => None,
            Life::Closing { deadline } => Some(deadline),
            Life::Open => match self.negotiation_deadline {
                Some(d) => Some(d),
                None => Some(
                    (self.last_rx + self.timeouts.idle).min(self.last_tx + self.timeouts.keepalive_interval),
                ),
            },
        }
    }

    /// Act on every deadline that has passed.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self.life {
            Life::Closed => {}
            Life::Closing { deadline } => {
                if now >= deadline {
                    self.finish(CloseReason::Local);
                }
            }
            Life::Open => {
                if let Some(d) = self.negotiation_deadline {
                    if now >= d {
                        self.fail(Misbehaviour::Timeout("stream negotiation"));
                    }
                    return;
                }
                if now >= self.last_rx + self.timeouts.idle {
                    self.fail(Misbehaviour::Timeout("idle stream"));
                } else if now >= self.last_tx + self.timeouts.keepalive_interval {
                    // RFC 6120 §4.6.1: whitespace keepalive, a single space.
                    self.out.push(b' ');
                    self.last_tx = now;
                }
            }
        }
    }
}

/// A fresh unguessable stream id (128 random bits, hex): dialback keys are bound to it.
fn fresh_stream_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
