//! Vendor key enrolment entries, the enrolment rules and entry admission (DESIGN.md §3).
//!
//! An enrolment entry is a DSSE envelope with payload type [`PAYLOAD_TYPE_ENROLMENT`] and
//! payload `{vendor, key, action, issued_at}`, signed by the log's checkpoint key. The rules,
//! identical in server, client verifier and monitor: an attestation at index `i` is valid iff,
//! among enrolment entries below `i`, the last one for its signing key is `enrol` for the
//! vendor named in `predicate.vendor.legal_name`. A public key belongs to at most one vendor,
//! ever, and is enrolled at most once; enrolling it again or revoking an unknown or revoked key
//! is a conflict (409).
//!
//! [`EnrolmentState`] is the pure fold over the enrolment history, updated in place with
//! [`EnrolmentState::apply`] in index order. The rules that combine it with signatures,
//! statement identity and the version chain live in [`crate::rules`], the one rule engine.
//! what the caller looked up in storage.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::dsse::{Envelope, parse_strict_json};
use crate::keys::{KeyId, SignerKey, TYPE_ED25519, VerifierKey};
use crate::predicate::{FieldError, parse_rfc3339};

/// DSSE payload type of enrolment entries.
pub const PAYLOAD_TYPE_ENROLMENT: &str = "application/vnd.attestlog.enrolment+json";

/// Enrolment action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Allow the key to sign for the vendor.
    Enrol,
    /// Withdraw the key, from the entry's index on.
    Revoke,
}

impl Action {
    /// The wire string: `enrol` or `revoke`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrol => "enrol",
            Self::Revoke => "revoke",
        }
    }

    /// Parses `enrol` or `revoke`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enrol" => Some(Self::Enrol),
            "revoke" => Some(Self::Revoke),
            _ => None,
        }
    }
}

/// What an enrolled key may sign (DESIGN.md §13): a vendor's attestations, or a verifier's
/// (auditor, test lab, researcher) verification statements. Never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum KeyRole {
    /// Signs data-flow attestations for its vendor (the default).
    #[default]
    Vendor,
    /// Signs verification statements for its verifier.
    Verifier,
}

impl KeyRole {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vendor => "vendor",
            Self::Verifier => "verifier",
        }
    }

    /// Parses a wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vendor" => Some(Self::Vendor),
            "verifier" => Some(Self::Verifier),
            _ => None,
        }
    }

    /// What a key of this role signs, for messages.
    fn signs(self) -> &'static str {
        match self {
            Self::Vendor => "attestations",
            Self::Verifier => "verification statements",
        }
    }
}

/// Errors of the enrolment rules and of enrolment payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentError {
    /// The enrolment payload is malformed (422).
    #[error("{field}: {message}")]
    Invalid {
        /// Field path within the payload.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The enrolment contradicts the history (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The enrolment is applied at an index not above the last applied one (409).
    #[error("enrolment at index {index} is not after the last applied index {last}")]
    OutOfOrder {
        /// Index of the rejected entry.
        index: u64,
        /// Last applied index.
        last: u64,
    },
    /// The signing key was never enrolled (422).
    #[error("signing key is not enrolled")]
    UnknownKey,
    /// The signing key was revoked (422).
    #[error("signing key was revoked at index {index}")]
    Revoked {
        /// Index of the revocation entry.
        index: u64,
    },
    /// The signing key is enrolled for another vendor (422).
    #[error("signing key is enrolled for {enrolled:?}, not {claimed:?}")]
    WrongVendor {
        /// Vendor of the key's enrolment.
        enrolled: String,
        /// `predicate.vendor.legal_name` of the attestation.
        claimed: String,
    },
    /// The signing key has the other role: a verifier key never signs attestations, a vendor
    /// key never verifications (422).
    #[error("signing key is enrolled as a {} key, which never signs {}", .enrolled.as_str(), .needed_for)]
    WrongRole {
        /// The key's role.
        enrolled: KeyRole,
        /// What was signed.
        needed_for: &'static str,
    },
}

