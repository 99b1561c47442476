//! Task groups: operations 9–16 of REFERENCE.md (`/v2/{project_id}/taskgroups…`).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use tern_core::{GroupId, GroupStatus, TaskGroup};
use tern_scheduler::now_ms;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{
    CreateTaskGroupReq, CreateTaskGroupResponse, ListTaskGroupResponse, RetryTaskGroupReq,
    StartTaskGroupReq, TaskGroupResp, UpdateBandwidthPolicyReq,
};
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::{OmsJson, OmsPath, OmsQuery};
use crate::routes::query::int_param;
use crate::routes::tasks::{check_options_honoured, check_regions_known, check_smn_topic};
use crate::state::AppState;

/// Longest group id accepted in a path.
const MAX_GROUP_ID_CHARS: usize = 1024;

/// The task-group routes; each handler's `#[utoipa::path]` gives its path, method and document
/// entry.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_task_group, list_task_group))
        .routes(routes!(show_task_group, delete_task_group))
        .routes(routes!(start_task_group))
        .routes(routes!(stop_task_group))
        .routes(routes!(retry_task_group))
        .routes(routes!(update_task_group))
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/taskgroups",
    tag = "taskgroups",
    operation_id = "CreateTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = CreateTaskGroupReq,
    responses((status = 200, description = "The group was created", body = CreateTaskGroupResponse))
)]
async fn create_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsJson(body): OmsJson<CreateTaskGroupReq>,
) -> Result<Json<CreateTaskGroupResponse>> {
    let smn_config = body.smn_config.clone();
    let (spec, secrets) = body.into_domain()?;
    check_regions_known(&state, &spec.src, &spec.dst)?;
    check_smn_topic(&state, smn_config.as_ref())?;
    check_options_honoured(
        &state,
        &spec.src,
        &spec.dst,
        &spec.dst_storage_policy,
        spec.enable_requester_pays,
        spec.enable_restore,
    )?;
    let group = state
        .store
        .create_group(&caller.project_id, &spec, &secrets, now_ms())
        .await?;
    tracing::info!(group_id = %group.id, project_id = %caller.project_id, "task group created");
    state.scheduler.wake_groups();
    Ok(Json(CreateTaskGroupResponse {
        group_id: group.id.0,
    }))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/taskgroups",
    tag = "taskgroups",
    operation_id = "ListTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size (default 10)"), ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647, description = "Groups skipped (default 0)"), ("status" = Option<i64>, Query, minimum = 0, maximum = 9, description = "Only groups in this status")),
    responses((status = 200, description = "One page of task groups", body = ListTaskGroupResponse))
)]
async fn list_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<ListTaskGroupResponse>> {
    let limit = int_param(&query, "limit", 1, 100)?.unwrap_or(10);
    let offset = int_param(&query, "offset", 0, 2_147_483_647)?.unwrap_or(0);
    let status = int_param(&query, "status", 0, 9)?
        .map(|code| {
            GroupStatus::from_code(code as i32)
                .ok_or_else(|| ApiError::invalid("status", "must be 0..9"))
        })
        .transpose()?;
    let (groups, count) = state
        .store
        .list_groups(&caller.project_id, status, offset as u64, limit as u64)
        .await?;
    let now = now_ms();
    let mut taskgroups = Vec::with_capacity(groups.len());
    for group in &groups {
        let totals = state.store.group_totals(&group.id).await?;
        taskgroups.push(TaskGroupResp::from_group(group, &totals, now));
    }
    Ok(Json(ListTaskGroupResponse {
        count: count as i64,
        taskgroups,
    }))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/taskgroups/{group_id}",
    tag = "taskgroups",
    operation_id = "ShowTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("group_id" = String, Path, min_length = 1, max_length = 1024, description = "Task group id")),
    responses((status = 200, description = "The task group", body = TaskGroupResp))
)]
async fn show_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, group_id)): OmsPath<(String, String)>,
) -> Result<Json<TaskGroupResp>> {
    let group = owned_group(&state, &caller, &group_id).await?;
    let totals = state.store.group_totals(&group.id).await?;
    Ok(Json(TaskGroupResp::from_group(&group, &totals, now_ms())))
}

