//! Presence (protocol §6.4): lease heartbeats through a follower, bad payloads ignored without
//! an error, role announcements to members and subscribers, and an Exchange's unavailability
//! relayed across members to subscribers without removing its record.

use std::time::Duration;

use proto::ns;
use proto::stanza::envelope::{Presence, PresenceType};
use proto::stanza::presence::{LeaseHeartbeat, RaftRole};
use proto::stanza::registry::{Consistency, MemberRole};
use proto::xml::Element;
use raft_xmpp_transport::fault::LinkFault;
use root_node::dev::{DevCluster, DevOptions};

use crate::peer::{eventually, Exchange};

fn node_with_role<'a>(ready: &'a serde_json::Value, role: &str) -> Vec<&'a serde_json::Value> {
    ready["nodes"].as_array().unwrap().iter().filter(|n| n["role"] == role).collect()
}

fn is_type(p: &Element, ty: Option<&str>) -> bool {
    p.name() == "presence" && p.attr("type") == ty
}

fn raft_role(p: &Element) -> Option<RaftRole> {
    p.child("raft-role", ns::REGISTRY).map(|r| RaftRole::try_from(r).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_presence_through_a_follower_renews_and_bad_presence_gets_no_error() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let follower = node_with_role(cluster.ready(), "follower")[0].clone();
    let mut x = Exchange::connect(&opts.dir, "ix1.demo.lan", &follower);
    let registered = x.register(5).await;

    // Payloads that must be ignored: a malformed raft-role, a <lease/> in another namespace.
    let bogus_role = Element::new("raft-role", ns::REGISTRY).with_attr("role", "emperor");
    x.presence(PresenceType::Available, vec![bogus_role, Element::new("lease", "urn:example:other")]);
    // Nothing renewed the lease yet: only available presence carrying a registry <lease/> does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(x.lookup("ix1.demo.lan").await.unwrap().lease_expires_ms, registered.lease_expires_ms);

    // Heartbeats within a second of the last renewal are dropped; keep beating until one lands.
    eventually(Duration::from_secs(10), "a heartbeat moves the lease end", || async {
        x.presence(PresenceType::Available, vec![LeaseHeartbeat.to_element()]);
        x.lookup("ix1.demo.lan").await.unwrap().lease_expires_ms > registered.lease_expires_ms
    })
    .await;
    // Heartbeats alone keep the 5 s lease alive well past its first end.
    for _ in 0..8 {
        x.presence(PresenceType::Available, vec![LeaseHeartbeat.to_element()]);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let now = x.lookup("ix1.demo.lan").await.expect("heartbeats kept the record");
    assert!(now.lease_expires_ms > registered.lease_expires_ms + 5000, "{now:?}");
    assert_eq!(now.modified_revision, registered.modified_revision, "a renewal changes no revision");

    // Nothing above was answered with an error …
    let got = x.drain();
    assert!(!got.iter().any(|s| is_type(s, Some("error"))), "{got:?}");
    // … but an envelope that does not parse is (protocol §4.4).
    let bad = Element::new("presence", ns::JABBER_SERVER)
        .with_attr("from", "ix1.demo.lan")
        .with_attr("to", x.root.clone())
        .with_attr("type", "sideways");
    x.xmpp.send(bad).unwrap();
    let err = x.next_matching(Duration::from_secs(5), |s| is_type(s, Some("error"))).await;
    let err = Presence::try_from(&err).unwrap();
    assert_eq!(err.error.unwrap().condition, proto::error::StanzaErrorCondition::BadRequest);

    x.xmpp.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_reach_members_and_subscribers_and_unavailability_is_relayed() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let ready = cluster.ready().clone();
    let leader_id = ready["leader"]["id"].as_u64().unwrap();
    let followers = node_with_role(&ready, "follower");
    let (f1, f2) = (followers[0].clone(), followers[1].clone());
    let node = |v: &serde_json::Value| &cluster.nodes()[(v["id"].as_u64().unwrap() - 1) as usize];

    // Members tell each other their roles.
    for n in cluster.nodes() {
        let me = n.config().node_id;
        eventually(Duration::from_secs(10), "every member hears the others' roles", || async {
            let roles = n.peer_roles();
            roles.len() == 2
                && (me == leader_id || roles.get(&leader_id).is_some_and(|r| r.role == MemberRole::Leader))
        })
        .await;
    }

    // ix2 subscribes to a follower's presence: subscribed, then the follower's role.
    let mut sub = Exchange::connect(&opts.dir, "ix2.demo.lan", &f1);
    sub.presence(PresenceType::Subscribe, vec![]);
    sub.next_matching(Duration::from_secs(10), |s| is_type(s, Some("subscribed"))).await;
    let first =
        sub.next_matching(Duration::from_secs(10), |s| is_type(s, None) && raft_role(s).is_some()).await;
    let role = raft_role(&first).unwrap();
    assert_eq!(first.attr("from"), f1["domain"].as_str());
    assert_eq!(
        (role.role, role.node_id, role.leader),
        (MemberRole::Follower, f1["id"].as_u64().unwrap(), Some(leader_id))
    );
    assert_eq!(node(&f1).presence_subscribers(), vec!["ix2.demo.lan".to_owned()]);

    // ix1, talking to the other follower, goes unavailable: f2 relays to f1, f1 to ix2.
    let ix1 = Exchange::connect(&opts.dir, "ix1.demo.lan", &f2);
    let registered = ix1.register(300).await;
    // f2 acts on Exchanges it holds a record for: wait until it has applied the registration.
    eventually(Duration::from_secs(10), "f2 applied ix1's registration", || async {
        ix1.lookup_with("ix1.demo.lan", Consistency::Stale).await.is_some()
    })
    .await;
    ix1.presence(PresenceType::Unavailable, vec![]);
    let notice = sub.next_matching(Duration::from_secs(10), |s| is_type(s, Some("unavailable"))).await;
    assert_eq!(
        notice.attr("from"),
        Some(format!("{}/ix1.demo.lan", f1["domain"].as_str().unwrap()).as_str())
    );
    let payload = notice.child("exchange-unavailable", ns::REGISTRY).expect("names the Exchange");
    assert_eq!(payload.attr("domain"), Some("ix1.demo.lan"));
    let kept = ix1.lookup("ix1.demo.lan").await.expect("unavailability does not remove the record");
    assert_eq!(kept.modified_revision, registered.modified_revision);

    // Cut the leader off: a new term; ix2 hears f1's new role presence.
    let leader_domain = ready["leader"]["domain"].as_str().unwrap().to_owned();
    let cut = LinkFault { blackhole: true, ..LinkFault::default() };
    for n in cluster.nodes() {
        if n.config().node_id == leader_id {
            for f in [&f1, &f2] {
                n.xmpp().faults().set(f["domain"].as_str().unwrap(), cut);
            }
        } else {
            n.xmpp().faults().set(&leader_domain, cut);
        }
    }
    let newer = sub
        .next_matching(Duration::from_secs(20), |s| {
            is_type(s, None) && raft_role(s).is_some_and(|r| r.term > role.term && r.leader.is_some())
        })
        .await;
    let new_role = raft_role(&newer).unwrap();
    assert_ne!(new_role.leader, Some(leader_id), "a new leader among the followers: {new_role:?}");
    for n in cluster.nodes() {
        n.xmpp().faults().clear_all();
    }

    sub.presence(PresenceType::Unsubscribe, vec![]);
    sub.next_matching(Duration::from_secs(10), |s| is_type(s, Some("unsubscribed"))).await;
    assert!(node(&f1).presence_subscribers().is_empty());

    sub.xmpp.shutdown().await;
    ix1.xmpp.shutdown().await;
    cluster.shutdown().await;
}
