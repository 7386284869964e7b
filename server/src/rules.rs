//! Order-dependent admission rules (DESIGN.md §3), as the sequencer applies them: the
//! enrolment history, attestation-id ownership, and checkpoint signing.

use attestlog_proto::Hash;
use attestlog_proto::enrolment::{Action, Enrolment, EnrolmentError, EnrolmentState};
use attestlog_proto::keys::{SignerKey, VerifierKey};

use crate::storage::EnrolmentRow;

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

impl RuleError {
    fn unprocessable(field: &str, message: String) -> Self {
        Self::Unprocessable {
            field: Some(field.to_owned()),
            message,
        }
    }
}

pub use attestlog_proto::enrolment::KeyRecord;

/// The enrolment history, applied in index order: the proto crate's [`EnrolmentState`], so
/// the server, the client verifier and monitors apply the same rules.
#[derive(Debug, Clone, Default)]
pub struct Enrolments(EnrolmentState);

fn to_enrolment(row: &EnrolmentRow) -> Result<Enrolment, RuleError> {
    let key = VerifierKey::parse(&row.key)
        .map_err(|e| RuleError::unprocessable("key", format!("invalid verifier key: {e}")))?;
    let action = Action::parse(&row.action).ok_or_else(|| {
        RuleError::unprocessable(
            "action",
            format!("action must be enrol or revoke, got {:?}", row.action),
        )
    })?;
    Ok(Enrolment {
        vendor: row.vendor.clone(),
        key,
        action,
        issued_at: String::new(),
    })
}

fn rule_error(e: EnrolmentError) -> RuleError {
    if e.status() == 409 {
        RuleError::Conflict(e.to_string())
    } else {
        RuleError::Unprocessable {
            field: None,
            message: e.to_string(),
        }
    }
}

impl Enrolments {
    /// Replays stored enrolment rows.
    ///
    /// # Errors
    /// A stored row that violates the rules (corrupt storage).
    pub fn from_rows(rows: &[EnrolmentRow]) -> anyhow::Result<Self> {
        let mut s = Self::default();
        for r in rows {
            s.apply(r)
                .map_err(|e| anyhow::anyhow!("stored enrolment {} is invalid: {e}", r.index))?;
        }
        Ok(s)
    }

    /// Checks an enrolment or revocation against the current state without applying it.
    ///
    /// # Errors
    /// As [`Self::apply`].
    pub fn check(&self, row: &EnrolmentRow) -> Result<(), RuleError> {
        self.0.check(&to_enrolment(row)?).map_err(rule_error)
    }

    /// Applies an enrolment or revocation at its index.
    ///
    /// # Errors
    /// [`RuleError::Conflict`]: enrolling a key twice (or a key another vendor had), revoking
    /// an unknown or revoked key; [`RuleError::Unprocessable`] for a malformed row.
    pub fn apply(&mut self, row: &EnrolmentRow) -> Result<(), RuleError> {
        self.0
            .apply(row.index, &to_enrolment(row)?)
            .map_err(rule_error)
    }

    /// Active (enrolled, unrevoked) keys with this key ID.
    #[must_use]
    pub fn active_keys(&self, key_id: &str) -> Vec<&KeyRecord> {
        self.0
            .keys_by_id(key_id)
            .into_iter()
            .filter(|r| r.is_active())
            .collect()
    }

    /// Every key (enrolled or revoked) with this key ID.
    #[must_use]
    pub fn keys_by_id(&self, key_id: &str) -> Vec<&KeyRecord> {
        self.0.keys_by_id(key_id)
    }

    /// All records.
    pub fn records(&self) -> impl Iterator<Item = &KeyRecord> {
        self.0.vendors().into_iter().flat_map(|(_, keys)| keys)
    }

