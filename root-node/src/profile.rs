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
    /// Other root nodes `icroot watch` moves to when the root it watches is lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_roots: Vec<RawRoot>,
}

/// A further root node: its domain and, optionally, its `host:port` (else SRV).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoot {
    /// The root node's XMPP domain.
    pub domain: String,
    /// `host:port` of its STARTTLS listener.
    #[serde(default)]
    pub address: Option<String>,
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
    /// Further root nodes (domain, fixed address) for `icroot watch` failover.
    pub fallback_roots: Vec<(String, Option<(String, u16)>)>,
}

fn host_port(field: &'static str, a: &str) -> Result<(String, u16), ConfigError> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or(ConfigError::Invalid { field, reason: format!("`{a}` is not host:port") })?;
    let port = port
        .parse()
        .map_err(|_| ConfigError::Invalid { field, reason: format!("`{a}` has no valid port") })?;
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port))
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

    /// The profile's root followed by its fallback roots.
    pub fn roots(&self) -> Vec<(String, Option<(String, u16)>)> {
        let mut all = vec![(self.root_domain.clone(), self.root_address.clone())];
        all.extend(self.fallback_roots.iter().cloned());
        all
    }

    /// Check `raw`, resolving relative paths against `base`.
    pub fn from_raw(raw: RawProfile, base: &Path) -> Result<Self, ConfigError> {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let root_address = raw.root_address.as_deref().map(|a| host_port("root_address", a)).transpose()?;
        let mut fallback_roots = Vec::new();
        for r in &raw.fallback_roots {
            let address = r.address.as_deref().map(|a| host_port("fallback_roots.address", a)).transpose()?;
            fallback_roots.push((crate::config::domain("fallback_roots.domain", &r.domain)?, address));
        }
        Ok(Profile {
            domain: crate::config::domain("domain", &raw.domain)?,
            cert: abs(raw.cert),
            key: abs(raw.key),
            ca: abs(raw.ca),
            root_domain: crate::config::domain("root_domain", &raw.root_domain)?,
            root_address,
            nameservers: raw.nameservers,
            fallback_roots,
        })
    }
}

/// The profile a client command runs with, or `None` after telling the user on stderr why
/// there is none (no `--profile`, or a file that does not load); callers exit with 2.
pub fn load_for_command(path: Option<&Path>) -> Option<Profile> {
    let Some(path) = path else {
        eprintln!("error: this command needs --profile FILE");
        eprintln!("hint: `icroot dev` writes profiles to ./icroot-dev/profiles/");
        return None;
    };
    match Profile::load(path) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("hint: see docs/cli.md for the profile format");
            None
        }
    }
}
