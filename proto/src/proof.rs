//! RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs: generation over a
//! [`HashReader`](crate::tree::HashReader) with `*_indexes` companions, and strict
//! verification.
//!
//! <https://www.rfc-editor.org/rfc/rfc9162#section-2.1.3>

use crate::hash::Hash;

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
    /// The hash reader returned the wrong number of hashes.
    #[error("hash reader returned {got} hashes for {expected} nodes")]
    Reader {
        /// hashes asked for
        expected: usize,
        /// hashes received
        got: usize,
    },
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size`.
fn inclusion_len(index: u64, size: u64) -> usize {
    // inner = bit length of index XOR (size-1); border = ones in index >> inner.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
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
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
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
    // With the exact length checked above, sn is 0 here.
    if sn != 0 {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
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
        path.push(*first_root);
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
    if fr.ct_eq(first_root) && sr.ct_eq(second_root) {
        Ok(())
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
