//! Migration tasks: what was asked (`TaskSpec`), where a task stands (`TaskStatus`), and the
//! only legal ways its status moves.

use std::fmt;
use std::str::FromStr;

use crate::{
    BandwidthPolicy, CloudType, ConsistencyCheck, Counters, Credentials, Error, ListFileSpec,
    OverwriteMode, Secret,
};

/// A migration task's id (OMS: int64, at most 999999999999999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// OMS task status codes (REFERENCE.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// 1: created or restarted, waiting for a scheduler.
    Waiting,
    /// 2: a scheduler is copying.
    Migrating,
    /// 3: stopped by the user.
    Paused,
    /// 4: ended with failures.
    Failed,
    /// 5: every object copied or skipped.
    Succeeded,
    /// 6: a failed task restarted, waiting for a scheduler.
    Retrying,
    /// 7: stop requested; the scheduler is winding down.
    Pausing,
}

impl TaskStatus {
    /// The OMS integer.
    pub fn code(self) -> i32 {
        match self {
            TaskStatus::Waiting => 1,
            TaskStatus::Migrating => 2,
            TaskStatus::Paused => 3,
            TaskStatus::Failed => 4,
            TaskStatus::Succeeded => 5,
            TaskStatus::Retrying => 6,
            TaskStatus::Pausing => 7,
        }
    }

    /// Parses the OMS integer.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => TaskStatus::Waiting,
            2 => TaskStatus::Migrating,
            3 => TaskStatus::Paused,
            4 => TaskStatus::Failed,
            5 => TaskStatus::Succeeded,
            6 => TaskStatus::Retrying,
            7 => TaskStatus::Pausing,
            _ => return None,
        })
    }

    /// Tells whether a scheduler may pick the task up.
    pub fn is_runnable(self) -> bool {
        matches!(self, TaskStatus::Waiting | TaskStatus::Retrying)
    }

    /// Tells whether the task is busy (refuses delete with OMS.0063).
    pub fn is_busy(self) -> bool {
        matches!(self, TaskStatus::Migrating | TaskStatus::Pausing)
    }

    /// Tells whether the task ended in a state where its secrets must be erased.
    pub fn erases_secrets(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Paused
        )
    }
}

/// What happens to a task; each event is legal only from some statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvent {
    /// A scheduler takes a runnable task.
    Claim,
    /// The user asks to stop.
    Stop,
    /// The scheduler has wound a stopping task down.
    Stopped,
    /// The run ended with no failed object.
    Succeed,
    /// The run ended with failed objects or a fatal error.
    Fail,
    /// The user starts a paused or failed task again.
    Start,
}

impl TaskStatus {
    /// The status after `event`, or why the event is not allowed now.
    pub fn apply(self, event: TaskEvent) -> Result<TaskStatus, Error> {
        use TaskEvent as E;
        use TaskStatus as S;
        let next = match (self, event) {
            (S::Waiting | S::Retrying, E::Claim) => S::Migrating,
            // A restarted process re-claims what it was migrating.
            (S::Migrating, E::Claim) => S::Migrating,
            (S::Pausing, E::Claim) => S::Paused,
            (S::Migrating, E::Stop) => S::Pausing,
            // Not started yet: nothing to wind down.
            (S::Waiting | S::Retrying, E::Stop) => S::Paused,
            (S::Pausing, E::Stopped) => S::Paused,
            // A run's end is legal from pausing too: a stop that arrives while a finished run
            // writes its object lists must not strand the task in 7.
            (S::Migrating | S::Pausing, E::Succeed) => S::Succeeded,
            (S::Migrating | S::Pausing | S::Waiting | S::Retrying, E::Fail) => S::Failed,
            (S::Paused, E::Start) => S::Waiting,
            (S::Failed, E::Start) => S::Retrying,
            (status, event) => {
                return Err(Error::InvalidState(format!(
                    "task in status {} cannot take {event:?}",
                    status.code()
                )))
            }
        };
        Ok(next)
    }
}

/// `task_type` of a task (lower-case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskType {
    /// Named objects (`object`, the default).
    #[default]
    Object,
    /// Prefixes (`prefix`).
    Prefix,
    /// An object-list file (`list`).
    List,
    /// A URL-list file (`url_list`).
    UrlList,
}

impl TaskType {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Object => "object",
            TaskType::Prefix => "prefix",
            TaskType::List => "list",
            TaskType::UrlList => "url_list",
        }
    }
}

