//! The persistence contract. Implementations live in `tern-store` (SQLite, PostgreSQL).
//!
//! Callers check project ownership themselves (`Task::project_id`). Every operation that
//! changes a status asks core ([`TaskStatus::apply`], [`TaskStatus::end_run`],
//! [`GroupStatus::apply`], [`GroupStatus::settle`]) inside the store's own transaction and
//! writes the transition together with everything it implies (reason, counters, secrets,
//! child tasks) in that one transaction, so two racing requests cannot both win and a crash
//! never leaves half a transition. Callers never pre-check a status: they send the operation
//! and act on the typed refusal.

use async_trait::async_trait;

use crate::group::{
    GroupEvent, GroupId, GroupSpec, GroupStatus, GroupTotals, SplitProgress, TaskGroup,
};
use crate::lease::{ClaimedRun, Fence, LeaseCheck, LeaseTerms, NodeId, RunRecord};
use crate::notify::{DeliveryState, Notification, NotifySubject};
use crate::part_journal::PartJournal;
use crate::task::{
    RunEnding, Task, TaskEvent, TaskId, TaskPriority, TaskSecrets, TaskSpec, TaskStatus,
};
use crate::{BandwidthPolicy, FailureReason, ObjectOutcome, Result, Secret};

/// Filters of `list_tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only tasks of this group.
    pub group_id: Option<String>,
    /// Only tasks whose name contains this.
    pub name: Option<String>,
}

/// Outcome kinds as stored in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// Copied.
    Succeeded,
    /// Skipped by policy.
    Skipped,
    /// Failed.
    Failed,
}

impl OutcomeKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Succeeded => "succeeded",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Failed => "failed",
        }
    }
}

/// One ledger row: the single outcome of one key of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Source key.
    pub key: String,
    /// Source size.
    pub size: u64,
    /// What happened.
    pub kind: OutcomeKind,
    /// Failure code, skip reason or verification word.
    pub detail: String,
    /// Failure message ("" otherwise).
    pub message: String,
    /// CRC64 of the bytes copied (succeeded only).
    pub crc64: Option<u64>,
}

/// What a scheduler commits in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomeBatch {
    /// Objects listed since the last batch.
    pub listed_num: u64,
    /// Bytes listed since the last batch.
    pub listed_size: u64,
    /// Outcomes since the last batch. A key new to the ledger is inserted; a key already there
    /// is replaced only when its stored outcome is `failed` (a retry may mend it; a resumed run
    /// never turns a success into a skip).
    pub outcomes: Vec<ObjectOutcome>,
    /// New checkpoint, if it moved.
    pub checkpoint: Option<String>,
    /// The listing has finished.
    pub is_query_over: bool,
    /// Current speed, bytes/s.
    pub migrate_speed: i64,
    /// Estimated time left, ms.
    pub left_time_ms: i64,
    /// The run's fence; a stale one refuses the whole batch ([`Error::LeaseLost`]). `None`
    /// writes unfenced (tools and tests that run no claim).
    ///
    /// [`Error::LeaseLost`]: crate::Error::LeaseLost
    pub fence: Option<Fence>,
}

/// Which tasks a `batch_update_tasks` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchTarget {
    /// Every task of this group (of the caller's project).
    Group(String),
    /// These tasks; one that is not the project's refuses the whole batch.
    Tasks(Vec<TaskId>),
}

/// A group operation's result: the group as written, and the tasks whose run this node must
/// act on now (cancel the stopped ones, re-throttle the updated ones).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupChange {
    /// The group after the operation.
    pub group: TaskGroup,
    /// Tasks the operation moved or changed.
    pub tasks: Vec<TaskId>,
}

