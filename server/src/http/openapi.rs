//! `GET /openapi.json`.

use axum::Json;
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "attestlog",
        description = "Transparency log for vendor data-flow attestations. The static read path (/checkpoint, /tile/...) follows c2sp.org/tlog-tiles."
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
    )
)]
pub struct ApiDoc;

/// Serves the OpenAPI document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
