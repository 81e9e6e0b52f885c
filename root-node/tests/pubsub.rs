//! Registry watching (docs/protocol.md §6.3) on in-process dev clusters: every change in
//! revision order with no gaps, a prefix filter, the bad-input rows, a leader loss while writes
//! continue, and resuming from a compacted revision.

use std::path::Path;
use std::time::{Duration, Instant};

use proto::error::StanzaErrorCondition as Cond;
use proto::ns;
use proto::stanza::envelope::{Iq, IqType};
use proto::stanza::registry::{
    CloudSpec, Consistency, DeregisterExchange, ExchangeSpec, RecordKind, RegisterCloud, RegisterExchange,
    RegistryError, RegistryRequest, RegistryResult, Search, UpdateExchange,
};
use proto::xml::Element;
use raft_xmpp_transport::RequestError;
use root_node::client::{Client, ClientError};
use root_node::dev::{DevCluster, DevOptions};
use root_node::profile::{Profile, RawProfile, RawRoot};
use root_node::watch::{watch, WatchEvent, WatchOptions, WatchRecord};
use root_node::{Listeners, NodeConfig, RootService};
use tokio::sync::{mpsc, oneshot};

const DEADLINE: Duration = Duration::from_secs(30);

/// A watch running in a task: its events, and a switch to stop it.
struct Watcher {
    rx: mpsc::Receiver<WatchEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ClientError>>,
    /// Changes seen, in arrival order.
    changes: Vec<WatchEvent>,
    subscribed: Vec<(String, u64)>,
}

impl Watcher {
    fn start(profile: Profile, opts: WatchOptions) -> Self {
        Self::with_capacity(profile, opts, 10_000)
    }

    fn with_capacity(profile: Profile, opts: WatchOptions, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            watch(&profile, &opts, tx, async {
                let _ = stopped.await;
            })
            .await
        });
        Watcher { rx, stop: Some(stop), task, changes: Vec::new(), subscribed: Vec::new() }
    }

    /// Take events until `done` holds for what was seen, or fail at the deadline.
    async fn until(&mut self, what: &str, done: impl Fn(&Watcher) -> bool) {
        let end = Instant::now() + DEADLINE;
        while !done(self) {
            let left = end.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(ev @ (WatchEvent::Put { .. } | WatchEvent::Removed { .. }))) => self.changes.push(ev),
                Ok(Some(WatchEvent::Subscribed { root, since })) => self.subscribed.push((root, since)),
                Ok(Some(_)) => {}
                Ok(None) => panic!("watch ended while waiting for {what}: {:?}", self.task.is_finished()),
                Err(_) => panic!("no {what} within {DEADLINE:?}; seen {:?}", self.revisions()),
            }
        }
    }

    async fn until_revision(&mut self, r: u64) {
        self.until(&format!("revision {r}"), |w| w.revisions().last().is_some_and(|l| *l >= r)).await;
    }

    fn revisions(&self) -> Vec<u64> {
        self.changes.iter().filter_map(WatchEvent::revision).collect()
    }

    async fn stop(mut self) -> Result<(), ClientError> {
        let _ = self.stop.take().map(|s| s.send(()));
        self.task.await.unwrap()
    }
}

fn profile_for(base: &Path, roots: &[(String, String)]) -> Profile {
    let mut raw: RawProfile = toml::from_str(&std::fs::read_to_string(base).unwrap()).unwrap();
    raw.root_domain = roots[0].0.clone();
    raw.root_address = Some(roots[0].1.clone());
    raw.fallback_roots =
        roots[1..].iter().map(|(d, a)| RawRoot { domain: d.clone(), address: Some(a.clone()) }).collect();
    Profile::from_raw(raw, base.parent().unwrap()).unwrap()
}

fn node_root(n: &RootService) -> (String, String) {
    (n.config().domain.clone(), n.config().listen_starttls[0].to_string())
}

fn spec(org: &str) -> ExchangeSpec {
    ExchangeSpec { organisation: org.into(), lease_ttl_secs: 86_400, ..Default::default() }
}

fn register(domain: &str, org: &str) -> RegistryRequest {
    RegistryRequest::RegisterExchange(RegisterExchange { domain: Some(domain.into()), spec: spec(org) })
}

