//! Typed registry write and read requests (one per `<iq/>` payload).
//!
//! Writes may name another Exchange with `domain='…'` (administrators only: the root checks,
//! this layer only carries it) and may carry `expected-revision='N'` for compare-and-set.

use super::bounds::{check_cloud_id, normalize_domain};
use super::{CloudSpec, ExchangeSpec, RegistryError};
use crate::ns;
use crate::stanza::{parse_opt_attr, required_attr};
use crate::xml::Element;

/// Read consistency (`consistency` attribute on reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Consistency {
    /// The leader confirms it still leads before answering (the default).
    #[default]
    Linearizable,
    /// Any member answers from its applied state; may lag (`consistency='stale'`).
    Stale,
}

impl Consistency {
    pub(crate) fn read(el: &Element, element: &'static str) -> Result<Self, RegistryError> {
        match el.attr("consistency") {
            None | Some("linearizable") => Ok(Consistency::Linearizable),
            Some("stale") => Ok(Consistency::Stale),
            Some(v) => Err(crate::stanza::ParseError::InvalidAttr {
                element,
                attr: "consistency",
                value: v.to_owned(),
            }
            .into()),
        }
    }

    /// The attribute value written (`None` for the default).
    pub(crate) fn as_attr(self) -> Option<&'static str> {
        match self {
            Consistency::Linearizable => None,
            Consistency::Stale => Some("stale"),
        }
    }
}

fn opt_domain(el: &Element) -> Result<Option<String>, RegistryError> {
    el.attr("domain").map(|d| normalize_domain("domain", d)).transpose()
}

fn cloud_id(el: &Element, element: &'static str) -> Result<String, RegistryError> {
    let id = required_attr(el, element, "id")?;
    check_cloud_id(id)?;
    Ok(id.to_owned())
}

fn base(name: &str, domain: &Option<String>) -> Element {
    Element::new(name, ns::REGISTRY).with_opt_attr("domain", domain.clone())
}

fn with_rev(el: Element, rev: Option<u64>) -> Element {
    el.with_opt_attr("expected-revision", rev.map(|r| r.to_string()))
}

