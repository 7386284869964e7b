//! Offline verification of receipts (DESIGN.md §4, "Receipt").
//!
//! A [`Receipt`] carries an entry, its c2sp.org/tlog-proof and, for an attestation, the
//! enrolment entry of the vendor key with its own proof against the same checkpoint. With
//! only the log's verifier key (or a c2sp.org/tlog-policy) [`verify_receipt`] checks, as a
//! pure function:
//!
//! 1. the entry is base64 of a canonical DSSE envelope, or of a SCITT signed statement as the
//!    log holds it (a COSE_Sign1 with an empty unprotected header, DESIGN.md §12);
//! 2. the proof's checkpoint is signed by the log (and, with a policy, cosigned by a witness
//!    quorum) and the entry's inclusion proof leads to its root;
//! 3. for an attestation: the statement is valid; the enrolment entry is an enrolment
//!    envelope signed by the log key, included in the *same* checkpoint at a lower index, and
//!    enrols a key for exactly `predicate.vendor.legal_name`; that key's signature on the
//!    entry verifies (`verify_strict`; for a signed statement: the protected `kid` names that
//!    key, its signature over the COSE Sig_structure verifies, and the CWT claims are `iss` =
//!    the key's name and `sub` = the statement's [`crate::rules::cose_subject`]);
//! 4. for an enrolment entry: it is signed by the log key (no enrolment part); so is a
//!    registration policy entry (DESIGN.md §12), whose payload is parsed strictly
//!    ([`RegistrationPolicy::parse`]);
//! 5. for a verification statement (DESIGN.md §13): as for an attestation, with
//!    `predicate.verifier.legal_name` for the vendor; and the enrolled key's role must be the
//!    one that signs the entry's kind (a vendor key for attestations, a verifier key for
//!    verifications). That the verification's subject is an attestation in the log is checked
//!    with the subject's own receipt ([`VerifiedReceipt::check_subject`]).
//!
//! Success yields a [`VerifiedReceipt`], a different type from the unverified [`Receipt`].
//! Whether the key was revoked after the receipt's checkpoint is a monitor's question, and
//! whether `valid_until` has passed is the caller's ([`VerifiedReceipt::expired_at`]): this
//! module has no clock.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::api::Receipt;
use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
use crate::cose::{CoseError, SignedStatement, is_cose_entry};
use crate::dsse::{DsseError, Envelope};
use crate::enrolment::{Action, Enrolment, EnrolmentError, KeyRole, PAYLOAD_TYPE_ENROLMENT};
use crate::hash::Hash;
use crate::keys::VerifierKey;
use crate::policy::PolicyError;
use crate::predicate::{FieldError, PAYLOAD_TYPE_INTOTO, Statement, Timestamp, parse_rfc3339};
use crate::proof::{ProofError, verify_inclusion};
use crate::registration::{
    PAYLOAD_TYPE_REGISTRATION_POLICY, RegistrationError, RegistrationPolicy,
};
use crate::tlog_proof::{TlogProof, TlogProofError};
use crate::trust::{Trust, TrustError};
use crate::verification::VerificationStatement;

/// Why a receipt does not verify. Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// `entry` is not standard padded base64.
    #[error("entry is not valid base64")]
    EntryBase64,
    /// The entry bytes are not a canonical DSSE envelope.
    #[error("entry is not a canonical dsse envelope: {0}")]
    Entry(DsseError),
    /// The entry bytes are not a SCITT signed statement as a log holds it.
    #[error("entry is not a logged COSE signed statement: {0}")]
    CoseEntry(String),
    /// A signed statement's CWT claims do not match its signing key and statement.
    #[error("signed statement: {0}")]
    CoseClaims(String),
    /// The entry's tlog-proof does not parse.
    #[error("entry proof is malformed: {0}")]
    Proof(TlogProofError),
    /// The checkpoint is not signed by the trusted log key (or is malformed).
    #[error("checkpoint does not verify against the log key: {0}")]
    Checkpoint(CheckpointError),
    /// The checkpoint's witness cosignatures do not satisfy the policy's quorum.
    #[error("checkpoint does not satisfy the witness quorum of the policy")]
    QuorumNotMet,
    /// The policy rejected the checkpoint for another reason.
    #[error("checkpoint does not satisfy the policy: {0}")]
    Policy(PolicyError),
    /// The entry's inclusion proof does not lead to the checkpoint's root.
    #[error("entry inclusion proof does not verify: {0}")]
    EntryInclusion(ProofError),
    /// The entry is neither an attestation, a verification, an enrolment nor a registration
    /// policy.
    #[error("unsupported payload type {0:?}")]
    PayloadType(String),
    /// The attestation's statement is invalid.
    #[error("invalid statement: {}", join_errors(.0))]
    Statement(Vec<FieldError>),
    /// An attestation receipt without the enrolment part.
    #[error("receipt has no enrolment for the attestation's signing key")]
    MissingEnrolment,
    /// An enrolment entry's receipt with an enrolment part (it must have none).
    #[error("receipt of an enrolment entry must not have an enrolment part")]
    UnexpectedEnrolment,
    /// The enrolment entry is not standard padded base64.
    #[error("enrolment entry is not valid base64")]
    EnrolmentBase64,
    /// A registration policy entry has no verifying signature by a trusted log key.
    #[error("registration policy entry is not signed by the log key")]
    PolicyNotSignedByLog,
    /// The registration policy payload is malformed.
    #[error("invalid registration policy: {0}")]
    PolicyPayload(RegistrationError),
    /// The enrolment entry bytes are not a canonical DSSE envelope.
    #[error("enrolment entry is not a canonical dsse envelope: {0}")]
    EnrolmentEntry(DsseError),
    /// The enrolment entry does not have the enrolment payload type.
    #[error("enrolment entry has payload type {0:?}, expected {PAYLOAD_TYPE_ENROLMENT}")]
    EnrolmentPayloadType(String),
    /// The enrolment entry has no verifying signature by a trusted log key.
    #[error("enrolment entry is not signed by the log key")]
    EnrolmentNotSignedByLog,
    /// The enrolment payload is malformed.
    #[error("invalid enrolment payload: {0}")]
    EnrolmentPayload(EnrolmentError),
    /// The enrolment's tlog-proof does not parse.
    #[error("enrolment proof is malformed: {0}")]
    EnrolmentProof(TlogProofError),
    /// The enrolment's proof is against another checkpoint than the entry's.
    #[error("enrolment proof is against a different checkpoint than the entry proof")]
    CheckpointMismatch,
    /// The enrolment's inclusion proof does not lead to the checkpoint's root.
    #[error("enrolment inclusion proof does not verify: {0}")]
    EnrolmentInclusion(ProofError),
    /// The enrolment entry revokes the key instead of enrolling it.
    #[error("enrolment entry revokes the key instead of enrolling it")]
    NotAnEnrolment,
    /// The key is enrolled for another vendor than `predicate.vendor.legal_name`.
    #[error("key is enrolled for vendor {enrolled:?}, but the statement names {claimed:?}")]
    VendorMismatch {
        /// Vendor of the enrolment.
        enrolled: String,
        /// `predicate.vendor.legal_name`.
        claimed: String,
    },
    /// The enrolment is not at a lower index than the entry.
    #[error("enrolment at index {enrolment} is not before the entry at index {entry}")]
    EnrolmentNotBefore {
        /// Index of the enrolment entry.
        enrolment: u64,
        /// Index of the entry.
        entry: u64,
    },
    /// The entry has no signature whose keyid is the enrolled key's.
    #[error("entry has no signature by the enrolled key {keyid}")]
    NotSignedByEnrolledKey {
        /// 8 hex digits of the enrolled key's ID.
        keyid: String,
    },
    /// The enrolled key's signature on the entry does not verify.
    #[error("signature by the enrolled key {keyid} does not verify")]
    BadVendorSignature {
        /// 8 hex digits of the enrolled key's ID.
        keyid: String,
    },
    /// The key is enrolled with the other role (a verifier key never signs attestations, a
    /// vendor key never verifications).
    #[error("key is enrolled as a {} key, which never signs {}", .enrolled.as_str(), .signed)]
    WrongRole {
        /// The enrolment's role.
        enrolled: KeyRole,
        /// What the entry is.
        signed: &'static str,
    },
    /// A verification's subject receipt is not the attestation the verification names.
    #[error("the subject does not match the verification: {0}")]
    Subject(String),
}

