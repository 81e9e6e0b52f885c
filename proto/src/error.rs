//! RFC 6120 stream errors (§4.9) and stanza errors (§8.3): every defined condition, parsed from and
//! written to the wire.
//!
//! Peer misbehaviour anywhere in `proto` maps to exactly one [`StreamErrorCondition`]; request
//! failures map to a [`StanzaError`].

use std::fmt;
use std::str::FromStr;

use crate::ns;
use crate::xml::Element;

macro_rules! conditions {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vm])* $variant,)* }

        impl $name {
            /// Every condition, in RFC order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The element name used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)* }
            }
        }

        impl FromStr for $name {
            type Err = UnknownCondition;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($wire => Ok($name::$variant),)* _ => Err(UnknownCondition(s.to_owned())) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

/// A condition name that RFC 6120 does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown error condition <{0}/>")]
pub struct UnknownCondition(pub String);

conditions! {
    /// RFC 6120 §4.9.3 stream error conditions.
    StreamErrorCondition {
        /// Malformed or unprocessable XML that is still well-formed.
        BadFormat = "bad-format",
        /// Unsupported namespace prefix.
        BadNamespacePrefix = "bad-namespace-prefix",
        /// A new stream conflicts with an existing one.
        Conflict = "conflict",
        /// Peer idle or negotiation too slow.
        ConnectionTimeout = "connection-timeout",
        /// The `to` domain is no longer served here.
        HostGone = "host-gone",
        /// The `to` domain is not served here.
        HostUnknown = "host-unknown",
        /// Missing or wrong `to`/`from` on a stanza.
        ImproperAddressing = "improper-addressing",
        /// Server fault.
        InternalServerError = "internal-server-error",
        /// The `from` does not match an authenticated domain.
        InvalidFrom = "invalid-from",
        /// Wrong stream or content namespace.
        InvalidNamespace = "invalid-namespace",
        /// Invalid XML (schema violation).
        InvalidXml = "invalid-xml",
        /// Data sent before authentication, or authentication failed.
        NotAuthorized = "not-authorized",
        /// Not well-formed XML.
        NotWellFormed = "not-well-formed",
        /// Local policy violated (e.g. stanza too large).
        PolicyViolation = "policy-violation",
        /// A remote server needed for this stream could not be reached.
        RemoteConnectionFailed = "remote-connection-failed",
        /// Security-relevant change: renegotiate.
        Reset = "reset",
        /// Out of resources.
        ResourceConstraint = "resource-constraint",
        /// Comments, PIs, DTDs or non-predefined entities.
        RestrictedXml = "restricted-xml",
        /// Use another host.
        SeeOtherHost = "see-other-host",
        /// Shutting down.
        SystemShutdown = "system-shutdown",
        /// Anything else.
        UndefinedCondition = "undefined-condition",
        /// Not UTF-8.
        UnsupportedEncoding = "unsupported-encoding",
        /// A mandatory-to-negotiate feature is not supported.
        UnsupportedFeature = "unsupported-feature",
        /// A top-level element that is not a known stanza or nonza.
        UnsupportedStanzaType = "unsupported-stanza-type",
        /// Stream version not supported.
        UnsupportedVersion = "unsupported-version",
    }
}

conditions! {
    /// RFC 6120 §8.3.3 stanza error conditions.
    StanzaErrorCondition {
        /// Malformed request.
        BadRequest = "bad-request",
        /// Conflicting state (e.g. a compare-and-set revision mismatch).
        Conflict = "conflict",
        /// Feature not implemented.
        FeatureNotImplemented = "feature-not-implemented",
        /// The requester may not do this.
        Forbidden = "forbidden",
        /// The entity is gone for good.
        Gone = "gone",
        /// Server fault.
        InternalServerError = "internal-server-error",
        /// No such item.
        ItemNotFound = "item-not-found",
        /// Malformed address.
        JidMalformed = "jid-malformed",
        /// Violates application rules.
        NotAcceptable = "not-acceptable",
        /// Nobody may do this.
        NotAllowed = "not-allowed",
        /// Authentication needed first.
        NotAuthorized = "not-authorized",
        /// Local policy violated.
        PolicyViolation = "policy-violation",
        /// The recipient is offline.
        RecipientUnavailable = "recipient-unavailable",
        /// Try another address.
        Redirect = "redirect",
        /// Registration needed first.
        RegistrationRequired = "registration-required",
        /// Remote server does not exist or cannot be resolved.
        RemoteServerNotFound = "remote-server-not-found",
        /// Remote server could not be reached in time.
        RemoteServerTimeout = "remote-server-timeout",
        /// Out of resources (e.g. a queue bound was hit).
        ResourceConstraint = "resource-constraint",
        /// No such service here.
        ServiceUnavailable = "service-unavailable",
        /// Subscription needed first.
        SubscriptionRequired = "subscription-required",
        /// Anything else.
        UndefinedCondition = "undefined-condition",
        /// Request out of order.
        UnexpectedRequest = "unexpected-request",
    }
}

impl StanzaErrorCondition {
    /// The error type RFC 6120 §8.3.3 suggests for this condition.
    pub fn default_type(self) -> StanzaErrorType {
        use StanzaErrorCondition as C;
        use StanzaErrorType as T;
        match self {
            C::BadRequest | C::FeatureNotImplemented | C::JidMalformed | C::NotAcceptable => T::Modify,
            C::Conflict | C::Forbidden | C::NotAllowed | C::NotAuthorized | C::PolicyViolation => T::Cancel,
            C::Gone | C::Redirect | C::ItemNotFound | C::ServiceUnavailable => T::Cancel,
            C::RemoteServerNotFound | C::UndefinedCondition => T::Cancel,
            C::RegistrationRequired | C::SubscriptionRequired => T::Auth,
            C::InternalServerError | C::RecipientUnavailable | C::RemoteServerTimeout => T::Wait,
            C::ResourceConstraint | C::UnexpectedRequest => T::Wait,
        }
    }
}

/// RFC 6120 §8.3.2 stanza error types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StanzaErrorType {
    /// Authenticate and retry.
    Auth,
    /// Do not retry.
    Cancel,
    /// Proceed; the condition was a warning.
    Continue,
    /// Change the data and retry.
    Modify,
    /// Retry after waiting.
    Wait,
}

