//! What the CLI prints: one JSON document (`--json`) or a readable table, from the same
//! registry results. Field names in JSON follow the wire attribute names with `_`.

use proto::stanza::registry::{CloudRecord, ClusterStatus, ExchangeRecord, RegistryResult, SearchHit};
use serde_json::{json, Value};

/// An Exchange record as JSON.
pub fn exchange_json(r: &ExchangeRecord) -> Value {
    json!({
        "kind": "exchange",
        "domain": r.domain,
        "organisation": r.spec.organisation,
        "regions": r.spec.regions,
        "capabilities": r.spec.capabilities,
        "endpoints": r.spec.endpoints,
        "trust_anchors": r.spec.trust_anchors,
        "metadata": r.spec.metadata,
        "lease_ttl_secs": r.spec.lease_ttl_secs,
        "lease_expires_ms": r.lease_expires_ms,
        "created_revision": r.created_revision,
        "modified_revision": r.modified_revision,
    })
}

/// A Cloud record as JSON.
pub fn cloud_json(r: &CloudRecord) -> Value {
    json!({
        "kind": "cloud",
        "id": r.id,
        "owner": r.owner,
        "services": r.spec.services,
        "regions": r.spec.regions,
        "metadata": r.spec.metadata,
        "created_revision": r.created_revision,
        "modified_revision": r.modified_revision,
    })
}

/// A cluster view as JSON.
pub fn status_json(s: &ClusterStatus) -> Value {
    let leader_domain = s.members.iter().find(|m| Some(m.node_id) == s.leader).map(|m| m.domain.clone());
    json!({
        "node_id": s.node_id,
        "leader": s.leader.map(|id| json!({"id": id, "domain": leader_domain})),
        "term": s.term,
        "commit_index": s.commit_index,
        "applied_index": s.applied_index,
        "members": s.members.iter().map(|m| json!({
            "id": m.node_id, "domain": m.domain, "role": m.role.as_str(), "reachable": m.reachable,
        })).collect::<Vec<_>>(),
    })
}

/// Any registry result as JSON (`null` for an empty result).
pub fn result_json(r: Option<&RegistryResult>) -> Value {
    match r {
        None => Value::Null,
        Some(RegistryResult::Exchange(x)) => exchange_json(x),
        Some(RegistryResult::Cloud(c)) => cloud_json(c),
        Some(RegistryResult::Deregistered(d)) => {
            json!({"deregistered": {"kind": d.kind.as_str(), "key": d.key, "revision": d.revision}})
        }
        Some(RegistryResult::SearchResults(s)) => json!({
            "revision": s.revision,
            "next": s.next,
            "hits": s.hits.iter().map(|h| match h {
                SearchHit::Exchange(x) => exchange_json(x),
                SearchHit::Cloud(c) => cloud_json(c),
                _ => Value::Null,
            }).collect::<Vec<_>>(),
        }),
        Some(RegistryResult::Cluster(c)) => status_json(c),
        Some(_) => Value::Null,
    }
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_uppercase()).collect());
    for r in rows {
        out += &line(r.clone());
    }
    out
}

fn exchange_row(x: &ExchangeRecord) -> Vec<String> {
    vec![
        "exchange".into(),
        x.domain.clone(),
        x.spec.regions.join(","),
        x.spec.capabilities.join(","),
        x.modified_revision.to_string(),
    ]
}

fn cloud_row(c: &CloudRecord) -> Vec<String> {
    vec![
        "cloud".into(),
        format!("{} (owner {})", c.id, c.owner),
        c.spec.regions.join(","),
        c.spec.services.join(","),
        c.modified_revision.to_string(),
    ]
}

const RECORD_HEADER: &[&str] = &["kind", "key", "regions", "capabilities/services", "revision"];

/// Any registry result as readable text.
pub fn result_text(r: Option<&RegistryResult>) -> String {
    match r {
        None => "ok\n".into(),
        Some(RegistryResult::Exchange(x)) => table(RECORD_HEADER, &[exchange_row(x)]),
        Some(RegistryResult::Cloud(c)) => table(RECORD_HEADER, &[cloud_row(c)]),
        Some(RegistryResult::Deregistered(d)) => {
            format!("deregistered {} {} at revision {}\n", d.kind.as_str(), d.key, d.revision)
        }
        Some(RegistryResult::SearchResults(s)) => {
            let rows: Vec<Vec<String>> = s
                .hits
                .iter()
                .filter_map(|h| match h {
                    SearchHit::Exchange(x) => Some(exchange_row(x)),
                    SearchHit::Cloud(c) => Some(cloud_row(c)),
                    _ => None,
                })
                .collect();
            let mut out = table(RECORD_HEADER, &rows);
            out += &format!("{} match(es) at revision {}", rows.len(), s.revision);
            if let Some(n) = &s.next {
                out += &format!("; more after {n}");
            }
            out + "\n"
        }
        Some(RegistryResult::Cluster(c)) => status_text(c),
        Some(_) => "ok\n".into(),
    }
}

fn status_text(s: &ClusterStatus) -> String {
    let rows: Vec<Vec<String>> = s
        .members
        .iter()
        .map(|m| {
            vec![
                m.node_id.to_string(),
                m.domain.clone(),
                m.role.as_str().into(),
                if m.reachable { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    let leader = s.leader.map_or("none".to_owned(), |l| l.to_string());
    format!(
        "leader {leader}, term {}, commit index {}, applied index {} (as seen by node {})\n{}",
        s.term,
        s.commit_index,
        s.applied_index,
        s.node_id,
        table(&["id", "domain", "role", "reachable"], &rows)
    )
}