fn join_errors(errs: &[FieldError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the entry says, once verified.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// A data-flow attestation.
    Attestation(Box<Statement>),
    /// A vendor key enrolment or revocation.
    Enrolment(Box<Enrolment>),
    /// A verification statement (DESIGN.md §13).
    Verification(Box<VerificationStatement>),
    /// A SCITT registration policy, signed by the log key (DESIGN.md §12).
    Policy(Box<RegistrationPolicy>),
}

/// The entry in its signed form: a DSSE envelope or a SCITT signed statement.
#[derive(Debug, Clone, PartialEq)]
enum SignedEntry {
    Dsse(Envelope),
    Cose(Box<SignedStatement>),
}

impl SignedEntry {
    /// Parses logged entry bytes in either format.
    fn parse(entry: &[u8]) -> Result<Self, ReceiptError> {
        if !is_cose_entry(entry) {
            return Envelope::parse_entry(entry)
                .map(Self::Dsse)
                .map_err(ReceiptError::Entry);
        }
        let st = SignedStatement::parse(entry)
            .map_err(|e: CoseError| ReceiptError::CoseEntry(e.to_string()))?;
        if st.to_entry() != entry {
            return Err(ReceiptError::CoseEntry(
                "a logged signed statement has an empty unprotected header".into(),
            ));
        }
        Ok(Self::Cose(Box::new(st)))
    }

    /// The payload type and the payload (a signed statement's is always in-toto).
    fn payload(&self) -> (&str, &[u8]) {
        match self {
            Self::Dsse(e) => (e.payload_type.as_str(), &e.payload),
            Self::Cose(s) => (PAYLOAD_TYPE_INTOTO, s.payload()),
        }
    }

    /// Whether a trusted log key signed it (enrolments: DSSE only).
    fn signed_by_log(&self, log_keys: &[VerifierKey]) -> bool {
        match self {
            Self::Dsse(e) => log_keys.iter().any(|k| e.verify_with(k)),
            Self::Cose(_) => false,
        }
    }

    /// Checks that the enrolled `key` signed the entry: a signature naming it, which verifies;
    /// for a signed statement also its CWT claims (`iss` the key's name, `sub` = `subject`).
    fn check_signed_by(&self, key: &VerifierKey, subject: &str) -> Result<(), ReceiptError> {
        let keyid = key.key_id_hex();
        let (named, verifies) = match self {
            Self::Dsse(e) => (
                e.signatures.iter().any(|s| s.keyid == keyid),
                e.verify_with(key),
            ),
            Self::Cose(s) => (s.kid_hex() == keyid, s.verify_with(key)),
        };
        if !named {
            return Err(ReceiptError::NotSignedByEnrolledKey { keyid });
        }
        if !verifies {
            return Err(ReceiptError::BadVendorSignature { keyid });
        }
        if let Self::Cose(s) = self {
            s.check_claims(key.name(), subject)
                .map_err(ReceiptError::CoseClaims)?;
        }
        Ok(())
    }
}

impl Claim {
    /// What the entry is, by the name `GET /v1/entries/{index}` gives it.
    #[must_use]
    pub fn kind(&self) -> crate::api::EntryKind {
        match self {
            Self::Attestation(_) => crate::api::EntryKind::Attestation,
            Self::Enrolment(_) => crate::api::EntryKind::Enrolment,
            Self::Verification(_) => crate::api::EntryKind::Verification,
            Self::Policy(_) => crate::api::EntryKind::RegistrationPolicy,
        }
    }
}

/// A receipt that passed every check of [`verify_receipt`]. Only that function makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedReceipt {
    index: u64,
    leaf_hash: Hash,
    checkpoint: SignedCheckpoint,
    witnesses: BTreeSet<String>,
    entry: Vec<u8>,
    signed: SignedEntry,
    claim: Claim,
    /// The enrolment of the signing key and its index (none for a registration policy).
    enrolment: Option<(Enrolment, u64)>,
}

impl VerifiedReceipt {
    /// Log index of the entry.
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// RFC 9162 leaf hash of the entry.
    #[must_use]
    pub fn leaf_hash(&self) -> Hash {
        self.leaf_hash
    }

    /// The verified checkpoint (origin, size, root) the entry is included in.
    #[must_use]
    pub fn checkpoint(&self) -> &Checkpoint {
        self.checkpoint.checkpoint()
    }

    /// The verified signed checkpoint (note, verified log keys, signature lines).
    #[must_use]
    pub fn signed_checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// Policy names of the witnesses whose cosignatures verified (empty with
    /// [`Trust::LogKey`]).
    #[must_use]
    pub fn witnesses(&self) -> &BTreeSet<String> {
        &self.witnesses
    }

    /// The canonical entry bytes.
    #[must_use]
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The entry's DSSE envelope (none for a SCITT signed statement).
    #[must_use]
    pub fn envelope(&self) -> Option<&Envelope> {
        match &self.signed {
            SignedEntry::Dsse(e) => Some(e),
            SignedEntry::Cose(_) => None,
        }
    }

    /// The entry's SCITT signed statement (none for a DSSE envelope).
    #[must_use]
    pub fn signed_statement(&self) -> Option<&SignedStatement> {
        match &self.signed {
            SignedEntry::Cose(s) => Some(s),
            SignedEntry::Dsse(_) => None,
        }
    }

    /// The verified claim.
    #[must_use]
    pub fn claim(&self) -> &Claim {
        &self.claim
    }

    /// The statement, for an attestation.
    #[must_use]
    pub fn statement(&self) -> Option<&Statement> {
        match &self.claim {
            Claim::Attestation(s) => Some(s),
            Claim::Enrolment(_) | Claim::Verification(_) | Claim::Policy(_) => None,
        }
    }

