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

use super::error::ApiError;
use crate::admission;
use crate::sequencer::{Admitted, Published};

/// `POST /v1/entries`: submit a DSSE envelope; answers once the entry is in a signed
/// checkpoint, 201 (new) or 200 (duplicate).
#[utoipa::path(post, path = "/v1/entries", request_body = String,
    responses((status = 201, description = "new entry"), (status = 200, description = "duplicate"),
      (status = 400), (status = 413), (status = 422), (status = 429), (status = 503)))]
pub async fn submit(State(s): State<super::State>, body: Body) -> Result<Response, ApiError> {
    metrics::counter!("attestlog_submissions_total").increment(1);
    let body = super::read_body(body, admission::MAX_BODY_BYTES).await?;
    let parsed = admission::parse(&body)?;
    // Dedup before any verification: the same envelope is never verified twice.
    let published = s.shared.published();
    if let Some(r) = answer_duplicate(&s, &parsed, &published)? {
        return Ok(r);
    }
    let st = admission::check_statement(&parsed.envelope)?;
    let enrolments = s.shared.enrolments();
    let key_ids = admission::check_signatures(&parsed.envelope, &st.meta.vendor, &enrolments)?;
    let before = parsed.leaf_hash;
    let parsed = admission::keep_verified_signatures(parsed, &key_ids)?;
    if !parsed.leaf_hash.ct_eq(&before)
        && let Some(r) = answer_duplicate(&s, &parsed, &published)?
    {
        return Ok(r);
    }
    // Charged only once the vendor's own key has signed: nobody can drain another's quota.
    if let Err(wait) = s.quota.take(&st.meta.vendor, Instant::now()) {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("quota exceeded for vendor {:?}", st.meta.vendor),
            )
        });
    }
    check_supersedes(&s, &st.meta, published.size)?;
    let vendor = st.meta.vendor.clone();
    let entry = admission::attestation_entry(&parsed, st);
    let rx = s.sequencer.submit(Admitted {
        entry,
        signer_key_ids: key_ids.clone(),
    })?;
    let done = rx
        .await
        .map_err(|_| ApiError::unavailable("sequencer stopped"))??;
    respond(
        &s,
        done.index,
        parsed.leaf_hash,
        &parsed.bytes,
        &done.published,
        done.new,
        Some(super::receipt::Verified {
            vendor: &vendor,
            key_ids: &key_ids,
        }),
    )
}

/// The 200 answer for an entry already in the published tree, if it is.
fn answer_duplicate(
    s: &super::State,
    parsed: &admission::Parsed,
    published: &Published,
) -> Result<Option<Response>, ApiError> {
    match s.store.lookup_leaf(&parsed.leaf_hash)? {
        Some(index) if index < published.size => respond(
            s,
            index,
            parsed.leaf_hash,
            &parsed.bytes,
            published,
            false,
            None,
        )
        .map(Some),
        _ => Ok(None),
    }
}

fn check_supersedes(
    s: &super::AppState,
    meta: &crate::storage::AttestationMeta,
    size: u64,
) -> Result<(), ApiError> {
    let Some(target) = meta.supersedes else {
        return Ok(());
    };
    let field = "predicate.supersedes.log_index";
    if target >= size {
        return Err(ApiError::unprocessable(
            Some(field.into()),
            format!("supersedes index {target} is not in the log"),
        ));
    }
    match s.store.attestation_at(target)? {
        Some(m) if m.attestation_id == meta.attestation_id && m.vendor == meta.vendor => Ok(()),
        Some(_) => Err(ApiError::unprocessable(
            Some(field.into()),
            format!("entry {target} is an attestation with a different attestation_id or vendor"),
        )),
        None => Err(ApiError::unprocessable(
            Some(field.into()),
            format!("entry {target} is not an attestation"),
        )),
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
    verified: Option<super::receipt::Verified<'_>>,
) -> Result<Response, ApiError> {
    let hashes = s.inclusion_hashes(index, p.size)?;
    let receipt = s.receipt_with(index, entry, p, &hashes, verified)?;
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
    responses((status = 200), (status = 400), (status = 404)))]
pub async fn get_entry(
    State(s): State<super::State>,
    Path(index): Path<String>,
) -> Result<Json<EntryResponse>, ApiError> {
    let index = super::parse_u64("index", Some(&index))?;
    let p = s.shared.published();
    if index >= p.size {
        return Err(ApiError::not_found(format!(
            "no entry at index {index}; tree size is {}",
            p.size
        )));
    }
    let entry = s.entry(index)?;
    let env = attestlog_proto::dsse::Envelope::from_json(&entry)
        .map_err(|e| ApiError::unavailable(format!("stored entry is unreadable: {e}")))?;
    let payload: serde_json::Value =
        serde_json::from_slice(&env.payload).unwrap_or(serde_json::Value::Null);
    let kind = if env.payload_type == admission::PAYLOAD_TYPE_INTOTO {
        "attestation"
    } else {
        "enrolment"
    };
    Ok(Json(EntryResponse {
        index,
        leaf_hash: Hash::leaf(&entry),
        entry: STANDARD.encode(&entry),
        kind: kind.into(),
        payload,
        checkpoint: String::from_utf8_lossy(&p.note).into_owned(),
        receipt: s.receipt(index, &entry, &p)?,
    }))
}
