//! c2sp.org/tlog-tiles: tile coordinates and paths, entry bundles, reading tree hashes out of
//! tiles, and verifying a tile against a checkpoint root.
//!
//! <https://c2sp.org/tlog-tiles>
//!
//! A hash tile at level `L`, index `N` and width `W` holds the hashes of tree level `8·L`,
//! nodes `N·256 .. N·256+W-1`, as a concatenation of 32-byte hashes. A full tile has
//! `W = 256` and its path has no `.p/<W>` suffix.

use std::collections::HashMap;
use std::fmt;

use crate::hash::Hash;
use crate::proof::{
    ProofError, subtree_inclusion_from_hashes, subtree_inclusion_indexes, verify_subtree_inclusion,
};
use crate::tree::{HashReader, NodeId, perfect_subtree_hash, range_nodes};

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;
/// The largest tile level a path may name.
pub const MAX_TILE_LEVEL: u8 = 63;
/// The largest entry an entry bundle can hold.
pub const MAX_ENTRY_LEN: usize = 65_535;

/// Errors in tile paths, tile coordinates, tile data and entry bundles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The path does not have the `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]` shape.
    #[error("tile path {0:?} is not <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]")]
    PathShape(String),
    /// The level is not a decimal 0..=63 without leading zeros.
    #[error("tile level {0:?} must be a decimal integer from 0 to 63 without leading zeros")]
    Level(String),
    /// An index element is not three digits with an `x` prefix on all but the last.
    #[error("tile index element {0:?} must be three digits, prefixed with x unless last")]
    IndexElement(String),
    /// The index starts with a redundant `x000` element.
    #[error("tile index must not start with x000")]
    IndexLeadingZeros,
    /// The index does not fit in 64 bits.
    #[error("tile index does not fit in 64 bits")]
    IndexOverflow,
    /// The partial width is not a decimal 1..=255 without leading zeros.
    #[error(
        "partial tile width {0:?} must be a decimal integer from 1 to 255 without leading zeros"
    )]
    Width(String),
    /// A tile coordinate with a level above 63 or a width outside 1..=256.
    #[error("tile level {level} width {width} is out of range (level 0..=63, width 1..=256)")]
    InvalidTile {
        /// tile level
        level: u8,
        /// tile width
        width: u16,
    },
    /// The tile is not (entirely) part of the tree of that size.
    #[error("tile at level {level} index {index} width {width} is not in tree size {size}")]
    BeyondTree {
        /// tile level
        level: u8,
        /// tile index
        index: u64,
        /// tile width
        width: u16,
        /// tree size
        size: u64,
    },
    /// Tile data of the wrong length.
    #[error("tile data is {got} bytes, expected {expected}")]
    TileDataLength {
        /// expected bytes
        expected: usize,
        /// actual bytes
        got: usize,
    },
    /// The tile does not verify against the tree root.
    #[error("tile does not verify against the tree: {0}")]
    Proof(#[from] ProofError),
    /// An entry bundle must hold at least one entry.
    #[error("entry bundle is empty")]
    EmptyBundle,
    /// More than 256 entries.
    #[error("entry bundle has more than 256 entries")]
    TooManyEntries,
    /// An entry longer than 65535 bytes.
    #[error("entry {index} is {len} bytes, more than 65535")]
    EntryTooLong {
        /// entry position in the bundle
        index: usize,
        /// entry length
        len: usize,
    },
    /// The bundle ends inside a length prefix or an entry.
    #[error("entry bundle is truncated at byte {offset}")]
    Truncated {
        /// offset of the incomplete length prefix or entry
        offset: usize,
    },
}

/// A hash tile coordinate: level `0..=63`, index, width `1..=256` (256 = full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level: the tile holds hashes of tree level `8·level`.
    pub level: u8,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes, 1..=256.
    pub width: u16,
}

impl TileId {
    /// A validated tile coordinate.
    ///
    /// # Errors
    /// [`TileError::InvalidTile`] for a level above 63 or a width outside 1..=256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, TileError> {
        let t = Self {
            level,
            index,
            width,
        };
        if t.is_valid() {
            Ok(t)
        } else {
            Err(TileError::InvalidTile { level, width })
        }
    }

    /// Whether level and width are in range.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.level <= MAX_TILE_LEVEL && (1..=TILE_WIDTH).contains(&self.width)
    }

    /// Whether this is a full (256-hash) tile.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The tile at `level`, `index` as it exists in a tree of `tree_size` leaves: full, a
    /// partial width, or `None` if it is empty or beyond the tree (or the level too high).
    #[must_use]
    pub fn for_size(level: u8, index: u64, tree_size: u64) -> Option<TileId> {
        if level > MAX_TILE_LEVEL {
            return None;
        }
        let count = nodes_at_level(tree_size, u32::from(level) * u32::from(TILE_HEIGHT));
        let start = index.checked_mul(u64::from(TILE_WIDTH))?;
        if count <= start {
            return None;
        }
        let width = u16::try_from((count - start).min(u64::from(TILE_WIDTH))).ok()?;
        Some(TileId {
            level,
            index,
            width,
        })
    }

    /// The tree level of the hashes in this tile (`8·level`), if it is a real tree level.
    #[must_use]
    pub fn tree_level(&self) -> Option<u8> {
        let l = self.level.checked_mul(TILE_HEIGHT)?;
        (l < 64).then_some(l)
    }

    /// The tree nodes whose hashes this tile holds, in order (empty for an invalid tile or
    /// one beyond any possible tree).
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeId> {
        let Some(level) = self.tree_level() else {
            return Vec::new();
        };
        if !self.is_valid() {
            return Vec::new();
        }
        let Some(start) = self.index.checked_mul(u64::from(TILE_WIDTH)) else {
            return Vec::new();
        };
        (0..u64::from(self.width))
            .map_while(|i| start.checked_add(i).map(|n| NodeId::new(level, n)))
            .collect()
    }

    /// Length in bytes of this tile's data.
    #[must_use]
    pub fn data_len(&self) -> usize {
        usize::from(self.width) * Hash::LEN
    }
}

