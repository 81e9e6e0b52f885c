//! Per-remote-domain delivery: a bounded queue drained by one forwarder task that finds (or
//! dials) a link to the domain, with randomised, growing, capped backoff after failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proto::s2s::{AuthPolicy, Initiator, InitiatorConfig, TlsMode, VerifyRequest};
use proto::xml::Element;
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::shared::{lock, Shared};
use super::{RequestError, SendError};
use crate::discovery::TlsStart;
use crate::link::{self, Direction, LinkCommand, LinkObserver, LinkParams};

/// How many times a stanza is re-offered when the link it was handed to dies underneath it.
const MAX_LINK_RETRIES: usize = 3;

/// Reachability of one remote domain.
#[derive(Debug, Default)]
pub(crate) struct PeerStatus {
    /// While set and in the future, sends fail at once with the last error.
    unreachable_until: Option<Instant>,
    last_error: String,
    /// Consecutive failed dials (drives the backoff).
    failures: u32,
}

/// The sending half of a peer's queue.
#[derive(Debug)]
pub(crate) struct PeerHandle {
    tx: mpsc::Sender<Element>,
    status: Arc<Mutex<PeerStatus>>,
}

impl Shared {
    /// Queue `stanza` for `peer`, starting its forwarder if needed.
    pub(crate) fn enqueue(&self, peer: &str, stanza: Element) -> Result<(), SendError> {
        // A failed dial backs off dialling, not sending: if the peer has since reached us on a
        // stream that can carry our stanzas (its bidi inbound link), use it. Checked before
        // taking `peers` (never hold both locks).
        let linked = self.link_for(peer).is_some();
        let mut peers = lock(&self.peers);
        if let Some(h) = peers.get(peer) {
            let status = lock(&h.status);
            if let Some(until) = status.unreachable_until {
                if Instant::now() < until && !linked {
                    return Err(SendError::Unreachable {
                        peer: peer.to_owned(),
                        reason: status.last_error.clone(),
                    });
                }
            }
        }
        let handle = peers.entry(peer.to_owned()).or_insert_with(|| self.spawn_forwarder(peer));
        let depth = handle.tx.max_capacity() - handle.tx.capacity();
        metrics::gauge!("icroot_s2s_peer_queue_depth", "peer" => peer.to_owned()).set(depth as f64);
        match handle.tx.try_send(stanza) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("icroot_s2s_queue_overflow_total").increment(1);
                Err(SendError::QueueFull(peer.to_owned()))
            }
            Err(mpsc::error::TrySendError::Closed(stanza)) => {
                *handle = self.spawn_forwarder(peer);
                handle.tx.try_send(stanza).map_err(|_| SendError::QueueFull(peer.to_owned()))
            }
        }
    }

    fn spawn_forwarder(&self, peer: &str) -> PeerHandle {
        let (tx, rx) = mpsc::channel(self.config.peer_queue_len);
        let status = Arc::new(Mutex::new(PeerStatus::default()));
        let task = tokio::spawn(forward(self.arc(), peer.to_owned(), rx, status.clone()));
        self.track_task(task);
        PeerHandle { tx, status }
    }

    /// Dial `peer` (SRV order, every address) until one link authenticates.
    pub(crate) async fn dial(&self, peer: &str) -> Result<mpsc::Sender<LinkCommand>, String> {
        let endpoints = self.discovery.endpoints(peer).await.map_err(|e| e.to_string())?;
        let mut last = format!("no endpoints for {peer}");
        for ep in endpoints {
            let addrs = match self.discovery.addresses(&ep).await {
                Ok(a) => a,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            for addr in addrs {
                let tcp =
                    match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr)).await {
                        Ok(Ok(tcp)) => tcp,
                        Ok(Err(e)) => {
                            last = format!("connect {addr}: {e}");
                            continue;
                        }
                        Err(_) => {
                            last = format!("connect {addr}: timed out");
                            continue;
                        }
                    };
                let _ = tcp.set_nodelay(true);
                let mode = if ep.tls == TlsStart::Direct { TlsMode::DirectTls } else { TlsMode::StartTls };
                let (tx, done) = self.spawn_outbound(tcp, peer, mode, None);
                match done.await {
                    Ok(Ok(())) => return Ok(tx),
                    Ok(Err(reason)) => last = format!("{addr}: {reason}"),
                    Err(_) => last = format!("{addr}: link task ended"),
                }
            }
        }
        metrics::counter!("icroot_s2s_dial_failures_total").increment(1);
        Err(last)
    }

    /// Start an outbound link; the receiver resolves when it authenticates or fails.
    fn spawn_outbound(
        &self,
        tcp: TcpStream,
        peer: &str,
        mode: TlsMode,
        verify: Option<(VerifyRequest, oneshot::Sender<bool>)>,
    ) -> (mpsc::Sender<LinkCommand>, oneshot::Receiver<Result<(), String>>) {
        let cfg = &self.config;
        let ic = InitiatorConfig {
            local_domain: cfg.domain.clone(),
            remote_domain: peer.to_owned(),
            tls: mode,
            auth: AuthPolicy {
                allow_sasl_external: true,
                allow_dialback: cfg.dialback.initiate,
                empty_authzid: false,
            },
            want_bidi: true,
            dialback_secret: cfg.dialback.secret.clone(),
            timeouts: cfg.stream_timeouts,
        };
        let machine = Initiator::new(ic, std::time::Instant::now());
        let id = self.new_link_id();
        let (done_tx, done_rx) = oneshot::channel();
        lock(&self.dial_waiters).insert(id, done_tx);
        let verify = verify.map(|(request, answer)| {
            // Registered before the link exists, so even an instant answer finds its waiter.
            lock(&self.verify_waiters).insert(id, answer);
            request
        });
        let rx = self.register_link(id, Direction::Outbound);
        let tx = lock(&self.links).get(&id).map(|l| l.tx.clone()).expect("just registered");
        let params = LinkParams {
            id,
            direction: Direction::Outbound,
            tls: self.tls.clone(),
            direct_tls: mode == TlsMode::DirectTls,
            remote_domain: peer.to_owned(),
            verify,
        };
        let observer: Arc<dyn LinkObserver> = self.arc();
        tokio::spawn(async move {
            link::run(Box::new(tcp), machine, params, rx, observer).await;
        });
        (tx, done_rx)
    }

    /// Ask the authoritative server of the originating domain whether it issued a dialback key
    /// (XEP-0220 §2.3) over a dedicated verification stream.
    pub(crate) async fn verify_with_authoritative(&self, request: VerifyRequest) -> bool {
        let deadline = self.config.stream_timeouts.negotiation;
        let attempt = async {
            let peer = request.to.clone();
            let endpoints = self.discovery.endpoints(&peer).await.ok()?;
            for ep in endpoints {
                for addr in self.discovery.addresses(&ep).await.ok()? {
                    let Ok(tcp) = TcpStream::connect(addr).await else { continue };
                    let mode =
                        if ep.tls == TlsStart::Direct { TlsMode::DirectTls } else { TlsMode::StartTls };
                    let (tx, answer) = oneshot::channel();
                    let (_link, _done) = self.spawn_outbound(tcp, &peer, mode, Some((request.clone(), tx)));
                    if let Ok(valid) = answer.await {
                        return Some(valid);
                    }
                }
            }
            None
        };
        matches!(tokio::time::timeout(deadline, attempt).await, Ok(Some(true)))
    }
}

