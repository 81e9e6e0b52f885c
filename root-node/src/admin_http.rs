//! The admin HTTP endpoint: `GET /metrics` (Prometheus text), `GET /healthz` (the process
//! answers), `GET /readyz` (see [`crate::ready`]). Loopback by default: it is for the
//! operator's scraper, not the world.

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::service::NodeCtx;

/// The process-wide recorder: the `metrics` facade has one global recorder, so every node of
/// an in-process `icroot dev` cluster reports into it, told apart by the `node` label.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(h) => h,
        Err(e) => {
            // Another recorder is installed (an embedding program's): render ours empty.
            tracing::warn!(error = %e, "metrics recorder already installed; /metrics shows raft gauges only");
            PrometheusBuilder::new().build_recorder().handle()
        }
    })
}

/// Serve until the task is aborted.
pub(crate) async fn serve(ctx: Arc<NodeCtx>, listener: TcpListener) {
    let handle = prometheus();
    let app = Router::new()
        .route("/metrics", get(move || async move { handle.render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz));
    let app = if crate::test_faults::enabled() { app.merge(crate::test_faults::routes()) } else { app };
    let app = app.with_state(ctx);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "admin HTTP stopped");
    }
}

async fn readyz(State(ctx): State<Arc<NodeCtx>>) -> (StatusCode, String) {
    match crate::ready::check(&ctx).await {
        Ok(why) => (StatusCode::OK, why),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
    }
}

/// Mirror openraft's metrics into gauges whenever they change.
pub(crate) async fn export_raft_metrics(ctx: Arc<NodeCtx>) {
    let _ = prometheus();
    let mut rx = ctx.raft.metrics();
    let node = ctx.config.node_id.to_string();
    loop {
        {
            let m = rx.borrow_and_update().clone();
            let labels = [("node", node.clone())];
            metrics::gauge!("icroot_raft_term", &labels).set(m.current_term as f64);
            metrics::gauge!("icroot_raft_last_log_index", &labels).set(m.last_log_index.unwrap_or(0) as f64);
            metrics::gauge!("icroot_raft_applied_index", &labels)
                .set(m.last_applied.map_or(0, |l| l.index) as f64);
            metrics::gauge!("icroot_raft_is_leader", &labels).set(if m.current_leader == Some(m.id) {
                1.0
            } else {
                0.0
            });
            metrics::gauge!("icroot_registry_revision", &labels).set(ctx.sm.revision() as f64);
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
}