#[utoipa::path(
    delete,
    path = "/v2/{project_id}/taskgroups/{group_id}",
    tag = "taskgroups",
    operation_id = "DeleteTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("group_id" = String, Path, min_length = 1, max_length = 1024, description = "Task group id")),
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn delete_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, group_id)): OmsPath<(String, String)>,
) -> Result<()> {
    let group = owned_group(&state, &caller, &group_id).await?;
    state.scheduler.delete_group(&group.id).await?;
    tracing::info!(group_id = %group.id, "task group deleted");
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v2/{project_id}/taskgroups/{group_id}/start",
    tag = "taskgroups",
    operation_id = "StartTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("group_id" = String, Path, min_length = 1, max_length = 1024, description = "Task group id")),
    request_body = StartTaskGroupReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn start_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, group_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<StartTaskGroupReq>,
) -> Result<()> {
    let group = owned_group(&state, &caller, &group_id).await?;
    let secrets = body.into_domain()?;
    state.scheduler.start_group(&group.id, &secrets).await?;
    tracing::info!(group_id = %group.id, "task group started");
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v2/{project_id}/taskgroups/{group_id}/stop",
    tag = "taskgroups",
    operation_id = "StopTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("group_id" = String, Path, min_length = 1, max_length = 1024, description = "Task group id")),
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn stop_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, group_id)): OmsPath<(String, String)>,
) -> Result<()> {
    let group = owned_group(&state, &caller, &group_id).await?;
    state.scheduler.stop_group(&group.id).await?;
    tracing::info!(group_id = %group.id, "task group stop requested");
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v2/{project_id}/taskgroups/{group_id}/retry",
    tag = "taskgroups",
    operation_id = "RetryTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("group_id" = String, Path, min_length = 1, max_length = 1024, description = "Task group id")),
    request_body = RetryTaskGroupReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn retry_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, group_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<RetryTaskGroupReq>,
) -> Result<()> {
    let group = owned_group(&state, &caller, &group_id).await?;
    let retry = body.into_domain()?;
    state
        .scheduler
        .retry_group(
            &group.id,
            retry.secrets.as_ref(),
            retry.migrate_failed_object,
        )
        .await?;
    tracing::info!(group_id = %group.id, failed_only = retry.migrate_failed_object, "task group retried");
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v2/{project_id}/taskgroups/{group_id}/update",
    tag = "taskgroups",
    operation_id = "UpdateTaskGroup",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("group_id" = String, Path, min_length = 1, max_length = 1024, description = "Task group id")),
    request_body = UpdateBandwidthPolicyReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn update_task_group(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, group_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<UpdateBandwidthPolicyReq>,
) -> Result<()> {
    let group = owned_group(&state, &caller, &group_id).await?;
    let policy = body.into_domain()?;
    state
        .scheduler
        .update_group_bandwidth_policy(&group.id, policy)
        .await?;
    Ok(())
}

/// Loads a group of the caller's project. Another project's group answers exactly like an
/// unknown one (404), so a project cannot probe for other projects' group ids.
async fn owned_group(state: &AppState, caller: &Caller, raw_id: &str) -> Result<TaskGroup> {
    let length = raw_id.chars().count();
    if !(1..=MAX_GROUP_ID_CHARS).contains(&length) {
        return Err(ApiError::invalid(
            "group_id",
            format!("length {length} is outside 1..{MAX_GROUP_ID_CHARS}"),
        ));
    }
    match state.store.get_group(&GroupId(raw_id.to_owned())).await? {
        Some(group) if group.project_id == caller.project_id => Ok(group),
        _ => Err(ApiError::GroupNotFound(raw_id.to_owned())),
    }
}
