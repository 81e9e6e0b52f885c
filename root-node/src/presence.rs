//! Presence (RFC 6121, docs/protocol.md §6.4): Exchanges renew leases with available presence
//! carrying `<lease/>`; root nodes announce their Raft role to each other and to subscribed
//! domains; an Exchange going unavailable is relayed to the subscribers of every root node.
//! Presence is never answered with an error for what it carries; only an envelope that does
//! not parse gets `bad-request` (§4.4).
//!
//! ```text
//!  router ─presence─▶ handle ─┬─ available + <lease/> (Exchange) ─▶ registry renew-lease
//!                             │                                     (leader: write; follower: forward)
//!                             ├─ available + <raft-role/> (member) ─▶ peer table
//!                             ├─ subscribe / unsubscribe / probe ─▶ subscriber table, answers
//!                             └─ unavailable (Exchange) ─▶ subscribers + other members ─▶ their subscribers
//!  raft metrics ─(role/term/leader changed)─▶ announce ─▶ members + subscribers
//! ```
//!
//! Tables are in memory and bounded; subscriptions do not survive a restart (a subscriber
//! subscribes again when its stream comes back).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::ServerState;
use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::ns;
use proto::stanza::envelope::{Iq, IqType, Jid, Presence, PresenceType};
use proto::stanza::presence::{LeaseHeartbeat, RaftRole};
use proto::stanza::registry::MemberRole;
use proto::xml::Element;

use crate::service::NodeCtx;

/// Most domains one node keeps as presence subscribers; more are refused with `unsubscribed`.
pub const MAX_SUBSCRIBERS: usize = 10_000;
/// Most lease renewals from presence in flight at once (one per Exchange; extra heartbeats
/// from an Exchange whose renewal is still running are dropped).
const MAX_RENEWALS_IN_FLIGHT: usize = 1024;
/// Least time between two lease renewals by presence for one Exchange.
const MIN_RENEW_INTERVAL_MS: u64 = 1000;
/// How often members whose role is still unknown are probed again.
const PROBE_RETRY: Duration = Duration::from_secs(2);
/// Local name of the payload that names an Exchange gone unavailable (registry namespace).
pub const EXCHANGE_UNAVAILABLE: &str = "exchange-unavailable";

