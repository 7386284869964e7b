//! `POST /v1/entries` and `GET /v1/entries/{index}`.

use std::time::Instant;

use attestlog_proto::Hash;
use attestlog_proto::api::{EntryResponse, SubmitResponse};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use attestlog_proto::rules::{Claim, envelope_statement_hash as statement_hash};

use super::error::ApiError;
use crate::admission;
use crate::sequencer::Published;

/// `POST /v1/entries`: submit a DSSE envelope; answers once the entry is in a signed
/// checkpoint, 201 (new) or 200 (duplicate).
#[utoipa::path(post, path = "/v1/entries", request_body = String,
    responses((status = 201, description = "new entry"), (status = 200, description = "duplicate"),
      (status = 400), (status = 413), (status = 422), (status = 429), (status = 503)))]
pub async fn submit(State(s): State<super::State>, body: Body) -> Result<Response, ApiError> {
    metrics::counter!("attestlog_submissions_total").increment(1);
    let max_body = s.body_limits.max_body_bytes;
    let body = super::read_body(body, max_body).await?;
    let parsed = admission::parse_within(&body, max_body)?;
    // Dedup before any verification: the same entry, or the same statement in any envelope
    // (DESIGN.md §10), is answered with the original index and never verified again.
    let published = s.shared.published();
    let p = published.clone();
    let (parsed, duplicate) = super::storage(&s, super::Pool::Reads, move |s| {
        let r = answer_duplicate(s, &parsed, &p)?;
        Ok::<_, ApiError>((parsed, r))
    })
    .await?;
    if let Some(r) = duplicate {
        return Ok(r);
    }
    let enrolments = s.shared.enrolments();
    let candidate = admission::verify(&parsed.envelope, &enrolments, &s.log_key)?;
    let parsed = admission::keep_verified_signatures(parsed, &candidate)?;
    // The quota is the signing party's: the vendor of an attestation, the verifier of a
    // verification (DESIGN.md §13).
    let Some((vendor, role)) = candidate
        .signing_party()
        .map(|(name, role)| (name.to_owned(), role))
    else {
        return Err(ApiError::unprocessable(
            Some("payloadType".into()),
            "enrolments are appended through POST /v1/vendors",
        ));
    };
    // Charged only once the vendor's own key has signed: nobody can drain another's quota.
    if let Err(wait) = s.quota.take(&vendor, Instant::now()) {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("quota exceeded for vendor {vendor:?}"),
            )
        });
    }
    // A first pass of the order-dependent rules (version chain), so a refusal comes before
    // queueing; the sequencer judges again in index order.
    let size = published.size;
    let candidate = super::storage(&s, super::Pool::Reads, move |s| {
        admission::judge_now(s.store.as_ref(), &enrolments, size, &candidate)?;
        Ok::<_, ApiError>(candidate)
    })
    .await?;
    let signers = match &candidate.claim {
        Claim::Attestation { signers, .. } | Claim::Verification { signers, .. } => signers.clone(),
        Claim::Enrolment(_) | Claim::Policy(_) => Vec::new(),
    };
    let rx = s.sequencer.submit(admission::admitted(
        parsed.bytes.clone(),
        parsed.leaf_hash,
        candidate,
    ))?;
    let done = rx
        .await
        .map_err(|_| ApiError::unavailable("sequencer stopped"))??;
    super::storage(&s, super::Pool::Reads, move |s| {
        if !done.new {
            // The statement was logged meanwhile, maybe in another envelope: answer with it.
            let original = s.prover().entry(done.index)?;
            return respond(
                s,
                done.index,
                Hash::leaf(&original),
                &original,
                &done.published,
                false,
                None,
            );
        }
        respond(
            s,
            done.index,
            parsed.leaf_hash,
            &parsed.bytes,
            &done.published,
            done.new,
            Some(crate::prover::Verified {
                vendor: &vendor,
                role,
                signers: &signers,
            }),
        )
    })
    .await
}

