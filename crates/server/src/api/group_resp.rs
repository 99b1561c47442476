//! Task group responses: `TaskGroupResp` (= `ShowTaskGroupResponse`), list and create results.

use serde::{Deserialize, Serialize};
use tern_core::{GroupTaskType, GroupTotals, TaskGroup};
use utoipa::ToSchema;

use super::{
    BandwidthPolicyDto, DstNodeResp, ErrorReasonResp, FailedObjectRecordDto, ListFile, SmnConfig,
    SourceCdnResp, SrcNodeResp, TaskEcho,
};

/// `create_task_group` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateTaskGroupResponse {
    /// New group id (a UUID string).
    pub group_id: String,
}

/// `list_task_group` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListTaskGroupResponse {
    /// Number of matching groups (not the page size).
    pub count: i64,
    /// One page of groups.
    pub taskgroups: Vec<TaskGroupResp>,
}

/// `show_task_group` result: the same shape as [`TaskGroupResp`].
pub type ShowTaskGroupResponse = TaskGroupResp;

/// `src_node` of a group response: a task's [`SrcNodeResp`], with `cloud_type` UPPER-CASE
/// (`HUAWEICLOUD`, `AWS`, `URLSOURCE`, …) as OMS echoes it for groups.
pub type TaskGroupSrcNodeResp = SrcNodeResp;

/// `dst_node` of a group response: the same shape as a task's.
pub type TaskGroupDstNodeResp = DstNodeResp;

/// One task group as OMS shows it, fields in the reference's order. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskGroupResp {
    /// Group id.
    pub group_id: String,
    /// OMS group status code 0..=9.
    pub status: i32,
    /// Why the group failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReasonResp>,
    /// Source.
    pub src_node: TaskGroupSrcNodeResp,
    /// Description ("" when unset).
    pub description: String,
    /// Destination.
    pub dst_node: TaskGroupDstNodeResp,
    /// Whether user metadata is copied.
    pub enable_metadata_migration: bool,
    /// Whether a failed-object list is written.
    pub enable_failed_object_recording: bool,
    /// Whether archived objects are restored first.
    pub enable_restore: bool,
    /// `PREFIX`, `LIST` or `URL_LIST`.
    pub task_type: String,
    /// Rate-limit windows.
    pub bandwidth_policy: Vec<BandwidthPolicyDto>,
    /// SMN settings as given at create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smn_config: Option<SmnConfig>,
    /// CDN settings (without the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cdn: Option<SourceCdnResp>,
    /// `migrate_since` in Unix ms (0 = not set); the request gives seconds.
    pub migrate_since: i64,
    /// Sum of the tasks' current speeds, bytes/s.
    pub migrate_speed: i64,
    /// Migrating time summed over the tasks, ms.
    pub total_time: i64,
    /// First start of splitting (creation time before), Unix ms.
    pub start_time: i64,
    /// Tasks of the group.
    pub total_task_num: i64,
    /// Tasks created so far.
    pub create_task_num: i64,
    /// Failed tasks.
    pub failed_task_num: i64,
    /// Succeeded tasks.
    pub complete_task_num: i64,
    /// Paused tasks.
    pub paused_task_num: i64,
    /// Migrating or pausing tasks.
    pub executing_task_num: i64,
    /// Waiting or retrying tasks.
    pub waiting_task_num: i64,
    /// Total objects.
    pub total_num: i64,
    /// Objects given to created tasks.
    pub create_complete_num: i64,
    /// Succeeded objects.
    pub success_num: i64,
    /// Failed objects.
    pub fail_num: i64,
    /// Skipped objects.
    pub skip_num: i64,
    /// Total bytes.
    pub total_size: i64,
    /// Bytes given to created tasks.
    pub create_complete_size: i64,
    /// Bytes migrated successfully.
    pub complete_size: i64,
    /// Never set: each task of the group reports its own failed-object list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_object_record: Option<FailedObjectRecordDto>,
    /// Overwrite rule.
    pub object_overwrite_mode: String,
    /// Destination storage class.
    pub dst_storage_policy: String,
    /// Consistency check.
    pub consistency_check: String,
    /// `BUCKET` or `PFS`.
    pub obs_system: String,
    /// Requester-pays on the source.
    pub enable_requester_pays: bool,
}

