//! `GET /checkpoint` and `GET /tile/...`: exactly c2sp.org/tlog-tiles.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use attestlog_proto::tiles::{TileId, TilePath};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::error::TextError;
use crate::storage::StoreError;
use crate::tiles::{BUNDLE_CHUNK_ENTRIES, StoreTiles};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=5";

/// `GET /checkpoint`.
#[utoipa::path(get, path = "/checkpoint",
    responses((status = 200, description = "the latest published checkpoint: a c2sp.org/tlog-checkpoint signed note with its cosignatures (c2sp.org/tlog-tiles; not cached)", body = String, content_type = "text/plain; charset=utf-8")))]
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
#[utoipa::path(get, path = "/tile/{path}",
    params(("path" = String, Path, description = "c2sp.org/tlog-tiles: `<L>/<N>[.p/<W>]`, the hash tile of level L and index N (N in x-prefixed groups of three digits, W the width of a partial tile), or `entries/<N>[.p/<W>]`, an entry bundle")),
    responses(
      (status = 200, description = "the hash tile (32-byte hashes) or the entry bundle (each entry a 2-byte big-endian length and its bytes); full tiles are immutable", body = [u8], content_type = "application/octet-stream"),
      (status = 400, description = "malformed tile path", body = String, content_type = "text/plain; charset=utf-8"),
      (status = 404, description = "no such tile in any published checkpoint", body = String, content_type = "text/plain; charset=utf-8")))]
pub async fn tile(State(s): State<super::State>, Path(path): Path<String>) -> Response {
    let (body, width) =
        match super::storage(&s, super::Pool::Reads, move |s| tile_inner(s, &path)).await {
            Ok(Tile::Hashes(data, width)) => (Body::from(data), width),
            Ok(Tile::Bundle(index, width)) => (Body::new(BundleBody::new(&s, index, width)), width),
            Err(e) => return e.into_response(),
        };
    let cache = if width == 256 { IMMUTABLE } else { SHORT };
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// A tile to answer with: hash tile data, or an entry bundle (index, width) to stream.
enum Tile {
    Hashes(Bytes, u16),
    Bundle(u64, u16),
}

fn tile_inner(s: &super::AppState, path: &str) -> Result<Tile, TextError> {
    let parsed = TilePath::parse(path)
        .map_err(|e| TextError(StatusCode::BAD_REQUEST, format!("malformed tile path: {e}")))?;
    let size = s.shared.published().size;
    let reader = StoreTiles::cached(s.store.as_ref(), &s.cache);
    match parsed {
        TilePath::Hashes(t) => {
            if !tile_published(s, t.level, t.index, t.width, size)? {
                return Err(TextError(StatusCode::NOT_FOUND, "tile not found".into()));
            }
            let mut v = reader.hash_tiles(&[t])?;
            Ok(Tile::Hashes(v.pop().unwrap_or_default(), t.width))
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
            Ok(Tile::Bundle(index, width))
        }
    }
}

/// A storage read of a bundle's next entries.
type Reading = Pin<Box<dyn Future<Output = Result<Vec<Vec<u8>>, StoreError>> + Send>>;

/// An entry bundle's answer: its cached chunks, or its entries read from storage
/// [`BUNDLE_CHUNK_ENTRIES`] at a time (each read on the blocking pool, in a place of the
/// cheap reads) and sent as they come, never assembled. While what was read fits the cache's
/// reservation ([`crate::tiles::TileCache::reserve`]) the chunks are kept, and cached once the
/// bundle is complete.
struct BundleBody {
    s: super::State,
    index: u64,
    width: u16,
    /// Entries sent so far.
    next: u16,
    /// Cached chunks still to send.
    cached: Option<(Arc<[Bytes]>, usize)>,
    reading: Option<Reading>,
    /// Chunks kept for the cache and the bytes reserved for them.
    kept: Option<(Vec<Bytes>, usize)>,
}

impl BundleBody {
    fn new(s: &super::State, index: u64, width: u16) -> Self {
        let state = s.clone();
        let cached = s.cache.bundle(index, width).map(|c| (c, 0));
        Self {
            s: state,
            index,
            width,
            next: 0,
            kept: cached.is_none().then(|| (Vec::new(), 0)),
            cached,
            reading: None,
        }
    }

    /// The next chunk, from storage entries read for it.
    fn chunk(&mut self, entries: &[Vec<u8>], want: u16) -> Result<Bytes, StoreError> {
        if entries.len() != usize::from(want) {
            return Err(StoreError::Corrupt(format!(
                "entry bundle {} has {} entries from {}, need {want}",
                self.index,
                entries.len(),
                u64::from(self.next) + self.index * 256
            )));
        }
        let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let data = attestlog_proto::tiles::encode_bundle(&refs)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.next += want;
        let bytes = self.s.cache.bundle_chunk(data);
        if let Some((kept, reserved)) = &mut self.kept {
            if self.s.cache.reserve(bytes.len(), *reserved + bytes.len()) {
                *reserved += bytes.len();
                kept.push(bytes.clone());
            } else {
                self.s.cache.unreserve(*reserved);
                self.kept = None;
            }
        }
        if self.next == self.width
            && let Some((kept, reserved)) = self.kept.take()
        {
            self.s
                .cache
                .put_bundle(self.index, self.width, kept, reserved);
        }
        Ok(bytes)
    }
}

impl Drop for BundleBody {
    fn drop(&mut self) {
        if let Some((_, reserved)) = self.kept.take() {
            self.s.cache.unreserve(reserved);
        }
    }
}

impl HttpBody for BundleBody {
    type Data = Bytes;
    type Error = StoreError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StoreError>>> {
        if let Some((chunks, at)) = &mut self.cached {
            let next = chunks.get(*at).cloned();
            *at += 1;
            return Poll::Ready(next.map(|b| Ok(Frame::data(b))));
        }
        if self.next >= self.width {
            return Poll::Ready(None);
        }
        let want = BUNDLE_CHUNK_ENTRIES.min(self.width - self.next);
        if self.reading.is_none() {
            let start = self.index * 256 + u64::from(self.next);
            let s = self.s.clone();
            self.reading = Some(Box::pin(async move {
                super::storage(&s, super::Pool::Reads, move |st| {
                    st.store.read_entries(start, u64::from(want))
                })
                .await
            }));
        }
        let Some(reading) = self.reading.as_mut() else {
            return Poll::Ready(None);
        };
        let entries = match reading.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        self.reading = None;
        let r = entries.and_then(|e| self.chunk(&e, want));
        if r.is_err() {
            // Nothing more after an error: the connection is cut mid-answer.
            self.next = self.width;
        }
        Poll::Ready(Some(r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.cached {
            Some((chunks, at)) => *at >= chunks.len(),
            None => self.next >= self.width && self.reading.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.cached {
            Some((chunks, at)) => {
                SizeHint::with_exact(chunks.iter().skip(*at).map(|b| b.len() as u64).sum())
            }
            None => SizeHint::default(),
        }
    }
}
