//! URL-list files: operation 30 of REFERENCE.md (`check_url_source_list_file_format`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

use crate::api::CheckUrlSourceListFileFormatReq;
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::OmsJson;
use crate::state::AppState;

/// The URL-list route, at the path the official SDK calls.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v2/{project_id}/objectstorage/buckets/url-source-list-file",
        post(check_url_source_list_file_format),
    )
}

/// Answers 200 with no body when every line is well formed, else 400 naming the first bad line.
async fn check_url_source_list_file_format(
    State(state): State<AppState>,
    _caller: Caller,
    OmsJson(body): OmsJson<CheckUrlSourceListFileFormatReq>,
) -> Result<StatusCode> {
    let check = body.into_domain()?;
    tern_scheduler::check_url_list_file(
        &state.regions,
        &check.region,
        &check.bucket,
        &check.key,
        check.credentials,
    )
    .await
    .map_err(|problem| ApiError::invalid(problem.field, problem.message))?;
    Ok(StatusCode::OK)
}
