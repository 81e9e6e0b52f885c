//! A client profile: who the CLI speaks as (an Exchange's or an administrator's domain, with
//! its certificate and key) and which root node it talks to. TOML, unknown keys rejected;
//! relative paths are relative to the profile file. See docs/cli.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The profile file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    /// The XMPP domain the CLI authenticates as (named by `cert`).
    pub domain: String,
    /// PEM certificate chain for `domain`.
    pub cert: PathBuf,
    /// PEM private key (not readable by other users).
    pub key: PathBuf,
    /// PEM CA certificate(s) the root's chain must lead to.
    pub ca: PathBuf,
    /// The root node's XMPP domain requests are addressed to.
    pub root_domain: String,
    /// `host:port` of the root's STARTTLS listener; without it the root domain is resolved by
    /// SRV (through `nameservers`, or the system's resolver).
    #[serde(default)]
    pub root_address: Option<String>,
    /// DNS servers for SRV lookups when `root_address` is absent.
    #[serde(default)]
    pub nameservers: Vec<SocketAddr>,
}

/// A checked profile with absolute paths.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Our domain.
    pub domain: String,
    /// Certificate file.
    pub cert: PathBuf,
    /// Key file.
    pub key: PathBuf,
    /// CA file.
    pub ca: PathBuf,
    /// The root's domain.
    pub root_domain: String,
    /// The root's address, if fixed.
    pub root_address: Option<(String, u16)>,
    /// DNS servers (empty: the system's).
    pub nameservers: Vec<SocketAddr>,
}

impl Profile {
    /// Read and check a profile file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let raw: RawProfile = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_raw(raw, base)
    }

    /// Check `raw`, resolving relative paths against `base`.
    pub fn from_raw(raw: RawProfile, base: &Path) -> Result<Self, ConfigError> {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let root_address = match raw.root_address {
            None => None,
            Some(a) => {
                let (host, port) = a.rsplit_once(':').ok_or(ConfigError::Invalid {
                    field: "root_address",
                    reason: format!("`{a}` is not host:port"),
                })?;
                let port = port.parse().map_err(|_| ConfigError::Invalid {
                    field: "root_address",
                    reason: format!("`{a}` has no valid port"),
                })?;
                Some((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port))
            }
        };
        Ok(Profile {
            domain: crate::config::domain("domain", &raw.domain)?,
            cert: abs(raw.cert),
            key: abs(raw.key),
            ca: abs(raw.ca),
            root_domain: crate::config::domain("root_domain", &raw.root_domain)?,
            root_address,
            nameservers: raw.nameservers,
        })
    }
}
