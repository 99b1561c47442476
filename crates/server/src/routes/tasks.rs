//! Migration tasks: operations 1–8 of REFERENCE.md (`/v2/{project_id}/tasks…`).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use tern_core::{Task, TaskFilter, TaskId, TaskStatus};
use tern_scheduler::now_ms;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{
    BatchUpdateTasksReq, CreateTaskReq, CreateTaskResponse, ListTasksResponse, SmnConfig,
    StartTaskReq, TaskResp, UpdateBandwidthPolicyReq,
};
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::{OmsJson, OmsPath, OmsQuery};
use crate::routes::query::{int_param, text_param};
use crate::state::AppState;

/// Largest task id OMS accepts in a path.
const MAX_TASK_ID: i64 = 999_999_999_999_999;

/// The task routes; each handler's `#[utoipa::path]` gives its path, method and document entry.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_task, list_tasks))
        .routes(routes!(batch_update_tasks))
        .routes(routes!(show_task, delete_task))
        .routes(routes!(start_task))
        .routes(routes!(stop_task))
        .routes(routes!(update_bandwidth_policy))
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/tasks",
    tag = "tasks",
    operation_id = "CreateTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = CreateTaskReq,
    responses((status = 200, description = "The task was created", body = CreateTaskResponse))
)]
async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsJson(body): OmsJson<CreateTaskReq>,
) -> Result<Json<CreateTaskResponse>> {
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
    let task = state
        .store
        .create_task(&caller.project_id, &spec, &secrets, now_ms())
        .await?;
    tracing::info!(task_id = %task.id, project_id = %caller.project_id, "task created");
    state.scheduler.wake();
    Ok(Json(CreateTaskResponse {
        id: task.id.0,
        task_name: task.name,
    }))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/tasks",
    tag = "tasks",
    operation_id = "ListTasks",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size (default 10)"), ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647, description = "Tasks skipped (default 0)"), ("status" = Option<i64>, Query, minimum = 1, maximum = 7, description = "Only tasks in this status"), ("group_id" = Option<String>, Query, min_length = 1, max_length = 100, description = "Only tasks of this group"), ("task_name" = Option<String>, Query, max_length = 255, description = "Only the task of this name; empty means any")),
    responses((status = 200, description = "One page of tasks", body = ListTasksResponse))
)]
async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<ListTasksResponse>> {
    let limit = int_param(&query, "limit", 1, 100)?.unwrap_or(10);
    let offset = int_param(&query, "offset", 0, 2_147_483_647)?.unwrap_or(0);
    let status = int_param(&query, "status", 1, 7)?
        .map(|code| {
            TaskStatus::from_code(code as i32)
                .ok_or_else(|| ApiError::invalid("status", "must be 1..7"))
        })
        .transpose()?;
    let group_id = text_param(&query, "group_id", 1, 100)?;
    let name = text_param(&query, "task_name", 0, 255)?.filter(|name| !name.is_empty());
    let filter = TaskFilter {
        status,
        group_id,
        name,
    };
    let (tasks, count) = state
        .store
        .list_tasks(&caller.project_id, &filter, offset as u64, limit as u64)
        .await?;
    let now = now_ms();
    let mut responses = Vec::with_capacity(tasks.len());
    for task in &tasks {
        responses.push(task_resp(&state, task, now).await?);
    }
    Ok(Json(ListTasksResponse {
        tasks: responses,
        count: count as i64,
    }))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/tasks/{task_id}",
    tag = "tasks",
    operation_id = "ShowTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999")),
    responses((status = 200, description = "The task", body = TaskResp))
)]
async fn show_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
) -> Result<Json<TaskResp>> {
    let task = owned_task(&state, &caller, &task_id).await?;
    Ok(Json(task_resp(&state, &task, now_ms()).await?))
}

#[utoipa::path(
    delete,
    path = "/v2/{project_id}/tasks/{task_id}",
    tag = "tasks",
    operation_id = "DeleteTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999")),
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn delete_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
) -> Result<()> {
    let task = owned_task(&state, &caller, &task_id).await?;
    state.store.delete_task(task.id).await?;
    tracing::info!(task_id = %task.id, "task deleted");
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/tasks/{task_id}/start",
    tag = "tasks",
    operation_id = "StartTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999")),
    request_body = StartTaskReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn start_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<StartTaskReq>,
) -> Result<()> {
    let task = owned_task(&state, &caller, &task_id).await?;
    let (secrets, failed_only) = body.into_domain()?;
    state
        .scheduler
        .start_task(task.id, &secrets, failed_only)
        .await?;
    tracing::info!(task_id = %task.id, failed_only, "task started");
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/tasks/{task_id}/stop",
    tag = "tasks",
    operation_id = "StopTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999")),
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn stop_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
) -> Result<()> {
    let task = owned_task(&state, &caller, &task_id).await?;
    state.scheduler.stop_task(task.id).await?;
    tracing::info!(task_id = %task.id, "task stop requested");
    Ok(())
}

