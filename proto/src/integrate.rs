//! The tile arithmetic of integration (as Tessera's `integrate`): extending the right edge of a
//! tiled tree by a batch of leaf hashes and naming the hash tiles that change.
//!
//! The right edge ([`Edge`]) is the tree's [`Frontier`] plus, for each tile level, the hashes
//! of its last (partial) tile. It is rebuilt from those partial tiles alone: each frontier node
//! is a perfect subtree inside the partial tile of its level, so no other tile is read.
//! [`integrate`] is a pure function: the same edge and leaves always give the same new edge
//! and tiles, so the sequencer writes, and `fsck` re-derives, exactly the same bytes.

use crate::hash::Hash;
use crate::tiles::{TILE_HEIGHT, TILE_WIDTH, TileId};
use crate::tree::{Frontier, NodeId, TreeError, perfect_subtree_hash};

/// Hashes in a full tile.
const FULL: usize = TILE_WIDTH as usize;

/// A hash tile written by integration: the tile (its width as of the new size) and its whole
/// data. Tiles only grow: what a store holds of that tile is a prefix of the data.
pub type ChangedTile = (TileId, Vec<u8>);

/// The tile `level`/`index` holding `data` (whole hashes, at most a full tile).
fn tile_of(level: u8, index: u64, hashes: usize) -> TileId {
    TileId {
        level,
        index,
        width: u16::try_from(hashes).unwrap_or(TILE_WIDTH),
    }
}

/// Why an edge cannot be rebuilt from stored tiles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// A partial tile the tree needs is missing or shorter than the tree.
    #[error("tile {level}/{index} has {got} bytes, the tree of size {size} needs {need}")]
    ShortTile {
        /// tile level
        level: u8,
        /// tile index
        index: u64,
        /// bytes stored
        got: usize,
        /// bytes needed
        need: usize,
        /// tree size
        size: u64,
    },
    /// A tile whose length is not a whole number of hashes.
    #[error("tile {level}/{index} has {got} bytes, not a whole number of 32-byte hashes")]
    Ragged {
        /// tile level
        level: u8,
        /// tile index
        index: u64,
        /// bytes stored
        got: usize,
    },
    /// The reader returned another number of tiles than asked.
    #[error("asked for {expected} tiles, got {got}")]
    TileCount {
        /// asked
        expected: usize,
        /// returned
        got: usize,
    },
    /// The frontier does not fit the size (a bug).
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// The right edge of a tiled tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edge {
    frontier: Frontier,
    /// Per tile level: the hashes of the level's current partial tile (empty when full).
    rows: Vec<Vec<Hash>>,
}

/// An edge reads as its frontier: [`Frontier::size`], [`Frontier::root`].
impl std::ops::Deref for Edge {
    type Target = Frontier;

    fn deref(&self) -> &Frontier {
        &self.frontier
    }
}

/// `(level, index, width)` of the partial tiles of the tree of `size` (levels with width 0
/// are left out): what [`Edge::from_tiles`] reads.
#[must_use]
pub fn partial_tiles(size: u64) -> Vec<(u8, u64, usize)> {
    let mut out = Vec::new();
    for level in 0u8.. {
        let Some(count) = size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT)) else {
            break;
        };
        if count == 0 {
            break;
        }
        // `count % 256` fits in usize.
        let width = usize::try_from(count % FULL as u64).unwrap_or(0);
        if width > 0 {
            out.push((level, count / FULL as u64, width));
        }
    }
    out
}

impl Edge {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the edge of the tree of `size` from its partial tiles: `read` gets the
    /// tiles of [`partial_tiles`]`(size)` and returns their stored data, in order.
    /// Data longer than the tree needs is cut (tiles only grow); shorter, missing or ragged
    /// data is an error, never skipped.
    ///
    /// # Errors
    /// [`EdgeError`], or the reader's error.
    pub fn from_tiles<E>(
        size: u64,
        read: impl FnOnce(&[TileId]) -> Result<Vec<Vec<u8>>, E>,
    ) -> Result<Result<Self, EdgeError>, E> {
        let wanted = partial_tiles(size);
        let keys: Vec<TileId> = wanted.iter().map(|&(l, i, w)| tile_of(l, i, w)).collect();
        let data = if keys.is_empty() {
            Vec::new()
        } else {
            read(&keys)?
        };
        Ok(Self::from_data(size, &wanted, &data))
    }

