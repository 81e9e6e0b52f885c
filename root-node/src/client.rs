//! The registry client the CLI (and `icroot dev`'s demo agent) uses: one S2S stream to a root
//! node as the profile's domain, requests as typed [`RegistryRequest`]s, answers as
//! [`RegistryResult`]s. The client has no listener; the root answers over the same stream (bidi).
//!
//! ```text
//!  Profile ─▶ XmppNode (no listeners, static route or SRV to the root) ─▶ request iq ─▶ result
//!                                                      retry while the root says "wait" ◀─┘
//! ```

use std::time::{Duration, Instant};

use proto::error::{StanzaError, StanzaErrorType};
use proto::stanza::registry::{RegistryError, RegistryRequest, RegistryResult};
use raft_xmpp_transport::discovery::{Discovery, Endpoint, TlsStart};
use raft_xmpp_transport::pki::{load_certs, load_key, PkiError};
use raft_xmpp_transport::tls::TlsIdentity;
use raft_xmpp_transport::{RequestError, TransportConfig, XmppNode};

use crate::profile::Profile;

/// How long one request may take, retries included.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// Pause between retries of a request the root asked us to retry (no leader yet, …).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The profile's certificate, key or CA.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The transport did not start.
    #[error("transport: {0}")]
    Start(#[from] raft_xmpp_transport::StartError),
    /// The root refused the request.
    #[error("{condition}: {}", describe(error))]
    Refused {
        /// The RFC 6120 condition (e.g. `forbidden`).
        condition: String,
        /// The registry error.
        error: RegistryError,
    },
    /// The root could not be reached or did not answer.
    #[error("{0}")]
    Transport(RequestError),
    /// The root answered something this client does not understand.
    #[error("unexpected answer from the root: {0}")]
    Unexpected(String),
    /// The command's arguments (or a local file) are not usable; nothing was sent.
    #[error("{0}")]
    Invalid(String),
}

impl ClientError {
    /// A suggestion for the user.
    pub fn hint(&self) -> &'static str {
        match self {
            ClientError::Pki(_) => "check the cert/key/ca paths in the profile (the key must be chmod 600)",
            ClientError::Start(_) => "check the profile's certificate and key",
            ClientError::Refused { error: RegistryError::NotOwner { .. } | RegistryError::NotAdmin, .. } => {
                "only the owning Exchange (or a consortium admin profile) may change this record"
            }
            ClientError::Refused { error: RegistryError::RevisionMismatch { .. }, .. } => {
                "the record changed since you read it: look it up again and retry with the new revision"
            }
            ClientError::Refused { error: RegistryError::AlreadyRegistered { .. }, .. } => {
                "the record exists: use `update` instead of `register`"
            }
            ClientError::Refused { error: RegistryError::NotFound { .. }, .. } => {
                "check the domain or id; `icroot search` lists what exists"
            }
            ClientError::Refused { condition, .. } if condition == "not-allowed" => {
                "`icroot status` shows the current members and roles"
            }
            ClientError::Refused { .. } => "see docs/protocol.md (Registry errors) for this condition",
            ClientError::Transport(_) => {
                "is the root running? check root_domain/root_address in the profile and `icroot dev`'s ready file"
            }
            ClientError::Unexpected(_) => "the root may run a different icroot version",
            ClientError::Invalid(_) => "see `icroot help <command>` and docs/cli.md",
        }
    }
}

/// A registry error for people: a stanza error without a registry element shows its text.
fn describe(e: &RegistryError) -> String {
    match e {
        RegistryError::Other(s) => s.text.clone().unwrap_or_else(|| s.to_string()),
        other => other.to_string(),
    }
}

fn refused(e: &StanzaError) -> ClientError {
    ClientError::Refused {
        condition: e.condition.as_str().to_owned(),
        error: RegistryError::from_stanza_error(e),
    }
}

/// A connected registry client.
#[derive(Debug)]
pub struct Client {
    node: XmppNode,
    domain: String,
    root: String,
}

