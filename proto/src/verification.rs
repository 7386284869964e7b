//! The verification predicate v1 (DESIGN.md §13): an auditor's, test lab's or researcher's
//! signed finding about an attestation in the log, carried in an in-toto Statement v1 and
//! validated like the data-flow predicate ([`crate::predicate`]): every problem at once, each
//! at its JSON field path.
//!
//! What this module checks is what the statement says on its own. That its subject is an
//! attestation in the log (index, leaf hash and attestation id agreeing with the entry), that
//! its signer is an enrolled verifier key and that its `supersedes` names the head of the
//! chain of the same verifier and subject are decided by the log's rules with the log at hand.
//!
//! Subject: exactly one in-toto resource descriptor naming the verified entry,
//! `{"name": "log-entry/<log_index>", "digest": {"sha256": <SHA-256 of the entry bytes>}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::predicate::{FieldError, STATEMENT_TYPE, check_enum};

#[cfg(test)]
mod oracle;
mod typed;

/// The verification predicate type.
pub const PREDICATE_TYPE: &str = "https://attestlog.dev/verification/v1";

/// The in-toto subject name of the entry at `log_index`.
#[must_use]
pub fn subject_name(log_index: u64) -> String {
    format!("log-entry/{log_index}")
}

/// An in-toto Statement v1 with the verification predicate. Obtain one from
/// [`parse_statement`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationStatement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The verified log entry (one descriptor, see the module docs).
    pub subject: Vec<crate::predicate::Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The verification predicate.
    pub predicate: Verification,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The verification predicate v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The attestation entry this verification is about.
    pub subject_entry: SubjectEntry,
    /// The previous version of this verifier's verification of the same subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<VerificationSupersedes>,
    /// RFC 3339 time the verification was issued (strictly later than the version it
    /// supersedes).
    pub issued_at: String,
    /// Who verified.
    pub verifier: VerifierInfo,
    /// How: `traffic_capture`, `source_review`, `on_site_inspection`, `certification_audit`
    /// or `other:<text>`.
    pub method: String,
    /// When the verification was performed.
    pub performed: Performed,
    /// What was tested.
    pub environment: Environment,
    /// One finding per data flow of the claim that was looked at.
    pub findings: Vec<Finding>,
    /// Endpoints seen that the claim does not declare.
    pub undeclared: Vec<Observed>,
    /// Overall verdict.
    pub verdict: Verdict,
    /// Evidence (captures, reports) by URI and SHA-256.
    #[serde(default)]
    pub evidence: Vec<VerificationEvidence>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The verified attestation entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectEntry {
    /// Its log index.
    pub log_index: u64,
    /// Its RFC 9162 leaf hash, lowercase hex.
    pub leaf_hash: String,
    /// Its `predicate.attestation_id`.
    pub attestation_id: String,
}

/// Reference to the superseded verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationSupersedes {
    /// Log index of the verification this one replaces.
    pub log_index: u64,
}

/// The verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierInfo {
    /// Legal name; equals the name its key is enrolled for.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2 country.
    pub jurisdiction: String,
    /// Accreditation (e.g. an ISO/IEC 17025 certificate), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accreditation: Option<String>,
}

/// The period in which the verification was performed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Performed {
    /// RFC 3339 start.
    pub from: String,
    /// RFC 3339 end (not before `from`).
    pub to: String,
}

/// What was tested, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// The product version tested.
    pub product_version: String,
    /// The platform tested.
    pub platform: String,
    /// ISO 3166-1 alpha-2 country of the network the product ran in.
    pub network_country: String,
}

/// The result for one data flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingResult {
    /// What was observed matches the claim.
    Consistent,
    /// What was observed contradicts the claim.
    Contradicted,
    /// The flow was not exercised.
    NotTested,
}

