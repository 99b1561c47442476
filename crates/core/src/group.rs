//! Task groups: one request split into many tasks (REFERENCE.md operations 9–16).

use std::str::FromStr;

use crate::task::{DestinationSpec, SourceSpec};
use crate::{BandwidthPolicy, ConsistencyCheck, Counters, Error, OverwriteMode};

/// A task group's id (a UUID string on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub String);

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// OMS group status codes 0–9 (REFERENCE.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupStatus {
    /// 0: created, splitting not started.
    Waiting,
    /// 1: creating its tasks.
    Creating,
    /// 2: every task created; watching them run.
    Monitoring,
    /// 3: stopped by the user.
    Paused,
    /// 4: creating the tasks failed.
    CreationFailed,
    /// 5: some task failed.
    MigrationFailed,
    /// 6: every task succeeded.
    Completed,
    /// 7: stop requested; tasks are winding down.
    Pausing,
    /// 8: delete requested.
    WaitingDeletion,
    /// 9: being deleted.
    Deleting,
}

impl GroupStatus {
    /// The OMS integer.
    pub fn code(self) -> i32 {
        match self {
            GroupStatus::Waiting => 0,
            GroupStatus::Creating => 1,
            GroupStatus::Monitoring => 2,
            GroupStatus::Paused => 3,
            GroupStatus::CreationFailed => 4,
            GroupStatus::MigrationFailed => 5,
            GroupStatus::Completed => 6,
            GroupStatus::Pausing => 7,
            GroupStatus::WaitingDeletion => 8,
            GroupStatus::Deleting => 9,
        }
    }

    /// Parses the OMS integer.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0 => GroupStatus::Waiting,
            1 => GroupStatus::Creating,
            2 => GroupStatus::Monitoring,
            3 => GroupStatus::Paused,
            4 => GroupStatus::CreationFailed,
            5 => GroupStatus::MigrationFailed,
            6 => GroupStatus::Completed,
            7 => GroupStatus::Pausing,
            8 => GroupStatus::WaitingDeletion,
            9 => GroupStatus::Deleting,
            _ => return None,
        })
    }

    /// Tells whether the group is busy: delete is refused with OMS.0063.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            GroupStatus::Creating | GroupStatus::Monitoring | GroupStatus::Pausing
        )
    }

    /// Tells whether the group failed (retry is allowed).
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            GroupStatus::CreationFailed | GroupStatus::MigrationFailed
        )
    }
}

/// What happens to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEvent {
    /// The splitter starts (0 → 1).
    BeginCreating,
    /// Every task is created (1 → 2).
    CreationDone,
    /// Splitting failed (1 → 4).
    CreationFailed,
    /// Every task succeeded (2 → 6).
    TasksSucceeded,
    /// Every task ended and some failed (2 → 5).
    TasksFailed,
    /// The user stops (0/1/2 → 7).
    Stop,
    /// Every task is wound down (7 → 3).
    Stopped,
    /// The user starts a paused group (3 → 1, or 2 when splitting is done).
    Start {
        /// Whether every task has been created already.
        split_done: bool,
    },
    /// The user retries a failed group (4/5 → 1, or 2 when splitting is done).
    Retry {
        /// Whether every task has been created already.
        split_done: bool,
    },
    /// The user deletes (3/4/5/6/0 → 8).
    Delete,
    /// Deletion proceeds (8 → 9).
    Deleting,
}

impl GroupStatus {
    /// The status after `event`, or why it is not allowed now.
    pub fn apply(self, event: GroupEvent) -> Result<GroupStatus, Error> {
        use GroupEvent as E;
        use GroupStatus as S;
        let resumed = |split_done: bool| {
            if split_done {
                S::Monitoring
            } else {
                S::Creating
            }
        };
        let next = match (self, event) {
            (S::Waiting, E::BeginCreating) => S::Creating,
            // A restarted process picks its splitting up again.
            (S::Creating, E::BeginCreating) => S::Creating,
            (S::Creating, E::CreationDone) => S::Monitoring,
            (S::Creating | S::Waiting, E::CreationFailed) => S::CreationFailed,
            (S::Monitoring, E::TasksSucceeded) => S::Completed,
            (S::Monitoring, E::TasksFailed) => S::MigrationFailed,
            (S::Waiting | S::Creating | S::Monitoring, E::Stop) => S::Pausing,
            (S::Pausing, E::Stopped) => S::Paused,
            (S::Paused, E::Start { split_done }) => resumed(split_done),
            (S::CreationFailed | S::MigrationFailed, E::Retry { split_done }) => {
                resumed(split_done)
            }
            (
                S::Waiting | S::Paused | S::CreationFailed | S::MigrationFailed | S::Completed,
                E::Delete,
            ) => S::WaitingDeletion,
            (S::WaitingDeletion, E::Deleting) => S::Deleting,
            (status, event) => {
                return Err(Error::InvalidState(format!(
                    "task group in status {} cannot take {event:?}",
                    status.code()
                )))
            }
        };
        Ok(next)
    }
}

/// A group's `task_type` (upper-case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupTaskType {
    /// Split by prefix and key range (the default).
    #[default]
    Prefix,
    /// Split list files into chunks of keys.
    List,
    /// Split URL-list files (URL sources).
    UrlList,
}

impl GroupTaskType {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupTaskType::Prefix => "PREFIX",
            GroupTaskType::List => "LIST",
            GroupTaskType::UrlList => "URL_LIST",
        }
    }
}

