//! The bucket helpers (REFERENCE.md operations 25–29, 33): look into a store with credentials
//! given for the one call. Nothing of a helper body is stored, and its secrets reach no log:
//! bodies are never logged, and `Secret` redacts itself in `Debug`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use crate::api::bucket_helpers::{
    CheckPrefixReq, CheckPrefixResponse, CheckedKey, ListBucketsReq, ShowBucketObjectsResponse,
    ShowBucketRecord, ShowBucketRegionReq, ShowBucketRegionResponse, ShowBucketReq, ShowCdnInfoReq,
    ShowCdnInfoResponse, DEFAULT_CDN_SAMPLE,
};
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::OmsJson;
use crate::state::AppState;
use tern_engine::inspect;

/// The helper routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/{project_id}/objectstorage/buckets",
            post(show_bucket_list),
        )
        .route(
            "/v2/{project_id}/objectstorage/buckets/objects",
            post(show_bucket_objects),
        )
        .route(
            "/v2/{project_id}/objectstorage/buckets/regions",
            post(show_bucket_region),
        )
        .route(
            "/v2/{project_id}/objectstorage/buckets/cdn-info",
            post(show_cdn_info),
        )
        .route(
            "/v2/{project_id}/objectstorage/buckets/prefix",
            post(check_prefix),
        )
        .route(
            "/v2/{project_id}/privacy-agreements",
            post(update_privacy_agreement_record),
        )
}

async fn show_bucket_list(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<ListBucketsReq>,
) -> Result<Json<Vec<String>>> {
    let (account, region) = body.into_domain()?;
    let names = inspect::list_buckets(
        &state.regions,
        account.cloud_type,
        region.as_deref(),
        &account.credentials,
    )
    .await?;
    Ok(Json(names))
}

async fn show_bucket_objects(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<ShowBucketReq>,
) -> Result<Json<ShowBucketObjectsResponse>> {
    let query = body.into_domain()?;
    let node = query.account.node(query.region, query.bucket);
    let storage = inspect::open_bucket(&node, &state.regions)?;
    let page = inspect::folder_page(&storage, &query.folder, &query.after, query.page_size).await?;
    let next_marker = page
        .entries
        .last()
        .map(|e| e.name.clone())
        .unwrap_or_default();
    Ok(Json(ShowBucketObjectsResponse {
        next_page: page.more,
        next_marker,
        records: page
            .entries
            .into_iter()
            .map(|entry| ShowBucketRecord {
                name: entry.name,
                size: entry
                    .size
                    .map_or_else(|| "--".to_owned(), |s| s.to_string()),
            })
            .collect(),
    }))
}

async fn show_bucket_region(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<ShowBucketRegionReq>,
) -> Result<Json<ShowBucketRegionResponse>> {
    let (account, bucket) = body.into_domain()?;
    let found = inspect::bucket_region(
        &state.regions,
        account.cloud_type,
        &bucket,
        &account.credentials,
    )
    .await?;
    let name = if found.description.is_empty() {
        found.region.clone()
    } else {
        found.description
    };
    Ok(Json(ShowBucketRegionResponse {
        id: found.region,
        name,
        support: true,
    }))
}

async fn check_prefix(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<CheckPrefixReq>,
) -> Result<Json<CheckPrefixResponse>> {
    let (node, prefix) = body.into_domain()?;
    let storage = inspect::open_bucket(&node, &state.regions)?;
    let exist = inspect::prefix_exists(&storage, &prefix).await?;
    Ok(Json(CheckPrefixResponse { exist }))
}

async fn show_cdn_info(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<ShowCdnInfoReq>,
) -> Result<Json<ShowCdnInfoResponse>> {
    let query = body.into_domain()?;
    if query.cdn.authentication_type != "NONE" {
        // The signed-URL schemes live with the URL-list source; until this helper signs with
        // them, a signed domain is refused rather than reported as not downloadable.
        return Err(ApiError::invalid(
            "source_cdn.authentication_type",
            format!(
                "{} is not supported by show_cdn_info yet; check the domain with NONE",
                query.cdn.authentication_type
            ),
        ));
    }
    drop(query.cdn_key);
    let storage = inspect::open_bucket(&query.node, &state.regions)?;
    let keys = match query.keys {
        Some(keys) => keys,
        None => {
            let page = inspect::folder_page(&storage, "", "", DEFAULT_CDN_SAMPLE).await?;
            page.entries
                .into_iter()
                .filter(|e| e.size.is_some())
                .map(|e| e.name)
                .collect()
        }
    };
    let base = format!("{}://{}", query.cdn.protocol, query.cdn.domain);
    let checks = inspect::check_cdn(&storage, &base, &keys, &|url: &str| url.to_owned()).await?;
    let is_download_available = !checks.is_empty() && checks.iter().all(|c| c.downloadable);
    let is_same_cloud_type = !checks.is_empty() && checks.iter().all(|c| c.etag_matches);
    Ok(Json(ShowCdnInfoResponse {
        is_same_cloud_type,
        is_download_available,
        checked_keys: checks
            .into_iter()
            .map(|c| CheckedKey {
                key: c.key,
                is_etag_matching: c.etag_matches,
                is_object_existing: c.in_bucket,
            })
            .collect(),
    }))
}

async fn update_privacy_agreement_record(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode> {
    state
        .store
        .record_privacy_agreement(&caller.project_id, tern_scheduler::now_ms())
        .await?;
    Ok(StatusCode::OK)
}
