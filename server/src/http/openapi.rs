//! `GET /openapi.json`.

use axum::Json;
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "attestlog",
        description = "Transparency log for vendor data-flow attestations. The static read path (/checkpoint, /tile/{path}: hash tiles and entry bundles) follows c2sp.org/tlog-tiles. The SCITT transparency service (SCRAPI: /entries, /.well-known/scitt-keys) takes and answers COSE and CBOR (RFC 9052, RFC 9942 receipts, RFC 9290 problem details)."
    ),
    paths(
        super::static_path::checkpoint,
        super::static_path::tile,
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
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        super::explorer::index,
        super::explorer::asset,
        openapi,
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    /// Every route the router serves is in the document, and the document describes nothing
    /// the router does not serve: a route added without its description fails here.
    #[test]
    fn the_document_describes_every_served_route_and_no_other() {
        let doc = super::ApiDoc::openapi();
        let documented: std::collections::BTreeSet<String> =
            doc.paths.paths.keys().cloned().collect();
        let served: std::collections::BTreeSet<String> =
            super::super::served_paths().into_iter().collect();
        assert!(served.len() > 20, "{served:?}");
        assert_eq!(
            served.difference(&documented).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "served but not documented"
        );
        assert_eq!(
            documented.difference(&served).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "documented but not served"
        );
    }
}

/// Serves the OpenAPI document.
#[utoipa::path(get, path = "/openapi.json",
    responses((status = 200, description = "this OpenAPI document", content_type = "application/json")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