/// Number of complete nodes at tree level `level` in a tree of `size` leaves.
fn nodes_at_level(size: u64, level: u32) -> u64 {
    size.checked_shr(level).unwrap_or(0)
}

/// The number of tile levels with at least one non-empty tile in a tree of `size` leaves.
#[must_use]
pub fn level_count(size: u64) -> u8 {
    let mut l = 0u8;
    while l <= MAX_TILE_LEVEL && nodes_at_level(size, u32::from(l) * u32::from(TILE_HEIGHT)) > 0 {
        l += 1;
    }
    l
}

/// Every hash tile whose content at `new_size` differs from `old_size` (new tiles and tiles
/// that grew), with its width at `new_size`, level by level. Empty if `new_size ≤ old_size`.
#[must_use]
pub fn tiles_for_growth(old_size: u64, new_size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    if new_size <= old_size {
        return out;
    }
    let w = u64::from(TILE_WIDTH);
    for level in 0..level_count(new_size) {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let old_n = nodes_at_level(old_size, shift);
        let new_n = nodes_at_level(new_size, shift);
        if old_n == new_n {
            break;
        }
        for index in old_n / w..=(new_n - 1) / w {
            if let Some(t) = TileId::for_size(level, index, new_size) {
                out.push(t);
            }
        }
    }
    out
}

/// The tile that stores `node`'s hash, as `(tile level, tile index, offset in the tile)`,
/// for nodes whose level is a multiple of 8 (only those are stored in tiles).
#[must_use]
pub fn tile_of_node(node: NodeId) -> Option<(u8, u64, u16)> {
    if !node.level.is_multiple_of(TILE_HEIGHT) || node.level >= 64 {
        return None;
    }
    let w = u64::from(TILE_WIDTH);
    let offset = u16::try_from(node.index % w).ok()?;
    Some((node.level / TILE_HEIGHT, node.index / w, offset))
}

/// A parsed tile path (the part after `tile/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// `<L>/<N>[.p/<W>]`
    Hashes(TileId),
    /// `entries/<N>[.p/<W>]`
    Entries {
        /// bundle index
        index: u64,
        /// number of entries, 1..=256
        width: u16,
    },
}

impl TilePath {
    /// Parses the part of a tile path after `tile/`, strictly: exactly one spelling per tile.
    ///
    /// # Errors
    /// A [`TileError`] naming the malformed part.
    pub fn parse(path: &str) -> Result<TilePath, TileError> {
        let shape = || TileError::PathShape(path.to_owned());
        let elems: Vec<&str> = path.split('/').collect();
        let (first, rest) = elems.split_first().ok_or_else(shape)?;
        if rest.is_empty() {
            return Err(shape());
        }
        let (index_elems, width) = match rest.split_last() {
            Some((w, before)) if before.last().is_some_and(|e| e.ends_with(".p")) => {
                let mut idx = before.to_vec();
                if let Some(last) = idx.last_mut() {
                    *last = last.strip_suffix(".p").unwrap_or(last);
                }
                (idx, parse_width(w)?)
            }
            _ => (rest.to_vec(), TILE_WIDTH),
        };
        let index = parse_index(&index_elems)?;
        if *first == "entries" {
            return Ok(TilePath::Entries { index, width });
        }
        let level = parse_level(first)?;
        Ok(TilePath::Hashes(TileId {
            level,
            index,
            width,
        }))
    }

    /// The path after `tile/`, as [`TilePath::parse`] takes it (same as `Display`).
    #[must_use]
    pub fn to_path(&self) -> String {
        self.to_string()
    }

    /// The full path from the log prefix: `tile/` followed by [`TilePath::to_path`].
    #[must_use]
    pub fn full_path(&self) -> String {
        format!("tile/{self}")
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (index, width) = match self {
            TilePath::Hashes(t) => {
                write!(f, "{}/", t.level)?;
                (t.index, t.width)
            }
            TilePath::Entries { index, width } => {
                f.write_str("entries/")?;
                (*index, *width)
            }
        };
        let mut groups = Vec::new();
        let mut n = index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        for g in groups.iter().skip(1).rev() {
            write!(f, "x{g:03}/")?;
        }
        write!(f, "{:03}", groups.first().copied().unwrap_or(0))?;
        if width < TILE_WIDTH {
            write!(f, ".p/{width}")?;
        }
        Ok(())
    }
}

