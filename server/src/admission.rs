//! Order-independent admission checks of a submitted DSSE envelope (DESIGN.md §3): parse,
//! canonicalise, size, payload and statement schema, and vendor signatures against the
//! current enrolment state. The sequencer re-checks what depends on order.

use attestlog_proto::Hash;
use attestlog_proto::api::FieldProblem;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::predicate::Status;
use axum::http::StatusCode;

use crate::http::error::ApiError;
use attestlog_proto::keys::SignerKey;

use crate::rules::{Enrolments, RuleError};
use crate::sequencer::Admitted;
use crate::storage::{AttestationMeta, BatchEntry, EnrolmentRow, SearchTerm};

/// Largest entry (the tlog-tiles limit).
pub const MAX_ENTRY_BYTES: usize = 65_535;
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 128 * 1024;

/// Most enrolled-key signature verifications one submission may cause.
pub const MAX_SIGNATURE_CHECKS: usize = 4;

/// In-toto payload type.
pub const PAYLOAD_TYPE_INTOTO: &str = "application/vnd.in-toto+json";

/// A parsed, canonicalised submission (not yet signature-checked).
#[derive(Debug)]
pub struct Parsed {
    /// The envelope.
    pub envelope: Envelope,
    /// Canonical entry bytes.
    pub bytes: Vec<u8>,
    /// Leaf hash of the entry.
    pub leaf_hash: Hash,
}

/// Parses and canonicalises a body: 400 if it is not a DSSE envelope, 413 if too large.
///
/// # Errors
/// [`ApiError`] 400 or 413.
pub fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        ));
    }
    let envelope = Envelope::from_json(body)
        .map_err(|e| ApiError::bad_request(format!("not a DSSE envelope: {e}")))?;
    let bytes = envelope.canonical_bytes();
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "entry is {} bytes, more than the {MAX_ENTRY_BYTES}-byte limit; reference large evidence by uri and sha256",
                bytes.len()
            ),
        ));
    }
    let leaf_hash = Hash::leaf(&bytes);
    Ok(Parsed {
        envelope,
        bytes,
        leaf_hash,
    })
}

/// A statement that passed schema validation, with what storage and the sequencer need.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Metadata for ownership and search results.
    pub meta: AttestationMeta,
    /// Search terms.
    pub terms: Vec<SearchTerm>,
}

fn problems_to_error(problems: Vec<FieldProblem>) -> ApiError {
    let first = problems.first().cloned();
    let mut e = ApiError::unprocessable(
        first.as_ref().map(|p| p.field.clone()),
        first.map_or_else(
            || "invalid statement".to_owned(),
            |p| {
                if problems.len() > 1 {
                    format!(
                        "{}: {} (and {} more)",
                        p.field,
                        p.message,
                        problems.len() - 1
                    )
                } else {
                    format!("{}: {}", p.field, p.message)
                }
            },
        ),
    );
    e.details = problems;
    e
}

/// Validates an attestation payload (payload type, statement, predicate).
///
/// # Errors
/// 422 naming the first failing field, with every problem in `details`.
pub fn check_statement(envelope: &Envelope) -> Result<Statement, ApiError> {
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO {
        return Err(ApiError::unprocessable(
            Some("payloadType".into()),
            format!(
                "payloadType must be {PAYLOAD_TYPE_INTOTO:?}, got {:?}",
                envelope.payload_type
            ),
        ));
    }
    let statement =
        attestlog_proto::predicate::parse_statement(&envelope.payload).map_err(|errs| {
            problems_to_error(
                errs.into_iter()
                    .map(|e| FieldProblem {
                        field: e.path,
                        message: e.message,
                    })
                    .collect(),
            )
        })?;
    let p = &statement.predicate;
    let status = match p.status {
        Status::Active => "active",
        Status::Revoked => "revoked",
        Status::Withdrawn => "withdrawn",
    };
    let meta = AttestationMeta {
        attestation_id: p.attestation_id.clone(),
        vendor: p.vendor.legal_name.clone(),
        product: p.product.name.clone(),
        status: status.to_owned(),
        valid_until: p.valid_until.clone(),
        supersedes: p.supersedes.as_ref().map(|x| x.log_index),
    };
    let term = |kind: &'static str, value: &str| SearchTerm {
        kind,
        value: value.to_lowercase(),
    };
    // No attestation-ID term: searches by ID use the attestations table's own index.
    let mut terms = vec![term("vendor", &meta.vendor), term("product", &meta.product)];
    for flow in &p.data_flows {
        terms.push(term("category", &flow.category.as_string()));
        let countries = flow
            .processing_locations
            .iter()
            .map(|l| &l.country)
            .chain(&flow.remote_access_jurisdictions)
            .chain(flow.processors.iter().map(|x| &x.jurisdiction))
            .chain(
                flow.onward_transfers
                    .iter()
                    .flatten()
                    .map(|t| &t.to_country),
            );
        terms.extend(countries.map(|c| term("country", c)));
    }
    terms.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
    terms.dedup();
    Ok(Statement { meta, terms })
}