impl EnrolmentError {
    /// HTTP status: 409 for conflicts with the history, 422 otherwise.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Conflict(_) | Self::OutOfOrder { .. } => 409,
            _ => 422,
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// An enrolment or revocation of a vendor key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// Vendor legal name (as in `predicate.vendor.legal_name`).
    pub vendor: String,
    /// The vendor's Ed25519 verifier key.
    pub key: VerifierKey,
    /// Enrol or revoke.
    pub action: Action,
    /// RFC 3339 time of the operator's decision.
    pub issued_at: String,
    /// The key's role (enrolments only; `vendor`, the default, is not written in the payload,
    /// so enrolments from before roles keep their bytes and statement identity).
    pub role: KeyRole,
}

/// Whether `s` is acceptable as a vendor legal name: non-empty, no surrounding whitespace, no
/// control characters.
#[must_use]
pub fn valid_vendor_name(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && !s.chars().any(char::is_control)
}

impl Enrolment {
    /// Parses an enrolment payload strictly: exactly the fields `vendor`, `key`, `action`,
    /// `issued_at`, an Ed25519 (type 0x01) verifier key and an RFC 3339 time, and `role:
    /// "verifier"` on the enrolment of a verifier key (a vendor key's enrolment, and every
    /// revocation, has no `role`).
    ///
    /// # Errors
    /// [`EnrolmentError::Invalid`] naming the field.
    pub fn parse(payload: &[u8]) -> Result<Enrolment, EnrolmentError> {
        let v = parse_strict_json(payload)
            .map_err(|e| EnrolmentError::invalid("", format!("payload is not valid json: {e}")))?;
        let Value::Object(o) = v else {
            return Err(EnrolmentError::invalid("", "expected an object"));
        };
        if let Some(k) = o.keys().find(|k| {
            !matches!(
                k.as_str(),
                "vendor" | "key" | "action" | "issued_at" | "role"
            )
        }) {
            return Err(EnrolmentError::invalid(k, "unknown field"));
        }
        let get = |f: &str| -> Result<&str, EnrolmentError> {
            match o.get(f) {
                None => Err(EnrolmentError::invalid(f, "missing required field")),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(EnrolmentError::invalid(f, "expected a string")),
            }
        };
        let vendor = get("vendor")?;
        if !valid_vendor_name(vendor) {
            return Err(EnrolmentError::invalid(
                "vendor",
                "must be a non-empty name without surrounding whitespace",
            ));
        }
        let key = VerifierKey::parse(get("key")?)
            .map_err(|e| EnrolmentError::invalid("key", e.to_string()))?;
        if key.key_type() != TYPE_ED25519 {
            return Err(EnrolmentError::invalid(
                "key",
                "must be an ed25519 key (type 0x01)",
            ));
        }
        let action = get("action")?;
        let action = Action::parse(action).ok_or_else(|| {
            EnrolmentError::invalid("action", format!("{action:?} is not one of enrol, revoke"))
        })?;
        let issued_at = get("issued_at")?;
        if parse_rfc3339(issued_at).is_none() {
            return Err(EnrolmentError::invalid(
                "issued_at",
                format!("{issued_at:?} is not an RFC 3339 timestamp"),
            ));
        }
        let role = match o.get("role") {
            None => KeyRole::Vendor,
            Some(Value::String(r)) if r == "verifier" && action == Action::Enrol => {
                KeyRole::Verifier
            }
            Some(_) if action == Action::Revoke => {
                return Err(EnrolmentError::invalid(
                    "role",
                    "a revocation names no role",
                ));
            }
            Some(_) => {
                return Err(EnrolmentError::invalid(
                    "role",
                    "must be \"verifier\" (a vendor key's enrolment names no role)",
                ));
            }
        };
        Ok(Enrolment {
            vendor: vendor.to_owned(),
            key,
            action,
            issued_at: issued_at.to_owned(),
            role,
        })
    }

    /// The payload as a JSON value.
    #[must_use]
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            "vendor": self.vendor,
            "key": self.key.to_string(),
            "action": self.action.as_str(),
            "issued_at": self.issued_at,
        });
        if self.role == KeyRole::Verifier && self.action == Action::Enrol {
            v["role"] = json!(self.role.as_str());
        }
        v
    }

    /// RFC 8785 (JCS) payload bytes.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::jcs::to_vec(&self.to_value())
    }

    /// The enrolment entry: the canonical payload in a DSSE envelope signed by the log key.
    #[must_use]
    pub fn to_envelope(&self, log_key: &SignerKey) -> Envelope {
        Envelope::sign(PAYLOAD_TYPE_ENROLMENT, &self.canonical_bytes(), &[log_key])
    }
}

