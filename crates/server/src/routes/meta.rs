//! Versions (`GET /`, `GET /{version}`) and vendor lookups (`cloud-type`, regions).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use tern_core::CloudType;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{
    names, Link, ListApiVersionsResponse, ShowApiInfoResponse, ShowRegionInfoResp, Version,
};
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::{OmsPath, OmsQuery};
use crate::state::AppState;

/// The version routes; they need no authentication.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_versions))
        .routes(routes!(show_api_info))
}

/// The vendor lookups.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_cloud_type))
        .routes(routes!(show_region_info))
        // The issue tracker names this path too; serve both.
        .routes(routes!(show_region_info_by_regions_path))
}

fn v2() -> Version {
    Version {
        id: "v2".into(),
        links: vec![Link {
            href: "/v2".into(),
            rel: "self".into(),
        }],
        status: "CURRENT".into(),
        updated: "2020-04-01T00:00:00Z".into(),
    }
}

#[utoipa::path(
    get,
    path = "/",
    tag = "versions",
    operation_id = "ListApiVersions",
    params(),
    responses((status = 200, description = "The API versions", body = ListApiVersionsResponse))
)]
async fn list_api_versions() -> Json<ListApiVersionsResponse> {
    Json(ListApiVersionsResponse {
        versions: vec![v2()],
    })
}

#[utoipa::path(
    get,
    path = "/{version}",
    tag = "versions",
    operation_id = "ShowApiInfo",
    params(("version" = String, Path, pattern = "^v2$", description = "API version; tern serves v2")),
    responses((status = 200, description = "The version", body = Version))
)]
async fn show_api_info(OmsPath(version): OmsPath<String>) -> Result<Json<ShowApiInfoResponse>> {
    if version != "v2" {
        return Err(ApiError::invalid(
            "version",
            format!("{version:?} is not an API version (v2)"),
        ));
    }
    Ok(Json(v2()))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/objectstorage/cloud-type",
    tag = "objectstorage",
    operation_id = "ShowCloudType",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("type" = inline(names::NodeSide), Query, description = "`src`: source vendors; `dst`: destination vendors")),
    responses((status = 200, description = "Vendor names", body = Vec<String>))
)]
async fn show_cloud_type(
    _caller: Caller,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<Vec<String>>> {
    match query.get("type").map(String::as_str) {
        Some("src") => Ok(Json(
            CloudType::OMS_SOURCES
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
        )),
        Some("dst") => Ok(Json(vec!["HEC".to_owned()])),
        Some(other) => Err(ApiError::invalid(
            "type",
            format!("{other:?} is neither src nor dst"),
        )),
        None => Err(ApiError::required("type")),
    }
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/objectstorage/data-center",
    tag = "objectstorage",
    operation_id = "ShowRegionInfo",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    responses((status = 200, description = "Regions per vendor", body = Vec<ShowRegionInfoResp>))
)]
async fn show_region_info(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<Vec<ShowRegionInfoResp>> {
    Json(ShowRegionInfoResp::from_entries(state.regions.entries()))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/objectstorage/regions",
    tag = "objectstorage",
    operation_id = "ShowRegionInfoByRegionsPath",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    responses((status = 200, description = "Regions per vendor (the same as `data-center`)", body = Vec<ShowRegionInfoResp>))
)]
async fn show_region_info_by_regions_path(
    state: State<AppState>,
    caller: Caller,
) -> Json<Vec<ShowRegionInfoResp>> {
    show_region_info(state, caller).await
}
