//! The server's side of the rule engine (DESIGN.md §3, §10): the rules themselves live in
//! [`attestlog_proto::rules`]; here are the error the sequencer answers with, the enrolment
//! history built from typed storage rows, and checkpoint and enrolment-entry signing.

use attestlog_proto::Hash;
use attestlog_proto::enrolment::{AdmissionError, Enrolment, EnrolmentState};
use attestlog_proto::keys::SignerKey;

use crate::storage::{EnrolmentRow, StoreError};

/// A rule violation; maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// 409: the enrolment conflicts with the history.
    #[error("{0}")]
    Conflict(String),
    /// 422: the attestation is not admissible.
    #[error("{message}")]
    Unprocessable {
        /// field path
        field: Option<String>,
        /// message
        message: String,
    },
}

impl From<AdmissionError> for RuleError {
    fn from(e: AdmissionError) -> Self {
        if e.status() == 409 {
            RuleError::Conflict(e.to_string())
        } else {
            RuleError::Unprocessable {
                field: e.field(),
                message: e.to_string(),
            }
        }
    }
}

pub use attestlog_proto::enrolment::KeyRecord;

/// The registration policy in force in the stored tree of `size` (DESIGN.md §12): the policy
/// entry with the highest sequence below `size`, found by its slot
/// ([`attestlog_proto::registration::slot`]) walking on from `from` (a policy found before,
/// or none to start at sequence 1). `None`: the log never logged one.
///
/// # Errors
/// Storage errors; [`StoreError::Corrupt`] for a stored policy entry that does not parse.
pub fn policy_in_force(
    store: &dyn crate::storage::LogStore,
    size: u64,
    from: Option<attestlog_proto::registration::RegistrationPolicy>,
) -> Result<Option<attestlog_proto::registration::RegistrationPolicy>, StoreError> {
    use attestlog_proto::registration::{RegistrationPolicy, slot};
    let mut current = from;
    loop {
        let next = current.as_ref().map_or(1, |c| c.sequence + 1);
        let Some(index) = store.lookup_statement(&slot(next))?.filter(|i| *i < size) else {
            return Ok(current);
        };
        let entry = store
            .read_entries(index, 1)?
            .pop()
            .ok_or_else(|| StoreError::Corrupt(format!("policy entry {index} is missing")))?;
        let policy = attestlog_proto::dsse::Envelope::parse_entry(&entry)
            .ok()
            .and_then(|env| RegistrationPolicy::parse(&env.payload).ok())
            .filter(|p| p.sequence == next)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the registration policy entry at index {index} is unreadable"
                ))
            })?;
        current = Some(policy);
    }
}

/// The enrolment history, applied in index order: the proto crate's [`EnrolmentState`], so
/// the server, the client verifier and monitors apply the same rules.
pub type Enrolments = EnrolmentState;

/// Replays stored enrolment rows.
///
/// # Errors
/// A stored row that violates the rules (corrupt storage).
pub fn enrolments_from_rows(rows: &[EnrolmentRow]) -> anyhow::Result<EnrolmentState> {
    let mut s = EnrolmentState::new();
    for r in rows {
        s.apply(r.index, &r.enrolment(String::new()))
            .map_err(|e| anyhow::anyhow!("stored enrolment {} is invalid: {e}", r.index))?;
    }
    Ok(s)
}

/// Signs a checkpoint with every signer.
///
/// # Errors
/// Signing errors (a malformed origin).
pub fn sign_checkpoint(
    signers: &[SignerKey],
    origin: &str,
    size: u64,
    root: &Hash,
) -> Result<Vec<u8>, attestlog_proto::checkpoint::CheckpointError> {
    use attestlog_proto::checkpoint::Checkpoint;
    let cp = Checkpoint {
        origin: origin.to_owned(),
        size,
        root: *root,
        extensions: vec![],
    };
    Ok(cp.sign(signers)?.to_bytes())
}

/// The enrolment log entry for `row`: a DSSE envelope over the enrolment payload, signed by
/// the log key, in canonical form, with the enrolment it carries.
#[must_use]
pub fn enrolment_entry(
    signer: &SignerKey,
    row: &EnrolmentRow,
    issued_at: String,
) -> (Vec<u8>, Enrolment) {
    let e = row.enrolment(issued_at);
    (e.to_envelope(signer).canonical_bytes(), e)
}

/// Payload type of enrolment entries.
pub const ENROLMENT_PAYLOAD_TYPE: &str = attestlog_proto::enrolment::PAYLOAD_TYPE_ENROLMENT;

/// The current UTC time as RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`).
#[must_use]
pub fn now_rfc3339() -> String {
    format_rfc3339(crate::clock::unix_now())
}

/// Formats Unix seconds as RFC 3339 UTC.
pub use attestlog_proto::format::format_rfc3339;

/// The c2sp.org/tlog-proof@v1 text for an entry, with the published checkpoint note as is.
#[must_use]
pub fn tlog_proof_text(index: u64, hashes: &[Hash], checkpoint: &[u8]) -> String {
    let bytes = attestlog_proto::tlog_proof::encode(None, index, hashes, checkpoint);
    String::from_utf8(bytes).unwrap_or_default()
}
