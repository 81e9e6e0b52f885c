//! `icroot cluster add-learner | promote | remove`: membership changes, sent as the registry's
//! admin-only `<add-learner/>`, `<promote/>`, `<remove-member/>` requests (docs/protocol.md
//! §5.6) to the profile's root, which forwards them to the leader. The answer is the cluster
//! view after the change, printed like `icroot status`.
//!
//! ```text
//!  icroot cluster … ─▶ check arguments ─▶ RegistryRequest ─S2S─▶ root ─▶ leader: change_membership
//!                                                            ◀── <cluster/> after the change
//! ```

use clap::Subcommand;
use proto::stanza::registry::{AddLearner, Promote, RegistryRequest, RemoveMember};

use crate::client::ClientError;

/// `icroot cluster …` (consortium admin profile only).
#[derive(Debug, Subcommand)]
pub enum ClusterOp {
    /// Add a running node as a non-voting learner; it receives the log (or a snapshot) first.
    AddLearner {
        /// The new node's Raft id (unique, never reused).
        #[arg(long)]
        node_id: u64,
        /// The new node's XMPP domain (must be discoverable by SRV or a static route).
        #[arg(long)]
        domain: String,
    },
    /// Make a learner a voter.
    Promote {
        /// The learner's Raft id.
        #[arg(long)]
        node_id: u64,
    },
    /// Remove a voter or learner from the cluster.
    Remove {
        /// The member's Raft id.
        #[arg(long)]
        node_id: u64,
    },
}

fn bad(reason: String) -> ClientError {
    ClientError::Invalid(reason)
}

/// The registry request for `op`, after checking its arguments locally.
pub fn request(op: &ClusterOp) -> Result<RegistryRequest, ClientError> {
    let id = |node_id: u64| {
        if node_id == 0 {
            Err(bad("--node-id must be at least 1".into()))
        } else {
            Ok(node_id)
        }
    };
    Ok(match op {
        ClusterOp::AddLearner { node_id, domain } => {
            let domain = crate::config::domain("domain", domain).map_err(|e| bad(e.to_string()))?;
            RegistryRequest::AddLearner(AddLearner { node_id: id(*node_id)?, domain })
        }
        ClusterOp::Promote { node_id } => RegistryRequest::Promote(Promote { node_id: id(*node_id)? }),
        ClusterOp::Remove { node_id } => {
            RegistryRequest::RemoveMember(RemoveMember { node_id: id(*node_id)? })
        }
    })
}