    /// The statement, for a verification.
    #[must_use]
    pub fn verification(&self) -> Option<&VerificationStatement> {
        match &self.claim {
            Claim::Verification(s) => Some(s),
            _ => None,
        }
    }

    /// For a verification, checks `subject` (the verified receipt of the entry it names, from
    /// the same log) against its `subject_entry`: the same index, leaf hash and attestation id,
    /// the SHA-256 of the entry bytes in `subject`, and that the entry is a data-flow
    /// attestation — the rule engine's [`crate::rules::check_subject`].
    ///
    /// # Errors
    /// [`ReceiptError::Subject`] naming what does not match (also for an entry that is not a
    /// verification, or receipts of two logs).
    pub fn check_subject(&self, subject: &VerifiedReceipt) -> Result<(), ReceiptError> {
        let Some(v) = self.verification() else {
            return Err(ReceiptError::Subject(
                "the entry is not a verification".into(),
            ));
        };
        if subject.checkpoint().origin != self.checkpoint().origin {
            return Err(ReceiptError::Subject(format!(
                "the subject's receipt is from log {}, the verification's from {}",
                subject.checkpoint().origin,
                self.checkpoint().origin
            )));
        }
        let named = v.predicate.subject_entry.log_index;
        if subject.index() != named {
            return Err(ReceiptError::Subject(format!(
                "predicate.subject_entry.log_index: names index {named}, the subject's receipt \
                 is of index {}",
                subject.index()
            )));
        }
        let facts = crate::rules::SubjectFacts {
            leaf_hash: subject.leaf_hash(),
            entry_sha256: Hash::sha256(subject.entry()),
            attestation_id: subject.statement().map(|s| s.attestation_id().to_owned()),
            data_flows: subject.statement().map(|s| s.predicate.data_flows.len()),
        };
        crate::rules::check_subject(v, Some(&facts))
            .map_err(|e| ReceiptError::Subject(e.to_string()))
    }

    /// For an attestation or verification, the enrolment of the key that signed it; for an
    /// enrolment entry, the entry itself; none for a registration policy (signed by the log).
    #[must_use]
    pub fn enrolment(&self) -> Option<&Enrolment> {
        self.enrolment.as_ref().map(|(e, _)| e)
    }

    /// The vendor key: the enrolled key whose signature verified (for an enrolment entry, the
    /// key it enrols or revokes; none for a registration policy).
    #[must_use]
    pub fn vendor_key(&self) -> Option<&VerifierKey> {
        self.enrolment().map(|e| &e.key)
    }

    /// The vendor legal name the key is enrolled for (none for a registration policy).
    #[must_use]
    pub fn vendor(&self) -> Option<&str> {
        self.enrolment().map(|e| e.vendor.as_str())
    }

    /// Log index of the enrolment entry (for an enrolment entry, its own index; none for a
    /// registration policy).
    #[must_use]
    pub fn enrolment_index(&self) -> Option<u64> {
        self.enrolment.as_ref().map(|(_, i)| *i)
    }

    /// Whether the attestation's `valid_until` is at or before `now_unix` (seconds since the
    /// Unix epoch, supplied by the caller). Always false for enrolment entries.
    #[must_use]
    pub fn expired_at(&self, now_unix: i64) -> bool {
        let Some(s) = self.statement() else {
            return false;
        };
        // The statement was validated, so `valid_until` parses; an unparsable one counts as
        // expired rather than valid forever.
        parse_rfc3339(&s.predicate.valid_until).is_none_or(|until| {
            Timestamp {
                unix_seconds: now_unix,
                nanos: 0,
            } >= until
        })
    }
}

/// Verifies a receipt offline against `trust` (see the module docs for every check).
///
/// # Errors
/// The [`ReceiptError`] of the first check that fails.
pub fn verify_receipt(receipt: &Receipt, trust: &Trust) -> Result<VerifiedReceipt, ReceiptError> {
    let entry = STANDARD
        .decode(&receipt.entry)
        .map_err(|_| ReceiptError::EntryBase64)?;
    let signed = SignedEntry::parse(&entry)?;
    let proof = TlogProof::parse(receipt.proof.as_bytes()).map_err(ReceiptError::Proof)?;

    let (checkpoint, witnesses) = verify_checkpoint(&proof, trust)?;
    let log_keys = trust.enrolment_keys(&checkpoint.checkpoint().origin);
    let leaf_hash = Hash::leaf(&entry);
    {
        let cp = checkpoint.checkpoint();
        verify_inclusion(&leaf_hash, proof.index, cp.size, &proof.proof, &cp.root)
            .map_err(ReceiptError::EntryInclusion)?;
    }
    let index = proof.index;

    let (payload_type, payload) = signed.payload();
    let (claim, enrolment) = match payload_type {
        PAYLOAD_TYPE_REGISTRATION_POLICY => {
            if receipt.enrolment.is_some() {
                return Err(ReceiptError::UnexpectedEnrolment);
            }
            if !signed.signed_by_log(&log_keys) {
                return Err(ReceiptError::PolicyNotSignedByLog);
            }
            let p = RegistrationPolicy::parse(payload).map_err(ReceiptError::PolicyPayload)?;
            (Claim::Policy(Box::new(p)), None)
        }
        PAYLOAD_TYPE_ENROLMENT => {
            if receipt.enrolment.is_some() {
                return Err(ReceiptError::UnexpectedEnrolment);
            }
            if !signed.signed_by_log(&log_keys) {
                return Err(ReceiptError::EnrolmentNotSignedByLog);
            }
            let e = Enrolment::parse(payload).map_err(ReceiptError::EnrolmentPayload)?;
            (Claim::Enrolment(Box::new(e.clone())), Some((e, index)))
        }
        PAYLOAD_TYPE_INTOTO => {
            let value = crate::dsse::parse_strict_json(payload).map_err(|e| {
                ReceiptError::Statement(vec![FieldError::new(
                    "",
                    format!("payload is not valid json: {e}"),
                )])
            })?;
            let subject = crate::rules::cose_subject(&value)
                .unwrap_or_default()
                .to_owned();
            let (claim, role) = if crate::verification::is_verification(&value) {
                let v = crate::verification::statement_from_value(value)
                    .map_err(ReceiptError::Statement)?;
                (Claim::Verification(Box::new(v)), KeyRole::Verifier)
            } else {
                let st = crate::predicate::statement_from_value(value)
                    .map_err(ReceiptError::Statement)?;
                (Claim::Attestation(Box::new(st)), KeyRole::Vendor)
            };
            let claimed = match &claim {
                Claim::Verification(v) => v.predicate.verifier.legal_name.as_str(),
                Claim::Attestation(st) => st.vendor_legal_name(),
                Claim::Enrolment(_) | Claim::Policy(_) => "",
            };
            let part = receipt
                .enrolment
                .as_ref()
                .ok_or(ReceiptError::MissingEnrolment)?;
            let enrol_entry = STANDARD
                .decode(&part.entry)
                .map_err(|_| ReceiptError::EnrolmentBase64)?;
            let enrol_env =
                Envelope::parse_entry(&enrol_entry).map_err(ReceiptError::EnrolmentEntry)?;
            if enrol_env.payload_type != PAYLOAD_TYPE_ENROLMENT {
                return Err(ReceiptError::EnrolmentPayloadType(enrol_env.payload_type));
            }
            if !log_keys.iter().any(|k| enrol_env.verify_with(k)) {
                return Err(ReceiptError::EnrolmentNotSignedByLog);
            }
            let e = Enrolment::parse(&enrol_env.payload).map_err(ReceiptError::EnrolmentPayload)?;
            let enrol_proof =
                TlogProof::parse(part.proof.as_bytes()).map_err(ReceiptError::EnrolmentProof)?;
            // Same checkpoint body: its signatures were verified with the entry's proof.
            if enrol_proof.note.text() != checkpoint.text() {
                return Err(ReceiptError::CheckpointMismatch);
            }
            let cp = checkpoint.checkpoint();
            verify_inclusion(
                &Hash::leaf(&enrol_entry),
                enrol_proof.index,
                cp.size,
                &enrol_proof.proof,
                &cp.root,
            )
            .map_err(ReceiptError::EnrolmentInclusion)?;
            if e.action != Action::Enrol {
                return Err(ReceiptError::NotAnEnrolment);
            }
            if e.vendor != claimed {
                return Err(ReceiptError::VendorMismatch {
                    enrolled: e.vendor,
                    claimed: claimed.to_owned(),
                });
            }
            if enrol_proof.index >= index {
                return Err(ReceiptError::EnrolmentNotBefore {
                    enrolment: enrol_proof.index,
                    entry: index,
                });
            }
            signed.check_signed_by(&e.key, &subject)?;
            if e.role != role {
                return Err(ReceiptError::WrongRole {
                    enrolled: e.role,
                    signed: match role {
                        KeyRole::Vendor => "attestations",
                        KeyRole::Verifier => "verification statements",
                    },
                });
            }
            (claim, Some((e, enrol_proof.index)))
        }
        other => return Err(ReceiptError::PayloadType(other.to_owned())),
    };

    Ok(VerifiedReceipt {
        index,
        leaf_hash,
        checkpoint,
        witnesses,
        entry,
        signed,
        claim,
        enrolment,
    })
}

