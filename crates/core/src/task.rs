//! Migration tasks: what was asked (`TaskSpec`), where a task stands (`TaskStatus`), and the
//! only legal ways its status moves.

use std::fmt;
use std::str::FromStr;

use crate::{
    BandwidthPolicy, CloudType, ConsistencyCheck, Counters, Credentials, Error, FailureCode,
    FailureReason, ListFileSpec, OverwriteMode, Secret,
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

/// What happens to a task; each event is legal only from some statuses. The last four change
/// no status: they are asked of [`TaskStatus::apply`] so that core alone says when they are
/// allowed.
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
    /// The user starts a paused or failed task again over all its objects.
    Start,
    /// The user restarts a failed task: a start with `migrate_failed_object`, or a group's
    /// retry (whether only failed objects run again is the run's `failed_only`).
    Retry,
    /// The user deletes the task (no status follows; the row goes).
    Delete,
    /// The user replaces the bandwidth policy.
    UpdateBandwidth,
    /// The user changes the priority (`batch_update_tasks`).
    UpdatePriority,
}

impl TaskStatus {
    /// The status after `event`, or [`Error::TaskRefused`] when the event is not allowed now.
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
            (S::Failed, E::Start | E::Retry) => S::Retrying,
            (status, E::Delete) if !status.is_busy() => status,
            (status, E::UpdateBandwidth) if status != S::Succeeded => status,
            // OMS: "only applied to waiting / paused / failed tasks"; retrying waits too.
            (status @ (S::Waiting | S::Retrying | S::Paused | S::Failed), E::UpdatePriority) => {
                status
            }
            (status, event) => return Err(Error::TaskRefused { status, event }),
        };
        Ok(next)
    }

    /// How a run's end moves the task, and the failure reason it leaves: the one decision
    /// behind `TaskStore::finish_run`. `failed_num` is the ledger's count read in the same
    /// transaction.
    pub fn end_run(
        self,
        ending: &RunEnding,
        failed_num: u64,
    ) -> Result<(TaskStatus, Option<FailureReason>), Error> {
        let (event, reason) = match ending {
            RunEnding::Completed { .. } if failed_num == 0 => (TaskEvent::Succeed, None),
            RunEnding::Completed { .. } => (
                TaskEvent::Fail,
                Some(FailureReason::new(
                    FailureCode::ObjectsFailed,
                    format!("{failed_num} objects failed; see failed_object_record"),
                )),
            ),
            RunEnding::Stopped => (TaskEvent::Stopped, None),
            RunEnding::Fatal(reason) => (TaskEvent::Fail, Some(reason.clone())),
        };
        Ok((self.apply(event)?, reason))
    }
}

/// How a run ended, as the scheduler reports it to `TaskStore::finish_run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnding {
    /// Every listed object has an outcome; the failed-object list went where the record says.
    Completed {
        /// Where the failed-object list was written (`None` when nothing failed or recording is
        /// off).
        failed_object_record: Option<FailedObjectRecord>,
    },
    /// The user's stop cancelled the run; what finished is committed.
    Stopped,
    /// The run could not go on (bad endpoint, unreadable listing, store failure).
    Fatal(FailureReason),
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
    /// For tasks a LIST group split off its list file: the lines of `list_file` this task owns.
    pub list_lines: Option<LineRange>,
    /// The source was given credentials at creation, so every start must give them again.
    pub signed: bool,
}

/// A window of a list file's key lines (blank lines are not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineRange {
    /// Key lines skipped from the start of the file.
    pub skip: u64,
    /// Key lines taken after those.
    pub take: u64,
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
    /// `dst_storage_policy`: the storage class written (S3-speaking destinations; `""` is STANDARD).
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

impl SourceSpec {
    /// Checks that a start gives the source secrets this source needs: none for URL lists or a
    /// source created anonymous; otherwise what its cloud type signs with.
    pub fn check_start_secrets(&self, secrets: &TaskSecrets) -> Result<(), Error> {
        if !self.signed || self.cloud_type == CloudType::UrlSource {
            return Ok(());
        }
        let src = &secrets.src;
        let missing = match self.cloud_type {
            CloudType::Azure => src
                .connection_string
                .is_none()
                .then_some("connection_string"),
            CloudType::Google => src.json_auth_file.is_none().then_some("json_auth_file"),
            _ => src.access_key.is_empty().then_some("src_ak"),
        };
        match missing {
            Some(field) => Err(Error::invalid(
                field,
                "the task's source was created with credentials; give them again to start it",
            )),
            None => Ok(()),
        }
    }
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
    /// Why the task failed.
    pub error_reason: Option<FailureReason>,
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

