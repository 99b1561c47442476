//! Errors of the domain: invalid input named by the field at fault, and refusals of the
//! lifecycle named by the operation, so the API edge can pick OMS's code for each.

use crate::group::{GroupEvent, GroupId, GroupStatus};
use crate::sync::{SyncEvent, SyncStatus, SyncTaskId};
use crate::task::{TaskEvent, TaskId, TaskStatus};

/// What kind of failure an error is; the API edge maps each kind to one HTTP status and OMS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// The input breaks a field rule.
    InvalidArgument,
    /// The operation is not legal in the current state.
    InvalidState,
    /// No or bad credentials.
    Unauthenticated,
    /// Valid credentials without the right to this resource.
    Forbidden,
    /// Too many requests.
    RateLimited,
    /// A dependency is down; retrying later may work.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

/// A domain error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A field's value is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's wire name, e.g. `bandwidth_policy[1].start`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The task's status does not allow the operation ([`TaskStatus::apply`] decided).
    #[error("{}", task_refusal(*status, *event))]
    TaskRefused {
        /// The status the task was in.
        status: TaskStatus,
        /// What was asked.
        event: TaskEvent,
    },
    /// The group's status does not allow the operation ([`GroupStatus::apply`] decided).
    #[error("task group in status {} cannot {}", status.code(), group_verb(*event))]
    GroupRefused {
        /// The status the group was in.
        status: GroupStatus,
        /// What was asked.
        event: GroupEvent,
    },
    /// The group cannot be deleted while some of its tasks migrate.
    #[error("task group has {busy} task(s) in progress; stop it and wait before deleting")]
    GroupTasksBusy {
        /// Tasks in status 2 or 7.
        busy: u64,
    },
    /// The sync task's status does not allow the operation ([`SyncStatus::apply`] decided).
    #[error("{}", sync_refusal(*status, *event))]
    SyncRefused {
        /// The status the sync task was in.
        status: SyncStatus,
        /// What was asked.
        event: SyncEvent,
    },
    /// The project already holds the most sync tasks it may.
    #[error("the project already has {limit} sync tasks, the most allowed; delete one first")]
    SyncQuota {
        /// The limit.
        limit: u64,
    },
    /// No sync task has this id.
    #[error("sync task {0} not found")]
    SyncNotFound(SyncTaskId),
    /// Another state change the current state forbids (not tied to one task or group event).
    #[error("{0}")]
    InvalidState(String),
    /// No task has this id.
    #[error("task {0} not found")]
    TaskNotFound(TaskId),
    /// No task group has this id.
    #[error("task group {0} not found")]
    GroupNotFound(GroupId),
    /// Another thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A write of a run whose lease another claim took over (its fence is stale); the node
    /// must stop the run without writing more.
    #[error("lease lost: {0} was claimed by another node")]
    LeaseLost(String),
    /// The database is unreachable or busy; retrying may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// An unexpected failure (corrupt row, failed unsealing); the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

fn task_refusal(status: TaskStatus, event: TaskEvent) -> String {
    let code = status.code();
    match event {
        TaskEvent::Stop => format!("task is not migrating (status {code}) and cannot be paused"),
        TaskEvent::Start => {
            format!("task is neither paused nor failed (status {code}) and cannot be started")
        }
        TaskEvent::Retry => format!(
            "only a failed task can re-migrate its failed objects (status {code}); \
             start it without migrate_failed_object"
        ),
        TaskEvent::Delete => {
            format!("task is in progress (status {code}) and cannot be deleted, pause it first")
        }
        TaskEvent::UpdateBandwidth => {
            format!("task has finished (status {code}); its bandwidth policy cannot change")
        }
        TaskEvent::UpdatePriority => {
            format!("task priority can change only while waiting, paused or failed (status {code})")
        }
        other => format!("task in status {code} cannot take {other:?}"),
    }
}

fn sync_refusal(status: SyncStatus, event: SyncEvent) -> String {
    match event {
        SyncEvent::Stop => format!("sync task is {status}; only a synchronizing one can stop"),
        SyncEvent::Start => format!("sync task is {status}; only a stopped one can start"),
        SyncEvent::AcceptEvents => {
            format!("sync task is {status}; start it before sending events")
        }
        SyncEvent::Delete => format!("sync task in status {status} cannot be deleted"),
    }
}

fn group_verb(event: GroupEvent) -> &'static str {
    match event {
        GroupEvent::Stop => "be stopped: only a waiting, creating or monitoring group can",
        GroupEvent::Start { .. } => "be started: only a paused group (3) can",
        GroupEvent::Retry { .. } => "be retried: only a failed group (4 or 5) can",
        GroupEvent::Delete => "be deleted while it creates, runs or stops its tasks",
        GroupEvent::UpdateBandwidth => "change its bandwidth policy once it has ended",
        GroupEvent::BeginCreating => "begin creating tasks",
        GroupEvent::CreationDone => "finish creating tasks",
        GroupEvent::CreationFailed => "fail its creation",
        GroupEvent::TasksSucceeded | GroupEvent::TasksFailed => "settle",
        GroupEvent::Stopped => "finish stopping",
    }
}

impl Error {
    /// Builds an [`Error::InvalidField`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Classifies the error for the API edge.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidField { .. } => ErrorKind::InvalidArgument,
            Error::TaskRefused { .. }
            | Error::GroupRefused { .. }
            | Error::GroupTasksBusy { .. }
            | Error::SyncRefused { .. }
            | Error::SyncQuota { .. }
            | Error::InvalidState(_)
            | Error::LeaseLost(_) => ErrorKind::InvalidState,
            Error::TaskNotFound(_)
            | Error::GroupNotFound(_)
            | Error::SyncNotFound(_)
            | Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
