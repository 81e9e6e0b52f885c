//! RFC 7622 addresses, split and length-checked (no PRECIS/IDNA mapping: root nodes and
//! Exchanges are ASCII DNS domains, and domains compare ASCII-case-insensitively).

use std::fmt;

/// The largest localpart, domainpart or resourcepart, in bytes (RFC 7622 §3.2–3.4).
pub const MAX_JID_PART_BYTES: usize = 1023;

/// Why a string is not a valid JID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidError {
    /// The domainpart is empty.
    #[error("the domainpart is empty")]
    EmptyDomain,
    /// `@` with nothing before it.
    #[error("the localpart is empty")]
    EmptyLocal,
    /// `/` with nothing after it.
    #[error("the resourcepart is empty")]
    EmptyResource,
    /// A part is longer than [`MAX_JID_PART_BYTES`].
    #[error("the {part} is {len} bytes long (at most {MAX_JID_PART_BYTES})")]
    TooLong {
        /// `localpart`, `domainpart` or `resourcepart`.
        part: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// A parsed `[local@]domain[/resource]` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jid {
    /// The localpart, if any.
    pub local: Option<String>,
    /// The domainpart (a trailing dot is removed, RFC 7622 §3.2).
    pub domain: String,
    /// The resourcepart, if any.
    pub resource: Option<String>,
}

fn check_len(part: &'static str, s: &str) -> Result<(), JidError> {
    if s.len() > MAX_JID_PART_BYTES {
        Err(JidError::TooLong { part, len: s.len() })
    } else {
        Ok(())
    }
}

impl Jid {
    /// Split and validate: the resource starts at the first `/`, the localpart ends at the first
    /// `@` before it (RFC 7622 §3.1).
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        let (rest, resource) = match s.split_once('/') {
            Some((_, "")) => return Err(JidError::EmptyResource),
            Some((rest, r)) => (rest, Some(r)),
            None => (s, None),
        };
        let (local, domain) = match rest.split_once('@') {
            Some(("", _)) => return Err(JidError::EmptyLocal),
            Some((l, d)) => (Some(l), d),
            None => (None, rest),
        };
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if domain.is_empty() {
            return Err(JidError::EmptyDomain);
        }
        check_len("domainpart", domain)?;
        if let Some(l) = local {
            check_len("localpart", l)?;
        }
        if let Some(r) = resource {
            check_len("resourcepart", r)?;
        }
        Ok(Jid {
            local: local.map(str::to_owned),
            domain: domain.to_owned(),
            resource: resource.map(str::to_owned),
        })
    }

    /// Whether this address is a bare domain (what root nodes and Exchanges use).
    pub fn is_domain(&self) -> bool {
        self.local.is_none() && self.resource.is_none()
    }

    /// Whether the domainparts are equal, ignoring ASCII case.
    pub fn same_domain(&self, other: &Jid) -> bool {
        self.domain.eq_ignore_ascii_case(&other.domain)
    }

    /// Whether `domain` names this address's domain, ignoring ASCII case and a trailing dot.
    pub fn in_domain(&self, domain: &str) -> bool {
        self.domain.eq_ignore_ascii_case(domain.strip_suffix('.').unwrap_or(domain))
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.local {
            write!(f, "{l}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(r) = &self.resource {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jid::parse(s)
    }
}
