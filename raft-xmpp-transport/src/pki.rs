//! Certificates: loading the PEM files an operator configures, and a small CA for local clusters
//! (`icroot dev`, the compose deployment, tests) that issues S2S certificates the way peers need
//! them: the XMPP domain as SAN dNSName, usable for both TLS server and TLS client auth.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::tls::TlsIdentity;

/// Why certificates or keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file held no usable PEM object.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A private key file may be read by every user.
    #[error("{0}: private key is readable by other users (mode {1:o}); run `chmod 600` on it")]
    WorldReadableKey(PathBuf, u32),
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
}

/// Load every certificate in a PEM file (a chain: leaf first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| PkiError::Pem { path: path.to_owned(), reason: e.to_string() })?;
    let certs: Vec<_> = iter
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Pem { path: path.to_owned(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(PkiError::Pem { path: path.to_owned(), reason: "no CERTIFICATE block".into() });
    }
    Ok(certs)
}

/// Load a private key from a PEM file, refusing a file other users can read.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    let meta = std::fs::metadata(path).map_err(|source| PkiError::Io { path: path.to_owned(), source })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(PkiError::WorldReadableKey(path.to_owned(), mode));
    }
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| PkiError::Pem { path: path.to_owned(), reason: e.to_string() })
}

/// A certificate and key as PEM text, ready to write to files.
#[derive(Clone, Debug)]
pub struct IssuedPem {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

/// A certificate authority for local and test clusters.
pub struct DevCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

impl DevCa {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Result<Self, PkiError> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let cert = params.self_signed(&key).map_err(gen_err)?;
        Ok(DevCa {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        })
    }

    /// Load a CA saved with [`DevCa::save`].
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| PkiError::Io { path: p.to_owned(), source })
        };
        let cert_pem = read(cert_path)?;
        let key = rcgen::KeyPair::from_pem(&read(key_path)?).map_err(gen_err)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&cert_pem, key).map_err(gen_err)?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| PkiError::Pem { path: cert_path.to_owned(), reason: e.to_string() })?;
        Ok(DevCa { issuer, cert_der, cert_pem })
    }

    /// Write the CA certificate and key (key mode 0600).
    pub fn save(&self, cert_path: &Path, key_path: &Path) -> Result<(), PkiError> {
        write_file(cert_path, &self.cert_pem, 0o644)?;
        write_file(key_path, &self.issuer.key().serialize_pem(), 0o600)
    }

    /// The CA certificate (the trust anchor peers configure).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for `domain`, valid from now for about ten years.
    pub fn issue(&self, domain: &str) -> Result<(TlsIdentity, IssuedPem), PkiError> {
        self.issue_with(domain, |_| {})
    }

    /// A certificate for `domain` that expired long ago (tests of refusal).
    pub fn issue_expired(&self, domain: &str) -> Result<(TlsIdentity, IssuedPem), PkiError> {
        self.issue_with(domain, |p| {
            p.not_before = rcgen::date_time_ymd(2000, 1, 1);
            p.not_after = rcgen::date_time_ymd(2001, 1, 1);
        })
    }

    fn issue_with(
        &self,
        domain: &str,
        tweak: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> Result<(TlsIdentity, IssuedPem), PkiError> {
        let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(gen_err)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, domain);
        params.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        tweak(&mut params);
        let key = rcgen::KeyPair::generate().map_err(gen_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        let identity = TlsIdentity {
            cert_chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        };
        Ok((identity, IssuedPem { cert_pem: cert.pem(), key_pem: key.serialize_pem() }))
    }
}

/// Write `text` to `path` with `mode`, creating parent directories.
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    let io = |source| PkiError::Io { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_save_load_round_trip_and_key_permissions() {
        let dir = std::env::temp_dir().join(format!("icroot-pki-{}", std::process::id()));
        let ca = DevCa::new("test CA").unwrap();
        ca.save(&dir.join("ca.pem"), &dir.join("ca.key")).unwrap();
        let again = DevCa::load(&dir.join("ca.pem"), &dir.join("ca.key")).unwrap();
        let (_, pem) = again.issue("node.example").unwrap();
        write_file(&dir.join("n.pem"), &pem.cert_pem, 0o644).unwrap();
        write_file(&dir.join("n.key"), &pem.key_pem, 0o644).unwrap();
        assert_eq!(load_certs(&dir.join("n.pem")).unwrap().len(), 1);
        assert!(matches!(load_key(&dir.join("n.key")), Err(PkiError::WorldReadableKey(_, 0o644))));
        std::fs::set_permissions(dir.join("n.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_key(&dir.join("n.key")).is_ok());
        assert!(matches!(load_certs(&dir.join("n.key")), Err(PkiError::Pem { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
