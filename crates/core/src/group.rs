//! Task groups: one request split into many tasks (REFERENCE.md operations 9–16).

use std::str::FromStr;

use crate::task::{DestinationSpec, SourceSpec, TaskEvent, TaskStatus};
use crate::{
    BandwidthPolicy, ConsistencyCheck, Counters, Error, FailureCode, FailureReason, OverwriteMode,
};

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
    /// The user deletes (0/3/4/5/6; the group and its tasks go in one transaction, so 8 and 9
    /// are never stored).
    Delete,
    /// The user replaces the bandwidth policy (no status change; refused once the group ended).
    UpdateBandwidth,
}

impl GroupEvent {
    /// The status a user's group operation moves one of its tasks to, or `None` when the
    /// operation leaves that task alone: stop stops what runs or waits, start resumes the
    /// paused tasks, retry restarts the failed ones, a policy update reaches every unfinished
    /// task (its status unchanged).
    pub fn task_move(self, status: TaskStatus) -> Option<TaskStatus> {
        match self {
            GroupEvent::Stop => status.apply(TaskEvent::Stop).ok(),
            GroupEvent::Start { .. } if status == TaskStatus::Paused => {
                status.apply(TaskEvent::Start).ok()
            }
            GroupEvent::Retry { .. } => status.apply(TaskEvent::Retry).ok(),
            GroupEvent::UpdateBandwidth => status.apply(TaskEvent::UpdateBandwidth).ok(),
            _ => None,
        }
    }
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
            (
                status @ (S::Waiting
                | S::Creating
                | S::Monitoring
                | S::Paused
                | S::CreationFailed
                | S::MigrationFailed
                | S::Pausing),
                E::UpdateBandwidth,
            ) => status,
            (status, event) => return Err(Error::GroupRefused { status, event }),
        };
        Ok(next)
    }

    /// What the group's tasks say about the group now: the event that settles it and the
    /// reason it leaves, or `None` while it must wait. `splitting` tells whether a splitter of
    /// this group is still running (a pausing group waits for it).
    pub fn settle(
        self,
        totals: &GroupTotals,
        splitting: bool,
    ) -> Option<(GroupEvent, Option<FailureReason>)> {
        if !totals.all_settled() {
            return None;
        }
        match self {
            GroupStatus::Monitoring if totals.paused_task_num > 0 => None,
            GroupStatus::Monitoring if totals.failed_task_num > 0 => Some((
                GroupEvent::TasksFailed,
                Some(FailureReason::new(
                    FailureCode::ObjectsFailed,
                    format!(
                        "{} of {} tasks failed; retry the group",
                        totals.failed_task_num, totals.task_num
                    ),
                )),
            )),
            GroupStatus::Monitoring => Some((GroupEvent::TasksSucceeded, None)),
            GroupStatus::Pausing if !splitting => Some((GroupEvent::Stopped, None)),
            _ => None,
        }
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
    /// The split lease's fence this progress was made under (not stored): a stale one refuses
    /// the write, so a node that lost the lease never cuts a slice twice. `None`: unfenced.
    pub fence: Option<crate::Fence>,
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
    pub error_reason: Option<FailureReason>,
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
        assert_eq!(
            S::Completed.apply(E::UpdateBandwidth),
            Err(Error::GroupRefused {
                status: S::Completed,
                event: E::UpdateBandwidth
            })
        );
        assert_eq!(S::Monitoring.apply(E::UpdateBandwidth), Ok(S::Monitoring));
    }

    fn totals(failed: u64, succeeded: u64, paused: u64, running: u64) -> GroupTotals {
        GroupTotals {
            task_num: failed + succeeded + paused + running,
            failed_task_num: failed,
            complete_task_num: succeeded,
            paused_task_num: paused,
            executing_task_num: running,
            ..GroupTotals::default()
        }
    }

    #[test]
    fn test_group_operations_move_only_the_tasks_they_concern() {
        use GroupEvent as E;
        use TaskStatus as T;
        let start = E::Start { split_done: true };
        let retry = E::Retry { split_done: true };
        assert_eq!(E::Stop.task_move(T::Migrating), Some(T::Pausing));
        assert_eq!(E::Stop.task_move(T::Waiting), Some(T::Paused));
        assert_eq!(E::Stop.task_move(T::Succeeded), None);
        assert_eq!(start.task_move(T::Paused), Some(T::Waiting));
        assert_eq!(start.task_move(T::Failed), None);
        assert_eq!(retry.task_move(T::Failed), Some(T::Retrying));
        assert_eq!(retry.task_move(T::Paused), None);
        assert_eq!(retry.task_move(T::Succeeded), None);
        assert_eq!(
            E::UpdateBandwidth.task_move(T::Migrating),
            Some(T::Migrating)
        );
        assert_eq!(E::UpdateBandwidth.task_move(T::Succeeded), None);
    }

    #[test]
    fn test_settle_waits_for_every_task_and_names_the_failures() {
        use GroupEvent as E;
        use GroupStatus as S;
        assert_eq!(S::Monitoring.settle(&totals(0, 3, 0, 1), false), None);
        assert_eq!(
            S::Monitoring.settle(&totals(0, 3, 0, 0), false),
            Some((E::TasksSucceeded, None))
        );
        let (event, reason) = S::Monitoring.settle(&totals(2, 3, 0, 0), false).unwrap();
        assert_eq!(event, E::TasksFailed);
        let reason = reason.unwrap();
        assert_eq!(reason.code.as_str(), "TRF.0062");
        assert!(
            reason.message.starts_with("2 of 5 tasks failed"),
            "{reason}"
        );
        // A paused task keeps a monitoring group waiting for the user.
        assert_eq!(S::Monitoring.settle(&totals(0, 3, 1, 0), false), None);
        assert_eq!(
            S::Pausing.settle(&totals(0, 3, 1, 0), false),
            Some((E::Stopped, None))
        );
        assert_eq!(S::Pausing.settle(&totals(0, 3, 1, 0), true), None);
        assert_eq!(S::Paused.settle(&totals(0, 3, 1, 0), false), None);
    }
}