impl Client {
    /// Start the client's transport for `profile` (the stream opens on the first request) and
    /// return the stanzas addressed to us that are not answers (notifications).
    pub fn connect_with_incoming(
        profile: &Profile,
    ) -> Result<(Self, tokio::sync::mpsc::Receiver<raft_xmpp_transport::Incoming>), ClientError> {
        let identity = TlsIdentity { cert_chain: load_certs(&profile.cert)?, key: load_key(&profile.key)? };
        let mut cfg = TransportConfig::new(profile.domain.clone(), identity, load_certs(&profile.ca)?);
        cfg.connect_timeout = Duration::from_secs(5);
        let mut discovery = if profile.nameservers.is_empty() && profile.root_address.is_some() {
            Discovery::with_nameservers(&[], 0)
        } else if profile.nameservers.is_empty() {
            Discovery::from_system(0)
                .map_err(|e| ClientError::Transport(RequestError::Unreachable(e.to_string())))?
        } else {
            Discovery::with_nameservers(&profile.nameservers, 0)
        };
        for (domain, address) in profile.roots() {
            if let Some((host, port)) = address {
                let ep = Endpoint { host, port, tls: TlsStart::StartTls };
                discovery.add_static_route(&domain, vec![ep]);
            }
        }
        let (node, incoming) = XmppNode::start(cfg, Vec::new(), discovery)?;
        Ok((Client { node, domain: profile.domain.clone(), root: profile.root_domain.clone() }, incoming))
    }

    /// Start the client's transport for `profile`; nothing but answers is expected.
    pub fn connect(profile: &Profile) -> Result<Self, ClientError> {
        let (client, mut incoming) = Self::connect_with_incoming(profile)?;
        // Nothing is addressed to a CLI but answers (matched by the transport); drain the rest.
        tokio::spawn(async move { while incoming.recv().await.is_some() {} });
        Ok(client)
    }

    /// The transport (`icroot watch`, raw requests in tests).
    pub fn node(&self) -> &XmppNode {
        &self.node
    }

    /// The root domain requests go to.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Our domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Send `req` and wait for the answer, retrying while the root asks us to wait.
    pub async fn request(&self, req: &RegistryRequest) -> Result<Option<RegistryResult>, ClientError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let id = next_request_id();
            let iq = req.to_iq(id, self.domain.clone(), self.root.clone()).to_element();
            let left = REQUEST_DEADLINE.saturating_sub(started.elapsed());
            let retry = match self.node.request(iq, left.max(Duration::from_millis(100))).await {
                Ok(answer) => {
                    return match answer.children().next() {
                        None => Ok(None),
                        Some(p) => RegistryResult::try_from(p)
                            .map(Some)
                            .map_err(|e| ClientError::Unexpected(e.to_string())),
                    };
                }
                Err(RequestError::Remote(e)) if e.kind == StanzaErrorType::Wait => refused(&e),
                Err(RequestError::Remote(e)) => return Err(refused(&e)),
                Err(e @ (RequestError::Unreachable(_) | RequestError::Network(_))) => {
                    ClientError::Transport(e)
                }
                Err(e) => return Err(ClientError::Transport(e)),
            };
            if started.elapsed() + RETRY_PAUSE >= REQUEST_DEADLINE {
                return Err(retry);
            }
            tracing::debug!(error = %retry, attempt, "retrying");
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Send one iq of `kind` carrying `payload` (no retries) and return the answer's payload.
    pub async fn iq(
        &self,
        kind: proto::stanza::envelope::IqType,
        payload: proto::xml::Element,
        deadline: Duration,
    ) -> Result<Option<proto::xml::Element>, ClientError> {
        let id = next_request_id();
        let iq =
            proto::stanza::envelope::Iq::request(kind, id, self.domain.clone(), self.root.clone(), payload);
        match self.node.request(iq.to_element(), deadline).await {
            Ok(answer) => Ok(answer.children().next().cloned()),
            Err(RequestError::Remote(e)) => Err(refused(&e)),
            Err(e) => Err(ClientError::Transport(e)),
        }
    }

    /// Send `req` once and wait at most `deadline` for the answer: no retry, so a refusal is the
    /// root's answer to this very request (what a tester needs to tell "did not happen" from
    /// "unknown"; [`Client::request`]'s retries make a compare-and-set mismatch ambiguous).
    pub async fn request_once(
        &self,
        req: &RegistryRequest,
        deadline: Duration,
    ) -> Result<Option<RegistryResult>, ClientError> {
        let iq = req.to_iq(next_request_id(), self.domain.clone(), self.root.clone()).to_element();
        match self.node.request(iq, deadline).await {
            Ok(answer) => match answer.children().next() {
                None => Ok(None),
                Some(p) => {
                    RegistryResult::try_from(p).map(Some).map_err(|e| ClientError::Unexpected(e.to_string()))
                }
            },
            Err(RequestError::Remote(e)) => Err(refused(&e)),
            Err(e) => Err(ClientError::Transport(e)),
        }
    }

    /// Close the stream.
    pub async fn close(self) {
        self.node.shutdown().await;
    }
}

/// A request id unique within this process (several requests may be in flight on one client).
fn next_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("icroot-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
