//! Cluster status and membership administration over XMPP (what `icroot status` and
//! `icroot cluster …` send).
//!
//! ```xml
//! <cluster-status xmlns='https://ns.icroot.dev/registry/0'/>
//! <cluster xmlns='https://ns.icroot.dev/registry/0' node-id='1' leader='1' term='5'
//!          commit-index='120' applied-index='120'>
//!   <member node-id='1' domain='root1.example' role='leader' reachable='true'/>
//! </cluster>
//! <add-learner xmlns='…' node-id='4' domain='root4.example'/> <promote node-id='4'/> <remove-member node-id='4'/>
//! ```

use super::bounds::normalize_domain;
use super::RegistryError;
use crate::ns;
use crate::stanza::{expect_element, parse_attr, parse_bool_attr, parse_opt_attr, required_attr, ParseError};
use crate::xml::Element;

/// Most members a status may list (bounds what a peer can make us allocate).
pub const MAX_MEMBERS: usize = 64;

/// A member's Raft role as seen by the answering node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberRole {
    /// The current leader.
    Leader,
    /// A voter following the leader.
    Follower,
    /// A voter standing for election.
    Candidate,
    /// A non-voting member catching up.
    Learner,
}

impl MemberRole {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Leader => "leader",
            MemberRole::Follower => "follower",
            MemberRole::Candidate => "candidate",
            MemberRole::Learner => "learner",
        }
    }

    /// Parse the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "leader" => MemberRole::Leader,
            "follower" => MemberRole::Follower,
            "candidate" => MemberRole::Candidate,
            "learner" => MemberRole::Learner,
            _ => return None,
        })
    }

    pub(crate) fn read(el: &Element, element: &'static str) -> Result<Self, ParseError> {
        let v = required_attr(el, element, "role")?;
        MemberRole::parse(v).ok_or_else(|| ParseError::InvalidAttr {
            element,
            attr: "role",
            value: v.to_owned(),
        })
    }
}

/// One cluster member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Raft node id.
    pub node_id: u64,
    /// The node's XMPP domain.
    pub domain: String,
    /// Its role.
    pub role: MemberRole,
    /// Whether the answering node currently has a working stream to it.
    pub reachable: bool,
}

/// `<cluster-status/>` (iq get): ask a node for its view of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClusterStatusRequest;

impl ClusterStatusRequest {
    /// The element name on the wire.
    pub const NAME: &'static str = "cluster-status";

    /// The payload element.
    pub fn to_element(&self) -> Element {
        Element::new(Self::NAME, ns::REGISTRY)
    }
}

impl TryFrom<&Element> for ClusterStatusRequest {
    type Error = RegistryError;
    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        expect_element(el, Self::NAME, ns::REGISTRY)?;
        Ok(ClusterStatusRequest)
    }
}

/// `<cluster/>`: a node's view of the cluster (answer to status and membership requests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The answering node.
    pub node_id: u64,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// Its current term.
    pub term: u64,
    /// Highest log index known committed.
    pub commit_index: u64,
    /// Highest log index applied to its state machine.
    pub applied_index: u64,
    /// Members (at most [`MAX_MEMBERS`]).
    pub members: Vec<Member>,
}

impl ClusterStatus {
    /// The element name on the wire.
    pub const NAME: &'static str = "cluster";

    /// The result element.
    pub fn to_element(&self) -> Element {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_attr("node-id", self.node_id.to_string())
            .with_opt_attr("leader", self.leader.map(|l| l.to_string()))
            .with_attr("term", self.term.to_string())
            .with_attr("commit-index", self.commit_index.to_string())
            .with_attr("applied-index", self.applied_index.to_string())
            .with_children(self.members.iter().map(|m| {
                Element::new("member", ns::REGISTRY)
                    .with_attr("node-id", m.node_id.to_string())
                    .with_attr("domain", m.domain.clone())
                    .with_attr("role", m.role.as_str())
                    .with_attr("reachable", if m.reachable { "true" } else { "false" })
            }))
    }
}

impl TryFrom<&Element> for ClusterStatus {
    type Error = RegistryError;

    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        expect_element(el, Self::NAME, ns::REGISTRY)?;
        let mut members = Vec::new();
        for m in el.children().filter(|c| c.is("member", ns::REGISTRY)) {
            if members.len() == MAX_MEMBERS {
                return Err(super::bounds::invalid("member", format!("more than {MAX_MEMBERS} members")));
            }
            members.push(Member {
                node_id: parse_attr(m, "member", "node-id")?,
                domain: normalize_domain("domain", required_attr(m, "member", "domain")?)?,
                role: MemberRole::read(m, "member")?,
                reachable: parse_bool_attr(m, "member", "reachable")?
                    .ok_or(ParseError::MissingAttr { element: "member", attr: "reachable" })?,
            });
        }
        Ok(ClusterStatus {
            node_id: parse_attr(el, Self::NAME, "node-id")?,
            leader: parse_opt_attr(el, Self::NAME, "leader")?,
            term: parse_attr(el, Self::NAME, "term")?,
            commit_index: parse_attr(el, Self::NAME, "commit-index")?,
            applied_index: parse_attr(el, Self::NAME, "applied-index")?,
            members,
        })
    }
}

/// `<add-learner node-id='…' domain='…'/>` (iq set, admins): add a non-voting member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddLearner {
    /// The new node's Raft id.
    pub node_id: u64,
    /// The new node's XMPP domain (how the others reach it).
    pub domain: String,
}

impl AddLearner {
    /// The element name on the wire.
    pub const NAME: &'static str = "add-learner";

    /// The payload element.
    pub fn to_element(&self) -> Element {
        Element::new(Self::NAME, ns::REGISTRY)
            .with_attr("node-id", self.node_id.to_string())
            .with_attr("domain", self.domain.clone())
    }
}

impl TryFrom<&Element> for AddLearner {
    type Error = RegistryError;
    fn try_from(el: &Element) -> Result<Self, RegistryError> {
        expect_element(el, Self::NAME, ns::REGISTRY)?;
        Ok(AddLearner {
            node_id: parse_attr(el, Self::NAME, "node-id")?,
            domain: normalize_domain("domain", required_attr(el, Self::NAME, "domain")?)?,
        })
    }
}

macro_rules! node_request {
    ($(#[$m:meta])* $ty:ident = $wire:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $ty {
            /// The member's Raft id.
            pub node_id: u64,
        }

        impl $ty {
            /// The element name on the wire.
            pub const NAME: &'static str = $wire;

            /// The payload element.
            pub fn to_element(&self) -> Element {
                Element::new(Self::NAME, ns::REGISTRY).with_attr("node-id", self.node_id.to_string())
            }
        }

        impl TryFrom<&Element> for $ty {
            type Error = RegistryError;
            fn try_from(el: &Element) -> Result<Self, RegistryError> {
                expect_element(el, Self::NAME, ns::REGISTRY)?;
                Ok($ty { node_id: parse_attr(el, Self::NAME, "node-id")? })
            }
        }
    };
}

node_request! {
    /// `<promote node-id='…'/>` (iq set, admins): make a learner a voter.
    Promote = "promote"
}

node_request! {
    /// `<remove-member node-id='…'/>` (iq set, admins): remove a member (voter or learner).
    RemoveMember = "remove-member"
}
