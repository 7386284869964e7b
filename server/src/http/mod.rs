//! HTTP: the c2sp.org/tlog-tiles static path and the `/v1` JSON API.

pub mod entries;
pub mod error;
pub mod explorer;
pub mod health;
pub mod log;
pub mod openapi;
pub mod proofs;
pub mod scitt;
pub mod static_path;

use std::sync::Arc;

use attestlog_proto::keys::{SignerKey, VerifierKey};
use axum::Router;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{MethodRouter, get, post};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::quota::Quota;
use crate::sequencer::{SequencerHandle, Shared};
use crate::storage::LogStore;
use crate::tiles::TileCache;

/// Everything a handler needs.
pub struct AppState {
    /// Storage.
    pub store: Arc<dyn LogStore>,
    /// Published checkpoint and enrolment state.
    pub shared: Arc<Shared>,
    /// Submission queue.
    pub sequencer: SequencerHandle,
    /// Log signer (enrolment entries are signed with it).
    pub signer: SignerKey,
    /// Log verifier key.
    pub log_key: VerifierKey,
    /// Admin bearer token (compared in constant time).
    pub admin_token: String,
    /// Per-vendor quotas.
    pub quota: Quota,
    /// Tile cache.
    pub cache: TileCache,
    /// Prometheus renderer.
    pub metrics: Option<PrometheusHandle>,
    /// Quota settings, for `/v1/log`.
    pub quota_settings: (f64, f64),
    /// Witness policy text, for `/v1/log`.
    pub witness_policy: Option<String>,
    /// Keys signing checkpoints (current first, then previous keys of a rotation).
    pub verifier_keys: Vec<VerifierKey>,
    /// This replica's role, when several replicas share a PostgreSQL database.
    pub replica: Option<Arc<crate::replica::ReplicaStatus>>,
    /// Receipts' enrolment parts against the latest checkpoint they were built for.
    pub enrolment_receipts: crate::prover::EnrolmentCache,
    /// Timeouts, requests in flight and head size of the HTTP server.
    pub serve_limits: attestlog_serve::Limits,
    /// Request body caps.
    pub body_limits: crate::config::BodyLimits,
    /// Places on the blocking pool for storage work.
    pub storage_pools: StoragePools,
    /// SCITT receipts, keys and running registrations.
    pub scitt: scitt::Scitt,
}

/// Most storage calls of cheap reads (tiles, proofs, entries) running at once.
pub const STORAGE_READS: usize = 64;
/// Most searches running at once: a flood of expensive searches waits for these places and
/// never takes the cheap reads' places.
pub const STORAGE_SEARCHES: usize = 4;

/// Which places a piece of storage work takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Tiles, proofs, entries, checkpoints, receipts.
    Reads,
    /// Searches.
    Searches,
}

/// The places on Tokio's blocking pool that storage work may take: storage calls (SQLite
/// reads, PostgreSQL round trips) never run on an async worker, and searches never starve the
/// cheap reads.
#[derive(Debug)]
pub struct StoragePools {
    reads: Arc<tokio::sync::Semaphore>,
    searches: Arc<tokio::sync::Semaphore>,
}

impl Default for StoragePools {
    fn default() -> Self {
        Self {
            reads: Arc::new(tokio::sync::Semaphore::new(STORAGE_READS)),
            searches: Arc::new(tokio::sync::Semaphore::new(STORAGE_SEARCHES)),
        }
    }
}

/// Runs `f` (which calls storage) on the blocking pool, once a place in `pool` is free.
///
/// # Errors
/// `f`'s errors; a storage error when the blocking task could not run.
pub async fn storage<T, E>(
    s: &State,
    pool: Pool,
    f: impl FnOnce(&AppState) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<crate::storage::StoreError> + Send + 'static,
{
    let places = match pool {
        Pool::Reads => &s.storage_pools.reads,
        Pool::Searches => &s.storage_pools.searches,
    };
    let closed = || crate::storage::StoreError::Backend("the storage pool is closed".into());
    let place = places.clone().acquire_owned().await.map_err(|_| closed())?;
    let s = s.clone();
    match tokio::task::spawn_blocking(move || {
        let _place = place;
        f(&s)
    })
    .await
    {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(closed().into()),
    }
}

impl AppState {
    /// The prover of this log: proofs, entries and receipts from the cached tiles.
    #[must_use]
    pub fn prover(&self) -> crate::prover::Prover<'_> {
        crate::prover::Prover {
            store: self.store.as_ref(),
            cache: &self.cache,
            shared: &self.shared,
            parts: &self.enrolment_receipts,
        }
    }

    /// The submit pipeline of this log ([`crate::admission::pipeline`]), which both submit
    /// handlers call.
    #[must_use]
    pub fn admission(&self) -> crate::admission::Pipeline<'_> {
        crate::admission::Pipeline {
            store: self.store.as_ref(),
            shared: &self.shared,
            log_key: &self.log_key,
            quota: &self.quota,
            policy: self.scitt.policy_in_force(),
            sequencer: &self.sequencer,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("log_key", &self.log_key)
            .finish_non_exhaustive()
    }
}