/// What the enrolment history says about one public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key as enrolled.
    pub key: VerifierKey,
    /// The vendor it speaks for.
    pub vendor: String,
    /// Log index of the enrolment entry.
    pub enrolled_at: u64,
    /// Log index of the revocation entry, if revoked.
    pub revoked_at: Option<u64>,
    /// What it may sign.
    pub role: KeyRole,
}

impl KeyRecord {
    /// Whether the key is enrolled and not revoked.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// The state of vendor key enrolment after applying enrolment entries in index order.
/// Keys are identified by their Ed25519 public key (several keys may share a 4-byte key ID).
#[derive(Debug, Clone, Default)]
pub struct EnrolmentState {
    keys: BTreeMap<[u8; 32], KeyRecord>,
    by_id: BTreeMap<KeyId, Vec<[u8; 32]>>,
    vendors: BTreeMap<String, Vec<[u8; 32]>>,
    last_index: Option<u64>,
}

impl EnrolmentState {
    /// Empty state (no enrolments).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Index of the last applied enrolment entry.
    #[must_use]
    pub fn last_index(&self) -> Option<u64> {
        self.last_index
    }

    /// Checks whether `e` could be applied now, without changing the state.
    ///
    /// # Errors
    /// [`EnrolmentError::Conflict`] (409): enrolling a key that was ever enrolled (for this or
    /// another vendor), revoking an unknown or revoked key or another vendor's key.
    pub fn check(&self, e: &Enrolment) -> Result<(), EnrolmentError> {
        let rec = self.keys.get(e.key.public_key().as_bytes());
        match (e.action, rec) {
            (Action::Enrol, None) => Ok(()),
            (Action::Enrol, Some(r)) if r.vendor != e.vendor => Err(EnrolmentError::Conflict(
                "key belongs to another vendor".into(),
            )),
            (Action::Enrol, Some(r)) => Err(EnrolmentError::Conflict(format!(
                "key was already enrolled at index {}",
                r.enrolled_at
            ))),
            (Action::Revoke, None) => Err(EnrolmentError::Conflict("key is not enrolled".into())),
            (Action::Revoke, Some(r)) if r.vendor != e.vendor => Err(EnrolmentError::Conflict(
                "key belongs to another vendor".into(),
            )),
            (Action::Revoke, Some(r)) => match r.revoked_at {
                Some(i) => Err(EnrolmentError::Conflict(format!(
                    "key was already revoked at index {i}"
                ))),
                None => Ok(()),
            },
        }
    }

    /// Applies the enrolment entry at log index `index` (indexes must increase).
    ///
    /// # Errors
    /// [`EnrolmentError::OutOfOrder`] or the conflicts of [`EnrolmentState::check`]; on error
    /// the state is unchanged.
    pub fn apply(&mut self, index: u64, e: &Enrolment) -> Result<(), EnrolmentError> {
        if let Some(last) = self.last_index
            && index <= last
        {
            return Err(EnrolmentError::OutOfOrder { index, last });
        }
        self.check(e)?;
        let pk = *e.key.public_key().as_bytes();
        match e.action {
            Action::Enrol => {
                self.keys.insert(
                    pk,
                    KeyRecord {
                        key: e.key.clone(),
                        vendor: e.vendor.clone(),
                        enrolled_at: index,
                        revoked_at: None,
                        role: e.role,
                    },
                );
                self.by_id.entry(e.key.key_id()).or_default().push(pk);
                self.vendors.entry(e.vendor.clone()).or_default().push(pk);
            }
            Action::Revoke => {
                if let Some(r) = self.keys.get_mut(&pk) {
                    r.revoked_at = Some(index);
                }
            }
        }
        self.last_index = Some(index);
        Ok(())
    }