    fn from_data(
        size: u64,
        wanted: &[(u8, u64, usize)],
        data: &[Vec<u8>],
    ) -> Result<Self, EdgeError> {
        if data.len() != wanted.len() {
            return Err(EdgeError::TileCount {
                expected: wanted.len(),
                got: data.len(),
            });
        }
        let levels = wanted.last().map_or(0, |w| usize::from(w.0) + 1);
        let mut rows = vec![Vec::new(); levels];
        for (&(level, index, width), d) in wanted.iter().zip(data) {
            if d.len() % 32 != 0 {
                return Err(EdgeError::Ragged {
                    level,
                    index,
                    got: d.len(),
                });
            }
            let need = width * 32;
            if d.len() < need {
                return Err(EdgeError::ShortTile {
                    level,
                    index,
                    got: d.len(),
                    need,
                    size,
                });
            }
            rows[usize::from(level)] = d[..need]
                .chunks_exact(32)
                .map(|c| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    Hash(h)
                })
                .collect();
        }
        // Frontier nodes, largest (top level) first: within a level's partial tile, one perfect
        // subtree per set bit of its width, from the highest bit down.
        let mut nodes = Vec::new();
        for row in rows.iter().rev() {
            let mut at = 0;
            for bit in (0..TILE_HEIGHT).rev() {
                let n = 1usize << bit;
                if row.len() & n != 0 {
                    if let Some(h) = perfect_subtree_hash(&row[at..at + n]) {
                        nodes.push(h);
                    }
                    at += n;
                }
            }
        }
        Ok(Self {
            frontier: Frontier::from_hashes(size, nodes)?,
            rows,
        })
    }
}

