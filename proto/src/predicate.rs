//! in-toto Statement v1 carrying the attestlog data-flow predicate v1 (DESIGN.md §3), with a
//! validator that reports every problem at once, each at its JSON field path.
//!
//! Validation is one walk over the payload parsed into a [`serde_json::Value`] (so type errors
//! get paths too) that builds the typed [`Statement`] as it checks each field. Unknown fields
//! are kept (in the `extra` maps) and ignored.
//!
//! - in-toto Statement v1: <https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>
//! - RFC 3339 timestamps: <https://www.rfc-editor.org/rfc/rfc3339#section-5.6>
//! - ISO 3166-1 alpha-2 country codes (officially assigned), ISO 8601 durations.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dsse::parse_strict_json;

#[cfg(test)]
mod oracle;
pub(crate) mod typed;

/// in-toto Statement v1 `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The data-flow predicate type.
pub const PREDICATE_TYPE: &str = "https://attestlog.dev/data-flows/v1";
/// DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE_INTOTO: &str = "application/vnd.in-toto+json";

/// Largest integer JSON numbers carry exactly (I-JSON, RFC 7493 §2.2): 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// One validation problem: the JSON path of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Field path, e.g. `predicate.data_flows[2].processing_locations[0].country`; empty for
    /// the document itself.
    pub path: String,
    /// Lowercase description, e.g. `"XX" is not an ISO 3166-1 alpha-2 code`.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    #[must_use]
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

// ---------------------------------------------------------------------------------------------
// Typed statement
// ---------------------------------------------------------------------------------------------

/// An in-toto Statement v1 with the data-flow predicate. Obtain one from [`parse_statement`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The product's artifacts (equal to `predicate.product.artifacts`).
    pub subject: Vec<Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The data-flow predicate.
    pub predicate: DataFlowPredicate,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An in-toto subject (resource descriptor) with a name and digests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// Artifact name.
    pub name: String,
    /// Digests by algorithm; `sha256` is required.
    pub digest: BTreeMap<String, String>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The data-flow predicate v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFlowPredicate {
    /// Lowercase UUID, stable across versions of the same claim.
    pub attestation_id: String,
    /// The version this one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Supersedes>,
    /// Status of the claim.
    pub status: Status,
    /// RFC 3339 issue time.
    pub issued_at: String,
    /// RFC 3339 start of validity.
    pub valid_from: String,
    /// RFC 3339 end of validity (after `valid_from`).
    pub valid_until: String,
    /// The attesting vendor.
    pub vendor: Vendor,
    /// The product the claim is about.
    pub product: Product,
    /// Data flows, per category and user region.
    pub data_flows: Vec<DataFlow>,
    /// Countries with no storage, processing, remote access or onward transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_jurisdictions: Option<Vec<String>>,
    /// Audit reports and other evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Vec<Evidence>>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Reference to the superseded version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supersedes {
    /// Must equal the superseding predicate's `attestation_id`.
    pub attestation_id: String,
    /// Log index of the superseded entry.
    pub log_index: u64,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Claim status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// In force.
    Active,
    /// Revoked by the vendor.
    Revoked,
    /// Withdrawn (e.g. product discontinued).
    Withdrawn,
}

/// The vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vendor {
    /// Legal name; must match the `vendor` of the signing key's enrolment.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2 country of incorporation.
    pub jurisdiction: String,
    /// Parents and controlling owners.
    pub ownership_chain: Vec<Owner>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An entity in the vendor's ownership chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// Legal name.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2 country.
    pub jurisdiction: String,
    /// Relationship to the vendor, e.g. `parent`.
    pub relationship: String,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Product name.
    pub name: String,
    /// Covered versions.
    pub versions: Versions,
    /// Platforms, e.g. `windows`.
    pub platforms: Vec<String>,
    /// Artifacts by SHA-256 (the statement's subject).
    pub artifacts: Vec<Artifact>,
    /// Update channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_channels: Option<Vec<String>>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Covered versions: a range or an explicit list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Versions {
    /// `{min, max}`, inclusive.
    Range {
        /// Lowest covered version.
        min: String,
        /// Highest covered version.
        max: String,
    },
    /// Non-empty list of versions.
    List(Vec<String>),
}

/// A product artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// File name.
    pub name: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Data category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Category {
    /// `threat_samples`
    ThreatSamples,
    /// `telemetry`
    Telemetry,
    /// `url_reputation`
    UrlReputation,
    /// `license_account`
    LicenseAccount,
    /// `crash_dumps`
    CrashDumps,
    /// `diagnostic_logs`
    DiagnosticLogs,
    /// `content_data`
    ContentData,
    /// `other:<text>`, the text non-empty.
    Other(String),
}

const CATEGORIES: [(&str, Category); 7] = [
    ("threat_samples", Category::ThreatSamples),
    ("telemetry", Category::Telemetry),
    ("url_reputation", Category::UrlReputation),
    ("license_account", Category::LicenseAccount),
    ("crash_dumps", Category::CrashDumps),
    ("diagnostic_logs", Category::DiagnosticLogs),
    ("content_data", Category::ContentData),
];

