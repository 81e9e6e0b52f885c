//! TLS for S2S links: one rustls client and server configuration per node, both with the node's
//! certificate (peers are both TLS clients and servers), chain checks against the configured trust
//! anchors, and ALPN `xmpp-server` for direct TLS (XEP-0368).
//!
//! rustls verifies the *chain* (and, on the client side, that the server certificate names the
//! domain we dialled). Whether the peer's certificate names the domain it claims in the stream
//! header is checked by `proto::s2s` (RFC 6125), because only the stream says which domain that is.

use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN protocol id for direct-TLS S2S (XEP-0368).
pub const ALPN_XMPP_SERVER: &[u8] = b"xmpp-server";

/// A node's certificate chain and key.
#[derive(Debug)]
pub struct TlsIdentity {
    /// Leaf first, then intermediates.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity { cert_chain: self.cert_chain.clone(), key: self.key.clone_key() }
    }
}

/// Why TLS could not be set up from configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A trust anchor could not be parsed.
    #[error("trust anchor rejected: {0}")]
    TrustAnchor(String),
    /// No trust anchors: no peer could ever be verified.
    #[error("no trust anchors configured")]
    NoTrustAnchors,
    /// rustls refused the configuration (e.g. key does not match certificate).
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

/// The client and server configurations a node uses for every link.
#[derive(Clone, Debug)]
pub struct TlsContext {
    /// For STARTTLS links we dial.
    pub client: Arc<ClientConfig>,
    /// For direct-TLS links we dial (ALPN `xmpp-server`).
    pub client_direct: Arc<ClientConfig>,
    /// For links peers dial to us (both modes; ALPN offered for direct TLS).
    pub server: Arc<ServerConfig>,
    /// For dialback verification streams (XEP-0220 §2.3) we dial to an authoritative server
    /// whose certificate may not be usable: dialback's trust comes from DNS and the key, not TLS,
    /// so this configuration accepts any server certificate. It is used for nothing else.
    pub client_dialback: Arc<ClientConfig>,
}

/// Accepts any server certificate (signatures on the handshake are still checked). Only for
/// dialback verification streams; see [`TlsContext::client_dialback`].
#[derive(Debug)]
struct DialbackServerVerifier(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for DialbackServerVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl TlsContext {
    /// Build from the node's identity and trust anchors. `require_client_cert` is false only when
    /// dialback is accepted from peers without usable certificates.
    pub fn new(
        identity: &TlsIdentity,
        trust_anchors: &[CertificateDer<'static>],
        require_client_cert: bool,
    ) -> Result<Self, TlsSetupError> {
        if trust_anchors.is_empty() {
            return Err(TlsSetupError::NoTrustAnchors);
        }
        let mut roots = RootCertStore::empty();
        for anchor in trust_anchors {
            roots.add(anchor.clone()).map_err(|e| TlsSetupError::TrustAnchor(e.to_string()))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(default_provider());

        let client_builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots.clone()))
        };
        let client =
            client_builder()?.with_client_auth_cert(identity.cert_chain.clone(), identity.key.clone_key())?;
        let mut client_direct =
            client_builder()?.with_client_auth_cert(identity.cert_chain.clone(), identity.key.clone_key())?;
        client_direct.alpn_protocols = vec![ALPN_XMPP_SERVER.to_vec()];

        let client_dialback = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(DialbackServerVerifier(provider.clone())))
            .with_client_auth_cert(identity.cert_chain.clone(), identity.key.clone_key())?;

        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
        let verifier = if require_client_cert { verifier } else { verifier.allow_unauthenticated() };
        let verifier = verifier.build().map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(identity.cert_chain.clone(), identity.key.clone_key())?;
        server.alpn_protocols = vec![ALPN_XMPP_SERVER.to_vec()];

        Ok(TlsContext {
            client: Arc::new(client),
            client_direct: Arc::new(client_direct),
            server: Arc::new(server),
            client_dialback: Arc::new(client_dialback),
        })
    }
}
