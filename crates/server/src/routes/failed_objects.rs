//! tern's own paged view of a task's failed objects (not an OMS operation).
//!
//! OMS only writes the failed-object list into the destination bucket
//! (`failed_object_record.list_file_key`), which a browser cannot read without the bucket's
//! keys. This route pages the same rows from the store's per-object ledger, in key order with
//! a key marker, so a task with millions of failures never loads more than one page.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tern_core::OutcomeKind;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authn::Caller;
use crate::error::Result;
use crate::extract::{OmsPath, OmsQuery};
use crate::routes::query::{int_param, text_param};
use crate::routes::tasks::owned_task;
use crate::state::AppState;

/// Page size when the caller names none.
const DEFAULT_PAGE: i64 = 100;
/// Largest page a caller may ask for.
const MAX_PAGE: i64 = 1000;
/// Longest marker accepted: an object key (1024) plus a destination prefix never exceeds it.
const MAX_MARKER_CHARS: usize = 2048;

/// One failed object, as the failed-object list file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FailedObject {
    /// Source key.
    pub key: String,
    /// Source size in bytes (0 when unknown, e.g. a named key that does not exist).
    pub size: u64,
    /// The OMS failure code (`TRF.xxxx`).
    pub error_code: String,
    /// The one-line cause.
    pub error_msg: String,
}

/// One page of failed objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListFailedObjectsResponse {
    /// Failed objects in key order.
    pub failed_objects: Vec<FailedObject>,
    /// Pass as `marker` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// The failed-object route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_failed_objects))
}

#[utoipa::path(
    get,
    path = "/v2/{project_id}/tasks/{task_id}/failed-objects",
    tag = "tasks",
    operation_id = "ListFailedObjects",
    params(("project_id" = String, Path, description = "The caller's project (its token or access key must belong to it)"), ("task_id" = String, Path, pattern = "^[0-9]{1,15}$", description = "Task id, 0..999999999999999"), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Page size (default 100)"), ("marker" = Option<String>, Query, max_length = 2048, description = "The previous page's `next_marker`; empty or absent for the first page")),
    responses((status = 200, description = "One page of the task's failed objects, in key order", body = ListFailedObjectsResponse))
)]
async fn list_failed_objects(
    State(state): State<AppState>,
    caller: Caller,
    OmsPath((_, task_id)): OmsPath<(String, String)>,
    OmsQuery(query): OmsQuery<HashMap<String, String>>,
) -> Result<Json<ListFailedObjectsResponse>> {
    let limit = int_param(&query, "limit", 1, MAX_PAGE)?.unwrap_or(DEFAULT_PAGE) as usize;
    let marker = text_param(&query, "marker", 0, MAX_MARKER_CHARS)?.filter(|m| !m.is_empty());
    let task = owned_task(&state, &caller, &task_id).await?;
    // One row more than asked tells whether another page follows without a second query.
    let mut rows = state
        .store
        .ledger_page(
            task.id,
            OutcomeKind::Failed,
            marker.as_deref(),
            limit as u64 + 1,
        )
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_marker = more
        .then(|| rows.last().map(|row| row.key.clone()))
        .flatten();
    Ok(Json(ListFailedObjectsResponse {
        failed_objects: rows
            .into_iter()
            .map(|row| FailedObject {
                key: row.key,
                size: row.size,
                error_code: row.detail,
                error_msg: row.message,
            })
            .collect(),
        next_marker,
    }))
}
