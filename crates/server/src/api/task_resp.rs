//! Task responses: `TaskResp` (= `ShowTaskResponse`), list and create results, nested models.

use serde::{Deserialize, Serialize};
use tern_core::{Task, TaskStatus, TaskType};
use utoipa::ToSchema;

use super::{BandwidthPolicyDto, ListFile, TaskEcho};

/// `create_task` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateTaskResponse {
    /// New task id.
    pub id: i64,
    /// Generated task name.
    pub task_name: String,
}

/// `list_tasks` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListTasksResponse {
    /// One page of tasks.
    pub tasks: Vec<TaskResp>,
    /// Number of matching tasks (not the page size).
    pub count: i64,
}

/// `show_task` result: the same shape as [`TaskResp`].
pub type ShowTaskResponse = TaskResp;

/// One migration task as OMS shows it. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskResp {
    /// Rate-limit windows.
    pub bandwidth_policy: Vec<BandwidthPolicyDto>,
    /// Bytes migrated successfully.
    pub complete_size: i64,
    /// Description ("" when unset).
    pub description: String,
    /// Destination.
    pub dst_node: DstNodeResp,
    /// Whether a failed-object list is written.
    pub enable_failed_object_recording: bool,
    /// Whether user metadata is copied.
    pub enable_metadata_migration: bool,
    /// Whether archived objects are restored first.
    pub enable_restore: bool,
    /// Why the task failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReasonResp>,
    /// Failed objects.
    pub failed_num: i64,
    /// Where the failed-object list went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_object_record: Option<FailedObjectRecordDto>,
    /// Owning group ("" for a normal task).
    pub group_id: String,
    /// Task id.
    pub id: i64,
    /// Whether the source listing finished.
    pub is_query_over: bool,
    /// Estimated time left, ms.
    pub left_time: i64,
    /// `migrate_since` in Unix ms (0 = not set); the request gives seconds.
    pub migrate_since: i64,
    /// Current speed, bytes/s.
    pub migrate_speed: i64,
    /// Task name.
    pub name: String,
    /// Finished fraction, 0..=1.
    pub progress: f64,
    /// Bytes actually transferred.
    pub real_size: i64,
    /// Skipped objects.
    pub skipped_num: i64,
    /// Source.
    pub src_node: SrcNodeResp,
    /// Start time, Unix ms.
    pub start_time: i64,
    /// OMS status code 1..=7.
    pub status: i32,
    /// Succeeded objects.
    pub successful_num: i64,
    /// `object`, `prefix`, `list` or `url_list`.
    pub task_type: String,
    /// `NORMAL_TASK`, `SYNC_TASK` or `GROUP_TASK`.
    pub group_type: String,
    /// Total objects.
    pub total_num: i64,
    /// Total bytes.
    pub total_size: i64,
    /// Elapsed migration time, ms.
    pub total_time: i64,
    /// SMN notification outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smn_info: Option<SmnInfo>,
    /// CDN settings (without the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cdn: Option<SourceCdnResp>,
    /// Error code of writing the success list ("" on success).
    pub success_record_error_reason: String,
    /// Error code of writing the skipped list ("" on success).
    pub skip_record_error_reason: String,
    /// Overwrite rule.
    pub object_overwrite_mode: String,
    /// Destination storage class.
    pub dst_storage_policy: String,
    /// Consistency check.
    pub consistency_check: String,
    /// Requester-pays on the source.
    pub enable_requester_pays: bool,
    /// `BUCKET` or `PFS`.
    pub obs_system: String,
    /// `HIGH`, `MEDIUM` or `LOW`.
    pub task_priority: String,
}

/// `src_node` of a task response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SrcNodeResp {
    /// Bucket.
    pub bucket: String,
    /// Vendor.
    pub cloud_type: String,
    /// Region.
    pub region: String,
    /// Tencent APPID ("" when unset).
    pub app_id: String,
    /// Object names or prefixes (empty for list tasks).
    pub object_key: Vec<String>,
    /// List file of `list` / `url_list` tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_file: Option<ListFile>,
}

/// `dst_node` of a task response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DstNodeResp {
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Key prefix ("" when unset).
    pub save_prefix: String,
}

/// `source_cdn` of a task response (the key is never echoed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceCdnResp {
    /// CDN domain.
    pub domain: String,
    /// `http` or `https`.
    pub protocol: String,
    /// URL-auth scheme.
    pub authentication_type: String,
}

/// `smn_info`: how the SMN notification went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmnInfo {
    /// Whether the message was sent.
    pub notify_result: bool,
    /// Error code of sending ("" on success).
    pub notify_error_message: String,
    /// Topic name.
    pub topic_name: String,
}

/// `error_reason`: why a task failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorReasonResp {
    /// `TRF.xxxx`.
    pub error_code: String,
    /// Cause.
    pub error_msg: String,
}

impl ErrorReasonResp {
    /// The wire form of a failure reason.
    pub fn from_reason(reason: &tern_core::FailureReason) -> Self {
        ErrorReasonResp {
            error_code: reason.code.as_str().to_owned(),
            error_msg: reason.message.clone(),
        }
    }
}

/// `failed_object_record`: the failed-object list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FailedObjectRecordDto {
    /// Whether re-migrating failed objects is possible.
    pub result: bool,
    /// Key of the list file.
    pub list_file_key: String,
    /// Error code of writing the list ("" on success).
    pub error_code: String,
}