/// Converts a count to OMS's int64, saturating (u64 beyond i64 cannot happen in practice).
fn int64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TaskGroupResp {
    /// Builds the response for a group from its tasks summed up.
    ///
    /// Object counts: the splitter's `assigned_*` lead while tasks have not listed their slices
    /// yet, the tasks' ledgers once they have (they can run ahead after a resume re-lists), so
    /// totals are the larger of the two. `total_time` is `totals.total_time_ms` as stored;
    /// `now_ms` is taken for parity with `TaskResp::from_task` and does not change it.
    pub fn from_group(group: &TaskGroup, totals: &GroupTotals, now_ms: i64) -> TaskGroupResp {
        let _ = now_ms;
        let spec = &group.spec;
        let split = &group.split;
        let counters = &totals.counters;
        let echo = TaskEcho::parse(&spec.echo_json);
        let list_file = spec.src.list_file.as_ref().map(|list_file| ListFile {
            list_file_key: list_file.key.clone(),
            obs_bucket: list_file.bucket.clone(),
            list_file_num: echo.list_file_num.clone(),
        });
        TaskGroupResp {
            group_id: group.id.0.clone(),
            status: group.status.code(),
            error_reason: group
                .error_reason
                .as_ref()
                .map(ErrorReasonResp::from_reason),
            src_node: TaskGroupSrcNodeResp {
                bucket: spec.src.bucket.clone(),
                cloud_type: spec.src.cloud_type.as_str().to_ascii_uppercase(),
                region: spec.src.region.clone(),
                app_id: spec.src.app_id.clone().unwrap_or_default(),
                object_key: match spec.task_type {
                    GroupTaskType::Prefix => spec.src.object_keys.clone(),
                    GroupTaskType::List | GroupTaskType::UrlList => Vec::new(),
                },
                list_file,
            },
            description: spec.description.clone(),
            dst_node: TaskGroupDstNodeResp {
                bucket: spec.dst.bucket.clone(),
                region: spec.dst.region.clone(),
                save_prefix: spec.dst.save_prefix.clone(),
            },
            enable_metadata_migration: spec.enable_metadata_migration,
            enable_failed_object_recording: spec.enable_failed_object_recording,
            enable_restore: spec.enable_restore,
            task_type: spec.task_type.as_str().to_owned(),
            bandwidth_policy: BandwidthPolicyDto::from_policy(&spec.bandwidth_policy),
            smn_config: echo.smn_config,
            source_cdn: echo.source_cdn,
            migrate_since: spec
                .migrate_since_s
                .map_or(0, |seconds| seconds.saturating_mul(1000)),
            migrate_speed: totals.migrate_speed,
            total_time: totals.total_time_ms,
            start_time: group.start_time_ms.unwrap_or(group.created_at_ms),
            total_task_num: int64(totals.task_num.max(split.task_num)),
            create_task_num: int64(split.task_num),
            failed_task_num: int64(totals.failed_task_num),
            complete_task_num: int64(totals.complete_task_num),
            paused_task_num: int64(totals.paused_task_num),
            executing_task_num: int64(totals.executing_task_num),
            waiting_task_num: int64(totals.waiting_task_num),
            total_num: int64(split.assigned_num.max(counters.total_num)),
            create_complete_num: int64(split.assigned_num),
            success_num: int64(counters.successful_num),
            fail_num: int64(counters.failed_num),
            skip_num: int64(counters.skipped_num),
            total_size: int64(split.assigned_size.max(counters.total_size)),
            create_complete_size: int64(split.assigned_size),
            complete_size: int64(counters.successful_size),
            failed_object_record: None,
            object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
            dst_storage_policy: spec.dst_storage_policy.clone(),
            consistency_check: spec.consistency_check.as_str().to_owned(),
            obs_system: "BUCKET".to_owned(),
            enable_requester_pays: spec.enable_requester_pays,
        }
    }
}
