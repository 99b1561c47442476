//! Sync tasks: operations 17–24 of REFERENCE.md (`/v2/{project_id}/sync-tasks…`), and the S3
//! event-notification receiver beside them (`…/notifications`, tern only).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tern_core::{month_bounds_ms, StatType, SyncCounts, SyncStatus, SyncTask, SyncTaskId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{
    statistic_series, CreateSyncTaskReq, CreateSyncTaskResponse, ListSyncTaskStatisticResponse,
    ListSyncTasksResponse, S3EventNotification, ShowSyncTaskResponse, StartSyncTaskReq,
    SyncObjectReq, SyncTaskInfo,
};
use crate::authn::Caller;
use crate::error::{ApiError, Result};
use crate::extract::{OmsJson, OmsPath, OmsQuery};
use crate::routes::query::{int_param, text_param};
use crate::state::AppState;

/// Longest sync-task id accepted in a path (OMS: 1..1024 for events).
const MAX_SYNC_TASK_ID_CHARS: usize = 1024;
/// Widest span `list_sync_task_statistic` answers in five-minute points.
const FIVE_MINUTE_SPAN_MS: i64 = 24 * tern_core::HOUR_MS;
/// Widest span `list_sync_task_statistic` answers at all (hourly points).
const MAX_STATISTIC_SPAN_MS: i64 = 366 * 24 * tern_core::HOUR_MS;

/// The sync-task routes; each handler's `#[utoipa::path]` gives its path, method and document
/// entry.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_sync_task, list_sync_tasks))
        .routes(routes!(show_sync_task, delete_sync_task))
        .routes(routes!(start_sync_task))
        .routes(routes!(stop_sync_task))
        .routes(routes!(create_sync_events))
        .routes(routes!(receive_notifications))
        .routes(routes!(list_sync_task_statistic))
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/sync-tasks",
    tag = "synctasks",
    operation_id = "CreateSyncTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)")),
    request_body = CreateSyncTaskReq,
    responses((status = 200, description = "The sync task was created", body = CreateSyncTaskResponse))
)]
async fn create_sync_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsJson(body): OmsJson<CreateSyncTaskReq>,
) -> Result<Json<CreateSyncTaskResponse>> {
    let (spec, secrets) = body.into_domain()?;
    check_region(&state, "src_region", spec.src_cloud_type, &spec.src_region)?;
    check_region(&state, "dst_region", spec.dst_cloud_type, &spec.dst_region)?;
    let protocol = |cloud_type, region: &str| state.regions.protocol_of(cloud_type, region);
    // A field tern accepts, it honours: what the endpoints cannot do is refused now.
    tern_core::check_transfer_options(
        &spec.dst_storage_policy,
        false,
        spec.enable_restore,
        Some(protocol(spec.src_cloud_type, &spec.src_region)?),
        protocol(spec.dst_cloud_type, &spec.dst_region)?,
    )?;
    let task = state
        .sync
        .create(&caller.project_id, &spec, &secrets)
        .await?;
    tracing::info!(sync_task_id = %task.id, project_id = %caller.project_id, "sync task created");
    Ok(Json(CreateSyncTaskResponse {
        sync_task_id: task.id.0,
    }))
}

