//! Tile reads for the static path and the proof endpoints, through one cache bounded in
//! bytes.
//!
//! A tile of a given width never changes (a partial tile of width W is a prefix of every later
//! version of that tile), so `(level, index, width)` is a perfect cache key. Cached tiles and
//! entry bundles are shared [`Bytes`]: every response serving one refers to the same buffer.

use std::sync::{Arc, Mutex};

use attestlog_proto::Hash;
use attestlog_proto::tiles::{TileId, TileReader, TileTree, node_location, tile_hashes};
use attestlog_proto::tree::{HashReader, NodeId};
use axum::body::Bytes;
use lru::LruCache;

use crate::storage::{LogStore, StoreError};

/// Level used for entry bundles in the cache key.
pub const ENTRIES_LEVEL: u8 = u8::MAX;

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
            }
    }
}

#[derive(Debug)]
struct Inner {
    items: LruCache<Key, Value>,
    bytes: usize,
}

/// An LRU cache of tiles, entry bundles and tile trees, within a byte budget. Items larger
/// than a sixteenth of the budget are served but not kept, so one huge bundle never evicts
/// the whole working set.
#[derive(Debug)]
pub struct TileCache {
    inner: Mutex<Inner>,
    budget: usize,
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
        }
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
    }

    fn data(&self, level: u8, index: u64, width: u16) -> Option<Bytes> {
        match self.get(&(Kind::Data, level, index, width))? {
            Value::Data(b) => Some(b),
            Value::Tree(_) => None,
        }
    }

    fn put_data(&self, level: u8, index: u64, width: u16, b: Bytes) {
        self.put((Kind::Data, level, index, width), Value::Data(b));
    }

    fn tree(&self, t: &TileId) -> Option<Arc<TileTree>> {
        match self.get(&(Kind::Tree, t.level, t.index, t.width))? {
            Value::Tree(t) => Some(t),
            Value::Data(_) => None,
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

    /// Reads an entry bundle of `width` entries starting at `index * 256`.
    ///
    /// # Errors
    /// Storage errors, or missing entries.
    pub fn entry_bundle(&self, index: u64, width: u16) -> Result<Bytes, StoreError> {
        if let Some(b) = self.cache.and_then(|c| c.data(ENTRIES_LEVEL, index, width)) {
            return Ok(b);
        }
        let entries = self.store.read_entries(index * 256, u64::from(width))?;
        if entries.len() != usize::from(width) {
            return Err(StoreError::Corrupt(format!(
                "entry bundle {index} has {} entries, need {width}",
                entries.len()
            )));
        }
        let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let data = attestlog_proto::tiles::encode_bundle(&refs)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let data = Bytes::from(data);
        if let Some(c) = self.cache {
            c.put_data(ENTRIES_LEVEL, index, width, data.clone());
        }
        Ok(data)
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
}