/// A decimal without sign or leading zeros (`0` itself allowed).
fn canonical_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_level(s: &str) -> Result<u8, TileError> {
    canonical_decimal(s)
        .and_then(|v| u8::try_from(v).ok())
        .filter(|&v| v <= MAX_TILE_LEVEL)
        .ok_or_else(|| TileError::Level(s.to_owned()))
}

fn parse_width(s: &str) -> Result<u16, TileError> {
    canonical_decimal(s)
        .and_then(|v| u16::try_from(v).ok())
        .filter(|&v| (1..TILE_WIDTH).contains(&v))
        .ok_or_else(|| TileError::Width(s.to_owned()))
}

fn parse_index(elems: &[&str]) -> Result<u64, TileError> {
    let mut n = 0u64;
    let last = elems.len().saturating_sub(1);
    for (i, e) in elems.iter().enumerate() {
        let digits = if i < last {
            e.strip_prefix('x')
        } else {
            Some(*e)
        };
        let group = digits
            .filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| TileError::IndexElement((*e).to_owned()))?;
        if i == 0 && i < last && group == 0 {
            return Err(TileError::IndexLeadingZeros);
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(group))
            .ok_or(TileError::IndexOverflow)?;
    }
    Ok(n)
}

/// Reads tile data.
pub trait TileReader {
    /// Storage or network error.
    type Error;
    /// Returns the data of each tile, in the order asked (a tile of width `W` is `32·W`
    /// bytes).
    ///
    /// # Errors
    /// Storage or network errors, or a tile that does not exist.
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, Self::Error>;
}

/// Errors reading tree hashes out of tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError<E> {
    /// The tile reader failed.
    #[error("reading tiles failed")]
    Read(#[source] E),
    /// The node is not a complete subtree of the tree (or its level is not a tree level).
    #[error("node at level {level} index {index} is not in tree size {size}")]
    NodeNotInTree {
        /// node level
        level: u8,
        /// node index
        index: u64,
        /// tree size
        size: u64,
    },
    /// The reader returned the wrong number of tiles.
    #[error("tile reader returned {got} tiles for {expected}")]
    TileCount {
        /// tiles asked for
        expected: usize,
        /// tiles returned
        got: usize,
    },
    /// A tile with the wrong number of bytes.
    #[error("tile at level {} index {} width {} is {got} bytes, expected {expected}", .tile.level, .tile.index, .tile.width)]
    TileLength {
        /// the tile
        tile: TileId,
        /// expected bytes
        expected: usize,
        /// returned bytes
        got: usize,
    },
}

/// A [`HashReader`] over the tiles of the tree of `size` leaves: each node is computed from
/// `2^(level mod 8)` hashes of one tile (the tile as of `size`), and every tile a call needs
/// is read in one [`TileReader::read_tiles`] call. Tile data is not verified here; proofs
/// built from it are checked against a signed root by their verifiers, and
/// [`verify_tile_with_hashes`] verifies a tile on its own.
#[derive(Debug)]
pub struct TileHashReader<'a, T: ?Sized> {
    size: u64,
    reader: &'a T,
}

impl<'a, T: ?Sized> TileHashReader<'a, T> {
    /// Reads the tree of `size` leaves through `reader`.
    #[must_use]
    pub fn new(size: u64, reader: &'a T) -> Self {
        Self { size, reader }
    }

    /// The tree size.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Where a node's hash comes from: the tile (as of a tree size), the node's row inside the
/// tile (0 = the tile's own hashes, r = subtrees of 2^r of them) and its position in that row.
/// `None` when the node is not a complete subtree of the tree of `size`.
#[must_use]
pub fn node_location(node: NodeId, size: u64) -> Option<(TileId, u8, usize)> {
    let s = node_source(node, size)?;
    let r = node.level % TILE_HEIGHT;
    Some((s.tile, r, s.offset >> r))
}

/// Every complete subtree hash inside one tile: row 0 is the tile's hashes, row r the hashes
/// of aligned groups of 2^r of them. Computing it once per tile lets a server answer proofs
/// without rehashing (a tile of width W costs W−1 node hashes, once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileTree {
    rows: Vec<Vec<Hash>>,
}

impl TileTree {
    /// Builds the rows from a tile's hashes.
    #[must_use]
    pub fn new(hashes: Vec<Hash>) -> Self {
        let mut rows = vec![hashes];
        while rows.len() < usize::from(TILE_HEIGHT) {
            let Some(prev) = rows.last() else { break };
            if prev.len() < 2 {
                break;
            }
            let next: Vec<Hash> = prev
                .chunks_exact(2)
                .map(|p| Hash::node(&p[0], &p[1]))
                .collect();
            rows.push(next);
        }
        Self { rows }
    }

    /// The hash at `row`, `position`, if that subtree is complete in this tile.
    #[must_use]
    pub fn get(&self, row: u8, position: usize) -> Option<Hash> {
        self.rows.get(usize::from(row))?.get(position).copied()
    }
}

