//! A test Exchange: one S2S transport node speaking as a demo domain to one root node of a dev
//! cluster, with its inbound stanzas (presence, notifications) kept for the test to inspect.

use std::path::Path;
use std::time::{Duration, Instant};

use proto::stanza::envelope::{Presence, PresenceType};
use proto::stanza::registry::{
    Consistency, ExchangeRecord, ExchangeSpec, GetExchange, RegisterExchange, RegistryRequest, RegistryResult,
};
use proto::xml::Element;
use raft_xmpp_transport::discovery::{Discovery, Endpoint, TlsStart};
use raft_xmpp_transport::pki::{load_certs, load_key};
use raft_xmpp_transport::tls::TlsIdentity;
use raft_xmpp_transport::{Incoming, RequestError, TransportConfig, XmppNode};
use tokio::sync::mpsc;

pub const T: Duration = Duration::from_secs(10);

pub struct Exchange {
    pub xmpp: XmppNode,
    pub incoming: mpsc::Receiver<Incoming>,
    pub domain: String,
    pub root: String,
}

impl Exchange {
    /// Connect as `domain` (a demo Exchange of the dev cluster in `dir`) to the root `node`
    /// (an entry of DIR/ready's `nodes`).
    pub fn connect(dir: &Path, domain: &str, node: &serde_json::Value) -> Exchange {
        let (root, address) = (node["domain"].as_str().unwrap(), node["address"].as_str().unwrap());
        let pki = dir.join("pki");
        let identity = TlsIdentity {
            cert_chain: load_certs(&pki.join(format!("{domain}.pem"))).unwrap(),
            key: load_key(&pki.join(format!("{domain}.key"))).unwrap(),
        };
        let cfg = TransportConfig::new(domain, identity, load_certs(&pki.join("ca.pem")).unwrap());
        let mut discovery = Discovery::with_nameservers(&[], 0);
        let (host, port) = address.rsplit_once(':').unwrap();
        discovery.add_static_route(
            root,
            vec![Endpoint { host: host.into(), port: port.parse().unwrap(), tls: TlsStart::StartTls }],
        );
        let (xmpp, incoming) = XmppNode::start(cfg, vec![], discovery).unwrap();
        Exchange { xmpp, incoming, domain: domain.into(), root: root.into() }
    }

    pub async fn request(&self, req: &RegistryRequest) -> Result<Option<RegistryResult>, RequestError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = format!("t-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let iq = req.to_iq(id, self.domain.clone(), self.root.clone()).to_element();
        let answer = self.xmpp.request(iq, T).await?;
        let result = answer.children().next().map(|p| RegistryResult::try_from(p).unwrap());
        Ok(result)
    }

    /// Register our own record with a lease of `ttl_secs`.
    pub async fn register(&self, ttl_secs: u32) -> ExchangeRecord {
        let spec = ExchangeSpec {
            organisation: format!("{} org", self.domain),
            capabilities: vec!["compute".into()],
            lease_ttl_secs: ttl_secs,
            ..Default::default()
        };
        let req = RegistryRequest::RegisterExchange(RegisterExchange { domain: None, spec });
        match self.request(&req).await.unwrap() {
            Some(RegistryResult::Exchange(x)) => x,
            other => panic!("expected an exchange record, got {other:?}"),
        }
    }

    /// A linearizable lookup of `domain`; `None` if absent.
    pub async fn lookup(&self, domain: &str) -> Option<ExchangeRecord> {
        self.lookup_with(domain, Consistency::default()).await
    }

    /// A lookup of `domain` at `consistency` (stale: the view of the node we talk to).
    pub async fn lookup_with(&self, domain: &str, consistency: Consistency) -> Option<ExchangeRecord> {
        let req = RegistryRequest::GetExchange(GetExchange { domain: domain.into(), consistency });
        match self.request(&req).await {
            Ok(Some(RegistryResult::Exchange(x))) => Some(x),
            Err(RequestError::Remote(e))
                if e.condition == proto::error::StanzaErrorCondition::ItemNotFound =>
            {
                None
            }
            other => panic!("lookup of {domain}: {other:?}"),
        }
    }

    /// Send presence of `kind` to our root carrying `payloads`.
    pub fn presence(&self, kind: PresenceType, payloads: Vec<Element>) {
        let mut p = Presence::new(kind, self.domain.clone(), self.root.clone());
        p.payloads = payloads;
        self.xmpp.send(p.to_element()).unwrap();
    }

    /// The next inbound stanza matching `want`, skipping others; panics after `deadline`.
    pub async fn next_matching(&mut self, deadline: Duration, want: impl Fn(&Element) -> bool) -> Element {
        let until = Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.incoming.recv()).await {
                Ok(Some(inc)) if want(&inc.stanza) => return inc.stanza,
                Ok(Some(_)) => {}
                Ok(None) => panic!("transport closed"),
                Err(_) => panic!("no matching stanza within {deadline:?}"),
            }
        }
    }

    /// Every stanza received so far, without waiting.
    pub fn drain(&mut self) -> Vec<Element> {
        let mut out = Vec::new();
        while let Ok(inc) = self.incoming.try_recv() {
            out.push(inc.stanza);
        }
        out
    }
}

/// Poll `cond` every 100 ms until it holds; panics with `what` after `deadline`.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !cond().await {
        assert!(Instant::now() < until, "not within {deadline:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
