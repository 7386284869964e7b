//! Tile reads for the static path and the proof endpoints, through one cache bounded in
//! bytes.
//!
//! A tile of a given width never changes (a partial tile of width W is a prefix of every later
//! version of that tile), so `(level, index, width)` is a perfect cache key. Cached tiles and
//! entry bundles are shared [`Bytes`]: every response serving one refers to the same buffer.
//!
//! Entry bundles are streamed, [`BUNDLE_CHUNK_ENTRIES`] entries per storage read, never
//! assembled per response: a bundle read is kept for the cache only while the bytes kept fit
//! in the cache's budget ([`TileCache::reserve`]), so a crawl of every bundle holds at most the
//! budget plus a few chunks per response ([`TileCache::bundle_bytes`] counts them).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use attestlog_proto::Hash;
use attestlog_proto::tiles::{TileId, TileReader, TileTree, node_location, tile_hashes};
use attestlog_proto::tree::{HashReader, NodeId};
use axum::body::Bytes;
use lru::LruCache;

use crate::storage::{LogStore, StoreError};

/// Level used for entry bundles in the cache key.
pub const ENTRIES_LEVEL: u8 = u8::MAX;

/// Entries read from storage per chunk of a streamed entry bundle.
pub const BUNDLE_CHUNK_ENTRIES: u16 = 16;

/// What a cache slot holds: the bytes of a tile or bundle, or a tile's subtree hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Data,
    Tree,
}

/// Cache key: kind, level (255 = entry bundles), index, width.
type Key = (Kind, u8, u64, u16);

#[derive(Debug, Clone)]
enum Value {
    Data(Bytes),
    Tree(Arc<TileTree>),
    /// An entry bundle, as the chunks it was streamed in.
    Chunks(Arc<[Bytes]>),
}

/// Bookkeeping bytes counted per cached item on top of its data.
const ITEM_OVERHEAD: usize = 128;

impl Value {
    /// Bytes the item holds (a tile tree holds about twice its tile's hashes).
    fn cost(&self, width: u16) -> usize {
        ITEM_OVERHEAD
            + match self {
                Value::Data(b) => b.len(),
                Value::Tree(_) => usize::from(width) * 2 * 32,
                Value::Chunks(c) => c.iter().map(Bytes::len).sum(),
            }
    }
}

#[derive(Debug)]
struct Inner {
    items: LruCache<Key, Value>,
    /// Bytes of the items plus bytes reserved for bundles being read.
    bytes: usize,
}

/// An LRU cache of tiles, entry bundles and tile trees, within a byte budget. Items larger
/// than a sixteenth of the budget are served but not kept, so one huge bundle never evicts
/// the whole working set.
#[derive(Debug)]
pub struct TileCache {
    inner: Mutex<Inner>,
    budget: usize,
    /// Most bytes held at once (items and reservations), never above the budget.
    peak: AtomicUsize,
    /// Bytes of entry-bundle chunks alive now (cached or in a response), and their peak.
    bundle_bytes: Arc<AtomicUsize>,
    bundle_peak: Arc<AtomicUsize>,
}

/// Counts the bytes of one bundle chunk while it is alive.
struct Counted {
    data: Vec<u8>,
    alive: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.alive.fetch_sub(self.data.len(), Ordering::Relaxed);
    }
}

