//! The negotiation nonzas: stream features, STARTTLS, SASL, bidi. Dialback lives in
//! [`super::dialback`].

use base64::Engine;

use crate::ns;
use crate::xml::Element;

/// The SASL mechanism name for certificate authentication.
pub(crate) const EXTERNAL: &str = "EXTERNAL";

/// What a `<stream:features/>` offered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// `Some(required)` if STARTTLS was offered.
    pub starttls: Option<bool>,
    /// SASL mechanism names.
    pub mechanisms: Vec<String>,
    /// XEP-0220 dialback feature.
    pub dialback: bool,
    /// XEP-0288 bidi feature.
    pub bidi: bool,
}

impl Features {
    /// Read a `<stream:features/>` element; unknown features are ignored as RFC 6120 asks.
    pub(crate) fn parse(el: &Element) -> Self {
        Features {
            starttls: el.child("starttls", ns::TLS).map(|s| s.child("required", ns::TLS).is_some()),
            mechanisms: el
                .child("mechanisms", ns::SASL)
                .map(|m| m.children().filter(|c| c.is("mechanism", ns::SASL)).map(|c| c.text()).collect())
                .unwrap_or_default(),
            dialback: el.child("dialback", ns::DIALBACK_FEATURE).is_some(),
            bidi: el.child("bidi", ns::BIDI_FEATURE).is_some(),
        }
    }

    /// The `<stream:features/>` element offering these.
    pub(crate) fn to_element(&self) -> Element {
        let mut f = Element::new("features", ns::STREAM);
        if let Some(required) = self.starttls {
            let mut st = Element::new("starttls", ns::TLS);
            if required {
                st.append_child(Element::new("required", ns::TLS));
            }
            f.append_child(st);
        }
        if !self.mechanisms.is_empty() {
            f.append_child(Element::new("mechanisms", ns::SASL).with_children(
                self.mechanisms.iter().map(|m| Element::new("mechanism", ns::SASL).with_text(m.clone())),
            ));
        }
        if self.dialback {
            f.append_child(
                Element::new("dialback", ns::DIALBACK_FEATURE)
                    .with_child(Element::new("errors", ns::DIALBACK_FEATURE)),
            );
        }
        if self.bidi {
            f.append_child(Element::new("bidi", ns::BIDI_FEATURE));
        }
        f
    }
}

/// `<starttls/>`, `<proceed/>`, `<failure/>` in the TLS namespace.
pub(crate) fn tls_element(name: &str) -> Element {
    Element::new(name, ns::TLS)
}

/// `<auth mechanism='EXTERNAL'>` with the authzid `domain` (base64), or `=` for none.
pub(crate) fn sasl_external_auth(authzid: Option<&str>) -> Element {
    let text = match authzid {
        Some(d) => base64::engine::general_purpose::STANDARD.encode(d.as_bytes()),
        None => "=".to_owned(),
    };
    Element::new("auth", ns::SASL).with_attr("mechanism", EXTERNAL).with_text(text)
}

/// Why an `<auth/>` payload could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthzidError {
    /// Not base64 / not UTF-8: SASL `incorrect-encoding`.
    Encoding,
}

/// The authzid in an `<auth/>` element: `None` for empty or `=` (RFC 6120 §6.4.2).
pub(crate) fn parse_authzid(auth: &Element) -> Result<Option<String>, AuthzidError> {
    let text = auth.text();
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(None);
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| AuthzidError::Encoding)?;
    String::from_utf8(raw).map(Some).map_err(|_| AuthzidError::Encoding)
}

/// `<success/>` in the SASL namespace.
pub(crate) fn sasl_success() -> Element {
    Element::new("success", ns::SASL)
}

/// `<failure><condition/></failure>` in the SASL namespace.
pub(crate) fn sasl_failure(condition: &str) -> Element {
    Element::new("failure", ns::SASL).with_child(Element::new(condition, ns::SASL))
}

/// The condition name of a SASL `<failure/>` (`not-authorized` if none is given).
pub(crate) fn sasl_failure_condition(el: &Element) -> String {
    el.children().next().map_or_else(|| "not-authorized".to_owned(), |c| c.name().to_owned())
}

/// The XEP-0288 request `<bidi xmlns='urn:xmpp:bidi'/>`.
pub(crate) fn bidi_request() -> Element {
    Element::new("bidi", ns::BIDI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_round_trip() {
        let f = Features {
            starttls: Some(true),
            mechanisms: vec![EXTERNAL.to_owned()],
            dialback: true,
            bidi: true,
        };
        assert_eq!(Features::parse(&f.to_element()), f);
        assert_eq!(Features::parse(&Features::default().to_element()), Features::default());
    }

    #[test]
    fn authzid_forms() {
        assert_eq!(parse_authzid(&sasl_external_auth(None)), Ok(None));
        assert_eq!(parse_authzid(&sasl_external_auth(Some("a.example"))), Ok(Some("a.example".to_owned())));
        let bad = Element::new("auth", ns::SASL).with_text("!!notbase64");
        assert_eq!(parse_authzid(&bad), Err(AuthzidError::Encoding));
    }
}