impl Category {
    /// Parses a category string.
    ///
    /// # Errors
    /// A lowercase message saying what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some((_, c)) = CATEGORIES.iter().find(|(n, _)| *n == s) {
            return Ok(c.clone());
        }
        if let Some(text) = s.strip_prefix("other:") {
            if text.trim().is_empty() {
                return Err(format!("{s:?} needs a description after \"other:\""));
            }
            return Ok(Self::Other(text.to_owned()));
        }
        Err(format!(
            "{s:?} is not one of threat_samples, telemetry, url_reputation, license_account, crash_dumps, diagnostic_logs, content_data, other:<text>"
        ))
    }

    /// The wire string.
    #[must_use]
    pub fn as_string(&self) -> String {
        match self {
            Self::Other(t) => format!("other:{t}"),
            c => CATEGORIES
                .iter()
                .find(|(_, k)| k == c)
                .map(|(n, _)| (*n).to_owned())
                .unwrap_or_default(),
        }
    }
}

impl TryFrom<String> for Category {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.as_string()
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// User consent model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Off unless the user enables it.
    OptIn,
    /// On unless the user disables it.
    OptOut,
    /// Cannot be disabled.
    Required,
}

/// Role of a processing location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Data at rest.
    Storage,
    /// Automated processing.
    Processing,
    /// Human analysis.
    Analysis,
}

/// One data flow: a data category from users in some regions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFlow {
    /// Data category.
    pub category: Category,
    /// Data items in the category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    /// Purposes.
    pub purpose: Vec<String>,
    /// Consent model.
    pub consent: Consent,
    /// ISO 3166-1 alpha-2 codes or `EU`, `EEA`, `WW`.
    pub user_regions: Vec<String>,
    /// Where the product sends the data.
    pub destinations: Vec<Destination>,
    /// Where the data is stored and processed.
    pub processing_locations: Vec<ProcessingLocation>,
    /// Countries from which the data can be accessed remotely.
    pub remote_access_jurisdictions: Vec<String>,
    /// Processors and sub-processors.
    pub processors: Vec<Processor>,
    /// Onward transfers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onward_transfers: Option<Vec<OnwardTransfer>>,
    /// ISO 8601 duration, e.g. `P1Y`.
    pub retention: String,
    /// Technical protections, e.g. `tls1.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protections: Option<Vec<String>>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A network destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// Host names (a leading `*.` wildcard is allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<Vec<String>>,
    /// IP addresses or CIDR ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_ranges: Option<Vec<String>>,
    /// TCP/UDP ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u16>>,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A storage or processing location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessingLocation {
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// City.
    pub city: String,
    /// Who operates the facility.
    pub facility_operator: String,
    /// What happens there.
    pub role: Role,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A processor or sub-processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Processor {
    /// Legal name.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2 country.
    pub jurisdiction: String,
    /// Role, e.g. `sub-processor`.
    pub role: String,
    /// Service provided.
    pub service: String,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An onward transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnwardTransfer {
    /// ISO 3166-1 alpha-2 country.
    pub to_country: String,
    /// Legal mechanism, e.g. `scc`.
    pub mechanism: String,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Evidence type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvidenceType {
    /// SOC 2 Type I report.
    #[serde(rename = "soc2_type1")]
    Soc2Type1,
    /// SOC 2 Type II report.
    #[serde(rename = "soc2_type2")]
    Soc2Type2,
    /// ISO/IEC 27001 certificate.
    #[serde(rename = "iso27001")]
    Iso27001,
    /// Source code review.
    #[serde(rename = "source_review")]
    SourceReview,
    /// Penetration test.
    #[serde(rename = "pen_test")]
    PenTest,
    /// Independent network measurement.
    #[serde(rename = "network_measurement")]
    NetworkMeasurement,
    /// Anything else.
    #[serde(rename = "other")]
    Other,
}

/// A piece of evidence, referenced by URI and SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Evidence type.
    #[serde(rename = "type")]
    pub kind: EvidenceType,
    /// Who issued it.
    pub issuer: String,
    /// RFC 3339 start of the audited period.
    pub period_start: String,
    /// RFC 3339 end of the audited period.
    pub period_end: String,
    /// What it covers.
    pub scope: String,
    /// Where to get it.
    pub uri: String,
    /// Lowercase hex SHA-256 of the document.
    pub sha256: String,
    /// Unknown fields, kept and ignored.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Statement {
    /// `predicate.vendor.legal_name`.
    #[must_use]
    pub fn vendor_legal_name(&self) -> &str {
        &self.predicate.vendor.legal_name
    }

    /// `predicate.attestation_id`.
    #[must_use]
    pub fn attestation_id(&self) -> &str {
        &self.predicate.attestation_id
    }

    /// RFC 8785 (JCS) bytes of the statement: what `attest sign` signs.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Only string-keyed maps, so JCS serialization cannot fail.
        crate::jcs::to_vec_of(self)
    }
}

/// Parses and validates a statement payload (the DSSE payload bytes).
///
/// # Errors
/// Every problem found, each with its field path.
pub fn parse_statement(payload: &[u8]) -> Result<Statement, Vec<FieldError>> {
    let value = parse_strict_json(payload).map_err(|e| {
        vec![FieldError::new(
            "",
            format!("payload is not valid json: {e}"),
        )]
    })?;
    statement_from_value(value)
}

/// Validates a statement given as a JSON value and converts it to the typed form.
///
/// # Errors
/// Every problem found, each with its field path.
pub fn statement_from_value(value: Value) -> Result<Statement, Vec<FieldError>> {
    typed::statement_from_value(value)
}