impl FromStr for TaskType {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "object" => Ok(TaskType::Object),
            "prefix" => Ok(TaskType::Prefix),
            "list" => Ok(TaskType::List),
            "url_list" => Ok(TaskType::UrlList),
            _ => Err(Error::invalid(
                "task_type",
                format!("unknown value {value:?}"),
            )),
        }
    }
}

/// `task_priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum TaskPriority {
    /// Runs first.
    High,
    /// The default.
    #[default]
    Medium,
    /// Runs last.
    Low,
}

impl TaskPriority {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskPriority::High => "HIGH",
            TaskPriority::Medium => "MEDIUM",
            TaskPriority::Low => "LOW",
        }
    }

    /// Scheduling rank: lower runs first.
    pub fn rank(self) -> i32 {
        match self {
            TaskPriority::High => 0,
            TaskPriority::Medium => 1,
            TaskPriority::Low => 2,
        }
    }

    /// Inverse of [`TaskPriority::rank`].
    pub fn from_rank(rank: i32) -> Self {
        match rank {
            0 => TaskPriority::High,
            2 => TaskPriority::Low,
            _ => TaskPriority::Medium,
        }
    }
}

impl FromStr for TaskPriority {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "HIGH" => Ok(TaskPriority::High),
            "MEDIUM" => Ok(TaskPriority::Medium),
            "LOW" => Ok(TaskPriority::Low),
            _ => Err(Error::invalid(
                "task_priority",
                format!("unknown value {value:?}"),
            )),
        }
    }
}

/// `group_type` of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupType {
    /// Created directly.
    #[default]
    NormalTask,
    /// Created by a sync task.
    SyncTask,
    /// Created by a task group.
    GroupTask,
}

impl GroupType {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::NormalTask => "NORMAL_TASK",
            GroupType::SyncTask => "SYNC_TASK",
            GroupType::GroupTask => "GROUP_TASK",
        }
    }
}

impl FromStr for GroupType {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "NORMAL_TASK" => Ok(GroupType::NormalTask),
            "SYNC_TASK" => Ok(GroupType::SyncTask),
            "GROUP_TASK" => Ok(GroupType::GroupTask),
            _ => Err(Error::invalid(
                "group_type",
                format!("unknown value {value:?}"),
            )),
        }
    }
}

/// The source of a task, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// Vendor.
    pub cloud_type: CloudType,
    /// Region name (region table key).
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Tencent APPID.
    pub app_id: Option<String>,
    /// Object names or prefixes (`object_key`).
    pub object_keys: Vec<String>,
    /// The list file of `list` / `url_list` tasks.
    pub list_file: Option<ListFileSpec>,
    /// For tasks a group split off a large prefix: the slice of keys this task owns.
    pub key_range: Option<KeyRange>,
}

/// A slice of a prefix's key space: keys after `start_after` up to and including `end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// Keys strictly after this one (`None`: from the start of the prefix).
    pub start_after: Option<String>,
    /// Keys up to and including this one (`None`: to the end of the prefix).
    pub end: Option<String>,
}

impl KeyRange {
    /// Tells whether a key falls in the range.
    pub fn contains(&self, key: &str) -> bool {
        self.start_after.as_deref().is_none_or(|after| key > after)
            && self.end.as_deref().is_none_or(|end| key <= end)
    }
}

/// The destination of a task, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationSpec {
    /// Vendor (HuaweiCloud unless the region table says otherwise).
    pub cloud_type: CloudType,
    /// Region name.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Prepended to every destination key.
    pub save_prefix: String,
}

/// Everything a user asked for when creating a task. Only the bandwidth policy and the
/// priority change afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// `task_type`.
    pub task_type: TaskType,
    /// `src_node` without secrets.
    pub src: SourceSpec,
    /// `dst_node` without secrets.
    pub dst: DestinationSpec,
    /// `description` ("" when unset).
    pub description: String,
    /// `migrate_since`, Unix seconds.
    pub migrate_since_s: Option<i64>,
    /// `bandwidth_policy`.
    pub bandwidth_policy: BandwidthPolicy,
    /// `enable_metadata_migration`.
    pub enable_metadata_migration: bool,
    /// `enable_restore`.
    pub enable_restore: bool,
    /// `enable_failed_object_recording` (default true).
    pub enable_failed_object_recording: bool,
    /// `object_overwrite_mode`.
    pub object_overwrite_mode: OverwriteMode,
    /// `consistency_check`.
    pub consistency_check: ConsistencyCheck,
    /// `dst_storage_policy` (kept as given; applies to OBS destinations only).
    pub dst_storage_policy: String,
    /// `enable_requester_pays`.
    pub enable_requester_pays: bool,
    /// `task_priority`.
    pub task_priority: TaskPriority,
    /// `source_cdn` and `smn_config` as given, without secrets, echoed in responses (JSON text).
    pub echo_json: String,
    /// Owning task group.
    pub group_id: Option<String>,
    /// Kind of owner.
    pub group_type: GroupType,
}