fn verify_checkpoint(
    proof: &TlogProof,
    trust: &Trust,
) -> Result<(SignedCheckpoint, BTreeSet<String>), ReceiptError> {
    let verified = trust
        .verify_checkpoint(proof.note.clone())
        .map_err(|e| match e {
            TrustError::Checkpoint(e) | TrustError::Policy(PolicyError::Checkpoint(e)) => {
                ReceiptError::Checkpoint(e)
            }
            TrustError::Policy(PolicyError::QuorumNotMet) => ReceiptError::QuorumNotMet,
            TrustError::Policy(e) => ReceiptError::Policy(e),
        })?;
    Ok(verified.into_parts())
}

/// The log key of the committed seed receipt in `fuzz/corpus/receipt` (test seed `0x71`), so
/// that [`roundtrip_check`] reaches the deep checks on mutated valid receipts.
const FUZZ_LOG_KEY: &str =
    "attestlog.test/receipt+d030857f+AeL+Kjm3MmZCgn1tgtSXYizWwpf+eCcOqkNrAfCGtvPL";

/// Fuzz and corpus check: if `data` parses as a [`Receipt`], its JSON serialization parses
/// back to an equal receipt; it is then verified against the seed corpus's log key. Returns
/// the receipt if it verifies (the fuzz target renders it with the client's renderer). Must
/// never panic otherwise.
///
/// # Panics
/// On a serde round-trip mismatch.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) -> Option<VerifiedReceipt> {
    let Ok(r) = serde_json::from_slice::<Receipt>(data) else {
        return None;
    };
    let Ok(json) = serde_json::to_vec(&r) else {
        panic!("receipt does not serialize");
    };
    let again: Receipt = match serde_json::from_slice(&json) {
        Ok(a) => a,
        Err(e) => panic!("serialized receipt does not parse: {e}"),
    };
    assert_eq!(again, r, "receipt round trip differs");
    let key = VerifierKey::parse(FUZZ_LOG_KEY).ok()?;
    let v = verify_receipt(&r, &Trust::log_key(key)).ok()?;
    let _ = v.expired_at(0);
    assert_eq!(v.leaf_hash(), Hash::leaf(v.entry()));
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ReceiptEnrolment;
    use crate::dsse::DsseSignature;
    use crate::keys::{SignerKey, TYPE_COSIGNATURE_V1, TYPE_ED25519};
    use crate::note::{Note, NoteError};
    use crate::policy::Policy;
    use crate::predicate::template;

    const VENDOR: &str = "Example AV AG";

    fn log() -> SignerKey {
        SignerKey::from_seed("attestlog.test/receipt", TYPE_ED25519, &[0x71; 32]).unwrap()
    }
    fn vendor() -> SignerKey {
        SignerKey::from_seed("example-av.ch/attest", TYPE_ED25519, &[0x72; 32]).unwrap()
    }
    fn witness() -> SignerKey {
        SignerKey::from_seed("witness.test/w1", TYPE_COSIGNATURE_V1, &[0x73; 32]).unwrap()
    }
    fn other_key(name: &str, seed: u8) -> SignerKey {
        SignerKey::from_seed(name, TYPE_ED25519, &[seed; 32]).unwrap()
    }

    fn enrolment_entry(
        vendor_name: &str,
        key: &SignerKey,
        action: Action,
        by: &SignerKey,
    ) -> Vec<u8> {
        Enrolment {
            vendor: vendor_name.to_owned(),
            key: key.verifier(),
            action,
            issued_at: "2026-01-01T00:00:00Z".to_owned(),
            role: crate::enrolment::KeyRole::Vendor,
        }
        .to_envelope(by)
        .canonical_bytes()
    }

    fn statement_payload(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut v = template();
        edit(&mut v);
        serde_json_canonicalizer::to_vec(&v).unwrap()
    }

    fn attestation(signer: &SignerKey) -> Vec<u8> {
        Envelope::sign(PAYLOAD_TYPE_INTOTO, &statement_payload(|_| {}), &[signer]).canonical_bytes()
    }

    fn good_enrolment() -> Vec<u8> {
        enrolment_entry(VENDOR, &vendor(), Action::Enrol, &log())
    }

    fn filler(i: usize) -> Vec<u8> {
        format!("filler entry {i}").into_bytes()
    }

    /// The witnesses cosigning the test checkpoint: W1 when `cosigned`, none otherwise.
    fn witnesses(cosigned: bool) -> Vec<SignerKey> {
        if cosigned { vec![witness()] } else { vec![] }
    }

    /// The tlog-proof text of each leaf of a log of `leaves` under the log key (cosigned by
    /// the witness when `cosigned`).
    fn proofs(leaves: &[Vec<u8>], cosigned: bool) -> Vec<String> {
        let w = witnesses(cosigned);
        crate::testing::tlog_proofs(&log(), leaves, &w.iter().collect::<Vec<_>>())
    }

    /// A receipt for `leaves[entry]` with the enrolment `leaves[enrol]`, both against one
    /// checkpoint.
    fn receipt(leaves: &[Vec<u8>], entry: usize, enrol: Option<usize>, cosigned: bool) -> Receipt {
        let w = witnesses(cosigned);
        crate::testing::receipt(&log(), leaves, entry, enrol, &w.iter().collect::<Vec<_>>())
    }

    /// Standard layout: filler, enrolment at 1, filler, attestation at 3, filler.
    fn layout(enrolment: Vec<u8>, attestation: Vec<u8>) -> Vec<Vec<u8>> {
        vec![filler(0), enrolment, filler(2), attestation, filler(4)]
    }

    fn good() -> Receipt {
        receipt(
            &layout(good_enrolment(), attestation(&vendor())),
            3,
            Some(1),
            true,
        )
    }

    fn policy(witness_required: bool) -> Policy {
        Policy::parse(&format!(
            "log {}\nwitness W1 {}\nquorum {}\n",
            log().verifier(),
            witness().verifier(),
            if witness_required { "W1" } else { "none" }
        ))
        .unwrap()
    }

    fn with_key(r: &Receipt) -> Result<VerifiedReceipt, ReceiptError> {
        verify_receipt(r, &Trust::log_key(log().verifier()))
    }

    /// The same envelope with one signature byte flipped.
    fn flip_sig(entry: &[u8]) -> Vec<u8> {
        let mut env = Envelope::parse_entry(entry).unwrap();
        env.signatures[0].sig[10] ^= 1;
        env.canonical_bytes()
    }

    #[test]
    fn good_receipt_verifies_with_log_key_and_policy() {
        let r = good();
        let v = with_key(&r).unwrap();
        assert_eq!(v.index(), 3);
        assert_eq!(v.enrolment_index(), Some(1));
        assert_eq!(v.checkpoint().size, 5);
        assert_eq!(v.checkpoint().origin, "attestlog.test/receipt");
        assert_eq!(v.entry(), attestation(&vendor()).as_slice());
        assert_eq!(v.leaf_hash(), Hash::leaf(&attestation(&vendor())));
        assert_eq!(v.vendor_key(), Some(&vendor().verifier()));
        assert_eq!(v.vendor(), Some(VENDOR));
        assert!(v.witnesses().is_empty());
        let st = v.statement().unwrap();
        assert_eq!(st.vendor_legal_name(), VENDOR);
        assert!(matches!(v.claim(), Claim::Attestation(_)));

        let v = verify_receipt(&r, &Trust::policy(policy(true))).unwrap();
        assert_eq!(v.witnesses().iter().collect::<Vec<_>>(), ["W1"]);
        assert_eq!(v.index(), 3);
        // Without cosignatures, a policy without a quorum is still satisfied.
        let bare = receipt(
            &layout(good_enrolment(), attestation(&vendor())),
            3,
            Some(1),
            false,
        );
        assert!(verify_receipt(&bare, &Trust::policy(policy(false))).is_ok());
        assert!(with_key(&bare).is_ok());
    }

    /// The statement of [`attestation`] as a SCITT signed statement by `signer` with `sub`.
    fn cose_attestation(signer: &SignerKey, sub: Option<&str>) -> Vec<u8> {
        let payload = statement_payload(|_| {});
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let id = v["predicate"]["attestation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        SignedStatement::sign(&payload, signer, sub.unwrap_or(&id)).to_entry()
    }

    #[test]
    fn receipts_of_cose_signed_statements_verify_like_dsse_ones() {
        let entry = cose_attestation(&vendor(), None);
        let r = receipt(&layout(good_enrolment(), entry.clone()), 3, Some(1), true);
        let v = with_key(&r).unwrap();
        assert_eq!((v.index(), v.enrolment_index()), (3, Some(1)));
        assert_eq!(v.entry(), entry.as_slice());
        assert!(v.envelope().is_none());
        assert_eq!(v.signed_statement().unwrap().to_entry(), entry);
        assert_eq!(v.vendor_key(), Some(&vendor().verifier()));
        assert_eq!(v.statement().unwrap().vendor_legal_name(), VENDOR);
        assert!(verify_receipt(&r, &Trust::policy(policy(true))).is_ok());
        // The same checks as for DSSE: the enrolment part is required and must enrol the key.
        let mut bare = r.clone();
        bare.enrolment = None;
        assert_eq!(with_key(&bare), Err(ReceiptError::MissingEnrolment));
        // Signed by a key of the same vendor name that is not the enrolled one.
        let stranger = other_key("example-av.ch/attest", 0x7a);
        let r2 = receipt(
            &layout(good_enrolment(), cose_attestation(&stranger, None)),
            3,
            Some(1),
            true,
        );
        assert!(matches!(
            with_key(&r2),
            Err(ReceiptError::NotSignedByEnrolledKey { .. })
        ));
        // A signature that does not verify.
        let mut bad = coset_flip(&entry);
        let r3 = receipt(&layout(good_enrolment(), bad.clone()), 3, Some(1), true);
        assert!(matches!(
            with_key(&r3),
            Err(ReceiptError::BadVendorSignature { .. })
        ));
        // The CWT sub must be the statement's attestation_id.
        let r4 = receipt(
            &layout(
                good_enrolment(),
                cose_attestation(&vendor(), Some("another-id")),
            ),
            3,
            Some(1),
            true,
        );
        assert!(matches!(with_key(&r4), Err(ReceiptError::CoseClaims(_))));
        // Logged bytes keep an empty unprotected header: anything else is not a log entry.
        let mut s = crate::cose::parse_sign1(&entry).unwrap();
        s.unprotected.rest.push((
            coset::Label::Int(99),
            coset::cbor::value::Value::Text("x".into()),
        ));
        bad = crate::cose::sign1_to_tagged(s);
        let r5 = receipt(&layout(good_enrolment(), bad), 3, Some(1), true);
        assert!(matches!(with_key(&r5), Err(ReceiptError::CoseEntry(_))));
    }

    /// A signed statement with one signature byte flipped.
    fn coset_flip(entry: &[u8]) -> Vec<u8> {
        let mut s = crate::cose::parse_sign1(entry).unwrap();
        s.signature[10] ^= 1;
        crate::cose::sign1_to_tagged(s)
    }

    #[test]
    fn enrolment_entry_receipt_verifies() {
        let leaves = layout(good_enrolment(), attestation(&vendor()));
        let r = receipt(&leaves, 1, None, true);
        let v = with_key(&r).unwrap();
        assert_eq!(v.index(), 1);
        assert_eq!(v.enrolment_index(), Some(1));
        assert!(v.statement().is_none());
        assert!(matches!(v.claim(), Claim::Enrolment(e) if e.action == Action::Enrol));
        assert_eq!(v.vendor_key(), Some(&vendor().verifier()));
        assert!(!v.expired_at(i64::MAX));
        assert!(verify_receipt(&r, &Trust::policy(policy(true))).is_ok());

        // An enrolment part is not allowed.
        let r2 = receipt(&leaves, 1, Some(1), true);
        assert_eq!(with_key(&r2), Err(ReceiptError::UnexpectedEnrolment));

        // Signed by another key than the log's.
        let forged = enrolment_entry(
            VENDOR,
            &vendor(),
            Action::Enrol,
            &other_key("attestlog.test/receipt", 0x79),
        );
        let r3 = receipt(&layout(forged, attestation(&vendor())), 1, None, true);
        assert_eq!(with_key(&r3), Err(ReceiptError::EnrolmentNotSignedByLog));
    }

    #[test]
    fn registration_policy_entry_receipt_verifies() {
        let policy_entry = RegistrationPolicy::built_in(1)
            .to_envelope(&log())
            .canonical_bytes();
        let leaves = layout(good_enrolment(), policy_entry);
        let r = receipt(&leaves, 3, None, true);
        let v = with_key(&r).unwrap();
        assert_eq!(v.index(), 3);
        assert!(
            matches!(v.claim(), Claim::Policy(p) if **p == RegistrationPolicy::built_in(1)),
            "{:?}",
            v.claim()
        );
        assert_eq!(v.claim().kind(), crate::api::EntryKind::RegistrationPolicy);
        assert_eq!((v.enrolment(), v.enrolment_index()), (None, None));
        assert!(verify_receipt(&r, &Trust::policy(policy(true))).is_ok());

        // An enrolment part is not allowed.
        let r2 = receipt(&leaves, 3, Some(1), true);
        assert_eq!(with_key(&r2), Err(ReceiptError::UnexpectedEnrolment));

        // Signed by a vendor key instead of the log's.
        let forged = RegistrationPolicy::built_in(1)
            .to_envelope(&vendor())
            .canonical_bytes();
        let r3 = receipt(&layout(good_enrolment(), forged), 3, None, true);
        assert_eq!(with_key(&r3), Err(ReceiptError::PolicyNotSignedByLog));

        // Signed by the log, but the payload is not a valid policy (strict parse).
        let mut value: serde_json::Value =
            serde_json::from_slice(&RegistrationPolicy::built_in(1).canonical_bytes()).unwrap();
        value["extra"] = "member".into();
        let junk = Envelope::sign(
            PAYLOAD_TYPE_REGISTRATION_POLICY,
            &crate::jcs::to_vec_of(&value),
            &[&log()],
        )
        .canonical_bytes();
        let r4 = receipt(&layout(good_enrolment(), junk), 3, None, true);
        assert!(
            matches!(with_key(&r4), Err(ReceiptError::PolicyPayload(_))),
            "{:?}",
            with_key(&r4)
        );
    }

    #[test]
    fn tampered_entry_is_rejected() {
        // Other canonical bytes (another claim, properly signed): not in the tree.
        let mut r = good();
        let other = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &statement_payload(|v| v["predicate"]["product"]["name"] = "Other".into()),
            &[&vendor()],
        );
        r.entry = STANDARD.encode(other.canonical_bytes());
        assert!(matches!(
            with_key(&r),
            Err(ReceiptError::EntryInclusion(ProofError::RootMismatch))
        ));

        // Not base64.
        let mut r = good();
        r.entry.insert(0, '!');
        assert_eq!(with_key(&r), Err(ReceiptError::EntryBase64));

        // Same envelope, not canonical (pretty-printed JSON).
        let mut r = good();
        let bytes = STANDARD.decode(&r.entry).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        r.entry = STANDARD.encode(serde_json::to_vec_pretty(&v).unwrap());
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::Entry(DsseError::NotCanonical))
        );
    }

    #[test]
    fn wrong_log_key_and_broken_checkpoint_signature_are_rejected() {
        let r = good();
        let other = other_key("attestlog.test/receipt", 0x7a).verifier();
        assert_eq!(
            verify_receipt(&r, &Trust::log_key(other.clone())),
            Err(ReceiptError::Checkpoint(CheckpointError::Note(
                NoteError::NoKnownSignature
            )))
        );
        let renamed = other_key("attestlog.test/other", 0x71).verifier();
        assert!(matches!(
            verify_receipt(&r, &Trust::log_key(renamed.clone())),
            Err(ReceiptError::Checkpoint(CheckpointError::UnknownOrigin(_)))
        ));

        // Flip one bit of the log's checkpoint signature (in both proofs).
        let mut proof = TlogProof::parse(r.proof.as_bytes()).unwrap();
        let mut note = Note::new(proof.note.text()).unwrap();
        for (i, s) in proof.note.signatures().iter().enumerate() {
            let mut s = s.clone();
            if i == 0 {
                s.signature[0] ^= 1;
            }
            note.add_signature(s).unwrap();
        }
        proof.note = note;
        let mut bad = r.clone();
        bad.proof = String::from_utf8(proof.to_bytes()).unwrap();
        let expected = Err(ReceiptError::Checkpoint(CheckpointError::Note(
            NoteError::BadSignature {
                name: "attestlog.test/receipt".into(),
            },
        )));
        assert_eq!(with_key(&bad), expected);
        assert_eq!(
            verify_receipt(&bad, &Trust::policy(policy(false))),
            expected
        );

        // Malformed proof text.
        let mut bad = r;
        bad.proof = bad.proof.replacen("index 3", "index 03", 1);
        assert!(matches!(with_key(&bad), Err(ReceiptError::Proof(_))));
    }

    /// `r` with its entry proof changed by `f`.
    fn with_proof(r: &Receipt, f: impl FnOnce(&mut TlogProof)) -> Receipt {
        let mut proof = TlogProof::parse(r.proof.as_bytes()).unwrap();
        f(&mut proof);
        let mut bad = r.clone();
        bad.proof = String::from_utf8(proof.to_bytes()).unwrap();
        bad
    }

    #[test]
    fn flipped_proof_hash_and_wrong_index_are_rejected() {
        let r = good();
        let mismatch = Err(ReceiptError::EntryInclusion(ProofError::RootMismatch));
        assert_eq!(
            with_key(&with_proof(&r, |p| p.proof[1].0[5] ^= 0x80)),
            mismatch
        );
        assert_eq!(with_key(&with_proof(&r, |p| p.index = 2)), mismatch);
        assert!(matches!(
            with_key(&with_proof(&r, |p| p.index = 5)),
            Err(ReceiptError::EntryInclusion(ProofError::IndexOutOfRange {
                index: 5,
                size: 5
            }))
        ));
    }

    #[test]
    fn missing_and_foreign_enrolments_are_rejected() {
        let mut r = good();
        r.enrolment = None;
        assert_eq!(with_key(&r), Err(ReceiptError::MissingEnrolment));

        // Enrolment for another vendor.
        let e = enrolment_entry("Other AV AG", &vendor(), Action::Enrol, &log());
        let r = receipt(&layout(e, attestation(&vendor())), 3, Some(1), true);
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::VendorMismatch {
                enrolled: "Other AV AG".into(),
                claimed: VENDOR.into()
            })
        );

        // Enrolment of another key (for the right vendor).
        let stranger = other_key("example-av.ch/other", 0x74);
        let e = enrolment_entry(VENDOR, &stranger, Action::Enrol, &log());
        let r = receipt(&layout(e, attestation(&vendor())), 3, Some(1), true);
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::NotSignedByEnrolledKey {
                keyid: stranger.verifier().key_id_hex()
            })
        );

        // Enrolment signed by a key that is not the log's (same name, other seed).
        let e = enrolment_entry(
            VENDOR,
            &vendor(),
            Action::Enrol,
            &other_key("attestlog.test/receipt", 0x75),
        );
        let r = receipt(&layout(e, attestation(&vendor())), 3, Some(1), true);
        assert_eq!(with_key(&r), Err(ReceiptError::EnrolmentNotSignedByLog));
        // ... or by the vendor itself.
        let e = enrolment_entry(VENDOR, &vendor(), Action::Enrol, &vendor());
        let r = receipt(&layout(e, attestation(&vendor())), 3, Some(1), true);
        assert_eq!(with_key(&r), Err(ReceiptError::EnrolmentNotSignedByLog));
        // ... or with the log's keyid and a broken signature.
        let e = flip_sig(&good_enrolment());
        let r = receipt(&layout(e, attestation(&vendor())), 3, Some(1), true);
        assert_eq!(with_key(&r), Err(ReceiptError::EnrolmentNotSignedByLog));

        // Revocation instead of enrolment.
        let e = enrolment_entry(VENDOR, &vendor(), Action::Revoke, &log());
        let r = receipt(&layout(e, attestation(&vendor())), 3, Some(1), true);
        assert_eq!(with_key(&r), Err(ReceiptError::NotAnEnrolment));

        // The enrolment part holds an attestation.
        let leaves = layout(good_enrolment(), attestation(&vendor()));
        let r = receipt(&leaves, 3, Some(3), true);
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::EnrolmentPayloadType(
                PAYLOAD_TYPE_INTOTO.into()
            ))
        );
    }

    #[test]
    fn enrolment_after_the_entry_is_rejected() {
        let leaves = vec![
            filler(0),
            filler(1),
            attestation(&vendor()),
            good_enrolment(),
        ];
        let r = receipt(&leaves, 2, Some(3), true);
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::EnrolmentNotBefore {
                enrolment: 3,
                entry: 2
            })
        );
        // Enrolment directly below the entry, at index 0, is fine.
        let leaves = vec![good_enrolment(), attestation(&vendor())];
        let v = with_key(&receipt(&leaves, 1, Some(0), false)).unwrap();
        assert_eq!((v.enrolment_index(), v.index()), (Some(0), 1));
    }

    #[test]
    fn enrolment_proof_against_another_checkpoint_is_rejected() {
        let leaves = layout(good_enrolment(), attestation(&vendor()));
        let mut r = good();
        // A valid proof of the same enrolment, in a larger tree.
        let mut bigger = leaves.clone();
        bigger.push(filler(5));
        let other = proofs(&bigger, true);
        r.enrolment = Some(ReceiptEnrolment {
            entry: STANDARD.encode(&leaves[1]),
            proof: other[1].clone(),
        });
        assert_eq!(with_key(&r), Err(ReceiptError::CheckpointMismatch));

        // Same checkpoint, wrong enrolment inclusion proof.
        let mut r = good();
        let part = r.enrolment.as_mut().unwrap();
        let mut p = TlogProof::parse(part.proof.as_bytes()).unwrap();
        p.proof.pop();
        part.proof = String::from_utf8(p.to_bytes()).unwrap();
        assert!(matches!(
            with_key(&r),
            Err(ReceiptError::EnrolmentInclusion(
                ProofError::WrongLength { .. }
            ))
        ));

        // Enrolment bytes not base64, not canonical.
        let mut r = good();
        r.enrolment.as_mut().unwrap().entry = "%%".into();
        assert_eq!(with_key(&r), Err(ReceiptError::EnrolmentBase64));
        let mut r = good();
        r.enrolment.as_mut().unwrap().entry = STANDARD.encode(b"{}");
        assert!(matches!(with_key(&r), Err(ReceiptError::EnrolmentEntry(_))));
    }

    #[test]
    fn broken_vendor_signature_is_rejected() {
        let r = receipt(
            &layout(good_enrolment(), flip_sig(&attestation(&vendor()))),
            3,
            Some(1),
            true,
        );
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::BadVendorSignature {
                keyid: vendor().verifier().key_id_hex()
            })
        );
        // A second, verifying signature by another key does not help.
        let stranger = other_key("example-av.ch/other", 0x76);
        let mut env = Envelope::parse_entry(&flip_sig(&attestation(&vendor()))).unwrap();
        let extra = Envelope::sign(PAYLOAD_TYPE_INTOTO, &env.payload, &[&stranger]);
        env.signatures.extend(extra.signatures);
        let r = receipt(
            &layout(good_enrolment(), env.canonical_bytes()),
            3,
            Some(1),
            true,
        );
        assert!(matches!(
            with_key(&r),
            Err(ReceiptError::BadVendorSignature { .. })
        ));
        // Whereas a valid vendor signature next to an unknown one verifies.
        let mut env = Envelope::parse_entry(&attestation(&vendor())).unwrap();
        env.signatures.push(DsseSignature {
            keyid: "00000000".into(),
            sig: vec![7; 64],
        });
        let r = receipt(
            &layout(good_enrolment(), env.canonical_bytes()),
            3,
            Some(1),
            true,
        );
        assert!(with_key(&r).is_ok());
    }

    #[test]
    fn quorum_not_met_is_rejected() {
        let bare = receipt(
            &layout(good_enrolment(), attestation(&vendor())),
            3,
            Some(1),
            false,
        );
        assert_eq!(
            verify_receipt(&bare, &Trust::policy(policy(true))),
            Err(ReceiptError::QuorumNotMet)
        );
        // A cosignature by a witness the policy does not know does not count.
        let w2 = SignerKey::from_seed("witness.test/w2", TYPE_COSIGNATURE_V1, &[0x77; 32]).unwrap();
        let p2 = Policy::parse(&format!(
            "log {}\nwitness W2 {}\nquorum W2\n",
            log().verifier(),
            w2.verifier()
        ))
        .unwrap();
        assert_eq!(
            verify_receipt(&good(), &Trust::policy(p2.clone())),
            Err(ReceiptError::QuorumNotMet)
        );
        // A policy for another log.
        let p3 = Policy::parse(&format!(
            "log {}\nquorum none\n",
            other_key("attestlog.test/receipt", 0x78).verifier()
        ))
        .unwrap();
        assert!(matches!(
            verify_receipt(&good(), &Trust::policy(p3.clone())),
            Err(ReceiptError::Checkpoint(_))
        ));
    }

    #[test]
    fn other_payload_types_and_invalid_statements_are_rejected() {
        let odd = Envelope::sign("text/plain", b"hello", &[&vendor()]).canonical_bytes();
        let r = receipt(&layout(good_enrolment(), odd), 3, Some(1), true);
        assert_eq!(
            with_key(&r),
            Err(ReceiptError::PayloadType("text/plain".into()))
        );

        let bad = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &statement_payload(|v| {
                v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = "RU".into()
            }),
            &[&vendor()],
        )
        .canonical_bytes();
        let r = receipt(&layout(good_enrolment(), bad), 3, Some(1), true);
        match with_key(&r) {
            Err(e @ ReceiptError::Statement(_)) => {
                assert!(e.to_string().contains("excluded"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A verifier's verification of `subject` (the entry bytes logged at `index`).
    fn verification_entry(signer: &SignerKey, index: u64, subject: &[u8], name: &str) -> Vec<u8> {
        let mut v = crate::verification::template();
        v["subject"][0]["name"] = serde_json::json!(crate::verification::subject_name(index));
        v["subject"][0]["digest"]["sha256"] = serde_json::json!(Hash::sha256(subject).to_hex());
        v["predicate"]["subject_entry"] = serde_json::json!({
            "log_index": index,
            "leaf_hash": Hash::leaf(subject).to_hex(),
            "attestation_id": template()["predicate"]["attestation_id"],
        });
        v["predicate"]["verifier"]["legal_name"] = serde_json::json!(name);
        let payload = serde_json_canonicalizer::to_vec(&v).unwrap();
        Envelope::sign(PAYLOAD_TYPE_INTOTO, &payload, &[signer]).canonical_bytes()
    }

    #[test]
    fn key_roles_and_verification_subjects_are_checked() {
        const LAB: &str = "Example Test Lab GmbH";
        let lab = other_key("lab.example/k", 0x55);
        let lab_enrolment = |role| {
            Enrolment {
                vendor: LAB.to_owned(),
                key: lab.verifier(),
                action: Action::Enrol,
                issued_at: "2026-01-01T00:00:00Z".to_owned(),
                role,
            }
            .to_envelope(&log())
            .canonical_bytes()
        };
        // Log: vendor enrolment 0, lab enrolment 1, attestation 2, verification 3.
        let att = attestation(&vendor());
        let leaves = |lab_role, ver: Vec<u8>| {
            vec![good_enrolment(), lab_enrolment(lab_role), att.clone(), ver]
        };
        let good = leaves(KeyRole::Verifier, verification_entry(&lab, 2, &att, LAB));
        let v = with_key(&receipt(&good, 3, Some(1), false)).unwrap();
        assert_eq!(
            v.verification().unwrap().predicate.subject_entry.log_index,
            2
        );
        assert_eq!(v.enrolment().unwrap().role, KeyRole::Verifier);
        assert_eq!(v.index(), 3);
        assert_eq!(v.vendor(), Some(LAB));
        let subject = with_key(&receipt(&good, 2, Some(0), false)).unwrap();
        v.check_subject(&subject).unwrap();
        // The subject must be the attestation named: not another entry, not a non-attestation.
        let other = with_key(&receipt(&good, 1, None, false)).unwrap();
        assert!(
            matches!(v.check_subject(&other), Err(ReceiptError::Subject(m)) if m.contains("log_index"))
        );
        let wrong = leaves(
            KeyRole::Verifier,
            verification_entry(&lab, 2, b"other", LAB),
        );
        let w = with_key(&receipt(&wrong, 3, Some(1), false)).unwrap();
        let subject = with_key(&receipt(&wrong, 2, Some(0), false)).unwrap();
        assert!(
            matches!(w.check_subject(&subject), Err(ReceiptError::Subject(m)) if m.contains("leaf_hash"))
        );
        assert!(
            subject.check_subject(&subject).is_err(),
            "an attestation verifies nothing"
        );
        // A vendor-role key signing a verification, or a verifier key an attestation: refused.
        let vendor_role = leaves(KeyRole::Vendor, verification_entry(&lab, 2, &att, LAB));
        assert_eq!(
            with_key(&receipt(&vendor_role, 3, Some(1), false)).unwrap_err(),
            ReceiptError::WrongRole {
                enrolled: KeyRole::Vendor,
                signed: "verification statements"
            }
        );
        let lab_attests = Envelope::sign(
            PAYLOAD_TYPE_INTOTO,
            &statement_payload(|v| v["predicate"]["vendor"]["legal_name"] = LAB.into()),
            &[&lab],
        )
        .canonical_bytes();
        let bad = leaves(KeyRole::Verifier, lab_attests);
        assert!(matches!(
            with_key(&receipt(&bad, 3, Some(1), false)),
            Err(ReceiptError::WrongRole {
                enrolled: KeyRole::Verifier,
                ..
            })
        ));
    }

    #[test]
    fn expiry_is_decided_by_the_caller_time() {
        let v = with_key(&good()).unwrap();
        // valid_until = 2027-01-01T00:00:00Z = 1798761600.
        assert!(!v.expired_at(1_798_761_599));
        assert!(v.expired_at(1_798_761_600));
        assert!(v.expired_at(1_900_000_000));
        assert!(!v.expired_at(0));
    }

    #[test]
    fn errors_are_lowercase() {
        let errs = [
            ReceiptError::EntryBase64,
            ReceiptError::MissingEnrolment,
            ReceiptError::CheckpointMismatch,
            ReceiptError::QuorumNotMet,
            ReceiptError::NotAnEnrolment,
            ReceiptError::EnrolmentNotBefore {
                enrolment: 2,
                entry: 1,
            },
        ];
        for e in errs {
            let s = e.to_string();
            assert!(s.starts_with(|c: char| c.is_ascii_lowercase()), "{s}");
        }
    }

    #[test]
    fn fuzz_log_key_is_the_test_log_key() {
        assert_eq!(FUZZ_LOG_KEY, log().verifier().to_string());
    }

    #[test]
    fn roundtrip_check_accepts_good_and_garbage() {
        let json = serde_json::to_vec(&good()).unwrap();
        assert_eq!(roundtrip_check(&json).map(|v| v.index()), Some(3));
        assert!(roundtrip_check(b"").is_none());
        assert!(roundtrip_check(b"{\"entry\":\"\",\"proof\":\"\"}").is_none());
        assert!(roundtrip_check(&json[..json.len() / 2]).is_none());
    }

    /// The valid seed of `fuzz/corpus/receipt`: deterministic (fixed seeds and cosignature
    /// time). `ATTESTLOG_WRITE_CORPUS=1` rewrites it.
    #[test]
    fn corpus_seed_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/receipt/valid.json");
        let mut json = serde_json::to_string_pretty(&good()).unwrap();
        json.push('\n');
        if std::env::var_os("ATTESTLOG_WRITE_CORPUS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &json).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap();
        assert_eq!(committed, json, "rerun with ATTESTLOG_WRITE_CORPUS=1");
    }
}
