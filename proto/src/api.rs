//! JSON types of the HTTP API (DESIGN.md §4), shared by the server and the client.
//!
//! Hashes and signatures are standard padded base64 in JSON; entries are base64 of their
//! canonical bytes.

use serde::{Deserialize, Serialize};

use crate::hash::Hash;

/// Error body: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code (`bad_request`, `unprocessable`, …).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Field path the error refers to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem found, for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldProblem>,
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// Field path, e.g. `predicate.data_flows[0].processing_locations[0].country`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// `GET /v1/proof/inclusion` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Leaf index.
    pub index: u64,
    /// Tree size the proof is for.
    pub tree_size: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// Proof hashes, leaf to root.
    pub hashes: Vec<Hash>,
}

/// `GET /v1/proof/consistency` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Smaller tree size.
    pub first: u64,
    /// Larger tree size.
    pub second: u64,
    /// Proof hashes.
    pub hashes: Vec<Hash>,
}

/// The enrolment part of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptEnrolment {
    /// Base64 of the enrolment entry bytes.
    pub entry: String,
    /// c2sp.org/tlog-proof@v1 text against the same checkpoint as the entry's proof.
    pub proof: String,
}

/// An offline-verifiable receipt (DESIGN.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Base64 of the entry bytes.
    pub entry: String,
    /// c2sp.org/tlog-proof@v1 text.
    pub proof: String,
    /// The enrolment of the signing key (absent for enrolment entries themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolment: Option<ReceiptEnrolment>,
}

/// `POST /v1/entries` answer (201 new, 200 duplicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// Log index.
    pub index: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// Signed checkpoint note containing the entry.
    pub checkpoint: String,
    /// Inclusion proof against `checkpoint`.
    pub inclusion_proof: InclusionProof,
    /// The receipt.
    pub receipt: Receipt,
}

/// `POST /v1/vendors` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorRequest {
    /// Vendor legal name.
    pub vendor: String,
    /// Vendor verifier key string.
    pub key: String,
    /// `enrol` or `revoke`.
    pub action: String,
    /// The key's role on enrolment (DESIGN.md §13): `vendor` (the default) or `verifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `POST /v1/vendors` answer (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorResponse {
    /// Index of the enrolment entry.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// Signed checkpoint containing it.
    pub checkpoint: String,
}

/// One key in `GET /v1/vendors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorKey {
    /// Verifier key string.
    pub key: String,
    /// Key ID (8 hex).
    pub key_id: String,
    /// Index of the enrolment entry.
    pub enrolled_at: u64,
    /// Index of the revocation entry, if revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// The key's role: `vendor` or `verifier` (DESIGN.md §13); absent from servers that do
    /// not say (vendor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One vendor in `GET /v1/vendors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vendor {
    /// Legal name.
    pub vendor: String,
    /// Keys, in enrolment order.
    pub keys: Vec<VendorKey>,
}

/// `GET /v1/vendors` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorList {
    /// Vendors by name.
    pub vendors: Vec<Vendor>,
}

/// Limits advertised in `GET /v1/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest entry in bytes.
    pub max_entry_bytes: u64,
    /// Largest request body in bytes.
    pub max_body_bytes: u64,
    /// Per-vendor quota rate (entries/s, 0 = none).
    pub quota_rate: f64,
    /// Per-vendor quota burst.
    pub quota_burst: f64,
    /// Largest `POST /v1/vendors` body in bytes.
    #[serde(default)]
    pub max_vendor_body_bytes: u64,
    /// Largest request head (request line and headers) in bytes; beyond it, 431.
    #[serde(default)]
    pub max_header_bytes: u64,
    /// Time allowed to receive a request head, and the longest a keep-alive connection
    /// idles, in milliseconds.
    #[serde(default)]
    pub header_read_timeout_ms: u64,
    /// Time allowed to read and answer a whole request, in milliseconds; beyond it, 408.
    #[serde(default)]
    pub request_timeout_ms: u64,
    /// Most requests handled at once (each until its answer is sent); beyond it, 503 with
    /// `Retry-After`.
    #[serde(default)]
    pub max_in_flight: u64,
    /// Most open connections; a new one beyond it closes the connection idle the longest, or
    /// waits in the listen queue.
    #[serde(default)]
    pub max_connections: u64,
    /// Least idle time, in ms, of a connection closed to make room at the connection cap.
    #[serde(default)]
    pub evict_idle_after_ms: u64,
    /// Byte budget of the server's tile cache.
    #[serde(default)]
    pub tile_cache_bytes: u64,
    /// Byte budget of the page caches of the server's SQLite read connections, all together
    /// (0 on PostgreSQL). With the tile cache, the memory the server's caches may hold.
    #[serde(default)]
    pub read_cache_bytes: u64,
    /// Most entries in one `GET /v1/search` page.
    #[serde(default)]
    pub max_search_results: u64,
    /// Most checkpoints in one `GET /v1/checkpoints` page.
    #[serde(default)]
    pub max_checkpoints: u64,
}