/// The 200 answer for an entry already in the published tree, if it is: the same entry bytes
/// (by leaf hash), or the same statement in another envelope (by statement hash).
fn answer_duplicate(
    s: &super::AppState,
    parsed: &admission::Parsed,
    published: &Published,
) -> Result<Option<Response>, ApiError> {
    if let Some(index) = s.store.lookup_leaf(&parsed.leaf_hash)?
        && index < published.size
    {
        return respond(
            s,
            index,
            parsed.leaf_hash,
            &parsed.bytes,
            published,
            false,
            None,
        )
        .map(Some);
    }
    let Some(statement) = statement_hash(&parsed.envelope) else {
        return Ok(None);
    };
    match s.store.lookup_statement(&statement)? {
        Some(index) if index < published.size => {
            let original = s.prover().entry(index)?;
            respond(
                s,
                index,
                Hash::leaf(&original),
                &original,
                published,
                false,
                None,
            )
            .map(Some)
        }
        _ => Ok(None),
    }
}

/// Builds the submit answer (shared by submissions and enrolments).
///
/// # Errors
/// Storage errors.
pub fn respond(
    s: &super::AppState,
    index: u64,
    leaf_hash: Hash,
    entry: &[u8],
    p: &Published,
    new: bool,
    verified: Option<crate::prover::Verified<'_>>,
) -> Result<Response, ApiError> {
    let hashes = s.prover().inclusion_hashes(index, p.size)?;
    let receipt = s
        .prover()
        .receipt_with(index, entry, p, &hashes, verified)?;
    let inclusion_proof = attestlog_proto::api::InclusionProof {
        index,
        tree_size: p.size,
        leaf_hash,
        hashes,
    };
    let body = SubmitResponse {
        index,
        leaf_hash,
        checkpoint: String::from_utf8_lossy(&p.note).into_owned(),
        inclusion_proof,
        receipt,
    };
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /v1/entries/{index}`: the entry, its decoded payload and a receipt against the latest
/// checkpoint.
#[utoipa::path(get, path = "/v1/entries/{index}", params(("index" = u64, Path)),
    responses(
        (status = 200, description = "{index, leaf_hash, entry, kind, payload, checkpoint, receipt};             kind is \"attestation\", \"verification\" or \"enrolment\" (a view of the entry bytes, not verified)"),
        (status = 400, description = "index is not a decimal u64"),
        (status = 404, description = "no entry at index")))]
pub async fn get_entry(
    State(s): State<super::State>,
    Path(index): Path<String>,
) -> Result<Json<EntryResponse>, ApiError> {
    let index = super::parse_u64("index", Some(&index))?;
    super::storage(&s, super::Pool::Reads, move |s| entry_at(s, index)).await
}

fn entry_at(s: &super::AppState, index: u64) -> Result<Json<EntryResponse>, ApiError> {
    let p = s.shared.published();
    if index >= p.size {
        return Err(ApiError::not_found(format!(
            "no entry at index {index}; tree size is {}",
            p.size
        )));
    }
    let entry = s.prover().entry(index)?;
    let (payload_type, payload) = if attestlog_proto::cose::is_cose_entry(&entry) {
        // A SCITT signed statement (DESIGN.md §12): its payload is an in-toto statement.
        let st = attestlog_proto::cose::SignedStatement::parse(&entry)
            .map_err(|e| ApiError::unavailable(format!("stored entry is unreadable: {e}")))?;
        (
            admission::PAYLOAD_TYPE_INTOTO.to_owned(),
            st.payload().to_vec(),
        )
    } else {
        let env = attestlog_proto::dsse::Envelope::from_json(&entry)
            .map_err(|e| ApiError::unavailable(format!("stored entry is unreadable: {e}")))?;
        (env.payload_type, env.payload)
    };
    let payload: serde_json::Value =
        serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null);
    let kind = attestlog_proto::api::EntryKind::of_payload(&payload_type, &payload);
    Ok(Json(EntryResponse {
        index,
        leaf_hash: Hash::leaf(&entry),
        entry: STANDARD.encode(&entry),
        kind: kind.as_str().into(),
        payload,
        checkpoint: String::from_utf8_lossy(&p.note).into_owned(),
        receipt: s.prover().receipt(index, &entry, &p)?,
    }))
}
