//! Admission of a submitted DSSE envelope (DESIGN.md §3, §10): parse and canonicalise here,
//! then the rule engine of `attestlog_proto::rules` — its order-independent half
//! ([`verify`]: schema, statement identity, signatures) and a first pass of its
//! order-dependent half ([`judge_now`]); the sequencer judges again in index order.

use attestlog_proto::Hash;
use attestlog_proto::dsse::Envelope;
use attestlog_proto::enrolment::{AdmissionError, EnrolmentState};
use attestlog_proto::keys::{SignerKey, VerifierKey};
use attestlog_proto::predicate::{Statement, Status};
use attestlog_proto::rules::{
    self, Candidate, Chain, Claim, Judgement, StatementPayload, verify_entry_parsed,
};

use crate::sequencer::{Admitted, SeqError};
use crate::storage::{
    AttestationMeta, BatchEntry, EnrolmentRow, LogStore, SearchKind, SearchTerm, StoreError,
    VerificationMeta,
};

pub mod pipeline;

pub use pipeline::{Admission, Pipeline, PolicyInForce, Queued, Submission};

/// Largest entry (the tlog-tiles limit).
pub const MAX_ENTRY_BYTES: usize = 65_535;
/// Default largest `POST /v1/entries` and `POST /entries` body (`[limits] max_body_bytes`).
pub const MAX_BODY_BYTES: usize = 128 * 1024;

/// Most enrolled-key signature verifications one submission may cause.
pub const MAX_SIGNATURE_CHECKS: usize = rules::MAX_SIGNATURE_CHECKS;

/// In-toto payload type.
pub const PAYLOAD_TYPE_INTOTO: &str = "application/vnd.in-toto+json";

/// Why a submission is not admitted. `http/` answers each with its status: 413 for the size
/// limits, 400 for a body that is not an envelope, 422 (or the rule engine's 409) for a
/// refusal, 429 for a quota, 503 for storage and the sequencer's queue.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The request body is larger than the body cap (the field).
    #[error("request body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// The body is not a DSSE envelope.
    #[error("not a DSSE envelope: {message}")]
    NotAnEnvelope {
        /// What is wrong.
        message: String,
        /// The envelope field at fault, if one is.
        field: Option<String>,
    },
    /// The canonical entry is larger than [`MAX_ENTRY_BYTES`].
    #[error(
        "entry is {0} bytes, more than the {MAX_ENTRY_BYTES}-byte limit; reference large evidence by uri and sha256"
    )]
    EntryTooLarge(usize),
    /// The envelope's payload type is not in-toto.
    #[error("payloadType must be {PAYLOAD_TYPE_INTOTO:?}, got {0:?}")]
    PayloadType(String),
    /// The rule engine (or the registration policy in force) refused the entry.
    #[error(transparent)]
    Refused(#[from] AdmissionError),
    /// An enrolment or a registration policy submitted as an entry: the log logs those itself.
    #[error("enrolments and registration policies are logged by the log itself")]
    LoggedByTheLog,
    /// The signing party's quota is spent.
    #[error("quota exceeded for vendor {party:?}")]
    Quota {
        /// The signing party (vendor or verifier).
        party: String,
        /// Seconds until the quota has room again.
        retry_after: u64,
    },
    /// The sequencer's queue is full or closed.
    #[error(transparent)]
    Sequencer(#[from] SeqError),
    /// Storage failed while judging.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

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

/// Parses and canonicalises a body under a body cap of `max_body` bytes (the configured
/// `max_body_bytes`): not a DSSE envelope, or too large, is refused.
///
/// # Errors
/// [`AdmitError::BodyTooLarge`], [`AdmitError::NotAnEnvelope`] or
/// [`AdmitError::EntryTooLarge`].
pub fn parse(body: &[u8], max_body: usize) -> Result<Parsed, AdmitError> {
    if body.len() > max_body {
        return Err(AdmitError::BodyTooLarge(max_body));
    }
    let envelope = Envelope::from_json(body).map_err(|e| AdmitError::NotAnEnvelope {
        message: e.to_string(),
        field: e.field(),
    })?;
    let bytes = envelope.canonical_bytes();
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(AdmitError::EntryTooLarge(bytes.len()));
    }
    let leaf_hash = Hash::leaf(&bytes);
    Ok(Parsed {
        envelope,
        bytes,
        leaf_hash,
    })
}

/// The storage record of an attestation: metadata for chains and search results, and search
/// terms.
#[must_use]
pub fn statement_record(st: &Statement) -> (AttestationMeta, Vec<SearchTerm>) {
    let p = &st.predicate;
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
        issued_at: p.issued_at.clone(),
    };
    let term = |kind: SearchKind, value: &str| SearchTerm {
        kind,
        value: value.to_lowercase(),
    };
    // No attestation-ID term: searches by ID use the attestations table's own index.
    let mut terms = vec![
        term(SearchKind::Vendor, &meta.vendor),
        term(SearchKind::Product, &meta.product),
    ];
    for flow in &p.data_flows {
        terms.push(term(SearchKind::Category, &flow.category.as_string()));
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
        terms.extend(countries.map(|c| term(SearchKind::Country, c)));
    }
    terms.sort_by(|a, b| (a.kind, &a.value).cmp(&(b.kind, &b.value)));
    terms.dedup();
    (meta, terms)
}