/// `GET /v1/log` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogInfo {
    /// Log origin.
    pub origin: String,
    /// Log verifier key string (the current key).
    pub verifier_key: String,
    /// Every key that signs checkpoints now: the current key first, then the previous keys
    /// of a key rotation until its overlap ends. Verifiers that know any of them accept the
    /// checkpoints.
    #[serde(default)]
    pub verifier_keys: Vec<String>,
    /// Current tree size.
    pub tree_size: u64,
    /// The index from which the statement-identity and version-chain rules apply (DESIGN.md
    /// §10): 0 for a log that always enforced them, else the tree size when it was upgraded.
    /// Entries below it are judged by the rules they were logged under.
    #[serde(default)]
    pub claims_from: u64,
    /// The index from which every SCITT signed statement has a registration policy entry
    /// below it (DESIGN.md §12): 0 for a log that always logged the policy in force before its
    /// first signed statement, else the tree size when it was upgraded. Below it, a signed
    /// statement with no policy entry below it was admitted under the built-in policy.
    #[serde(default)]
    pub policies_from: u64,
    /// The SCITT registration policy in force in the published tree: its latest policy entry
    /// (none before the first is logged).
    #[serde(default)]
    pub registration_policy: Option<crate::registration::RegistrationPolicy>,
    /// tlog-policy text the log is configured with (witnesses, quorum), if any.
    #[serde(default)]
    pub witness_policy: Option<String>,
    /// Limits.
    pub limits: Limits,
}

/// What an entry holds, as `GET /v1/entries/{index}` names it in `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A data-flow attestation (an in-toto statement of any other predicate type).
    Attestation,
    /// A verification statement (predicate type
    /// [`crate::verification::PREDICATE_TYPE`], DESIGN.md §13).
    Verification,
    /// A key enrolment or revocation (any payload type other than in-toto or the
    /// registration policy's).
    Enrolment,
    /// A SCITT registration policy (payload type
    /// [`crate::registration::PAYLOAD_TYPE_REGISTRATION_POLICY`], DESIGN.md §12).
    RegistrationPolicy,
}

impl EntryKind {
    /// The kind of an entry whose payload has type `payload_type` and parses as `payload`
    /// (`Null` when it is not JSON). Decides the name only; it validates nothing.
    #[must_use]
    pub fn of_payload(payload_type: &str, payload: &serde_json::Value) -> Self {
        if payload_type == crate::registration::PAYLOAD_TYPE_REGISTRATION_POLICY {
            Self::RegistrationPolicy
        } else if payload_type != crate::predicate::PAYLOAD_TYPE_INTOTO {
            Self::Enrolment
        } else if crate::verification::is_verification(payload) {
            Self::Verification
        } else {
            Self::Attestation
        }
    }