impl FromStr for GroupTaskType {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "PREFIX" => Ok(GroupTaskType::Prefix),
            "LIST" => Ok(GroupTaskType::List),
            "URL_LIST" => Ok(GroupTaskType::UrlList),
            _ => Err(Error::invalid(
                "task_type",
                format!("unknown value {value:?}"),
            )),
        }
    }
}

/// Everything a user asked for when creating a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// `task_type`.
    pub task_type: GroupTaskType,
    /// The source: prefixes in `object_keys`, or a list file.
    pub src: SourceSpec,
    /// The destination.
    pub dst: DestinationSpec,
    /// `description`.
    pub description: String,
    /// `migrate_since`, Unix seconds.
    pub migrate_since_s: Option<i64>,
    /// `bandwidth_policy`, given to every task.
    pub bandwidth_policy: BandwidthPolicy,
    /// `enable_metadata_migration`.
    pub enable_metadata_migration: bool,
    /// `enable_restore`.
    pub enable_restore: bool,
    /// `enable_failed_object_recording`.
    pub enable_failed_object_recording: bool,
    /// `object_overwrite_mode`.
    pub object_overwrite_mode: OverwriteMode,
    /// `consistency_check`.
    pub consistency_check: ConsistencyCheck,
    /// `dst_storage_policy`.
    pub dst_storage_policy: String,
    /// `enable_requester_pays`.
    pub enable_requester_pays: bool,
    /// `source_cdn` / `smn_config` echo (JSON text).
    pub echo_json: String,
}

/// How far the splitter got; saved with every task it creates, in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitProgress {
    /// Index of the prefix (PREFIX) or list file (LIST) being split.
    pub source_index: u32,
    /// Last key given to a task within that source (PREFIX), as the next task's `start_after`.
    pub last_key: Option<String>,
    /// Lines of the list file already given to tasks (LIST).
    pub lines_done: u64,
    /// Every task has been created.
    pub done: bool,
    /// Tasks created.
    pub task_num: u64,
    /// Objects given to tasks (`create_complete_num`).
    pub assigned_num: u64,
    /// Bytes given to tasks (`create_complete_size`).
    pub assigned_size: u64,
}

/// A stored task group.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskGroup {
    /// Id.
    pub id: GroupId,
    /// Owning project.
    pub project_id: String,
    /// What was asked.
    pub spec: GroupSpec,
    /// Current status.
    pub status: GroupStatus,
    /// The splitter's progress.
    pub split: SplitProgress,
    /// Creation time, Unix ms.
    pub created_at_ms: i64,
    /// First start of splitting, Unix ms.
    pub start_time_ms: Option<i64>,
    /// Why the group failed.
    pub error_reason: Option<(String, String)>,
}

/// The group's tasks summed up (`group_totals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTotals {
    /// Tasks of the group.
    pub task_num: u64,
    /// Tasks in status 4.
    pub failed_task_num: u64,
    /// Tasks in status 5.
    pub complete_task_num: u64,
    /// Tasks in status 3.
    pub paused_task_num: u64,
    /// Tasks in status 2 or 7.
    pub executing_task_num: u64,
    /// Tasks in status 1 or 6.
    pub waiting_task_num: u64,
    /// Ledger counters summed over the tasks.
    pub counters: Counters,
    /// Sum of the tasks' current speeds, bytes/s.
    pub migrate_speed: i64,
    /// Sum of the tasks' migrating time, ms.
    pub total_time_ms: i64,
}

impl GroupTotals {
    /// Tells whether every task has ended (succeeded or failed) or is paused.
    pub fn all_settled(&self) -> bool {
        self.executing_task_num == 0 && self.waiting_task_num == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_group_status_codes_round_trip() {
        for code in 0..=9 {
            assert_eq!(
                GroupStatus::from_code(code).map(GroupStatus::code),
                Some(code)
            );
        }
        assert_eq!(GroupStatus::from_code(10), None);
    }

    #[test]
    fn test_group_lifecycle_and_retry_rules() {
        use GroupEvent as E;
        use GroupStatus as S;
        assert_eq!(S::Waiting.apply(E::BeginCreating), Ok(S::Creating));
        assert_eq!(S::Creating.apply(E::CreationDone), Ok(S::Monitoring));
        assert_eq!(S::Monitoring.apply(E::TasksFailed), Ok(S::MigrationFailed));
        assert_eq!(
            S::MigrationFailed.apply(E::Retry { split_done: true }),
            Ok(S::Monitoring)
        );
        assert_eq!(
            S::CreationFailed.apply(E::Retry { split_done: false }),
            Ok(S::Creating)
        );
        assert!(S::Monitoring.apply(E::Retry { split_done: true }).is_err());
        assert!(S::Completed.apply(E::Retry { split_done: true }).is_err());
        assert_eq!(S::Monitoring.apply(E::Stop), Ok(S::Pausing));
        assert_eq!(
            S::Paused.apply(E::Start { split_done: false }),
            Ok(S::Creating)
        );
        assert!(S::Monitoring.apply(E::Delete).is_err());
        assert!(S::Creating.apply(E::Delete).is_err());
        assert_eq!(S::Paused.apply(E::Delete), Ok(S::WaitingDeletion));
        assert_eq!(S::WaitingDeletion.apply(E::Deleting), Ok(S::Deleting));
    }
}
