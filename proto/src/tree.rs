//! RFC 9162 §2.1 tree math: complete-subtree node IDs, the [`HashReader`] abstraction over
//! stored hashes, roots of arbitrary sizes, and the right-edge [`Frontier`] used to append in
//! O(log n) memory.
//!
//! A [`NodeId`] `{level, index}` names the perfect subtree over leaves
//! `[index·2^level, (index+1)·2^level)`; only such complete subtrees are ever stored.

use crate::hash::Hash;

/// A complete (perfect) subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0 = a leaf hash).
    pub level: u8,
    /// Index of the node among the nodes of its level.
    pub index: u64,
}

impl NodeId {
    /// Builds a node ID.
    #[must_use]
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The first leaf covered by this node (saturating at `u64::MAX`).
    #[must_use]
    pub fn first_leaf(&self) -> u64 {
        if self.level < 64 && self.index.leading_zeros() >= u32::from(self.level) {
            self.index << self.level
        } else {
            u64::MAX
        }
    }

    /// One past the last leaf covered by this node (saturating at `u64::MAX`).
    #[must_use]
    pub fn end_leaf(&self) -> u64 {
        match self.index.checked_add(1) {
            Some(i) if self.level < 64 && i.leading_zeros() >= u32::from(self.level) => {
                i << self.level
            }
            _ => u64::MAX,
        }
    }
}

/// Reads stored hashes of complete subtrees, in the order asked.
pub trait HashReader {
    /// Storage error.
    type Error;
    /// Returns one hash per node, in the same order as `nodes`.
    ///
    /// # Errors
    /// Storage errors, or a node not present in storage.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// The perfect subtrees that decompose `[0, size)`, left to right (largest first).
#[must_use]
pub fn root_indexes(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// The perfect subtrees that decompose `[begin, end)` when `begin` is a multiple of the
/// largest power of two not exceeding `end - begin` (true for every range RFC 9162 proofs
/// need), left to right.
#[must_use]
pub fn range_nodes(begin: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut pos = begin;
    while pos < end {
        // The largest aligned power of two at `pos` that fits in the rest of the range.
        let rest = end - pos;
        let mut level = 63 - rest.leading_zeros();
        if pos != 0 {
            level = level.min(pos.trailing_zeros());
        }
        let level_u8 = u8::try_from(level).unwrap_or(63);
        out.push(NodeId::new(level_u8, pos >> level));
        pos += 1u64 << level;
    }
    out
}

/// Folds a list of subtree hashes (left to right, as from [`range_nodes`]) into the hash of
/// their union, RFC 9162 style (right to left).
#[must_use]
pub fn fold_right(hashes: &[Hash]) -> Option<Hash> {
    let mut it = hashes.iter().rev();
    let mut acc = *it.next()?;
    for h in it {
        acc = Hash::node(h, &acc);
    }
    Some(acc)
}

/// The root of a tree of `size` leaves from the hashes of [`root_indexes`]`(size)`.
#[must_use]
pub fn root_from_hashes(hashes: &[Hash]) -> Hash {
    fold_right(hashes).unwrap_or(Hash::EMPTY_ROOT)
}

/// The root of a tree of `size` leaves, read through `reader`.
///
/// # Errors
/// Whatever the reader returns.
pub fn tree_root<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, R::Error> {
    let nodes = root_indexes(size);
    if nodes.is_empty() {
        return Ok(Hash::EMPTY_ROOT);
    }
    Ok(root_from_hashes(&reader.read_hashes(&nodes)?))
}

/// The hash of a perfect subtree given its `2^k` leaf-level hashes (`k ≥ 0`), bottom-up.
/// Returns `None` when `hashes` is empty or its length is not a power of two.
#[must_use]
pub fn perfect_subtree_hash(hashes: &[Hash]) -> Option<Hash> {
    if hashes.is_empty() || !hashes.len().is_power_of_two() {
        return None;
    }
    let mut row: Vec<Hash> = hashes.to_vec();
    while row.len() > 1 {
        row = row
            .chunks_exact(2)
            .map(|p| Hash::node(&p[0], &p[1]))
            .collect();
    }
    row.first().copied()
}

/// Errors building a [`Frontier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The number of hashes does not match the size's binary decomposition.
    #[error("frontier of size {size} needs {expected} hashes, got {got}")]
    FrontierLength {
        /// tree size
        size: u64,
        /// hashes needed
        expected: usize,
        /// hashes given
        got: usize,
    },
}

/// The right edge of a tree: the hashes of the perfect subtrees of [`root_indexes`]`(size)`.
/// Appending costs O(1) amortised hashing and the whole state is O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Subtree hashes, left to right (largest first).
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from the hashes of [`root_indexes`]`(size)`.
    ///
    /// # Errors
    /// [`TreeError::FrontierLength`] if the count does not match.
    pub fn from_hashes(size: u64, nodes: Vec<Hash>) -> Result<Self, TreeError> {
        let expected = size.count_ones() as usize;
        if nodes.len() != expected {
            return Err(TreeError::FrontierLength {
                size,
                expected,
                got: nodes.len(),
            });
        }
        Ok(Self { size, nodes })
    }