fn check_region(
    state: &AppState,
    field: &str,
    cloud_type: tern_core::CloudType,
    region: &str,
) -> Result<()> {
    state
        .regions
        .lookup(cloud_type, region)
        .map(|_| ())
        .map_err(|err| ApiError::invalid(field, err.to_string()))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/sync-tasks",
    tag = "synctasks",
    operation_id = "ListSyncTasks",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size (default 10)"), ("offset" = Option<i64>, Query, minimum = 0, maximum = 10000, description = "Tasks skipped (default 0)"), ("status" = Option<String>, Query, pattern = "^(SYNCHRONIZING|STOPPED)?$", description = "Only tasks in this status; empty means any")),
    responses((status = 200, description = "One page of sync tasks", body = ListSyncTasksResponse))
)]
async fn list_sync_tasks(
    State(state): State<AppState>,
    caller: Caller,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<ListSyncTasksResponse>> {
    let limit = int_param(&query, "limit", 1, 100)?.unwrap_or(10);
    let offset = int_param(&query, "offset", 0, 10_000)?.unwrap_or(0);
    let status = text_param(&query, "status", 0, 255)?
        .filter(|status| !status.is_empty())
        .map(|status| {
            status
                .parse::<SyncStatus>()
                .map_err(|_| ApiError::invalid("status", "must be SYNCHRONIZING or STOPPED"))
        })
        .transpose()?;
    let (tasks, count) = state
        .sync
        .store()
        .list_sync_tasks(&caller.project_id, status, offset as u64, limit as u64)
        .await?;
    Ok(Json(ListSyncTasksResponse {
        tasks: tasks.iter().map(SyncTaskInfo::from_task).collect(),
        count: i64::try_from(count).unwrap_or(i64::MAX),
    }))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}",
    tag = "synctasks",
    operation_id = "ShowSyncTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id"), ("query_time" = i64, Query, minimum = 0, description = "Unix ms; the monthly counters are of the month holding it")),
    responses((status = 200, description = "The sync task with its counters for the month", body = ShowSyncTaskResponse))
)]
async fn show_sync_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<ShowSyncTaskResponse>> {
    let query_time = int_param(&query, "query_time", 0, i64::MAX)?
        .ok_or_else(|| ApiError::required("query_time"))?;
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    let (from, to) = month_bounds_ms(query_time);
    let mut month = SyncCounts::default();
    for bucket in state.sync.store().sync_stats(&task.id, from, to).await? {
        month.add(&bucket.counts);
    }
    Ok(Json(ShowSyncTaskResponse::from_task(&task, &month)))
}

#[utoipa::path(
    delete,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}",
    tag = "synctasks",
    operation_id = "DeleteSyncTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id")),
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn delete_sync_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
) -> Result<()> {
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    state.sync.delete(&task.id).await?;
    tracing::info!(sync_task_id = %task.id, "sync task deleted");
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}/start",
    tag = "synctasks",
    operation_id = "StartSyncTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id")),
    request_body = StartSyncTaskReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn start_sync_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<StartSyncTaskReq>,
) -> Result<()> {
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    let secrets = body.into_domain()?;
    state.sync.start_task(&task.id, &secrets).await?;
    tracing::info!(sync_task_id = %task.id, "sync task started");
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}/stop",
    tag = "synctasks",
    operation_id = "StopSyncTask",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id")),
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn stop_sync_task(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
) -> Result<()> {
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    state.sync.stop(&task.id).await?;
    tracing::info!(sync_task_id = %task.id, "sync task stopped");
    Ok(())
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}/events",
    tag = "synctasks",
    operation_id = "CreateSyncEvents",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id")),
    request_body = SyncObjectReq,
    responses((status = 200, description = "Done; the body is empty"))
)]
async fn create_sync_events(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<SyncObjectReq>,
) -> Result<()> {
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    let keys = body.into_keys()?;
    let queued = state.sync.accept_events(&task.id, &keys).await?;
    tracing::debug!(sync_task_id = %task.id, received = keys.len(), queued, "sync events accepted");
    Ok(())
}

/// What the notification receiver answers.
#[derive(Debug, Serialize, ToSchema)]
struct NotificationsAccepted {
    /// Records naming an object to copy.
    received: u64,
    /// Of those, keys newly queued (a key already waiting is not queued twice).
    queued: u64,
    /// Removal records, never propagated.
    ignored: u64,
}