    /// The name in `kind`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attestation => "attestation",
            Self::Verification => "verification",
            Self::Enrolment => "enrolment",
            Self::RegistrationPolicy => "registration_policy",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `GET /v1/entries/{index}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryResponse {
    /// Log index.
    pub index: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// Base64 of the entry bytes.
    pub entry: String,
    /// `attestation`, `verification` or `enrolment` ([`EntryKind`]): a convenience view of
    /// the payload, not verified.
    pub kind: String,
    /// The decoded payload (statement or enrolment).
    pub payload: serde_json::Value,
    /// Checkpoint the receipt is against.
    pub checkpoint: String,
    /// Receipt against the latest checkpoint.
    pub receipt: Receipt,
}

/// What a search term names: the query parameters of `GET /v1/search` and the `kind`
/// column of the search index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchKind {
    /// `predicate.vendor.legal_name`
    Vendor,
    /// `predicate.product.name`
    Product,
    /// A country of processing, remote access, a processor or an onward transfer.
    Country,
    /// A data-flow category.
    Category,
    /// `predicate.attestation_id` (answered from the attestations table's own index).
    AttestationId,
    /// A verification's `predicate.verdict` (DESIGN.md §13).
    Verdict,
    /// A verification's subject: the log index of the attestation it verifies.
    Subject,
    /// A verification's `predicate.verifier.legal_name`.
    Verifier,
}

impl SearchKind {
    /// Every kind.
    pub const ALL: [Self; 8] = [
        Self::Vendor,
        Self::Product,
        Self::Country,
        Self::Category,
        Self::AttestationId,
        Self::Verdict,
        Self::Subject,
        Self::Verifier,
    ];

    /// Whether the kind names verifications (searched among verifications) rather than
    /// attestations.
    #[must_use]
    pub fn of_verifications(self) -> bool {
        matches!(self, Self::Verdict | Self::Subject | Self::Verifier)
    }

    /// The name in queries and in the search index.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vendor => "vendor",
            Self::Product => "product",
            Self::Country => "country",
            Self::Category => "category",
            Self::AttestationId => "attestation_id",
            Self::Verdict => "verdict",
            Self::Subject => "subject",
            Self::Verifier => "verifier",
        }
    }

    /// The kind named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One hit of `GET /v1/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Log index.
    pub index: u64,
    /// Attestation id.
    pub attestation_id: String,
    /// Vendor legal name.
    pub vendor: String,
    /// Product name.
    pub product: String,
    /// Predicate status.
    pub status: String,
    /// `valid_until`.
    pub valid_until: String,
    /// `supersedes.log_index`: the version this one names as the one it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<u64>,
    /// Whether this is the current version of its attestation (the head of its chain of
    /// versions in the tree searched, DESIGN.md §10); absent from servers that do not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

/// One verification in `GET /v1/search` (a search by `verdict`, `subject` or `verifier`,
/// DESIGN.md §13). What it says is verified by fetching the entry, like any entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationHit {
    /// Log index of the verification.
    pub index: u64,
    /// `predicate.verifier.legal_name`.
    pub verifier: String,
    /// Log index of the verified attestation.
    pub subject: u64,
    /// Its `attestation_id`.
    pub attestation_id: String,
    /// `consistent`, `contradicted` or `inconclusive`.
    pub verdict: String,
    /// `supersedes.log_index`: the verification this one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<u64>,
    /// `predicate.issued_at`.
    pub issued_at: String,
}

/// `GET /v1/search` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Attestation hits, newest first (empty for a search of verifications).
    pub entries: Vec<SearchHit>,
    /// Verification hits, newest first (a search by `verdict`, `subject` or `verifier`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<VerificationHit>,
    /// Cursor for the next page (`before=`), if there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// One stored checkpoint in `GET /v1/checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// Tree size.
    pub size: u64,
    /// The signed checkpoint note, with the cosignatures it was published with.
    pub note: String,
}

/// `GET /v1/checkpoints` answer: the log's growth, from its stored checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointList {
    /// Checkpoints, largest first.
    pub checkpoints: Vec<StoredCheckpoint>,
    /// Cursor for the next page (`before=`), if there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shape() {
        let b = ErrorBody {
            error: ErrorDetail {
                code: "bad_request".into(),
                message: "m".into(),
                field: None,
                details: vec![],
            },
        };
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"error":{"code":"bad_request","message":"m"}}"#
        );
    }

    #[test]
    fn receipt_rejects_unknown_fields_and_round_trips() {
        let r = Receipt {
            entry: "AA==".into(),
            proof: "p".into(),
            enrolment: Some(ReceiptEnrolment {
                entry: "AQ==".into(),
                proof: "q".into(),
            }),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Receipt>(&s).unwrap(), r);
        assert!(serde_json::from_str::<Receipt>(r#"{"entry":"","proof":"","x":1}"#).is_err());
    }

    #[test]
    fn entry_kind_names_verifications_apart_from_attestations() {
        use crate::predicate::PAYLOAD_TYPE_INTOTO;
        let attestation = crate::predicate::template();
        let verification = crate::verification::template();
        for (payload_type, payload, kind) in [
            (PAYLOAD_TYPE_INTOTO, &attestation, EntryKind::Attestation),
            (PAYLOAD_TYPE_INTOTO, &verification, EntryKind::Verification),
            (
                PAYLOAD_TYPE_INTOTO,
                &serde_json::Value::Null,
                EntryKind::Attestation,
            ),
            (
                crate::enrolment::PAYLOAD_TYPE_ENROLMENT,
                &verification,
                EntryKind::Enrolment,
            ),
        ] {
            let got = EntryKind::of_payload(payload_type, payload);
            assert_eq!(got, kind);
            assert_eq!(
                serde_json::to_value(got).unwrap(),
                serde_json::Value::from(got.as_str())
            );
        }
        assert_eq!(EntryKind::Verification.to_string(), "verification");
    }
}
