//! The SCITT registration policy as a log entry (DESIGN.md §12, RFC 9943: the registration
//! policy in force is itself transparent).
//!
//! A policy entry is a DSSE envelope with payload type [`PAYLOAD_TYPE_REGISTRATION_POLICY`],
//! signed by the log key (like an enrolment), whose payload is the RFC 8785 (JCS) form of a
//! [`RegistrationPolicy`]: the accepted signature algorithms, statement content types,
//! predicate types and CWT claims of SCITT signed statements, whether the payload must be
//! attached, and the largest logged signed statement. Policies form one line: the `n`-th
//! policy entry of a log carries `sequence` `n`; a change of policy is a new entry with the
//! next sequence.
//!
//! Each SCITT signed statement is admitted under the latest policy entry below it
//! ([`RegistrationPolicy::admits`]; the rule engine's `Ledger` keeps the policy in force and
//! `fsck` replays it). A signed statement logged with no policy entry below it was admitted
//! under the built-in policy ([`RegistrationPolicy::built_in`]), which is what
//! [`crate::cose::SignedStatement::parse`] enforces anyway.
//!
//! **Identity.** A policy entry's statement identity is its place in the line,
//! `SHA-256("attestlog-registration-policy/v1\n" ‖ sequence in decimal)` ([`slot`]), not its
//! content: a log holds at most one policy entry per sequence number, and the entry holding
//! sequence `n` is found by that hash alone (the statements index every log keeps).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Hash;
use crate::dsse::{Envelope, MAX_ENTRY_BYTES, parse_strict_json};
use crate::keys::SignerKey;
use crate::predicate::{PAYLOAD_TYPE_INTOTO, PREDICATE_TYPE};

/// Payload type of registration policy entries.
pub const PAYLOAD_TYPE_REGISTRATION_POLICY: &str =
    "application/vnd.attestlog.registration-policy+json";
/// Domain separation prefix of [`slot`].
pub const SLOT_DOMAIN: &[u8] = b"attestlog-registration-policy/v1\n";
/// The only signature algorithm this log implements for signed statements (COSE EdDSA).
pub const ALG_EDDSA: &str = "EdDSA";
/// The payload rule this log implements: the statement attached to the COSE_Sign1.
pub const PAYLOAD_ATTACHED: &str = "attached";
/// The CWT claims every signed statement must carry (`iss`, `sub`).
pub const REQUIRED_CLAIMS: [&str; 2] = ["iss", "sub"];

/// Why a policy payload is not a valid registration policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Not strict JSON, or not the policy object.
    #[error("registration policy payload is malformed: {0}")]
    Malformed(String),
    /// A member names something this log cannot enforce.
    #[error("registration policy {field}: {message}")]
    Invalid {
        /// The member.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A registration policy (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationPolicy {
    /// Its place in the log's line of policies: 1 for the first.
    pub sequence: u64,
    /// Accepted COSE signature algorithms (by name; this log implements `EdDSA`).
    pub algorithms: Vec<String>,
    /// Accepted statement content types (protected `content_type`).
    pub content_types: Vec<String>,
    /// Accepted in-toto predicate types.
    pub predicate_types: Vec<String>,
    /// CWT claims every signed statement must carry.
    pub cwt_claims: Vec<String>,
    /// `attached`: the statement travels inside the COSE_Sign1 (no detached payloads, no hash
    /// envelopes).
    pub payload: String,
    /// Largest logged signed statement, in bytes (at most 65,535).
    pub max_entry_bytes: u64,
}

/// The statement identity of the policy entry with `sequence` (see the module docs).
#[must_use]
pub fn slot(sequence: u64) -> Hash {
    let mut h = Sha256::new();
    h.update(SLOT_DOMAIN);
    h.update(sequence.to_string().as_bytes());
    Hash(h.finalize().into())
}

fn invalid(field: &'static str, message: impl Into<String>) -> RegistrationError {
    RegistrationError::Invalid {
        field,
        message: message.into(),
    }
}

