//! Tile reads for the static path and the proof endpoints, through one LRU cache.
//!
//! A tile of a given width never changes (a partial tile of width W is a prefix of every later
//! version of that tile), so `(level, index, width)` is a perfect cache key.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use attestlog_proto::Hash;
use attestlog_proto::tiles::{TileId, TileReader, TileTree, node_location, tile_hashes};
use attestlog_proto::tree::{HashReader, NodeId};
use lru::LruCache;

use crate::storage::{LogStore, StoreError};

/// Cache key: (level, index, width); level 255 = entry bundles.
type Key = (u8, u64, u16);

/// Level used for entry bundles in the cache key.
pub const ENTRIES_LEVEL: u8 = u8::MAX;

/// An LRU cache of tiles and entry bundles.
#[derive(Debug)]
pub struct TileCache {
    inner: Mutex<LruCache<Key, Arc<Vec<u8>>>>,
    trees: Mutex<LruCache<Key, Arc<TileTree>>>,
}

impl TileCache {
    /// A cache holding up to `capacity` tiles.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
            trees: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity / 4).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn tree(&self, k: &Key) -> Option<Arc<TileTree>> {
        self.trees.lock().ok()?.get(k).cloned()
    }

    fn put_tree(&self, k: Key, v: Arc<TileTree>) {
        if let Ok(mut c) = self.trees.lock() {
            c.put(k, v);
        }
    }

    fn get(&self, k: &Key) -> Option<Arc<Vec<u8>>> {
        self.inner.lock().ok()?.get(k).cloned()
    }

    fn put(&self, k: Key, v: Arc<Vec<u8>>) {
        if let Ok(mut c) = self.inner.lock() {
            c.put(k, v);
        }
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
    pub fn hash_tiles(&self, tiles: &[TileId]) -> Result<Vec<Arc<Vec<u8>>>, StoreError> {
        let mut out: Vec<Option<Arc<Vec<u8>>>> = tiles
            .iter()
            .map(|t| self.cache.and_then(|c| c.get(&(t.level, t.index, t.width))))
            .collect();
        let missing: Vec<usize> = (0..tiles.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let keys: Vec<(u8, u64)> = missing
                .iter()
                .map(|&i| (tiles[i].level, tiles[i].index))
                .collect();
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
                let d = Arc::new(d);
                if let Some(c) = self.cache {
                    c.put((t.level, t.index, t.width), d.clone());
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
    pub fn entry_bundle(&self, index: u64, width: u16) -> Result<Arc<Vec<u8>>, StoreError> {
        let key = (ENTRIES_LEVEL, index, width);
        if let Some(b) = self.cache.and_then(|c| c.get(&key)) {
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
        let data = Arc::new(data);
        if let Some(c) = self.cache {
            c.put(key, data.clone());
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
            .map(|a| a.as_ref().clone())
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
                let cached = self.cache.tree(&(loc.0.level, loc.0.index, loc.0.width));
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
                self.cache
                    .put_tree((id.level, id.index, id.width), tree.clone());
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
