//! Stored forms of task groups: the `task_groups.spec` JSON, the split-progress columns and the
//! row that becomes a [`TaskGroup`].

use serde::{Deserialize, Serialize};
use tern_core::{Error, GroupId, GroupSpec, GroupStatus, SplitProgress, TaskGroup};

use super::{bandwidth_from_json, to_json, StoredDestination, StoredSource};
use crate::error::{from_db, to_db};

/// `task_groups.spec`: a [`GroupSpec`] without secrets and bandwidth policy.
#[derive(Serialize, Deserialize)]
struct StoredGroupSpec {
    task_type: String,
    src: StoredSource,
    dst: StoredDestination,
    description: String,
    migrate_since_s: Option<i64>,
    enable_metadata_migration: bool,
    enable_restore: bool,
    enable_failed_object_recording: bool,
    object_overwrite_mode: String,
    consistency_check: String,
    dst_storage_policy: String,
    enable_requester_pays: bool,
    echo_json: String,
}

/// Encodes a group spec as the `task_groups.spec` JSON.
pub(crate) fn group_spec_json(spec: &GroupSpec) -> Result<String, Error> {
    to_json(&StoredGroupSpec {
        task_type: spec.task_type.as_str().to_owned(),
        src: StoredSource::of(&spec.src),
        dst: StoredDestination::of(&spec.dst),
        description: spec.description.clone(),
        migrate_since_s: spec.migrate_since_s,
        enable_metadata_migration: spec.enable_metadata_migration,
        enable_restore: spec.enable_restore,
        enable_failed_object_recording: spec.enable_failed_object_recording,
        object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
        consistency_check: spec.consistency_check.as_str().to_owned(),
        dst_storage_policy: spec.dst_storage_policy.clone(),
        enable_requester_pays: spec.enable_requester_pays,
        echo_json: spec.echo_json.clone(),
    })
}

/// A [`SplitProgress`] as the values bound to the split columns of `task_groups`.
pub(crate) struct SplitColumns {
    pub(crate) source_index: i64,
    pub(crate) last_key: Option<String>,
    pub(crate) lines_done: i64,
    pub(crate) done: bool,
    pub(crate) task_num: i64,
    pub(crate) assigned_num: i64,
    pub(crate) assigned_size: i64,
    /// The split lease's fence the write carries (never read back).
    pub(crate) fence: Option<tern_core::Fence>,
}

/// Converts split progress to column values, refusing counts too large for `BIGINT`.
pub(crate) fn split_columns(split: &SplitProgress) -> Result<SplitColumns, Error> {
    Ok(SplitColumns {
        source_index: i64::from(split.source_index),
        last_key: split.last_key.clone(),
        lines_done: to_db(split.lines_done, "lines_done")?,
        done: split.done,
        task_num: to_db(split.task_num, "task_num")?,
        assigned_num: to_db(split.assigned_num, "assigned_num")?,
        assigned_size: to_db(split.assigned_size, "assigned_size")?,
        fence: split.fence,
    })
}

/// A `task_groups` row as plain values, read by a backend and turned into a [`TaskGroup`].
pub(crate) struct GroupRow {
    pub(crate) id: String,
    pub(crate) project_id: String,
    pub(crate) status: i32,
    pub(crate) spec: String,
    pub(crate) bandwidth_policy: String,
    pub(crate) split: SplitColumns,
    pub(crate) created_at_ms: i64,
    pub(crate) start_time_ms: Option<i64>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_msg: Option<String>,
}

impl GroupRow {
    /// Rebuilds the domain group; a row that does not parse is an internal error.
    pub(crate) fn into_group(self) -> Result<TaskGroup, Error> {
        let corrupt = |what: &str, err: String| {
            Error::Internal(format!(
                "task group {}: stored {what} is corrupt: {err}",
                self.id
            ))
        };
        let status = GroupStatus::from_code(self.status)
            .ok_or_else(|| corrupt("status", self.status.to_string()))?;
        let stored: StoredGroupSpec =
            serde_json::from_str(&self.spec).map_err(|err| corrupt("spec", err.to_string()))?;
        let bandwidth_policy = bandwidth_from_json(&self.bandwidth_policy)
            .map_err(|err| corrupt("bandwidth policy", err))?;
        let parse_err = |err: Error| corrupt("spec", err.to_string());
        let spec = GroupSpec {
            task_type: stored.task_type.parse().map_err(parse_err)?,
            src: stored.src.into_spec().map_err(parse_err)?,
            dst: stored.dst.into_spec().map_err(parse_err)?,
            description: stored.description,
            migrate_since_s: stored.migrate_since_s,
            bandwidth_policy,
            enable_metadata_migration: stored.enable_metadata_migration,
            enable_restore: stored.enable_restore,
            enable_failed_object_recording: stored.enable_failed_object_recording,
            object_overwrite_mode: stored.object_overwrite_mode.parse().map_err(parse_err)?,
            consistency_check: stored.consistency_check.parse().map_err(parse_err)?,
            dst_storage_policy: stored.dst_storage_policy,
            enable_requester_pays: stored.enable_requester_pays,
            echo_json: stored.echo_json,
        };
        let columns = self.split;
        let split = SplitProgress {
            source_index: u32::try_from(columns.source_index)
                .map_err(|err| corrupt("source_index", err.to_string()))?,
            last_key: columns.last_key,
            lines_done: from_db(columns.lines_done, "lines_done")?,
            done: columns.done,
            task_num: from_db(columns.task_num, "task_num")?,
            assigned_num: from_db(columns.assigned_num, "assigned_num")?,
            assigned_size: from_db(columns.assigned_size, "assigned_size")?,
            fence: None,
        };
        let error_reason = super::failure_reason(self.error_code, self.error_msg)?;
        Ok(TaskGroup {
            id: GroupId(self.id),
            project_id: self.project_id,
            spec,
            status,
            split,
            created_at_ms: self.created_at_ms,
            start_time_ms: self.start_time_ms,
            error_reason,
        })
    }
}