/// The order-independent checks of the rule engine ([`rules::verify_entry`]) for a submitted
/// attestation, against the enrolment state now. `payload` is the envelope's payload if the
/// duplicate lookup parsed it already ([`StatementPayload::of_envelope`]), so that it is not
/// parsed and hashed a second time; the entry's size is that of the canonical bytes [`parse`]
/// produced.
///
/// # Errors
/// [`AdmitError::PayloadType`] or [`AdmitError::Refused`].
pub fn verify(
    parsed: &Parsed,
    payload: Option<StatementPayload>,
    enrolments: &EnrolmentState,
    log_key: &VerifierKey,
) -> Result<Candidate, AdmitError> {
    let envelope = &parsed.envelope;
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO {
        return Err(AdmitError::PayloadType(envelope.payload_type.clone()));
    }
    Ok(verify_entry_parsed(
        envelope,
        parsed.bytes.len(),
        payload,
        enrolments,
        log_key,
    )?)
}

/// The order-dependent rules ([`rules::judge`]) for `c` as if it were logged next in the
/// published tree of `size`: a fast answer before queueing (the sequencer decides again).
///
/// # Errors
/// [`AdmitError::Refused`] (a version-chain refusal names the head) or
/// [`AdmitError::Storage`].
pub fn judge_now(
    store: &dyn LogStore,
    enrolments: &EnrolmentState,
    size: u64,
    c: &Candidate,
) -> Result<Judgement, AdmitError> {
    let (chain, subject) = match &c.claim {
        Claim::Attestation { statement, .. } => {
            let id = statement.attestation_id();
            let chain = store
                .attestation_chains(&[id])?
                .remove(id)
                .and_then(Chain::follow);
            (chain, None)
        }
        Claim::Verification { statement, .. } => {
            let p = &statement.predicate;
            let key = (p.verifier.legal_name.as_str(), p.subject_entry.log_index);
            let chain = store
                .verification_chains(&[key])?
                .remove(&rules::verification_chain_key(key.0, key.1))
                .and_then(|v| Chain::follow(v.into_iter().filter(|v| v.index < size)));
            let subject = (key.1 < size)
                .then(|| crate::storage::subject_facts(store, key.1))
                .transpose()?
                .flatten();
            (chain, subject)
        }
        Claim::Enrolment(_) | Claim::Policy(_) => (None, None),
    };
    // A statement stored at any index is a duplicate, published or not: the version chain
    // below counts stored versions too, so filtering the statement by the published size
    // would refuse a resubmission of a stored, unpublished statement as a version conflict
    // (422) instead of answering it as the entry it is.
    let statement = store.lookup_statement(&c.statement_hash)?;
    let ctx = rules::Context {
        enrolment: enrolments,
        statement,
        chain: chain.as_ref(),
        subject: subject.as_ref(),
        claims_from: store.claims_from()?,
    };
    Ok(rules::judge(&ctx, size, c)?)
}