/// Most problems one validation reports; the rest are counted in one last problem with an
/// empty path, so an answer stays small whatever the payload (a bad payload could otherwise
/// produce an answer tens of times its size).
pub const MAX_REPORTED_PROBLEMS: usize = 100;
/// Longest message of one problem, in bytes (messages may quote the offending value).
pub const MAX_PROBLEM_MESSAGE: usize = 300;

/// Validates a statement value; returns its problems (empty = valid): at most
/// [`MAX_REPORTED_PROBLEMS`], then one that counts the rest.
#[must_use]
pub fn validate(value: &Value) -> Vec<FieldError> {
    statement_from_value(value.clone())
        .err()
        .unwrap_or_default()
}

/// `s` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
fn truncated(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Validator
// ---------------------------------------------------------------------------------------------

// Paths are built for every field the validator visits, so without the formatting machinery.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        return key.to_owned();
    }
    let mut p = String::with_capacity(path.len() + 1 + key.len());
    p.push_str(path);
    p.push('.');
    p.push_str(key);
    p
}

pub(crate) fn idx(path: &str, i: usize) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(i);
    let mut p = String::with_capacity(path.len() + 2 + digits.len());
    p.push_str(path);
    p.push('[');
    p.push_str(digits);
    p.push(']');
    p
}

/// The field-path validator shared by the predicates of this crate.
#[derive(Default)]
pub(crate) struct Checker {
    /// The first [`MAX_REPORTED_PROBLEMS`] problems.
    errs: Vec<FieldError>,
    /// Every problem found.
    count: usize,
}

pub(crate) type Check = fn(&str) -> Result<(), String>;

impl Checker {
    pub(crate) fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.count += 1;
        if self.errs.len() < MAX_REPORTED_PROBLEMS {
            self.errs.push(FieldError::new(
                path,
                truncated(msg.into(), MAX_PROBLEM_MESSAGE),
            ));
        }
    }

    /// How many problems were found so far.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The problems found: at most [`MAX_REPORTED_PROBLEMS`], then one that counts the rest.
    pub(crate) fn into_errors(mut self) -> Vec<FieldError> {
        let omitted = self.count - self.errs.len();
        if omitted > 0 {
            self.errs.push(FieldError::new(
                "",
                format!("{omitted} more problems not listed"),
            ));
        }
        self.errs
    }
}

/// The checks of the two-pass validators over a borrowed [`Value`], kept with them as the test
/// oracles of the one-pass walks.
#[cfg(test)]
use serde_json::Map;

