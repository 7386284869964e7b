//! The prover: inclusion and consistency proofs and receipts, computed from the same (cached)
//! tiles the static path serves, so that the views cannot disagree; and the decision which
//! enrolment authorised an entry (the rule engine's, [`rules::authorising_enrolment_of`]).
//!
//! The HTTP handlers and the SCITT endpoints call it through
//! [`crate::http::AppState::prover`]; its errors ([`ProverError`]) are mapped to HTTP statuses
//! in `http/`.

use attestlog_proto::Hash;
use attestlog_proto::api::{Receipt, ReceiptEnrolment};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::proof::{ProofError, ProveError};
use attestlog_proto::rules;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::publication::Shared;
use crate::sequencer::Published;
use crate::storage::{LogStore, StoreError};
use crate::tiles::{TileCache, TreeReader};

/// Why a proof, entry or receipt could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// The request is not a valid proof request (an index or size out of range).
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// No entry at this index.
    #[error("no entry at index {0}")]
    NoEntry(u64),
    /// A tile could not be read while proving.
    #[error("tile read failed while proving: {0}")]
    TileRead(String),
    /// Storage returned fewer hashes than asked for.
    #[error("storage returned no hashes")]
    NoHashes,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl<E: std::fmt::Debug> From<ProveError<E>> for ProverError {
    fn from(e: ProveError<E>) -> Self {
        match e {
            ProveError::Proof(p) => Self::Proof(p),
            ProveError::Read(r) => Self::TileRead(format!("{r:?}")),
        }
    }
}

/// What admission verified about a submission: its vendor (or verifier) and the keys whose
/// signatures verified.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    /// `predicate.vendor.legal_name`, or a verification's `predicate.verifier.legal_name`
    pub vendor: &'a str,
    /// the signers' role: vendor for attestations, verifier for verifications
    pub role: attestlog_proto::enrolment::KeyRole,
    /// verified signers
    pub signers: &'a [VerifierKey],
}

/// Most enrolment parts kept for one checkpoint (one per vendor key that submitted under it).
const ENROLMENT_CACHE_LIMIT: usize = 1024;

/// The enrolment parts of receipts (the enrolment entry and its tlog-proof) against one
/// checkpoint: every submission of a batch answers against the same checkpoint, and most of
/// them name one of a few enrolments, which are then read and proved once.
#[derive(Debug, Default)]
pub struct EnrolmentCache(std::sync::Mutex<EnrolmentParts>);

#[derive(Debug, Default)]
struct EnrolmentParts {
    /// The checkpoint note the parts prove against (a cosigned form is another note).
    note: Vec<u8>,
    parts: std::collections::HashMap<u64, ReceiptEnrolment>,
}

impl EnrolmentCache {
    fn get(&self, index: u64, p: &Published) -> Option<ReceiptEnrolment> {
        let g = self.0.lock().ok()?;
        if g.note == p.note {
            g.parts.get(&index).cloned()
        } else {
            None
        }
    }

    fn put(&self, index: u64, p: &Published, part: &ReceiptEnrolment) {
        let Ok(mut g) = self.0.lock() else {
            return;
        };
        if g.note != p.note || g.parts.len() >= ENROLMENT_CACHE_LIMIT {
            g.note.clone_from(&p.note);
            g.parts.clear();
        }
        g.parts.insert(index, part.clone());
    }
}

/// Proofs, entries and receipts of one log, read through the tile cache.
#[derive(Debug)]
pub struct Prover<'a> {
    /// Storage.
    pub store: &'a dyn LogStore,
    /// Tile cache (the static path's).
    pub cache: &'a TileCache,
    /// Published checkpoint and enrolment state.
    pub shared: &'a Shared,
    /// Receipts' enrolment parts against the latest checkpoint they were built for.
    pub parts: &'a EnrolmentCache,
}

