//! RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs: generation over a
//! [`crate::tree::HashReader`] with `*_indexes` companions, and strict
//! verification.
//!
//! <https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3>

use crate::hash::Hash;
use crate::tree::{HashReader, NodeId, fold_right, range_nodes};

/// Why a proof was rejected or could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// `index ≥ size`.
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// leaf index
        index: u64,
        /// tree size
        size: u64,
    },
    /// `first > second`, or a consistency proof with `first == 0` and a non-empty proof.
    #[error("first size {first} is greater than second size {second}")]
    FirstAfterSecond {
        /// first tree size
        first: u64,
        /// second tree size
        second: u64,
    },
    /// The proof has the wrong number of hashes.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongLength {
        /// expected hash count
        expected: usize,
        /// actual hash count
        got: usize,
    },
    /// The recomputed root does not match.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The subtree `{level, index}` is not complete in a tree of `size` leaves.
    #[error("subtree at level {level} index {index} is not complete in tree size {size}")]
    NodeOutOfRange {
        /// subtree level
        level: u8,
        /// subtree index within its level
        index: u64,
        /// tree size
        size: u64,
    },
    /// The hash reader returned the wrong number of hashes.
    #[error("hash reader returned {got} hashes for {expected} nodes")]
    Reader {
        /// hashes asked for
        expected: usize,
        /// hashes received
        got: usize,
    },
}

/// Number of hashes in an inclusion proof for node `index` when the last node of its level
/// is `last` (for a leaf: `last = size - 1`).
fn inclusion_len(index: u64, last: u64) -> usize {
    // inner = bit length of index XOR last; border = ones in index >> inner.
    let inner = 64 - (index ^ last).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    // At most 64 + 64: always fits.
    usize::try_from(inner + border).unwrap_or(usize::MAX)
}

/// Error from generating a proof over a [`HashReader`].
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E> {
    /// The request is invalid (index out of range, first after second, …) or the reader
    /// returned the wrong number of hashes.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The reader failed.
    #[error("reading stored hashes failed")]
    Read(#[source] E),
}

/// The proof elements of an inclusion proof of the complete subtree covering leaves
/// `[begin, end)` in a tree of `size`, as leaf ranges, in RFC 9162 proof order (bottom-up).
/// Each range is the hash of one proof element (a possibly incomplete subtree).
fn inclusion_ranges(begin: u64, end: u64, size: u64) -> Vec<(u64, u64)> {
    // Walk down from the root (RFC 9162 §2.1.3.1 PATH), recording the sibling subtree at
    // each split, then reverse into bottom-up order.
    let (mut lo, mut hi) = (0u64, size);
    let mut out = Vec::new();
    while !(lo == begin && hi == end) && hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        if begin < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The proof elements of a consistency proof for `0 < first < second`, as leaf ranges in
/// RFC 9162 §2.1.4.1 order.
fn consistency_ranges(first: u64, second: u64) -> Vec<(u64, u64)> {
    // SUBPROOF(m, D[lo:hi], b), unrolled: each step appends after the recursive part, so
    // collect top-down and reverse.
    let (mut lo, mut hi, mut m) = (0u64, second, first);
    let mut complete = true;
    let mut out = Vec::new();
    while m != hi - lo {
        let k = largest_power_of_two_below(hi - lo);
        if m <= k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
            m -= k;
            complete = false;
        }
    }
    if !complete {
        out.push((lo, hi));
    }
    out.reverse();
    out
}

/// Expands proof-element ranges into the complete subtrees to read, in order.
fn ranges_to_nodes(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    ranges
        .iter()
        .flat_map(|&(begin, end)| range_nodes(begin, end))
        .collect()
}

/// Folds the read hashes of [`ranges_to_nodes`] into one proof hash per range.
fn ranges_from_hashes(ranges: &[(u64, u64)], hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
    let expected: usize = ranges
        .iter()
        .map(|&(begin, end)| range_nodes(begin, end).len())
        .sum();
    if hashes.len() != expected {
        return Err(ProofError::Reader {
            expected,
            got: hashes.len(),
        });
    }
    let mut rest = hashes;
    let mut proof = Vec::with_capacity(ranges.len());
    for &(begin, end) in ranges {
        let n = range_nodes(begin, end).len();
        let (these, tail) = rest.split_at(n);
        rest = tail;
        // `n ≥ 1` because every range is non-empty.
        let h = fold_right(these).ok_or(ProofError::Reader {
            expected,
            got: hashes.len(),
        })?;
        proof.push(h);
    }
    Ok(proof)
}

fn check_index(index: u64, size: u64) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn check_node(node: NodeId, size: u64) -> Result<(), ProofError> {
    let err = ProofError::NodeOutOfRange {
        level: node.level,
        index: node.index,
        size,
    };
    let end = node
        .index
        .checked_add(1)
        .and_then(|i| {
            if node.level >= 64 || i.leading_zeros() < u32::from(node.level) {
                None
            } else {
                Some(i << node.level)
            }
        })
        .ok_or(err.clone())?;
    if end > size {
        return Err(err);
    }
    Ok(())
}

fn check_sizes(first: u64, second: u64) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::FirstAfterSecond { first, second });
    }
    Ok(())
}