/// Where a node's hash comes from: `count` hashes at `offset` of `tile`.
struct NodeSource {
    tile: TileId,
    offset: usize,
    count: usize,
}

fn node_source(node: NodeId, size: u64) -> Option<NodeSource> {
    if node.level >= 64 || node.end_leaf() > size {
        return None;
    }
    let tile_level = node.level / TILE_HEIGHT;
    let r = node.level % TILE_HEIGHT;
    // The node covers 2^r nodes of tree level 8·tile_level, starting at `first`.
    let first = node.index.checked_shl(u32::from(r))?;
    if first >> r != node.index {
        return None;
    }
    let w = u64::from(TILE_WIDTH);
    let tile = TileId::for_size(tile_level, first / w, size)?;
    let offset = usize::try_from(first % w).ok()?;
    let count = 1usize << r;
    if offset + count > usize::from(tile.width) {
        return None;
    }
    Some(NodeSource {
        tile,
        offset,
        count,
    })
}

impl<T: TileReader + ?Sized> HashReader for TileHashReader<'_, T> {
    type Error = TileReadError<T::Error>;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        let mut sources = Vec::with_capacity(nodes.len());
        let mut tiles: Vec<TileId> = Vec::new();
        let mut slot: HashMap<TileId, usize> = HashMap::new();
        for &n in nodes {
            let s = node_source(n, self.size).ok_or(TileReadError::NodeNotInTree {
                level: n.level,
                index: n.index,
                size: self.size,
            })?;
            let i = *slot.entry(s.tile).or_insert_with(|| {
                tiles.push(s.tile);
                tiles.len() - 1
            });
            sources.push((s, i));
        }
        if tiles.is_empty() {
            return Ok(Vec::new());
        }
        let data = self
            .reader
            .read_tiles(&tiles)
            .map_err(TileReadError::Read)?;
        if data.len() != tiles.len() {
            return Err(TileReadError::TileCount {
                expected: tiles.len(),
                got: data.len(),
            });
        }
        let mut parsed: Vec<Vec<Hash>> = Vec::with_capacity(tiles.len());
        for (t, d) in tiles.iter().zip(&data) {
            parsed.push(tile_hashes(t, d).map_err(|_| TileReadError::TileLength {
                tile: *t,
                expected: t.data_len(),
                got: d.len(),
            })?);
        }
        let mut out = Vec::with_capacity(nodes.len());
        for ((s, i), &n) in sources.iter().zip(nodes) {
            let not_in_tree = || TileReadError::NodeNotInTree {
                level: n.level,
                index: n.index,
                size: self.size,
            };
            let hashes = parsed
                .get(*i)
                .and_then(|p| p.get(s.offset..s.offset + s.count))
                .ok_or_else(not_in_tree)?;
            out.push(perfect_subtree_hash(hashes).ok_or_else(not_in_tree)?);
        }
        Ok(out)
    }
}

/// Splits tile data into its hashes, checking its length against the tile's width.
///
/// # Errors
/// [`TileError::TileDataLength`] if `data` is not exactly `32·width` bytes.
pub fn tile_hashes(tile: &TileId, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    if data.len() != tile.data_len() {
        return Err(TileError::TileDataLength {
            expected: tile.data_len(),
            got: data.len(),
        });
    }
    Ok(data
        .chunks_exact(Hash::LEN)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Hash(h)
        })
        .collect())
}

/// The complete subtrees that together cover exactly the hashes of `tile` (one node for a
/// full tile, up to eight for a partial one), with their offset and count within the tile.
fn tile_pieces(tile: &TileId, tree_size: u64) -> Result<Vec<(NodeId, usize, usize)>, TileError> {
    let beyond = TileError::BeyondTree {
        level: tile.level,
        index: tile.index,
        width: tile.width,
        size: tree_size,
    };
    if !tile.is_valid() {
        return Err(TileError::InvalidTile {
            level: tile.level,
            width: tile.width,
        });
    }
    let base = tile.tree_level().ok_or(beyond.clone())?;
    let start = tile
        .index
        .checked_mul(u64::from(TILE_WIDTH))
        .ok_or(beyond.clone())?;
    let end = start + u64::from(tile.width);
    if end > nodes_at_level(tree_size, u32::from(base)) {
        return Err(beyond);
    }
    Ok(range_nodes(start, end)
        .into_iter()
        .map(|n| {
            // Offsets within one tile are below 256.
            let offset = usize::try_from(n.first_leaf() - start).unwrap_or(usize::MAX);
            let count = 1usize << n.level;
            (NodeId::new(base + n.level, n.index), offset, count)
        })
        .collect())
}

/// The stored hashes needed to verify `tile` against the root of the tree of `tree_size`
/// leaves, in the order [`verify_tile_with_hashes`] expects them: the inclusion proofs of
/// the complete subtrees the tile's hashes cover.
///
/// # Errors
/// [`TileError::InvalidTile`] or [`TileError::BeyondTree`].
pub fn tile_root_proof_indexes(tile: &TileId, tree_size: u64) -> Result<Vec<NodeId>, TileError> {
    let mut out = Vec::new();
    for (node, _, _) in tile_pieces(tile, tree_size)? {
        out.extend(subtree_inclusion_indexes(node, tree_size)?);
    }
    Ok(out)
}

