//! `GET /openapi.json`.

use axum::Json;
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "attestlog",
        description = "Transparency log for vendor data-flow attestations. The static read path (/checkpoint, /tile/...) follows c2sp.org/tlog-tiles. The SCITT transparency service (SCRAPI: /entries, /.well-known/scitt-keys) takes and answers COSE and CBOR (RFC 9052, RFC 9942 receipts, RFC 9290 problem details)."
    ),
    paths(
        super::entries::submit,
        super::entries::get_entry,
        super::proofs::inclusion,
        super::proofs::consistency,
        super::log::info,
        super::log::search,
        super::log::vendors,
        super::log::enrol,
        super::explorer::checkpoints,
        super::scitt::register,
        super::scitt::get_entry,
        super::scitt::keys,
        super::scitt::key,
        super::scitt::consistency,
    )
)]
pub struct ApiDoc;

/// Serves the OpenAPI document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
