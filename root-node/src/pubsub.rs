//! XEP-0060 watching of the registry (docs/protocol.md §6.3): the subscription table of this
//! node, the subscribe/unsubscribe handlers the router calls, and (in [`deliver`]) the task that
//! publishes this node's own applied change feed to the subscribers.
//!
//! ```text
//!  iq <pubsub><subscribe/> ─▶ router ─▶ handle ─▶ Subscriptions{(domain, subid) → cursor, prefix}
//!                                                        │ wake
//!  raft apply ─▶ RocksDB change feed ─▶ metrics(last_applied) ─▶ deliver::run ─▶ headline messages
//! ```
//!
//! Every node applies every entry, so any node can serve watchers; a watcher that loses its node
//! subscribes on another with `since-revision` and misses nothing.
//!
//! Bounds: at most [`MAX_SUBSCRIPTIONS`] subscriptions per node and [`MAX_PER_DOMAIN`] per
//! domain. Nothing is queued per subscriber here: each holds a cursor (the last revision sent)
//! and the deliverer reads the feed from it, so a slow subscriber costs one table entry plus what
//! the transport's bounded per-peer queue holds (see [`deliver`] for when one is dropped).

mod deliver;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::ns;
use proto::stanza::envelope::{Iq, IqType};
use proto::stanza::pubsub::{
    PubsubRequest, Subscribe, Subscription, SubscriptionState, Unsubscribe, REGISTRY_NODE,
};
use proto::stanza::registry::RegistryError;
use proto::xml::Element;
use tokio::sync::Notify;

use crate::service::NodeCtx;

pub(crate) use deliver::run;

/// Subscriptions one node keeps, over all domains.
pub const MAX_SUBSCRIPTIONS: usize = 1024;
/// Subscriptions one domain may hold on one node; a further one replaces the domain's oldest
/// (a watcher that crashed cannot end its subscription, and S2S routes by domain, so the
/// domain's newest subscriptions are the ones someone listens to).
pub const MAX_PER_DOMAIN: usize = 8;

/// One subscriber: where it is in the feed and what it wants.
#[derive(Debug, Clone)]
struct Sub {
    /// Order of creation (the oldest is replaced first).
    seq: u64,
    prefix: Option<String>,
    /// The last revision delivered (or skipped by the prefix filter).
    cursor: u64,
    /// Since when the transport has refused our notifications (queue full), if it does.
    stalled_since: Option<Instant>,
}

#[derive(Debug, Default)]
struct Table {
    /// (domain, subid) → subscriber.
    subs: BTreeMap<(String, String), Sub>,
    next_id: u64,
}

/// This node's subscription table and the deliverer's wake-up.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    table: Mutex<Table>,
    wake: Notify,
}

impl Subscriptions {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscriptions held now.
    pub(crate) fn len(&self) -> usize {
        self.lock().subs.len()
    }
}

type Answer = Result<Option<Element>, StanzaError>;
/// What the handlers below return (boxed: a stanza error is large and rare).
type Handled = Result<Option<Element>, Box<StanzaError>>;

fn pubsub_error(cond: Cond, app: &str, text: impl Into<String>) -> Box<StanzaError> {
    Box::new(StanzaError::new(cond, text).with_app(Element::new(app, ns::PUBSUB_ERRORS)))
}

/// Answer a `<pubsub/>` iq from the authenticated domain `from_domain`.
pub(crate) async fn handle(ctx: &NodeCtx, from_domain: &str, iq: &Iq) -> Answer {
    let Some(payload) = iq.payload.as_ref() else {
        return Err(StanzaError::new(Cond::BadRequest, "request without payload"));
    };
    if iq.kind != IqType::Set {
        return Err(StanzaError::new(
            Cond::FeatureNotImplemented,
            "only subscribe and unsubscribe (iq set) are served on the registry node",
        ));
    }
    let req =
        PubsubRequest::try_from(payload).map_err(|e| StanzaError::new(Cond::BadRequest, e.to_string()))?;
    match req {
        PubsubRequest::Subscribe(s) => subscribe(ctx, from_domain, s).map_err(|e| *e),
        PubsubRequest::Unsubscribe(u) => unsubscribe(ctx, from_domain, &u).map_err(|e| *e),
        _ => Err(StanzaError::new(Cond::BadRequest, "unsupported pubsub request")),
    }
}

