//! The serving side: a received XEP-0362 payload becomes a call on the local `Raft`, and its
//! answer becomes the reply payload. Requests come in `<iq type='set'>` (our profile) or in the
//! XEP's `<message/>` form; [`raft_answer`] builds the reply in the same form.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::Raft;
use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::ns;
use proto::raft_types::{self as rt, ConvertError, RaftTypes};
use proto::stanza::raft::RaftPayload;
use proto::xml::Element;

/// Every conversion failure is `bad-request` with the reason as text (docs/protocol.md §3.8).
fn convert_err(e: ConvertError) -> StanzaError {
    StanzaError::new(Cond::BadRequest, e.to_string())
}

fn raft_err<E: std::fmt::Display>(e: RaftError<u64, E>) -> StanzaError {
    match e {
        RaftError::Fatal(f) => StanzaError::new(Cond::ServiceUnavailable, format!("raft stopped: {f}")),
        RaftError::APIError(api) => StanzaError::new(Cond::Conflict, api.to_string()),
    }
}

/// Answer one Raft request payload addressed to `raft` in `cluster`.
pub async fn serve_raft_payload(
    raft: &Raft<RaftTypes>,
    cluster: &str,
    payload: &Element,
) -> Result<Element, StanzaError> {
    let request = RaftPayload::from_element(payload).map_err(|e| e.to_stanza_error())?;
    match request {
        RaftPayload::RequestVote(rv) => {
            let req = rt::vote_request_from_stanza(&rv, cluster).map_err(convert_err)?;
            let resp = raft.vote(req).await.map_err(raft_err)?;
            Ok(rt::vote_response_to_stanza(&resp, cluster).to_element())
        }
        RaftPayload::Append(a) => {
            let req = rt::append_entries_request_from_stanza(&a, cluster).map_err(convert_err)?;
            let resp = raft.append_entries(req).await.map_err(raft_err)?;
            Ok(rt::append_entries_response_to_stanza(&resp, a.term, cluster).to_element())
        }
        RaftPayload::SnapshotChunk(c) => {
            let req = rt::install_snapshot_request_from_stanza(&c, cluster).map_err(convert_err)?;
            let resp = raft.install_snapshot(req).await.map_err(raft_err::<InstallSnapshotError>)?;
            Ok(rt::install_snapshot_response_to_stanza(&resp, cluster).to_element())
        }
        RaftPayload::Vote(_) | RaftPayload::AppendResponse(_) | RaftPayload::SnapshotResponse(_) => {
            Err(StanzaError::new(
                Cond::UnexpectedRequest,
                "a raft response is not a request; answers go in iq results",
            ))
        }
        _ => Err(StanzaError::new(Cond::FeatureNotImplemented, "unknown raft payload")),
    }
}

/// The reply to `request` (an iq set or a message carrying a raft payload) holding `answer`:
/// an iq result/error for an iq, a message (XEP-0362 form) for a message.
pub fn raft_answer(request: &Element, answer: Result<Element, StanzaError>) -> Element {
    let mut reply = Element::new(request.name(), request.ns());
    for (k, v) in [("id", request.attr("id")), ("to", request.attr("from")), ("from", request.attr("to"))] {
        if let Some(v) = v {
            reply.set_attr(k, v);
        }
    }
    match answer {
        Ok(payload) => {
            if request.name() == "iq" {
                reply.set_attr("type", "result");
            }
            reply.with_child(payload)
        }
        Err(e) => reply.with_attr("type", "error").with_child(e.to_element(ns::JABBER_SERVER)),
    }
}