/// Finding about one data flow of the claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Index in the claim's `predicate.data_flows`.
    pub data_flow: u64,
    /// The result.
    pub result: FindingResult,
    /// Declared endpoints that were seen.
    pub observed: Vec<Observed>,
    /// Free text.
    pub note: String,
}

/// An endpoint the product was seen talking to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The name it was reached by (TLS SNI or DNS answer), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Its IP address.
    pub ip: String,
    /// Its TCP or UDP port.
    pub port: u16,
    /// ISO 3166-1 alpha-2 country, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Bytes exchanged with it (both directions, IP layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything tested matched the claim.
    Consistent,
    /// Something contradicts the claim.
    Contradicted,
    /// Neither.
    Inconclusive,
}

impl Verdict {
    /// The wire name (`consistent`, `contradicted`, `inconclusive`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consistent => "consistent",
            Self::Contradicted => "contradicted",
            Self::Inconclusive => "inconclusive",
        }
    }

    /// Parses a wire name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "consistent" => Some(Self::Consistent),
            "contradicted" => Some(Self::Contradicted),
            "inconclusive" => Some(Self::Inconclusive),
            _ => None,
        }
    }
}

/// A piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationEvidence {
    /// Where it is.
    pub uri: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

impl VerificationStatement {
    /// The canonical (RFC 8785 JCS) bytes of the statement, the DSSE payload to sign.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        crate::jcs::to_vec(&v)
    }
}

/// Whether a statement payload (parsed as JSON) declares the verification predicate type.
#[must_use]
pub fn is_verification(value: &Value) -> bool {
    value.get("predicateType").and_then(Value::as_str) == Some(PREDICATE_TYPE)
}

/// Parses and validates a verification statement payload.
///
/// # Errors
/// Every problem found, each with its field path.
pub fn parse_statement(payload: &[u8]) -> Result<VerificationStatement, Vec<FieldError>> {
    let value = crate::dsse::parse_strict_json(payload).map_err(|e| {
        vec![FieldError::new(
            "",
            format!("payload is not valid json: {e}"),
        )]
    })?;
    statement_from_value(value)
}

/// Validates a verification statement given as a JSON value and converts it to the typed
/// form.
///
/// # Errors
/// Every problem found, each with its field path.
pub fn statement_from_value(value: Value) -> Result<VerificationStatement, Vec<FieldError>> {
    typed::statement_from_value(value)
}

/// Validates a verification statement value; returns every problem (empty = valid).
#[must_use]
pub fn validate(value: &Value) -> Vec<FieldError> {
    statement_from_value(value.clone())
        .err()
        .unwrap_or_default()
}

fn check_method(s: &str) -> Result<(), String> {
    if let Some(text) = s.strip_prefix("other:") {
        return if text.trim().is_empty() {
            Err("other: needs a description".to_owned())
        } else {
            Ok(())
        };
    }
    check_enum(
        s,
        &[
            "traffic_capture",
            "source_review",
            "on_site_inspection",
            "certification_audit",
        ],
    )
    .map_err(|_| {
        format!(
            "{s:?} is not one of traffic_capture, source_review, on_site_inspection, \
             certification_audit, other:<text>"
        )
    })
}

fn check_ip(s: &str) -> Result<(), String> {
    s.parse::<std::net::IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("{s:?} is not an ip address"))
}

fn check_verdict(s: &str) -> Result<(), String> {
    check_enum(s, &["consistent", "contradicted", "inconclusive"])
}