macro_rules! request {
    ($(#[$m:meta])* $ty:ident = $wire:literal { $($(#[$fm:meta])* $field:ident : $fty:ty,)* }
     read($el:ident) $read:block write($s:ident) $write:block) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $ty { $($(#[$fm])* pub $field: $fty,)* }

        impl $ty {
            /// The element name on the wire.
            pub const NAME: &'static str = $wire;

            /// The payload element.
            pub fn to_element(&self) -> Element {
                let $s = self;
                $write
            }
        }

        impl TryFrom<&Element> for $ty {
            type Error = RegistryError;
            fn try_from($el: &Element) -> Result<Self, RegistryError> {
                crate::stanza::expect_element($el, $wire, ns::REGISTRY)?;
                $read
            }
        }
    };
}

request! {
    /// Create the Exchange record of the sender (or of `domain`, admins only).
    RegisterExchange = "register-exchange" {
        /// Another Exchange to act for (admins only); `None` means the sender's domain.
        domain: Option<String>,
        /// The fields to store.
        spec: ExchangeSpec,
    }
    read(el) { Ok(RegisterExchange { domain: opt_domain(el)?, spec: ExchangeSpec::read(el, Self::NAME)? }) }
    write(s) { s.spec.write(base(Self::NAME, &s.domain)) }
}

request! {
    /// Replace the writable fields of an Exchange record.
    UpdateExchange = "update-exchange" {
        /// Another Exchange to act for (admins only).
        domain: Option<String>,
        /// Compare-and-set: fail unless the record's modified revision equals this.
        expected_revision: Option<u64>,
        /// The new fields.
        spec: ExchangeSpec,
    }
    read(el) {
        Ok(UpdateExchange {
            domain: opt_domain(el)?,
            expected_revision: parse_opt_attr(el, Self::NAME, "expected-revision")?,
            spec: ExchangeSpec::read(el, Self::NAME)?,
        })
    }
    write(s) { s.spec.write(with_rev(base(Self::NAME, &s.domain), s.expected_revision)) }
}

request! {
    /// Remove an Exchange record (and, at the root's discretion, its Clouds).
    DeregisterExchange = "deregister-exchange" {
        /// Another Exchange to act for (admins only).
        domain: Option<String>,
        /// Compare-and-set revision.
        expected_revision: Option<u64>,
    }
    read(el) {
        Ok(DeregisterExchange {
            domain: opt_domain(el)?,
            expected_revision: parse_opt_attr(el, Self::NAME, "expected-revision")?,
        })
    }
    write(s) { with_rev(base(Self::NAME, &s.domain), s.expected_revision) }
}

request! {
    /// Extend an Exchange's lease by its `lease-ttl` from the leader's clock.
    RenewLease = "renew-lease" {
        /// Another Exchange to act for (admins only).
        domain: Option<String>,
    }
    read(el) { Ok(RenewLease { domain: opt_domain(el)? }) }
    write(s) { base(Self::NAME, &s.domain) }
}

request! {
    /// Create a Cloud owned by the sender (or by `domain`, admins only).
    RegisterCloud = "register-cloud" {
        /// Owner to act for (admins only).
        domain: Option<String>,
        /// The new Cloud's id.
        id: String,
        /// The fields to store.
        spec: CloudSpec,
    }
    read(el) {
        Ok(RegisterCloud { domain: opt_domain(el)?, id: cloud_id(el, Self::NAME)?, spec: CloudSpec::read(el)? })
    }
    write(s) { s.spec.write(base(Self::NAME, &s.domain).with_attr("id", s.id.clone())) }
}

request! {
    /// Replace the writable fields of a Cloud.
    UpdateCloud = "update-cloud" {
        /// Owner to act for (admins only).
        domain: Option<String>,
        /// The Cloud's id.
        id: String,
        /// Compare-and-set revision.
        expected_revision: Option<u64>,
        /// The new fields.
        spec: CloudSpec,
    }
    read(el) {
        Ok(UpdateCloud {
            domain: opt_domain(el)?,
            id: cloud_id(el, Self::NAME)?,
            expected_revision: parse_opt_attr(el, Self::NAME, "expected-revision")?,
            spec: CloudSpec::read(el)?,
        })
    }
    write(s) {
        s.spec.write(with_rev(base(Self::NAME, &s.domain).with_attr("id", s.id.clone()), s.expected_revision))
    }
}

request! {
    /// Remove a Cloud.
    DeregisterCloud = "deregister-cloud" {
        /// Owner to act for (admins only).
        domain: Option<String>,
        /// The Cloud's id.
        id: String,
        /// Compare-and-set revision.
        expected_revision: Option<u64>,
    }
    read(el) {
        Ok(DeregisterCloud {
            domain: opt_domain(el)?,
            id: cloud_id(el, Self::NAME)?,
            expected_revision: parse_opt_attr(el, Self::NAME, "expected-revision")?,
        })
    }
    write(s) { with_rev(base(Self::NAME, &s.domain).with_attr("id", s.id.clone()), s.expected_revision) }
}

request! {
    /// Read one Exchange record.
    GetExchange = "get-exchange" {
        /// The Exchange's domain.
        domain: String,
        /// Linearizable (default) or stale.
        consistency: Consistency,
    }
    read(el) {
        Ok(GetExchange {
            domain: normalize_domain("domain", required_attr(el, Self::NAME, "domain")?)?,
            consistency: Consistency::read(el, Self::NAME)?,
        })
    }
    write(s) {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_attr("domain", s.domain.clone())
            .with_opt_attr("consistency", s.consistency.as_attr())
    }
}

request! {
    /// Read one Cloud record.
    GetCloud = "get-cloud" {
        /// The Cloud's id.
        id: String,
        /// Linearizable (default) or stale.
        consistency: Consistency,
    }
    read(el) { Ok(GetCloud { id: cloud_id(el, Self::NAME)?, consistency: Consistency::read(el, Self::NAME)? }) }
    write(s) {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_attr("id", s.id.clone())
            .with_opt_attr("consistency", s.consistency.as_attr())
    }
}
