//! One S2S connection: a task that owns the socket and a `proto::s2s` state machine and moves
//! bytes, timers and stanzas between them.
//!
//! ```text
//!  socket ──read──▶ machine.handle_input ──poll_event──▶ observer (node: router, pool)
//!  socket ◀─write── machine.poll_transmit ◀─send_stanza── LinkCommand::Send (bounded queue)
//!           TLS upgrade in place on Event::StartTls; timers from machine.poll_timeout
//! ```

pub(crate) mod io;
mod negotiation;

use std::sync::Arc;
use std::time::Duration;

use proto::s2s::{CloseReason, Event, VerifyAnswer, VerifyRequest};
use proto::xml::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

pub(crate) use self::io::{BoxStream, TlsFailure};
pub(crate) use self::negotiation::Negotiation;
use crate::tls::TlsContext;

/// Identifies one connection for the lifetime of the process.
pub type LinkId = u64;

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialled.
    Outbound,
    /// The peer dialled us.
    Inbound,
}

/// What a link's owner can ask of it.
#[derive(Debug)]
pub(crate) enum LinkCommand {
    /// Send a stanza (only once authenticated).
    Send(Element),
    /// Close the stream gracefully.
    Close,
}

/// Bytes read from the socket at a time; also bounds how much one read adds to the reader.
const READ_CHUNK: usize = 16 * 1024;
/// A peer that does not take our bytes for this long is treated as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a link ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkEnd {
    /// The stream closed (gracefully, with a stream error, or failed authentication).
    #[error("stream closed: {0:?}")]
    Closed(CloseReason),
    /// TLS could not be established.
    #[error(transparent)]
    Tls(#[from] TlsFailure),
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer stopped reading our bytes.
    #[error("peer stopped reading (write timed out)")]
    WriteTimeout,
}

/// Receives what happens on links; implemented by the node.
pub(crate) trait LinkObserver: Send + Sync + 'static {
    /// The stream authenticated `peer`.
    fn established(&self, link: LinkId, direction: Direction, peer: &str, bidi: bool);
    /// A stanza arrived from `peer` (already checked against the authenticated domain).
    fn stanza(&self, link: LinkId, peer: &str, stanza: Element);
    /// A receiving stream needs the authoritative server's verdict on a dialback key.
    fn verify_dialback(&self, request: VerifyRequest, verdict: oneshot::Sender<bool>);
    /// A `<db:verify/>` we sent was answered.
    fn dialback_verified(&self, link: LinkId, answer: VerifyAnswer);
    /// The link ended.
    fn closed(&self, link: LinkId, peer: Option<&str>, end: &LinkEnd);
}

/// Static facts about one link.
pub(crate) struct LinkParams {
    pub id: LinkId,
    pub direction: Direction,
    pub tls: TlsContext,
    /// Direct TLS (XEP-0368) rather than STARTTLS.
    pub direct_tls: bool,
    /// The domain we dialled (its certificate must name it); empty for inbound links.
    pub remote_domain: String,
    /// Set on a dialback verification stream we dialled: the `<db:verify/>` to send. The link
    /// closes once it is answered.
    pub verify: Option<VerifyRequest>,
}

/// Drive one connection until it ends. Returns how it ended (also reported to the observer).
pub(crate) async fn run<M: Negotiation>(
    mut stream: BoxStream,
    mut machine: M,
    params: LinkParams,
    mut commands: mpsc::Receiver<LinkCommand>,
    observer: Arc<dyn LinkObserver>,
) -> LinkEnd {
    let mut peer: Option<String> = None;
    let end = drive(&mut stream, &mut machine, &params, &mut commands, &*observer, &mut peer).await;
    // Best effort: flush whatever the machine still wants to say (e.g. a stream error).
    while let Some(bytes) = machine.poll_transmit() {
        if tokio::time::timeout(Duration::from_secs(1), stream.write_all(&bytes)).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    observer.closed(params.id, peer.as_deref(), &end);
    end
}

async fn drive<M: Negotiation>(
    stream: &mut BoxStream,
    machine: &mut M,
    params: &LinkParams,
    commands: &mut mpsc::Receiver<LinkCommand>,
    observer: &dyn LinkObserver,
    peer: &mut Option<String>,
) -> LinkEnd {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut established = false;
    let (verdict_tx, mut verdict_rx) = mpsc::channel::<bool>(4);
    if let Some(request) = params.verify.clone() {
        if let Err(e) = machine.send_dialback_verify(std::time::Instant::now(), request) {
            tracing::debug!(link = params.id, error = %e, "dialback verify not sent");
        }
    }
    loop {
        while let Some(bytes) = machine.poll_transmit() {
            match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return LinkEnd::Io(e),
                Err(_) => return LinkEnd::WriteTimeout,
            }
        }
        if let Err(e) = stream.flush().await {
            return LinkEnd::Io(e);
        }
        let mut acted = false;
        while let Some(event) = machine.poll_event() {
            acted = true;
            match event {
                Event::StartTls { role } => {
                    let early = machine.take_tls_bytes();
                    // A placeholder while the real stream is inside the handshake.
                    let plain = std::mem::replace(stream, Box::new(tokio::io::duplex(1).0));
                    match io::upgrade(
                        plain,
                        early,
                        role,
                        &params.tls,
                        params.direct_tls,
                        &params.remote_domain,
                        params.verify.is_some(),
                    )
                    .await
                    {
                        Ok((tls, info)) => {
                            *stream = tls;
                            machine.handle_tls_established(std::time::Instant::now(), info);
                        }
                        Err(e) => return LinkEnd::Tls(e),
                    }
                }
                Event::Authenticated { peer_domain, bidi, .. } => {
                    established = true;
                    observer.established(params.id, params.direction, &peer_domain, bidi);
                    *peer = Some(peer_domain);
                }
                Event::Stanza(stanza) => {
                    if let Some(p) = peer.as_deref() {
                        observer.stanza(params.id, p, stanza);
                    }
                }
                Event::VerifyDialback { request } => {
                    let (tx, rx) = oneshot::channel();
                    observer.verify_dialback(request, tx);
                    let verdicts = verdict_tx.clone();
                    tokio::spawn(async move {
                        let _ = verdicts.send(rx.await.unwrap_or(false)).await;
                    });
                }
                Event::DialbackVerified(answer) => {
                    observer.dialback_verified(params.id, answer);
                    if params.verify.is_some() {
                        machine.close(std::time::Instant::now());
                    }
                }
                Event::Closed { reason } => return LinkEnd::Closed(reason),
                _ => {}
            }
        }
        if acted {
            // Events may have queued bytes (e.g. after TLS): write them before waiting.
            continue;
        }
        let deadline = machine.poll_timeout().map(TokioInstant::from_std);
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) => machine.handle_eof(),
                Ok(n) => machine.handle_input(std::time::Instant::now(), &buf[..n]),
                Err(e) => return LinkEnd::Io(e),
            },
            // Stanzas wait in the bounded queue until the stream is authenticated.
            cmd = commands.recv(), if established => match cmd {
                Some(LinkCommand::Send(stanza)) => {
                    if let Err(e) = machine.send_stanza(std::time::Instant::now(), &stanza) {
                        tracing::debug!(link = params.id, error = %e, "stanza not sent");
                    }
                }
                Some(LinkCommand::Close) | None => machine.close(std::time::Instant::now()),
            },
            Some(valid) = verdict_rx.recv() => machine.handle_dialback_verified(std::time::Instant::now(), valid),
            () = sleep_until(deadline) => machine.handle_timeout(std::time::Instant::now()),
        }
    }
}

async fn sleep_until(deadline: Option<TokioInstant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