/// Converts a count to OMS's int64, saturating (u64 beyond i64 cannot happen in practice).
fn int64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl TaskResp {
    /// Builds the response for a task; `now_ms` (Unix ms) extends `total_time` by the running
    /// run's elapsed time, since `Task::total_time_ms` counts finished runs only.
    pub fn from_task(task: &Task, now_ms: i64) -> TaskResp {
        let spec = &task.spec;
        let counters = &task.counters;
        let echo = TaskEcho::parse(&spec.echo_json);
        // Once the listing is over the ledger is exact; before, the listing count leads (after a
        // resume it can run ahead by the keys re-listed past the checkpoint).
        let (total_num, total_size) = if task.is_query_over {
            (counters.total_num, counters.total_size)
        } else {
            (
                counters.total_num.max(task.listed_num),
                counters.total_size.max(task.listed_size),
            )
        };
        let progress = if task.status == TaskStatus::Succeeded {
            1.0
        } else if total_num == 0 {
            0.0
        } else {
            (counters.finished_num() as f64 / total_num as f64).clamp(0.0, 1.0)
        };
        let running = matches!(task.status, TaskStatus::Migrating | TaskStatus::Pausing);
        let run_elapsed_ms = match task.start_time_ms {
            Some(start) if running => now_ms.saturating_sub(start).max(0),
            _ => 0,
        };
        let list_file = spec.src.list_file.as_ref().map(|list_file| ListFile {
            list_file_key: list_file.key.clone(),
            obs_bucket: list_file.bucket.clone(),
            list_file_num: echo.list_file_num.clone(),
        });
        TaskResp {
            bandwidth_policy: BandwidthPolicyDto::from_policy(&spec.bandwidth_policy),
            complete_size: int64(counters.successful_size),
            description: spec.description.clone(),
            dst_node: DstNodeResp {
                bucket: spec.dst.bucket.clone(),
                region: spec.dst.region.clone(),
                save_prefix: spec.dst.save_prefix.clone(),
            },
            enable_failed_object_recording: spec.enable_failed_object_recording,
            enable_metadata_migration: spec.enable_metadata_migration,
            enable_restore: spec.enable_restore,
            error_reason: task.error_reason.as_ref().map(ErrorReasonResp::from_reason),
            failed_num: int64(counters.failed_num),
            failed_object_record: task.failed_object_record.as_ref().map(|record| {
                FailedObjectRecordDto {
                    result: record.result,
                    list_file_key: record.list_file_key.clone(),
                    error_code: record.error_code.clone(),
                }
            }),
            group_id: spec.group_id.clone().unwrap_or_default(),
            id: task.id.0,
            is_query_over: task.is_query_over,
            left_time: task.left_time_ms,
            migrate_since: spec
                .migrate_since_s
                .map_or(0, |seconds| seconds.saturating_mul(1000)),
            migrate_speed: task.migrate_speed,
            name: task.name.clone(),
            progress,
            real_size: int64(counters.successful_size),
            skipped_num: int64(counters.skipped_num),
            src_node: SrcNodeResp {
                bucket: spec.src.bucket.clone(),
                cloud_type: spec.src.cloud_type.as_str().to_owned(),
                region: spec.src.region.clone(),
                app_id: spec.src.app_id.clone().unwrap_or_default(),
                object_key: match spec.task_type {
                    TaskType::Object | TaskType::Prefix => spec.src.object_keys.clone(),
                    TaskType::List | TaskType::UrlList => Vec::new(),
                },
                list_file,
            },
            // Tasks start when created (OMS has no separate create time for tasks).
            start_time: task.start_time_ms.unwrap_or(task.created_at_ms),
            status: task.status.code(),
            successful_num: int64(counters.successful_num),
            task_type: spec.task_type.as_str().to_owned(),
            group_type: spec.group_type.as_str().to_owned(),
            total_num: int64(total_num),
            total_size: int64(total_size),
            total_time: task.total_time_ms.saturating_add(run_elapsed_ms),
            // Filled by `with_notification` from the store's notification record.
            smn_info: None,
            source_cdn: echo.source_cdn,
            success_record_error_reason: String::new(),
            skip_record_error_reason: String::new(),
            object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
            dst_storage_policy: spec.dst_storage_policy.clone(),
            consistency_check: spec.consistency_check.as_str().to_owned(),
            enable_requester_pays: spec.enable_requester_pays,
            obs_system: "BUCKET".to_owned(),
            task_priority: spec.task_priority.as_str().to_owned(),
        }
    }

    /// Adds `smn_info` from the task's notification record; none while it is pending (OMS has
    /// no word for "not yet sent"). As REFERENCE.md notes, `topic_name` is empty on success.
    pub fn with_notification(mut self, record: Option<&tern_core::Notification>) -> TaskResp {
        self.smn_info = record.and_then(SmnInfo::from_record);
        self
    }
}

impl SmnInfo {
    /// The outcome of a delivered or failed notification.
    pub fn from_record(record: &tern_core::Notification) -> Option<SmnInfo> {
        match record.state {
            tern_core::DeliveryState::Pending => None,
            tern_core::DeliveryState::Delivered => Some(SmnInfo {
                notify_result: true,
                notify_error_message: String::new(),
                topic_name: String::new(),
            }),
            tern_core::DeliveryState::Failed => Some(SmnInfo {
                notify_result: false,
                notify_error_message: record.error_message.clone(),
                topic_name: record.topic_name().to_owned(),
            }),
        }
    }
}
