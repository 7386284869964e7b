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
use serde_json::{Map, Value};

use crate::predicate::{
    Checker, FieldError, MAX_SAFE_INTEGER, STATEMENT_TYPE, check_country, check_enum,
    check_rfc3339, check_sha256, check_uri, check_uuid, join, parse_rfc3339,
};

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
    let errs = validate(&value);
    if !errs.is_empty() {
        return Err(errs);
    }
    serde_json::from_value(value).map_err(|e| vec![FieldError::new("", e.to_string())])
}

/// Validates a verification statement value; returns every problem (empty = valid).
#[must_use]
pub fn validate(value: &Value) -> Vec<FieldError> {
    let mut c = Checker::default();
    statement(&mut c, value);
    c.into_errors()
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

fn safe_u64(c: &mut Checker, o: &Map<String, Value>, path: &str, key: &str, required: bool) {
    let v = if required {
        c.req(o, path, key)
    } else {
        Checker::opt(o, key)
    };
    if let Some(v) = v
        && v.as_u64().is_none_or(|n| n > MAX_SAFE_INTEGER)
    {
        c.err(join(path, key), "expected an integer from 0 to 2^53-1");
    }
}

fn statement(c: &mut Checker, v: &Value) {
    let Some(o) = c.object(v, "") else {
        return;
    };
    if let Some(t) = c.req_str(o, "", "_type")
        && t != STATEMENT_TYPE
    {
        c.err("_type", format!("expected {STATEMENT_TYPE:?}"));
    }
    if let Some(pt) = c.req_str(o, "", "predicateType")
        && pt != PREDICATE_TYPE
    {
        c.err("predicateType", format!("expected {PREDICATE_TYPE:?}"));
        return;
    }
    let subjects = c.objects(o, "", "subject", true, true);
    if subjects.len() > 1 {
        c.err("subject", "must name exactly one log entry");
    }
    let subject_name_seen = subjects.first().map(|(p, s)| {
        let name = c.req_str(s, p, "name").map(str::to_owned);
        if let Some(dv) = c.req(s, p, "digest") {
            let dp = join(p, "digest");
            if let Some(d) = c.object(dv, &dp) {
                c.req_checked(d, &dp, "sha256", check_sha256);
            }
        }
        (join(p, "name"), name)
    });
    let Some(pv) = c.req(o, "", "predicate") else {
        return;
    };
    let Some(p) = c.object(pv, "predicate") else {
        return;
    };
    let index = predicate(c, p);
    if let (Some((path, Some(name))), Some(i)) = (subject_name_seen, index)
        && name != subject_name(i)
    {
        c.err(
            path,
            format!(
                "must be {:?} (predicate.subject_entry.log_index)",
                subject_name(i)
            ),
        );
    }
}

/// Validates the predicate; returns the subject's log index when it is valid.
fn predicate(c: &mut Checker, p: &Map<String, Value>) -> Option<u64> {
    let pp = "predicate";
    let mut index = None;
    if let Some(sv) = c.req(p, pp, "subject_entry") {
        let sp = join(pp, "subject_entry");
        if let Some(s) = c.object(sv, &sp) {
            safe_u64(c, s, &sp, "log_index", true);
            index = s
                .get("log_index")
                .and_then(Value::as_u64)
                .filter(|n| *n <= MAX_SAFE_INTEGER);
            c.req_checked(s, &sp, "leaf_hash", check_sha256);
            c.req_checked(s, &sp, "attestation_id", check_uuid);
        }
    }
    if let Some(sv) = Checker::opt(p, "supersedes") {
        let sp = join(pp, "supersedes");
        if let Some(s) = c.object(sv, &sp) {
            safe_u64(c, s, &sp, "log_index", true);
        }
    }
    c.req_checked(p, pp, "issued_at", check_rfc3339);
    if let Some(vv) = c.req(p, pp, "verifier") {
        let vp = join(pp, "verifier");
        if let Some(v) = c.object(vv, &vp) {
            c.req_str(v, &vp, "legal_name");
            c.req_checked(v, &vp, "jurisdiction", check_country);
            if let Some(a) = Checker::opt(v, "accreditation") {
                c.string(a, &join(&vp, "accreditation"));
            }
        }
    }
    c.req_checked(p, pp, "method", check_method);
    if let Some(tv) = c.req(p, pp, "performed") {
        let tp = join(pp, "performed");
        if let Some(t) = c.object(tv, &tp) {
            let from = c.req_checked(t, &tp, "from", check_rfc3339);
            let to = c.req_checked(t, &tp, "to", check_rfc3339);
            if let (Some(f), Some(t)) = (from.and_then(parse_rfc3339), to.and_then(parse_rfc3339))
                && f > t
            {
                c.err(join(&tp, "to"), "must not be before performed.from");
            }
        }
    }
    if let Some(ev) = c.req(p, pp, "environment") {
        let ep = join(pp, "environment");
        if let Some(e) = c.object(ev, &ep) {
            c.req_str(e, &ep, "product_version");
            c.req_str(e, &ep, "platform");
            c.req_checked(e, &ep, "network_country", check_country);
        }
    }
    let mut contradicted_finding = None;
    let mut flows = std::collections::BTreeSet::new();
    for (fp, f) in c.objects(p, pp, "findings", true, false) {
        safe_u64(c, f, &fp, "data_flow", true);
        if let Some(n) = f.get("data_flow").and_then(Value::as_u64)
            && !flows.insert(n)
        {
            c.err(
                join(&fp, "data_flow"),
                format!("data flow {n} has another finding already"),
            );
        }
        if let Some(r) = c.req_checked(f, &fp, "result", |s| {
            check_enum(s, &["consistent", "contradicted", "not_tested"])
        }) && r == "contradicted"
        {
            contradicted_finding.get_or_insert(join(&fp, "result"));
        }
        for (op, ob) in c.objects(f, &fp, "observed", true, false) {
            observed(c, &op, ob, false);
        }
        if let Some(n) = c.req(f, &fp, "note")
            && !n.is_string()
        {
            c.err(join(&fp, "note"), "expected a string");
        }
    }
    for (up, u) in c.objects(p, pp, "undeclared", true, false) {
        observed(c, &up, u, true);
    }
    if let Some(v) = c.req_checked(p, pp, "verdict", check_verdict)
        && v != "contradicted"
        && let Some(path) = contradicted_finding
    {
        c.err(
            join(pp, "verdict"),
            format!("must be \"contradicted\" when a finding is ({path})"),
        );
    }
    for (ep, e) in c.objects(p, pp, "evidence", false, false) {
        c.req_checked(e, &ep, "uri", check_uri);
        c.req_checked(e, &ep, "sha256", check_sha256);
    }
    index
}

fn observed(c: &mut Checker, path: &str, o: &Map<String, Value>, bytes_required: bool) {
    if let Some(h) = Checker::opt(o, "hostname") {
        c.string(h, &join(path, "hostname"));
    }
    c.req_checked(o, path, "ip", check_ip);
    if let Some(port) = c.req(o, path, "port")
        && port.as_u64().is_none_or(|n| n > 65_535)
    {
        c.err(join(path, "port"), "expected a port number (0-65535)");
    }
    if let Some(cv) = Checker::opt(o, "country") {
        let cp = join(path, "country");
        if let Some(s) = c.string(cv, &cp)
            && let Err(m) = check_country(s)
        {
            c.err(cp, m);
        }
    }
    safe_u64(c, o, path, "bytes", bytes_required);
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