/// Verifies the vendor signatures: returns the key IDs of signatures that verify under an
/// enrolled, unrevoked key of `vendor`. Signatures with unknown key IDs are ignored; each
/// signature is verified at most once.
///
/// # Errors
/// 422 when no signature verifies under an enrolled key of the vendor.
pub fn check_signatures(
    envelope: &Envelope,
    vendor: &str,
    enrolments: &Enrolments,
) -> Result<Vec<String>, ApiError> {
    let pae = attestlog_proto::dsse::pae(&envelope.payload_type, &envelope.payload);
    let mut verified = Vec::new();
    let mut checks = 0;
    for (i, sig) in envelope.signatures.iter().enumerate() {
        for rec in enrolments.active_keys(&sig.keyid) {
            if rec.vendor != vendor {
                continue;
            }
            // Bounded work per request: a few enrolled keys per vendor at most.
            checks += 1;
            if checks > MAX_SIGNATURE_CHECKS {
                return Err(ApiError::unprocessable(
                    Some("signatures".into()),
                    format!("more than {MAX_SIGNATURE_CHECKS} signatures name enrolled keys"),
                ));
            }
            // A signature that names an enrolled key must verify: no junk beside a good one.
            if !rec.key.verify(&pae, &sig.sig) {
                return Err(ApiError::unprocessable(
                    Some(format!("signatures[{i}].sig")),
                    format!(
                        "signature does not verify under the enrolled key {} of {vendor:?}",
                        sig.keyid
                    ),
                ));
            }
            verified.push(sig.keyid.clone());
        }
    }
    if verified.is_empty() {
        enrolments
            .check_signers(
                vendor,
                &envelope
                    .signatures
                    .iter()
                    .map(|s| s.keyid.clone())
                    .collect::<Vec<_>>(),
            )
            .map_err(ApiError::from)?;
        return Err(ApiError::unprocessable(
            Some("signatures".into()),
            format!("no signature from an enrolled key of {vendor:?}"),
        ));
    }
    Ok(verified)
}

/// Keeps only the signatures that verified under the vendor's enrolled keys. A signature
/// with an unknown key ID is ignored for admission (DESIGN.md §3) and is not logged either:
/// otherwise anyone could append a junk signature to a vendor's old envelope and log its
/// statement again at a new index, replaying a superseded claim as the latest one. With the
/// extra signatures dropped, such a replay is the same entry and dedups to the original.
///
/// # Errors
/// 413 if re-encoding exceeds the entry limit (it cannot grow, so never in practice).
pub fn keep_verified_signatures(parsed: Parsed, verified: &[String]) -> Result<Parsed, ApiError> {
    if parsed
        .envelope
        .signatures
        .iter()
        .all(|s| verified.contains(&s.keyid))
    {
        return Ok(parsed);
    }
    let mut envelope = parsed.envelope;
    envelope.signatures.retain(|s| verified.contains(&s.keyid));
    let bytes = envelope.canonical_bytes();
    Ok(Parsed {
        leaf_hash: Hash::leaf(&bytes),
        envelope,
        bytes,
    })
}

/// Builds the storage record of an attestation.
#[must_use]
pub fn attestation_entry(parsed: &Parsed, st: Statement) -> BatchEntry {
    BatchEntry {
        data: parsed.bytes.clone(),
        leaf_hash: parsed.leaf_hash,
        terms: st.terms,
        attestation: Some(st.meta),
        enrolment: None,
    }
}

/// The sequencer submission of an enrolment or revocation: the entry signed by the log key.
///
/// # Errors
/// A malformed row.
pub fn enrolment(
    signer: &SignerKey,
    row: EnrolmentRow,
    issued_at: String,
) -> Result<Admitted, RuleError> {
    let data = crate::rules::enrolment_entry(signer, &row, issued_at)?;
    Ok(Admitted {
        entry: BatchEntry {
            leaf_hash: Hash::leaf(&data),
            data,
            terms: vec![],
            attestation: None,
            enrolment: Some(row),
        },
        signer_key_ids: vec![],
    })
}

/// An attestation for the sequencer's bulk path (tests, benchmarks): every admission check but
/// the signature, which the caller vouches for with `signer_key_id`; the sequencer still
/// applies the enrolment rules to that key.
///
/// # Errors
/// As [`parse`] and [`check_statement`].
pub fn bulk_attestation(envelope: &[u8], signer_key_id: &str) -> Result<Admitted, ApiError> {
    let parsed = parse(envelope)?;
    let st = check_statement(&parsed.envelope)?;
    Ok(Admitted {
        entry: attestation_entry(&parsed, st),
        signer_key_ids: vec![signer_key_id.to_owned()],
    })
}
