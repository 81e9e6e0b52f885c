//! The state every task of a node shares: the link table, per-peer queues, pending requests, and
//! the routing of what links report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use proto::error::{StanzaError, StanzaErrorCondition};
use proto::s2s::{identity::jid_domain, Receiver, ReceiverConfig, TlsMode, VerifyAnswer, VerifyRequest};
use proto::xml::Element;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;

use super::peer::PeerHandle;
use super::pending::Pending;
use super::sources::{SourceSlot, Sources};
use super::{Incoming, RequestError, SendError};
use crate::config::TransportConfig;
use crate::discovery::Discovery;
use crate::fault::{Fate, FaultHook};
use crate::link::{self, Direction, LinkCommand, LinkEnd, LinkId, LinkObserver, LinkParams};
use crate::tls::TlsContext;

/// Commands queued for one link before its owner waits (stanzas beyond this wait in the peer queue).
pub(crate) const LINK_COMMAND_QUEUE: usize = 256;

pub(crate) struct LinkEntry {
    /// Commands to the link's task.
    pub tx: mpsc::Sender<LinkCommand>,
    pub direction: Direction,
    /// Set once authenticated.
    pub peer: Option<String>,
    pub bidi: bool,
    /// Counts an inbound connection against its source until it authenticates.
    pub source_slot: Option<SourceSlot>,
}