/// Checks that `list` is non-empty and holds only values of `allowed`.
fn subset(field: &'static str, list: &[String], allowed: &[&str]) -> Result<(), RegistrationError> {
    if list.is_empty() {
        return Err(invalid(field, "must name at least one value"));
    }
    match list.iter().find(|v| !allowed.contains(&v.as_str())) {
        Some(v) => Err(invalid(
            field,
            format!("{v:?} is not one of {allowed:?}, which this log implements"),
        )),
        None => Ok(()),
    }
}

impl RegistrationPolicy {
    /// The policy this log implements with nothing restricted, at `sequence`: EdDSA, in-toto
    /// statements of the data-flow or the verification predicate, `iss` and `sub`, attached,
    /// up to 65,535 bytes.
    #[must_use]
    pub fn built_in(sequence: u64) -> Self {
        Self {
            sequence,
            algorithms: vec![ALG_EDDSA.to_owned()],
            content_types: vec![PAYLOAD_TYPE_INTOTO.to_owned()],
            predicate_types: vec![
                PREDICATE_TYPE.to_owned(),
                crate::verification::PREDICATE_TYPE.to_owned(),
            ],
            cwt_claims: REQUIRED_CLAIMS.iter().map(|c| (*c).to_owned()).collect(),
            payload: PAYLOAD_ATTACHED.to_owned(),
            max_entry_bytes: MAX_ENTRY_BYTES as u64,
        }
    }

    /// Checks that the policy is one this log can enforce: a sequence from 1, only EdDSA, the
    /// in-toto content type, known predicate types, the claims `iss` and `sub`, attached
    /// payloads, and a size limit from 1 to 65,535 bytes.
    ///
    /// # Errors
    /// [`RegistrationError::Invalid`] naming the member.
    pub fn validate(&self) -> Result<(), RegistrationError> {
        if self.sequence == 0 {
            return Err(invalid("sequence", "starts at 1"));
        }
        subset("algorithms", &self.algorithms, &[ALG_EDDSA])?;
        subset("content_types", &self.content_types, &[PAYLOAD_TYPE_INTOTO])?;
        subset(
            "predicate_types",
            &self.predicate_types,
            &[PREDICATE_TYPE, crate::verification::PREDICATE_TYPE],
        )?;
        subset("cwt_claims", &self.cwt_claims, &REQUIRED_CLAIMS)?;
        if REQUIRED_CLAIMS
            .iter()
            .any(|c| !self.cwt_claims.iter().any(|x| x == c))
        {
            return Err(invalid("cwt_claims", "must name both iss and sub"));
        }
        if self.payload != PAYLOAD_ATTACHED {
            return Err(invalid("payload", "must be \"attached\""));
        }
        if self.max_entry_bytes == 0 || self.max_entry_bytes > MAX_ENTRY_BYTES as u64 {
            return Err(invalid(
                "max_entry_bytes",
                format!("must be from 1 to {MAX_ENTRY_BYTES}"),
            ));
        }
        Ok(())
    }

