//! `icroot watch`: follow every registry change as an XEP-0060 subscriber of a root node's
//! `registry` node (docs/protocol.md §6.3, docs/cli.md), surviving the loss of that node.
//!
//! ```text
//!  Profile roots [root, fallback…] ─▶ Client (S2S, bidi) ─▶ subscribe(since = last seen)
//!     ◀─ headline notifications ─▶ WatchEvent (revision > last seen only) ─▶ caller
//!     ping every keepalive; link lost / ping failed / subscription ended ─▶ next root, resume
//! ```
//!
//! Exactly-once, in order: every event carries its revision (an item's record
//! `modified-revision`, a retract's message `<revision/>`); the watcher passes on only revisions
//! above the last one it passed on and resubscribes with `since-revision` = that revision, so a
//! duplicate (an old subscription still delivering, a replayed page) is dropped and a gap cannot
//! open while the history is kept. The transport drops what overflows its bounded inbound queue,
//! so the watcher waits at most `CONSUMER_GRACE` for the caller to take an event; past that it
//! resubscribes from the last change the caller took rather than buffering without bound.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use proto::error::StanzaErrorType;
use proto::ns;
use proto::stanza::envelope::{Iq, IqType, Message};
use proto::stanza::pubsub::REGISTRY_NODE;
use proto::stanza::pubsub::{
    parse_item_id, Notification, PubsubRequest, Subscribe, Subscription, Unsubscribe,
};
use proto::stanza::registry::{CloudRecord, ExchangeRecord, RecordKind, RegistryError};
use proto::xml::Element;
use raft_xmpp_transport::{Incoming, RequestError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{Client, ClientError};
use crate::profile::Profile;

/// How a watch runs.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Only keys (domains, Cloud ids) starting with this.
    pub prefix: Option<String>,
    /// Start after this revision (default: from now).
    pub since_revision: Option<u64>,
    /// Ping the root this often; a ping unanswered within the same time means the link is lost.
    pub keepalive: Duration,
    /// Pause before subscribing again after a loss (doubles up to 8×, reset on success).
    pub reconnect_pause: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            prefix: None,
            since_revision: None,
            keepalive: Duration::from_secs(10),
            reconnect_pause: Duration::from_millis(500),
        }
    }
}

/// A registry record as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchRecord {
    /// An Exchange.
    Exchange(ExchangeRecord),
    /// A Cloud.
    Cloud(CloudRecord),
}

/// What a watch reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// A record was created or changed at `revision`.
    Put {
        /// The revision.
        revision: u64,
        /// The record after the change.
        record: WatchRecord,
    },
    /// A record was removed at `revision`.
    Removed {
        /// The revision.
        revision: u64,
        /// Exchange or Cloud.
        kind: RecordKind,
        /// Domain or Cloud id.
        key: String,
    },
    /// Subscribed on `root`, after `since`.
    Subscribed {
        /// The root node's domain.
        root: String,
        /// The revision delivery starts after.
        since: u64,
    },
    /// The watch on `root` was lost; it resubscribes next.
    Lost {
        /// The root node's domain.
        root: String,
        /// Why.
        reason: String,
    },
}

impl WatchEvent {
    /// The revision of a change (`None` for status events).
    pub fn revision(&self) -> Option<u64> {
        match self {
            WatchEvent::Put { revision, .. } | WatchEvent::Removed { revision, .. } => Some(*revision),
            _ => None,
        }
    }

    /// One JSON object (docs/cli.md).
    pub fn to_json(&self) -> Value {
        match self {
            WatchEvent::Put { revision, record: WatchRecord::Exchange(x) } => json!({
                "revision": revision, "op": "put", "kind": "exchange", "key": x.domain,
                "record": crate::output::exchange_json(x),
            }),
            WatchEvent::Put { revision, record: WatchRecord::Cloud(c) } => json!({
                "revision": revision, "op": "put", "kind": "cloud", "key": c.id,
                "record": crate::output::cloud_json(c),
            }),
            WatchEvent::Removed { revision, kind, key } => {
                json!({"revision": revision, "op": "removed", "kind": kind.as_str(), "key": key})
            }
            WatchEvent::Subscribed { root, since } => {
                json!({"op": "subscribed", "root": root, "since": since})
            }
            WatchEvent::Lost { root, reason } => json!({"op": "lost", "root": root, "reason": reason}),
        }
    }

    /// One readable line.
    pub fn to_text(&self) -> String {
        match self {
            WatchEvent::Put { revision, record: WatchRecord::Exchange(x) } => {
                format!(
                    "{revision:>8}  put      exchange {}  regions={} capabilities={}",
                    x.domain,
                    x.spec.regions.join(","),
                    x.spec.capabilities.join(",")
                )
            }
            WatchEvent::Put { revision, record: WatchRecord::Cloud(c) } => {
                format!(
                    "{revision:>8}  put      cloud    {}  owner={} services={}",
                    c.id,
                    c.owner,
                    c.spec.services.join(",")
                )
            }
            WatchEvent::Removed { revision, kind, key } => {
                format!("{revision:>8}  removed  {:<8} {key}", kind.as_str())
            }
            WatchEvent::Subscribed { root, since } => format!("# watching {root} after revision {since}"),
            WatchEvent::Lost { root, reason } => format!("# lost {root}: {reason}; resubscribing"),
        }
    }
}

