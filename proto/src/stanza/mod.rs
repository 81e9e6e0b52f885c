//! Typed stanzas and payloads: each type parses from and serializes to an [`Element`].
//!
//! ```text
//!  Element ─▶ envelope::{Iq, Message, Presence} ─▶ payload ─▶ raft | registry | disco | ping | pubsub
//! ```
//!
//! Every `TryFrom<&Element>` returns [`ParseError`], which maps to a `bad-request` stanza error.

pub mod disco;
pub mod envelope;
pub mod ping;
pub mod presence;
pub mod pubsub;
pub mod raft;
pub mod registry;

use std::str::FromStr;

use crate::error::{StanzaError, StanzaErrorCondition};
use crate::xml::Element;

/// Why an element is not the typed stanza it claims to be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A different element than expected.
    #[error("expected <{name} xmlns='{ns}'/>, found <{found}/>")]
    WrongElement {
        /// Expected local name.
        name: &'static str,
        /// Expected namespace.
        ns: &'static str,
        /// What was found (`{ns}name`).
        found: String,
    },
    /// A required attribute is absent.
    #[error("<{element}/> lacks the required attribute '{attr}'")]
    MissingAttr {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attr: &'static str,
    },
    /// An attribute has a value outside its domain.
    #[error("<{element}/> attribute '{attr}' has an invalid value {value:?}")]
    InvalidAttr {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attr: &'static str,
        /// The offending value.
        value: String,
    },
    /// A required child element is absent.
    #[error("<{element}/> lacks the required child <{child}/>")]
    MissingChild {
        /// Element name.
        element: &'static str,
        /// Child name.
        child: &'static str,
    },
    /// Anything else, explained.
    #[error("{0}")]
    Invalid(String),
}

impl ParseError {
    /// The stanza error answered to a request that failed to parse.
    pub fn to_stanza_error(&self) -> StanzaError {
        StanzaError::new(StanzaErrorCondition::BadRequest, self.to_string())
    }
}

/// Check that `el` is `name` in `ns`.
pub fn expect_element(el: &Element, name: &'static str, ns: &'static str) -> Result<(), ParseError> {
    if el.is(name, ns) {
        Ok(())
    } else {
        Err(ParseError::WrongElement { name, ns, found: format!("{{{}}}{}", el.ns(), el.name()) })
    }
}

/// A required attribute.
pub fn required_attr<'a>(
    el: &'a Element,
    element: &'static str,
    attr: &'static str,
) -> Result<&'a str, ParseError> {
    el.attr(attr).ok_or(ParseError::MissingAttr { element, attr })
}

/// An optional attribute parsed with `FromStr`.
pub fn parse_opt_attr<T: FromStr>(
    el: &Element,
    element: &'static str,
    attr: &'static str,
) -> Result<Option<T>, ParseError> {
    match el.attr(attr) {
        None => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|_| ParseError::InvalidAttr { element, attr, value: v.to_owned() })
        }
    }
}

/// A required attribute parsed with `FromStr`.
pub fn parse_attr<T: FromStr>(
    el: &Element,
    element: &'static str,
    attr: &'static str,
) -> Result<T, ParseError> {
    parse_opt_attr(el, element, attr)?.ok_or(ParseError::MissingAttr { element, attr })
}

/// An XML Schema boolean (`true`/`false`/`1`/`0`).
pub fn parse_bool_attr(
    el: &Element,
    element: &'static str,
    attr: &'static str,
) -> Result<Option<bool>, ParseError> {
    match el.attr(attr) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(v) => Err(ParseError::InvalidAttr { element, attr, value: v.to_owned() }),
    }
}