#[utoipa::path(
    post,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}/notifications",
    tag = "synctasks",
    operation_id = "ReceiveSyncNotifications",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id")),
    request_body(content = Option<S3EventNotification>, description = "An S3 event notification; an empty body reads as `{}`, a test event with no records"),
    responses((status = 200, description = "The records were read; created objects are queued", body = NotificationsAccepted))
)]
async fn receive_notifications(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
    OmsJson(body): OmsJson<S3EventNotification>,
) -> Result<Json<NotificationsAccepted>> {
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    let notified = body.into_keys(&task.spec.src_bucket)?;
    let queued = if notified.keys.is_empty() {
        // A test event or removals only: nothing to queue, but a stopped task still refuses.
        state.sync.accept_events(&task.id, &[]).await?
    } else {
        state.sync.accept_events(&task.id, &notified.keys).await?
    };
    Ok(Json(NotificationsAccepted {
        received: notified.keys.len() as u64,
        queued,
        ignored: notified.ignored,
    }))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/sync-tasks/{sync_task_id}/statistics",
    tag = "synctasks",
    operation_id = "ListSyncTaskStatistic",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("sync_task_id" = String, Path, min_length = 1, max_length = 1024, description = "Sync task id"), ("data_type" = String, Query, min_length = 1, max_length = 255, description = "Comma-separated series: REQUEST, SUCCESS, FAILURE, SKIP, SIZE"), ("start_time" = i64, Query, minimum = 0, description = "Unix ms"), ("end_time" = i64, Query, minimum = 0, description = "Unix ms, not before start_time and at most 366 days after it; spans up to a day get five-minute points, longer ones hourly")),
    responses((status = 200, description = "The series", body = ListSyncTaskStatisticResponse))
)]
async fn list_sync_task_statistic(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, sync_task_id)): OmsPath<(String, String)>,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<ListSyncTaskStatisticResponse>> {
    let data_type =
        text_param(&query, "data_type", 1, 255)?.ok_or_else(|| ApiError::required("data_type"))?;
    let mut types: Vec<StatType> = Vec::new();
    for name in data_type.split(',') {
        let kind: StatType = name
            .trim()
            .parse()
            .map_err(|err: tern_core::Error| ApiError::from(err))?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    let start_time = int_param(&query, "start_time", 0, i64::MAX)?
        .ok_or_else(|| ApiError::required("start_time"))?;
    let end_time = int_param(&query, "end_time", 0, i64::MAX)?
        .ok_or_else(|| ApiError::required("end_time"))?;
    if end_time < start_time {
        return Err(ApiError::invalid(
            "end_time",
            format!("{end_time} is before start_time {start_time}"),
        ));
    }
    let span = end_time - start_time;
    if span > MAX_STATISTIC_SPAN_MS {
        return Err(ApiError::invalid(
            "end_time",
            "the span from start_time is longer than 366 days",
        ));
    }
    let task = owned_sync_task(&state, &caller, &sync_task_id).await?;
    let (width, name) = if span <= FIVE_MINUTE_SPAN_MS {
        (tern_core::STAT_BUCKET_MS, "FIVE_MINUTES")
    } else {
        (tern_core::HOUR_MS, "ONE_HOUR")
    };
    let from = start_time.div_euclid(width) * width;
    let to = (end_time.div_euclid(width) + 1).saturating_mul(width);
    let buckets = state.sync.store().sync_stats(&task.id, from, to).await?;
    Ok(Json(ListSyncTaskStatisticResponse {
        sync_task_id: task.id.0.clone(),
        statistic_time_type: name.to_owned(),
        statistic_datas: statistic_series(&types, &buckets, start_time, end_time, width),
    }))
}

/// Loads a sync task of the caller's project. Another project's task answers exactly like an
/// unknown one (404), so a project cannot probe for other projects' ids.
async fn owned_sync_task(state: &AppState, caller: &Caller, raw_id: &str) -> Result<SyncTask> {
    let length = raw_id.chars().count();
    if !(1..=MAX_SYNC_TASK_ID_CHARS).contains(&length) {
        return Err(ApiError::invalid(
            "sync_task_id",
            format!("length {length} is outside 1..{MAX_SYNC_TASK_ID_CHARS}"),
        ));
    }
    let id = SyncTaskId(raw_id.to_owned());
    match state.sync.store().get_sync_task(&id).await? {
        Some(task) if task.project_id == caller.project_id => Ok(task),
        _ => Err(ApiError::SyncTaskNotFound(raw_id.to_owned())),
    }
}