/// The complete subtrees whose stored hashes an inclusion proof for leaf `index` in a tree
/// of `size` needs, in the order [`inclusion_from_hashes`] expects them.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] if `index ≥ size`.
pub fn inclusion_indexes(index: u64, size: u64) -> Result<Vec<NodeId>, ProofError> {
    subtree_inclusion_indexes(NodeId::new(0, index), size)
        .map_err(|_| ProofError::IndexOutOfRange { index, size })
}

/// Builds the RFC 9162 inclusion proof for leaf `index` in a tree of `size` from the hashes
/// of [`inclusion_indexes`]`(index, size)`, in that order. A proof element that covers an
/// incomplete subtree is folded from its complete parts.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], or [`ProofError::Reader`] if `hashes` has the wrong
/// length.
pub fn inclusion_from_hashes(
    index: u64,
    size: u64,
    hashes: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    check_index(index, size)?;
    ranges_from_hashes(&inclusion_ranges(index, index + 1, size), hashes)
}

/// Generates the RFC 9162 inclusion proof for leaf `index` in a tree of `size`, reading the
/// stored hashes it needs in one call.
///
/// # Errors
/// [`ProveError::Proof`] for an invalid request or a reader returning the wrong number of
/// hashes, [`ProveError::Read`] for a reader failure.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    index: u64,
    size: u64,
    r: &R,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    let nodes = inclusion_indexes(index, size)?;
    let hashes = read(r, &nodes)?;
    Ok(inclusion_from_hashes(index, size, &hashes)?)
}

/// The complete subtrees whose stored hashes an inclusion proof of the complete subtree
/// `node` in a tree of `size` needs (an RFC 9162 inclusion proof of an interior node: the
/// leaf inclusion proof of any leaf under `node`, without its first `node.level` hashes).
///
/// # Errors
/// [`ProofError::NodeOutOfRange`] if `node` is not a complete subtree of the tree.
pub fn subtree_inclusion_indexes(node: NodeId, size: u64) -> Result<Vec<NodeId>, ProofError> {
    check_node(node, size)?;
    Ok(ranges_to_nodes(&inclusion_ranges(
        node.first_leaf(),
        node.end_leaf(),
        size,
    )))
}

/// Builds the inclusion proof of the complete subtree `node` from the hashes of
/// [`subtree_inclusion_indexes`]`(node, size)`.
///
/// # Errors
/// [`ProofError::NodeOutOfRange`], or [`ProofError::Reader`] for a wrong hash count.
pub fn subtree_inclusion_from_hashes(
    node: NodeId,
    size: u64,
    hashes: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    check_node(node, size)?;
    ranges_from_hashes(
        &inclusion_ranges(node.first_leaf(), node.end_leaf(), size),
        hashes,
    )
}

/// Generates the inclusion proof of the complete subtree `node` in a tree of `size`.
///
/// # Errors
/// As [`inclusion_proof`].
pub fn subtree_inclusion_proof<R: HashReader + ?Sized>(
    node: NodeId,
    size: u64,
    r: &R,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    let nodes = subtree_inclusion_indexes(node, size)?;
    let hashes = read(r, &nodes)?;
    Ok(subtree_inclusion_from_hashes(node, size, &hashes)?)
}

