//! tern's own record of where a task ran (not an OMS operation, RFC 0011).
//!
//! With several nodes on one database a task may run on one node, be taken over by another
//! after the first one's lease expired, and be started again elsewhere. OMS's task object has
//! no field for that, so the runs are a route of their own rather than an extra wire field.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tern_core::RunRecord;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::Caller;
use crate::error::Result;
use crate::extract::OmsPath;
use crate::routes::tasks::owned_task;
use crate::state::AppState;

/// One run (claim) of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaskRun {
    /// The claim's fencing token; runs are listed in its order.
    pub fence: i64,
    /// The node that ran it.
    pub node: String,
    /// Claimed at, Unix ms.
    pub started_at: i64,
    /// Its end was written at, Unix ms; null while it runs or when its node died.
    pub ended_at: Option<i64>,
}

impl From<RunRecord> for TaskRun {
    fn from(run: RunRecord) -> Self {
        TaskRun {
            fence: run.fence.0,
            node: run.node.0,
            started_at: run.started_ms,
            ended_at: run.ended_ms,
        }
    }
}

/// Every run of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListTaskRunsResponse {
    /// Runs in claim order.
    pub runs: Vec<TaskRun>,
    /// How many runs.
    pub count: usize,
}

/// The task-runs route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_task_runs))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/tasks/{task_id}/runs",
    tag = "tasks",
    operation_id = "ListTaskRuns",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999")),
    responses((status = 200, description = "The task's runs in claim order: which node ran each and when", body = ListTaskRunsResponse))
)]
async fn list_task_runs(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
) -> Result<Json<ListTaskRunsResponse>> {
    let task = owned_task(&state, &caller, &task_id).await?;
    // A task's runs are one per claim (start, retry, take-over), so they need no paging.
    let runs: Vec<TaskRun> = state
        .store
        .task_runs(task.id)
        .await?
        .into_iter()
        .map(TaskRun::from)
        .collect();
    Ok(Json(ListTaskRunsResponse {
        count: runs.len(),
        runs,
    }))
}
