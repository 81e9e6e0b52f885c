//! Presence payloads in the registry namespace (the envelope is
//! [`envelope::Presence`](crate::stanza::envelope::Presence)).
//!
//! ```xml
//! <presence from='root1.example' to='root2.example'>
//!   <raft-role xmlns='https://ns.icroot.dev/registry/0' role='leader' term='5' node-id='1' leader='1'/>
//! </presence>
//! <presence from='ex-a.example' to='root.example'><lease xmlns='https://ns.icroot.dev/registry/0'/></presence>
//! ```
//!
//! What a node does on receipt (update its peer view, renew a lease) is the node's business.

use crate::ns;
use crate::stanza::registry::MemberRole;
use crate::stanza::{expect_element, parse_attr, parse_opt_attr, ParseError};
use crate::xml::Element;

/// A root node's Raft role, broadcast in its available presence to the other roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftRole {
    /// The sender's role.
    pub role: MemberRole,
    /// The sender's current term.
    pub term: u64,
    /// The sender's Raft node id.
    pub node_id: u64,
    /// The leader the sender knows of, if any.
    pub leader: Option<u64>,
}

impl RaftRole {
    /// The `<raft-role/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("raft-role", ns::REGISTRY)
            .with_attr("role", self.role.as_str())
            .with_attr("term", self.term.to_string())
            .with_attr("node-id", self.node_id.to_string())
            .with_opt_attr("leader", self.leader.map(|l| l.to_string()))
    }
}

impl TryFrom<&Element> for RaftRole {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "raft-role", ns::REGISTRY)?;
        Ok(RaftRole {
            role: MemberRole::read(el, "raft-role")?,
            term: parse_attr(el, "raft-role", "term")?,
            node_id: parse_attr(el, "raft-role", "node-id")?,
            leader: parse_opt_attr(el, "raft-role", "leader")?,
        })
    }
}

/// An Exchange's lease heartbeat: available presence carrying `<lease/>` renews the sender's
/// lease, as `<renew-lease/>` does, without waiting for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LeaseHeartbeat;

impl LeaseHeartbeat {
    /// The `<lease/>` element.
    pub fn to_element(&self) -> Element {
        Element::new("lease", ns::REGISTRY)
    }
}

impl TryFrom<&Element> for LeaseHeartbeat {
    type Error = ParseError;

    fn try_from(el: &Element) -> Result<Self, ParseError> {
        expect_element(el, "lease", ns::REGISTRY)?;
        Ok(LeaseHeartbeat)
    }
}

#[cfg(test)]
#[path = "presence_tests.rs"]
mod tests;
