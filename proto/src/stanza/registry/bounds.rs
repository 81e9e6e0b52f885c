//! Every bound the registry enforces on parse, and the checks. A violation is
//! [`RegistryError::InvalidField`] naming the wire field (answered as `not-acceptable`).
//!
//! Strings are counted in UTF-8 bytes. Lists keep their order, may not repeat an entry and may
//! not contain empty strings or ASCII control characters.

use std::collections::{BTreeMap, HashSet};

use super::RegistryError;
use crate::ns;
use crate::xml::Element;

/// Longest Exchange domain or root node domain (a DNS name).
pub const MAX_DOMAIN_BYTES: usize = 253;
/// Longest organisation name.
pub const MAX_ORGANISATION_BYTES: usize = 256;
/// Longest region name.
pub const MAX_REGION_BYTES: usize = 64;
/// Most regions per record.
pub const MAX_REGIONS: usize = 32;
/// Longest endpoint (a URI).
pub const MAX_ENDPOINT_BYTES: usize = 512;
/// Most endpoints per Exchange.
pub const MAX_ENDPOINTS: usize = 16;
/// Most trust anchors per Exchange; each is exactly 64 hex digits (a SHA-256 fingerprint).
pub const MAX_TRUST_ANCHORS: usize = 16;
/// Longest capability name.
pub const MAX_CAPABILITY_BYTES: usize = 64;
/// Most capabilities per Exchange.
pub const MAX_CAPABILITIES: usize = 64;
/// Longest service name.
pub const MAX_SERVICE_BYTES: usize = 64;
/// Most services per Cloud.
pub const MAX_SERVICES: usize = 32;
/// Most metadata keys per record.
pub const MAX_META_KEYS: usize = 64;
/// Longest metadata key.
pub const MAX_META_KEY_BYTES: usize = 64;
/// Longest metadata value.
pub const MAX_META_VALUE_BYTES: usize = 1024;
/// Largest record: the sum of the bytes of all its strings (field `record`).
pub const MAX_RECORD_BYTES: usize = 16 * 1024;
/// Longest Cloud id; ids use `A-Z a-z 0-9 . _ : / -` only.
pub const MAX_CLOUD_ID_BYTES: usize = 128;
/// Shortest lease an Exchange may ask for.
pub const LEASE_TTL_SECS_MIN: u32 = 5;
/// Longest lease an Exchange may ask for (one day).
pub const LEASE_TTL_SECS_MAX: u32 = 86_400;
/// The lease when a register request names none.
pub const LEASE_TTL_SECS_DEFAULT: u32 = 300;
/// Search page size when the request names none.
pub const SEARCH_LIMIT_DEFAULT: u32 = 50;
/// Largest search page. The root also ends a page early to keep the answer under the S2S
/// stanza limit, and says so with a `next` cursor.
pub const SEARCH_LIMIT_MAX: u32 = 200;
/// Longest search cursor (`after`).
pub const MAX_CURSOR_BYTES: usize = 512;
/// Clouds one Exchange may own (a quota: `resource-constraint` + `<quota-exceeded what='clouds'/>`).
pub const MAX_CLOUDS_PER_EXCHANGE: usize = 100;

/// Build the error for `field`.
pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::InvalidField { field: field.to_owned(), reason: reason.into() }
}

/// A non-empty string of at most `max` bytes without control characters.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<(), RegistryError> {
    if value.is_empty() {
        return Err(invalid(field, "empty"));
    }
    if value.len() > max {
        return Err(invalid(field, format!("{} bytes, at most {max}", value.len())));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "contains a control character"));
    }
    Ok(())
}

/// A list of at most `max_items` distinct entries, each checked by [`check_text`].
pub(crate) fn check_list(
    field: &str,
    items: &[String],
    max_items: usize,
    max_each: usize,
) -> Result<(), RegistryError> {
    if items.len() > max_items {
        return Err(invalid(field, format!("{} entries, at most {max_items}", items.len())));
    }
    let mut seen = HashSet::new();
    for item in items {
        check_text(field, item, max_each)?;
        if !seen.insert(item.as_str()) {
            return Err(invalid(field, format!("{item:?} appears twice")));
        }
    }
    Ok(())
}