/// What this node remembers about presence.
#[derive(Debug, Default)]
pub(crate) struct PresenceState {
    /// Bare JIDs subscribed to this node's presence, at most [`MAX_SUBSCRIBERS`].
    subscribers: Mutex<BTreeSet<String>>,
    /// The last `<raft-role/>` each member announced, by node id (members only, so bounded
    /// by the membership).
    peers: Mutex<BTreeMap<u64, RaftRole>>,
    /// Exchanges whose presence renewal is running, at most [`MAX_RENEWALS_IN_FLIGHT`].
    renewing: Mutex<BTreeSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PresenceState {
    /// The roles other members announced.
    pub(crate) fn peer_roles(&self) -> BTreeMap<u64, RaftRole> {
        lock(&self.peers).clone()
    }

    /// The current subscribers.
    pub(crate) fn subscribers(&self) -> Vec<String> {
        lock(&self.subscribers).iter().cloned().collect()
    }
}

/// The member node id of `domain`, if it is a member of the cluster.
fn member_id(ctx: &NodeCtx, domain: &str) -> Option<u64> {
    let m = ctx.raft.metrics().borrow().membership_config.clone();
    let id = m.membership().nodes().find(|(_, n)| n.domain.eq_ignore_ascii_case(domain)).map(|(id, _)| *id);
    id
}

/// This node's role as announced in `<raft-role/>`.
pub(crate) fn own_role(ctx: &NodeCtx) -> RaftRole {
    let m = ctx.raft.metrics().borrow().clone();
    let role = match m.state {
        ServerState::Leader => MemberRole::Leader,
        ServerState::Candidate => MemberRole::Candidate,
        ServerState::Learner => MemberRole::Learner,
        _ => MemberRole::Follower,
    };
    RaftRole { role, term: m.current_term, node_id: m.id, leader: m.current_leader }
}

fn own_presence(ctx: &NodeCtx, to: &str) -> Element {
    Presence::new(PresenceType::Available, ctx.config.domain.clone(), to)
        .with_payload(own_role(ctx).to_element())
        .to_element()
}

fn send(ctx: &NodeCtx, stanza: Element) {
    if let Err(e) = ctx.xmpp.send(stanza) {
        tracing::debug!(error = %e, "presence not sent");
    }
}

fn reply(ctx: &NodeCtx, kind: PresenceType, to: &str) {
    send(ctx, Presence::new(kind, ctx.config.domain.clone(), to).to_element());
}

/// Handle one `<presence/>` from the authenticated domain `from_domain`.
pub(crate) async fn handle(ctx: &NodeCtx, from_domain: &str, stanza: &Element) {
    let p = match Presence::try_from(stanza) {
        Ok(p) => p,
        Err(e) => return bounce(ctx, stanza, &e.to_string()),
    };
    let (Ok(from), Ok(to)) = (Jid::parse(&p.from), Jid::parse(&p.to)) else {
        tracing::debug!(from = %p.from, to = %p.to, "presence with a malformed address ignored");
        return;
    };
    // Only presence addressed to this node's bare domain is ours to act on.
    if !(to.is_domain() && to.in_domain(&ctx.config.domain)) {
        tracing::debug!(to = %p.to, "presence for another address ignored");
        return;
    }
    let bare = Jid { resource: None, ..from.clone() }.to_string().to_ascii_lowercase();
    let member = member_id(ctx, from_domain);
    match (p.kind, member) {
        (PresenceType::Available, Some(id)) => record_role(ctx, id, &p),
        (PresenceType::Available, None) if from.is_domain() => {
            renew_from_presence(ctx, from_domain, &p).await
        }
        (PresenceType::Unavailable, Some(_)) => relay_from_member(ctx, &p),
        (PresenceType::Unavailable, None) if from.is_domain() => exchange_unavailable(ctx, from_domain),
        (PresenceType::Subscribe, _) => subscribe(ctx, &bare, member.is_some()),
        (PresenceType::Unsubscribe, _) => {
            lock(&ctx.presence.subscribers).remove(&bare);
            reply(ctx, PresenceType::Unsubscribed, &bare);
        }
        (PresenceType::Probe, _) => send(ctx, own_presence(ctx, &bare)),
        // Approvals of subscriptions we never ask for, errors, and a user's own presence.
        _ => tracing::debug!(from = %p.from, kind = ?p.kind, "presence ignored"),
    }
}

/// RFC 6120 §8.3 / protocol §4.4: an envelope that does not parse gets `bad-request`, unless
/// it is itself an error.
fn bounce(ctx: &NodeCtx, stanza: &Element, why: &str) {
    if stanza.attr("type") == Some("error") {
        return;
    }
    let (Some(from), Some(to)) = (stanza.attr("from"), stanza.attr("to")) else { return };
    let mut p = Presence::new(PresenceType::Error, to, from);
    p.id = stanza.attr("id").map(str::to_owned);
    p.error = Some(StanzaError::new(Cond::BadRequest, why));
    send(ctx, p.to_element());
}

fn record_role(ctx: &NodeCtx, member: u64, p: &Presence) {
    for payload in p.payloads.iter().filter(|e| e.is("raft-role", ns::REGISTRY)) {
        match RaftRole::try_from(payload) {
            // A member speaks for itself only.
            Ok(role) if role.node_id == member => {
                tracing::debug!(member, role = role.role.as_str(), term = role.term, "peer role");
                lock(&ctx.presence.peers).insert(member, role);
            }
            Ok(role) => tracing::debug!(member, claimed = role.node_id, "raft-role for another node ignored"),
            Err(e) => tracing::debug!(member, error = %e, "bad raft-role ignored"),
        }
    }
}

/// An Exchange's `<lease/>` heartbeat: the same write as `<renew-lease/>`, through the
/// registry path (the leader writes, a follower forwards), with the answer dropped.
async fn renew_from_presence(ctx: &NodeCtx, exchange: &str, p: &Presence) {
    if !p.payloads.iter().any(|e| LeaseHeartbeat::try_from(e).is_ok()) {
        return;
    }
    // Each renewal is a Raft entry: only for a registered Exchange (in this node's view), and
    // at most once per MIN_RENEW_INTERVAL_MS however fast it heartbeats.
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    match ctx.sm.exchange(exchange) {
        Ok(Some(x)) => {
            let fresh_end = now_ms.saturating_add(u64::from(x.lease_ttl_secs) * 1000);
            if x.lease_expires_ms.saturating_add(MIN_RENEW_INTERVAL_MS) > fresh_end {
                return tracing::debug!(exchange, "lease heartbeat dropped: renewed less than 1 s ago");
            }
        }
        Ok(None) => return tracing::debug!(exchange, "lease heartbeat from an unregistered domain ignored"),
        Err(e) => return tracing::warn!(exchange, error = %e, "cannot read the registry"),
    }
    {
        let mut renewing = lock(&ctx.presence.renewing);
        if renewing.len() >= MAX_RENEWALS_IN_FLIGHT || !renewing.insert(exchange.to_owned()) {
            tracing::debug!(exchange, "lease heartbeat dropped: a renewal is already running");
            return;
        }
    }
    let iq = Iq::request(
        IqType::Set,
        format!("lease-{exchange}"),
        exchange,
        ctx.config.domain.clone(),
        Element::new("renew-lease", ns::REGISTRY),
    );
    match crate::registry::handle(ctx, exchange, &iq, false).await {
        Ok(_) => tracing::debug!(exchange, "lease renewed by presence"),
        Err(e) => tracing::debug!(exchange, error = %e, "lease renewal by presence refused"),
    }
    lock(&ctx.presence.renewing).remove(exchange);
}

fn subscribe(ctx: &NodeCtx, bare: &str, is_member: bool) {
    if !is_member {
        let mut subs = lock(&ctx.presence.subscribers);
        if subs.len() >= MAX_SUBSCRIBERS && !subs.contains(bare) {
            drop(subs);
            tracing::warn!(subscriber = bare, max = MAX_SUBSCRIBERS, "presence subscriber table full");
            return reply(ctx, PresenceType::Unsubscribed, bare);
        }
        subs.insert(bare.to_owned());
    }
    // Members get role presence on every change anyway; approving costs nothing.
    reply(ctx, PresenceType::Subscribed, bare);
    send(ctx, own_presence(ctx, bare));
}

/// The relayed form of "Exchange `exchange` went unavailable", from this node to `to`.
///
/// From `root/<exchange>`, not the bare root: unavailable presence from the bare root domain
/// would tell a standard XMPP server that the root itself went offline.
fn unavailable_notice(ctx: &NodeCtx, exchange: &str, to: &str) -> Element {
    Presence::new(PresenceType::Unavailable, format!("{}/{exchange}", ctx.config.domain), to)
        .with_payload(Element::new(EXCHANGE_UNAVAILABLE, ns::REGISTRY).with_attr("domain", exchange))
        .to_element()
}

fn notify_subscribers(ctx: &NodeCtx, exchange: &str) {
    for sub in ctx.presence.subscribers() {
        if !sub.eq_ignore_ascii_case(exchange) {
            send(ctx, unavailable_notice(ctx, exchange, &sub));
        }
    }
}

/// The other members: (node id, domain).
fn other_members(ctx: &NodeCtx) -> Vec<(u64, String)> {
    let m = ctx.raft.metrics().borrow().membership_config.clone();
    let others = m
        .membership()
        .nodes()
        .filter(|(id, _)| **id != ctx.config.node_id)
        .map(|(id, n)| (*id, n.domain.clone()))
        .collect();
    others
}

/// A registered Exchange said it is going offline: tell our subscribers and the other members
/// (who tell theirs). The record stays; only its lease ends it.
fn exchange_unavailable(ctx: &NodeCtx, exchange: &str) {
    match ctx.sm.exchange(exchange) {
        Ok(Some(_)) => {}
        Ok(None) => return tracing::debug!(exchange, "unavailable from an unregistered domain ignored"),
        Err(e) => return tracing::warn!(exchange, error = %e, "cannot read the registry"),
    }
    tracing::debug!(exchange, "exchange unavailable; relaying");
    notify_subscribers(ctx, exchange);
    for (_, member) in other_members(ctx) {
        send(ctx, unavailable_notice(ctx, exchange, &member));
    }
}

/// Another member relays an Exchange's unavailability: pass it to our own subscribers only.
fn relay_from_member(ctx: &NodeCtx, p: &Presence) {
    for payload in p.payloads.iter().filter(|e| e.is(EXCHANGE_UNAVAILABLE, ns::REGISTRY)) {
        match payload.attr("domain").map(Jid::parse) {
            Some(Ok(j)) if j.is_domain() => notify_subscribers(ctx, &j.domain.to_ascii_lowercase()),
            _ => tracing::debug!("bad exchange-unavailable ignored"),
        }
    }
}

/// Announce this node's role to the other members and to subscribers whenever its role, term
/// or known leader changes, and to every member when the membership changes. A node may hear
/// a member's announcement before it knows that member is one (and ignore it), so members
/// whose role is unknown are probed (RFC 6121 `type='probe'`; the answer is their presence),
/// again every [`PROBE_RETRY`] while any stays unknown. Runs until Raft shuts down.
pub(crate) async fn announce(ctx: Arc<NodeCtx>) {
    let mut metrics = ctx.raft.metrics();
    let mut last: Option<(RaftRole, Option<openraft::LogId<u64>>)> = None;
    loop {
        let membership = *metrics.borrow_and_update().membership_config.log_id();
        let now = (own_role(&ctx), membership);
        if last != Some(now) {
            let role = now.0;
            tracing::debug!(role = role.role.as_str(), term = role.term, "announcing role");
            for to in other_members(&ctx).into_iter().map(|(_, d)| d).chain(ctx.presence.subscribers()) {
                send(&ctx, own_presence(&ctx, &to));
            }
            last = Some(now);
        }
        let members = other_members(&ctx);
        let unknown: Vec<String> = {
            let mut peers = lock(&ctx.presence.peers);
            peers.retain(|id, _| members.iter().any(|(m, _)| m == id));
            members.into_iter().filter(|(id, _)| !peers.contains_key(id)).map(|(_, d)| d).collect()
        };
        for member in &unknown {
            reply(&ctx, PresenceType::Probe, member);
        }
        let retry = async {
            if unknown.is_empty() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(PROBE_RETRY).await;
        };
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            () = retry => {}
        }
    }
}