#[cfg(test)]
impl Checker {
    pub(crate) fn object<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
    ) -> Option<&'v Map<String, Value>> {
        if let Value::Object(o) = v {
            Some(o)
        } else {
            self.err(path, "expected an object");
            None
        }
    }

    /// A required field (null counts as missing).
    pub(crate) fn req<'v>(
        &mut self,
        o: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Value> {
        match o.get(key) {
            None | Some(Value::Null) => {
                self.err(join(path, key), "missing required field");
                None
            }
            Some(v) => Some(v),
        }
    }

    pub(crate) fn opt<'v>(o: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        o.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn string<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.err(path, "must not be empty");
                None
            }
            Value::String(s) => Some(s),
            _ => {
                self.err(path, "expected a string");
                None
            }
        }
    }

    pub(crate) fn req_str<'v>(
        &mut self,
        o: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v str> {
        let v = self.req(o, path, key)?;
        self.string(v, &join(path, key))
    }

    /// A required string passing `check`.
    pub(crate) fn req_checked<'v>(
        &mut self,
        o: &'v Map<String, Value>,
        path: &str,
        key: &str,
        check: Check,
    ) -> Option<&'v str> {
        let s = self.req_str(o, path, key)?;
        match check(s) {
            Ok(()) => Some(s),
            Err(m) => {
                self.err(join(path, key), m);
                None
            }
        }
    }

    pub(crate) fn array<'v>(
        &mut self,
        v: &'v Value,
        path: &str,
        non_empty: bool,
    ) -> Option<&'v [Value]> {
        match v {
            Value::Array(a) if non_empty && a.is_empty() => {
                self.err(path, "must not be empty");
                None
            }
            Value::Array(a) => Some(a),
            _ => {
                self.err(path, "expected an array");
                None
            }
        }
    }

    /// Objects of a required (or optional) array, with their paths.
    pub(crate) fn objects<'v>(
        &mut self,
        o: &'v Map<String, Value>,
        path: &str,
        key: &str,
        required: bool,
        non_empty: bool,
    ) -> Vec<(String, &'v Map<String, Value>)> {
        let v = if required {
            self.req(o, path, key)
        } else {
            Self::opt(o, key)
        };
        let mut out = Vec::new();
        let p = join(path, key);
        let Some(a) = v.and_then(|v| self.array(v, &p, non_empty)) else {
            return out;
        };
        for (i, item) in a.iter().enumerate() {
            let ip = idx(&p, i);
            if let Some(obj) = self.object(item, &ip) {
                out.push((ip, obj));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------------------------

pub(crate) fn check_enum(s: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not one of {}", allowed.join(", ")))
    }
}

pub use crate::format::{
    ISO3166_ALPHA2, IpRange, Timestamp, format_rfc3339, hostname_matches, is_country,
    is_iso8601_duration, is_sha256_hex, is_uuid, parse_rfc3339, uuid_v4,
};
pub(crate) use crate::format::{
    check_country, check_duration, check_hostname, check_ip_range, check_rfc3339, check_sha256,
    check_uri, check_uuid,
};

fn check_region(s: &str) -> Result<(), String> {
    if is_country(s) || matches!(s, "EU" | "EEA" | "WW") {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an ISO 3166-1 alpha-2 code or EU, EEA, WW"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Template and field documentation
// ---------------------------------------------------------------------------------------------

/// A complete, valid example statement (what `attest new` prints). Replace every value; the
/// `attestation_id` is a fixed example UUID, generate a fresh one per claim.
#[must_use]
pub fn template() -> Value {
    let digest = "0000000000000000000000000000000000000000000000000000000000000000";
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "setup.exe", "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "attestation_id": "00000000-0000-4000-8000-000000000000",
            "status": "active",
            "issued_at": "2026-01-01T00:00:00Z",
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2027-01-01T00:00:00Z",
            "vendor": {
                "legal_name": "Example AV AG",
                "jurisdiction": "CH",
                "ownership_chain": [
                    {"legal_name": "Example Holding Ltd", "jurisdiction": "GB", "relationship": "parent"}
                ]
            },
            "product": {
                "name": "Example Endpoint Security",
                "versions": {"min": "12.0", "max": "12.9"},
                "platforms": ["windows", "macos"],
                "artifacts": [{"name": "setup.exe", "sha256": digest}],
                "update_channels": ["stable"]
            },
            "data_flows": [{
                "category": "threat_samples",
                "items": ["file_hashes", "suspicious_files"],
                "purpose": ["new_threat_detection"],
                "consent": "opt_in",
                "user_regions": ["EU", "CH"],
                "destinations": [{
                    "hostnames": ["ksn-eu.vendor.example"],
                    "ip_ranges": ["192.0.2.0/24"],
                    "ports": [443]
                }],
                "processing_locations": [{
                    "country": "CH",
                    "city": "Zurich",
                    "facility_operator": "Example DC AG",
                    "role": "storage"
                }],
                "remote_access_jurisdictions": ["CH"],
                "processors": [{
                    "legal_name": "Example DC AG",
                    "jurisdiction": "CH",
                    "role": "sub-processor",
                    "service": "colocation"
                }],
                "onward_transfers": [{"to_country": "DE", "mechanism": "adequacy"}],
                "retention": "P1Y",
                "protections": ["tls1.3", "encryption_at_rest"]
            }],
            "excluded_jurisdictions": ["RU"],
            "evidence": [{
                "type": "soc2_type2",
                "issuer": "Example Audit LLP",
                "period_start": "2025-01-01T00:00:00Z",
                "period_end": "2025-12-31T23:59:59Z",
                "scope": "data-flow controls",
                "uri": "https://vendor.example/reports/soc2-2025.pdf",
                "sha256": digest
            }]
        }
    })
}

/// Documentation of every statement field, as `(path, description)` (for `attest new --explain`).
#[must_use]
pub fn explain() -> Vec<(&'static str, &'static str)> {
    vec![
        ("_type", "always \"https://in-toto.io/Statement/v1\""),
        (
            "subject[]",
            "the product's artifacts: {name, digest: {sha256}}; must equal predicate.product.artifacts",
        ),
        (
            "predicateType",
            "always \"https://attestlog.dev/data-flows/v1\"",
        ),
        (
            "predicate.attestation_id",
            "lowercase UUID, stable across versions of the same claim; owned by the vendor that first used it",
        ),
        (
            "predicate.supersedes",
            "optional {attestation_id, log_index} of the version this one replaces (same attestation_id, same vendor)",
        ),
        (
            "predicate.status",
            "active, revoked or withdrawn (revocation is a new signed entry)",
        ),
        (
            "predicate.issued_at",
            "RFC 3339 time of issue, e.g. 2026-11-01T00:00:00Z",
        ),
        ("predicate.valid_from", "RFC 3339 start of validity"),
        (
            "predicate.valid_until",
            "RFC 3339 end of validity, later than valid_from",
        ),
        (
            "predicate.vendor.legal_name",
            "legal name; must be the vendor the signing key is enrolled for",
        ),
        (
            "predicate.vendor.jurisdiction",
            "ISO 3166-1 alpha-2 country of incorporation",
        ),
        (
            "predicate.vendor.ownership_chain[]",
            "{legal_name, jurisdiction, relationship} of parents and controlling owners (may be empty)",
        ),
        ("predicate.product.name", "product name"),
        (
            "predicate.product.versions",
            "{min, max} or a non-empty list of versions",
        ),
        (
            "predicate.product.platforms[]",
            "non-empty list of platforms, e.g. windows",
        ),
        (
            "predicate.product.artifacts[]",
            "{name, sha256 (lowercase hex)}; the statement subject",
        ),
        (
            "predicate.product.update_channels[]",
            "optional update channels",
        ),
        (
            "predicate.data_flows[]",
            "non-empty; one entry per data category and set of user regions",
        ),
        (
            "predicate.data_flows[].category",
            "threat_samples, telemetry, url_reputation, license_account, crash_dumps, diagnostic_logs, content_data or other:<text>",
        ),
        (
            "predicate.data_flows[].items[]",
            "optional data items in the category",
        ),
        (
            "predicate.data_flows[].purpose[]",
            "non-empty list of purposes",
        ),
        (
            "predicate.data_flows[].consent",
            "opt_in, opt_out or required",
        ),
        (
            "predicate.data_flows[].user_regions[]",
            "ISO 3166-1 alpha-2 codes or EU, EEA, WW (worldwide)",
        ),
        (
            "predicate.data_flows[].destinations[]",
            "{hostnames[], ip_ranges[] (address or CIDR), ports[]}; at least one host name or range",
        ),
        (
            "predicate.data_flows[].processing_locations[]",
            "{country, city, facility_operator, role: storage/processing/analysis}",
        ),
        (
            "predicate.data_flows[].remote_access_jurisdictions[]",
            "countries from which the data can be accessed remotely",
        ),
        (
            "predicate.data_flows[].processors[]",
            "{legal_name, jurisdiction, role, service} of processors and sub-processors",
        ),
        (
            "predicate.data_flows[].onward_transfers[]",
            "optional {to_country, mechanism}",
        ),
        (
            "predicate.data_flows[].retention",
            "ISO 8601 duration, e.g. P1Y, P30D, PT12H",
        ),
        (
            "predicate.data_flows[].protections[]",
            "optional technical protections",
        ),
        (
            "predicate.excluded_jurisdictions[]",
            "optional negative claim: no storage, processing, remote access or onward transfer in these countries",
        ),
        (
            "predicate.evidence[]",
            "optional {type, issuer, period_start, period_end, scope, uri, sha256}; type is soc2_type1, soc2_type2, iso27001, source_review, pen_test, network_measurement or other",
        ),
    ]
}

/// Fuzz entry point: parse `data` as a statement payload; on success, the statement's
/// canonical bytes must parse to the same statement. Panics only if that round trip breaks.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) {
    if let Ok(st) = parse_statement(data) {
        let canon = st.canonical_bytes();
        let again = parse_statement(&canon)
            .unwrap_or_else(|e| panic!("canonical statement does not re-parse: {e:?}"));
        assert_eq!(
            again.canonical_bytes(),
            canon,
            "canonical form is not stable"
        );
        assert_eq!(again.predicate.attestation_id, st.predicate.attestation_id);
        assert_eq!(again.subject.len(), st.subject.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_capped_with_a_count_of_the_rest() {
        let mut v = template();
        let bad = "x".repeat(2000);
        v["predicate"]["data_flows"][0]["remote_access_jurisdictions"] =
            serde_json::json!(vec![bad.as_str(); 5000]);
        let errs = validate(&v);
        assert_eq!(errs.len(), MAX_REPORTED_PROBLEMS + 1);
        let last = errs.last().unwrap();
        assert_eq!(last.path, "");
        let more: usize = last.message.split(' ').next().unwrap().parse().unwrap();
        assert!(more >= 5000 - MAX_REPORTED_PROBLEMS, "{}", last.message);
        // Each message is short, whatever it quotes.
        assert!(
            errs.iter()
                .all(|e| e.message.len() <= MAX_PROBLEM_MESSAGE + 3)
        );
        // Under the cap, nothing is added.
        let mut one = template();
        one["predicate"]["data_flows"][0]["remote_access_jurisdictions"] =
            serde_json::json!(["zz"]);
        assert_eq!(validate(&one).len(), 1);
        assert_eq!(truncated("ab€cd".into(), 3), "ab…");
    }

    #[test]
    fn field_paths() {
        assert_eq!(join("", "predicate"), "predicate");
        assert_eq!(join("predicate", "vendor"), "predicate.vendor");
        for (i, want) in [
            (0, "a[0]"),
            (9, "a[9]"),
            (10, "a[10]"),
            (12_345, "a[12345]"),
        ] {
            assert_eq!(idx("a", i), want);
        }
        assert_eq!(idx("", usize::MAX), format!("[{}]", usize::MAX));
    }
    use crate::dsse::Envelope;

    /// Source: docs/test-vectors.md, "DSSE attestation example" (payload = the statement).
    fn vector_payload() -> Vec<u8> {
        let entry = include_str!("../testdata/dsse_vector_entry.json");
        Envelope::parse_entry(entry.trim_end().as_bytes())
            .unwrap()
            .payload
    }

    fn vector_value() -> Value {
        serde_json::from_slice(&vector_payload()).unwrap()
    }

    #[test]
    fn vector_statement_validates() {
        let payload = vector_payload();
        let st = parse_statement(&payload).unwrap();
        assert_eq!(st.vendor_legal_name(), "Example AV AG");
        assert_eq!(st.attestation_id(), "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab");
        assert_eq!(st.predicate.status, Status::Active);
        assert_eq!(st.predicate.data_flows[0].category, Category::ThreatSamples);
        assert_eq!(
            st.predicate.product.versions,
            Versions::Range {
                min: "12.0".into(),
                max: "12.9".into()
            }
        );
        // The vector payload is the JCS of the statement: the typed form re-encodes to it.
        assert_eq!(st.canonical_bytes(), payload);
        roundtrip_check(&payload);
    }

    #[test]
    fn template_validates_and_round_trips() {
        let t = template();
        let st = statement_from_value(t.clone()).unwrap();
        assert_eq!(serde_json::to_value(&st).unwrap(), t);
        roundtrip_check(&serde_json::to_vec(&t).unwrap());
        let paths: Vec<&str> = explain().into_iter().map(|(p, _)| p).collect();
        assert!(paths.contains(&"predicate.data_flows[].retention"));
        assert!(explain().iter().all(|(_, d)| !d.is_empty()));
    }

    #[test]
    fn unknown_fields_are_kept() {
        let mut v = vector_value();
        v["predicate"]["x_note"] = json!({"a": 1});
        v["extra_top"] = json!(true);
        v["predicate"]["data_flows"][0]["x"] = json!("y");
        let st = statement_from_value(v.clone()).unwrap();
        assert_eq!(st.predicate.extra["x_note"], json!({"a": 1}));
        assert_eq!(st.extra["extra_top"], json!(true));
        assert_eq!(serde_json::to_value(&st).unwrap(), v);
    }

    /// Applies `edit` to the vector statement and returns the validation errors.
    fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<FieldError> {
        let mut v = vector_value();
        edit(&mut v);
        statement_from_value(v).unwrap_err()
    }

    fn fe(path: &str, message: &str) -> FieldError {
        FieldError::new(path, message)
    }

    #[test]
    fn broken_statements_report_path_and_message() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Edit, FieldError)> = vec![
            (
                Box::new(|v| v["_type"] = json!("https://in-toto.io/Statement/v0.1")),
                fe("_type", "expected \"https://in-toto.io/Statement/v1\""),
            ),
            (
                Box::new(|v| v["predicateType"] = json!("https://slsa.dev/provenance/v1")),
                fe(
                    "predicateType",
                    "expected \"https://attestlog.dev/data-flows/v1\"",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]
                        .as_object_mut()
                        .unwrap()
                        .remove("attestation_id");
                }),
                fe("predicate.attestation_id", "missing required field"),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["attestation_id"] = json!("6F1C2A4E-8B1D-4C3E-9F00-0123456789AB")
                }),
                fe(
                    "predicate.attestation_id",
                    "\"6F1C2A4E-8B1D-4C3E-9F00-0123456789AB\" is not a lowercase UUID (8-4-4-4-12 hex digits)",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["status"] = json!("paused")),
                fe(
                    "predicate.status",
                    "\"paused\" is not one of active, revoked, withdrawn",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["issued_at"] = json!("2026-02-30T00:00:00Z")),
                fe(
                    "predicate.issued_at",
                    "\"2026-02-30T00:00:00Z\" is not an RFC 3339 timestamp (e.g. 2026-11-01T00:00:00Z)",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["valid_until"] = json!("2026-11-01T00:00:00Z")),
                fe(
                    "predicate.valid_until",
                    "must be later than predicate.valid_from",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["valid_until"] = json!("2026-11-01T01:00:00+02:00")),
                fe(
                    "predicate.valid_until",
                    "must be later than predicate.valid_from",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["vendor"]["jurisdiction"] = json!("XX")),
                fe(
                    "predicate.vendor.jurisdiction",
                    "\"XX\" is not an ISO 3166-1 alpha-2 code",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["vendor"]["ownership_chain"][0]["jurisdiction"] = json!("uk")
                }),
                fe(
                    "predicate.vendor.ownership_chain[0].jurisdiction",
                    "\"uk\" is not an ISO 3166-1 alpha-2 code",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] =
                        json!("XX")
                }),
                fe(
                    "predicate.data_flows[0].processing_locations[0].country",
                    "\"XX\" is not an ISO 3166-1 alpha-2 code",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] =
                        json!("RU")
                }),
                fe(
                    "predicate.data_flows[0].processing_locations[0].country",
                    "\"RU\" is listed in excluded_jurisdictions",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["remote_access_jurisdictions"] =
                        json!(["CH", "RU"])
                }),
                fe(
                    "predicate.data_flows[0].remote_access_jurisdictions[1]",
                    "\"RU\" is listed in excluded_jurisdictions",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["processors"][0]["jurisdiction"] = json!("RU")
                }),
                fe(
                    "predicate.data_flows[0].processors[0].jurisdiction",
                    "\"RU\" is listed in excluded_jurisdictions",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["onward_transfers"] =
                        json!([{"to_country": "RU", "mechanism": "scc"}])
                }),
                fe(
                    "predicate.data_flows[0].onward_transfers[0].to_country",
                    "\"RU\" is listed in excluded_jurisdictions",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["user_regions"] = json!(["EU", "EUR"])
                }),
                fe(
                    "predicate.data_flows[0].user_regions[1]",
                    "\"EUR\" is not an ISO 3166-1 alpha-2 code or EU, EEA, WW",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["data_flows"][0]["category"] = json!("biometrics")),
                fe(
                    "predicate.data_flows[0].category",
                    "\"biometrics\" is not one of threat_samples, telemetry, url_reputation, license_account, crash_dumps, diagnostic_logs, content_data, other:<text>",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["data_flows"][0]["category"] = json!("other:")),
                fe(
                    "predicate.data_flows[0].category",
                    "\"other:\" needs a description after \"other:\"",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["data_flows"][0]["consent"] = json!("implied")),
                fe(
                    "predicate.data_flows[0].consent",
                    "\"implied\" is not one of opt_in, opt_out, required",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["processing_locations"][0]["role"] =
                        json!("backup")
                }),
                fe(
                    "predicate.data_flows[0].processing_locations[0].role",
                    "\"backup\" is not one of storage, processing, analysis",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["data_flows"][0]["retention"] = json!("1 year")),
                fe(
                    "predicate.data_flows[0].retention",
                    "\"1 year\" is not an ISO 8601 duration (e.g. P1Y, P30D, PT12H)",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["data_flows"][0]["destinations"][0]["ports"] =
                        json!([443, 70000])
                }),
                fe(
                    "predicate.data_flows[0].destinations[0].ports[1]",
                    "expected a port number (1-65535)",
                ),
            ),
            (
                Box::new(|v| v["predicate"]["data_flows"][0]["purpose"] = json!("detection")),
                fe("predicate.data_flows[0].purpose", "expected an array"),
            ),
            (
                Box::new(|v| v["predicate"]["data_flows"] = json!([])),
                fe("predicate.data_flows", "must not be empty"),
            ),
            (
                Box::new(|v| v["predicate"]["product"]["versions"] = json!([])),
                fe("predicate.product.versions", "must not be empty"),
            ),
            (
                Box::new(|v| v["predicate"]["product"]["versions"] = json!("12")),
                fe(
                    "predicate.product.versions",
                    "expected {min, max} or a non-empty list of versions",
                ),
            ),
            (
                Box::new(
                    |v| v["predicate"]["evidence"] = json!([{"type": "audit", "issuer": "A", "period_start": "2025-01-01T00:00:00Z", "period_end": "2025-12-31T00:00:00Z", "scope": "s", "uri": "https://a.example/r.pdf", "sha256": "aa".repeat(32)}]),
                ),
                fe(
                    "predicate.evidence[0].type",
                    "\"audit\" is not one of soc2_type1, soc2_type2, iso27001, source_review, pen_test, network_measurement, other",
                ),
            ),
            (
                Box::new(
                    |v| v["predicate"]["supersedes"] = json!({"attestation_id": "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab", "log_index": -1}),
                ),
                fe(
                    "predicate.supersedes.log_index",
                    "expected an integer from 0 to 2^53-1",
                ),
            ),
            (
                Box::new(
                    |v| v["predicate"]["supersedes"] = json!({"attestation_id": "00000000-0000-4000-8000-000000000000", "log_index": 3}),
                ),
                fe(
                    "predicate.supersedes.attestation_id",
                    "must equal predicate.attestation_id",
                ),
            ),
            (
                Box::new(|v| v["subject"][0]["digest"]["sha256"] = json!("bb".repeat(32))),
                fe(
                    "subject",
                    "must list exactly the artifacts of predicate.product.artifacts (name and sha256)",
                ),
            ),
            (
                Box::new(|v| {
                    v["predicate"]["product"]["artifacts"][0]["sha256"] = json!("AA".repeat(32))
                }),
                fe(
                    "predicate.product.artifacts[0].sha256",
                    &format!(
                        "{:?} is not a lowercase hex SHA-256 digest",
                        "AA".repeat(32)
                    ),
                ),
            ),
            (
                Box::new(|v| v["predicate"]["vendor"] = json!("Example AV AG")),
                fe("predicate.vendor", "expected an object"),
            ),
            (
                Box::new(|v| v["predicate"]["vendor"]["legal_name"] = json!(" ")),
                fe("predicate.vendor.legal_name", "must not be empty"),
            ),
        ];
        for (i, (edit, want)) in cases.into_iter().enumerate() {
            let got = errors_after(edit);
            assert_eq!(got, vec![want], "case {i}");
        }
    }

    #[test]
    fn reports_every_error_at_once() {
        let errs = errors_after(|v| {
            v["predicate"]["status"] = json!(7);
            v["predicate"]["data_flows"][0]["processing_locations"][0]["country"] = json!("RU");
            v["predicate"]["data_flows"][0]["remote_access_jurisdictions"] = json!(["ZZ", "RU"]);
            v["predicate"]["excluded_jurisdictions"] = json!(["RU", "SU"]);
            v.as_object_mut().unwrap().remove("subject");
        });
        let got: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("subject", "missing required field"),
                ("predicate.status", "expected a string"),
                (
                    "predicate.excluded_jurisdictions[1]",
                    "\"SU\" is not an ISO 3166-1 alpha-2 code"
                ),
                (
                    "predicate.data_flows[0].remote_access_jurisdictions[0]",
                    "\"ZZ\" is not an ISO 3166-1 alpha-2 code"
                ),
                (
                    "predicate.data_flows[0].processing_locations[0].country",
                    "\"RU\" is listed in excluded_jurisdictions"
                ),
                (
                    "predicate.data_flows[0].remote_access_jurisdictions[1]",
                    "\"RU\" is listed in excluded_jurisdictions"
                ),
            ]
        );
    }

    #[test]
    fn payload_level_errors() {
        let e = parse_statement(b"not json").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "");
        assert!(e[0].message.starts_with("payload is not valid json"));
        let e = parse_statement(br#"{"_type":"a","_type":"b"}"#).unwrap_err();
        assert!(e[0].message.contains("duplicate key"), "{:?}", e);
        let e = parse_statement(b"[]").unwrap_err();
        assert_eq!(e, vec![fe("", "expected an object")]);
    }

    #[test]
    fn log_index_must_be_a_safe_integer() {
        let errs = errors_after(|v| {
            v["predicate"]["supersedes"] = json!({
                "attestation_id": "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab",
                "log_index": MAX_SAFE_INTEGER + 1
            });
        });
        assert_eq!(errs[0].path, "predicate.supersedes.log_index");
    }

    #[test]
    fn version_list_and_optional_fields() {
        let mut v = vector_value();
        v["predicate"]["product"]["versions"] = json!(["12.0", "12.1"]);
        v["predicate"]["supersedes"] =
            json!({"attestation_id": "6f1c2a4e-8b1d-4c3e-9f00-0123456789ab", "log_index": 7});
        v["predicate"]["data_flows"][0]["category"] = json!("other:usage statistics");
        let st = statement_from_value(v).unwrap();
        assert_eq!(
            st.predicate.product.versions,
            Versions::List(vec!["12.0".into(), "12.1".into()])
        );
        assert_eq!(st.predicate.supersedes.as_ref().unwrap().log_index, 7);
        assert_eq!(
            st.predicate.data_flows[0].category,
            Category::Other("usage statistics".into())
        );
    }

    #[test]
    fn rfc3339_formatting_round_trips() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_478_400), "2026-11-24T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        for secs in [0u64, 951_782_400, 1_795_478_400, 4_102_444_799] {
            let t = parse_rfc3339(&format_rfc3339(secs)).unwrap();
            assert_eq!(u64::try_from(t.unix_seconds).unwrap(), secs);
        }
    }

    #[test]
    fn rfc3339_parser() {
        let t = |s| parse_rfc3339(s).map(|t| (t.unix_seconds, t.nanos));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(t("2000-03-01T00:00:00Z"), Some((951_868_800, 0)));
        assert_eq!(
            t("2024-02-29T12:00:00.5+01:00"),
            Some((1_709_204_400, 500_000_000))
        );
        assert_eq!(
            t("1969-12-31T23:59:59.123456789123Z"),
            Some((-1, 123_456_789))
        );
        assert_eq!(t("2026-11-01t00:00:00z"), t("2026-11-01T00:00:00Z"));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01 00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00.Z",
            "2026-11-01T00:00:00+0100",
            "2026-11-01T00:00:00+24:00",
            "2026-11-01",
            "+2026-11-01T00:00:00Z",
            "2026-11-01T00:00:00Z ",
            "２026-11-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        for ok in [
            "P1Y",
            "P30D",
            "PT12H",
            "P1Y6M",
            "P2W",
            "P1DT12H30M5S",
            "PT0S",
            "P0D",
        ] {
            assert!(is_iso8601_duration(ok), "{ok}");
        }
        for bad in [
            "", "P", "PT", "1Y", "P1", "PY", "P1D1Y", "P1YT", "P1H", "PT1D", "P-1D", "p1y", "P1.5Y",
        ] {
            assert!(!is_iso8601_duration(bad), "{bad}");
        }
    }

    #[test]
    fn country_list() {
        assert_eq!(ISO3166_ALPHA2.len(), 249);
        assert!(ISO3166_ALPHA2.windows(2).all(|w| w[0] < w[1]));
        for c in ["CH", "GB", "RU", "US", "SS", "BQ", "AX"] {
            assert!(is_country(c), "{c}");
        }
        for c in ["EU", "UK", "XK", "SU", "ch", "", "CHE"] {
            assert!(!is_country(c), "{c}");
        }
    }

    #[test]
    fn hostnames_ip_ranges_uuids() {
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(is_uuid(&uuid_v4([0x5a; 16])));
        assert!(check_hostname("ksn-eu.vendor.example").is_ok());
        assert!(check_hostname("*.vendor.example").is_ok());
        for bad in ["", "a..b", "-a.b", "UPPER.example", "a b.example", "a.*.b"] {
            assert!(check_hostname(bad).is_err(), "{bad}");
        }
        for ok in ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"] {
            assert!(check_ip_range(ok).is_ok(), "{ok}");
        }
        for bad in ["192.0.2.0/33", "192.0.2.0/", "10.0.0/8", "::/129", "x"] {
            assert!(check_ip_range(bad).is_err(), "{bad}");
        }
        assert!(is_uuid("6f1c2a4e-8b1d-4c3e-9f00-0123456789ab"));
        assert!(!is_uuid("6f1c2a4e8b1d-4c3e-9f00-0123456789ab0"));
    }

    #[test]
    fn ip_ranges_match_by_prefix() {
        let r = IpRange::parse("192.0.2.0/24").unwrap();
        assert!(r.contains("192.0.2.77".parse().unwrap()));
        assert!(!r.contains("192.0.3.1".parse().unwrap()));
        assert!(!r.contains("2001:db8::1".parse().unwrap()));
        let all = IpRange::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let one = IpRange::parse("198.51.100.7").unwrap();
        assert_eq!(one.prefix, 32);
        assert!(one.contains("198.51.100.7".parse().unwrap()));
        assert!(!one.contains("198.51.100.8".parse().unwrap()));
        let v6 = IpRange::parse("2001:db8:1::/48").unwrap();
        assert!(v6.contains("2001:db8:1:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:2::1".parse().unwrap()));
        assert!(
            IpRange::parse("::/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        for bad in [
            "192.0.2.0/33",
            "2001:db8::/129",
            "192.0.2.0/",
            "192.0.2.0/+1",
            "x/8",
            "1.2.3",
        ] {
            assert!(IpRange::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn wildcard_hostnames_need_a_label_in_front() {
        assert!(hostname_matches(
            "ksn.vendor.example",
            "KSN.vendor.example."
        ));
        assert!(!hostname_matches(
            "ksn.vendor.example",
            "x.ksn.vendor.example"
        ));
        assert!(hostname_matches("*.vendor.example", "ksn.vendor.example"));
        assert!(hostname_matches("*.vendor.example", "a.b.vendor.example"));
        assert!(!hostname_matches("*.vendor.example", "vendor.example"));
        assert!(!hostname_matches("*.vendor.example", "evilvendor.example"));
        assert!(!hostname_matches("*.vendor.example", ".vendor.example"));
    }
}