/// How one subscription on one root ended.
enum End {
    Stopped,
    Lost(String),
    Fatal(ClientError),
}

/// Watch until `stop` resolves or `out` is closed, moving over the profile's roots on loss.
/// Fails only for what retrying cannot fix (certificates, a refused subscription such as
/// `revision-compacted`).
pub async fn watch(
    profile: &Profile,
    opts: &WatchOptions,
    out: mpsc::Sender<WatchEvent>,
    stop: impl Future<Output = ()>,
) -> Result<(), ClientError> {
    let roots = profile.roots();
    let mut last = opts.since_revision;
    let mut old_subids: HashMap<String, String> = HashMap::new();
    let mut pause = opts.reconnect_pause;
    tokio::pin!(stop);
    for attempt in 0usize.. {
        let (domain, address) = &roots[attempt % roots.len()];
        let p = Profile { root_domain: domain.clone(), root_address: address.clone(), ..profile.clone() };
        let (client, incoming) = Client::connect_with_incoming(&p)?;
        let ctx = Session { client: &client, opts, out: &out, old_subids: &mut old_subids };
        let end = ctx.run(incoming, &mut last, &mut stop, &mut pause).await;
        client.close().await;
        match end {
            End::Stopped => return Ok(()),
            End::Fatal(e) => return Err(e),
            End::Lost(reason) => {
                tracing::info!(root = %domain, reason, "watch lost");
                if out.send(WatchEvent::Lost { root: domain.clone(), reason }).await.is_err() {
                    return Ok(());
                }
            }
        }
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(opts.reconnect_pause * 8);
    }
    Ok(())
}

struct Session<'a> {
    client: &'a Client,
    opts: &'a WatchOptions,
    out: &'a mpsc::Sender<WatchEvent>,
    old_subids: &'a mut HashMap<String, String>,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the caller may leave one event untaken before the watch resubscribes.
const CONSUMER_GRACE: Duration = Duration::from_secs(5);

impl Session<'_> {
    async fn request(&self, kind: IqType, payload: Element) -> Result<Element, RequestError> {
        let c = self.client;
        let id = format!("watch-{}-{}", std::process::id(), next_id());
        let iq = Iq::request(kind, id, c.domain().to_owned(), c.root().to_owned(), payload);
        c.node()
            .request(iq.to_element(), REQUEST_TIMEOUT.min(self.opts.keepalive.max(Duration::from_secs(1))))
            .await
    }

    async fn run(
        self,
        mut incoming: mpsc::Receiver<Incoming>,
        last: &mut Option<u64>,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        pause: &mut Duration,
    ) -> End {
        let root = self.client.root().to_owned();
        let sub = PubsubRequest::Subscribe(Subscribe {
            node: REGISTRY_NODE.to_owned(),
            jid: self.client.domain().to_owned(),
            since_revision: *last,
            prefix: self.opts.prefix.clone(),
        });
        let asked = tokio::select! {
            () = stop.as_mut() => return End::Stopped,
            a = self.request(IqType::Set, sub.to_element()) => a,
        };
        let answer = match asked {
            Ok(a) => a,
            Err(RequestError::Remote(e)) if e.kind != StanzaErrorType::Wait => {
                let error = RegistryError::from_stanza_error(&e);
                return End::Fatal(ClientError::Refused {
                    condition: e.condition.as_str().to_owned(),
                    error,
                });
            }
            Err(e) => return End::Lost(format!("subscribe: {e}")),
        };
        let Some((subid, since)) = subscription(&answer) else {
            return End::Fatal(ClientError::Unexpected(format!("subscribe answer: {answer:?}")));
        };
        let since = last.unwrap_or(since);
        *last = Some(since);
        *pause = self.opts.reconnect_pause;
        if let Some(old) = subid.as_ref().and_then(|s| self.old_subids.insert(root.clone(), s.clone())) {
            // A subscription of an earlier link may still be delivering: end it.
            let _ = self.request(IqType::Set, unsubscribe(self.client.domain(), old)).await;
        }
        if self.out.send(WatchEvent::Subscribed { root: root.clone(), since }).await.is_err() {
            return End::Stopped;
        }
        let mut tick = tokio::time::interval(self.opts.keepalive);
        tick.reset();
        loop {
            tokio::select! {
                () = stop.as_mut() => {
                    if let Some(s) = subid.clone() {
                        let _ = self.request(IqType::Set, unsubscribe(self.client.domain(), s)).await;
                    }
                    return End::Stopped;
                }
                inc = incoming.recv() => {
                    let Some(inc) = inc else { return End::Lost("transport closed".into()) };
                    if inc.from_domain != root || inc.stanza.name() != "message" {
                        continue;
                    }
                    match events(&inc.stanza, subid.as_deref()) {
                        Err(reason) => return End::Lost(reason),
                        Ok(evs) => {
                            for ev in evs {
                                let Some(r) = ev.revision() else { continue };
                                if last.is_some_and(|l| r <= l) {
                                    continue;
                                }
                                // Bounded wait: the transport drops what overflows its
                                // inbound queue while we do not read. A consumer slower than
                                // that costs a resubscription from the last change it took.
                                match self.out.send_timeout(ev, CONSUMER_GRACE).await {
                                    Ok(()) => *last = Some(r),
                                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                                        return End::Lost("the consumer fell behind".into())
                                    }
                                    Err(mpsc::error::SendTimeoutError::Closed(_)) => return End::Stopped,
                                }
                            }
                        }
                    }
                }
                _ = tick.tick() => {
                    let ping = Element::new("ping", ns::PING);
                    if let Err(e) = self.request(IqType::Get, ping).await {
                        return End::Lost(format!("ping: {e}"));
                    }
                }
            }
        }
    }
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn unsubscribe(domain: &str, subid: String) -> Element {
    PubsubRequest::Unsubscribe(Unsubscribe {
        node: REGISTRY_NODE.to_owned(),
        jid: domain.to_owned(),
        subid: Some(subid),
    })
    .to_element()
}

