//! What a verifier trusts ([`Trust`]) and the checkpoints it accepts under that trust
//! ([`VerifiedCheckpoint`]).
//!
//! One vocabulary for every offline check: the receipt verifier ([`crate::receipt`]), the
//! transparent-statement verifier ([`crate::scitt`]) and the client's tile follower and
//! monitor all take a [`Trust`]. A verifier trusts either the log's verifier key alone, or a
//! c2sp.org/tlog-policy: the log keys, the witnesses and the witness quorum
//! ([`crate::policy`]).

use std::collections::BTreeSet;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
use crate::hash::Hash;
use crate::keys::{TYPE_ED25519, VerifierKey};
use crate::note::Note;
use crate::policy::{Policy, PolicyError, witnessed};

/// What a verifier trusts: the log's verifier key, or a tlog-policy (log keys, witnesses and
/// the witness quorum).
#[derive(Debug, Clone)]
pub enum Trust {
    /// The log's Ed25519 verifier key; no witness requirement.
    LogKey(Box<VerifierKey>),
    /// A policy: the checkpoint must be signed by one of its logs and cosigned by a quorum.
    Policy(Box<Policy>),
}

/// Why a checkpoint is not accepted under a [`Trust`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// Under a log key: the note is malformed, names another origin or its log signature
    /// does not verify.
    #[error("checkpoint does not verify: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// Under a policy: the checkpoint is not signed by a policy log or its cosignatures do
    /// not meet the quorum.
    #[error("checkpoint does not satisfy the policy: {0}")]
    Policy(#[from] PolicyError),
}

impl Trust {
    /// Trust in the log's verifier key alone.
    #[must_use]
    pub fn log_key(key: VerifierKey) -> Self {
        Self::LogKey(Box::new(key))
    }

    /// Trust in a tlog-policy.
    #[must_use]
    pub fn policy(policy: Policy) -> Self {
        Self::Policy(Box::new(policy))
    }

    /// The log keys this trust accepts.
    #[must_use]
    pub fn log_keys(&self) -> Vec<VerifierKey> {
        match self {
            Trust::LogKey(k) => vec![(**k).clone()],
            Trust::Policy(p) => p.log_keys(),
        }
    }

    /// The keys that may sign enrolment entries of the log named `origin`: the trusted
    /// Ed25519 log keys named after it (the same keys that may sign its checkpoints).
    #[must_use]
    pub fn enrolment_keys(&self, origin: &str) -> Vec<VerifierKey> {
        self.log_keys()
            .into_iter()
            .filter(|k| k.key_type() == TYPE_ED25519 && k.name() == origin)
            .collect()
    }

    /// Opens a signed checkpoint note under this trust.
    ///
    /// # Errors
    /// [`TrustError::Checkpoint`] under a log key, [`TrustError::Policy`] under a policy.
    pub fn open_checkpoint(&self, note: &[u8]) -> Result<VerifiedCheckpoint, TrustError> {
        match Note::parse(note) {
            Ok(note) => self.verify_checkpoint(note),
            Err(e) => Err(self.checkpoint_error(e.into())),
        }
    }

    /// As [`Trust::open_checkpoint`], for an already parsed note.
    ///
    /// # Errors
    /// As [`Trust::open_checkpoint`].
    pub fn verify_checkpoint(&self, note: Note) -> Result<VerifiedCheckpoint, TrustError> {
        let signed = SignedCheckpoint::verify(note, &self.log_keys())
            .map_err(|e| self.checkpoint_error(e))?;
        match self {
            Trust::LogKey(_) => Ok(VerifiedCheckpoint::log_signed(signed)),
            Trust::Policy(p) => {
                let w = witnessed(p, signed)?;
                Ok(VerifiedCheckpoint {
                    signed: w.checkpoint().clone(),
                    witnesses: w.witnesses().clone(),
                })
            }
        }
    }

    /// A malformed or badly signed checkpoint, as this trust reports it.
    fn checkpoint_error(&self, e: CheckpointError) -> TrustError {
        match self {
            Trust::LogKey(_) => TrustError::Checkpoint(e),
            Trust::Policy(_) => TrustError::Policy(PolicyError::Checkpoint(e)),
        }
    }
}

/// A checkpoint whose log signature (and, under a policy, witness quorum) verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    signed: SignedCheckpoint,
    witnesses: BTreeSet<String>,
}

impl VerifiedCheckpoint {
    /// A checkpoint verified by its log signature only, with no verified witnesses: what
    /// [`Trust::LogKey`] accepts. Under a policy, for comparing with a trusted checkpoint,
    /// never for following the log.
    #[must_use]
    pub fn log_signed(signed: SignedCheckpoint) -> Self {
        Self {
            signed,
            witnesses: BTreeSet::new(),
        }
    }

    /// The checkpoint body.
    #[must_use]
    pub fn checkpoint(&self) -> &Checkpoint {
        self.signed.checkpoint()
    }

    /// Tree size.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.signed.checkpoint().size
    }

    /// Root hash.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.signed.checkpoint().root
    }

    /// The signed note.
    #[must_use]
    pub fn signed(&self) -> &SignedCheckpoint {
        &self.signed
    }

    /// The signed note's bytes (for storing and for evidence files).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signed.to_bytes()
    }

    /// Names of the policy witnesses whose cosignatures verified (empty under a log key).
    #[must_use]
    pub fn witnesses(&self) -> &BTreeSet<String> {
        &self.witnesses
    }

    /// The signed checkpoint and the verified witnesses.
    #[must_use]
    pub fn into_parts(self) -> (SignedCheckpoint, BTreeSet<String>) {
        (self.signed, self.witnesses)
    }
}