/// Verifies tile `data` for `tile` against `root`, the (signed) root of the tree of
/// `tree_size` leaves, using the hashes of [`tile_root_proof_indexes`]`(tile, tree_size)`.
/// Each complete subtree covered by the tile is hashed from the tile's data and proven
/// included in the tree, so every hash in the tile is bound to the root.
///
/// # Errors
/// [`TileError::TileDataLength`] for data of the wrong length, [`TileError::InvalidTile`] or
/// [`TileError::BeyondTree`], [`TileError::Proof`] if the tile does not match the root (or
/// `hashes` has the wrong length).
pub fn verify_tile_with_hashes(
    tile: &TileId,
    data: &[u8],
    tree_size: u64,
    root: &Hash,
    hashes: &[Hash],
) -> Result<(), TileError> {
    let pieces = tile_pieces(tile, tree_size)?;
    let tile_hashes = tile_hashes(tile, data)?;
    let mut rest = hashes;
    for (node, offset, count) in pieces {
        let need = subtree_inclusion_indexes(node, tree_size)?.len();
        if rest.len() < need {
            return Err(ProofError::Reader {
                expected: need,
                got: rest.len(),
            }
            .into());
        }
        let (these, tail) = rest.split_at(need);
        rest = tail;
        let proof = subtree_inclusion_from_hashes(node, tree_size, these)?;
        let node_hash = tile_hashes
            .get(offset..offset + count)
            .and_then(perfect_subtree_hash)
            .ok_or(TileError::TileDataLength {
                expected: tile.data_len(),
                got: data.len(),
            })?;
        verify_subtree_inclusion(node, &node_hash, tree_size, &proof, root)?;
    }
    if !rest.is_empty() {
        return Err(ProofError::Reader {
            expected: hashes.len() - rest.len(),
            got: hashes.len(),
        }
        .into());
    }
    Ok(())
}