/// The subid and start revision of a subscribe answer.
fn subscription(answer: &Element) -> Option<(Option<String>, u64)> {
    let pubsub = answer.children().next()?;
    let s = Subscription::try_from(pubsub).ok()?;
    let since = pubsub.child("watch", ns::REGISTRY)?.attr("since-revision")?.parse().ok()?;
    Some((s.subid, since))
}

/// The changes a notification carries, in revision order; `Err` when the root ended the
/// subscription or sent something unreadable.
fn events(stanza: &Element, ours: Option<&str>) -> Result<Vec<WatchEvent>, String> {
    let msg = Message::try_from(stanza).map_err(|e| format!("unreadable message: {e}"))?;
    let Some(event) = msg.payloads.iter().find(|p| p.is("event", ns::PUBSUB_EVENT)) else {
        return Ok(Vec::new());
    };
    if let Some(s) = event.child("subscription", ns::PUBSUB_EVENT) {
        // Another subscription of our domain (an earlier process's) ending is not ours.
        let mine = s.attr("subid").is_none() || s.attr("subid") == ours;
        if s.attr("subscription") == Some("none") && mine {
            return Err("the root ended the subscription".into());
        }
        return Ok(Vec::new());
    }
    let n = Notification::from_message(&msg).map_err(|e| format!("unreadable notification: {e}"))?;
    let mut out = Vec::new();
    for item in &n.event.items {
        let Some(p) = &item.payload else { continue };
        let record = match p.name() {
            "exchange" => WatchRecord::Exchange(ExchangeRecord::try_from(p).map_err(|e| e.to_string())?),
            "cloud" => WatchRecord::Cloud(CloudRecord::try_from(p).map_err(|e| e.to_string())?),
            other => return Err(format!("unknown item payload <{other}/>")),
        };
        let revision = match &record {
            WatchRecord::Exchange(x) => x.modified_revision,
            WatchRecord::Cloud(c) => c.modified_revision,
        };
        out.push(WatchEvent::Put { revision, record });
    }
    for id in &n.event.retracts {
        let (kind, key) = parse_item_id(id).ok_or_else(|| format!("bad retract id `{id}`"))?;
        let revision = n.revision.ok_or("a retraction without <revision/>")?;
        out.push(WatchEvent::Removed { revision, kind, key: key.to_owned() });
    }
    Ok(out)
}

/// `icroot watch`: print events until Ctrl-C (one JSON object per line with `--json`).
pub async fn run_cli(profile: Option<&Path>, json: bool, opts: WatchOptions) -> ExitCode {
    let Some(profile) = crate::profile::load_for_command(profile) else {
        return ExitCode::from(2);
    };
    let (tx, mut rx) = mpsc::channel::<WatchEvent>(1024);
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let status = ev.revision().is_none();
            match (json, status) {
                (true, _) => println!("{}", ev.to_json()),
                (false, true) => eprintln!("{}", ev.to_text()),
                (false, false) => println!("{}", ev.to_text()),
            }
        }
    });
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let r = watch(&profile, &opts, tx, stop).await;
    let _ = printer.await;
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!("{}", json!({"error": {"message": e.to_string(), "hint": watch_hint(&e)}}));
            }
            eprintln!("error: {e}");
            eprintln!("hint: {}", watch_hint(&e));
            ExitCode::FAILURE
        }
    }
}

fn watch_hint(e: &ClientError) -> &'static str {
    match e {
        ClientError::Refused { error: RegistryError::RevisionCompacted { .. }, .. } => {
            "that history is gone: `icroot search` for the current state, then watch with --since-revision <its revision>"
        }
        other => other.hint(),
    }
}
