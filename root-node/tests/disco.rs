//! XEP-0030 on the root: disco#items lists the root's nodes, the registered Exchanges and
//! Clouds; disco#info advertises items and pubsub; an unknown node is item-not-found.

use proto::error::StanzaErrorCondition;
use proto::ns;
use proto::stanza::disco::{InfoQuery, InfoResult, ItemsQuery, ItemsResult};
use proto::stanza::envelope::{Iq, IqType};
use proto::xml::Element;
use raft_xmpp_transport::RequestError;
use root_node::dev::{DevCluster, DevOptions};

use crate::peer::{Exchange, T};

async fn ask(x: &Exchange, id: &str, query: Element) -> Result<Element, RequestError> {
    let iq = Iq::request(IqType::Get, id, x.domain.clone(), x.root.clone(), query);
    x.xmpp.request(iq.to_element(), T).await.map(|a| a.children().next().cloned().unwrap())
}

async fn items(x: &Exchange, node: Option<&str>) -> ItemsResult {
    let q = ItemsQuery { node: node.map(str::to_owned) }.to_element();
    ItemsResult::try_from(&ask(x, "items", q).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disco_items_list_nodes_exchanges_and_clouds() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let node = &cluster.ready()["nodes"][0];
    let root = node["domain"].as_str().unwrap().to_owned();
    let x = Exchange::connect(&opts.dir, "ix1.demo.lan", node);

    let info =
        InfoResult::try_from(&ask(&x, "info", InfoQuery::default().to_element()).await.unwrap()).unwrap();
    for f in [ns::DISCO_ITEMS, ns::PUBSUB, ns::DISCO_INFO, ns::REGISTRY, "https://ns.icroot.dev/snapshot/0"] {
        assert!(info.has_feature(f), "{f} missing from {:?}", info.features);
    }
    assert!(info.identities.iter().any(|i| i.category == "pubsub" && i.kind == "service"));

    let top = items(&x, None).await;
    let nodes: Vec<(&str, Option<&str>)> =
        top.items.iter().map(|i| (i.jid.as_str(), i.node.as_deref())).collect();
    assert_eq!(
        nodes,
        vec![
            (root.as_str(), Some("registry")),
            (root.as_str(), Some("exchanges")),
            (root.as_str(), Some("clouds"))
        ]
    );

    // The dev cluster registered ix3 and its Cloud; register ix1 too.
    x.register(300).await;
    let exchanges = items(&x, Some("exchanges")).await;
    assert_eq!(exchanges.node.as_deref(), Some("exchanges"));
    let jids: Vec<&str> = exchanges.items.iter().map(|i| i.jid.as_str()).collect();
    assert_eq!(jids, vec!["ix1.demo.lan", "ix3.demo.lan"]);
    let clouds = items(&x, Some("clouds")).await;
    assert_eq!(clouds.items.len(), 1, "{clouds:?}");
    assert_eq!(clouds.items[0].jid, "ix3.demo.lan");
    assert_eq!(clouds.items[0].node.as_deref(), Some("ix3/objects"));

    let registry_info = InfoResult::try_from(
        &ask(&x, "ri", InfoQuery { node: Some("registry".into()) }.to_element()).await.unwrap(),
    )
    .unwrap();
    assert!(registry_info.identities.iter().any(|i| i.category == "pubsub" && i.kind == "leaf"));

    for query in [
        ItemsQuery { node: Some("nope".into()) }.to_element(),
        InfoQuery { node: Some("nope".into()) }.to_element(),
    ] {
        match ask(&x, "bad", query).await {
            Err(RequestError::Remote(e)) => assert_eq!(e.condition, StanzaErrorCondition::ItemNotFound),
            other => panic!("expected item-not-found, got {other:?}"),
        }
    }
    x.xmpp.shutdown().await;
    cluster.shutdown().await;
}
