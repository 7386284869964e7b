//! Building proofs and receipts from tiles: the proof endpoints and receipts read the same
//! tiles the static path serves, so the views cannot disagree.

use attestlog_proto::Hash;
use attestlog_proto::api::{Receipt, ReceiptEnrolment};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::AppState;
use super::error::ApiError;
use crate::rules::KeyRecord;
use crate::sequencer::Published;
use crate::tiles::TreeReader;

/// What admission verified about a submission: its vendor and the key IDs whose signatures
/// verified.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    /// `predicate.vendor.legal_name`
    pub vendor: &'a str,
    /// verified signature key IDs
    pub key_ids: &'a [String],
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

    fn tlog_proof(&self, index: u64, p: &Published) -> Result<String, ApiError> {
        let hashes = self.inclusion_hashes(index, p.size)?;
        Ok(crate::rules::tlog_proof_text(index, &hashes, &p.note))
    }

    /// The index of the enrolment entry that authorised the entry at `index`, if it is an
    /// attestation. On the submit path admission already knows the vendor and the verified key
    /// IDs; otherwise the entry is parsed and each candidate signature verified here.
    #[must_use]
    pub fn enrolment_index_for(
        &self,
        entry: &[u8],
        index: u64,
        verified: Option<Verified<'_>>,
    ) -> Option<u64> {
        let enrolments = self.shared.enrolments();
        let in_force = |r: &&KeyRecord, vendor: &str| {
            r.vendor == vendor && r.enrolled_at < index && r.revoked_at.is_none_or(|x| x > index)
        };
        if let Some(v) = verified {
            return v.key_ids.iter().find_map(|id| {
                enrolments
                    .keys_by_id(id)
                    .into_iter()
                    .find(|r| in_force(r, v.vendor))
                    .map(|r| r.enrolled_at)
            });
        }
        let env = attestlog_proto::dsse::Envelope::from_json(entry).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&env.payload).ok()?;
        let vendor = v.pointer("/predicate/vendor/legal_name")?.as_str()?;
        let pae = env.pae();
        env.signatures.iter().find_map(|sig| {
            enrolments
                .keys_by_id(&sig.keyid)
                .into_iter()
                .filter(|r| in_force(r, vendor))
                .find(|r| r.key.verify(&pae, &sig.sig))
                .map(|r| r.enrolled_at)
        })
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
            Some(ei) => Some(ReceiptEnrolment {
                entry: STANDARD.encode(self.entry(ei)?),
                proof: self.tlog_proof(ei, p)?,
            }),
            None => None,
        };
        Ok(Receipt {
            entry: STANDARD.encode(entry),
            proof: crate::rules::tlog_proof_text(index, hashes, &p.note),
            enrolment,
        })
    }
}