    /// Number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, left to right.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash. `completed` is called for every complete subtree that now exists
    /// and did not before, starting with the leaf itself (level 0), in increasing level.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, Hash)) {
        let index = self.size;
        let mut h = leaf;
        completed(NodeId::new(0, index), h);
        let mut level = 0u8;
        // Merge while the subtree just completed is a right child.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            h = Hash::node(&left, &h);
            level += 1;
            completed(NodeId::new(level, index >> level), h);
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The tree root.
    #[must_use]
    pub fn root(&self) -> Hash {
        root_from_hashes(&self.nodes)
    }
}

/// A node the [`MemoryTree`] does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node at level {} index {} is not stored", .0.level, .0.index)]
pub struct MissingNode(pub NodeId);

/// Every complete subtree hash of a tree, in memory, level by level: a simple
/// [`HashReader`] for tests, benchmarks and small tools (about 64 bytes per leaf).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash, storing every subtree it completes.
    pub fn push(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.push(leaf, |node, h| {
            let l = usize::from(node.level);
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            levels[l].push(h);
        });
    }

    /// The stored hash of a complete subtree, if it exists.
    #[must_use]
    pub fn get(&self, node: NodeId) -> Option<Hash> {
        let i = usize::try_from(node.index).ok()?;
        self.levels.get(usize::from(node.level))?.get(i).copied()
    }
}

/// A memory tree reads as its frontier: [`Frontier::size`], [`Frontier::root`].
impl std::ops::Deref for MemoryTree {
    type Target = Frontier;

    fn deref(&self) -> &Frontier {
        &self.frontier
    }
}

impl HashReader for MemoryTree {
    type Error = MissingNode;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        nodes
            .iter()
            .map(|&n| self.get(n).ok_or(MissingNode(n)))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Source: docs/test-vectors.md (the RFC 6962 / CT test tree).
    pub(crate) const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    pub(crate) const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn frontier_known_answer_roots() {
        let mut f = Frontier::new();
        assert_eq!(f.root(), Hash::EMPTY_ROOT);
        for (leaf, want) in LEAVES.iter().zip(ROOTS) {
            f.push(Hash::leaf(leaf), |_, _| {});
            assert_eq!(f.root().to_hex(), want, "size {}", f.size());
        }
    }

    #[test]
    fn frontier_reports_completed_nodes() {
        let mut f = Frontier::new();
        let mut seen = Vec::new();
        for i in 0..8u8 {
            f.push(Hash::leaf(&[i]), |n, _| seen.push(n));
        }
        assert_eq!(seen.len(), 15);
        assert!(seen.contains(&NodeId::new(3, 0)));
        assert_eq!(f.hashes().len(), 1);
        let rebuilt = Frontier::from_hashes(8, f.hashes().to_vec()).unwrap();
        assert_eq!(rebuilt, f);
        assert!(Frontier::from_hashes(7, f.hashes().to_vec()).is_err());
    }

    #[test]
    fn root_indexes_decompose_size() {
        assert!(root_indexes(0).is_empty());
        assert_eq!(
            root_indexes(13),
            vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert_eq!(
            range_nodes(8, 13),
            vec![NodeId::new(2, 2), NodeId::new(0, 12)]
        );
    }

    #[test]
    fn node_leaf_bounds_saturate() {
        assert_eq!(NodeId::new(3, 2).first_leaf(), 16);
        assert_eq!(NodeId::new(3, 2).end_leaf(), 24);
        assert_eq!(NodeId::new(0, u64::MAX).end_leaf(), u64::MAX);
        assert_eq!(NodeId::new(8, u64::MAX >> 4).end_leaf(), u64::MAX);
        assert_eq!(NodeId::new(8, u64::MAX >> 4).first_leaf(), u64::MAX);
        assert_eq!(NodeId::new(63, 1).first_leaf(), 1 << 63);
        assert_eq!(NodeId::new(64, 0).end_leaf(), u64::MAX);
    }

    #[test]
    fn memory_tree_matches_frontier_and_root_indexes() {
        let mut t = MemoryTree::new();
        let mut f = Frontier::new();
        for i in 0..40u8 {
            t.push(Hash::leaf(&[i]));
            f.push(Hash::leaf(&[i]), |_, _| {});
            let size = t.size();
            assert_eq!(t.root(), f.root());
            assert_eq!(tree_root(size, &t), Ok(f.root()));
            assert_eq!(t.read_hashes(&root_indexes(size)).unwrap(), f.hashes());
        }
        assert_eq!(
            t.read_hashes(&[NodeId::new(3, 5)]),
            Err(MissingNode(NodeId::new(3, 5)))
        );
    }
}