pub(crate) struct Shared {
    pub config: TransportConfig,
    pub tls: TlsContext,
    pub discovery: Discovery,
    pub faults: FaultHook,
    pub pending: Pending,
    /// Stanzas for the application (bounded: `inbound_queue_len`).
    incoming: mpsc::Sender<Incoming>,
    pub links: Mutex<HashMap<LinkId, LinkEntry>>,
    pub peers: Mutex<HashMap<String, PeerHandle>>,
    /// Dial attempts waiting for their link to authenticate (or fail).
    pub dial_waiters: Mutex<HashMap<LinkId, oneshot::Sender<Result<(), String>>>>,
    /// Dialback verification streams waiting for the authoritative answer.
    pub verify_waiters: Mutex<HashMap<LinkId, oneshot::Sender<bool>>>,
    next_link: AtomicU64,
    next_request: AtomicU64,
    /// Bounds concurrent inbound connections (flood protection).
    inbound_permits: Arc<Semaphore>,
    /// Bounds one source's unauthenticated inbound connections (flood protection).
    negotiating: Sources,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutting_down: AtomicBool,
    /// Peers whose side ended an authenticated stream (see [`Shared::closed`]).
    pub link_lost: tokio::sync::broadcast::Sender<String>,
    pub this: Weak<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("domain", &self.config.domain).finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(
        config: TransportConfig,
        tls: TlsContext,
        discovery: Discovery,
        incoming: mpsc::Sender<Incoming>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Shared {
            faults: FaultHook::new(config.seed),
            pending: Pending::new(config.max_pending_requests),
            inbound_permits: Arc::new(Semaphore::new(config.max_inbound_links)),
            negotiating: Sources::default(),
            config,
            tls,
            discovery,
            incoming,
            links: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            dial_waiters: Mutex::new(HashMap::new()),
            verify_waiters: Mutex::new(HashMap::new()),
            next_link: AtomicU64::new(1),
            next_request: AtomicU64::new(1),
            tasks: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            link_lost: tokio::sync::broadcast::channel(64).0,
            this: this.clone(),
        })
    }

    pub(crate) fn arc(&self) -> Arc<Shared> {
        self.this.upgrade().expect("Shared is alive while its methods run")
    }

    pub(crate) fn track_task(&self, task: JoinHandle<()>) {
        lock(&self.tasks).push(task);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    pub(crate) fn new_link_id(&self) -> LinkId {
        self.next_link.fetch_add(1, Ordering::Relaxed)
    }

    /// An authenticated link that can carry stanzas to `peer`: our own outbound stream first,
    /// else the peer's inbound stream if it negotiated bidi.
    pub(crate) fn link_for(&self, peer: &str) -> Option<mpsc::Sender<LinkCommand>> {
        let links = lock(&self.links);
        let usable = |dir: Direction| {
            links.values().find(|l| {
                l.direction == dir
                    && l.peer.as_deref() == Some(peer)
                    && !l.tx.is_closed()
                    && (dir == Direction::Outbound || l.bidi)
            })
        };
        usable(Direction::Outbound).or_else(|| usable(Direction::Inbound)).map(|l| l.tx.clone())
    }

    pub(crate) fn established_links(&self) -> Vec<(String, Direction, bool)> {
        lock(&self.links).values().filter_map(|l| l.peer.clone().map(|p| (p, l.direction, l.bidi))).collect()
    }

    /// See [`crate::XmppNode::reply`]. Faults apply as to any send; a full link channel is
    /// `QueueFull`, like a full peer queue.
    pub(crate) fn reply(&self, link: LinkId, mut stanza: Element) -> Result<(), SendError> {
        let peer = stanza.attr("to").and_then(jid_domain).map(str::to_ascii_lowercase);
        let tx = {
            let links = lock(&self.links);
            links
                .get(&link)
                .filter(|l| {
                    l.peer.is_some()
                        && l.peer == peer
                        && !l.tx.is_closed()
                        && (l.direction == Direction::Outbound || l.bidi)
                })
                .map(|l| l.tx.clone())
        };
        let (Some(tx), Some(peer)) = (tx, peer) else { return self.send(stanza) };
        if self.is_shutting_down() {
            return Err(SendError::ShuttingDown);
        }
        if self.faults.get(&peer).is_some() {
            // A faulted peer's answers take the ordinary path, which applies the fault once.
            return self.send(stanza);
        }
        if stanza.attr("from").is_none() {
            stanza.set_attr("from", self.config.domain.clone());
        }
        metrics::counter!("icroot_s2s_stanzas_out_total", "kind" => stanza_kind(&stanza)).increment(1);
        tx.try_send(LinkCommand::Send(stanza)).map_err(|_| {
            metrics::counter!("icroot_s2s_queue_overflow_total").increment(1);
            SendError::QueueFull(peer)
        })
    }

    pub(crate) fn send(&self, mut stanza: Element) -> Result<(), SendError> {
        if self.is_shutting_down() {
            return Err(SendError::ShuttingDown);
        }
        let peer = stanza
            .attr("to")
            .and_then(jid_domain)
            .map(str::to_ascii_lowercase)
            .ok_or(SendError::NoAddress)?;
        if stanza.attr("from").is_none() {
            stanza.set_attr("from", self.config.domain.clone());
        }
        metrics::counter!("icroot_s2s_stanzas_out_total", "kind" => stanza_kind(&stanza)).increment(1);
        match self.faults.decide(&peer) {
            Fate::Deliver => self.enqueue(&peer, stanza),
            Fate::Drop => Ok(()),
            Fate::Delayed(delays) => {
                for d in delays {
                    let (this, peer, stanza) = (self.arc(), peer.clone(), stanza.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(d).await;
                        let _ = this.enqueue(&peer, stanza);
                    });
                }
                Ok(())
            }
        }
    }

    pub(crate) async fn request(&self, mut iq: Element, timeout: Duration) -> Result<Element, RequestError> {
        if iq.name() != "iq" || !matches!(iq.attr("type"), Some("get" | "set")) {
            return Err(RequestError::Invalid("requests are iq stanzas of type get or set".into()));
        }
        let peer = iq
            .attr("to")
            .and_then(jid_domain)
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| RequestError::Invalid("no 'to' address".into()))?;
        let id = match iq.attr("id") {
            Some(id) => id.to_owned(),
            None => {
                let id = format!("r{}", self.next_request.fetch_add(1, Ordering::Relaxed));
                iq.set_attr("id", id.clone());
                id
            }
        };
        let rx = self.pending.register(&peer, &id)?;
        metrics::gauge!("icroot_s2s_pending_requests").set(self.pending.len() as f64);
        let started = tokio::time::Instant::now();
        if let Err(e) = self.send(iq) {
            self.pending.remove(&peer, &id);
            return Err(e.into());
        }
        let outcome = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(answer))) => {
                if answer.attr("type") == Some("error") {
                    let err = answer
                        .children()
                        .find(|c| c.name() == "error")
                        .and_then(StanzaError::from_element)
                        .unwrap_or_else(|| {
                            StanzaError::new(StanzaErrorCondition::UndefinedCondition, "no <error/>")
                        });
                    Err(RequestError::Remote(Box::new(err)))
                } else {
                    Ok(answer)
                }
            }
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(RequestError::Network("request abandoned".into())),
            Err(_) => {
                self.pending.remove(&peer, &id);
                Err(RequestError::Timeout(timeout))
            }
        };
        let label = if outcome.is_ok() { "ok" } else { "error" };
        metrics::histogram!("icroot_s2s_request_seconds", "outcome" => label)
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    /// Deliver a stanza from `peer` to pending requests or the application.
    fn route(&self, link: LinkId, peer: &str, stanza: Element) {
        metrics::counter!("icroot_s2s_stanzas_in_total", "kind" => stanza_kind(&stanza)).increment(1);
        if stanza.name() == "iq" && matches!(stanza.attr("type"), Some("result" | "error")) {
            let id = stanza.attr("id").unwrap_or_default().to_owned();
            if let Some(unclaimed) = self.pending.complete(peer, &id, stanza) {
                tracing::debug!(peer, id, "answer to no outstanding request (late or unknown); dropped");
                drop(unclaimed);
            }
            return;
        }
        let is_request = stanza.name() == "iq" && matches!(stanza.attr("type"), Some("get" | "set"));
        let incoming = Incoming { from_domain: peer.to_owned(), stanza, link };
        if let Err(e) = self.incoming.try_send(incoming) {
            metrics::counter!("icroot_s2s_inbound_overflow_total").increment(1);
            let Incoming { stanza, .. } = e.into_inner();
            if is_request {
                let err = StanzaError::new(
                    StanzaErrorCondition::ResourceConstraint,
                    "the root is overloaded; retry later",
                );
                let _ = self.send(error_reply(&stanza, &err));
            }
        }
    }

    pub(crate) async fn accept_loop(self: Arc<Self>, listener: TcpListener, mode: TlsMode) {
        loop {
            let (tcp, addr) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = self.negotiating.try_acquire(addr.ip(), self.config.max_negotiating_per_source)
            else {
                metrics::counter!("icroot_s2s_inbound_refused_total", "reason" => "source-limit")
                    .increment(1);
                tracing::warn!(%addr, "unauthenticated connection limit of this source reached; closing");
                drop(tcp);
                continue;
            };
            let Ok(permit) = self.inbound_permits.clone().try_acquire_owned() else {
                metrics::counter!("icroot_s2s_inbound_refused_total", "reason" => "limit").increment(1);
                tracing::warn!(%addr, "inbound connection limit reached; closing");
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let cfg = &self.config;
            let rc = ReceiverConfig {
                local_domains: vec![cfg.domain.clone()],
                tls: mode,
                require_tls: true,
                allow_dialback: cfg.dialback.accept,
                offer_bidi: true,
                dialback_secret: cfg.dialback.secret.clone(),
                max_auth_failures: 3,
                timeouts: cfg.stream_timeouts,
            };
            let machine = Receiver::new(rc, std::time::Instant::now());
            let params = LinkParams {
                id: self.new_link_id(),
                direction: Direction::Inbound,
                tls: self.tls.clone(),
                direct_tls: mode == TlsMode::DirectTls,
                remote_domain: String::new(),
                verify: None,
            };
            let rx = self.register_link(params.id, Direction::Inbound);
            if let Some(entry) = lock(&self.links).get_mut(&params.id) {
                entry.source_slot = Some(slot);
            }
            let observer: Arc<dyn LinkObserver> = self.clone();
            tokio::spawn(async move {
                let _permit = permit;
                link::run(Box::new(tcp), machine, params, rx, observer).await;
            });
        }
    }

    pub(crate) fn register_link(&self, id: LinkId, direction: Direction) -> mpsc::Receiver<LinkCommand> {
        let (tx, rx) = mpsc::channel(LINK_COMMAND_QUEUE);
        lock(&self.links).insert(id, LinkEntry { tx, direction, peer: None, bidi: false, source_slot: None });
        rx
    }

    /// Whether every address `peer` resolves to refuses TCP connections now (see
    /// [`crate::XmppNode::refuses_connections`]).
    pub(crate) async fn refuses_connections(&self, peer: &str, timeout: Duration) -> bool {
        let Ok(endpoints) = self.discovery.endpoints(peer).await else { return false };
        let mut refused = 0;
        for ep in endpoints {
            let Ok(addrs) = self.discovery.addresses(&ep).await else { return false };
            for addr in addrs {
                match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                    // Something answers, or the address is silent (a partition looks like this).
                    _ => return false,
                }
            }
        }
        refused > 0
    }

    pub(crate) async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        let txs: Vec<_> = lock(&self.links).values().map(|l| l.tx.clone()).collect();
        for tx in txs {
            let _ = tx.send(LinkCommand::Close).await;
        }
        lock(&self.peers).clear();
    }
}

