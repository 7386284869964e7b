//! `GET /checkpoint` and `GET /tile/...`: exactly c2sp.org/tlog-tiles.

use attestlog_proto::tiles::{TileId, TilePath};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::TextError;
use crate::tiles::StoreTiles;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=5";

/// `GET /checkpoint`.
pub async fn checkpoint(State(s): State<super::State>) -> Response {
    let p = s.shared.published();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        p.note.clone(),
    )
        .into_response()
}

/// Unknown paths: JSON under `/v1`, plain text elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/v1/") {
        super::error::ApiError::not_found(format!("no such endpoint {}", uri.path()))
            .into_response()
    } else {
        TextError(StatusCode::NOT_FOUND, "not found".into()).into_response()
    }
}

/// Whether a tile of `width` at (level, index) existed in some published checkpoint.
fn tile_published(
    s: &super::AppState,
    level: u8,
    index: u64,
    width: u16,
    size: u64,
) -> Result<bool, TextError> {
    let Some(cur) = TileId::for_size(level, index, size) else {
        return Ok(false);
    };
    if cur.width == width {
        return Ok(true);
    }
    if cur.width < width || width == 256 {
        return Ok(false);
    }
    // An older checkpoint of size s had this tile at `width` iff s >> 8·level == index·256 + width.
    let shift = 8 * u32::from(level);
    let count = index * 256 + u64::from(width);
    let (Some(lo), Some(hi)) = (count.checked_shl(shift), (count + 1).checked_shl(shift)) else {
        return Ok(false);
    };
    if lo >> shift != count {
        return Ok(false);
    }
    Ok(s.store.checkpoint_in_range(lo, hi)?)
}

/// `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]`.
pub async fn tile(State(s): State<super::State>, Path(path): Path<String>) -> Response {
    match super::storage(&s, super::Pool::Reads, move |s| tile_inner(s, &path)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn tile_inner(s: &super::AppState, path: &str) -> Result<Response, TextError> {
    let parsed = TilePath::parse(path)
        .map_err(|e| TextError(StatusCode::BAD_REQUEST, format!("malformed tile path: {e}")))?;
    let size = s.shared.published().size;
    let reader = StoreTiles::cached(s.store.as_ref(), &s.cache);
    let (data, width) = match parsed {
        TilePath::Hashes(t) => {
            if !tile_published(s, t.level, t.index, t.width, size)? {
                return Err(TextError(StatusCode::NOT_FOUND, "tile not found".into()));
            }
            let mut v = reader.hash_tiles(&[t])?;
            (v.pop().unwrap_or_default(), t.width)
        }
        TilePath::Entries { index, width } => {
            let end = index
                .checked_mul(256)
                .and_then(|x| x.checked_add(u64::from(width)));
            let ok = match end {
                Some(e) if e <= size => {
                    width == 256 || e == size || s.store.checkpoint_at(e)?.is_some()
                }
                _ => false,
            };
            if !ok {
                return Err(TextError(
                    StatusCode::NOT_FOUND,
                    "entry bundle not found".into(),
                ));
            }
            (reader.entry_bundle(index, width)?, width)
        }
    };
    let cache = if width == 256 { IMMUTABLE } else { SHORT };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        data,
    )
        .into_response())
}