/// The secrets a run needs; given at create and at every start, sealed at rest, erased when
/// the task stops, fails or succeeds (DESIGN.md invariant 3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskSecrets {
    /// Source credentials.
    pub src: Credentials,
    /// Destination credentials.
    pub dst: Credentials,
    /// CDN authentication key.
    pub cdn_key: Option<Secret>,
}

/// Where the failed-object list went (`failed_object_record`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedObjectRecord {
    /// Whether re-migrating failed objects is possible.
    pub result: bool,
    /// Key of the list in the destination bucket.
    pub list_file_key: String,
    /// Error code if writing the list failed.
    pub error_code: String,
}

/// A stored task as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Owning project.
    pub project_id: String,
    /// Generated name.
    pub name: String,
    /// What was asked.
    pub spec: TaskSpec,
    /// Current status.
    pub status: TaskStatus,
    /// Counters of the ledger (exact, one outcome per key).
    pub counters: Counters,
    /// Objects listed so far in the current run (drives `progress` before the run ends).
    pub listed_num: u64,
    /// Bytes listed so far in the current run.
    pub listed_size: u64,
    /// Creation time, Unix ms.
    pub created_at_ms: i64,
    /// Start of the current run, Unix ms.
    pub start_time_ms: Option<i64>,
    /// Time spent migrating over all runs, ms.
    pub total_time_ms: i64,
    /// Whether the listing finished.
    pub is_query_over: bool,
    /// Bytes/s of the current run.
    pub migrate_speed: i64,
    /// Estimated time left, ms.
    pub left_time_ms: i64,
    /// Why the task failed (`TRF.xxxx`, message).
    pub error_reason: Option<(String, String)>,
    /// The failed-object list.
    pub failed_object_record: Option<FailedObjectRecord>,
    /// Whether the current run re-migrates only failed objects.
    pub failed_only: bool,
    /// Last key whose predecessors all have outcomes (prefix listings); resume lists after it.
    pub checkpoint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_status_codes_round_trip() {
        for code in 1..=7 {
            assert_eq!(
                TaskStatus::from_code(code).map(TaskStatus::code),
                Some(code)
            );
        }
        assert_eq!(TaskStatus::from_code(0), None);
        assert_eq!(TaskStatus::from_code(8), None);
    }

    #[test]
    fn test_legal_transitions() {
        use TaskEvent as E;
        use TaskStatus as S;
        assert_eq!(S::Waiting.apply(E::Claim), Ok(S::Migrating));
        assert_eq!(S::Migrating.apply(E::Stop), Ok(S::Pausing));
        assert_eq!(S::Pausing.apply(E::Stopped), Ok(S::Paused));
        assert_eq!(S::Paused.apply(E::Start), Ok(S::Waiting));
        assert_eq!(S::Failed.apply(E::Start), Ok(S::Retrying));
        assert_eq!(S::Retrying.apply(E::Claim), Ok(S::Migrating));
        assert_eq!(S::Migrating.apply(E::Succeed), Ok(S::Succeeded));
        assert_eq!(S::Migrating.apply(E::Fail), Ok(S::Failed));
    }

    #[test]
    fn test_illegal_transitions_are_errors() {
        use TaskEvent as E;
        use TaskStatus as S;
        assert!(S::Succeeded.apply(E::Start).is_err());
        assert!(S::Succeeded.apply(E::Stop).is_err());
        assert!(S::Paused.apply(E::Stop).is_err());
        assert!(S::Migrating.apply(E::Start).is_err());
        assert!(S::Failed.apply(E::Succeed).is_err());
    }

    #[test]
    fn test_run_end_is_legal_while_pausing() {
        use TaskEvent as E;
        use TaskStatus as S;
        assert_eq!(S::Pausing.apply(E::Succeed), Ok(S::Succeeded));
        assert_eq!(S::Pausing.apply(E::Fail), Ok(S::Failed));
        assert!(S::Paused.apply(E::Succeed).is_err());
    }
}
