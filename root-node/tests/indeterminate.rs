//! The client never reports a write as failed when an earlier attempt of it may have been
//! applied: a scripted root (a real S2S peer over TLS) first answers `remote-server-timeout`
//! (a follower's forward went unanswered), then refuses the retry as `item-not-found` — which
//! the first attempt's success would explain. The client says "outcome unknown".

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::s2s::TlsMode;
use proto::stanza::envelope::Iq;
use proto::stanza::registry::{DeregisterExchange, RecordKind, RegistryError, RegistryRequest};
use raft_xmpp_transport::discovery::Discovery;
use raft_xmpp_transport::pki::{write_file, DevCa};
use raft_xmpp_transport::{TransportConfig, XmppNode};
use root_node::client::{Client, ClientError};
use root_node::profile::Profile;

/// A root that answers the n-th request with `script(n)`.
async fn scripted_root(
    ca: &DevCa,
    script: impl Fn(u32) -> StanzaError + Send + Sync + 'static,
) -> (XmppNode, u16, Arc<AtomicU32>) {
    let (identity, _) = ca.issue("root.test.lan").unwrap();
    let cfg = TransportConfig::new("root.test.lan", identity, vec![ca.cert_der()]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (xmpp, mut incoming) =
        XmppNode::start(cfg, vec![(listener, TlsMode::StartTls)], Discovery::with_nameservers(&[], 1))
            .unwrap();
    let asked = Arc::new(AtomicU32::new(0));
    let (node, count) = (xmpp.clone(), asked.clone());
    tokio::spawn(async move {
        while let Some(inc) = incoming.recv().await {
            let Ok(iq) = Iq::try_from(&inc.stanza) else { continue };
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = node.reply(inc.link, Iq::error_for(&iq, script(n)).to_element());
        }
    });
    (xmpp, port, asked)
}

fn profile(ca: &DevCa, dir: &std::path::Path, port: u16) -> Profile {
    let (_, pem) = ca.issue("ix1.test.lan").unwrap();
    let (cert, key, ca_path) = (dir.join("ix1.pem"), dir.join("ix1.key"), dir.join("ca.pem"));
    write_file(&cert, &pem.cert_pem, 0o644).unwrap();
    write_file(&key, &pem.key_pem, 0o600).unwrap();
    write_file(&ca_path, ca.cert_pem(), 0o644).unwrap();
    Profile {
        domain: "ix1.test.lan".into(),
        cert,
        key,
        ca: ca_path,
        root_domain: "root.test.lan".into(),
        root_address: Some(("127.0.0.1".into(), port)),
        nameservers: vec![],
        fallback_roots: vec![],
    }
}

fn deregister() -> RegistryRequest {
    RegistryRequest::DeregisterExchange(DeregisterExchange { domain: None, expected_revision: None })
}

fn not_found() -> StanzaError {
    RegistryError::NotFound { kind: RecordKind::Exchange, key: "ix1.test.lan".into() }.to_stanza_error()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_retry_after_an_unanswered_attempt_is_outcome_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = DevCa::new("indeterminate test CA").unwrap();
    let (root, port, asked) = scripted_root(&ca, |n| {
        if n == 1 {
            StanzaError::new(Cond::RemoteServerTimeout, "the leader did not answer in time")
        } else {
            not_found()
        }
    })
    .await;
    let client = Client::connect(&profile(&ca, tmp.path(), port)).unwrap();
    let err = client.request(&deregister()).await.unwrap_err();
    assert_eq!(asked.load(Ordering::SeqCst), 2, "one retry after the unanswered attempt");
    match &err {
        ClientError::Indeterminate { retry, .. } => {
            assert!(matches!(**retry, ClientError::Refused { error: RegistryError::NotFound { .. }, .. }))
        }
        other => panic!("expected outcome unknown, got {other:?}"),
    }
    client.close().await;
    root.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_after_a_not_leader_answer_is_a_plain_refusal() {
    // `not-leader` means the node did not propose the write: the retry's answer is the truth.
    let tmp = tempfile::tempdir().unwrap();
    let ca = DevCa::new("indeterminate test CA").unwrap();
    let (root, port, asked) = scripted_root(&ca, |n| {
        if n == 1 {
            RegistryError::NotLeader { leader: None }.to_stanza_error()
        } else {
            not_found()
        }
    })
    .await;
    let client = Client::connect(&profile(&ca, tmp.path(), port)).unwrap();
    let err = client.request(&deregister()).await.unwrap_err();
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert!(matches!(err, ClientError::Refused { error: RegistryError::NotFound { .. }, .. }), "{err:?}");
    client.close().await;
    root.shutdown().await;
}
