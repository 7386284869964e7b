//! `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Liveness.
#[utoipa::path(get, path = "/healthz",
    responses((status = 200, description = "the process serves requests", body = String, content_type = "text/plain; charset=utf-8")))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: storage answers and the published checkpoint is readable. A replica on
/// PostgreSQL names its role: `ready (sequencer)` or `ready (follower)`.
#[utoipa::path(get, path = "/readyz",
    responses((status = 200, description = "`ready`, or on PostgreSQL `ready (sequencer)` / `ready (follower)`", body = String, content_type = "text/plain; charset=utf-8"),
      (status = 503, description = "sequencing halted, no checkpoint yet, or storage unavailable (the reason)", body = String, content_type = "text/plain; charset=utf-8")))]
pub async fn readyz(State(s): State<super::State>) -> Response {
    if let Some(why) = s.shared.failure() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not integrating: {why}\n"),
        )
            .into_response();
    }
    let latest = super::storage(&s, super::Pool::Reads, |s| s.store.latest_checkpoint()).await;
    match latest {
        Ok(Some(_)) => match &s.replica {
            Some(r) => (StatusCode::OK, format!("ready ({})\n", r.role().as_str())).into_response(),
            None => (StatusCode::OK, "ready\n").into_response(),
        },
        Ok(None) => (StatusCode::SERVICE_UNAVAILABLE, "no checkpoint yet\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response()
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")))]
pub async fn metrics(State(s): State<super::State>) -> Response {
    let body = s.metrics.as_ref().map(|m| m.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
