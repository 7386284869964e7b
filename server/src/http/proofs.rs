//! `GET /v1/proof/inclusion` and `GET /v1/proof/consistency`, computed from tiles.

use std::collections::HashMap;

use attestlog_proto::Hash;
use attestlog_proto::api::{ConsistencyProof, InclusionProof};
use axum::Json;
use axum::extract::{Query, State};

use super::error::ApiError;
use super::parse_u64;

fn check_known(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    if let Some(k) = q.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown query parameter {k:?}")).at(k));
    }
    Ok(())
}

/// `?index=I&tree_size=N` or `?leaf_hash=H&tree_size=N` (H lowercase hex).
#[utoipa::path(get, path = "/v1/proof/inclusion",
    params(("index" = Option<u64>, Query), ("leaf_hash" = Option<String>, Query), ("tree_size" = u64, Query)),
    responses((status = 200), (status = 400), (status = 404)))]
pub async fn inclusion(
    State(s): State<super::State>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<InclusionProof>, ApiError> {
    super::storage(&s, super::Pool::Reads, move |s| inclusion_inner(s, &q)).await
}

fn inclusion_inner(
    s: &super::AppState,
    q: &HashMap<String, String>,
) -> Result<Json<InclusionProof>, ApiError> {
    check_known(q, &["index", "leaf_hash", "tree_size"])?;
    let size = parse_u64("tree_size", q.get("tree_size"))?;
    let current = s.shared.published().size;
    let (index, leaf_hash) = match (q.get("index"), q.get("leaf_hash")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either index or leaf_hash, not both",
            ));
        }
        (None, None) => return Err(ApiError::bad_request("missing index or leaf_hash")),
        (Some(_), None) => {
            let index = parse_u64("index", q.get("index"))?;
            if size > current {
                return Err(ApiError::not_found(format!(
                    "tree_size {size} is beyond the current tree size {current}"
                )));
            }
            if index >= size {
                return Err(ApiError::bad_request(format!(
                    "index {index} is not below tree_size {size}"
                ))
                .at("index"));
            }
            let (leaf_hash, hashes) = s.prover().leaf_and_inclusion(index, size)?;
            return Ok(Json(InclusionProof {
                index,
                tree_size: size,
                leaf_hash,
                hashes,
            }));
        }
        (None, Some(h)) => {
            let leaf = Hash::from_hex(h).map_err(|e| {
                ApiError::bad_request(format!("leaf_hash must be 64 lowercase hex digits: {e}"))
                    .at("leaf_hash")
            })?;
            if size > current {
                return Err(ApiError::not_found(format!(
                    "tree_size {size} is beyond the current tree size {current}"
                )));
            }
            let index = s
                .store
                .lookup_leaf(&leaf)?
                .filter(|&i| i < size)
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no entry with leaf hash {h} in tree of size {size}"
                    ))
                })?;
            (index, leaf)
        }
    };
    Ok(Json(InclusionProof {
        index,
        tree_size: size,
        leaf_hash,
        hashes: s.prover().inclusion_hashes(index, size)?,
    }))
}

/// `?first=M&second=N`.
#[utoipa::path(get, path = "/v1/proof/consistency",
    params(("first" = u64, Query), ("second" = u64, Query)),
    responses((status = 200), (status = 400), (status = 404)))]
pub async fn consistency(
    State(s): State<super::State>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    super::storage(&s, super::Pool::Reads, move |s| consistency_inner(s, &q)).await
}

fn consistency_inner(
    s: &super::AppState,
    q: &HashMap<String, String>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    check_known(q, &["first", "second"])?;
    let first = parse_u64("first", q.get("first"))?;
    let second = parse_u64("second", q.get("second"))?;
    if first > second {
        return Err(ApiError::bad_request(format!(
            "first {first} is greater than second {second}"
        )));
    }
    let current = s.shared.published().size;
    if second > current {
        return Err(ApiError::not_found(format!(
            "second {second} is beyond the current tree size {current}"
        )));
    }
    Ok(Json(ConsistencyProof {
        first,
        second,
        hashes: s.prover().consistency_hashes(first, second)?,
    }))
}