#[utoipa::path(
    put,
    path = "/v2/{project_id}/tasks/{task_id}/bandwidth-policy",
    tag = "tasks",
    operation_id = "UpdateBandwidthPolicy",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999")),
    request_body = UpdateBandwidthPolicyReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn update_bandwidth_policy(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<UpdateBandwidthPolicyReq>,
) -> Result<()> {
    let task = owned_task(&state, &caller, &task_id).await?;
    let policy = body.into_domain()?;
    state
        .scheduler
        .update_bandwidth_policy(task.id, policy)
        .await?;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/tasks/batch-update",
    tag = "tasks",
    operation_id = "BatchUpdateTasks",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = BatchUpdateTasksReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn batch_update_tasks(
    State(state): State<AppState>,
    caller: Caller,
    OmsJson(body): OmsJson<BatchUpdateTasksReq>,
) -> Result<()> {
    let update = body.into_domain()?;
    state
        .scheduler
        .batch_update_tasks(
            &caller.project_id,
            &update.target,
            update.bandwidth_policy,
            update.task_priority,
        )
        .await?;
    Ok(())
}

/// A task's response with its notification outcome (`smn_info`).
async fn task_resp(state: &AppState, task: &Task, now: i64) -> Result<TaskResp> {
    let record = state
        .store
        .notification(&tern_core::NotifySubject::Task(task.id))
        .await?;
    Ok(TaskResp::from_task(task, now).with_notification(record.as_ref()))
}

/// Refuses an `smn_config` whose topic the server cannot deliver to: a field tern accepts, it
/// honours, so an unmapped `topic_urn` is a 400 at create rather than a silent no-op at the end.
pub(crate) fn check_smn_topic(state: &AppState, smn: Option<&SmnConfig>) -> Result<()> {
    if let Some(smn) = smn {
        state
            .scheduler
            .check_smn_config(&smn.topic_urn, smn.message_template_name.as_deref())?;
    }
    Ok(())
}

/// Refuses options the task's endpoints cannot honour (storage class, requester pays, restore),
/// after [`check_regions_known`] has resolved both regions.
pub(crate) fn check_options_honoured(
    state: &AppState,
    src: &tern_core::SourceSpec,
    dst: &tern_core::DestinationSpec,
    dst_storage_policy: &str,
    enable_requester_pays: bool,
    enable_restore: bool,
) -> Result<()> {
    let protocol = |cloud_type, region: &str| state.regions.protocol_of(cloud_type, region);
    let source = if src.cloud_type == tern_core::CloudType::UrlSource {
        None
    } else {
        Some(protocol(src.cloud_type, &src.region)?)
    };
    let destination = protocol(dst.cloud_type, &dst.region)?;
    tern_core::check_transfer_options(
        dst_storage_policy,
        enable_requester_pays,
        enable_restore,
        source,
        destination,
    )?;
    Ok(())
}

/// Refuses nodes whose cloud type and region the region table cannot resolve, so that a typo
/// is a 400 now rather than a failed task later; in a local-directory region, also a bucket that
/// is not one directory name under the region's root.
pub(crate) fn check_regions_known(
    state: &AppState,
    src: &tern_core::SourceSpec,
    dst: &tern_core::DestinationSpec,
) -> Result<()> {
    if src.cloud_type != tern_core::CloudType::UrlSource {
        check_node_region(state, "src_node", src.cloud_type, &src.region, &src.bucket)?;
    }
    check_node_region(state, "dst_node", dst.cloud_type, &dst.region, &dst.bucket)
}

fn check_node_region(
    state: &AppState,
    side: &str,
    cloud_type: tern_core::CloudType,
    region: &str,
    bucket: &str,
) -> Result<()> {
    let entry = state
        .regions
        .lookup(cloud_type, region)
        .map_err(|err| ApiError::invalid(format!("{side}.region"), err.to_string()))?;
    if entry.protocol() == tern_core::Protocol::Fs {
        tern_core::check_local_bucket(bucket).map_err(|err| match err {
            tern_core::Error::InvalidField { reason, .. } => {
                ApiError::invalid(format!("{side}.bucket"), reason)
            }
            other => ApiError::invalid(format!("{side}.bucket"), other.to_string()),
        })?;
    }
    Ok(())
}

/// Parses a path task id and loads the task if it is the caller's; another project's task is
/// reported exactly like a missing one, so ids of other projects are never disclosed.
pub(crate) async fn owned_task(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Task> {
    let id = parse_task_id(raw_id)?;
    match state.store.get_task(id).await? {
        Some(task) if task.project_id == caller.project_id => Ok(task),
        _ => Err(ApiError::TaskNotFound(raw_id.to_owned())),
    }
}

fn parse_task_id(raw: &str) -> Result<TaskId> {
    let valid = !raw.is_empty() && raw.len() <= 15 && raw.bytes().all(|b| b.is_ascii_digit());
    let id = valid
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .filter(|id| (0..=MAX_TASK_ID).contains(id))
        .ok_or_else(|| {
            ApiError::invalid(
                "task_id",
                format!("{raw:?} is not a task id (digits, at most {MAX_TASK_ID})"),
            )
        })?;
    Ok(TaskId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_task_id_bounds() {
        assert_eq!(parse_task_id("0").unwrap(), TaskId(0));
        assert_eq!(
            parse_task_id("999999999999999").unwrap(),
            TaskId(MAX_TASK_ID)
        );
        assert!(parse_task_id("1000000000000000").is_err());
        assert!(parse_task_id("-1").is_err());
        assert!(parse_task_id("12a").is_err());
        assert!(parse_task_id("").is_err());
    }
}