/// The complete subtrees whose stored hashes a consistency proof from `first` to `second`
/// needs, in the order [`consistency_from_hashes`] expects them. Empty when
/// `first == second` or `first == 0`.
///
/// # Errors
/// [`ProofError::FirstAfterSecond`] if `first > second`.
pub fn consistency_indexes(first: u64, second: u64) -> Result<Vec<NodeId>, ProofError> {
    check_sizes(first, second)?;
    if first == 0 || first == second {
        return Ok(Vec::new());
    }
    Ok(ranges_to_nodes(&consistency_ranges(first, second)))
}

/// Builds the RFC 9162 consistency proof from `first` to `second` from the hashes of
/// [`consistency_indexes`]`(first, second)`, in that order.
///
/// # Errors
/// [`ProofError::FirstAfterSecond`], or [`ProofError::Reader`] for a wrong hash count.
pub fn consistency_from_hashes(
    first: u64,
    second: u64,
    hashes: &[Hash],
) -> Result<Vec<Hash>, ProofError> {
    check_sizes(first, second)?;
    if first == 0 || first == second {
        if !hashes.is_empty() {
            return Err(ProofError::Reader {
                expected: 0,
                got: hashes.len(),
            });
        }
        return Ok(Vec::new());
    }
    ranges_from_hashes(&consistency_ranges(first, second), hashes)
}

/// Generates the RFC 9162 consistency proof from tree size `first` to `second`, reading the
/// stored hashes it needs in one call. `first == second` or `first == 0` give an empty proof.
///
/// # Errors
/// [`ProveError::Proof`] for `first > second` or a reader returning the wrong number of
/// hashes, [`ProveError::Read`] for a reader failure.
pub fn consistency_proof<R: HashReader + ?Sized>(
    first: u64,
    second: u64,
    r: &R,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    let nodes = consistency_indexes(first, second)?;
    let hashes = read(r, &nodes)?;
    Ok(consistency_from_hashes(first, second, &hashes)?)
}