/// Metadata: at most [`MAX_META_KEYS`] keys, each key and value checked.
pub(crate) fn check_meta(meta: &BTreeMap<String, String>) -> Result<(), RegistryError> {
    if meta.len() > MAX_META_KEYS {
        return Err(invalid("meta", format!("{} keys, at most {MAX_META_KEYS}", meta.len())));
    }
    for (k, v) in meta {
        check_text("meta", k, MAX_META_KEY_BYTES)?;
        if v.len() > MAX_META_VALUE_BYTES {
            return Err(invalid(
                "meta",
                format!("value of {k:?} is {} bytes, at most {MAX_META_VALUE_BYTES}", v.len()),
            ));
        }
    }
    Ok(())
}

/// An ASCII DNS name, lowercased: RFC 1123 labels (letters, digits, inner `-`), at most
/// [`MAX_DOMAIN_BYTES`], a trailing dot dropped. Domains are registry keys, so case must not
/// create two records for one Exchange.
pub fn normalize_domain(field: &str, value: &str) -> Result<String, RegistryError> {
    let d = value.strip_suffix('.').unwrap_or(value);
    check_text(field, d, MAX_DOMAIN_BYTES)?;
    // RFC 1123 host labels: 1..=63 letters, digits and hyphens, not starting or ending with one.
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !d.split('.').all(label_ok) {
        return Err(invalid(field, format!("{value:?} is not a DNS domain name")));
    }
    Ok(d.to_ascii_lowercase())
}

/// A SHA-256 certificate fingerprint: 64 hex digits, lowercased.
pub(crate) fn normalize_fingerprint(value: &str) -> Result<String, RegistryError> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("trust-anchor", "not 64 hex digits (a SHA-256 fingerprint)"));
    }
    Ok(value.to_ascii_lowercase())
}

/// A Cloud id: 1..=[`MAX_CLOUD_ID_BYTES`] of `A-Z a-z 0-9 . _ : / -`.
pub(crate) fn check_cloud_id(value: &str) -> Result<(), RegistryError> {
    check_text("id", value, MAX_CLOUD_ID_BYTES)?;
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b)) {
        return Err(invalid("id", "only A-Z a-z 0-9 . _ : / - are allowed"));
    }
    Ok(())
}

/// The text of every `<name xmlns=REGISTRY/>` child, in order.
pub(crate) fn texts(el: &Element, name: &str) -> Vec<String> {
    el.children().filter(|c| c.is(name, ns::REGISTRY)).map(Element::text).collect()
}

/// The `<meta key='…'>value</meta>` children; a repeated key is an error.
pub(crate) fn read_meta(el: &Element) -> Result<BTreeMap<String, String>, RegistryError> {
    let mut meta = BTreeMap::new();
    for m in el.children().filter(|c| c.is("meta", ns::REGISTRY)) {
        let key = m.attr("key").ok_or_else(|| invalid("meta", "a <meta/> lacks its key attribute"))?;
        if meta.insert(key.to_owned(), m.text()).is_some() {
            return Err(invalid("meta", format!("key {key:?} appears twice")));
        }
        if meta.len() > MAX_META_KEYS {
            // Stop early: a flood of keys should not be collected before it is refused.
            return Err(invalid("meta", format!("more than {MAX_META_KEYS} keys")));
        }
    }
    Ok(meta)
}

/// Append `<name>text</name>` children.
pub(crate) fn write_texts(el: &mut Element, name: &str, items: &[String]) {
    for i in items {
        el.append_child(Element::new(name, ns::REGISTRY).with_text(i.clone()));
    }
}

/// Append `<meta key='…'>value</meta>` children.
pub(crate) fn write_meta(el: &mut Element, meta: &BTreeMap<String, String>) {
    for (k, v) in meta {
        el.append_child(Element::new("meta", ns::REGISTRY).with_attr("key", k.clone()).with_text(v.clone()));
    }
}

/// Reject a child in our namespace that the element does not define (a typo would otherwise
/// be silently dropped); children in other namespaces are extensions and are ignored.
pub(crate) fn reject_unknown_children(el: &Element, known: &[&str]) -> Result<(), RegistryError> {
    match el.children().find(|c| c.ns() == ns::REGISTRY && !known.contains(&c.name())) {
        Some(c) => Err(RegistryError::Malformed {
            detail: format!("<{}/> does not define a <{}/> child", el.name(), c.name()),
        }),
        None => Ok(()),
    }
}
