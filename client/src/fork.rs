//! Portable fork evidence (DESIGN.md §6): two checkpoints signed by the same log key that
//! cannot both be views of one append-only log, and the proof that shows it.
//!
//! A file proves a fork when both checkpoints verify under the log key and either they have
//! the same size and different roots, or a consistency proof leads to the larger checkpoint's
//! root while implying a different root for the smaller size than the smaller checkpoint
//! signs. That root is carried as `prefix_root` (computed from the larger tree's tiles); when
//! the smaller size is not a power of two it can also be derived from the proof itself. A
//! proof that merely fails to verify proves nothing: anyone can write a wrong proof.

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::{CheckpointError, SignedCheckpoint};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::proof::{prefix_root_from_consistency, verify_consistency};
use serde::{Deserialize, Serialize};

/// The `format` value of evidence files.
pub const FORMAT: &str = "attestlog-fork-evidence/v1";

/// Errors checking fork evidence.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The file is not fork-evidence JSON.
    #[error("not a fork-evidence file: {0}")]
    Format(String),
    /// One of the checkpoints is not validly signed by the log key.
    #[error("{which} checkpoint does not verify: {source}")]
    Checkpoint {
        /// `first` or `second`.
        which: &'static str,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// The checkpoints are of different logs.
    #[error("checkpoints have different origins {0:?} and {1:?}")]
    OriginMismatch(String, String),
    /// The two checkpoints are consistent: no fork is shown.
    #[error("no fork: {0}")]
    Consistent(String),
    /// The file does not prove what it claims.
    #[error("evidence does not prove a fork: {0}")]
    Unproven(String),
}

/// A fork-evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvidence {
    /// Always [`FORMAT`].
    pub format: String,
    /// The log origin.
    pub origin: String,
    /// The checkpoint seen first (signed note text).
    pub first: String,
    /// The conflicting checkpoint (signed note text).
    pub second: String,
    /// A consistency proof from the smaller tree to the larger, computed from the larger
    /// tree (base64 hashes; empty for equal sizes).
    pub consistency_proof: Vec<Hash>,
    /// The root of the larger tree's first `smaller size` leaves, which the proof ties to the
    /// larger checkpoint's root (needed when the smaller size is a power of two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_root: Option<Hash>,
    /// Where the second checkpoint came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Human-readable summary.
    pub reason: String,
}

/// What a verified evidence file shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ForkProof {
    /// Two different roots signed for one size.
    SameSizeDifferentRoots {
        /// The tree size.
        size: u64,
    },
    /// The larger tree does not extend the smaller one.
    Inconsistent {
        /// Smaller size.
        first: u64,
        /// Larger size.
        second: u64,
        /// Why the proof fails.
        reason: String,
    },
}

impl std::fmt::Display for ForkProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForkProof::SameSizeDifferentRoots { size } => {
                write!(f, "the log signed two different roots for tree size {size}")
            }
            ForkProof::Inconsistent {
                first,
                second,
                reason,
            } => write!(
                f,
                "the log's tree of size {second} does not extend its tree of size {first} ({reason})"
            ),
        }
    }
}