impl Prover<'_> {
    /// Inclusion proof hashes for `index` in the tree of `size` (≤ published size).
    ///
    /// # Errors
    /// [`ProverError::Proof`] for `index ≥ size`, else tile read or storage errors.
    pub fn inclusion_hashes(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProverError> {
        let hr = TreeReader::new(size, self.store, self.cache);
        Ok(attestlog_proto::proof::inclusion_proof(index, size, &hr)?)
    }

    /// The leaf hash of `index` and its inclusion proof in the tree of `size`, from one read
    /// of the (cached) tiles: the leaf hash sits in the level-0 tile, so the entry itself is
    /// not read.
    ///
    /// # Errors
    /// [`ProverError::Proof`] for `index ≥ size`, else tile read or storage errors.
    pub fn leaf_and_inclusion(
        &self,
        index: u64,
        size: u64,
    ) -> Result<(Hash, Vec<Hash>), ProverError> {
        use attestlog_proto::proof::{inclusion_from_hashes, inclusion_indexes};
        use attestlog_proto::tree::{HashReader as _, NodeId};
        let mut nodes = inclusion_indexes(index, size)?;
        nodes.push(NodeId::new(0, index));
        let hr = TreeReader::new(size, self.store, self.cache);
        let mut hashes = hr
            .read_hashes(&nodes)
            .map_err(|e| ProverError::TileRead(format!("{e:?}")))?;
        let leaf = hashes.pop().ok_or(ProverError::NoHashes)?;
        Ok((leaf, inclusion_from_hashes(index, size, &hashes)?))
    }

    /// Consistency proof hashes between two sizes (both ≤ published size).
    ///
    /// # Errors
    /// [`ProverError::Proof`] for `first > second`, else tile read or storage errors.
    pub fn consistency_hashes(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProverError> {
        let hr = TreeReader::new(second, self.store, self.cache);
        Ok(attestlog_proto::proof::consistency_proof(
            first, second, &hr,
        )?)
    }

    /// Reads one entry.
    ///
    /// # Errors
    /// [`ProverError::NoEntry`] if it does not exist, else storage errors.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, ProverError> {
        self.store
            .read_entries(index, 1)?
            .pop()
            .ok_or(ProverError::NoEntry(index))
    }

    /// The enrolment entry at `index` with its tlog-proof against `p` (cached per checkpoint).
    fn enrolment_part(&self, index: u64, p: &Published) -> Result<ReceiptEnrolment, ProverError> {
        if let Some(part) = self.parts.get(index, p) {
            return Ok(part);
        }
        let part = ReceiptEnrolment {
            entry: STANDARD.encode(self.entry(index)?),
            proof: self.tlog_proof(index, p)?,
        };
        self.parts.put(index, p, &part);
        Ok(part)
    }

    fn tlog_proof(&self, index: u64, p: &Published) -> Result<String, ProverError> {
        let hashes = self.inclusion_hashes(index, p.size)?;
        Ok(crate::rules::tlog_proof_text(index, &hashes, &p.note))
    }

    /// The index of the enrolment entry that authorised the entry at `index`, if it is an
    /// attestation or a verification: the rule engine's decision
    /// ([`rules::authorising_enrolment_of`]). On the submit path admission already knows the
    /// vendor and the verified signers.
    #[must_use]
    pub fn enrolment_index_for(
        &self,
        entry: &[u8],
        index: u64,
        verified: Option<Verified<'_>>,
    ) -> Option<u64> {
        let enrolments = self.shared.enrolments();
        if let Some(v) = verified {
            return rules::authorising_enrolment_of(
                &enrolments,
                index,
                v.vendor,
                v.role,
                v.signers,
            )
            .map(|r| r.enrolled_at);
        }
        // Either entry format: a DSSE envelope or a SCITT signed statement.
        rules::authorising_enrolment_of_entry(entry, &enrolments, index).map(|r| r.enrolled_at)
    }

    /// The receipt of the entry at `index` against `p`.
    ///
    /// # Errors
    /// Tile read or storage errors.
    pub fn receipt(&self, index: u64, entry: &[u8], p: &Published) -> Result<Receipt, ProverError> {
        let hashes = self.inclusion_hashes(index, p.size)?;
        self.receipt_with(index, entry, p, &hashes, None)
    }

    /// The receipt, given the entry's inclusion proof against `p` and, on the submit path,
    /// the key IDs admission verified.
    ///
    /// # Errors
    /// Tile read or storage errors.
    pub fn receipt_with(
        &self,
        index: u64,
        entry: &[u8],
        p: &Published,
        hashes: &[Hash],
        verified: Option<Verified<'_>>,
    ) -> Result<Receipt, ProverError> {
        let enrolment = match self.enrolment_index_for(entry, index, verified) {
            Some(ei) => Some(self.enrolment_part(ei, p)?),
            None => None,
        };
        Ok(Receipt {
            entry: STANDARD.encode(entry),
            proof: crate::rules::tlog_proof_text(index, hashes, &p.note),
            enrolment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(size: u64, note: &str) -> Published {
        Published {
            size,
            root: Hash::EMPTY_ROOT,
            note: note.as_bytes().to_vec(),
        }
    }

    fn part(s: &str) -> ReceiptEnrolment {
        ReceiptEnrolment {
            entry: s.to_owned(),
            proof: s.to_owned(),
        }
    }

    #[test]
    fn enrolment_parts_are_served_only_for_the_checkpoint_they_prove_against() {
        let cache = EnrolmentCache::default();
        let (a, cosigned_a, b) = (published(5, "a"), published(5, "a+w"), published(9, "b"));
        assert!(cache.get(1, &a).is_none());
        cache.put(1, &a, &part("1@a"));
        assert_eq!(cache.get(1, &a).unwrap().proof, "1@a");
        assert!(cache.get(2, &a).is_none(), "another enrolment");
        assert!(
            cache.get(1, &cosigned_a).is_none(),
            "same size, another note"
        );
        assert!(cache.get(1, &b).is_none(), "a newer checkpoint");
        cache.put(1, &b, &part("1@b"));
        assert!(
            cache.get(1, &a).is_none(),
            "parts of the old checkpoint are gone"
        );
        assert_eq!(cache.get(1, &b).unwrap().proof, "1@b");
        for i in 0..ENROLMENT_CACHE_LIMIT as u64 + 10 {
            cache.put(i, &b, &part("x"));
        }
        assert!(cache.0.lock().unwrap().parts.len() <= ENROLMENT_CACHE_LIMIT);
    }
}
