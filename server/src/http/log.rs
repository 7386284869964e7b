//! `GET /v1/log`, `GET /v1/search`, `GET|POST /v1/vendors`.

use std::collections::{BTreeMap, HashMap};

use attestlog_proto::Hash;
use attestlog_proto::api::{
    Limits, LogInfo, SearchHit, SearchResponse, Vendor, VendorKey, VendorList, VendorRequest,
    VendorResponse, VerificationHit,
};
use attestlog_proto::enrolment::{Action, KeyRole};
use attestlog_proto::keys::VerifierKey;
use attestlog_proto::rules::Chain;
use attestlog_proto::verification::Verdict;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::parse_u64;
use crate::admission::MAX_ENTRY_BYTES;
use crate::storage::{EnrolmentRow, SearchKind, SearchQuery};

/// `GET /v1/log`.
#[utoipa::path(get, path = "/v1/log", responses((status = 200)))]
pub async fn info(State(s): State<super::State>) -> Result<Json<LogInfo>, ApiError> {
    let published = s.shared.published();
    let p = published.clone();
    let (claims_from, policies_from, registration_policy) =
        super::storage(&s, super::Pool::Reads, move |s| {
            Ok::<_, ApiError>((
                s.store.claims_from()?,
                s.store.policies_from()?,
                s.registration_policy(&p)?,
            ))
        })
        .await?;
    Ok(Json(LogInfo {
        origin: s.log_key.name().to_owned(),
        verifier_key: s.log_key.to_string(),
        verifier_keys: s.verifier_keys.iter().map(ToString::to_string).collect(),
        tree_size: published.size,
        claims_from,
        policies_from,
        registration_policy,
        witness_policy: s.witness_policy.clone(),
        limits: Limits {
            max_entry_bytes: MAX_ENTRY_BYTES as u64,
            max_body_bytes: s.body_limits.max_body_bytes as u64,
            quota_rate: s.quota_settings.0,
            quota_burst: s.quota_settings.1,
            max_vendor_body_bytes: s.body_limits.max_vendor_body_bytes as u64,
            max_header_bytes: s.serve_limits.max_header_bytes as u64,
            header_read_timeout_ms: millis(s.serve_limits.header_read_timeout),
            request_timeout_ms: millis(s.serve_limits.request_timeout),
            max_in_flight: s.serve_limits.max_in_flight as u64,
            max_connections: s.serve_limits.max_connections as u64,
            evict_idle_after_ms: millis(s.serve_limits.evict_idle_after),
            tile_cache_bytes: s.cache.budget() as u64,
            read_cache_bytes: s.store.read_cache_bytes(),
            max_search_results: MAX_SEARCH_RESULTS,
            max_checkpoints: super::explorer::MAX_CHECKPOINTS,
        },
    }))
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Most entries in one `GET /v1/search` page.
pub const MAX_SEARCH_RESULTS: u64 = 500;

/// `GET /v1/search?vendor=&product=&country=&category=&attestation_id=&before=&limit=`:
/// one page of matching entries, newest first. The cost of a request is bounded: the most
/// selective term drives the scan, which reads at most a fixed number of rows; a page may
/// hold fewer than `limit` entries and still give `next` (go on from there).
///
/// With `verdict=consistent|contradicted|inconclusive`, `subject=INDEX` (the verified
/// attestation) or `verifier=NAME`, it searches verifications instead (DESIGN.md §13), answered
/// in `verifications`; `attestation_id` then names the verified claim, and the attestation
/// terms (vendor, product, country, category) do not apply.
#[utoipa::path(get, path = "/v1/search",
    params(("vendor" = Option<String>, Query), ("product" = Option<String>, Query),
      ("country" = Option<String>, Query), ("category" = Option<String>, Query),
      ("attestation_id" = Option<String>, Query), ("verdict" = Option<String>, Query),
      ("subject" = Option<u64>, Query), ("verifier" = Option<String>, Query),
      ("before" = Option<u64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200), (status = 400),
      (status = 503, description = "past its time limit on PostgreSQL (Retry-After)")))]