/// The metrics label of a stanza: a fixed set, whatever a peer sends.
fn stanza_kind(stanza: &Element) -> &'static str {
    match stanza.name() {
        "iq" => "iq",
        "message" => "message",
        "presence" => "presence",
        _ => "other",
    }
}

/// A low-cardinality label for how a link ended: the stream error condition when there was one.
fn close_reason_label(end: &LinkEnd) -> &'static str {
    use proto::s2s::CloseReason as R;
    match end {
        LinkEnd::Closed(R::Local) => "local-close",
        LinkEnd::Closed(R::Peer) => "peer-close",
        LinkEnd::Closed(R::SentError(e) | R::ReceivedError(e)) => e.condition.as_str(),
        LinkEnd::Closed(R::AuthFailed(_)) => "auth-failed",
        LinkEnd::Closed(R::TransportClosed) => "eof",
        LinkEnd::Closed(_) => "closed",
        LinkEnd::Tls(_) => "tls",
        LinkEnd::Io(_) => "io",
        LinkEnd::WriteTimeout => "write-timeout",
    }
}

/// The error answer to `request`.
pub(crate) fn error_reply(request: &Element, error: &StanzaError) -> Element {
    let mut reply = Element::new(request.name(), request.ns()).with_attr("type", "error");
    for (k, v) in [("id", request.attr("id")), ("to", request.attr("from")), ("from", request.attr("to"))] {
        if let Some(v) = v {
            reply.set_attr(k, v);
        }
    }
    reply.with_child(error.to_element(request.ns()))
}

