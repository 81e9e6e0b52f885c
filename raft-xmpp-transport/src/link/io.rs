//! The byte stream under a link: plain TCP until TLS starts, then TLS over it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use proto::s2s::{TlsInfo, TlsRole};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::tls::TlsContext;

/// Anything a link can run over.
pub(crate) trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream for T {}

/// A boxed link stream.
pub(crate) type BoxStream = Box<dyn AsyncStream>;

/// Replays bytes that were read before TLS started (a peer that sent its ClientHello right
/// behind `<starttls/>`), then reads from the inner stream.
struct Prefixed {
    prefix: Vec<u8>,
    offset: usize,
    inner: BoxStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.offset < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.offset);
            let start = self.offset;
            buf.put_slice(&self.prefix[start..start + n]);
            self.offset += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why the TLS handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The remote domain is not a valid TLS server name.
    #[error("'{0}' is not a valid TLS server name")]
    BadName(String),
    /// The handshake failed (certificate rejected, protocol error, connection lost).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
}

/// Run the TLS handshake over `stream` in `role`, with `early` bytes already read from the peer.
/// `server_name` is the domain we dialled (client role only).
pub(crate) async fn upgrade(
    stream: BoxStream,
    early: Vec<u8>,
    role: TlsRole,
    tls: &TlsContext,
    direct: bool,
    server_name: &str,
    dialback_verification: bool,
) -> Result<(BoxStream, TlsInfo), TlsFailure> {
    let inner = Prefixed { prefix: early, offset: 0, inner: stream };
    match role {
        TlsRole::Server => {
            let acceptor = TlsAcceptor::from(tls.server.clone());
            let s = acceptor.accept(inner).await.map_err(TlsFailure::Handshake)?;
            let info = tls_info(s.get_ref().1.peer_certificates());
            Ok((Box::new(s), info))
        }
        _ => {
            let config = if dialback_verification {
                tls.client_dialback.clone()
            } else if direct {
                tls.client_direct.clone()
            } else {
                tls.client.clone()
            };
            let name = ServerName::try_from(server_name.to_owned())
                .map_err(|_| TlsFailure::BadName(server_name.to_owned()))?;
            let connector = TlsConnector::from(Arc::clone(&config));
            let s = connector.connect(name, inner).await.map_err(TlsFailure::Handshake)?;
            let mut info = tls_info(s.get_ref().1.peer_certificates());
            // That configuration checked nothing: say so to the state machine.
            info.chain_verified &= !dialback_verification;
            Ok((Box::new(s), info))
        }
    }
}

/// rustls only completes a handshake whose presented chain verified against our anchors, so a
/// presented certificate is a verified one.
fn tls_info(certs: Option<&[rustls_pki_types::CertificateDer<'static>]>) -> TlsInfo {
    let peer_certs = certs.map(<[_]>::to_vec).unwrap_or_default();
    TlsInfo { chain_verified: !peer_certs.is_empty(), peer_certs }
}
