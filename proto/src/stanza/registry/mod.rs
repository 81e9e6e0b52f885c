//! The Intercloud registry protocol (namespace [`ns::REGISTRY`]): requests carried in
//! `<iq/>`, their results, and the errors.
//!
//! ```text
//!  <iq type='set|get'> ─▶ RegistryRequest::from_iq ─▶ root handler ─▶ RegistryResult ─▶ <iq type='result'>
//!                                                                 └─▶ RegistryError  ─▶ <iq type='error'>
//! ```
//!
//! Every parse validates field bounds ([`bounds`]) and answers a violation with
//! [`RegistryError::InvalidField`]; structural problems are [`RegistryError::Malformed`].
//! Who may do what (owners, admins) is the root's decision, not this layer's.

pub mod bounds;
mod cloud;
mod cluster;
mod error;
mod exchange;
mod requests;
mod search;

pub use cloud::{CloudRecord, CloudSpec};
pub use cluster::{
    AddLearner, ClusterStatus, ClusterStatusRequest, Member, MemberRole, Promote, RemoveMember, MAX_MEMBERS,
};
pub use error::{RecordKind, RegistryError};
pub use exchange::{ExchangeRecord, ExchangeSpec};
pub use requests::{
    Consistency, DeregisterCloud, DeregisterExchange, GetCloud, GetExchange, RegisterCloud, RegisterExchange,
    RenewLease, UpdateCloud, UpdateExchange,
};
pub use search::{Search, SearchHit, SearchResults};

use crate::ns;
use crate::stanza::envelope::{Iq, IqType};
use crate::stanza::{parse_attr, required_attr, ParseError};
use crate::xml::Element;

macro_rules! dispatch {
    ($(#[$m:meta])* $enum:ident { $($(#[$vm:meta])* $variant:ident($ty:ty),)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum $enum { $($(#[$vm])* $variant($ty),)* }

        impl $enum {
            /// The payload element.
            pub fn to_element(&self) -> Element {
                match self { $($enum::$variant(r) => r.to_element(),)* }
            }
        }

        impl TryFrom<&Element> for $enum {
            type Error = RegistryError;
            fn try_from(el: &Element) -> Result<Self, RegistryError> {
                if el.ns() != ns::REGISTRY {
                    return Err(RegistryError::Malformed {
                        detail: format!("<{}/> is not in the registry namespace", el.name()),
                    });
                }
                $(if el.name() == <$ty>::NAME {
                    return Ok($enum::$variant(<$ty>::try_from(el)?));
                })*
                Err(RegistryError::Malformed { detail: format!("unknown registry element <{}/>", el.name()) })
            }
        }
    };
}

dispatch! {
    /// Every registry request, by payload element name.
    RegistryRequest {
        /// `<register-exchange/>` (set).
        RegisterExchange(RegisterExchange),
        /// `<update-exchange/>` (set).
        UpdateExchange(UpdateExchange),
        /// `<deregister-exchange/>` (set).
        DeregisterExchange(DeregisterExchange),
        /// `<renew-lease/>` (set).
        RenewLease(RenewLease),
        /// `<register-cloud/>` (set).
        RegisterCloud(RegisterCloud),
        /// `<update-cloud/>` (set).
        UpdateCloud(UpdateCloud),
        /// `<deregister-cloud/>` (set).
        DeregisterCloud(DeregisterCloud),
        /// `<get-exchange/>` (get).
        GetExchange(GetExchange),
        /// `<get-cloud/>` (get).
        GetCloud(GetCloud),
        /// `<search/>` (get).
        Search(Search),
        /// `<cluster-status/>` (get).
        ClusterStatus(ClusterStatusRequest),
        /// `<add-learner/>` (set, admins).
        AddLearner(AddLearner),
        /// `<promote/>` (set, admins).
        Promote(Promote),
        /// `<remove-member/>` (set, admins).
        RemoveMember(RemoveMember),
    }
}

impl RegistryRequest {
    /// The iq type this request travels in: `get` for reads, `set` for everything else.
    pub fn iq_type(&self) -> IqType {
        match self {
            RegistryRequest::GetExchange(_)
            | RegistryRequest::GetCloud(_)
            | RegistryRequest::Search(_)
            | RegistryRequest::ClusterStatus(_) => IqType::Get,
            _ => IqType::Set,
        }
    }

    /// Parse the payload of a request iq, checking it travels in the right iq type.
    pub fn from_iq(iq: &Iq) -> Result<Self, RegistryError> {
        let payload =
            iq.payload.as_ref().ok_or(ParseError::MissingChild { element: "iq", child: "payload" })?;
        let req = RegistryRequest::try_from(payload)?;
        if req.iq_type() != iq.kind {
            return Err(RegistryError::Malformed {
                detail: format!(
                    "<{}/> must be sent in an iq of type {}",
                    payload.name(),
                    req.iq_type().as_str()
                ),
            });
        }
        Ok(req)
    }

    /// The request iq from `from` to `to`.
    pub fn to_iq(&self, id: impl Into<String>, from: impl Into<String>, to: impl Into<String>) -> Iq {
        Iq::request(self.iq_type(), id, from, to, self.to_element())
    }
}

/// `<deregistered kind='…' key='…' revision='…'/>`: the answer to a deregister.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deregistered {
    /// What was removed.
    pub kind: RecordKind,
    /// Its domain or id.
    pub key: String,
    /// The registry revision of the removal.
    pub revision: u64,
}

impl Deregistered {
    /// The element name on the wire.
    pub const NAME: &'static str = "deregistered";

    /// The result element.
    pub fn to_element(&self) -> Element {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_attr("kind", self.kind.as_str())
            .with_attr("key", self.key.clone())
            .with_attr("revision", self.revision.to_string())
    }
}

impl TryFrom<&Element> for Deregistered {
    type Error = RegistryError;
    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        crate::stanza::expect_element(el, Self::NAME, ns::REGISTRY)?;
        let k = required_attr(el, Self::NAME, "kind")?;
        let kind = RecordKind::parse(k).ok_or_else(|| ParseError::InvalidAttr {
            element: Self::NAME,
            attr: "kind",
            value: k.to_owned(),
        })?;
        Ok(Deregistered {
            kind,
            key: required_attr(el, Self::NAME, "key")?.to_owned(),
            revision: parse_attr(el, Self::NAME, "revision")?,
        })
    }
}

/// Record element names are the same for results as in searches.
impl ExchangeRecord {
    /// The element name on the wire.
    pub const NAME: &'static str = "exchange";
}

impl CloudRecord {
    /// The element name on the wire.
    pub const NAME: &'static str = "cloud";
}

dispatch! {
    /// Every registry result payload, by element name.
    RegistryResult {
        /// An Exchange (register/update/renew/get).
        Exchange(ExchangeRecord),
        /// A Cloud (register/update/get).
        Cloud(CloudRecord),
        /// A removal.
        Deregistered(Deregistered),
        /// A search page.
        SearchResults(SearchResults),
        /// A cluster view (status and membership changes).
        Cluster(ClusterStatus),
    }
}

/// Proptest strategies for valid registry values (shared with `record`'s tests).
#[cfg(test)]
pub(crate) mod strategies;

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod bounds_tests;