impl ForkEvidence {
    /// Parses an evidence file.
    ///
    /// # Errors
    /// [`ForkError::Format`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, ForkError> {
        let e: ForkEvidence =
            serde_json::from_slice(bytes).map_err(|e| ForkError::Format(e.to_string()))?;
        if e.format != FORMAT {
            return Err(ForkError::Format(format!("format is {:?}", e.format)));
        }
        Ok(e)
    }

    /// Checks the evidence offline against the log's verifier keys.
    ///
    /// # Errors
    /// [`ForkError`] when a checkpoint does not verify or the checkpoints are consistent.
    pub fn verify(&self, log_keys: &[VerifierKey]) -> Result<ForkProof, ForkError> {
        let a = SignedCheckpoint::open(self.first.as_bytes(), log_keys).map_err(|source| {
            ForkError::Checkpoint {
                which: "first",
                source,
            }
        })?;
        let b = SignedCheckpoint::open(self.second.as_bytes(), log_keys).map_err(|source| {
            ForkError::Checkpoint {
                which: "second",
                source,
            }
        })?;
        let (a, b) = (a.checkpoint(), b.checkpoint());
        if a.origin != b.origin {
            return Err(ForkError::OriginMismatch(
                a.origin.clone(),
                b.origin.clone(),
            ));
        }
        if a.size == b.size {
            return if a.root.ct_eq(&b.root) {
                Err(ForkError::Consistent(
                    "both checkpoints have the same size and root".into(),
                ))
            } else {
                Ok(ForkProof::SameSizeDifferentRoots { size: a.size })
            };
        }
        let (small, large) = if a.size < b.size { (a, b) } else { (b, a) };
        let (m, n, proof) = (small.size, large.size, &self.consistency_proof);
        let prefix = match self.prefix_root {
            Some(r) => verify_consistency(m, n, proof, &r, &large.root)
                .map(|()| r)
                .map_err(|e| {
                    ForkError::Unproven(format!(
                        "the proof does not tie prefix_root to the tree of size {n}: {e}"
                    ))
                })?,
            None => prefix_root_from_consistency(m, n, proof, &large.root)
                .map_err(|e| {
                    ForkError::Unproven(format!(
                        "the consistency proof does not lead to the root of size {n}: {e}"
                    ))
                })?
                .ok_or_else(|| {
                    if m == 0 {
                        ForkError::Consistent("every tree extends the empty tree".into())
                    } else {
                        ForkError::Unproven(format!(
                            "size {m} is a power of two: the file must give prefix_root"
                        ))
                    }
                })?,
        };
        if prefix.ct_eq(&small.root) {
            return Err(ForkError::Consistent(format!(
                "the tree of size {n} extends the tree of size {m}"
            )));
        }
        Ok(ForkProof::Inconsistent {
            first: m,
            second: n,
            reason: format!(
                "its first {m} leaves have root {}, the checkpoint of size {m} signs {}",
                prefix.to_base64(),
                small.root.to_base64()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attestlog_proto::checkpoint::Checkpoint;
    use attestlog_proto::keys::{SignerKey, TYPE_ED25519};
    use attestlog_proto::proof::consistency_proof;
    use attestlog_proto::tree::{MemoryTree, tree_root};

    const ORIGIN: &str = "fork.test/log";

    fn tree(n: u64, salt: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(Hash::leaf(&(i ^ salt).to_be_bytes()));
        }
        t
    }

    fn signed(key: &SignerKey, t: &MemoryTree, size: u64) -> String {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: tree_root(size, t).unwrap(),
            extensions: Vec::new(),
        };
        String::from_utf8(cp.sign(std::slice::from_ref(key)).unwrap().to_bytes()).unwrap()
    }

    /// Evidence that a log signed size `m` of one history and size `n` of another.
    fn evidence(m: u64, n: u64, with_prefix: bool) -> (ForkEvidence, VerifierKey) {
        let key = SignerKey::from_seed(ORIGIN, TYPE_ED25519, &[5; 32]).unwrap();
        let (honest, forked) = (tree(n, 0), tree(n, 1));
        let e = ForkEvidence {
            format: FORMAT.into(),
            origin: ORIGIN.into(),
            first: signed(&key, &honest, m),
            second: signed(&key, &forked, n),
            consistency_proof: consistency_proof(m, n, &forked).unwrap(),
            prefix_root: with_prefix.then(|| tree_root(m, &forked).unwrap()),
            source: None,
            reason: String::new(),
        };
        (e, key.verifier())
    }

    #[test]
    fn a_proof_from_the_larger_tree_proves_the_fork() {
        for (m, n) in [(3, 7), (5, 6), (2, 9), (4, 5)] {
            let (e, key) = evidence(m, n, true);
            assert!(
                matches!(e.verify(std::slice::from_ref(&key)), Ok(ForkProof::Inconsistent { first, second, .. }) if first == m && second == n),
                "{m} {n}"
            );
            // Without prefix_root the proof implies it, unless m is a power of two.
            let (e, _) = evidence(m, n, false);
            assert_eq!(e.verify(&[key]).is_ok(), !m.is_power_of_two(), "{m} {n}");
        }
    }

    #[test]
    fn a_wrong_or_forged_proof_proves_nothing() {
        let (e, key) = evidence(3, 7, true);
        // Any hash changed: the proof no longer leads to the larger root.
        for i in 0..e.consistency_proof.len() {
            let mut bad = e.clone();
            bad.consistency_proof[i].0[0] ^= 1;
            assert!(
                matches!(
                    bad.verify(std::slice::from_ref(&key)),
                    Err(ForkError::Unproven(_))
                ),
                "{i}"
            );
            bad.prefix_root = None;
            assert!(
                matches!(
                    bad.verify(std::slice::from_ref(&key)),
                    Err(ForkError::Unproven(_))
                ),
                "{i}"
            );
        }
        let mut bad = e.clone();
        bad.consistency_proof.clear();
        assert!(matches!(
            bad.verify(std::slice::from_ref(&key)),
            Err(ForkError::Unproven(_))
        ));
        // A prefix root the proof does not support.
        let mut bad = e.clone();
        bad.prefix_root = Some(Hash([9; 32]));
        assert!(matches!(
            bad.verify(std::slice::from_ref(&key)),
            Err(ForkError::Unproven(_))
        ));
        // Two views of one history are no fork, whatever the file claims.
        let honest = tree(7, 0);
        let k = SignerKey::from_seed(ORIGIN, TYPE_ED25519, &[5; 32]).unwrap();
        let mut same = e;
        same.second = signed(&k, &honest, 7);
        same.consistency_proof = consistency_proof(3, 7, &honest).unwrap();
        same.prefix_root = Some(tree_root(3, &honest).unwrap());
        assert!(matches!(same.verify(&[key]), Err(ForkError::Consistent(_))));
    }
}
