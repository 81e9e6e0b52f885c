//! The root's side of `icroot snapshot save` (docs/protocol.md §5.8): an administrator opens
//! an export, openraft builds a fresh snapshot, and the client pulls the file in bounded,
//! checksummed chunks. The export holds the file open, so a newer snapshot replacing it on
//! disk meanwhile does not disturb the transfer.
//!
//! ```text
//!  router ─ NS ─▶ handle ─ admin? ─┬─ <open/>  ─▶ raft.trigger().snapshot() ─▶ wait for it
//!                                  │              ─▶ open current file, SHA-256 ─▶ Exports
//!                                  ├─ <chunk/> ─▶ positioned read (≤ 256 KiB) ─▶ base64
//!                                  └─ <close/> ─▶ drop the export
//! ```
//!
//! At most [`MAX_EXPORTS`] exports are open at once; one unused for [`IDLE_EXPORT`] is closed.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proto::error::{StanzaError, StanzaErrorCondition as Cond};
use proto::stanza::envelope::{Iq, IqType};
use proto::stanza::registry::RegistryError;
use proto::xml::Element;
use sha2::{Digest, Sha256};

use crate::service::NodeCtx;
use crate::snapshot_wire::{self as wire, Chunk, ChunkRequest, Export};

/// Exports open at once per node.
pub const MAX_EXPORTS: usize = 4;
/// An export nobody read from for this long is closed.
pub const IDLE_EXPORT: Duration = Duration::from_secs(120);
/// How long building the snapshot may take.
const BUILD_DEADLINE: Duration = Duration::from_secs(120);

type Answer = Result<Option<Element>, StanzaError>;

struct Open {
    actor: String,
    file: Arc<File>,
    size: u64,
    last_used: Instant,
}

/// The open exports of one node.
#[derive(Default)]
pub(crate) struct Exports {
    open: Mutex<HashMap<String, Open>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exports").finish_non_exhaustive()
    }
}

impl Exports {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Open>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> StanzaError {
    StanzaError::new(Cond::InternalServerError, format!("{what}: {e}"))
}

/// Answer a snapshot-export request from `actor`.
pub(crate) async fn handle(ctx: &NodeCtx, actor: &str, iq: &Iq) -> Answer {
    if !ctx.config.is_admin(actor) {
        return Err(RegistryError::NotAdmin.to_stanza_error());
    }
    let Some(p) = iq.payload.as_ref() else {
        return Err(StanzaError::new(Cond::BadRequest, "request without payload"));
    };
    match (p.name(), iq.kind) {
        ("open", IqType::Set) => open(ctx, actor).await.map(|e| Some(e.to_element())),
        ("chunk", IqType::Get) => {
            let req = ChunkRequest::parse(p).map_err(|e| e.to_stanza_error())?;
            chunk(ctx, actor, &req).await
        }
        ("close", IqType::Set) => {
            let id = wire::export_id(p).map_err(|e| e.to_stanza_error())?;
            let mut open = ctx.exports.lock();
            if open.get(id).is_some_and(|o| o.actor == actor) {
                open.remove(id);
            }
            Ok(None)
        }
        (name, kind) => Err(StanzaError::new(
            Cond::BadRequest,
            format!("<{name}/> in iq type '{}' is not a snapshot-export request", kind.as_str()),
        )),
    }
}

async fn open(ctx: &NodeCtx, actor: &str) -> Result<Export, StanzaError> {
    {
        let mut open = ctx.exports.lock();
        open.retain(|_, o| o.last_used.elapsed() < IDLE_EXPORT);
        if open.len() >= MAX_EXPORTS {
            return Err(StanzaError::new(
                Cond::ResourceConstraint,
                format!("{MAX_EXPORTS} exports are open; retry when one finishes"),
            ));
        }
    }
    let applied = ctx.raft.metrics().borrow().last_applied;
    let Some(applied) = applied else {
        return Err(StanzaError::new(Cond::ItemNotFound, "nothing applied yet: no snapshot to export"));
    };
    ctx.raft.trigger().snapshot().await.map_err(|e| internal("snapshot", e))?;
    ctx.raft
        .wait(Some(BUILD_DEADLINE))
        .metrics(|m| m.snapshot.is_some_and(|s| s.index >= applied.index), "snapshot built")
        .await
        .map_err(|e| internal("waiting for the snapshot", e))?;
    let sm = ctx.sm.clone();
    let (file, header, size, digest) = tokio::task::spawn_blocking(move || {
        let (file, header) = sm
            .open_current_snapshot()
            .map_err(|e| format!("opening the snapshot: {e}"))?
            .ok_or("snapshot: none on disk after the build")?;
        let size = file.metadata().map_err(|e| format!("snapshot size: {e}"))?.len();
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut reader = &file;
        loop {
            let n = reader.read(&mut buf).map_err(|e| format!("reading the snapshot: {e}"))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        Ok::<_, String>((file, header, size, hex::encode(hash.finalize())))
    })
    .await
    .map_err(|e| internal("snapshot task", e))?
    .map_err(|e| StanzaError::new(Cond::InternalServerError, e))?;
    let meta = header.raft_meta().map_err(|e| internal("snapshot header", e))?;
    let id = format!("{}-{}", ctx.config.node_id, ctx.exports.next.fetch_add(1, Ordering::Relaxed));
    let export = Export {
        id: id.clone(),
        size,
        sha256: digest,
        snapshot_id: header.snapshot_id.clone(),
        last_log: meta.last_log_id.map(|l| (l.leader_id.term, l.index)),
        revision: header.revision,
    };
    let entry = Open { actor: actor.to_owned(), file: Arc::new(file), size, last_used: Instant::now() };
    ctx.exports.lock().insert(id, entry);
    tracing::info!(actor, snapshot = %export.snapshot_id, size, "snapshot export opened");
    Ok(export)
}

async fn chunk(ctx: &NodeCtx, actor: &str, req: &ChunkRequest) -> Answer {
    let (file, size) = {
        let mut open = ctx.exports.lock();
        match open.get_mut(&req.id) {
            Some(o) if o.actor == actor => {
                o.last_used = Instant::now();
                (o.file.clone(), o.size)
            }
            _ => {
                return Err(StanzaError::new(
                    Cond::ItemNotFound,
                    format!("no open export '{}' (closed after {IDLE_EXPORT:?} idle?)", req.id),
                ))
            }
        }
    };
    if req.offset > size {
        return Err(StanzaError::new(
            Cond::NotAcceptable,
            format!("offset {} beyond size {size}", req.offset),
        ));
    }
    let len = u64::from(req.length).min(size - req.offset) as usize;
    let offset = req.offset;
    let data = tokio::task::spawn_blocking(move || {
        let mut data = vec![0u8; len];
        file.read_exact_at(&mut data, offset).map(|()| data)
    })
    .await
    .map_err(|e| internal("snapshot task", e))?
    .map_err(|e| internal("reading the snapshot", e))?;
    Ok(Some(Chunk { offset, data }.to_element(&req.id)))
}
