//! `POST /v1/entries` and `GET /v1/entries/{index}`.

use attestlog_proto::Hash;
use attestlog_proto::api::{EntryResponse, SubmitResponse};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::ApiError;
use crate::admission::{self, Admission, Submission};
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
    let parsed = admission::parse(&body, max_body)?;
    // The submit pipeline (admission::pipeline) decides; this handler only answers in HTTP.
    let admission = super::storage(&s, super::Pool::Reads, move |s| {
        s.admission().admit(Submission::Dsse(parsed))
    })
    .await?;
    let queued = match admission {
        Admission::Logged {
            index,
            published,
            entry,
        } => {
            return super::storage(&s, super::Pool::Reads, move |s| {
                let entry = match entry {
                    Some(e) => e,
                    None => s.prover().entry(index)?,
                };
                respond(
                    s,
                    index,
                    Hash::leaf(&entry),
                    &entry,
                    &published,
                    false,
                    None,
                )
            })
            .await;
        }
        // Only SCRAPI registrations stop at a stored, unpublished original.
        Admission::Stored { .. } => {
            return Err(ApiError::unavailable(
                crate::sequencer::STORED_NOT_PUBLISHED,
            ));
        }
        Admission::Queued(q) => q,
    };
    let done = queued
        .integrated
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
            queued.leaf_hash,
            &queued.entry,
            &done.published,
            done.new,
            Some(crate::prover::Verified {
                vendor: &queued.party,
                role: queued.role,
                signers: &queued.signers,
            }),
        )
    })
    .await
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