impl TileCache {
    /// A cache holding at most `budget` bytes.
    #[must_use]
    pub fn new(budget: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                items: LruCache::unbounded(),
                bytes: 0,
            }),
            budget,
            peak: AtomicUsize::new(0),
            bundle_bytes: Arc::default(),
            bundle_peak: Arc::default(),
        }
    }

    /// The most bytes the cache held at once, reservations included.
    #[must_use]
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Bytes of entry-bundle chunks alive now (in the cache or in responses), and the most
    /// alive at once.
    #[must_use]
    pub fn bundle_bytes(&self) -> (usize, usize) {
        (
            self.bundle_bytes.load(Ordering::Relaxed),
            self.bundle_peak.load(Ordering::Relaxed),
        )
    }

    /// A chunk of an entry bundle as shared bytes, counted in [`TileCache::bundle_bytes`]
    /// while alive.
    #[must_use]
    pub fn bundle_chunk(&self, data: Vec<u8>) -> Bytes {
        let now = self.bundle_bytes.fetch_add(data.len(), Ordering::Relaxed) + data.len();
        self.bundle_peak.fetch_max(now, Ordering::Relaxed);
        Bytes::from_owner(Counted {
            data,
            alive: self.bundle_bytes.clone(),
        })
    }

    /// Reserves `n` bytes for a bundle being read to be cached, evicting the least recently
    /// used items to make room; false when the bundle could never be kept (its bytes so far,
    /// `total`, above a sixteenth of the budget) or there is no room.
    #[must_use]
    pub fn reserve(&self, n: usize, total: usize) -> bool {
        if total + ITEM_OVERHEAD > self.budget / 16 {
            return false;
        }
        let Ok(mut c) = self.inner.lock() else {
            return false;
        };
        c.bytes += n;
        while c.bytes > self.budget {
            let Some((ek, ev)) = c.items.pop_lru() else {
                c.bytes -= n;
                return false;
            };
            c.bytes -= ev.cost(ek.3);
        }
        self.peak.fetch_max(c.bytes, Ordering::Relaxed);
        true
    }

    /// Gives back `n` reserved bytes.
    pub fn unreserve(&self, n: usize) {
        if let Ok(mut c) = self.inner.lock() {
            c.bytes = c.bytes.saturating_sub(n);
        }
    }

    /// The cached chunks of the entry bundle `index` of `width` entries.
    #[must_use]
    pub fn bundle(&self, index: u64, width: u16) -> Option<Arc<[Bytes]>> {
        match self.get(&(Kind::Data, ENTRIES_LEVEL, index, width))? {
            Value::Chunks(c) => Some(c),
            Value::Data(_) | Value::Tree(_) => None,
        }
    }

    /// Caches a whole entry bundle read in `chunks`, whose bytes were reserved: the
    /// reservation becomes the item.
    pub fn put_bundle(&self, index: u64, width: u16, chunks: Vec<Bytes>, reserved: usize) {
        self.unreserve(reserved);
        self.put(
            (Kind::Data, ENTRIES_LEVEL, index, width),
            Value::Chunks(chunks.into()),
        );
    }

    /// The byte budget.
    #[must_use]
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes held now (never above [`TileCache::budget`]).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.inner.lock().map_or(0, |c| c.bytes)
    }

    fn get(&self, k: &Key) -> Option<Value> {
        self.inner.lock().ok()?.items.get(k).cloned()
    }

    fn put(&self, k: Key, v: Value) {
        let cost = v.cost(k.3);
        if cost > self.budget / 16 {
            return;
        }
        let Ok(mut c) = self.inner.lock() else {
            return;
        };
        if let Some(old) = c.items.put(k, v) {
            c.bytes -= old.cost(k.3);
        }
        c.bytes += cost;
        while c.bytes > self.budget {
            let Some((ek, ev)) = c.items.pop_lru() else {
                break;
            };
            c.bytes -= ev.cost(ek.3);
        }
        self.peak.fetch_max(c.bytes, Ordering::Relaxed);
    }

    fn data(&self, level: u8, index: u64, width: u16) -> Option<Bytes> {
        match self.get(&(Kind::Data, level, index, width))? {
            Value::Data(b) => Some(b),
            Value::Tree(_) | Value::Chunks(_) => None,
        }
    }

    fn put_data(&self, level: u8, index: u64, width: u16, b: Bytes) {
        self.put((Kind::Data, level, index, width), Value::Data(b));
    }

    fn tree(&self, t: &TileId) -> Option<Arc<TileTree>> {
        match self.get(&(Kind::Tree, t.level, t.index, t.width))? {
            Value::Tree(t) => Some(t),
            Value::Data(_) | Value::Chunks(_) => None,
        }
    }

    fn put_tree(&self, t: &TileId, v: Arc<TileTree>) {
        self.put((Kind::Tree, t.level, t.index, t.width), Value::Tree(v));
    }
}

/// Reads tiles from a store, truncated to the asked width, through an optional cache.
pub struct StoreTiles<'a> {
    store: &'a dyn LogStore,
    cache: Option<&'a TileCache>,
}

impl<'a> StoreTiles<'a> {
    /// Without a cache.
    #[must_use]
    pub fn new(store: &'a dyn LogStore) -> Self {
        Self { store, cache: None }
    }

    /// With a cache.
    #[must_use]
    pub fn cached(store: &'a dyn LogStore, cache: &'a TileCache) -> Self {
        Self {
            store,
            cache: Some(cache),
        }
    }

    /// Reads hash tiles (each exactly `width` hashes).
    ///
    /// # Errors
    /// Storage errors, or a stored tile shorter than asked.
    pub fn hash_tiles(&self, tiles: &[TileId]) -> Result<Vec<Bytes>, StoreError> {
        let mut out: Vec<Option<Bytes>> = tiles
            .iter()
            .map(|t| self.cache.and_then(|c| c.data(t.level, t.index, t.width)))
            .collect();
        let missing: Vec<usize> = (0..tiles.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let keys: Vec<TileId> = missing.iter().map(|&i| tiles[i]).collect();
            let data = self.store.read_tiles(&keys)?;
            for (&i, mut d) in missing.iter().zip(data) {
                let t = &tiles[i];
                let want = usize::from(t.width) * 32;
                if d.len() < want {
                    return Err(StoreError::Corrupt(format!(
                        "tile {}/{} has {} bytes, need {want}",
                        t.level,
                        t.index,
                        d.len()
                    )));
                }
                d.truncate(want);
                let d = Bytes::from(d);
                if let Some(c) = self.cache {
                    c.put_data(t.level, t.index, t.width, d.clone());
                }
                out[i] = Some(d);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

impl TileReader for StoreTiles<'_> {
    type Error = StoreError;

    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .hash_tiles(tiles)?
            .into_iter()
            .map(|b| b.to_vec())
            .collect())
    }
}

/// Reads stored subtree hashes of the tree of `size` for proofs, through cached [`TileTree`]s:
/// every subtree hash inside a tile is computed once per (tile, width), not per proof.
pub struct TreeReader<'a> {
    size: u64,
    store: &'a dyn LogStore,
    cache: &'a TileCache,
}