fn read<R: HashReader + ?Sized>(
    r: &R,
    nodes: &[NodeId],
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(nodes).map_err(ProveError::Read)?;
    if hashes.len() != nodes.len() {
        return Err(ProofError::Reader {
            expected: nodes.len(),
            got: hashes.len(),
        }
        .into());
    }
    Ok(hashes)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError`] if `index ≥ size`, the proof length is wrong, or the root differs.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if computed.ct_eq(root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Recomputes the root implied by an inclusion proof (RFC 9162 §2.1.3.2), checking its length.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] or [`ProofError::WrongLength`].
pub fn root_from_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    check_index(index, size)?;
    root_from_path(leaf, index, size - 1, proof)
}

/// Verifies an inclusion proof of the complete subtree `node` with hash `node_hash` in a
/// tree of `size` with root `root` (see [`subtree_inclusion_indexes`]).
///
/// # Errors
/// [`ProofError::NodeOutOfRange`], [`ProofError::WrongLength`] or
/// [`ProofError::RootMismatch`].
pub fn verify_subtree_inclusion(
    node: NodeId,
    node_hash: &Hash,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    check_node(node, size)?;
    // check_node guarantees size ≥ 1 and level < 64.
    let last = (size - 1) >> node.level;
    let computed = root_from_path(node_hash, node.index, last, proof)?;
    if computed.ct_eq(root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// RFC 9162 §2.1.3.2 from a node `index` on a level whose last node is `last`.
fn root_from_path(start: &Hash, index: u64, last: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    let expected = inclusion_len(index, last);
    let wrong = ProofError::WrongLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong);
    }
    let mut fn_ = index;
    let mut sn = last;
    let mut r = *start;
    for p in proof {
        if sn == 0 {
            return Err(wrong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = Hash::node(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = Hash::node(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong);
    }
    Ok(r)
}

/// Verifies a consistency proof between trees of sizes `first` and `second`
/// (RFC 9162 §2.1.4.2). `first == second` requires an empty proof and equal roots;
/// `first == 0` requires an empty proof (any tree extends the empty one).
///
/// # Errors
/// [`ProofError`] for `first > second`, a wrong proof length, or a root mismatch.
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::FirstAfterSecond { first, second });
    }
    if first == second || first == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if first == second && !first_root.ct_eq(second_root) {
            return Err(ProofError::RootMismatch);
        }
        if first == 0 && !first_root.ct_eq(&Hash::EMPTY_ROOT) {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let (fr, sr) = consistency_roots(first, second, proof, Some(first_root))?;
    if fr.ct_eq(first_root) && sr.ct_eq(second_root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The root of the tree of `second` leaves that a consistency proof leads to from the trusted
/// root `first_root` of the tree of `first` leaves (RFC 9162 §2.1.4.2): what a verifier of an
/// RFC 9942 consistency receipt computes, whose signature covers that root. `first` must be
/// below `second` and above 0 (a tree extends the empty tree, and itself, trivially).
///
/// # Errors
/// [`ProofError`] for sizes out of order, a wrong proof length, or a proof that does not lead
/// from `first_root`.
pub fn root_from_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
) -> Result<Hash, ProofError> {
    if first >= second || first == 0 {
        return Err(ProofError::FirstAfterSecond { first, second });
    }
    let (fr, sr) = consistency_roots(first, second, proof, Some(first_root))?;
    if fr.ct_eq(first_root) {
        Ok(sr)
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The roots `(first_root, second_root)` a consistency proof for `0 < first < second`
/// implies, by the RFC 9162 §2.1.4.2 algorithm. When `first` is a power of two the proof does
/// not contain the first root: it is the given `first_root` (and [`ProofError::RootMismatch`]
/// without one).
fn consistency_roots(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: Option<&Hash>,
) -> Result<(Hash, Hash), ProofError> {
    // Expected length: if first is a power of two... computed by the algorithm below.
    let expected = consistency_len(first, second);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root.ok_or(ProofError::RootMismatch)?);
    }
    path.extend_from_slice(proof);
    let mut fn_ = first - 1;
    let mut sn = second - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut it = path.iter();
    let Some(&start) = it.next() else {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    };
    let mut fr = start;
    let mut sr = start;
    for c in it {
        if sn == 0 {
            return Err(ProofError::WrongLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = Hash::node(c, &fr);
            sr = Hash::node(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = Hash::node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    Ok((fr, sr))
}

/// The root of the first `first` leaves of the tree of `second` leaves, as a consistency proof
/// from `first` to `second` that leads to `second_root` implies it: `None` when `first` is a
/// power of two (the proof then holds no trace of that root) or `first` is 0 or `second`.
/// Fork evidence uses it: a proof that leads to the larger checkpoint's root but implies a
/// different root for the smaller size shows that the larger tree does not extend it.
///
/// # Errors
/// [`ProofError`] for `first > second`, a wrong proof length, or a proof that does not lead
/// to `second_root`.
pub fn prefix_root_from_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    second_root: &Hash,
) -> Result<Option<Hash>, ProofError> {
    if first > second {
        return Err(ProofError::FirstAfterSecond { first, second });
    }
    if first == 0 || first == second || first.is_power_of_two() {
        return Ok(None);
    }
    let (fr, sr) = consistency_roots(first, second, proof, None)?;
    if sr.ct_eq(second_root) {
        Ok(Some(fr))
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Number of hashes in a consistency proof for `0 < first < second`.
fn consistency_len(first: u64, second: u64) -> usize {
    // RFC 9162 SUBPROOF length: walk down the tree of `second` towards `first`.
    let mut m = first;
    let mut n = second;
    let mut len = 0usize;
    let mut complete = true;
    while m != n {
        let k = largest_power_of_two_below(n);
        if m <= k {
            len += 1; // right subtree hash
            n = k;
        } else {
            len += 1; // left subtree hash
            m -= k;
            n -= k;
            complete = false;
        }
    }
    if !complete {
        len += 1; // hash of the subtree equal to the remaining first part
    }
    len
}

/// The largest power of two strictly less than `n` (`n ≥ 2`).
pub(crate) fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::MemoryTree;
    use crate::tree::tests::{LEAVES, ROOTS};

    fn h(s: &str) -> Hash {
        Hash::from_hex(s).unwrap()
    }

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(Hash::leaf(&i.to_be_bytes()));
        }
        t
    }

    fn test_tree() -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in LEAVES {
            t.push(Hash::leaf(l));
        }
        t
    }

    fn root(n: u64) -> Hash {
        h(ROOTS[usize::try_from(n).unwrap() - 1])
    }

    // Source: transparency-dev/merkle proof/verify_test.go `inclusionProofs` (leaf numbers
    // there are 1-based), over the RFC 6962 test tree of docs/test-vectors.md.
    const INCLUSION: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            3,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            2,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    // Source: transparency-dev/merkle proof/verify_test.go `consistencyProofs`.
    const CONSISTENCY: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// (index, size, leaf, proof, root, what)
    type InclusionProbe = (u64, u64, Hash, Vec<Hash>, Hash, &'static str);
    /// (first, second, proof, first root, second root, what)
    type ConsistencyProbe = (u64, u64, Vec<Hash>, Hash, Hash, &'static str);
    /// (first, second, first root, second root, proof, accepted)
    type ConsistencyCase = (u64, u64, Hash, Hash, &'static [Hash], bool);

    fn flip(proof: &[Hash], i: usize, mask: u8) -> Vec<Hash> {
        let mut p = proof.to_vec();
        p[i].0[0] ^= mask;
        p
    }

    /// Every corruption of transparency-dev's `corruptInclusionProof` must be rejected.
    fn assert_inclusion_strict(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) {
        verify_inclusion(leaf, index, size, proof, root).unwrap();
        let some = Hash([0xab; 32]);
        let mut probes: Vec<InclusionProbe> = vec![
            (
                index.wrapping_sub(1),
                size,
                *leaf,
                proof.to_vec(),
                *root,
                "index - 1",
            ),
            (index + 1, size, *leaf, proof.to_vec(), *root, "index + 1"),
            (index ^ 2, size, *leaf, proof.to_vec(), *root, "index ^ 2"),
            (index, size * 2, *leaf, proof.to_vec(), *root, "size * 2"),
            (index, size / 2, *leaf, proof.to_vec(), *root, "size / 2"),
            (index, size, some, proof.to_vec(), *root, "wrong leaf"),
            (
                index,
                size,
                *leaf,
                proof.to_vec(),
                Hash::EMPTY_ROOT,
                "empty root",
            ),
            (index, size, *leaf, proof.to_vec(), some, "random root"),
            (
                index,
                size,
                *leaf,
                [proof, &[*root]].concat(),
                *root,
                "trailing root",
            ),
            (
                index,
                size,
                *leaf,
                [proof, &[some]].concat(),
                *root,
                "trailing hash",
            ),
            (
                index,
                size,
                *leaf,
                [&[*root], proof].concat(),
                *root,
                "preceding root",
            ),
        ];
        for i in 0..proof.len() {
            probes.push((index, size, *leaf, flip(proof, i, 8), *root, "flipped bit"));
        }
        if let Some((_, short)) = proof.split_last() {
            probes.push((index, size, *leaf, short.to_vec(), *root, "removed"));
        }
        if proof.len() > 1 {
            let ins = [&proof[..1], &[some], &proof[1..]].concat();
            probes.push((index, size, *leaf, ins, *root, "inserted"));
        }
        for (i, s, l, p, r, what) in probes {
            assert!(
                verify_inclusion(&l, i, s, &p, &r).is_err(),
                "{what}: index {index} size {size} accepted"
            );
        }
    }

    #[test]
    fn inclusion_known_answers() {
        let t = test_tree();
        for &(leaf1, size, want) in INCLUSION {
            let index = leaf1 - 1;
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(inclusion_proof(index, size, &t).unwrap(), want);
            let leaf = Hash::leaf(LEAVES[usize::try_from(index).unwrap()]);
            assert_eq!(
                root_from_inclusion(&leaf, index, size, &want),
                Ok(root(size))
            );
            assert_inclusion_strict(&leaf, index, size, &want, &root(size));
        }
    }

    /// Every corruption of transparency-dev's `corruptConsistencyProof` must be rejected.
    fn assert_consistency_strict(m: u64, n: u64, proof: &[Hash], r1: &Hash, r2: &Hash) {
        verify_consistency(m, n, proof, r1, r2).unwrap();
        if proof.is_empty() {
            return;
        }
        let some = Hash([0xab; 32]);
        let mut probes: Vec<ConsistencyProbe> = vec![
            (m - 1, n, proof.to_vec(), *r1, *r2, "first - 1"),
            (m + 1, n, proof.to_vec(), *r1, *r2, "first + 1"),
            (m ^ 2, n, proof.to_vec(), *r1, *r2, "first ^ 2"),
            (m, n * 2, proof.to_vec(), *r1, *r2, "second * 2"),
            (m, n / 2, proof.to_vec(), *r1, *r2, "second / 2"),
            (m, n, proof.to_vec(), some, *r2, "wrong root1"),
            (m, n, proof.to_vec(), *r1, some, "wrong root2"),
            (m, n, proof.to_vec(), *r2, *r1, "swapped roots"),
            (m, n, Vec::new(), *r1, *r2, "empty proof"),
            (m, n, [proof, &[*r1]].concat(), *r1, *r2, "trailing root1"),
            (m, n, [proof, &[*r2]].concat(), *r1, *r2, "trailing root2"),
            (m, n, [&[*r1], proof].concat(), *r1, *r2, "preceding root1"),
            (m, n, [&[*r2], proof].concat(), *r1, *r2, "preceding root2"),
            (
                m,
                n,
                [&proof[..1], proof].concat(),
                *r1,
                *r2,
                "preceding proof[0]",
            ),
            (
                m,
                n,
                proof[..proof.len() - 1].to_vec(),
                *r1,
                *r2,
                "truncated",
            ),
        ];
        for i in 0..proof.len() {
            probes.push((m, n, flip(proof, i, 16), *r1, *r2, "flipped bit"));
        }
        for (a, b, p, x, y, what) in probes {
            assert!(
                verify_consistency(a, b, &p, &x, &y).is_err(),
                "{what}: {m} -> {n} accepted"
            );
        }
    }

    #[test]
    fn consistency_known_answers() {
        let t = test_tree();
        for &(m, n, want) in CONSISTENCY {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(consistency_proof(m, n, &t).unwrap(), want, "{m} -> {n}");
            assert_consistency_strict(m, n, &want, &root(m), &root(n));
        }
    }

    // Source: transparency-dev/merkle proof/verify_test.go `TestVerifyConsistency` table,
    // except that a first size of 0 must come with the empty-tree root here (stricter).
    #[test]
    fn consistency_edge_cases() {
        let r1 = Hash([1; 32]);
        let r2 = Hash([2; 32]);
        let e = Hash::EMPTY_ROOT;
        let cases: &[ConsistencyCase] = &[
            (0, 0, r1, r2, &[], false),
            (1, 1, r1, r2, &[], false),
            (0, 0, e, e, &[], true),
            (0, 1, e, r2, &[], true),
            (0, 1, r1, r2, &[], false),
            (1, 1, r2, r2, &[], true),
            (1, 0, r1, r2, &[], false),
            (2, 1, r1, r2, &[], false),
            (1, 2, r1, r2, &[], false),
            (0, 0, e, r2, &[], false),
            (1, 1, e, r2, &[], false),
            (0, 0, e, e, &[Hash::EMPTY_ROOT], false),
            (0, 1, e, e, &[Hash::EMPTY_ROOT], false),
            (1, 1, e, e, &[Hash::EMPTY_ROOT], false),
        ];
        for (i, &(m, n, a, b, p, ok)) in cases.iter().enumerate() {
            assert_eq!(verify_consistency(m, n, p, &a, &b).is_ok(), ok, "case {i}");
        }
        assert_eq!(
            verify_consistency(2, 1, &[], &r1, &r2),
            Err(ProofError::FirstAfterSecond {
                first: 2,
                second: 1
            })
        );
    }

    #[test]
    fn generation_edge_cases() {
        let t = tree(10);
        assert_eq!(
            inclusion_indexes(0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            inclusion_indexes(10, 10),
            Err(ProofError::IndexOutOfRange {
                index: 10,
                size: 10
            })
        );
        assert!(matches!(
            inclusion_proof(10, 10, &t),
            Err(ProveError::Proof(ProofError::IndexOutOfRange { .. }))
        ));
        assert_eq!(inclusion_proof(0, 1, &t).unwrap(), Vec::<Hash>::new());
        // Beyond what the reader stores: a read error, not a panic.
        assert!(matches!(
            inclusion_proof(3, 11, &t),
            Err(ProveError::Read(_))
        ));
        assert_eq!(consistency_proof(0, 10, &t).unwrap(), Vec::<Hash>::new());
        assert_eq!(consistency_proof(7, 7, &t).unwrap(), Vec::<Hash>::new());
        assert_eq!(consistency_indexes(0, 7), Ok(Vec::new()));
        assert_eq!(
            consistency_indexes(8, 7),
            Err(ProofError::FirstAfterSecond {
                first: 8,
                second: 7
            })
        );
        assert!(matches!(
            consistency_proof(8, 7, &t),
            Err(ProveError::Proof(ProofError::FirstAfterSecond { .. }))
        ));
        assert!(consistency_from_hashes(3, 3, &[Hash::EMPTY_ROOT]).is_err());
        // Wrong number of read hashes.
        let nodes = inclusion_indexes(3, 10).unwrap();
        let hashes = t.read_hashes(&nodes).unwrap();
        assert!(inclusion_from_hashes(3, 10, &hashes).is_ok());
        assert_eq!(
            inclusion_from_hashes(3, 10, &hashes[1..]),
            Err(ProofError::Reader {
                expected: hashes.len(),
                got: hashes.len() - 1
            })
        );
        let more = [hashes.as_slice(), &[Hash::EMPTY_ROOT]].concat();
        assert!(inclusion_from_hashes(3, 10, &more).is_err());
    }

    /// Leaf 0 of 7 needs the hash of the incomplete subtree [4, 7), read as two complete
    /// nodes and folded.
    #[test]
    fn incomplete_subtree_is_folded() {
        assert_eq!(
            inclusion_indexes(0, 7).unwrap(),
            vec![
                NodeId::new(0, 1),
                NodeId::new(1, 1),
                NodeId::new(1, 2),
                NodeId::new(0, 6)
            ]
        );
        let t = tree(7);
        let p = inclusion_proof(0, 7, &t).unwrap();
        assert_eq!(p.len(), 3);
        let right = Hash::node(
            &t.get(NodeId::new(1, 2)).unwrap(),
            &t.get(NodeId::new(0, 6)).unwrap(),
        );
        assert_eq!(p[2], right);
    }

    #[test]
    fn exhaustive_small_trees() {
        let big = tree(70);
        let mut roots = vec![Hash::EMPTY_ROOT];
        for n in 1..=70 {
            roots.push(tree_root_of(&big, n));
        }
        for n in 1..=70u64 {
            let r = roots[usize::try_from(n).unwrap()];
            for i in 0..n {
                let p = inclusion_proof(i, n, &big).unwrap();
                let leaf = big.get(NodeId::new(0, i)).unwrap();
                assert_inclusion_strict(&leaf, i, n, &p, &r);
            }
            for m in 1..=n {
                let p = consistency_proof(m, n, &big).unwrap();
                let r1 = roots[usize::try_from(m).unwrap()];
                assert_consistency_strict(m, n, &p, &r1, &r);
            }
        }
    }

    fn tree_root_of(t: &MemoryTree, n: u64) -> Hash {
        crate::tree::tree_root(n, t).unwrap()
    }

    #[test]
    fn prefix_roots_from_consistency_proofs() {
        let big = tree(40);
        // Another history: the same first leaves but one, so every prefix root differs.
        let mut fork = MemoryTree::new();
        for i in 0..40u64 {
            fork.push(Hash::leaf(&(i + u64::from(i == 0)).to_be_bytes()));
        }
        for n in 1..=40u64 {
            let r = tree_root_of(&big, n);
            for m in 0..=n {
                let p = consistency_proof(m, n, &big).unwrap();
                let got = prefix_root_from_consistency(m, n, &p, &r).unwrap();
                if m == 0 || m == n || m.is_power_of_two() {
                    assert_eq!(got, None, "{m} {n}");
                    continue;
                }
                assert_eq!(got, Some(tree_root_of(&big, m)), "{m} {n}");
                // The forked tree's proof leads to its own root and implies its own prefix.
                let fr = tree_root_of(&fork, n);
                let fp = consistency_proof(m, n, &fork).unwrap();
                let forked = prefix_root_from_consistency(m, n, &fp, &fr)
                    .unwrap()
                    .unwrap();
                assert!(!forked.ct_eq(&tree_root_of(&big, m)));
                // A proof that does not lead to the given root implies nothing.
                assert_eq!(
                    prefix_root_from_consistency(m, n, &p, &fr),
                    Err(ProofError::RootMismatch)
                );
                let mut short = p.clone();
                short.pop();
                assert!(prefix_root_from_consistency(m, n, &short, &r).is_err());
            }
        }
        assert!(prefix_root_from_consistency(3, 2, &[], &Hash::EMPTY_ROOT).is_err());
    }

    #[test]
    fn subtree_inclusion_matches_leaf_proofs() {
        let big = tree(70);
        for n in 1..=70u64 {
            let r = tree_root_of(&big, n);
            for level in 0..7u8 {
                for index in 0..(n >> level) {
                    let node = NodeId::new(level, index);
                    let nh = big.get(node).unwrap();
                    let p = subtree_inclusion_proof(node, n, &big).unwrap();
                    verify_subtree_inclusion(node, &nh, n, &p, &r).unwrap();
                    // The leaf proof of the node's first leaf ends with the same hashes.
                    let lp = inclusion_proof(node.first_leaf(), n, &big).unwrap();
                    assert_eq!(&lp[usize::from(level)..], p.as_slice());
                    let bad = Hash([7; 32]);
                    assert_eq!(
                        verify_subtree_inclusion(node, &bad, n, &p, &r),
                        Err(ProofError::RootMismatch)
                    );
                    if !p.is_empty() {
                        assert!(
                            verify_subtree_inclusion(node, &nh, n, &flip(&p, 0, 1), &r).is_err()
                        );
                        assert!(verify_subtree_inclusion(node, &nh, n, &p[1..], &r).is_err());
                    }
                }
                // The first incomplete node at this level is rejected.
                let node = NodeId::new(level, n >> level);
                assert_eq!(
                    subtree_inclusion_indexes(node, n),
                    Err(ProofError::NodeOutOfRange {
                        level,
                        index: n >> level,
                        size: n
                    })
                );
                assert!(verify_subtree_inclusion(node, &r, n, &[], &r).is_err());
            }
        }
    }

    #[test]
    fn huge_sizes_do_not_overflow() {
        let leaf = Hash::leaf(b"x");
        for (i, n) in [
            (0, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 63, u64::MAX),
            (5, 1 << 63),
        ] {
            let nodes = inclusion_indexes(i, n).unwrap();
            assert!(nodes.len() >= 63, "{i} {n}");
            let hashes = vec![leaf; nodes.len()];
            let proof = inclusion_from_hashes(i, n, &hashes).unwrap();
            assert!(root_from_inclusion(&leaf, i, n, &proof).is_ok());
            assert!(matches!(
                verify_inclusion(&leaf, i, n, &[], &leaf),
                Err(ProofError::WrongLength { .. })
            ));
        }
        let nodes = consistency_indexes(u64::MAX - 1, u64::MAX).unwrap();
        assert!(!nodes.is_empty());
        assert!(subtree_inclusion_indexes(NodeId::new(200, 1), u64::MAX).is_err());
        assert!(subtree_inclusion_indexes(NodeId::new(1, u64::MAX), u64::MAX).is_err());
    }
}