/// The checks both requests share: the node exists and the jid is the sender's domain.
fn check_target(node: &str, jid: &str, from_domain: &str) -> Result<(), Box<StanzaError>> {
    if node != REGISTRY_NODE {
        return Err(Box::new(StanzaError::new(
            Cond::ItemNotFound,
            format!("no pubsub node `{node}` here; the registry is `{REGISTRY_NODE}`"),
        )));
    }
    if proto::stanza::envelope::Jid::parse(jid).is_err() {
        // docs/protocol.md §4.4: a malformed JID where a handler needs one.
        return Err(Box::new(StanzaError::new(Cond::JidMalformed, format!("`{jid}` is not a JID"))));
    }
    if !jid.eq_ignore_ascii_case(from_domain) {
        return Err(pubsub_error(
            Cond::BadRequest,
            "invalid-jid",
            format!("jid `{jid}` is not the sending domain `{from_domain}`"),
        ));
    }
    Ok(())
}

fn subscribe(ctx: &NodeCtx, from_domain: &str, s: Subscribe) -> Handled {
    check_target(&s.node, &s.jid, from_domain)?;
    let cursor = match s.since_revision {
        Some(since) => {
            // Checks the history is still kept; reads nothing (limit 0).
            match ctx.sm.changes_since(since, 0) {
                Ok(_) => since,
                Err(store::StoreError::Compacted { oldest }) => {
                    let oldest = oldest.saturating_sub(1);
                    return Err(Box::new(RegistryError::RevisionCompacted { oldest }.to_stanza_error()));
                }
                Err(e) => return Err(Box::new(StanzaError::new(Cond::InternalServerError, e.to_string()))),
            }
        }
        None => ctx.sm.revision(),
    };
    let mut replaced = None;
    let subid = {
        let mut t = ctx.pubsub.lock();
        if t.subs.len() >= MAX_SUBSCRIPTIONS {
            return Err(pubsub_error(
                Cond::PolicyViolation,
                "too-many-subscriptions",
                format!("this root serves at most {MAX_SUBSCRIPTIONS} subscriptions; try another root node"),
            ));
        }
        let mine = t.subs.iter().filter(|((d, _), _)| d == from_domain);
        if mine.clone().count() >= MAX_PER_DOMAIN {
            if let Some(oldest) = mine.min_by_key(|(_, s)| s.seq).map(|(k, _)| k.clone()) {
                t.subs.remove(&oldest);
                replaced = Some(oldest.1);
            }
        }
        t.next_id += 1;
        let seq = t.next_id;
        let subid = format!("s-{seq}");
        let sub = Sub { seq, prefix: s.prefix.clone(), cursor, stalled_since: None };
        t.subs.insert((from_domain.to_owned(), subid.clone()), sub);
        subid
    };
    if let Some(old) = replaced {
        tracing::info!(domain = from_domain, subid = old, "subscription replaced by a newer one");
        deliver::ended(ctx, from_domain, &old);
    }
    tracing::debug!(domain = from_domain, subid, cursor, prefix = ?s.prefix, "subscribed");
    ctx.pubsub.wake.notify_one();
    let answer = Subscription {
        node: REGISTRY_NODE.to_owned(),
        jid: from_domain.to_owned(),
        subid: Some(subid),
        state: SubscriptionState::Subscribed,
    };
    // icroot addition: the revision the subscription starts after, so that a plain subscriber
    // can resume without having seen a notification.
    let mut el = answer.to_element();
    el.append_child(Element::new("watch", ns::REGISTRY).with_attr("since-revision", cursor.to_string()));
    Ok(Some(el))
}

fn unsubscribe(ctx: &NodeCtx, from_domain: &str, u: &Unsubscribe) -> Handled {
    check_target(&u.node, &u.jid, from_domain)?;
    let mut t = ctx.pubsub.lock();
    let subid = match &u.subid {
        Some(id) => {
            if !t.subs.contains_key(&(from_domain.to_owned(), id.clone())) {
                return Err(pubsub_error(
                    Cond::NotAcceptable,
                    "invalid-subid",
                    format!("`{from_domain}` has no subscription `{id}` here"),
                ));
            }
            id.clone()
        }
        None => {
            let mine: Vec<&String> =
                t.subs.keys().filter(|(d, _)| d == from_domain).map(|(_, s)| s).collect();
            match mine.as_slice() {
                [] => {
                    return Err(pubsub_error(
                        Cond::UnexpectedRequest,
                        "not-subscribed",
                        format!("`{from_domain}` is not subscribed here"),
                    ))
                }
                [one] => (*one).clone(),
                _ => {
                    return Err(pubsub_error(
                        Cond::BadRequest,
                        "subid-required",
                        format!("`{from_domain}` holds several subscriptions; name one with subid"),
                    ))
                }
            }
        }
    };
    t.subs.remove(&(from_domain.to_owned(), subid.clone()));
    tracing::debug!(domain = from_domain, subid, "unsubscribed");
    Ok(None)
}