/// Persistence of projects' identities, tasks and the per-object ledger; also the checkpoint
/// of multipart uploads in progress ([`PartJournal`]), which `delete_task` and `delete_group`
/// forget with the task.
#[async_trait]
pub trait TaskStore: PartJournal + Send + Sync + 'static {
    /// Stores a token (already hashed by the caller) for a project.
    async fn put_token(&self, project_id: &str, token_sha256: &str) -> Result<()>;
    /// The project a hashed token belongs to.
    async fn project_for_token(&self, token_sha256: &str) -> Result<Option<String>>;
    /// Stores an AK/SK pair for a project; the SK is sealed at rest.
    async fn put_credential(
        &self,
        project_id: &str,
        access_key: &str,
        secret_key: &Secret,
    ) -> Result<()>;
    /// The project and SK of an AK.
    async fn credential(&self, access_key: &str) -> Result<Option<(String, Secret)>>;
    /// Records that a project accepted the privacy agreement at `now_ms` (the latest wins).
    async fn record_privacy_agreement(&self, project_id: &str, now_ms: i64) -> Result<()>;
    /// When a project last accepted the privacy agreement, if ever.
    async fn privacy_agreement(&self, project_id: &str) -> Result<Option<i64>>;

    /// Creates a task in status 1 with sealed secrets; ids are positive and unique.
    async fn create_task(
        &self,
        project_id: &str,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<Task>;
    /// One task, whatever its project.
    async fn get_task(&self, id: TaskId) -> Result<Option<Task>>;
    /// A page of a project's tasks, newest first, and the total count matching the filter.
    async fn list_tasks(
        &self,
        project_id: &str,
        filter: &TaskFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Task>, u64)>;
    /// Deletes a task with its ledger and secrets; refuses a busy task
    /// ([`TaskEvent::Delete`]).
    async fn delete_task(&self, id: TaskId) -> Result<()>;
    /// Applies a plain status event ([`TaskEvent::Claim`], `Stop`, `Stopped`) atomically;
    /// erases the secrets when the new status requires it. Other events carry data and have
    /// their own operations (`start_task`, `finish_run`, …) and are refused here.
    async fn transition(&self, id: TaskId, event: TaskEvent, now_ms: i64) -> Result<Task>;
    /// Starts a paused or failed task again with fresh secrets: [`TaskEvent::Retry`] when
    /// `failed_only`, else [`TaskEvent::Start`]; the secrets are checked with
    /// [`SourceSpec::check_start_secrets`](crate::SourceSpec::check_start_secrets).
    async fn start_task(
        &self,
        id: TaskId,
        secrets: &TaskSecrets,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<Task>;
    /// Ends a run in one transaction: reads the ledger's failed count, asks
    /// [`TaskStatus::end_run`], and writes the status, the reason, the failed-object record,
    /// the time spent, the erasure of secrets, the release of the lease and the run record's
    /// end together. A stale `fence` refuses it ([`Error::LeaseLost`]).
    ///
    /// [`Error::LeaseLost`]: crate::Error::LeaseLost
    async fn finish_run(
        &self,
        id: TaskId,
        fence: Option<Fence>,
        ending: &RunEnding,
        elapsed_ms: i64,
        now_ms: i64,
    ) -> Result<Task>;
    /// Unseals a task's secrets; `None` once erased.
    async fn secrets(&self, id: TaskId) -> Result<Option<TaskSecrets>>;
    /// Replaces the bandwidth policy ([`TaskEvent::UpdateBandwidth`]).
    async fn update_bandwidth_policy(&self, id: TaskId, policy: &BandwidthPolicy) -> Result<Task>;
    /// `batch_update_tasks` in one transaction: the policy goes to every target task that
    /// takes [`TaskEvent::UpdateBandwidth`], the priority to those that take
    /// [`TaskEvent::UpdatePriority`]; the others are left as they are. Returns the tasks
    /// whose policy changed.
    async fn batch_update_tasks(
        &self,
        project_id: &str,
        target: &BatchTarget,
        policy: &BandwidthPolicy,
        priority: Option<TaskPriority>,
    ) -> Result<Vec<TaskId>>;

    /// Claims the most urgent task [`claimable`](crate::claimable) at `now_ms` (priority, then
    /// age): a waiting or retrying one moves to 2, a migrating one whose lease expired is taken
    /// over. One transaction bumps the fence, writes the lease and records the run.
    async fn claim_next_runnable(
        &self,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Option<ClaimedRun>>;
    /// Claims again, with fresh fences, every migrating task whose lease names this node
    /// (a restarted node takes its own runs back without waiting for the lease to expire).
    async fn resume_node_runs(&self, terms: &LeaseTerms, now_ms: i64) -> Result<Vec<ClaimedRun>>;
    /// Extends a run's lease if `fence` still holds it, and tells the task's status.
    async fn renew_lease(
        &self,
        id: TaskId,
        fence: Fence,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<LeaseCheck>;
    /// Winds pausing tasks no live run holds down to paused (3): those whose lease expired,
    /// and those of `own_node` (at start-up, when this node's runs are gone). Returns them.
    async fn wind_down_pausing(
        &self,
        own_node: Option<&NodeId>,
        now_ms: i64,
    ) -> Result<Vec<TaskId>>;
    /// The runs of a task in claim order: which node ran each and when.
    async fn task_runs(&self, id: TaskId) -> Result<Vec<RunRecord>>;
    /// Every task in one of these statuses (start-up resume).
    async fn tasks_in_status(&self, statuses: &[TaskStatus]) -> Result<Vec<Task>>;
    /// How many tasks of all projects are in each status (`/metrics`); absent statuses have none.
    async fn count_tasks_by_status(&self) -> Result<Vec<(TaskStatus, u64)>>;

    /// Commits outcomes, listing counts and the checkpoint in one transaction.
    async fn record_batch(&self, id: TaskId, batch: &OutcomeBatch) -> Result<()>;
    /// One key's ledger row.
    async fn ledger_entry(&self, id: TaskId, key: &str) -> Result<Option<LedgerEntry>>;
    /// Ledger rows of one kind in key order, after `after_key`, at most `limit`.
    async fn ledger_page(
        &self,
        id: TaskId,
        kind: OutcomeKind,
        after_key: Option<&str>,
        limit: u64,
    ) -> Result<Vec<LedgerEntry>>;

    /// Creates a group in status 0 with sealed secrets; the id is a fresh UUID.
    async fn create_group(
        &self,
        project_id: &str,
        spec: &GroupSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<TaskGroup>;
    /// One group, whatever its project.
    async fn get_group(&self, id: &GroupId) -> Result<Option<TaskGroup>>;
    /// A page of a project's groups, newest first, and the total count.
    async fn list_groups(
        &self,
        project_id: &str,
        status: Option<GroupStatus>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<TaskGroup>, u64)>;
    /// Every group in one of these statuses (start-up resume, monitoring).
    async fn groups_in_status(&self, statuses: &[GroupStatus]) -> Result<Vec<TaskGroup>>;
    /// Applies an event that moves the group alone (splitter and settling events) atomically;
    /// the first `BeginCreating` sets `start_time_ms`. Start, retry, delete and policy updates
    /// move tasks and secrets too and are refused here: they have their own operations.
    async fn group_transition(
        &self,
        id: &GroupId,
        event: GroupEvent,
        now_ms: i64,
    ) -> Result<TaskGroup>;
    /// The group's sealed secrets; `None` once erased.
    async fn group_secrets(&self, id: &GroupId) -> Result<Option<TaskSecrets>>;
    /// Creates one task of the group (`group_id` set, `GROUP_TASK`) and saves the splitter's
    /// progress in the same transaction, so a crash never creates a slice twice or loses one.
    /// Refused unless the group is creating (1).
    async fn create_group_task(
        &self,
        id: &GroupId,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        split: &SplitProgress,
        now_ms: i64,
    ) -> Result<Task>;
    /// Takes the lease on splitting a waiting or creating group unless another node's is live;
    /// returns the fence its split writes carry (in [`SplitProgress::fence`]).
    async fn claim_group_split(
        &self,
        id: &GroupId,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Option<Fence>>;
    /// Extends a split lease if `fence` still holds it.
    async fn renew_group_split(
        &self,
        id: &GroupId,
        fence: Fence,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<bool>;
    /// Saves the splitter's progress without a task (an empty slice).
    async fn update_group_split(&self, id: &GroupId, split: &SplitProgress) -> Result<()>;
    /// Marks splitting done and moves the group 1 → 2 ([`GroupEvent::CreationDone`]) in one
    /// transaction.
    async fn finish_group_split(&self, id: &GroupId, split: &SplitProgress) -> Result<TaskGroup>;
    /// Records why splitting failed and moves the group 1 → 4 in one transaction.
    async fn fail_group_creation(&self, id: &GroupId, reason: &FailureReason) -> Result<TaskGroup>;
    /// Sums the group's tasks: counts per status and ledger counters.
    async fn group_totals(&self, id: &GroupId) -> Result<GroupTotals>;
    /// Settles a monitoring or pausing group from its tasks ([`GroupStatus::settle`]) in one
    /// transaction; `None` when nothing changed.
    async fn settle_group(
        &self,
        id: &GroupId,
        splitting: bool,
        now_ms: i64,
    ) -> Result<Option<TaskGroup>>;
    /// Stops a group and each of its tasks [`GroupEvent::task_move`] moves, in one
    /// transaction. The returned tasks are those now pausing (their runs must be cancelled).
    async fn stop_group(&self, id: &GroupId, now_ms: i64) -> Result<GroupChange>;
    /// Starts a paused group with fresh secrets and each of its tasks
    /// [`GroupEvent::task_move`] moves (the paused ones), in one transaction.
    async fn start_group(
        &self,
        id: &GroupId,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<GroupChange>;
    /// Retries a failed group and each of its failed tasks ([`GroupEvent::task_move`]), with the given secrets or the group's stored
    /// ones, in one transaction; clears the group's failure reason.
    async fn retry_group(
        &self,
        id: &GroupId,
        secrets: Option<&TaskSecrets>,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<GroupChange>;
    /// Replaces the group's policy and that of each task that takes it
    /// ([`GroupEvent::task_move`]), in one transaction.
    async fn update_group_bandwidth_policy(
        &self,
        id: &GroupId,
        policy: &BandwidthPolicy,
    ) -> Result<GroupChange>;
    /// Deletes the group with its tasks, their ledgers and secrets in one transaction;
    /// refuses ([`Error::GroupRefused`], [`Error::GroupTasksBusy`]) and changes nothing while
    /// the group or any of its tasks is busy.
    ///
    /// [`Error::GroupRefused`]: crate::Error::GroupRefused
    /// [`Error::GroupTasksBusy`]: crate::Error::GroupTasksBusy
    async fn delete_group(&self, id: &GroupId) -> Result<()>;

    /// Records a new end's notification, replacing the subject's previous record.
    async fn put_notification(&self, notification: &Notification) -> Result<()>;
    /// Writes how the delivery of the record of the end at `ended_at_ms` went; a no-op when
    /// a later end has replaced that record (or its subject was deleted).
    async fn record_notification_outcome(
        &self,
        subject: &NotifySubject,
        ended_at_ms: i64,
        state: DeliveryState,
        error_message: &str,
        attempts: u32,
    ) -> Result<()>;
    /// The subject's latest notification record.
    async fn notification(&self, subject: &NotifySubject) -> Result<Option<Notification>>;
    /// Every record still pending (start-up redelivery).
    async fn pending_notifications(&self) -> Result<Vec<Notification>>;
}
