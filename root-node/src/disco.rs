//! XEP-0030 service discovery (docs/protocol.md §6.2): what the root is (disco#info) and what
//! it holds (disco#items), read from the local state machine (a follower's view may lag the
//! leader's by a heartbeat; use `<search/>` for a linearizable listing).
//!
//! ```text
//!  disco#info  (no node)      ─▶ identities server/im + pubsub/service, features
//!  disco#items (no node)      ─▶ registry (pubsub node), exchanges, clouds
//!              node=exchanges ─▶ first MAX_ITEMS Exchange domains  (store::exchange_domains)
//!              node=clouds    ─▶ first MAX_ITEMS Clouds            (store::cloud_owners)
//! ```

use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::ns;
use proto::stanza::disco::{DiscoItem, Identity, InfoResult, ItemsResult};
use proto::xml::Element;

use crate::service::NodeCtx;

/// Most items one disco#items answer lists (the first ones in key order; the protocol's
/// parsers accept 1024).
pub const MAX_ITEMS: usize = 1000;
/// The pubsub node carrying registry changes (XEP-0060, protocol §6.3).
pub const NODE_REGISTRY: &str = "registry";
/// The node listing registered Exchanges.
pub const NODE_EXCHANGES: &str = "exchanges";
/// The node listing registered Clouds.
pub const NODE_CLOUDS: &str = "clouds";

/// Boxed: a stanza error is large and these results are otherwise small.
type DiscoResult<T> = Result<T, Box<StanzaError>>;

fn not_found(node: &str) -> Box<StanzaError> {
    Box::new(StanzaError::new(Cond::ItemNotFound, format!("no disco node '{node}'")))
}

fn features(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// What the root (or one of its nodes) says it is.
pub(crate) fn info(node: Option<&str>) -> DiscoResult<InfoResult> {
    match node {
        None => {
            let mut server = Identity::new("server", "im");
            server.name = Some("icroot Intercloud Root".into());
            Ok(InfoResult {
                node: None,
                identities: vec![server, Identity::new("pubsub", "service")],
                features: features(&[
                    ns::DISCO_INFO,
                    ns::DISCO_ITEMS,
                    ns::PING,
                    ns::PUBSUB,
                    ns::RAFT,
                    ns::RAFT_EXT,
                    ns::REGISTRY,
                    crate::snapshot_wire::NS,
                ]),
            })
        }
        Some(n @ NODE_REGISTRY) => Ok(InfoResult {
            node: Some(n.into()),
            identities: vec![Identity::new("pubsub", "leaf")],
            features: features(&[ns::DISCO_INFO, ns::PUBSUB]),
        }),
        Some(n @ (NODE_EXCHANGES | NODE_CLOUDS)) => Ok(InfoResult {
            node: Some(n.into()),
            identities: vec![Identity::new("hierarchy", "branch")],
            features: features(&[ns::DISCO_INFO, ns::DISCO_ITEMS]),
        }),
        Some(other) => Err(not_found(other)),
    }
}

fn item(jid: &str, node: Option<&str>, name: Option<&str>) -> DiscoItem {
    DiscoItem { jid: jid.to_owned(), node: node.map(str::to_owned), name: name.map(str::to_owned) }
}

/// What the root holds.
pub(crate) fn items(ctx: &NodeCtx, node: Option<&str>) -> DiscoResult<ItemsResult> {
    let root = ctx.config.domain.as_str();
    let store_err =
        |e: store::StoreError| Box::new(StanzaError::new(Cond::InternalServerError, e.to_string()));
    let items = match node {
        None => vec![
            item(root, Some(NODE_REGISTRY), Some("Registry changes")),
            item(root, Some(NODE_EXCHANGES), Some("Registered Exchanges")),
            item(root, Some(NODE_CLOUDS), Some("Registered Clouds")),
        ],
        Some(NODE_EXCHANGES) => ctx
            .sm
            .exchange_domains(MAX_ITEMS)
            .map_err(store_err)?
            .iter()
            .map(|d| item(d, None, None))
            .collect(),
        // A Cloud is addressed at the Exchange that operates it, the Cloud id as the node.
        Some(NODE_CLOUDS) => ctx
            .sm
            .cloud_owners(MAX_ITEMS)
            .map_err(store_err)?
            .iter()
            .map(|(id, owner)| item(owner, Some(id), Some(id)))
            .collect(),
        // The pubsub node has no disco items of its own (its items travel in notifications).
        Some(NODE_REGISTRY) => Vec::new(),
        Some(other) => return Err(not_found(other)),
    };
    Ok(ItemsResult { node: node.map(str::to_owned), items })
}

/// Answer a disco#info or disco#items query payload.
pub(crate) fn answer(ctx: &NodeCtx, query: &Element) -> DiscoResult<Element> {
    let node = query.attr("node");
    if query.ns() == ns::DISCO_ITEMS {
        Ok(items(ctx, node)?.to_element())
    } else {
        Ok(info(node)?.to_element())
    }
}