impl<'a> TreeReader<'a> {
    /// The tree of `size` leaves.
    #[must_use]
    pub fn new(size: u64, store: &'a dyn LogStore, cache: &'a TileCache) -> Self {
        Self { size, store, cache }
    }
}

impl HashReader for TreeReader<'_> {
    type Error = StoreError;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let mut locations = Vec::with_capacity(nodes.len());
        // A proof touches a handful of tiles (one or two per tile level): a list searched
        // in order costs less than hashing into a map on every request.
        let mut trees: Vec<(TileId, Option<Arc<TileTree>>)> = Vec::new();
        for &n in nodes {
            let loc = node_location(n, self.size).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "node {n:?} is not in the tree of size {}",
                    self.size
                ))
            })?;
            if !trees.iter().any(|(id, _)| *id == loc.0) {
                let cached = self.cache.tree(&loc.0);
                trees.push((loc.0, cached));
            }
            locations.push(loc);
        }
        let missing: Vec<TileId> = trees
            .iter()
            .filter(|(_, t)| t.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !missing.is_empty() {
            let data = StoreTiles::cached(self.store, self.cache).hash_tiles(&missing)?;
            for (id, d) in missing.iter().zip(data) {
                let hashes = tile_hashes(id, &d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let tree = Arc::new(TileTree::new(hashes));
                self.cache.put_tree(id, tree.clone());
                if let Some(slot) = trees.iter_mut().find(|(t, _)| t == id) {
                    slot.1 = Some(tree);
                }
            }
        }
        locations
            .iter()
            .map(|(id, row, pos)| {
                trees
                    .iter()
                    .find(|(t, _)| t == id)
                    .and_then(|(_, t)| t.as_ref())
                    .and_then(|t| t.get(*row, *pos))
                    .ok_or_else(|| StoreError::Corrupt(format!("tile {id:?} lacks row {row}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_byte_budget() {
        let c = TileCache::new(1 << 20);
        for i in 0..1000u64 {
            c.put_data(0, i, 256, Bytes::from(vec![0u8; 256 * 32]));
            assert!(c.bytes() <= c.budget(), "{} > {}", c.bytes(), c.budget());
        }
        // The most recent items are kept, the oldest evicted.
        assert!(c.data(0, 999, 256).is_some());
        assert!(c.data(0, 0, 256).is_none());
        // An item over a sixteenth of the budget is not kept.
        c.put_data(ENTRIES_LEVEL, 1, 256, Bytes::from(vec![0u8; 65 * 1024]));
        assert!(c.data(ENTRIES_LEVEL, 1, 256).is_none());
        // Shared, not copied: the cached item and an answer are the same buffer.
        let a = c.data(0, 999, 256).unwrap();
        let b = c.data(0, 999, 256).unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr());
    }

    #[test]
    fn bundle_reservations_count_against_the_budget() {
        let c = TileCache::new(64 * 1024);
        for i in 0..8u64 {
            c.put_data(0, i, 256, Bytes::from(vec![0u8; 3000]));
        }
        // A bundle read for the cache reserves its bytes, evicting the oldest items.
        let chunk = c.bundle_chunk(vec![1u8; 2000]);
        assert_eq!(c.bundle_bytes().0, 2000);
        assert!(c.reserve(chunk.len(), chunk.len()));
        assert!(c.bytes() <= c.budget());
        // More than a sixteenth of the budget in all is never kept.
        assert!(!c.reserve(2000, 4000));
        c.put_bundle(3, 10, vec![chunk.clone()], 2000);
        let kept = c.bundle(3, 10).unwrap();
        assert_eq!(kept[0].as_ptr(), chunk.as_ptr());
        assert!(c.peak() <= c.budget());
        // A reservation given back leaves the accounting as it was.
        let before = c.bytes();
        assert!(c.reserve(100, 100));
        c.unreserve(100);
        assert_eq!(c.bytes(), before);
        // Chunk bytes are counted while alive, here and in the cache.
        drop((kept, chunk));
        assert_eq!(c.bundle_bytes().0, 2000);
        assert_eq!(c.bundle_bytes().1, 2000);
    }
}