/// A complete, valid example verification statement.
#[must_use]
pub fn template() -> Value {
    serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": subject_name(12),
            "digest": {"sha256": "aa".repeat(32)}
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "subject_entry": {
                "log_index": 12,
                "leaf_hash": "bb".repeat(32),
                "attestation_id": "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab"
            },
            "issued_at": "2026-12-05T10:00:00Z",
            "verifier": {"legal_name": "Example Test Lab GmbH", "jurisdiction": "DE", "accreditation": "ISO/IEC 17025 D-PL-00000"},
            "method": "traffic_capture",
            "performed": {"from": "2026-12-04T08:00:00Z", "to": "2026-12-04T18:00:00Z"},
            "environment": {"product_version": "21.3.10", "platform": "windows-x64", "network_country": "DE"},
            "findings": [{
                "data_flow": 0,
                "result": "consistent",
                "observed": [{"hostname": "ksn-eu.vendor.example", "ip": "192.0.2.10", "port": 443, "country": "CH", "bytes": 48213}],
                "note": "1 declared destination seen, none outside the declared countries"
            }],
            "undeclared": [],
            "verdict": "consistent",
            "evidence": [{"uri": "https://lab.example/captures/1.pcapng", "sha256": "cc".repeat(32)}]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(v: &Value) -> Vec<String> {
        validate(v).into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn template_is_valid_and_round_trips() {
        let st = statement_from_value(template()).unwrap();
        assert_eq!(st.predicate.verdict, Verdict::Consistent);
        assert_eq!(st.predicate.findings[0].observed[0].port, 443);
        let again = parse_statement(&st.canonical_bytes()).unwrap();
        assert_eq!(again, st);
        assert!(is_verification(&template()));
        assert!(!is_verification(&crate::predicate::template()));
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let mut t = template();
        t["subject"][0]["name"] = "log-entry/13".into();
        t["predicate"]["subject_entry"]["leaf_hash"] = "XYZ".into();
        t["predicate"]["verifier"]["jurisdiction"] = "XX".into();
        t["predicate"]["method"] = "guessing".into();
        t["predicate"]["performed"]["to"] = "2026-12-01T00:00:00Z".into();
        t["predicate"]["findings"][0]["result"] = "contradicted".into();
        t["predicate"]["findings"][0]["observed"][0]["ip"] = "192.0.2".into();
        t["predicate"]["findings"][0]["observed"][0]["port"] = 70_000.into();
        t["predicate"]["undeclared"] = serde_json::json!([{"ip": "203.0.113.5", "port": 443}]);
        t["predicate"]["evidence"][0]["sha256"] = "00".into();
        let errs = errors(&t);
        for want in [
            "subject[0].name: must be \"log-entry/12\"",
            "predicate.subject_entry.leaf_hash",
            "predicate.verifier.jurisdiction",
            "predicate.method: \"guessing\" is not one of",
            "predicate.performed.to: must not be before performed.from",
            "predicate.findings[0].observed[0].ip",
            "predicate.findings[0].observed[0].port",
            "predicate.undeclared[0].bytes: missing required field",
            "predicate.verdict: must be \"contradicted\" when a finding is (predicate.findings[0].result)",
            "predicate.evidence[0].sha256",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(want)),
                "{want} not in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), 10, "{errs:#?}");
    }

    #[test]
    fn wrong_predicate_type_and_two_subjects_are_refused() {
        let mut t = template();
        t["predicateType"] = crate::predicate::PREDICATE_TYPE.into();
        assert_eq!(
            errors(&t),
            ["predicateType: expected \"https://attestlog.dev/verification/v1\""]
        );
        let mut t = template();
        let s = t["subject"][0].clone();
        t["subject"] = Value::Array(vec![s.clone(), s]);
        assert_eq!(errors(&t), ["subject: must name exactly one log entry"]);
        let mut t = template();
        t["predicate"]["findings"] = serde_json::json!([
            t["predicate"]["findings"][0].clone(),
            t["predicate"]["findings"][0].clone()
        ]);
        assert_eq!(
            errors(&t),
            ["predicate.findings[1].data_flow: data flow 0 has another finding already"]
        );
        let mut t = template();
        t["predicate"]["method"] = "other:".into();
        assert_eq!(errors(&t), ["predicate.method: other: needs a description"]);
        t["predicate"]["method"] = "other:firmware teardown".into();
        assert!(errors(&t).is_empty());
    }
}
