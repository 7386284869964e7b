//! Portable fork evidence (DESIGN.md §6): two checkpoints signed by the same log key that
//! cannot both be views of one append-only log, and the proof that shows it.
//!
//! A file proves a fork when both checkpoints verify under the log key and either they have
//! the same size and different roots, or the consistency proof from the smaller to the larger
//! fails to verify.

use attestlog_proto::Hash;
use attestlog_proto::checkpoint::{CheckpointError, SignedCheckpoint};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::proof::verify_consistency;
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
    /// The consistency proof the log offered from the smaller tree to the larger (base64
    /// hashes; empty for equal sizes).
    pub consistency_proof: Vec<Hash>,
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
        match verify_consistency(
            small.size,
            large.size,
            &self.consistency_proof,
            &small.root,
            &large.root,
        ) {
            Ok(()) => Err(ForkError::Consistent(format!(
                "the consistency proof from {} to {} verifies",
                small.size, large.size
            ))),
            Err(e) => Ok(ForkProof::Inconsistent {
                first: small.size,
                second: large.size,
                reason: e.to_string(),
            }),
        }
    }
}
