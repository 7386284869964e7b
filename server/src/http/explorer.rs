//! The web explorer: static assets embedded in the binary, served at `/` with a strict
//! Content-Security-Policy, and `GET /v1/checkpoints` (the log's growth) that its overview
//! page reads. The explorer verifies what it shows in the browser (`web/verify.js`).

use std::collections::HashMap;
use std::sync::LazyLock;

use attestlog_proto::Hash;
use attestlog_proto::api::{CheckpointList, StoredCheckpoint};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, TextError};
use super::parse_u64;

/// The Content-Security-Policy of every explorer response: same-origin scripts, styles and
/// requests only; no inline code, no frames, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// One embedded asset.
#[derive(Debug)]
pub struct Asset {
    /// URL path under `/`.
    pub path: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

/// An [`Asset`] from a file of `server/web/`.
macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $file)),
        }
    };
}

/// Every asset of the explorer, by URL path.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/assets/app.js", "app.js", "text/javascript; charset=utf-8"),
    asset!(
        "/assets/verify.js",
        "verify.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/assets/style.css", "style.css", "text/css; charset=utf-8"),
    asset!("/assets/icon.svg", "icon.svg", "image/svg+xml"),
];

/// Strong ETags (SHA-256 of the content), computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", &Hash::sha256(a.body).to_hex()[..32]))
        .collect()
});

fn serve(i: usize, headers: &HeaderMap) -> Response {
    let (Some(asset), Some(etag)) = (ASSETS.get(i), ETAGS.get(i)) else {
        return TextError(StatusCode::NOT_FOUND, "not found".into()).into_response();
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = r.headers_mut();
    // Asset URLs are not content-addressed: revalidate every time (a 304 is cheap).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// `GET /`: the explorer page.
#[utoipa::path(get, path = "/",
    responses((status = 200, description = "the web explorer (strong ETag; 304 to a matching If-None-Match)", body = String, content_type = "text/html; charset=utf-8")))]
pub async fn index(headers: HeaderMap) -> Response {
    serve(0, &headers)
}

/// `GET /assets/{name}`: a script, style sheet or icon of the explorer; unknown names → 404.
#[utoipa::path(get, path = "/assets/{name}",
    params(("name" = String, Path, description = "app.js, verify.js, style.css or icon.svg")),
    responses((status = 200, description = "the asset (strong ETag; 304 to a matching If-None-Match)", body = [u8]),
      (status = 404, description = "no such asset", body = String, content_type = "text/plain; charset=utf-8")))]
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/assets/{name}");
    match ASSETS.iter().position(|a| a.path == path) {
        Some(i) => serve(i, &headers),
        None => TextError(StatusCode::NOT_FOUND, "no such asset".into()).into_response(),
    }
}

/// Most checkpoints in one `GET /v1/checkpoints` page.
pub const MAX_CHECKPOINTS: u64 = 64;

/// `GET /v1/checkpoints?before=&limit=`: stored checkpoints with size < `before` (default:
/// all), largest first, at most `limit` (default 20, at most 64), read in one bounded query.
#[utoipa::path(get, path = "/v1/checkpoints",
    params(("before" = Option<u64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200), (status = 400)))]
pub async fn checkpoints(
    State(s): State<super::State>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<CheckpointList>, ApiError> {
    if let Some(k) = q.keys().find(|k| *k != "before" && *k != "limit") {
        return Err(ApiError::bad_request(format!("unknown query parameter {k:?}")).at(k));
    }
    let published = s.shared.published().size;
    let before = match q.get("before") {
        Some(_) => parse_u64("before", q.get("before"))?.min(published + 1),
        None => published + 1,
    };
    let limit = match q.get("limit") {
        Some(_) => parse_u64("limit", q.get("limit"))?,
        None => 20,
    };
    if !(1..=MAX_CHECKPOINTS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_CHECKPOINTS}"
        ))
        .at("limit"));
    }
    let found = super::storage(&s, super::Pool::Reads, move |s| {
        s.store.checkpoints_before(before, limit)
    })
    .await?;
    let next = found
        .last()
        .filter(|_| found.len() as u64 == limit)
        .map(|(size, _)| *size)
        .filter(|&size| size > 0);
    let checkpoints = found
        .into_iter()
        .map(|(size, note)| StoredCheckpoint {
            size,
            note: String::from_utf8_lossy(&note).into_owned(),
        })
        .collect();
    Ok(Json(CheckpointList { checkpoints, next }))
}