    /// Parses and validates a policy payload (strict JSON; unknown members refused).
    ///
    /// # Errors
    /// [`RegistrationError`].
    pub fn parse(payload: &[u8]) -> Result<Self, RegistrationError> {
        let v =
            parse_strict_json(payload).map_err(|e| RegistrationError::Malformed(e.to_string()))?;
        let p: Self =
            serde_json::from_value(v).map_err(|e| RegistrationError::Malformed(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// The RFC 8785 (JCS) payload.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::jcs::to_vec_of(self)
    }

    /// The policy entry: the canonical payload in a DSSE envelope signed by the log key.
    #[must_use]
    pub fn to_envelope(&self, log_key: &SignerKey) -> Envelope {
        Envelope::sign(
            PAYLOAD_TYPE_REGISTRATION_POLICY,
            &self.canonical_bytes(),
            &[log_key],
        )
    }

    /// Whether two policies say the same, whatever their sequence.
    #[must_use]
    pub fn same_terms(&self, other: &Self) -> bool {
        Self {
            sequence: other.sequence,
            ..self.clone()
        } == *other
    }

    /// Whether a signed statement of `predicate_type`, `entry_len` bytes as logged, is
    /// admissible under this policy (its algorithm, content type, claims and attached payload
    /// are those [`crate::cose::SignedStatement::parse`] accepts, which every valid policy
    /// lists).
    ///
    /// # Errors
    /// A message naming the rule of the policy that refuses it.
    pub fn admits(&self, predicate_type: &str, entry_len: usize) -> Result<(), String> {
        if !self.predicate_types.iter().any(|p| p == predicate_type) {
            return Err(format!(
                "registration policy {} does not accept predicate type {predicate_type:?} (it \
                 accepts {:?})",
                self.sequence, self.predicate_types
            ));
        }
        if entry_len as u64 > self.max_entry_bytes {
            return Err(format!(
                "the signed statement is {entry_len} bytes; registration policy {} accepts at \
                 most {}",
                self.sequence, self.max_entry_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TYPE_ED25519;

    #[test]
    fn the_built_in_policy_round_trips_and_validates() {
        let p = RegistrationPolicy::built_in(1);
        p.validate().unwrap();
        let bytes = p.canonical_bytes();
        assert_eq!(RegistrationPolicy::parse(&bytes).unwrap(), p);
        // JCS: members in code-point order.
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with("{\"algorithms\":[\"EdDSA\"],\"content_types\":"),
            "{text}"
        );
        let log = SignerKey::from_seed("log.example", TYPE_ED25519, &[1; 32]).unwrap();
        let env = p.to_envelope(&log);
        assert_eq!(env.payload_type, PAYLOAD_TYPE_REGISTRATION_POLICY);
        assert!(env.verify_with(&log.verifier()));
        assert!(p.same_terms(&RegistrationPolicy::built_in(7)));
    }

    #[test]
    fn policies_this_log_cannot_enforce_are_refused() {
        type Edit = fn(&mut RegistrationPolicy);
        let edits: [(&str, Edit); 8] = [
            ("sequence", |p| p.sequence = 0),
            ("algorithms", |p| p.algorithms = vec!["ES256".into()]),
            ("algorithms", |p| p.algorithms.clear()),
            ("content_types", |p| {
                p.content_types = vec!["application/json".into()]
            }),
            ("predicate_types", |p| p.predicate_types = vec!["x".into()]),
            ("cwt_claims", |p| p.cwt_claims = vec!["iss".into()]),
            ("payload", |p| p.payload = "detached".into()),
            ("max_entry_bytes", |p| p.max_entry_bytes = 70_000),
        ];
        for (field, edit) in edits {
            let mut p = RegistrationPolicy::built_in(1);
            edit(&mut p);
            match RegistrationPolicy::parse(&p.canonical_bytes()) {
                Err(RegistrationError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(matches!(
            RegistrationPolicy::parse(b"{\"sequence\":1}"),
            Err(RegistrationError::Malformed(_))
        ));
        let mut v = serde_json::to_value(RegistrationPolicy::built_in(1)).unwrap();
        v["extra"] = serde_json::json!(1);
        assert!(matches!(
            RegistrationPolicy::parse(&serde_json::to_vec(&v).unwrap()),
            Err(RegistrationError::Malformed(_))
        ));
    }

    #[test]
    fn admits_by_predicate_type_and_size() {
        let mut p = RegistrationPolicy::built_in(2);
        assert!(p.admits(PREDICATE_TYPE, 100).is_ok());
        p.predicate_types = vec![PREDICATE_TYPE.to_owned()];
        p.max_entry_bytes = 1000;
        let e = p
            .admits(crate::verification::PREDICATE_TYPE, 100)
            .unwrap_err();
        assert!(e.contains("registration policy 2"), "{e}");
        assert!(p.admits(PREDICATE_TYPE, 1001).unwrap_err().contains("1000"));
        assert!(p.admits(PREDICATE_TYPE, 1000).is_ok());
        assert_ne!(slot(1), slot(2));
        assert!(!p.same_terms(&RegistrationPolicy::built_in(2)));
    }
}
