//! Building proofs and receipts from tiles: the proof endpoints and receipts read the same
//! tiles the static path serves, so the views cannot disagree.

use attestlog_proto::Hash;
use attestlog_proto::api::{Receipt, ReceiptEnrolment};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use attestlog_proto::keys::VerifierKey;
use attestlog_proto::rules;

use super::AppState;
use super::error::ApiError;
use crate::sequencer::Published;
use crate::tiles::TreeReader;

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

fn prove_err<E: std::fmt::Debug>(e: attestlog_proto::proof::ProveError<E>) -> ApiError {
    match e {
        attestlog_proto::proof::ProveError::Proof(p) => ApiError::bad_request(p.to_string()),
        attestlog_proto::proof::ProveError::Read(r) => {
            tracing::error!(error = ?r, "tile read failed while proving");
            ApiError::unavailable("storage is unavailable")
        }
    }
}

impl AppState {
    /// Inclusion proof hashes for `index` in the tree of `size` (≤ published size).
    ///
    /// # Errors
    /// 400 for `index ≥ size`, 503 for storage errors.
    pub fn inclusion_hashes(&self, index: u64, size: u64) -> Result<Vec<Hash>, ApiError> {
        let hr = TreeReader::new(size, self.store.as_ref(), &self.cache);
        attestlog_proto::proof::inclusion_proof(index, size, &hr).map_err(prove_err)
    }

    /// The leaf hash of `index` and its inclusion proof in the tree of `size`, from one read
    /// of the (cached) tiles: the leaf hash sits in the level-0 tile, so the entry itself is
    /// not read.
    ///
    /// # Errors
    /// 400 for `index ≥ size`, 503 for storage errors.
    pub fn leaf_and_inclusion(&self, index: u64, size: u64) -> Result<(Hash, Vec<Hash>), ApiError> {
        use attestlog_proto::proof::{inclusion_from_hashes, inclusion_indexes};
        use attestlog_proto::tree::{HashReader as _, NodeId};
        let bad = |e: attestlog_proto::proof::ProofError| ApiError::bad_request(e.to_string());
        let mut nodes = inclusion_indexes(index, size).map_err(bad)?;
        nodes.push(NodeId::new(0, index));
        let hr = TreeReader::new(size, self.store.as_ref(), &self.cache);
        let mut hashes = hr.read_hashes(&nodes).map_err(|e| {
            tracing::error!(error = ?e, "tile read failed while proving");
            ApiError::unavailable("storage is unavailable")
        })?;
        let leaf = hashes
            .pop()
            .ok_or_else(|| ApiError::unavailable("storage returned no hashes"))?;
        Ok((
            leaf,
            inclusion_from_hashes(index, size, &hashes).map_err(bad)?,
        ))
    }

    /// Consistency proof hashes between two sizes (both ≤ published size).
    ///
    /// # Errors
    /// 400 for `first > second`, 503 for storage errors.
    pub fn consistency_hashes(&self, first: u64, second: u64) -> Result<Vec<Hash>, ApiError> {
        let hr = TreeReader::new(second, self.store.as_ref(), &self.cache);
        attestlog_proto::proof::consistency_proof(first, second, &hr).map_err(prove_err)
    }

    /// Reads one entry.
    ///
    /// # Errors
    /// 404 if it does not exist, 503 for storage errors.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, ApiError> {
        self.store
            .read_entries(index, 1)?
            .pop()
            .ok_or_else(|| ApiError::not_found(format!("no entry at index {index}")))
    }

    /// The enrolment entry at `index` with its tlog-proof against `p` (cached per checkpoint).
    fn enrolment_part(&self, index: u64, p: &Published) -> Result<ReceiptEnrolment, ApiError> {
        if let Some(part) = self.enrolment_receipts.get(index, p) {
            return Ok(part);
        }
        let part = ReceiptEnrolment {
            entry: STANDARD.encode(self.entry(index)?),
            proof: self.tlog_proof(index, p)?,
        };
        self.enrolment_receipts.put(index, p, &part);
        Ok(part)
    }

    fn tlog_proof(&self, index: u64, p: &Published) -> Result<String, ApiError> {
        let hashes = self.inclusion_hashes(index, p.size)?;
        Ok(crate::rules::tlog_proof_text(index, &hashes, &p.note))
    }

    /// The index of the enrolment entry that authorised the entry at `index`, if it is an
    /// attestation: the rule engine's decision ([`attestlog_proto::rules::authorising_enrolment`]).
    /// On the submit path admission already knows the vendor and the verified signers.
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
    /// Storage errors.
    pub fn receipt(&self, index: u64, entry: &[u8], p: &Published) -> Result<Receipt, ApiError> {
        let hashes = self.inclusion_hashes(index, p.size)?;
        self.receipt_with(index, entry, p, &hashes, None)
    }

    /// The receipt, given the entry's inclusion proof against `p` and, on the submit path,
    /// the key IDs admission verified.
    ///
    /// # Errors
    /// Storage errors.
    pub fn receipt_with(
        &self,
        index: u64,
        entry: &[u8],
        p: &Published,
        hashes: &[Hash],
        verified: Option<Verified<'_>>,
    ) -> Result<Receipt, ApiError> {
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