/// Shared state type of the router.
pub type State = Arc<AppState>;

/// Default largest `POST /v1/vendors` body (a legal name, a verifier key string and an
/// action; `[limits] max_vendor_body_bytes`).
pub const MAX_VENDOR_BODY_BYTES: usize = 16 * 1024;

/// The answer of a request the server refused by itself (too many in flight, too slow): the
/// JSON error body, 503 with `Retry-After` or 408.
fn render_rejection(r: attestlog_serve::Rejection, limits: &attestlog_serve::Limits) -> Response {
    let e = match r {
        attestlog_serve::Rejection::Overloaded => error::ApiError::unavailable(r.message(limits)),
        attestlog_serve::Rejection::Timeout => {
            error::ApiError::new(axum::http::StatusCode::REQUEST_TIMEOUT, r.message(limits))
        }
    };
    e.into_response()
}

/// A panicking handler's answer: the JSON error body (the panic itself is logged).
fn render_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error::ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
    )
    .into_response()
}

/// Every route the server serves, in `axum` path syntax: what [`router`] serves and what the
/// OpenAPI document ([`openapi::ApiDoc`]) must describe, each one (a test checks both ways).
fn routes() -> Vec<(&'static str, MethodRouter<State>)> {
    vec![
        ("/checkpoint", get(static_path::checkpoint)),
        ("/tile/{*path}", get(static_path::tile)),
        ("/v1/entries", post(entries::submit)),
        ("/v1/entries/{index}", get(entries::get_entry)),
        ("/v1/proof/inclusion", get(proofs::inclusion)),
        ("/v1/proof/consistency", get(proofs::consistency)),
        ("/v1/log", get(log::info)),
        ("/v1/search", get(log::search)),
        ("/v1/vendors", get(log::vendors).post(log::enrol)),
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
        ("/metrics", get(health::metrics)),
        ("/openapi.json", get(openapi::openapi)),
        ("/", get(explorer::index)),
        ("/assets/{name}", get(explorer::asset)),
        ("/v1/checkpoints", get(explorer::checkpoints)),
        ("/entries", post(scitt::register)),
        ("/entries/{id}", get(scitt::get_entry)),
        ("/receipts/consistency", get(scitt::consistency)),
        ("/.well-known/scitt-keys", get(scitt::keys)),
        ("/.well-known/scitt-keys/{kid}", get(scitt::key)),
    ]
}

/// The path of every served route as OpenAPI spells it (a wildcard `{*path}` is `{path}`).
#[cfg(any(test, feature = "test-support"))]
#[must_use]
pub fn served_paths() -> Vec<String> {
    routes()
        .into_iter()
        .map(|(path, _)| path.replace("{*", "{"))
        .collect()
}

/// The complete router, behind the limits of DESIGN.md §11 ([`attestlog_serve::guard`]).
pub fn router(state: State) -> Router {
    let limits = state.serve_limits;
    let router = routes()
        .into_iter()
        .fold(Router::new(), |r, (path, handlers)| r.route(path, handlers))
        .fallback(static_path::not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            render_panic,
        ))
        .with_state(state);
    attestlog_serve::guard(router, &limits, render_rejection)
}

/// Reads a request body of at most `max` bytes (each endpoint has its own cap).
///
/// # Errors
/// 413 when larger, 400 when the body cannot be read.
pub async fn read_body(
    body: axum::body::Body,
    max: usize,
) -> Result<axum::body::Bytes, error::ApiError> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            error::ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds {max} bytes"),
            )
        } else {
            error::ApiError::bad_request(format!("cannot read request body: {e}"))
        }
    })
}

/// Parses a plain decimal u64 query parameter (no sign, no leading `+`, no spaces).
///
/// # Errors
/// 400 naming the parameter.
pub fn parse_u64(name: &str, v: Option<&String>) -> Result<u64, error::ApiError> {
    let v = v.ok_or_else(|| {
        error::ApiError::bad_request(format!("missing query parameter {name}")).at(name)
    })?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || (v.len() > 1 && v.starts_with('0'))
    {
        return Err(error::ApiError::bad_request(format!(
            "{name} must be a decimal integer, got {v:?}"
        ))
        .at(name));
    }
    v.parse::<u64>().map_err(|_| {
        error::ApiError::bad_request(format!("{name} is out of range: {v:?}")).at(name)
    })
}