impl StanzaErrorType {
    /// The `type` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            StanzaErrorType::Auth => "auth",
            StanzaErrorType::Cancel => "cancel",
            StanzaErrorType::Continue => "continue",
            StanzaErrorType::Modify => "modify",
            StanzaErrorType::Wait => "wait",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auth" => StanzaErrorType::Auth,
            "cancel" => StanzaErrorType::Cancel,
            "continue" => StanzaErrorType::Continue,
            "modify" => StanzaErrorType::Modify,
            "wait" => StanzaErrorType::Wait,
            _ => return None,
        })
    }
}

/// A stream-level error: sent as `<stream:error>` and followed by closing the stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream error <{condition}/>{}", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
pub struct StreamError {
    /// The defined condition.
    pub condition: StreamErrorCondition,
    /// Human-readable detail (English).
    pub text: Option<String>,
}

impl StreamError {
    /// A stream error with explanatory text.
    pub fn new(condition: StreamErrorCondition, text: impl Into<String>) -> Self {
        StreamError { condition, text: Some(text.into()) }
    }

    /// The `<stream:error/>` element.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("error", ns::STREAM)
            .with_child(Element::new(self.condition.as_str(), ns::STREAM_ERRORS));
        if let Some(t) = &self.text {
            e.append_child(
                Element::new("text", ns::STREAM_ERRORS).with_attr("xml:lang", "en").with_text(t.clone()),
            );
        }
        e
    }

    /// Parse a received `<stream:error/>`; an unknown condition reads as `undefined-condition`.
    pub fn from_element(e: &Element) -> Option<Self> {
        if !e.is("error", ns::STREAM) {
            return None;
        }
        let mut condition = StreamErrorCondition::UndefinedCondition;
        let mut text = None;
        for c in e.children().filter(|c| c.ns() == ns::STREAM_ERRORS) {
            if c.name() == "text" {
                text = Some(c.text());
            } else if let Ok(cond) = c.name().parse() {
                condition = cond;
            }
        }
        Some(StreamError { condition, text })
    }
}

