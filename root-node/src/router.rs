//! Incoming stanzas to their handlers: Raft payloads to openraft, registry requests to
//! [`crate::registry`], XEP-0199 ping, XEP-0030 disco ([`crate::disco`]), presence
//! ([`crate::presence`]); any other request gets `service-unavailable` (RFC 6120 §8.4).
//!
//! ```text
//!  Incoming ─▶ bounce (iq without a valid type, unparsable message ─▶ bad-request)
//!           ─┬─ raft payload (iq or message) ─▶ serve_raft_payload ─▶ raft_answer
//!            ├─ presence ─▶ presence::handle (never answered but for a bad envelope)
//!            └─ iq get/set ─┬─ registry ns / forwarded ─▶ registry::handle ─▶ result | error
//!                           ├─ root-internal read-index ─▶ ready::answer_read_index
//!                           ├─ pubsub ─▶ pubsub::handle (subscribe / unsubscribe)
//!                           ├─ ping ─▶ empty result
//!                           └─ disco#info / #items ─▶ disco::answer
//! ```

use std::sync::Arc;

use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::ns;
use proto::stanza::envelope::{Iq, IqType};
use proto::stanza::raft::RaftPayload;
use proto::xml::Element;
use raft_xmpp_transport::raft::{raft_answer, serve_raft_payload};
use raft_xmpp_transport::Incoming;
use tokio::sync::{mpsc, Semaphore};

use crate::service::NodeCtx;

/// Stanzas handled at once; more wait in the transport's bounded inbound queue.
const MAX_CONCURRENT_HANDLERS: usize = 1024;

/// Handle stanzas until the transport closes the channel.
pub(crate) async fn run(ctx: Arc<NodeCtx>, mut incoming: mpsc::Receiver<Incoming>) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDLERS));
    while let Some(inc) = incoming.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            handle(&ctx, inc).await;
            drop(permit);
        });
    }
}

async fn handle(ctx: &NodeCtx, inc: Incoming) {
    let stanza = inc.stanza;
    if let Some(refusal) = crate::bounce::refusal(&stanza) {
        send(ctx, inc.link, refusal);
        return;
    }
    if let Some(payload) = stanza.children().find(|c| RaftPayload::is_raft_payload(c)) {
        let answer = serve_raft_payload(&ctx.raft, &ctx.config.cluster_name, payload).await;
        send(ctx, inc.link, raft_answer(&stanza, answer));
        return;
    }
    if stanza.name() == "presence" {
        return crate::presence::handle(ctx, &inc.from_domain, &stanza).await;
    }
    if stanza.name() != "iq" || !matches!(stanza.attr("type"), Some("get" | "set")) {
        // Results and errors are matched by the transport; messages have no handler yet and
        // are dropped (RFC 6120 allows silently ignoring them).
        tracing::debug!(from = %inc.from_domain, name = stanza.name(), "stanza ignored");
        return;
    }
    let iq = match Iq::try_from(&stanza) {
        Ok(iq) => iq,
        Err(e) => {
            send(ctx, inc.link, raw_error(&stanza, StanzaError::new(Cond::BadRequest, e.to_string())));
            return;
        }
    };
    let answer = answer_iq(ctx, &inc.from_domain, &iq).await;
    let reply = match answer {
        Ok(payload) => Iq::result_for(&iq, payload),
        Err(e) => Iq::error_for(&iq, e),
    };
    send(ctx, inc.link, reply.to_element());
}

async fn answer_iq(ctx: &NodeCtx, from_domain: &str, iq: &Iq) -> Result<Option<Element>, StanzaError> {
    let Some(payload) = iq.payload.as_ref() else {
        return Err(StanzaError::new(Cond::BadRequest, "request without payload"));
    };
    match (payload.ns(), iq.kind) {
        (ns::REGISTRY, _) => crate::registry::handle(ctx, from_domain, iq, false).await,
        (crate::registry::FORWARD_NS, IqType::Get) if payload.name() == crate::ready::READ_INDEX => {
            crate::ready::answer_read_index(ctx, from_domain).await
        }
        (crate::registry::FORWARD_NS, _) => crate::registry::handle_forwarded(ctx, from_domain, iq).await,
        (crate::snapshot_wire::NS, _) => crate::snapshot_export::handle(ctx, from_domain, iq).await,
        (ns::PUBSUB, _) => crate::pubsub::handle(ctx, from_domain, iq).await,
        (ns::PING, IqType::Get) if payload.name() == "ping" => Ok(None),
        (ns::DISCO_INFO | ns::DISCO_ITEMS, IqType::Get) if payload.name() == "query" => {
            crate::disco::answer(ctx, payload).map(Some).map_err(|e| *e)
        }
        _ => Err(StanzaError::new(
            Cond::ServiceUnavailable,
            format!("no service for <{}/> in {}", payload.name(), payload.ns()),
        )),
    }
}

/// An error reply to a stanza we could not parse as an iq.
fn raw_error(stanza: &Element, e: StanzaError) -> Element {
    let mut reply = Element::new("iq", ns::JABBER_SERVER).with_attr("type", "error");
    for (k, v) in [("id", stanza.attr("id")), ("to", stanza.attr("from")), ("from", stanza.attr("to"))] {
        if let Some(v) = v {
            reply.set_attr(k, v);
        }
    }
    reply.with_child(e.to_element(ns::JABBER_SERVER))
}

/// Answer over the stream the request came in on (see `XmppNode::reply`).
fn send(ctx: &NodeCtx, link: raft_xmpp_transport::LinkId, stanza: Element) {
    if let Err(e) = ctx.xmpp.reply(link, stanza) {
        tracing::debug!(error = %e, "reply not sent");
    }
}
