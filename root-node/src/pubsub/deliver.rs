//! The publisher: wakes when this node applies log entries (openraft's metrics channel) or a
//! subscription arrives, reads the node's own change feed from each subscriber's cursor, and
//! sends headline notifications (docs/protocol.md §6.3).
//!
//! ```text
//!  metrics.changed() | wake ─▶ for each sub behind the head: changes_since(cursor, 256)
//!      ─▶ prefix filter ─▶ chunks (items…, at most one retract last) ─▶ xmpp.send ─▶ cursor += …
//! ```
//!
//! A notification holds consecutive changes in revision order: up to 256 `<item/>`s, and a
//! removal always ends a notification, so every entry's revision is known to the watcher: an
//! item's is its record's `modified-revision`, the retract's the message's `<revision/>`.
//!
//! Slow subscribers: the transport's per-peer queue is bounded; when it refuses a notification
//! the cursor stays put and the subscriber is retried after [`RETRY_FULL`]. One refused for
//! longer than [`MAX_STALL`], one whose domain is unreachable, and one whose cursor falls out
//! of the kept history are dropped, with a best-effort `<subscription subscription='none'/>`
//! event so a watcher that still listens resubscribes with `since-revision`.

use std::time::{Duration, Instant};

use proto::ns;
use proto::stanza::envelope::{Message, MessageType};
use proto::stanza::pubsub::{item_id, Event, EventItem, Notification, MAX_EVENT_ENTRIES, REGISTRY_NODE};
use proto::stanza::registry::{CloudRecord, ExchangeRecord, RecordKind};
use proto::xml::Element;
use raft_xmpp_transport::SendError;
use store::{ChangeKind, ChangeRecord, StoreError};

use super::Sub;
use crate::service::NodeCtx;

/// Pause before retrying a subscriber whose queue was full.
const RETRY_FULL: Duration = Duration::from_millis(100);
/// A subscriber refused this long is dropped.
const MAX_STALL: Duration = Duration::from_secs(60);
/// Notifications sent to one subscriber per round before the others get their turn.
const MAX_MESSAGES_PER_ROUND: usize = 64;

/// Publish until Raft stops.
pub(crate) async fn run(ctx: std::sync::Arc<NodeCtx>) {
    let mut metrics = ctx.raft.metrics();
    loop {
        let retry = deliver_round(&ctx);
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { break },
            () = ctx.pubsub.wake.notified() => {}
            () = sleep_until(retry) => {}
        }
    }
    tracing::debug!("pubsub deliverer stopped");
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// What one subscriber's turn ended with.
enum Outcome {
    /// Cursor moved (or not); `again` when more is waiting.
    Progress { cursor: u64, again: bool, stalled: bool },
    /// Drop the subscription.
    Drop(String),
}