    /// Checks that `key` may sign attestations for `vendor_legal_name` now: its last enrolment
    /// entry is `enrol` for that vendor.
    ///
    /// # Errors
    /// [`EnrolmentError::UnknownKey`], [`EnrolmentError::Revoked`] or
    /// [`EnrolmentError::WrongVendor`].
    pub fn check_attestation(
        &self,
        key: &VerifierKey,
        vendor_legal_name: &str,
    ) -> Result<&KeyRecord, EnrolmentError> {
        self.check_signer(key, vendor_legal_name, KeyRole::Vendor)
    }

    /// Checks that `key` may sign statements of `role` for `name` now: its last enrolment
    /// entry is `enrol` for that name, with that role.
    ///
    /// # Errors
    /// [`EnrolmentError::UnknownKey`], [`EnrolmentError::Revoked`],
    /// [`EnrolmentError::WrongVendor`] or [`EnrolmentError::WrongRole`].
    pub fn check_signer(
        &self,
        key: &VerifierKey,
        name: &str,
        role: KeyRole,
    ) -> Result<&KeyRecord, EnrolmentError> {
        let r = self.key(key).ok_or(EnrolmentError::UnknownKey)?;
        if let Some(index) = r.revoked_at {
            return Err(EnrolmentError::Revoked { index });
        }
        if r.role != role {
            return Err(EnrolmentError::WrongRole {
                enrolled: r.role,
                needed_for: role.signs(),
            });
        }
        if r.vendor != name {
            return Err(EnrolmentError::WrongVendor {
                enrolled: r.vendor.clone(),
                claimed: name.to_owned(),
            });
        }
        Ok(r)
    }

    /// The first of `keys` (verified signers of an attestation) that may sign for
    /// `vendor_legal_name` now.
    ///
    /// # Errors
    /// The first key's [`EnrolmentError`] when none may; [`EnrolmentError::UnknownKey`] when
    /// `keys` is empty.
    pub fn authorise(
        &self,
        vendor_legal_name: &str,
        keys: &[VerifierKey],
    ) -> Result<&KeyRecord, EnrolmentError> {
        self.authorise_as(vendor_legal_name, KeyRole::Vendor, keys)
    }

    /// [`Self::authorise`] for statements of `role`.
    ///
    /// # Errors
    /// As [`Self::authorise`].
    pub fn authorise_as(
        &self,
        name: &str,
        role: KeyRole,
        keys: &[VerifierKey],
    ) -> Result<&KeyRecord, EnrolmentError> {
        let mut first = None;
        for k in keys {
            match self.check_signer(k, name, role) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or(EnrolmentError::UnknownKey))
    }

    /// The record of `key` if it was in force for `vendor_legal_name` at log index `index`:
    /// enrolled below `index` and not revoked below it. With the history applied up to any
    /// later index this still answers for `index` (what receipts need).
    #[must_use]
    pub fn in_force_at(
        &self,
        index: u64,
        vendor_legal_name: &str,
        key: &VerifierKey,
    ) -> Option<&KeyRecord> {
        self.in_force_as(index, vendor_legal_name, KeyRole::Vendor, key)
    }

    /// [`Self::in_force_at`] for a key of `role`.
    #[must_use]
    pub fn in_force_as(
        &self,
        index: u64,
        name: &str,
        role: KeyRole,
        key: &VerifierKey,
    ) -> Option<&KeyRecord> {
        self.key(key).filter(|r| {
            r.role == role
                && r.vendor == name
                && r.enrolled_at < index
                && r.revoked_at.is_none_or(|x| x > index)
        })
    }

    /// The record of exactly this key (same public key and name).
    #[must_use]
    pub fn key(&self, key: &VerifierKey) -> Option<&KeyRecord> {
        self.keys
            .get(key.public_key().as_bytes())
            .filter(|r| r.key == *key)
    }

    /// All keys whose key ID is `keyid_hex` (normally at most one), in enrolment order.
    #[must_use]
    pub fn keys_by_id(&self, keyid_hex: &str) -> Vec<&KeyRecord> {
        let mut id = [0u8; 4];
        if hex::decode_to_slice(keyid_hex, &mut id).is_err() {
            return Vec::new();
        }
        self.by_id
            .get(&id)
            .map(|pks| pks.iter().filter_map(|pk| self.keys.get(pk)).collect())
            .unwrap_or_default()
    }