pub async fn search(
    State(s): State<super::State>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<SearchResponse>, ApiError> {
    let mut query = SearchQuery {
        limit: 50,
        ..SearchQuery::default()
    };
    for (k, v) in &q {
        if let Some(kind) = SearchKind::parse(k) {
            if v.is_empty() || v.len() > 256 {
                return Err(
                    ApiError::bad_request(format!("{k} must be 1 to 256 characters")).at(k),
                );
            }
            let value = match kind {
                SearchKind::Verdict => Verdict::parse(v)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "verdict must be consistent, contradicted or inconclusive, got {v:?}"
                        ))
                        .at(k)
                    })?
                    .as_str()
                    .to_owned(),
                SearchKind::Subject => parse_u64("subject", Some(v))?.to_string(),
                _ => v.to_lowercase(),
            };
            query.terms.push((kind, value));
        } else if k == "before" {
            query.before = Some(parse_u64("before", Some(v))?);
        } else if k == "limit" {
            let l = parse_u64("limit", Some(v))?;
            if !(1..=MAX_SEARCH_RESULTS).contains(&l) {
                return Err(ApiError::bad_request(format!(
                    "limit must be between 1 and {MAX_SEARCH_RESULTS}"
                ))
                .at("limit"));
            }
            query.limit = u32::try_from(l).unwrap_or(500);
        } else {
            return Err(ApiError::bad_request(format!("unknown query parameter {k:?}")).at(k));
        }
    }
    let size = s.shared.published().size;
    query.before = Some(query.before.unwrap_or(size).min(size));
    if query.terms.iter().any(|(k, _)| k.of_verifications()) {
        if let Some((k, _)) = query
            .terms
            .iter()
            .find(|(k, _)| !k.of_verifications() && *k != SearchKind::AttestationId)
        {
            return Err(ApiError::bad_request(format!(
                "{} names attestations: a search of verifications (verdict, subject, verifier) \
                 takes only attestation_id besides",
                k.as_str()
            ))
            .at(k.as_str()));
        }
        let page = super::storage(&s, super::Pool::Searches, move |s| {
            Ok::<_, ApiError>(s.store.search_verifications(&query)?)
        })
        .await?;
        return Ok(Json(SearchResponse {
            entries: Vec::new(),
            verifications: page
                .hits
                .into_iter()
                .map(|(index, m)| VerificationHit {
                    index,
                    verifier: m.verifier,
                    subject: m.subject,
                    attestation_id: m.attestation_id,
                    verdict: m.verdict,
                    supersedes: m.supersedes,
                    issued_at: m.issued_at,
                })
                .collect(),
            next: page.next,
        }));
    }
    let page = super::storage(&s, super::Pool::Searches, move |s| {
        let page = s.store.search(&query)?;
        let mut entries: Vec<SearchHit> = page
            .hits
            .into_iter()
            .map(|(index, m)| SearchHit {
                index,
                attestation_id: m.attestation_id,
                vendor: m.vendor,
                product: m.product,
                status: m.status,
                valid_until: m.valid_until,
                supersedes: m.supersedes,
                current: None,
            })
            .collect();
        mark_current(s, &mut entries, size)?;
        Ok::<_, ApiError>((entries, page.next))
    })
    .await?;
    Ok(Json(SearchResponse {
        entries: page.0,
        verifications: Vec::new(),
        next: page.1,
    }))
}

