//! Versions (`GET /`, `GET /{version}`) and vendor lookups (`cloud-type`, regions).

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use tern_core::CloudType;

use crate::api::{Link, ListApiVersionsResponse, ShowApiInfoResponse, ShowRegionInfoResp, Version};
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::{OmsPath, OmsQuery};
use crate::state::AppState;

/// The version routes; they need no authentication.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/", get(list_api_versions))
        .route("/{version}", get(show_api_info))
}

/// The vendor lookups.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/{project_id}/objectstorage/cloud-type",
            get(show_cloud_type),
        )
        .route(
            "/v2/{project_id}/objectstorage/data-center",
            get(show_region_info),
        )
        // The issue tracker names this path too; serve both.
        .route(
            "/v2/{project_id}/objectstorage/regions",
            get(show_region_info),
        )
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

async fn list_api_versions() -> Json<ListApiVersionsResponse> {
    Json(ListApiVersionsResponse {
        versions: vec![v2()],
    })
}

async fn show_api_info(OmsPath(version): OmsPath<String>) -> Result<Json<ShowApiInfoResponse>> {
    if version != "v2" {
        return Err(ApiError::invalid(
            "version",
            format!("{version:?} is not an API version (v2)"),
        ));
    }
    Ok(Json(v2()))
}

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

async fn show_region_info(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<Vec<ShowRegionInfoResp>> {
    Json(ShowRegionInfoResp::from_entries(state.regions.entries()))
}