/// Extends `edge` by `leaves`: the new edge and every hash tile whose content changed (each
/// completed tile once, then the partial tile of every level the batch touched).
#[must_use]
pub fn integrate(edge: &Edge, leaves: &[Hash]) -> (Edge, Vec<ChangedTile>) {
    let mut frontier = edge.frontier.clone();
    let mut rows = edge.rows.clone();
    let mut touched: Vec<bool> = Vec::new();
    let mut changed = Vec::new();
    for &leaf in leaves {
        frontier.push(leaf, |node: NodeId, h| {
            if !node.level.is_multiple_of(TILE_HEIGHT) {
                return;
            }
            let level = usize::from(node.level / TILE_HEIGHT);
            if rows.len() <= level {
                rows.resize(level + 1, Vec::new());
            }
            if touched.len() <= level {
                touched.resize(level + 1, false);
            }
            touched[level] = true;
            rows[level].push(h);
            if rows[level].len() == FULL {
                let data: Vec<u8> = rows[level].iter().flat_map(|h| h.0).collect();
                changed.push((
                    tile_of(node.level / TILE_HEIGHT, node.index / FULL as u64, FULL),
                    data,
                ));
                rows[level].clear();
            }
        });
    }
    let size = frontier.size();
    for (level, row) in rows.iter().enumerate() {
        if touched.get(level).copied().unwrap_or(false) && !row.is_empty() {
            let Ok(l) = u8::try_from(level) else { continue };
            let count = size >> (u32::from(TILE_HEIGHT) * u32::from(l));
            changed.push((
                tile_of(l, count / FULL as u64, row.len()),
                row.iter().flat_map(|h| h.0).collect(),
            ));
        }
    }
    (Edge { frontier, rows }, changed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;
    use crate::tree::MemoryTree;

    /// A store of hash tiles in memory that, like the real stores, only lets tiles grow.
    #[derive(Default)]
    struct MemStore {
        tiles: HashMap<(u8, u64), Vec<u8>>,
    }

    impl MemStore {
        fn apply(&mut self, changed: &[ChangedTile]) {
            for (t, data) in changed {
                let (l, i) = (t.level, t.index);
                assert_eq!(t.data_len(), data.len(), "tile {l}/{i} width");
                let old = self.tiles.entry((l, i)).or_default();
                assert!(data.starts_with(old), "tile {l}/{i} rewritten, not grown");
                assert!(
                    data.len() > old.len(),
                    "tile {l}/{i} written without growing"
                );
                *old = data.clone();
            }
        }

        fn read(&self, keys: &[TileId]) -> Result<Vec<Vec<u8>>, ()> {
            Ok(keys
                .iter()
                .map(|k| {
                    self.tiles
                        .get(&(k.level, k.index))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect())
        }
    }

    fn leaf(i: u64) -> Hash {
        Hash::leaf(&i.to_be_bytes())
    }

    /// Integrating batches of every awkward size into an in-memory store gives the tiles of
    /// the tree (checked against a plain in-memory Merkle tree), the right root, and an edge
    /// that the stored partial tiles alone rebuild.
    #[test]
    fn batches_give_the_tiles_of_the_tree() {
        let mut store = MemStore::default();
        let mut edge = Edge::new();
        let mut tree = MemoryTree::new();
        let sizes = [1usize, 2, 255, 1, 256, 257, 3, 511, 65_000, 700, 1];
        let mut next = 0u64;
        for n in sizes {
            let leaves: Vec<Hash> = (next..next + n as u64).map(leaf).collect();
            next += n as u64;
            for l in &leaves {
                tree.push(*l);
            }
            let (e, changed) = integrate(&edge, &leaves);
            store.apply(&changed);
            assert_eq!(e.size(), tree.size());
            assert_eq!(e.root(), tree.root());
            let loaded = Edge::from_tiles(e.size(), |k| store.read(k))
                .unwrap()
                .unwrap();
            assert_eq!(loaded, e, "edge rebuilt from tiles at size {}", e.size());
            edge = e;
        }
        // Every stored tile holds the tree's hashes at its level.
        for ((l, i), data) in &store.tiles {
            for (j, h) in data.chunks_exact(32).enumerate() {
                let node = NodeId::new(l * 8, i * 256 + j as u64);
                assert_eq!(tree.get(node).unwrap().0, h, "tile {l}/{i} hash {j}");
            }
        }
        assert!(
            store.tiles.contains_key(&(2, 0)),
            "the test reaches tile level 2"
        );
        // An empty batch changes nothing.
        let (same, changed) = integrate(&edge, &[]);
        assert_eq!(same, edge);
        assert!(changed.is_empty());
    }

    /// A short, missing or ragged partial tile is an error, never skipped.
    #[test]
    fn short_or_missing_tiles_are_errors() {
        let mut store = MemStore::default();
        let leaves: Vec<Hash> = (0..300).map(leaf).collect();
        let (edge, changed) = integrate(&Edge::new(), &leaves);
        store.apply(&changed);
        assert!(Edge::from_tiles(300, |k| store.read(k)).unwrap().is_ok());
        // A tree of 301 needs one more hash than stored.
        let e = Edge::from_tiles(301, |k| store.read(k))
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                e,
                EdgeError::ShortTile {
                    level: 0,
                    index: 1,
                    ..
                }
            ),
            "{e}"
        );
        // A smaller tree reads a prefix of the grown tiles.
        let small = Edge::from_tiles(290, |k| store.read(k)).unwrap().unwrap();
        assert_eq!(small.size(), 290);
        store.tiles.get_mut(&(0, 1)).unwrap().pop();
        let e = Edge::from_tiles(300, |k| store.read(k))
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, EdgeError::Ragged { .. }), "{e}");
        store.tiles.remove(&(0, 1));
        let e = Edge::from_tiles(300, |k| store.read(k))
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, EdgeError::ShortTile { got: 0, .. }), "{e}");
        assert_eq!(edge.size(), 300);
        // Reader errors come through unchanged.
        assert_eq!(
            Edge::from_tiles(300, |_| Err::<Vec<Vec<u8>>, _>("down")),
            Err("down")
        );
    }

    #[test]
    fn partial_tiles_name_each_level() {
        assert!(partial_tiles(0).is_empty());
        assert!(partial_tiles(256).iter().all(|t| t.0 == 1));
        assert_eq!(partial_tiles(256 * 256 + 3), vec![(0, 256, 3), (2, 0, 1)]);
    }
}
