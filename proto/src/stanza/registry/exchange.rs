//! The Exchange record: what an Intercloud Exchange publishes about itself.
//!
//! ```xml
//! <exchange xmlns='https://ns.icroot.dev/registry/0' domain='ex-a.example' organisation='Example'
//!           lease-ttl='300' lease-expires='1767225600000' created-revision='3' modified-revision='5'>
//!   <region>eu-west</region><endpoint>xmpp:ex-a.example</endpoint>
//!   <trust-anchor>…64 hex…</trust-anchor><capability>compute</capability><meta key='tier'>gold</meta>
//! </exchange>
//! ```

use std::collections::BTreeMap;

use super::bounds::{self, *};
use super::RegistryError;
use crate::ns;
use crate::stanza::{parse_attr, parse_opt_attr, required_attr};
use crate::xml::Element;

const SPEC_CHILDREN: &[&str] = &["region", "endpoint", "trust-anchor", "capability", "meta"];

/// The fields an Exchange writes (register/update replace all of them).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExchangeSpec {
    /// Operating organisation, 1..=[`MAX_ORGANISATION_BYTES`].
    pub organisation: String,
    /// Regions served: ≤ [`MAX_REGIONS`], each ≤ [`MAX_REGION_BYTES`].
    pub regions: Vec<String>,
    /// Endpoints (URIs): ≤ [`MAX_ENDPOINTS`], each ≤ [`MAX_ENDPOINT_BYTES`].
    pub endpoints: Vec<String>,
    /// SHA-256 certificate fingerprints, lowercase hex: ≤ [`MAX_TRUST_ANCHORS`].
    pub trust_anchors: Vec<String>,
    /// Capabilities: ≤ [`MAX_CAPABILITIES`], each ≤ [`MAX_CAPABILITY_BYTES`].
    pub capabilities: Vec<String>,
    /// Free key/value metadata: ≤ [`MAX_META_KEYS`] keys.
    pub metadata: BTreeMap<String, String>,
    /// Lease length: [`LEASE_TTL_SECS_MIN`]..=[`LEASE_TTL_SECS_MAX`], default
    /// [`LEASE_TTL_SECS_DEFAULT`].
    pub lease_ttl_secs: u32,
}

impl ExchangeSpec {
    /// Check every bound (parsing does this; call it on specs built in code).
    pub fn validate(&self) -> Result<(), RegistryError> {
        check_text("organisation", &self.organisation, MAX_ORGANISATION_BYTES)?;
        check_list("region", &self.regions, MAX_REGIONS, MAX_REGION_BYTES)?;
        check_list("endpoint", &self.endpoints, MAX_ENDPOINTS, MAX_ENDPOINT_BYTES)?;
        check_list("trust-anchor", &self.trust_anchors, MAX_TRUST_ANCHORS, 64)?;
        for t in &self.trust_anchors {
            if normalize_fingerprint(t)? != *t {
                return Err(bounds::invalid("trust-anchor", "must be lowercase hex"));
            }
        }
        check_list("capability", &self.capabilities, MAX_CAPABILITIES, MAX_CAPABILITY_BYTES)?;
        check_meta(&self.metadata)?;
        if !(LEASE_TTL_SECS_MIN..=LEASE_TTL_SECS_MAX).contains(&self.lease_ttl_secs) {
            return Err(bounds::invalid(
                "lease-ttl",
                format!("{} s is outside {LEASE_TTL_SECS_MIN}..={LEASE_TTL_SECS_MAX}", self.lease_ttl_secs),
            ));
        }
        let size = self.content_bytes();
        if size > MAX_RECORD_BYTES {
            return Err(bounds::invalid("record", format!("{size} bytes, at most {MAX_RECORD_BYTES}")));
        }
        Ok(())
    }

    /// The bytes of all strings in the spec (what [`MAX_RECORD_BYTES`] bounds).
    pub fn content_bytes(&self) -> usize {
        let lists = [&self.regions, &self.endpoints, &self.trust_anchors, &self.capabilities];
        self.organisation.len()
            + lists.iter().flat_map(|l| l.iter()).map(String::len).sum::<usize>()
            + self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }

    /// Read the spec's attributes and children from `el` (a request or a record), validated.
    pub(crate) fn read(el: &Element, element: &'static str) -> Result<Self, RegistryError> {
        bounds::reject_unknown_children(el, SPEC_CHILDREN)?;
        let trust_anchors = texts(el, "trust-anchor")
            .iter()
            .map(|t| normalize_fingerprint(t))
            .collect::<Result<Vec<_>, _>>()?;
        let spec = ExchangeSpec {
            organisation: required_attr(el, element, "organisation")?.to_owned(),
            regions: texts(el, "region"),
            endpoints: texts(el, "endpoint"),
            trust_anchors,
            capabilities: texts(el, "capability"),
            metadata: read_meta(el)?,
            lease_ttl_secs: parse_opt_attr(el, element, "lease-ttl")?.unwrap_or(LEASE_TTL_SECS_DEFAULT),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Write the spec's attributes and children onto `el`.
    pub(crate) fn write(&self, el: Element) -> Element {
        let mut el = el
            .with_attr("organisation", self.organisation.clone())
            .with_attr("lease-ttl", self.lease_ttl_secs.to_string());
        write_texts(&mut el, "region", &self.regions);
        write_texts(&mut el, "endpoint", &self.endpoints);
        write_texts(&mut el, "trust-anchor", &self.trust_anchors);
        write_texts(&mut el, "capability", &self.capabilities);
        write_meta(&mut el, &self.metadata);
        el
    }
}

/// A stored Exchange as the root returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeRecord {
    /// The Exchange's XMPP domain (lowercase; the identity proven by S2S authentication).
    pub domain: String,
    /// The fields the Exchange wrote.
    pub spec: ExchangeSpec,
    /// When the lease runs out, unix milliseconds (assigned by the root from the leader's clock).
    pub lease_expires_ms: u64,
    /// The registry revision that created the record.
    pub created_revision: u64,
    /// The registry revision of the last change (what compare-and-set compares).
    pub modified_revision: u64,
}

impl ExchangeRecord {
    /// The `<exchange/>` element.
    pub fn to_element(&self) -> Element {
        let el = Element::new("exchange", ns::REGISTRY).with_attr("domain", self.domain.clone());
        self.spec
            .write(el)
            .with_attr("lease-expires", self.lease_expires_ms.to_string())
            .with_attr("created-revision", self.created_revision.to_string())
            .with_attr("modified-revision", self.modified_revision.to_string())
    }

    /// Check every bound.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if normalize_domain("domain", &self.domain)? != self.domain {
            return Err(bounds::invalid("domain", "must be lowercase without a trailing dot"));
        }
        self.spec.validate()
    }
}

impl TryFrom<&Element> for ExchangeRecord {
    type Error = RegistryError;

    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        crate::stanza::expect_element(el, "exchange", ns::REGISTRY)?;
        Ok(ExchangeRecord {
            domain: normalize_domain("domain", required_attr(el, "exchange", "domain")?)?,
            spec: ExchangeSpec::read(el, "exchange")?,
            lease_expires_ms: parse_attr(el, "exchange", "lease-expires")?,
            created_revision: parse_attr(el, "exchange", "created-revision")?,
            modified_revision: parse_attr(el, "exchange", "modified-revision")?,
        })
    }
}