/// Keeps only the signatures of the keys that verified (the candidate's signers). A signature
/// with an unknown key ID is ignored for admission (DESIGN.md §3) and is not logged either.
///
/// # Errors
/// None in practice (the entry only shrinks); kept fallible for the pipeline's `?`.
pub fn keep_verified_signatures(parsed: Parsed, c: &Candidate) -> Result<Parsed, AdmitError> {
    let ids: Vec<String> = match &c.claim {
        Claim::Attestation { signers, .. } | Claim::Verification { signers, .. } => {
            signers.iter().map(VerifierKey::key_id_hex).collect()
        }
        Claim::Enrolment(_) | Claim::Policy(_) => return Ok(parsed),
    };
    if parsed
        .envelope
        .signatures
        .iter()
        .all(|s| ids.contains(&s.keyid))
    {
        return Ok(parsed);
    }
    let mut envelope = parsed.envelope;
    envelope.signatures.retain(|s| ids.contains(&s.keyid));
    let bytes = envelope.canonical_bytes();
    Ok(Parsed {
        leaf_hash: Hash::leaf(&bytes),
        envelope,
        bytes,
    })
}

/// The sequencer submission of a registration policy entry (DESIGN.md §12): `policy` in a DSSE
/// envelope signed by the log key.
#[must_use]
pub fn policy_entry(
    policy: attestlog_proto::registration::RegistrationPolicy,
    log_key: &SignerKey,
) -> Admitted {
    let data = policy.to_envelope(log_key).canonical_bytes();
    let leaf = Hash::leaf(&data);
    admitted(data, leaf, Candidate::of_policy(policy))
}

/// The sequencer submission of a verified entry: what storage writes for it, and the
/// candidate the sequencer judges.
#[must_use]
pub fn admitted(data: Vec<u8>, leaf_hash: Hash, candidate: Candidate) -> Admitted {
    let (attestation, terms, enrolment, verification) = match &candidate.claim {
        Claim::Attestation { statement, .. } => {
            let (meta, terms) = statement_record(statement);
            (Some(meta), terms, None, None)
        }
        Claim::Verification { statement, .. } => {
            let meta = VerificationMeta::of(statement);
            (None, meta.terms(), None, Some(meta))
        }
        Claim::Enrolment(e) => (
            None,
            Vec::new(),
            Some(EnrolmentRow {
                index: 0,
                vendor: e.vendor.clone(),
                key: e.key.clone(),
                action: e.action,
                role: e.role,
            }),
            None,
        ),
        Claim::Policy(_) => (None, Vec::new(), None, None),
    };
    Admitted {
        entry: BatchEntry {
            data,
            leaf_hash,
            terms,
            attestation,
            enrolment,
            verification,
            statement: Some(candidate.statement_hash),
        },
        candidate,
    }
}

/// Re-reads a queued entry (the PostgreSQL pending path): the lease holder trusts nothing
/// but the entry bytes, and verifies them again with the rule engine against its enrolment
/// state (attestations and log-signed enrolments alike).
///
/// # Errors
/// [`AdmissionError`] for an entry that is neither a canonical envelope nor a signed statement
/// (DESIGN.md §12), or fails verification.
pub fn reverify(
    data: &[u8],
    enrolments: &EnrolmentState,
    log_key: &VerifierKey,
) -> Result<Admitted, AdmissionError> {
    let candidate = rules::verify_entry_bytes(data, enrolments, log_key)?;
    Ok(admitted(data.to_vec(), Hash::leaf(data), candidate))
}

/// The sequencer submission of an enrolment or revocation: the entry signed by the log key.
#[must_use]
pub fn enrolment(signer: &SignerKey, row: &EnrolmentRow, issued_at: String) -> Admitted {
    let (data, e) = crate::rules::enrolment_entry(signer, row, issued_at);
    admitted(data.clone(), Hash::leaf(&data), Candidate::of_enrolment(e))
}

/// An attestation for the sequencer's bulk path (tests, benchmarks): every admission check but
/// the signature, which the caller vouches for with `signer`; the sequencer still applies the
/// enrolment and chain rules.
///
/// # Errors
/// As [`parse`] under the default body cap, and 422 for an invalid statement.
#[cfg(feature = "test-support")]
pub fn bulk_attestation(envelope: &[u8], signer: &VerifierKey) -> Result<Admitted, AdmitError> {
    let parsed = parse(envelope, MAX_BODY_BYTES)?;
    let (statement, statement_hash) =
        attestlog_proto::rules::parse_statement(&parsed.envelope.payload)
            .map_err(AdmissionError::Statement)?;
    Ok(admitted(
        parsed.bytes,
        parsed.leaf_hash,
        Candidate {
            statement_hash,
            claim: Claim::Attestation {
                statement: Box::new(statement),
                signers: vec![signer.clone()],
            },
        },
    ))
}