impl LinkObserver for Shared {
    fn established(&self, link: LinkId, direction: Direction, peer: &str, bidi: bool) {
        let dir = if direction == Direction::Outbound { "outbound" } else { "inbound" };
        metrics::counter!("icroot_s2s_links_established_total", "direction" => dir).increment(1);
        tracing::debug!(link, peer, dir, bidi, "link authenticated");
        if let Some(entry) = lock(&self.links).get_mut(&link) {
            entry.peer = Some(peer.to_ascii_lowercase());
            entry.bidi = bidi;
            // Authenticated: the peer is known, only the global limit applies from here.
            entry.source_slot = None;
        }
        if let Some(w) = lock(&self.dial_waiters).remove(&link) {
            let _ = w.send(Ok(()));
        }
    }

    fn stanza(&self, link: LinkId, peer: &str, stanza: Element) {
        if self.faults.blocks_inbound(peer) {
            return;
        }
        self.route(link, &peer.to_ascii_lowercase(), stanza);
    }

    fn verify_dialback(&self, request: VerifyRequest, verdict: oneshot::Sender<bool>) {
        let this = self.arc();
        tokio::spawn(async move {
            let valid = this.verify_with_authoritative(request).await;
            let _ = verdict.send(valid);
        });
    }

    fn dialback_verified(&self, link: LinkId, answer: VerifyAnswer) {
        if let Some(w) = lock(&self.verify_waiters).remove(&link) {
            let _ = w.send(answer.verdict == proto::s2s::Verdict::Valid);
        }
    }

    fn closed(&self, link: LinkId, peer: Option<&str>, end: &LinkEnd) {
        let reason = end.to_string();
        tracing::debug!(link, ?peer, %reason, "link ended");
        let negotiated = lock(&self.links).get(&link).is_some_and(|l| l.peer.is_some());
        let reason_label = close_reason_label(end);
        metrics::counter!("icroot_s2s_links_closed_total", "reason" => reason_label).increment(1);
        if !negotiated {
            metrics::counter!("icroot_s2s_negotiation_failures_total", "reason" => reason_label).increment(1);
        }
        lock(&self.links).remove(&link);
        // The peer's side ended the stream: closed it, or the socket ended without a closing
        // tag (EOF or a reset), which is what a peer whose process died looks like.
        use proto::s2s::CloseReason as R;
        let by_peer = matches!(end, LinkEnd::Closed(R::TransportClosed | R::Peer) | LinkEnd::Io(_));
        if let (true, true, Some(p)) = (negotiated, by_peer, peer) {
            let _ = self.link_lost.send(p.to_owned());
        }
        if let Some(w) = lock(&self.dial_waiters).remove(&link) {
            let _ = w.send(Err(reason.clone()));
        }
        if let Some(w) = lock(&self.verify_waiters).remove(&link) {
            let _ = w.send(false);
        }
        if let Some(peer) = peer {
            if self.link_for(peer).is_none() {
                self.pending.fail_peer(peer, &RequestError::Network(reason));
            }
        }
    }
}