/// Marks each hit that is the current version of its attestation: the head of its chain,
/// followed through the versions in the tree of `size` (never the highest index).
fn mark_current(s: &super::AppState, hits: &mut [SearchHit], size: u64) -> Result<(), ApiError> {
    let mut ids: Vec<&str> = hits.iter().map(|h| h.attestation_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let heads: HashMap<String, u64> = s
        .store
        .attestation_chains(&ids)?
        .into_iter()
        .filter_map(|(id, versions)| {
            let published = versions.into_iter().filter(|v| v.index < size);
            Chain::follow(published).map(|c| (id, c.head.index))
        })
        .collect();
    for h in hits {
        h.current = Some(heads.get(&h.attestation_id) == Some(&h.index));
    }
    Ok(())
}

/// `GET /v1/vendors`.
#[utoipa::path(get, path = "/v1/vendors", responses((status = 200)))]
pub async fn vendors(State(s): State<super::State>) -> Json<VendorList> {
    let e = s.shared.enrolments();
    let mut by: BTreeMap<String, Vec<VendorKey>> = BTreeMap::new();
    for r in e.vendors().into_iter().flat_map(|(_, keys)| keys) {
        by.entry(r.vendor.clone()).or_default().push(VendorKey {
            key: r.key.to_string(),
            key_id: r.key.key_id_hex(),
            enrolled_at: r.enrolled_at,
            revoked_at: r.revoked_at,
            role: Some(r.role.as_str().to_owned()),
        });
    }
    Json(VendorList {
        vendors: by
            .into_iter()
            .map(|(vendor, mut keys)| {
                keys.sort_by_key(|k| k.enrolled_at);
                Vendor { vendor, keys }
            })
            .collect(),
    })
}

fn authorize(s: &super::AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token.trim());
    let want = Hash::sha256(s.admin_token.as_bytes());
    // Compare digests in constant time, so neither length nor content leaks.
    if given.is_empty() || !Hash::sha256(given.as_bytes()).ct_eq(&want) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token",
        ));
    }
    Ok(())
}

/// `POST /v1/vendors` (admin): enrol or revoke a vendor key by appending an enrolment entry.
#[utoipa::path(post, path = "/v1/vendors", request_body = String,
    responses((status = 201), (status = 400), (status = 401), (status = 409), (status = 422)))]
pub async fn enrol(
    State(s): State<super::State>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let body = super::read_body(body, s.body_limits.max_vendor_body_bytes).await?;
    let req: VendorRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid vendor request: {e}")))?;
    if !attestlog_proto::enrolment::valid_vendor_name(&req.vendor) || req.vendor.len() > 256 {
        return Err(ApiError::unprocessable(
            Some("vendor".into()),
            "vendor must be a non-empty legal name of at most 256 bytes, without surrounding \
             spaces or control characters",
        ));
    }
    let key = VerifierKey::parse(&req.key).map_err(|e| {
        ApiError::unprocessable(Some("key".into()), format!("invalid verifier key: {e}"))
    })?;
    if key.key_type() != attestlog_proto::keys::TYPE_ED25519 {
        return Err(ApiError::unprocessable(
            Some("key".into()),
            "vendor keys must be Ed25519 (type 0x01)",
        ));
    }
    let Some(action) = Action::parse(&req.action) else {
        return Err(ApiError::unprocessable(
            Some("action".into()),
            format!("action must be enrol or revoke, got {:?}", req.action),
        ));
    };
    let role = match req.role.as_deref() {
        None => KeyRole::Vendor,
        Some(r) => KeyRole::parse(r).ok_or_else(|| {
            ApiError::bad_request(format!("role must be vendor or verifier, got {r:?}")).at("role")
        })?,
    };
    if action == Action::Revoke && req.role.is_some() {
        return Err(ApiError::bad_request(
            "a revocation names no role: the key keeps the role it was enrolled with",
        )
        .at("role"));
    }
    let row = EnrolmentRow {
        index: 0,
        vendor: req.vendor.clone(),
        key,
        action,
        role,
    };
    let admitted = crate::admission::enrolment(&s.signer, &row, crate::rules::now_rfc3339());
    // Fast 409 against the current state; the sequencer re-checks in index order.
    if let Some(e) = admitted.candidate.enrolment() {
        s.shared
            .enrolments()
            .check(e)
            .map_err(|e| super::error::refusal(e.into()))?;
    }
    let leaf_hash = admitted.entry.leaf_hash;
    let rx = s.sequencer.submit(admitted)?;
    let done = rx
        .await
        .map_err(|_| ApiError::unavailable("sequencer stopped"))??;
    if !done.new {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "this enrolment entry already exists at index {}",
                done.index
            ),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(VendorResponse {
            index: done.index,
            leaf_hash,
            checkpoint: String::from_utf8_lossy(&done.published.note).into_owned(),
        }),
    )
        .into_response())
}