/// Serve every subscriber behind the feed's head once; returns when to run again without a
/// wake-up (a subscriber's queue was full or it has more waiting).
fn deliver_round(ctx: &NodeCtx) -> Option<Instant> {
    let head = ctx.sm.revision();
    metrics::gauge!("icroot_pubsub_subscriptions").set(ctx.pubsub.len() as f64);
    let behind: Vec<((String, String), Sub)> = {
        let t = ctx.pubsub.lock();
        t.subs.iter().filter(|(_, s)| s.cursor < head).map(|(k, s)| (k.clone(), s.clone())).collect()
    };
    let mut next: Option<Instant> = None;
    let now = Instant::now();
    for ((domain, subid), sub) in behind {
        let outcome = serve(ctx, &domain, &sub);
        let mut t = ctx.pubsub.lock();
        let key = (domain.clone(), subid.clone());
        match outcome {
            Outcome::Drop(why) => {
                t.subs.remove(&key);
                drop(t);
                tracing::info!(domain, subid, why, "subscription dropped");
                ended(ctx, &domain, &subid);
            }
            Outcome::Progress { cursor, again, stalled } => {
                let Some(s) = t.subs.get_mut(&key) else { continue };
                s.cursor = s.cursor.max(cursor);
                if !stalled {
                    s.stalled_since = None;
                } else if s.stalled_since.get_or_insert(now).elapsed() > MAX_STALL {
                    t.subs.remove(&key);
                    drop(t);
                    tracing::info!(domain, subid, "subscription dropped: its queue stayed full");
                    ended(ctx, &domain, &subid);
                    continue;
                }
                if again || stalled {
                    let at = now + if stalled { RETRY_FULL } else { Duration::ZERO };
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
    }
    next
}

/// Send `sub` what follows its cursor, up to [`MAX_MESSAGES_PER_ROUND`] notifications.
fn serve(ctx: &NodeCtx, domain: &str, sub: &Sub) -> Outcome {
    let mut cursor = sub.cursor;
    let mut sent = 0;
    loop {
        let page = match ctx.sm.changes_since(cursor, MAX_EVENT_ENTRIES) {
            Ok(p) => p,
            Err(StoreError::Compacted { oldest }) => {
                return Outcome::Drop(format!("it fell behind the kept history (oldest {oldest})"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "change feed read failed");
                return Outcome::Progress { cursor, again: false, stalled: true };
            }
        };
        let Some(last) = page.changes.last().map(|c| c.revision) else {
            return Outcome::Progress { cursor, again: false, stalled: false };
        };
        let wanted: Vec<&ChangeRecord> =
            page.changes.iter().filter(|c| matches_prefix(c, sub.prefix.as_deref())).collect();
        for chunk in chunks(&wanted) {
            let Some(rev) = chunk.last().map(|c| c.revision) else { continue };
            let msg = notification(&chunk).to_message(ctx.config.domain.clone(), domain.to_owned());
            match ctx.xmpp.send(msg.to_element()) {
                Ok(()) => {
                    cursor = rev;
                    sent += 1;
                }
                Err(SendError::QueueFull(_)) => {
                    return Outcome::Progress { cursor, again: false, stalled: true }
                }
                Err(e) => return Outcome::Drop(e.to_string()),
            }
        }
        cursor = last;
        if sent >= MAX_MESSAGES_PER_ROUND {
            return Outcome::Progress { cursor, again: true, stalled: false };
        }
    }
}

fn key_of(c: &ChangeRecord) -> Option<(RecordKind, &str)> {
    match (&c.exchange, &c.cloud) {
        (Some(x), _) => Some((RecordKind::Exchange, x.domain.as_str())),
        (None, Some(cl)) => Some((RecordKind::Cloud, cl.id.as_str())),
        (None, None) => None,
    }
}

fn matches_prefix(c: &ChangeRecord, prefix: Option<&str>) -> bool {
    match key_of(c) {
        Some((_, key)) => prefix.is_none_or(|p| key.starts_with(p)),
        None => false,
    }
}

/// Split changes into notifications: at most [`MAX_EVENT_ENTRIES`] each, a removal last.
fn chunks<'a>(changes: &[&'a ChangeRecord]) -> Vec<Vec<&'a ChangeRecord>> {
    let mut out: Vec<Vec<&ChangeRecord>> = Vec::new();
    let mut cur: Vec<&ChangeRecord> = Vec::new();
    for c in changes {
        cur.push(c);
        if c.change_kind() == ChangeKind::Delete || cur.len() >= MAX_EVENT_ENTRIES {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The record as published: the stored record's wire form.
fn record_element(c: &ChangeRecord) -> Option<Element> {
    if let Some(x) = &c.exchange {
        return ExchangeRecord::try_from(x.clone()).ok().map(|r| r.to_element());
    }
    let cl = c.cloud.as_ref()?;
    CloudRecord::try_from(cl.clone()).ok().map(|r| r.to_element())
}

fn notification(chunk: &[&ChangeRecord]) -> Notification {
    let mut event = Event::registry();
    for c in chunk {
        let Some((kind, key)) = key_of(c) else { continue };
        let id = item_id(kind, key);
        if c.change_kind() == ChangeKind::Delete {
            event.retracts.push(id);
        } else {
            event.items.push(EventItem { id, payload: record_element(c) });
        }
    }
    Notification { event, revision: chunk.last().map(|c| c.revision) }
}

/// Tell a subscriber its subscription ended (XEP-0060 subscription state notification).
pub(super) fn ended(ctx: &NodeCtx, domain: &str, subid: &str) {
    let sub = Element::new("subscription", ns::PUBSUB_EVENT)
        .with_attr("node", REGISTRY_NODE)
        .with_attr("jid", domain)
        .with_attr("subid", subid)
        .with_attr("subscription", "none");
    let event = Element::new("event", ns::PUBSUB_EVENT).with_child(sub);
    let msg = Message::new(MessageType::Headline, ctx.config.domain.clone(), domain.to_owned(), vec![event]);
    if let Err(e) = ctx.xmpp.send(msg.to_element()) {
        tracing::debug!(error = %e, domain, "subscription end not sent");
    }
}

#[cfg(test)]
mod tests {
    use proto::record::{StoredCloud, StoredExchange};

    use super::*;

    fn change(revision: u64, kind: ChangeKind, key: &str) -> ChangeRecord {
        let exchange = Some(StoredExchange { domain: key.into(), ..Default::default() });
        let cloud = None::<StoredCloud>;
        ChangeRecord { revision, kind: kind as i32, exchange, cloud }
    }

    #[test]
    fn a_removal_ends_a_notification_and_pages_split_at_the_entry_bound() {
        use ChangeKind::{Delete, Put};
        let cs = [
            change(1, Put, "a"),
            change(2, Put, "b"),
            change(3, Delete, "a"),
            change(4, Delete, "b"),
            change(5, Put, "a"),
        ];
        let refs: Vec<&ChangeRecord> = cs.iter().collect();
        let revs: Vec<Vec<u64>> =
            chunks(&refs).iter().map(|c| c.iter().map(|c| c.revision).collect()).collect();
        assert_eq!(revs, vec![vec![1, 2, 3], vec![4], vec![5]]);
        let n = notification(&chunks(&refs)[0]);
        assert_eq!(n.revision, Some(3), "the message revision is the retraction's");
        assert_eq!(n.event.retracts, vec!["exchange:a".to_owned()]);
        assert_eq!(n.event.items.len(), 2);

        let many: Vec<ChangeRecord> = (1..=600).map(|r| change(r, Put, "k")).collect();
        let refs: Vec<&ChangeRecord> = many.iter().collect();
        let sizes: Vec<usize> = chunks(&refs).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![MAX_EVENT_ENTRIES, MAX_EVENT_ENTRIES, 600 - 2 * MAX_EVENT_ENTRIES]);
    }

    #[test]
    fn prefix_matches_keys_not_item_ids() {
        let c = change(1, ChangeKind::Put, "ex-a.example");
        assert!(matches_prefix(&c, None));
        assert!(matches_prefix(&c, Some("ex-")));
        assert!(!matches_prefix(&c, Some("exchange:")));
    }
}