/// The revision a write produced.
async fn write(client: &Client, req: RegistryRequest) -> u64 {
    match client.request(&req).await.unwrap() {
        Some(RegistryResult::Exchange(x)) => x.modified_revision,
        Some(RegistryResult::Cloud(c)) => c.modified_revision,
        Some(RegistryResult::Deregistered(d)) => d.revision,
        other => panic!("unexpected answer {other:?}"),
    }
}

/// The registry revision a linearizable read sees.
async fn head(client: &Client) -> u64 {
    let s = Search { limit: 1, consistency: Consistency::Linearizable, ..Default::default() };
    match client.request(&RegistryRequest::Search(s)).await {
        Ok(Some(RegistryResult::SearchResults(r))) => r.revision,
        other => panic!("unexpected answer {other:?}"),
    }
}

fn assert_contiguous(revs: &[u64], from: u64, to: u64, who: &str) {
    let want: Vec<u64> = (from..=to).collect();
    assert_eq!(revs, want.as_slice(), "{who}: every revision {from}..={to} exactly once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watcher_sees_every_change_in_order_prefix_filters_and_bad_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profiles = opts.dir.join("profiles");
    let roots: Vec<_> = cluster.nodes().iter().map(node_root).collect();
    let admin = Client::connect(&profile_for(&profiles.join("admin.toml"), &roots)).unwrap();

    let fast = WatchOptions { keepalive: Duration::from_secs(1), ..Default::default() };
    // Watch a follower-or-leader other than the one the writes go to: it publishes its own feed.
    let mut all = Watcher::start(profile_for(&profiles.join("ix1.demo.lan.toml"), &roots[1..]), fast.clone());
    let prefixed = WatchOptions { prefix: Some("wb-".into()), ..fast.clone() };
    let mut some = Watcher::start(profile_for(&profiles.join("ix2.demo.lan.toml"), &roots[2..]), prefixed);
    all.until("subscribed", |w| !w.subscribed.is_empty()).await;
    some.until("subscribed", |w| !w.subscribed.is_empty()).await;
    let start = all.subscribed[0].1;

    let mut expect: Vec<(u64, &str, &str)> = Vec::new(); // (revision, op, key)
    for d in ["wa-1.test", "wa-2.test", "wb-1.test", "wb-2.test"] {
        expect.push((write(&admin, register(d, "first")).await, "put", d));
    }
    let upd = RegistryRequest::UpdateExchange(UpdateExchange {
        domain: Some("wa-1.test".into()),
        expected_revision: None,
        spec: spec("second"),
    });
    expect.push((write(&admin, upd).await, "put", "wa-1.test"));
    let cloud = RegistryRequest::RegisterCloud(RegisterCloud {
        domain: Some("wb-1.test".into()),
        id: "wb-1/objects".into(),
        spec: CloudSpec { services: vec!["storage".into()], ..Default::default() },
    });
    expect.push((write(&admin, cloud).await, "put", "wb-1/objects"));
    let dereg = |d: &str| {
        RegistryRequest::DeregisterExchange(DeregisterExchange {
            domain: Some(d.into()),
            expected_revision: None,
        })
    };
    // Removing wb-1 removes its Cloud first, then the Exchange: two retractions.
    let r = write(&admin, dereg("wb-1.test")).await;
    expect.push((r - 1, "removed", "wb-1/objects"));
    expect.push((r, "removed", "wb-1.test"));
    expect.push((write(&admin, register("wb-1.test", "again")).await, "put", "wb-1.test"));
    expect.push((write(&admin, dereg("wa-2.test")).await, "removed", "wa-2.test"));
    let last = expect.last().unwrap().0;

    all.until_revision(last).await;
    assert_contiguous(&all.revisions(), start + 1, last, "unfiltered watcher");
    // The follower watched may subscribe before it applied the dev cluster's own last write
    // (ix3's Cloud); that change then arrives first. Compare from this test's first write.
    let skip = all.revisions().iter().take_while(|r| **r < expect[0].0).count();
    let changes = &all.changes[skip..];
    let seen: Vec<(u64, &str, String)> = changes
        .iter()
        .map(|e| match e {
            WatchEvent::Put { revision, record: WatchRecord::Exchange(x) } => {
                (*revision, "put", x.domain.clone())
            }
            WatchEvent::Put { revision, record: WatchRecord::Cloud(c) } => (*revision, "put", c.id.clone()),
            WatchEvent::Removed { revision, key, .. } => (*revision, "removed", key.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<(u64, &str, String)> = expect.iter().map(|(r, o, k)| (*r, *o, (*k).to_owned())).collect();
    assert_eq!(seen, want);
    let WatchEvent::Put { record: WatchRecord::Exchange(upd), .. } = &changes[4] else { panic!() };
    assert_eq!(upd.spec.organisation, "second", "the item carries the record after the change");
    assert!(matches!(&changes[6], WatchEvent::Removed { kind: RecordKind::Cloud, .. }));

    some.until_revision(last - 1).await;
    let keys: Vec<(u64, String)> = some
        .changes
        .iter()
        .map(|e| match e {
            WatchEvent::Put { revision, record: WatchRecord::Exchange(x) } => (*revision, x.domain.clone()),
            WatchEvent::Put { revision, record: WatchRecord::Cloud(c) } => (*revision, c.id.clone()),
            WatchEvent::Removed { revision, key, .. } => (*revision, key.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<(u64, String)> = expect
        .iter()
        .filter(|(_, _, k)| k.starts_with("wb-"))
        .map(|(r, _, k)| (*r, (*k).to_owned()))
        .collect();
    assert_eq!(keys, want, "the prefix watcher sees only wb-… keys");
    all.stop().await.unwrap();
    some.stop().await.unwrap();

    bad_inputs(&admin).await;
    admin.close().await;
    cluster.shutdown().await;
}

/// Send `<pubsub>children</pubsub>` as an iq of `kind` and return the error.
async fn refused(client: &Client, kind: IqType, children: Vec<Element>) -> proto::error::StanzaError {
    let mut pubsub = Element::new("pubsub", ns::PUBSUB);
    for c in children {
        pubsub.append_child(c);
    }
    let iq = Iq::request(
        kind,
        format!("bad-{}", rand()),
        client.domain().to_owned(),
        client.root().to_owned(),
        pubsub,
    );
    match client.node().request(iq.to_element(), DEADLINE).await {
        Err(RequestError::Remote(e)) => *e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn rand() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn sub(attrs: &[(&str, &str)]) -> Element {
    let mut e = Element::new("subscribe", ns::PUBSUB);
    for (k, v) in attrs {
        e.set_attr(*k, *v);
    }
    e
}

fn watch_ext(attrs: &[(&str, &str)]) -> Element {
    let mut e = Element::new("watch", ns::REGISTRY);
    for (k, v) in attrs {
        e.set_attr(*k, *v);
    }
    e
}

fn app(e: &proto::error::StanzaError) -> Option<(String, String)> {
    e.app.as_ref().map(|a| (a.name().to_owned(), a.ns().to_owned()))
}

async fn bad_inputs(c: &Client) {
    let me = c.domain().to_owned();
    let ok = [("node", "registry"), ("jid", me.as_str())];
    let cases: Vec<(&str, IqType, Vec<Element>, Cond)> = vec![
        ("neither subscribe nor unsubscribe", IqType::Set, vec![], Cond::BadRequest),
        ("subscribe without node", IqType::Set, vec![sub(&[("jid", &me)])], Cond::BadRequest),
        ("subscribe without jid", IqType::Set, vec![sub(&[("node", "registry")])], Cond::BadRequest),
        (
            "unsubscribe without jid",
            IqType::Set,
            vec![Element::new("unsubscribe", ns::PUBSUB).with_attr("node", "registry")],
            Cond::BadRequest,
        ),
        (
            "since-revision not a number",
            IqType::Set,
            vec![sub(&ok), watch_ext(&[("since-revision", "forty")])],
            Cond::BadRequest,
        ),
        (
            "since-revision negative",
            IqType::Set,
            vec![sub(&ok), watch_ext(&[("since-revision", "-1")])],
            Cond::BadRequest,
        ),
        (
            "prefix over 253 bytes",
            IqType::Set,
            vec![sub(&ok), watch_ext(&[("prefix", &"p".repeat(254))])],
            Cond::BadRequest,
        ),
        ("unknown node", IqType::Set, vec![sub(&[("node", "other"), ("jid", &me)])], Cond::ItemNotFound),
        ("iq get", IqType::Get, vec![sub(&ok)], Cond::FeatureNotImplemented),
    ];
    for (what, kind, children, cond) in cases {
        let e = refused(c, kind, children).await;
        assert_eq!(e.condition, cond, "{what}: {e:?}");
    }
    let e = refused(c, IqType::Set, vec![sub(&[("node", "registry"), ("jid", "someone-else.test")])]).await;
    assert_eq!(e.condition, Cond::BadRequest);
    assert_eq!(app(&e), Some(("invalid-jid".into(), ns::PUBSUB_ERRORS.into())), "{e:?}");
    let unsub = |subid: Option<&str>| {
        let u = Element::new("unsubscribe", ns::PUBSUB)
            .with_attr("node", "registry")
            .with_attr("jid", me.clone());
        match subid {
            Some(s) => u.with_attr("subid", s),
            None => u,
        }
    };
    let e = refused(c, IqType::Set, vec![unsub(None)]).await;
    assert_eq!(
        (e.condition, app(&e)),
        (Cond::UnexpectedRequest, Some(("not-subscribed".into(), ns::PUBSUB_ERRORS.into())))
    );
    let e = refused(c, IqType::Set, vec![unsub(Some("s-999999"))]).await;
    assert_eq!(
        (e.condition, app(&e)),
        (Cond::NotAcceptable, Some(("invalid-subid".into(), ns::PUBSUB_ERRORS.into())))
    );
    // The same request shapes, well formed, succeed; a domain holds at most 8 subscriptions
    // per node, a ninth replaces the oldest.
    let mut subids = Vec::new();
    for i in 0..9 {
        let pubsub = Element::new("pubsub", ns::PUBSUB).with_child(sub(&ok));
        let iq = Iq::request(IqType::Set, format!("good-{i}"), me.clone(), c.root().to_owned(), pubsub);
        let answer = c.node().request(iq.to_element(), DEADLINE).await.unwrap();
        let s = proto::stanza::pubsub::Subscription::try_from(answer.children().next().unwrap()).unwrap();
        assert_eq!(s.state, proto::stanza::pubsub::SubscriptionState::Subscribed);
        subids.push(s.subid.unwrap());
    }
    let e = refused(c, IqType::Set, vec![unsub(Some(&subids[0]))]).await;
    assert_eq!(e.condition, Cond::NotAcceptable, "the oldest was replaced: {e:?}");
    let e = refused(c, IqType::Set, vec![unsub(None)]).await;
    assert_eq!(
        (e.condition, app(&e)),
        (Cond::BadRequest, Some(("subid-required".into(), ns::PUBSUB_ERRORS.into())))
    );
    let other = Element::new("unsubscribe", ns::PUBSUB)
        .with_attr("node", "registry")
        .with_attr("jid", "someone-else.test")
        .with_attr("subid", subids[1].clone());
    let e = refused(c, IqType::Set, vec![other]).await;
    assert_eq!(app(&e), Some(("invalid-jid".into(), ns::PUBSUB_ERRORS.into())), "{e:?}");
    for (i, id) in subids[1..].iter().enumerate() {
        let pubsub = Element::new("pubsub", ns::PUBSUB).with_child(unsub(Some(id)));
        let iq = Iq::request(IqType::Set, format!("unsub-{i}"), me.clone(), c.root().to_owned(), pubsub);
        c.node().request(iq.to_element(), DEADLINE).await.unwrap();
    }
    let e = refused(c, IqType::Set, vec![unsub(None)]).await;
    assert_eq!(e.condition, Cond::UnexpectedRequest, "all gone: {e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_see_every_committed_revision_once_across_a_leader_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 3, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profiles = opts.dir.join("profiles");
    let nodes = cluster.nodes();
    let leader_id = nodes[0].raft().metrics().borrow().current_leader.unwrap();
    let leader = nodes.iter().find(|n| n.config().node_id == leader_id).unwrap();
    let survivors: Vec<&RootService> = nodes.iter().filter(|n| n.config().node_id != leader_id).collect();
    let (f1, f2) = (node_root(survivors[0]), node_root(survivors[1]));

    let fast = WatchOptions { keepalive: Duration::from_millis(500), ..Default::default() };
    // On a node that survives.
    let mut stay = Watcher::start(
        profile_for(&profiles.join("ix1.demo.lan.toml"), std::slice::from_ref(&f1)),
        fast.clone(),
    );
    // On the leader, which dies; it resumes on f2 with since-revision.
    let mut moving = Watcher::start(
        profile_for(&profiles.join("ix2.demo.lan.toml"), &[node_root(leader), f2.clone()]),
        fast.clone(),
    );
    stay.until("subscribed", |w| !w.subscribed.is_empty()).await;
    moving.until("subscribed", |w| !w.subscribed.is_empty()).await;
    let (start_stay, start_moving) = (stay.subscribed[0].1, moving.subscribed[0].1);

    // Writes through f1 (forwarded to whoever leads), continuing across the leader loss.
    let writer =
        Client::connect(&profile_for(&profiles.join("admin.toml"), std::slice::from_ref(&f1))).unwrap();
    let (kill_tx, kill_rx) = oneshot::channel();
    let writes = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut kill_tx = Some(kill_tx);
        for i in 0..40 {
            // Until the survivors elect a leader, f1 may still forward to the dead one: retry.
            let end = Instant::now() + DEADLINE;
            loop {
                match writer.request(&register(&format!("wl-{i}.test"), "x")).await {
                    Ok(Some(RegistryResult::Exchange(x))) => acked.push(x.modified_revision),
                    Ok(other) => panic!("{other:?}"),
                    // An earlier try committed without an answer: counted by the watchers only.
                    Err(ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. }) => {}
                    Err(e) if Instant::now() < end => {
                        eprintln!("write {i}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    Err(e) => panic!("write {i} failed: {e}"),
                }
                break;
            }
            if i == 10 {
                let _ = kill_tx.take().map(|k| k.send(()));
            }
        }
        let h = head(&writer).await;
        writer.close().await;
        (acked, h)
    });
    kill_rx.await.unwrap();
    leader.raft().shutdown().await.unwrap();
    leader.xmpp().shutdown().await;
    let (acked, end) = writes.await.unwrap();
    assert!(acked.len() >= 30, "writes continued after the leader loss: {acked:?}");

    stay.until_revision(end).await;
    moving.until_revision(end).await;
    assert_contiguous(&stay.revisions(), start_stay + 1, end, "watcher on a survivor");
    assert_contiguous(&moving.revisions(), start_moving + 1, end, "watcher that moved");
    assert!(
        moving.subscribed.iter().any(|(root, since)| *root == f2.0 && *since > start_moving),
        "it resubscribed on {} with since-revision: {:?}",
        f2.0,
        moving.subscribed
    );
    for r in &acked {
        assert!(stay.revisions().contains(r), "acked revision {r} seen");
    }
    stay.stop().await.unwrap();
    moving.stop().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resuming_from_a_compacted_revision_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    // The dev cluster provides certificates and profiles; the node under test keeps 3 changes.
    DevCluster::start(&opts).await.unwrap().shutdown().await;
    let mut config = NodeConfig::load(&opts.dir.join("nodes/1/node.toml")).unwrap();
    config.data_dir = tmp.path().join("small");
    config.change_retention = 3;
    let listeners = Listeners {
        starttls: vec![tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()],
        direct_tls: vec![],
        admin_http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let addr = listeners.starttls[0].local_addr().unwrap().to_string();
    let node = RootService::start(config, listeners).await.unwrap();
    let root = (node.config().domain.clone(), addr);
    let admin =
        Client::connect(&profile_for(&opts.dir.join("profiles/admin.toml"), std::slice::from_ref(&root)))
            .unwrap();
    let mut last = 0;
    for i in 0..6 {
        last = write(&admin, register(&format!("wc-{i}.test"), "x")).await;
    }
    assert_eq!(last, 6);
    // Revisions 4..=6 are kept: since 3 is the oldest resumable, since 2 is not.
    let p = profile_for(&opts.dir.join("profiles/ix1.demo.lan.toml"), &[root]);
    let mut ok = Watcher::start(p.clone(), WatchOptions { since_revision: Some(3), ..Default::default() });
    ok.until_revision(6).await;
    assert_contiguous(&ok.revisions(), 4, 6, "resume from the oldest kept");
    ok.stop().await.unwrap();
    let (tx, _rx) = mpsc::channel(16);
    let err = watch(
        &p,
        &WatchOptions { since_revision: Some(2), ..Default::default() },
        tx,
        std::future::pending(),
    )
    .await
    .unwrap_err();
    match err {
        ClientError::Refused { condition, error: RegistryError::RevisionCompacted { oldest } } => {
            assert_eq!(condition, "item-not-found");
            assert_eq!(oldest, 3);
        }
        other => panic!("expected revision-compacted, got {other:?}"),
    }
    admin.close().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn icroot_watch_prints_json_lines_until_interrupted() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profiles = opts.dir.join("profiles");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_icroot"))
        .arg("--profile")
        .arg(profiles.join("ix1.demo.lan.toml"))
        .args(["--json", "watch", "--since-revision", "0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(DEADLINE, lines.next_line()).await.unwrap().unwrap().unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };
    let first = next().await;
    assert_eq!((first["op"].as_str(), first["since"].as_u64()), (Some("subscribed"), Some(0)), "{first}");
    // `icroot dev` registered ix3.demo.lan and its Cloud: revisions 1 and 2.
    let x = next().await;
    assert_eq!(
        (x["revision"].as_u64(), x["op"].as_str(), x["kind"].as_str(), x["key"].as_str()),
        (Some(1), Some("put"), Some("exchange"), Some("ix3.demo.lan")),
        "{x}"
    );
    assert_eq!(x["record"]["modified_revision"].as_u64(), Some(1));
    let c = next().await;
    assert_eq!((c["revision"].as_u64(), c["kind"].as_str()), (Some(2), Some("cloud")), "{c}");
    let admin = Client::connect(&Profile::load(&profiles.join("admin.toml")).unwrap()).unwrap();
    let dereg = DeregisterExchange { domain: Some("ix3.demo.lan".into()), expected_revision: None };
    write(&admin, RegistryRequest::DeregisterExchange(dereg)).await;
    admin.close().await;
    for (rev, kind, key) in [(3, "cloud", "ix3/objects"), (4, "exchange", "ix3.demo.lan")] {
        let r = next().await;
        assert_eq!(
            (r["revision"].as_u64(), r["op"].as_str(), r["kind"].as_str(), r["key"].as_str()),
            (Some(rev), Some("removed"), Some(kind), Some(key)),
            "{r}"
        );
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(DEADLINE, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "Ctrl-C ends the watch cleanly: {status:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_far_behind_gets_every_page_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let profiles = opts.dir.join("profiles");
    let admin = Client::connect(&Profile::load(&profiles.join("admin.toml")).unwrap()).unwrap();
    let started = Instant::now();
    for i in 0..720 {
        write(&admin, register(&format!("wf-{i}.test"), "x")).await;
    }
    let end = head(&admin).await;
    let wrote = started.elapsed();
    assert!(end >= 720, "{end}");
    // Several 256-change pages, read by a consumer with room for only 8 events at a time.
    let started = Instant::now();
    let since = WatchOptions { since_revision: Some(0), ..Default::default() };
    let mut w = Watcher::with_capacity(Profile::load(&profiles.join("ix1.demo.lan.toml")).unwrap(), since, 8);
    w.until_revision(end).await;
    let replayed = started.elapsed();
    assert_contiguous(&w.revisions(), 1, end, "replay from 0");
    eprintln!("{end} revisions: written in {wrote:?} (one writer), replayed to a watcher in {replayed:?}");
    w.stop().await.unwrap();
    admin.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_went_away_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DevOptions { nodes: 1, dir: tmp.path().join("c") };
    let cluster = DevCluster::start(&opts).await.unwrap();
    let node = &cluster.nodes()[0];
    let profiles = opts.dir.join("profiles");
    let admin = Client::connect(&Profile::load(&profiles.join("admin.toml")).unwrap()).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_icroot"))
        .arg("--profile")
        .arg(profiles.join("ix1.demo.lan.toml"))
        .args(["--json", "watch"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let first = tokio::time::timeout(DEADLINE, lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(first.contains("\"subscribed\""), "{first}");
    assert_eq!(node.subscriptions(), 1);
    // The watcher process dies without unsubscribing.
    child.kill().await.unwrap();
    // Nothing can reach ix1.demo.lan now (it has no listener): the next deliveries fail and the
    // root forgets the subscription.
    let end = Instant::now() + DEADLINE;
    let mut i = 0;
    while node.subscriptions() > 0 {
        assert!(Instant::now() < end, "the subscription of a vanished watcher is still held");
        write(&admin, register(&format!("wg-{i}.test"), "x")).await;
        i += 1;
    }
    admin.close().await;
    cluster.shutdown().await;
}