    /// The first key enrolled with key ID `keyid_hex`.
    #[must_use]
    pub fn key_by_id(&self, keyid_hex: &str) -> Option<&KeyRecord> {
        self.keys_by_id(keyid_hex).into_iter().next()
    }

    /// Whether any key was ever enrolled for `vendor`.
    #[must_use]
    pub fn has_vendor(&self, vendor: &str) -> bool {
        self.vendors.contains_key(vendor)
    }

    /// Every vendor (by name) with all keys ever enrolled for it, in enrolment order.
    #[must_use]
    pub fn vendors(&self) -> Vec<(&str, Vec<&KeyRecord>)> {
        self.vendors
            .iter()
            .map(|(v, pks)| {
                (
                    v.as_str(),
                    pks.iter().filter_map(|pk| self.keys.get(pk)).collect(),
                )
            })
            .collect()
    }
}

/// Why an entry is not admitted. [`AdmissionError::status`] gives the HTTP status and
/// [`AdmissionError::field`] the field path for the error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The canonical entry exceeds the size limit (413).
    #[error("entry is {0} bytes, the limit is 65535")]
    TooLarge(usize),
    /// Neither an attestation nor an enrolment (422).
    #[error("unsupported payload type {0:?}")]
    PayloadType(String),
    /// The statement does not validate (422); every problem is listed.
    #[error("invalid statement: {}", join_errors(.0))]
    Statement(Vec<FieldError>),
    /// No key is enrolled for `predicate.vendor.legal_name` (422).
    #[error("vendor {0:?} has no enrolled key")]
    UnknownVendor(String),
    /// No signature carries the keyid of an enrolled key (422).
    #[error("no signature from an enrolled key")]
    NoEnrolledSigner,
    /// Signatures with enrolled keyids exist but none verifies (422).
    #[error("signature verification failed")]
    BadSignature,
    /// A signature names an enrolled key of the vendor but does not verify under it (422):
    /// no junk beside a good signature.
    #[error("signatures[{index}] does not verify under the enrolled key it names")]
    Signature {
        /// Position of the signature in the envelope.
        index: usize,
    },
    /// More signatures name enrolled keys than one submission may make the log verify (422).
    #[error("more than {0} signatures name enrolled keys")]
    TooManySignatures(usize),
    /// The version chain of the `attestation_id` is violated (422); names the current head.
    #[error("{message}")]
    VersionChain {
        /// Field path.
        field: &'static str,
        /// Index of the current head of the chain, if the chain exists.
        head: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The statement is already logged (a replay in another envelope), at this index.
    #[error("the statement is already logged at index {0}")]
    Duplicate(u64),
    /// A verifying key may not sign for this vendor (422 or, for enrolments, 409).
    #[error(transparent)]
    Key(#[from] EnrolmentError),
    /// An enrolment entry without a valid log-key signature (422).
    #[error("enrolment is not signed by the log key")]
    NotSignedByLog,
    /// A verification's subject is not the attestation it names in the log (422).
    #[error("{field}: {message}")]
    Subject {
        /// Field path.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A verification's finding names a data flow its subject does not declare (422).
    #[error("predicate.findings[{index}].data_flow: {message}")]
    Finding {
        /// Position of the finding.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A SCITT signed statement whose CWT claims do not match its key or statement (422).
    #[error("{0}")]
    CoseClaims(String),
    /// A registration policy entry out of line, or a signed statement the registration policy
    /// in force refuses (422; DESIGN.md §12).
    #[error("{0}")]
    RegistrationPolicy(String),
    /// `attestation_id` or `supersedes` ownership violated (422).
    #[error("{field}: {message}")]
    Ownership {
        /// Field path.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn join_errors(errs: &[FieldError]) -> String {
    errs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AdmissionError {
    /// HTTP status: 413, 409 for enrolment conflicts, otherwise 422.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge(_) => 413,
            Self::Key(e) => e.status(),
            _ => 422,
        }
    }

    /// The field path the error is about, if any.
    #[must_use]
    pub fn field(&self) -> Option<String> {
        match self {
            Self::TooLarge(_) => None,
            Self::PayloadType(_) => Some("payloadType".into()),
            Self::Statement(errs) => errs.first().map(|e| e.path.clone()),
            Self::UnknownVendor(_) | Self::Key(EnrolmentError::WrongVendor { .. }) => {
                Some("predicate.vendor.legal_name".into())
            }
            Self::Key(EnrolmentError::Invalid { field, .. }) => Some(if field.is_empty() {
                "payload".to_owned()
            } else {
                format!("payload.{field}")
            }),
            Self::Key(EnrolmentError::Conflict(_) | EnrolmentError::OutOfOrder { .. }) => {
                Some("payload.key".into())
            }
            Self::NoEnrolledSigner
            | Self::BadSignature
            | Self::TooManySignatures(_)
            | Self::NotSignedByLog
            | Self::Key(_) => Some("signatures".into()),
            Self::Signature { index } => Some(format!("signatures[{index}].sig")),
            Self::Ownership { field, .. }
            | Self::VersionChain { field, .. }
            | Self::Subject { field, .. } => Some((*field).to_owned()),
            Self::Finding { index, .. } => Some(format!("predicate.findings[{index}].data_flow")),
            Self::Duplicate(_) => Some("payload".into()),
            Self::CoseClaims(_) => Some("protected.cwt_claims".into()),
            Self::RegistrationPolicy(_) => Some("payload".into()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Source: docs/test-vectors.md (DSSE test vendor key and canonical entry).
    pub(crate) const VENDOR_SIGNER: &str =
        "PRIVATE+KEY+vendor.example/attest+22c8ff26+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
    pub(crate) const VENDOR: &str = "Example AV AG";

    pub(crate) fn vendor_key() -> SignerKey {
        SignerKey::parse(VENDOR_SIGNER).unwrap()
    }

    pub(crate) fn log_key() -> SignerKey {
        SignerKey::from_seed("log.example/attestlog", TYPE_ED25519, &[42; 32]).unwrap()
    }

    pub(crate) fn enrolment(vendor: &str, key: &SignerKey, action: Action) -> Enrolment {
        Enrolment {
            vendor: vendor.into(),
            key: key.verifier(),
            action,
            issued_at: "2026-10-01T00:00:00Z".into(),
            role: crate::enrolment::KeyRole::Vendor,
        }
    }

    #[test]
    fn enrolment_payload_round_trip() {
        let e = enrolment(VENDOR, &vendor_key(), Action::Enrol);
        let bytes = e.canonical_bytes();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"action":"enrol","issued_at":"2026-10-01T00:00:00Z","key":"vendor.example/attest+22c8ff26+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4","vendor":"Example AV AG"}"#
        );
        assert_eq!(Enrolment::parse(&bytes).unwrap(), e);
        let env = e.to_envelope(&log_key());
        assert_eq!(env.payload_type, PAYLOAD_TYPE_ENROLMENT);
        assert!(env.verify_with(&log_key().verifier()));
        assert_eq!(env.signatures[0].keyid, log_key().verifier().key_id_hex());
    }

    #[test]
    fn enrolment_payload_is_strict() {
        let key = vendor_key().verifier().to_string();
        let cosig = SignerKey::from_seed("w.example", 0x04, &[1; 32])
            .unwrap()
            .verifier();
        let cases = [
            (json!([]), ""),
            (
                json!({"vendor": VENDOR, "key": key, "action": "enrol"}),
                "issued_at",
            ),
            (
                json!({"vendor": VENDOR, "key": key, "action": "enrol", "issued_at": "2026-10-01T00:00:00Z", "x": 1}),
                "x",
            ),
            (
                json!({"vendor": VENDOR, "key": key, "action": "add", "issued_at": "2026-10-01T00:00:00Z"}),
                "action",
            ),
            (
                json!({"vendor": " ", "key": key, "action": "enrol", "issued_at": "2026-10-01T00:00:00Z"}),
                "vendor",
            ),
            (
                json!({"vendor": VENDOR, "key": "nope", "action": "enrol", "issued_at": "2026-10-01T00:00:00Z"}),
                "key",
            ),
            (
                json!({"vendor": VENDOR, "key": cosig.to_string(), "action": "enrol", "issued_at": "2026-10-01T00:00:00Z"}),
                "key",
            ),
            (
                json!({"vendor": VENDOR, "key": key, "action": "enrol", "issued_at": "yesterday"}),
                "issued_at",
            ),
            (
                json!({"vendor": 1, "key": key, "action": "enrol", "issued_at": "2026-10-01T00:00:00Z"}),
                "vendor",
            ),
        ];
        for (v, field) in cases {
            match Enrolment::parse(&serde_json::to_vec(&v).unwrap()) {
                Err(EnrolmentError::Invalid { field: f, .. }) => assert_eq!(f, field, "{v}"),
                other => panic!("{v}: {other:?}"),
            }
        }
        assert!(Enrolment::parse(br#"{"vendor":"a","vendor":"b"}"#).is_err());
    }

    #[test]
    fn enrolment_rules() {
        let a = vendor_key();
        let b = SignerKey::from_seed("other.example/k", TYPE_ED25519, &[5; 32]).unwrap();
        let mut s = EnrolmentState::new();
        s.apply(3, &enrolment(VENDOR, &a, Action::Enrol)).unwrap();
        // Enrolling twice, or for another vendor: 409.
        for e in [
            enrolment(VENDOR, &a, Action::Enrol),
            enrolment("Other AG", &a, Action::Enrol),
            enrolment("Other AG", &a, Action::Revoke),
            enrolment(VENDOR, &b, Action::Revoke),
        ] {
            let err = s.apply(10, &e).unwrap_err();
            assert!(matches!(err, EnrolmentError::Conflict(_)), "{e:?}: {err}");
            assert_eq!(err.status(), 409);
        }
        // Same public key under another name is the same key.
        let renamed = a.renamed("vendor.example/other").unwrap();
        assert!(matches!(
            s.check(&enrolment(VENDOR, &renamed, Action::Enrol)),
            Err(EnrolmentError::Conflict(_))
        ));
        assert!(matches!(
            s.apply(3, &enrolment("Other AG", &b, Action::Enrol)),
            Err(EnrolmentError::OutOfOrder { index: 3, last: 3 })
        ));
        s.apply(5, &enrolment("Other AG", &b, Action::Enrol))
            .unwrap();

        assert_eq!(
            s.check_attestation(&a.verifier(), VENDOR)
                .unwrap()
                .enrolled_at,
            3
        );
        assert_eq!(
            s.check_attestation(&a.verifier(), "Other AG").unwrap_err(),
            EnrolmentError::WrongVendor {
                enrolled: VENDOR.into(),
                claimed: "Other AG".into()
            }
        );
        let stranger = SignerKey::from_seed("x.example/k", TYPE_ED25519, &[6; 32]).unwrap();
        assert_eq!(
            s.check_attestation(&stranger.verifier(), VENDOR)
                .unwrap_err(),
            EnrolmentError::UnknownKey
        );
        assert_eq!(
            s.check_attestation(&renamed.verifier(), VENDOR)
                .unwrap_err(),
            EnrolmentError::UnknownKey
        );

        s.apply(8, &enrolment(VENDOR, &a, Action::Revoke)).unwrap();
        assert_eq!(
            s.check_attestation(&a.verifier(), VENDOR).unwrap_err(),
            EnrolmentError::Revoked { index: 8 }
        );
        assert!(matches!(
            s.apply(9, &enrolment(VENDOR, &a, Action::Revoke)),
            Err(EnrolmentError::Conflict(_))
        ));
        assert!(matches!(
            s.apply(9, &enrolment(VENDOR, &a, Action::Enrol)),
            Err(EnrolmentError::Conflict(_))
        ));
        assert_eq!(s.last_index(), Some(8));

        let r = s.key_by_id("22c8ff26").unwrap();
        assert_eq!(
            (r.enrolled_at, r.revoked_at, r.vendor.as_str()),
            (3, Some(8), VENDOR)
        );
        assert!(!r.is_active());
        assert!(s.key_by_id("00000000").is_none());
        assert!(s.key_by_id("zz").is_none());
        let v = s.vendors();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0, VENDOR);
        assert_eq!(v[1].0, "Other AG");
        assert_eq!(v[1].1[0].key, b.verifier());
    }
}