/// Encodes an entry bundle: each entry as a big-endian `u16` length and its bytes.
///
/// # Errors
/// [`TileError::EmptyBundle`], [`TileError::TooManyEntries`] (more than 256) or
/// [`TileError::EntryTooLong`] (more than 65535 bytes).
pub fn encode_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    if entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::TooManyEntries);
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for (index, e) in entries.iter().enumerate() {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLong {
            index,
            len: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle strictly: 1 to 256 complete entries and nothing else.
///
/// # Errors
/// [`TileError::EmptyBundle`], [`TileError::Truncated`] or [`TileError::TooManyEntries`].
pub fn decode_bundle(data: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    if data.is_empty() {
        return Err(TileError::EmptyBundle);
    }
    let mut out = Vec::new();
    let mut offset = 0usize;
    while offset < data.len() {
        if out.len() == usize::from(TILE_WIDTH) {
            return Err(TileError::TooManyEntries);
        }
        let Some(&[hi, lo]) = data.get(offset..offset + 2) else {
            return Err(TileError::Truncated { offset });
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let entry = data
            .get(offset + 2..offset + 2 + len)
            .ok_or(TileError::Truncated { offset })?;
        out.push(entry);
        offset += 2 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{consistency_proof, inclusion_proof};
    use crate::tree::{MemoryTree, tree_root};
    use std::cell::Cell;

    fn t(level: u8, index: u64, width: u16) -> TileId {
        TileId::new(level, index, width).unwrap()
    }

    // Examples from c2sp.org/tlog-tiles (`x001/x234/067` for 1234067) plus edge cases.
    const GOOD: &[(&str, TilePath)] = &[
        (
            "0/000",
            TilePath::Hashes(TileId {
                level: 0,
                index: 0,
                width: 256,
            }),
        ),
        (
            "0/x001/x234/067",
            TilePath::Hashes(TileId {
                level: 0,
                index: 1_234_067,
                width: 256,
            }),
        ),
        (
            "0/x001/x234/067.p/8",
            TilePath::Hashes(TileId {
                level: 0,
                index: 1_234_067,
                width: 8,
            }),
        ),
        (
            "63/x001/000.p/255",
            TilePath::Hashes(TileId {
                level: 63,
                index: 1000,
                width: 255,
            }),
        ),
        (
            "10/999.p/1",
            TilePath::Hashes(TileId {
                level: 10,
                index: 999,
                width: 1,
            }),
        ),
        (
            "1/x018/x446/x744/x073/x709/x551/615",
            TilePath::Hashes(TileId {
                level: 1,
                index: u64::MAX,
                width: 256,
            }),
        ),
        (
            "entries/000",
            TilePath::Entries {
                index: 0,
                width: 256,
            },
        ),
        (
            "entries/x001/x234/067.p/128",
            TilePath::Entries {
                index: 1_234_067,
                width: 128,
            },
        ),
    ];

    #[test]
    fn paths_parse_and_round_trip() {
        for (s, want) in GOOD {
            let got = TilePath::parse(s).unwrap();
            assert_eq!(got, *want, "{s}");
            assert_eq!(got.to_path(), *s);
            assert_eq!(got.full_path(), format!("tile/{s}"));
        }
    }

    #[test]
    fn malformed_paths_are_rejected() {
        let bad = [
            "",
            "0",
            "0/",
            "/0/000",
            "tile/0/000",
            "0/1234",
            "0/x1/234",
            "0/12",
            "0/0000",
            "0/x001",
            "0/001/x002",
            "0/x000/001",
            "0/x000/x001/002",
            "0/000/",
            "0/000.p",
            "0/000.p/",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/01",
            "0/000.p/+1",
            "0/000.p/8/",
            "0/000.q/8",
            "0/x001.p/002",
            "00/000",
            "01/000",
            "64/000",
            "-1/000",
            "+1/000",
            "a/000",
            "0/00a",
            "0/+01",
            "0/ 01",
            "0/X001/000",
            "0/x001/x000",
            "0/\u{ff10}\u{ff10}\u{ff10}",
            "0/x018/x446/x744/x073/x709/x551/616",
            "0/x001/x018/x446/x744/x073/x709/x551/615",
            "entries",
            "entries/",
            "entries/.p/8",
            "entries/0000",
            "entries/000.p/256",
            "data/000",
        ];
        for s in bad {
            assert!(TilePath::parse(s).is_err(), "{s:?} accepted");
        }
        assert_eq!(
            TilePath::parse("0/1234"),
            Err(TileError::IndexElement("1234".into()))
        );
        assert_eq!(
            TilePath::parse("0/000.p/01"),
            Err(TileError::Width("01".into()))
        );
        assert_eq!(
            TilePath::parse("64/000"),
            Err(TileError::Level("64".into()))
        );
        assert_eq!(
            TilePath::parse("0/x000/001"),
            Err(TileError::IndexLeadingZeros)
        );
        assert_eq!(
            TilePath::parse("0/x018/x446/x744/x073/x709/x551/616"),
            Err(TileError::IndexOverflow)
        );
    }

    #[test]
    fn formatted_paths_snapshot() {
        let mut lines = Vec::new();
        for index in [0, 1, 999, 1000, 1_234_067, 1_000_000, u64::MAX] {
            for width in [1, 8, 255, 256] {
                lines.push(TilePath::Hashes(t(0, index, width)).full_path());
                lines.push(TilePath::Entries { index, width }.full_path());
            }
        }
        lines.push(TilePath::Hashes(t(63, 5, 256)).full_path());
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn tile_coordinates_for_sizes() {
        assert_eq!(TileId::for_size(0, 0, 0), None);
        assert_eq!(TileId::for_size(0, 0, 1), Some(t(0, 0, 1)));
        assert_eq!(TileId::for_size(0, 0, 256), Some(t(0, 0, 256)));
        assert_eq!(TileId::for_size(0, 1, 256), None);
        assert_eq!(TileId::for_size(0, 1, 257), Some(t(0, 1, 1)));
        assert_eq!(TileId::for_size(1, 0, 255), None);
        assert_eq!(TileId::for_size(1, 0, 256), Some(t(1, 0, 1)));
        assert_eq!(TileId::for_size(1, 0, 70_000), Some(t(1, 0, 256)));
        assert_eq!(TileId::for_size(1, 1, 70_000), Some(t(1, 1, 17)));
        assert_eq!(TileId::for_size(2, 0, 70_000), Some(t(2, 0, 1)));
        assert_eq!(TileId::for_size(7, 0, u64::MAX), Some(t(7, 0, 255)));
        assert_eq!(TileId::for_size(8, 0, u64::MAX), None);
        assert_eq!(TileId::for_size(64, 0, u64::MAX), None);
        assert_eq!(TileId::for_size(0, u64::MAX, u64::MAX), None);
        assert!(TileId::new(0, 0, 0).is_err());
        assert!(TileId::new(0, 0, 257).is_err());
        assert!(TileId::new(64, 0, 1).is_err());
        assert_eq!(level_count(0), 0);
        assert_eq!(level_count(1), 1);
        assert_eq!(level_count(255), 1);
        assert_eq!(level_count(256), 2);
        assert_eq!(level_count(65_535), 2);
        assert_eq!(level_count(65_536), 3);
        assert_eq!(level_count(u64::MAX), 8);
        assert_eq!(tile_of_node(NodeId::new(8, 300)), Some((1, 1, 44)));
        assert_eq!(tile_of_node(NodeId::new(0, 255)), Some((0, 0, 255)));
        assert_eq!(tile_of_node(NodeId::new(3, 1)), None);
        assert_eq!(
            t(1, 2, 3).nodes(),
            vec![
                NodeId::new(8, 512),
                NodeId::new(8, 513),
                NodeId::new(8, 514)
            ]
        );
    }

    #[test]
    fn growth_lists_changed_tiles() {
        assert_eq!(tiles_for_growth(0, 1), vec![t(0, 0, 1)]);
        assert_eq!(tiles_for_growth(5, 5), vec![]);
        assert_eq!(tiles_for_growth(6, 5), vec![]);
        assert_eq!(tiles_for_growth(255, 256), vec![t(0, 0, 256), t(1, 0, 1)]);
        assert_eq!(tiles_for_growth(256, 257), vec![t(0, 1, 1)]);
        assert_eq!(
            tiles_for_growth(100, 700),
            vec![t(0, 0, 256), t(0, 1, 256), t(0, 2, 188), t(1, 0, 2)]
        );
        // Against a brute force over every tile of the first levels.
        for (old, new) in [(0, 70_000), (300, 65_536), (65_535, 65_537), (1, 513)] {
            let mut want = Vec::new();
            for level in 0..4u8 {
                for index in 0..300 {
                    let a = TileId::for_size(level, index, old);
                    let b = TileId::for_size(level, index, new);
                    if let Some(b) = b
                        && a != Some(b)
                    {
                        want.push(b);
                    }
                }
            }
            assert_eq!(tiles_for_growth(old, new), want, "{old} -> {new}");
        }
    }

    #[test]
    fn bundles_round_trip_and_reject() {
        let long = vec![7u8; 65_535];
        let entries: Vec<&[u8]> = vec![b"", b"a", b"hello", &long];
        let enc = encode_bundle(&entries).unwrap();
        assert_eq!(&enc[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(decode_bundle(&enc).unwrap(), entries);
        let too_long = vec![0u8; 65_536];
        assert_eq!(
            encode_bundle(&[b"x", &too_long]),
            Err(TileError::EntryTooLong {
                index: 1,
                len: 65_536
            })
        );
        let many: Vec<&[u8]> = vec![b"e"; 257];
        assert_eq!(encode_bundle(&many), Err(TileError::TooManyEntries));
        let full = encode_bundle(&many[..256]).unwrap();
        assert_eq!(decode_bundle(&full).unwrap().len(), 256);
        assert_eq!(
            decode_bundle(&[full.as_slice(), &[0, 0]].concat()),
            Err(TileError::TooManyEntries)
        );
        assert_eq!(encode_bundle(&[]), Err(TileError::EmptyBundle));
        assert_eq!(decode_bundle(&[]), Err(TileError::EmptyBundle));
        assert_eq!(decode_bundle(&[0]), Err(TileError::Truncated { offset: 0 }));
        assert_eq!(
            decode_bundle(&[0, 2, b'a']),
            Err(TileError::Truncated { offset: 0 })
        );
        assert_eq!(
            decode_bundle(&[0, 1, b'a', 0]),
            Err(TileError::Truncated { offset: 3 })
        );
        assert_eq!(decode_bundle(&[0, 0]).unwrap(), vec![b"" as &[u8]]);
    }

    /// Serves tiles cut from a [`MemoryTree`], counting `read_tiles` calls.
    struct MemTiles<'a> {
        tree: &'a MemoryTree,
        calls: Cell<usize>,
        corrupt: Option<TileId>,
    }

    impl TileReader for MemTiles<'_> {
        type Error = String;
        fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, String> {
            self.calls.set(self.calls.get() + 1);
            let mut seen = std::collections::HashSet::new();
            tiles
                .iter()
                .map(|tile| {
                    assert!(seen.insert(*tile), "tile asked twice");
                    let mut d = Vec::new();
                    for n in tile.nodes() {
                        d.extend_from_slice(&self.tree.get(n).ok_or("missing")?.0);
                    }
                    if self.corrupt == Some(*tile) {
                        d.pop();
                    }
                    Ok(d)
                })
                .collect()
        }
    }

    fn big_tree() -> MemoryTree {
        let mut m = MemoryTree::new();
        for i in 0..70_000u64 {
            m.push(Hash::leaf(&i.to_le_bytes()));
        }
        m
    }

    #[test]
    fn tile_reader_matches_memory_reader() {
        let mem = big_tree();
        let tiles = MemTiles {
            tree: &mem,
            calls: Cell::new(0),
            corrupt: None,
        };
        let sizes = [1u64, 255, 256, 257, 65_535, 65_536, 65_537, 70_000];
        for &n in &sizes {
            let tr = TileHashReader::new(n, &tiles);
            let before = tiles.calls.get();
            assert_eq!(
                tree_root(n, &tr).unwrap(),
                tree_root(n, &mem).unwrap(),
                "{n}"
            );
            assert_eq!(tiles.calls.get(), before + 1, "one read per call");
            for i in [0, n / 3, n / 2, n - 1] {
                assert_eq!(
                    inclusion_proof(i, n, &tr).unwrap(),
                    inclusion_proof(i, n, &mem).unwrap(),
                    "{i}/{n}"
                );
            }
            for &m in sizes.iter().filter(|&&m| m <= n) {
                assert_eq!(
                    consistency_proof(m, n, &tr).unwrap(),
                    consistency_proof(m, n, &mem).unwrap(),
                    "{m} -> {n}"
                );
            }
        }
        // Errors: a node beyond the tree, a short tile, a failing reader.
        let tr = TileHashReader::new(300, &tiles);
        assert!(matches!(
            tr.read_hashes(&[NodeId::new(0, 300)]),
            Err(TileReadError::NodeNotInTree { .. })
        ));
        assert!(matches!(
            tr.read_hashes(&[NodeId::new(2, 75)]),
            Err(TileReadError::NodeNotInTree { .. })
        ));
        assert!(matches!(
            tr.read_hashes(&[NodeId::new(64, 0)]),
            Err(TileReadError::NodeNotInTree { .. })
        ));
        let short = MemTiles {
            tree: &mem,
            calls: Cell::new(0),
            corrupt: Some(t(0, 1, 44)),
        };
        let tr = TileHashReader::new(300, &short);
        assert!(matches!(
            tr.read_hashes(&[NodeId::new(0, 3), NodeId::new(0, 299)]),
            Err(TileReadError::TileLength { got: 1407, .. })
        ));
        let empty = MemoryTree::new();
        let failing = MemTiles {
            tree: &empty,
            calls: Cell::new(0),
            corrupt: None,
        };
        assert!(matches!(
            TileHashReader::new(5, &failing).read_hashes(&[NodeId::new(0, 1)]),
            Err(TileReadError::Read(_))
        ));
    }

    #[test]
    fn tiles_verify_against_root() {
        let mem = big_tree();
        let tiles = MemTiles {
            tree: &mem,
            calls: Cell::new(0),
            corrupt: None,
        };
        for n in [1u64, 255, 256, 257, 600, 65_536, 70_000] {
            let root = tree_root(n, &mem).unwrap();
            for level in 0..level_count(n) {
                for index in [0, 1, (n >> (8 * u32::from(level))) / 256] {
                    let Some(tile) = TileId::for_size(level, index, n) else {
                        continue;
                    };
                    let data = tiles.read_tiles(&[tile]).unwrap().remove(0);
                    let idx = tile_root_proof_indexes(&tile, n).unwrap();
                    let hashes = mem.read_hashes(&idx).unwrap();
                    verify_tile_with_hashes(&tile, &data, n, &root, &hashes).unwrap();
                    // A flipped byte anywhere is caught.
                    for pos in [0, data.len() / 2, data.len() - 1] {
                        let mut bad = data.clone();
                        bad[pos] ^= 1;
                        assert!(
                            matches!(
                                verify_tile_with_hashes(&tile, &bad, n, &root, &hashes),
                                Err(TileError::Proof(ProofError::RootMismatch))
                            ),
                            "{tile:?} at {n}, byte {pos}"
                        );
                    }
                    // Wrong root, short data, extra or missing hashes.
                    let wrong = Hash([9; 32]);
                    assert!(verify_tile_with_hashes(&tile, &data, n, &wrong, &hashes).is_err());
                    assert!(matches!(
                        verify_tile_with_hashes(&tile, &data[32..], n, &root, &hashes),
                        Err(TileError::TileDataLength { .. })
                    ));
                    let extra = [hashes.as_slice(), &[root]].concat();
                    assert!(verify_tile_with_hashes(&tile, &data, n, &root, &extra).is_err());
                    if let Some((_, fewer)) = hashes.split_last() {
                        assert!(verify_tile_with_hashes(&tile, &data, n, &root, fewer).is_err());
                    }
                }
            }
        }
        // A tile the tree does not (fully) contain.
        assert!(matches!(
            tile_root_proof_indexes(&t(0, 1, 256), 300),
            Err(TileError::BeyondTree { .. })
        ));
        assert!(tile_root_proof_indexes(&t(0, 1, 44), 300).is_ok());
        assert!(tile_root_proof_indexes(&t(0, 1, 45), 300).is_err());
        // An older partial tile still verifies against a larger tree.
        let root = tree_root(600, &mem).unwrap();
        let old = t(0, 1, 44);
        let data = tiles.read_tiles(&[old]).unwrap().remove(0);
        let hashes = mem
            .read_hashes(&tile_root_proof_indexes(&old, 600).unwrap())
            .unwrap();
        verify_tile_with_hashes(&old, &data, 600, &root, &hashes).unwrap();
    }
}

#[cfg(test)]
mod tile_tree_tests {
    use super::*;
    use crate::tree::{MemoryTree, NodeId};

    #[test]
    fn tile_tree_rows_match_the_tree() {
        let mut t = MemoryTree::new();
        for i in 0..300u32 {
            t.push(Hash::leaf(&i.to_be_bytes()));
        }
        for (tile_index, width) in [(0u64, 256usize), (1, 44)] {
            let hashes: Vec<Hash> = (0..width)
                .map(|i| t.get(NodeId::new(0, tile_index * 256 + i as u64)).unwrap())
                .collect();
            let tree = TileTree::new(hashes);
            for level in 0..8u8 {
                for pos in 0..(width >> level) {
                    let node = NodeId::new(level, ((tile_index * 256) >> level) + pos as u64);
                    let (tile, row, position) = node_location(node, 300).unwrap();
                    assert_eq!(tile.index, tile_index);
                    assert_eq!((row, position), (level, pos));
                    assert_eq!(tree.get(row, position), t.get(node), "{node:?}");
                }
                assert_eq!(tree.get(level, width >> level), None);
            }
        }
        assert_eq!(node_location(NodeId::new(2, 75), 300), None);
    }
}
