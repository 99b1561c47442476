//! URL-list files: operation 30 of REFERENCE.md (`check_url_source_list_file_format`).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::CheckUrlSourceListFileFormatReq;
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::OmsJson;
use crate::state::AppState;

/// The URL-list route, at the path the official SDK calls.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check_url_source_list_file_format))
}

/// Answers 200 with no body when every line is well formed, else 400 naming the first bad line.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/objectstorage/buckets/url-source-list-file",
    tag = "objectstorage",
    operation_id = "CheckUrlSourceListFileFormat",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = CheckUrlSourceListFileFormatReq,
    responses((status = 200, description = "Every line of the list file is well formed; the body is empty"))
)]
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