/// A stanza-level error (the `<error/>` child of an `iq`, `message` or `presence` of type error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{condition} ({})", kind.as_str())]
pub struct StanzaError {
    /// The error type.
    pub kind: StanzaErrorType,
    /// The defined condition.
    pub condition: StanzaErrorCondition,
    /// Human-readable detail (English).
    pub text: Option<String>,
    /// The entity that generated the error (`by` attribute), if stated.
    pub by: Option<String>,
    /// An application-specific condition element (e.g. a registry error detail).
    pub app: Option<Element>,
}

impl StanzaError {
    /// An error of the condition's default type, with text.
    pub fn new(condition: StanzaErrorCondition, text: impl Into<String>) -> Self {
        StanzaError {
            kind: condition.default_type(),
            condition,
            text: Some(text.into()),
            by: None,
            app: None,
        }
    }

    /// Attach an application-specific condition element.
    #[must_use]
    pub fn with_app(mut self, app: Element) -> Self {
        self.app = Some(app);
        self
    }

    /// The `<error/>` element in the content namespace `content_ns` (usually `jabber:server`).
    pub fn to_element(&self, content_ns: &str) -> Element {
        let mut e = Element::new("error", content_ns)
            .with_attr("type", self.kind.as_str())
            .with_opt_attr("by", self.by.clone())
            .with_child(Element::new(self.condition.as_str(), ns::STANZA_ERRORS));
        if let Some(t) = &self.text {
            e.append_child(
                Element::new("text", ns::STANZA_ERRORS).with_attr("xml:lang", "en").with_text(t.clone()),
            );
        }
        if let Some(app) = &self.app {
            e.append_child(app.clone());
        }
        e
    }

    /// Parse an `<error/>` element (any content namespace). Unknown conditions read as
    /// `undefined-condition`; a missing or unknown type defaults from the condition.
    pub fn from_element(e: &Element) -> Option<Self> {
        if e.name() != "error" {
            return None;
        }
        let mut condition = None;
        let mut text = None;
        let mut app = None;
        for c in e.children() {
            if c.ns() == ns::STANZA_ERRORS {
                if c.name() == "text" {
                    text = Some(c.text());
                } else if let Ok(cond) = c.name().parse() {
                    condition.get_or_insert(cond);
                }
            } else if app.is_none() {
                app = Some(c.clone());
            }
        }
        let condition = condition.unwrap_or(StanzaErrorCondition::UndefinedCondition);
        let kind = e.attr("type").and_then(StanzaErrorType::parse).unwrap_or(condition.default_type());
        Some(StanzaError { kind, condition, text, by: e.attr("by").map(str::to_owned), app })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_condition_round_trips() {
        assert_eq!(StreamErrorCondition::ALL.len(), 25);
        for &c in StreamErrorCondition::ALL {
            let e = StreamError::new(c, "why");
            assert_eq!(StreamError::from_element(&e.to_element()), Some(e));
        }
    }

    #[test]
    fn every_stanza_condition_round_trips() {
        assert_eq!(StanzaErrorCondition::ALL.len(), 22);
        for &c in StanzaErrorCondition::ALL {
            let e = StanzaError::new(c, "why").with_app(Element::new("cas-mismatch", ns::REGISTRY));
            assert_eq!(StanzaError::from_element(&e.to_element(ns::JABBER_SERVER)), Some(e));
        }
    }

    #[test]
    fn unknown_condition_is_undefined() {
        let e = Element::new("error", ns::STREAM).with_child(Element::new("made-up", ns::STREAM_ERRORS));
        assert_eq!(
            StreamError::from_element(&e).map(|e| e.condition),
            Some(StreamErrorCondition::UndefinedCondition)
        );
        assert!("made-up".parse::<StanzaErrorCondition>().is_err());
    }
}
