//! XEP-0199 XMPP Ping: `<ping xmlns='urn:xmpp:ping'/>` in an iq get, answered by an empty
//! iq result (or `service-unavailable` from an entity that does not support it).

use crate::ns;
use crate::stanza::{expect_element, ParseError};
use crate::xml::Element;

/// The ping payload (it has no content).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ping;

impl Ping {
    /// The `<ping/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("ping", ns::PING)
    }
}

impl TryFrom<&Element> for Ping {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "ping", ns::PING)?;
        Ok(Ping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::envelope::{Iq, IqType};
    use crate::xml::parse_fragment;

    #[test]
    fn parses_serializes_and_round_trips() {
        let el = Ping.to_element();
        assert_eq!(el.to_xml(), "<ping xmlns='urn:xmpp:ping'/>");
        assert_eq!(Ping::try_from(&el), Ok(Ping));
        let iq = Iq::request(IqType::Get, "p1", "root1.example", "root2.example", el);
        assert_eq!(Iq::try_from(&iq.to_element()).map(|i| i.payload), Ok(Some(Ping.to_element())));
    }

    #[test]
    fn rejects_other_elements() {
        assert_eq!(
            Ping::try_from(&Element::new("ping", ns::JABBER_SERVER)),
            Err(ParseError::WrongElement { name: "ping", ns: ns::PING, found: "{jabber:server}ping".into() })
        );
    }

    #[test]
    fn parses_literal_wire_form() {
        let el = parse_fragment("<ping xmlns='urn:xmpp:ping'/>").unwrap();
        assert_eq!(Ping::try_from(&el), Ok(Ping));
    }
}