    #[test]
    fn test_check_only_events_keep_the_status_and_refuse_by_rule() {
        use TaskEvent as E;
        use TaskStatus as S;
        for status in [S::Waiting, S::Paused, S::Failed, S::Succeeded, S::Retrying] {
            assert_eq!(status.apply(E::Delete), Ok(status));
        }
        for status in [S::Migrating, S::Pausing] {
            assert_eq!(
                status.apply(E::Delete),
                Err(Error::TaskRefused {
                    status,
                    event: E::Delete
                })
            );
        }
        assert!(S::Succeeded.apply(E::UpdateBandwidth).is_err());
        assert_eq!(S::Migrating.apply(E::UpdateBandwidth), Ok(S::Migrating));
        assert_eq!(S::Paused.apply(E::UpdatePriority), Ok(S::Paused));
        assert!(S::Migrating.apply(E::UpdatePriority).is_err());
        assert!(S::Succeeded.apply(E::UpdatePriority).is_err());
    }

    #[test]
    fn test_retry_of_failed_objects_only_from_failed() {
        use TaskEvent as E;
        use TaskStatus as S;
        assert_eq!(S::Failed.apply(E::Retry), Ok(S::Retrying));
        for status in [S::Paused, S::Succeeded, S::Migrating, S::Waiting] {
            assert!(status.apply(E::Retry).is_err(), "{status:?}");
        }
    }

    #[test]
    fn test_end_run_decides_status_and_reason_from_the_failed_count() {
        use TaskStatus as S;
        let completed = RunEnding::Completed {
            failed_object_record: None,
        };
        assert_eq!(
            S::Migrating.end_run(&completed, 0),
            Ok((S::Succeeded, None))
        );
        let (status, reason) = S::Pausing.end_run(&completed, 3).unwrap();
        assert_eq!(status, S::Failed);
        let reason = reason.unwrap();
        assert_eq!(reason.code, FailureCode::ObjectsFailed);
        assert!(reason.message.starts_with("3 objects failed"));
        assert_eq!(
            S::Pausing.end_run(&RunEnding::Stopped, 0),
            Ok((S::Paused, None))
        );
        assert!(S::Migrating.end_run(&RunEnding::Stopped, 0).is_err());
        let fatal = FailureReason::new(FailureCode::ListFileUnreadable, "no such key");
        assert_eq!(
            S::Migrating.end_run(&RunEnding::Fatal(fatal.clone()), 0),
            Ok((S::Failed, Some(fatal)))
        );
        // A run cannot end a task that already ended.
        assert!(S::Succeeded.end_run(&completed, 0).is_err());
        assert!(S::Paused.end_run(&completed, 0).is_err());
    }

    fn signed_spec(cloud_type: CloudType, signed: bool) -> TaskSpec {
        TaskSpec {
            task_type: TaskType::Object,
            src: SourceSpec {
                cloud_type,
                region: "r".into(),
                bucket: "b".into(),
                app_id: None,
                object_keys: vec!["k".into()],
                list_file: None,
                key_range: None,
                list_lines: None,
                signed,
            },
            dst: DestinationSpec {
                cloud_type: CloudType::HuaweiCloud,
                region: "r".into(),
                bucket: "d".into(),
                save_prefix: String::new(),
            },
            description: String::new(),
            migrate_since_s: None,
            bandwidth_policy: BandwidthPolicy::default(),
            enable_metadata_migration: false,
            enable_restore: false,
            enable_failed_object_recording: true,
            object_overwrite_mode: OverwriteMode::default(),
            consistency_check: ConsistencyCheck::default(),
            dst_storage_policy: String::new(),
            enable_requester_pays: false,
            task_priority: TaskPriority::default(),
            echo_json: String::new(),
            group_id: None,
            group_type: GroupType::NormalTask,
        }
    }

    #[test]
    fn test_start_needs_the_source_secrets_a_signed_source_was_created_with() {
        let none = TaskSecrets::default();
        let keyed = TaskSecrets {
            src: Credentials::access_key("ak", "sk"),
            ..TaskSecrets::default()
        };
        assert!(signed_spec(CloudType::Aws, false)
            .src
            .check_start_secrets(&none)
            .is_ok());
        assert!(signed_spec(CloudType::UrlSource, true)
            .src
            .check_start_secrets(&none)
            .is_ok());
        assert!(signed_spec(CloudType::Aws, true)
            .src
            .check_start_secrets(&keyed)
            .is_ok());
        let refused = signed_spec(CloudType::Aws, true)
            .src
            .check_start_secrets(&none);
        assert!(matches!(refused, Err(Error::InvalidField { ref field, .. }) if field == "src_ak"));
        let azure = signed_spec(CloudType::Azure, true)
            .src
            .check_start_secrets(&keyed);
        assert!(
            matches!(azure, Err(Error::InvalidField { ref field, .. }) if field == "connection_string")
        );
    }
}
