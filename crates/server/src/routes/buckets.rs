//! The bucket helpers (REFERENCE.md operations 25–29, 33): look into a store with credentials
//! given for the one call. Nothing of a helper body is stored, and its secrets reach no log:
//! bodies are never logged, and `Secret` redacts itself in `Debug`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::api::bucket_helpers::{
    CheckPrefixReq, CheckPrefixResponse, CheckedKey, ListBucketsReq, ShowBucketObjectsResponse,
    ShowBucketRecord, ShowBucketRegionReq, ShowBucketRegionResponse, ShowBucketReq, ShowCdnInfoReq,
    ShowCdnInfoResponse, DEFAULT_CDN_SAMPLE,
};
use crate::authn::Caller;
use crate::error::Result;
use crate::extract::OmsJson;
use crate::state::AppState;
use tern_engine::cdn::{CdnAuthentication, CdnSigner};
use tern_engine::inspect;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The helper routes; each handler's `#[utoipa::path]` gives its path, method and document entry.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_bucket_list))
        .routes(routes!(show_bucket_objects))
        .routes(routes!(show_bucket_region))
        .routes(routes!(show_cdn_info))
        .routes(routes!(check_prefix))
        .routes(routes!(update_privacy_agreement_record))
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/objectstorage/buckets",
    tag = "objectstorage",
    operation_id = "ShowBucketList",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = ListBucketsReq,
    responses((status = 200, description = "The names of the buckets the credentials can see", body = Vec<String>))
)]
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

#[utoipa::path(
    post,
    path = "/v2/{project_id}/objectstorage/buckets/objects",
    tag = "objectstorage",
    operation_id = "ShowBucketObjects",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = ShowBucketReq,
    responses((status = 200, description = "One page of a folder's entries", body = ShowBucketObjectsResponse))
)]
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

#[utoipa::path(
    post,
    path = "/v2/{project_id}/objectstorage/buckets/regions",
    tag = "objectstorage",
    operation_id = "ShowBucketRegion",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = ShowBucketRegionReq,
    responses((status = 200, description = "The region the bucket lives in", body = ShowBucketRegionResponse))
)]
async fn show_bucket_region(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<ShowBucketRegionReq>,
) -> Result<Json<ShowBucketRegionResponse>> {
    let (account, bucket) = body.into_domain()?;
    // The name the store knows (COS: `name-APPID`), as a task or the other helpers use it.
    let bucket = account.node(String::new(), bucket).store_bucket();
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

#[utoipa::path(
    post,
    path = "/v2/{project_id}/objectstorage/buckets/prefix",
    tag = "objectstorage",
    operation_id = "CheckPrefix",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = CheckPrefixReq,
    responses((status = 200, description = "Whether an object key starts with the prefix", body = CheckPrefixResponse))
)]
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

#[utoipa::path(
    post,
    path = "/v2/{project_id}/objectstorage/buckets/cdn-info",
    tag = "objectstorage",
    operation_id = "ShowCdnInfo",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = ShowCdnInfoReq,
    responses((status = 200, description = "Whether the CDN domain serves the bucket's objects", body = ShowCdnInfoResponse))
)]
async fn show_cdn_info(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<ShowCdnInfoReq>,
) -> Result<Json<ShowCdnInfoResponse>> {
    let query = body.into_domain()?;
    // The same signer a task's CDN fetches use: the key (or, for Qiniu and KS3, the body's
    // ak/sk) signs each URL and is dropped with the signer at the end of the call.
    let signer = CdnSigner::new(
        CdnAuthentication::parse(&query.cdn.authentication_type)?,
        query.cdn_key.as_ref().map(|key| key.expose()),
        &query.node.credentials.access_key,
        query.node.credentials.secret_key.expose(),
        &query.node.bucket,
    )?;
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
    let checks = inspect::check_cdn(
        &storage,
        &query.cdn.protocol,
        &query.cdn.domain,
        &keys,
        &signer,
    )
    .await?;
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

#[utoipa::path(
    post,
    path = "/v2/{project_id}/privacy-agreements",
    tag = "privacy",
    operation_id = "UpdatePrivacyAgreementRecord",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    responses((status = 200, description = "Recorded; the body is empty"))
)]
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