/// Drain one peer's queue into a link, dialling when there is none.
async fn forward(
    shared: Arc<Shared>,
    peer: String,
    mut rx: mpsc::Receiver<Element>,
    status: Arc<Mutex<PeerStatus>>,
) {
    while let Some(first) = rx.recv().await {
        let mut stanza = first;
        let mut retries = 0;
        loop {
            let link = match shared.link_for(&peer) {
                Some(l) => l,
                None => match shared.dial(&peer).await {
                    Ok(l) => {
                        *lock(&status) = PeerStatus::default();
                        l
                    }
                    // The peer may have reached us (bidi) while our dial failed: use that stream
                    // rather than dropping what is queued.
                    Err(reason) => match shared.link_for(&peer) {
                        Some(l) => l,
                        None => {
                            fail_peer(&shared, &peer, &status, &reason, &mut rx);
                            break;
                        }
                    },
                },
            };
            match link.send(LinkCommand::Send(stanza)).await {
                Ok(()) => break,
                Err(mpsc::error::SendError(LinkCommand::Send(back))) if retries < MAX_LINK_RETRIES => {
                    retries += 1;
                    stanza = back;
                }
                Err(_) => break,
            }
        }
        if shared.is_shutting_down() {
            return;
        }
    }
}

/// A dial failed: back off, fail every request waiting on this peer, and drop what is queued
/// (its senders' requests fail with the same reason; plain messages are lost, as on any S2S link).
fn fail_peer(
    shared: &Shared,
    peer: &str,
    status: &Mutex<PeerStatus>,
    reason: &str,
    rx: &mut mpsc::Receiver<Element>,
) {
    {
        let mut s = lock(status);
        s.failures = s.failures.saturating_add(1);
        let b = shared.config.backoff;
        let exp = b.initial.saturating_mul(1u32 << s.failures.min(16).saturating_sub(1));
        let capped = exp.min(b.max);
        // Full jitter in [capped/2, capped]: spreads reconnect storms after a partition heals.
        let half = capped / 2;
        let jitter = rand::thread_rng().gen_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        s.unreachable_until = Some(Instant::now() + half + Duration::from_millis(jitter));
        s.last_error = reason.to_owned();
    }
    tracing::debug!(peer, reason, "peer unreachable");
    while rx.try_recv().is_ok() {}
    shared.pending.fail_peer(peer, &RequestError::Unreachable(reason.to_owned()));
}