    /// Checks that one of the verified signer key IDs is enrolled, unrevoked, for `vendor`.
    ///
    /// # Errors
    /// [`RuleError::Unprocessable`] naming the reason.
    pub fn check_signers(&self, vendor: &str, key_ids: &[String]) -> Result<(), RuleError> {
        let mut last = None;
        for id in key_ids {
            for r in self.0.keys_by_id(id) {
                match self.0.check_attestation(&r.key, vendor) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
        }
        let message = match last {
            Some(e) => format!("{e}"),
            None if !self.0.has_vendor(vendor) => {
                format!("unknown vendor {vendor:?}: no key is enrolled for it")
            }
            None => format!("no signature from an enrolled key of {vendor:?}"),
        };
        Err(RuleError::unprocessable("signatures", message))
    }
}

/// Attestation-id ownership: an id belongs to the vendor that first used it.
///
/// # Errors
/// [`RuleError::Unprocessable`] if another vendor owns it.
pub fn check_owner(id: &str, vendor: &str, owner: Option<&str>) -> Result<(), RuleError> {
    match owner {
        Some(o) if o != vendor => Err(RuleError::unprocessable(
            "predicate.attestation_id",
            format!("attestation_id {id} belongs to another vendor"),
        )),
        _ => Ok(()),
    }
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
/// the log key, in canonical form.
///
/// # Errors
/// A malformed row.
pub fn enrolment_entry(
    signer: &SignerKey,
    row: &EnrolmentRow,
    issued_at: String,
) -> Result<Vec<u8>, RuleError> {
    let e = Enrolment {
        issued_at,
        ..to_enrolment(row)?
    };
    Ok(e.to_envelope(signer).canonical_bytes())
}

/// Payload type of enrolment entries.
pub const ENROLMENT_PAYLOAD_TYPE: &str = attestlog_proto::enrolment::PAYLOAD_TYPE_ENROLMENT;

/// The current UTC time as RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`).
#[must_use]
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_rfc3339(secs)
}

/// Formats Unix seconds as RFC 3339 UTC.
#[must_use]
pub fn format_rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The c2sp.org/tlog-proof@v1 text for an entry, with the published checkpoint note as is.
#[must_use]
pub fn tlog_proof_text(index: u64, hashes: &[Hash], checkpoint: &[u8]) -> String {
    let bytes = attestlog_proto::tlog_proof::encode(None, index, hashes, checkpoint);
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_478_400), "2026-11-24T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }

    fn row(index: u64, vendor: &str, key: &str, action: &str) -> EnrolmentRow {
        EnrolmentRow {
            index,
            vendor: vendor.into(),
            key: key.into(),
            action: action.into(),
        }
    }

    #[test]
    fn enrolment_rules() {
        let k = "vendor.example/attest+22c8ff26+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
        let mut e = Enrolments::default();
        e.apply(&row(0, "A AG", k, "enrol")).unwrap();
        assert!(matches!(
            e.apply(&row(1, "A AG", k, "enrol")),
            Err(RuleError::Conflict(_))
        ));
        assert!(matches!(
            e.apply(&row(1, "B AG", k, "enrol")),
            Err(RuleError::Conflict(_))
        ));
        assert!(e.check_signers("A AG", &["22c8ff26".into()]).is_ok());
        assert!(e.check_signers("B AG", &["22c8ff26".into()]).is_err());
        e.apply(&row(2, "A AG", k, "revoke")).unwrap();
        assert!(e.check_signers("A AG", &["22c8ff26".into()]).is_err());
        assert!(matches!(
            e.apply(&row(3, "A AG", k, "revoke")),
            Err(RuleError::Conflict(_))
        ));
        assert!(matches!(
            e.apply(&row(3, "A AG", k, "enrol")),
            Err(RuleError::Conflict(_))
        ));
        assert!(check_owner("x", "A", Some("B")).is_err());
        assert!(check_owner("x", "A", Some("A")).is_ok());
        assert!(check_owner("x", "A", None).is_ok());
    }
}
