//! Sync tasks: a destination bucket that follows a source bucket, object by object, as the
//! source side announces changes (OMS operations 17–24).
//!
//! What a sync task is ([`SyncSpec`], [`SyncTask`]), where it stands ([`SyncStatus`]) and the
//! only legal ways its status moves ([`SyncStatus::apply`]), the limits of its requests, and the
//! persistence contract ([`SyncStore`]) kept apart from [`crate::TaskStore`] so the task contract
//! stays unchanged.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use crate::{CloudType, ConsistencyCheck, Error, OutcomeKind, OverwriteMode, Result, TaskSecrets};

/// Most sync tasks one project may hold (OMS: 5 per tenant).
pub const MAX_SYNC_TASKS_PER_PROJECT: u64 = 5;
/// Most keys one `create_sync_events` request may carry (OMS schema: array 1..100).
pub const MAX_EVENT_KEYS: usize = 100;
/// Longest URL-encoded key `create_sync_events` accepts (OMS: 1..16384).
pub const MAX_EVENT_KEY_LEN: usize = 16_384;
/// Width of one statistics bucket: everything is counted per five minutes.
pub const STAT_BUCKET_MS: i64 = 5 * 60 * 1000;
/// Width of the `ONE_HOUR` statistics series.
pub const HOUR_MS: i64 = 60 * 60 * 1000;

/// A sync task's id (OMS: a string, a UUID in every example).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SyncTaskId(pub String);

impl fmt::Display for SyncTaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// OMS sync-task status (a string on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// Accepting events and copying them.
    Synchronizing,
    /// Stopped by the user; events are refused, accepted ones wait for the next start.
    Stopped,
}

impl SyncStatus {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Synchronizing => "SYNCHRONIZING",
            SyncStatus::Stopped => "STOPPED",
        }
    }

    /// Tells whether the secrets must be erased in this status (DESIGN.md invariant 3: a
    /// stopped task forgets its credentials; start takes them again, as OMS does).
    pub fn erases_secrets(self) -> bool {
        self == SyncStatus::Stopped
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SyncStatus {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        match value {
            "SYNCHRONIZING" => Ok(SyncStatus::Synchronizing),
            "STOPPED" => Ok(SyncStatus::Stopped),
            _ => Err(Error::invalid(
                "status",
                format!("unknown value {value:?}, expected one of SYNCHRONIZING, STOPPED"),
            )),
        }
    }
}

/// What happens to a sync task; each event is legal only from some statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncEvent {
    /// The user stops it.
    Stop,
    /// The user starts it again with fresh credentials.
    Start,
    /// Events (keys to copy) arrive; changes no status.
    AcceptEvents,
    /// The user deletes it; any status may be deleted (its queue goes with it).
    Delete,
}

impl SyncStatus {
    /// The status after `event`, or [`Error::SyncRefused`] when the event is not allowed now.
    pub fn apply(self, event: SyncEvent) -> Result<SyncStatus> {
        use SyncEvent as E;
        use SyncStatus as S;
        match (self, event) {
            (S::Synchronizing, E::Stop) => Ok(S::Stopped),
            (S::Stopped, E::Start) => Ok(S::Synchronizing),
            (S::Synchronizing, E::AcceptEvents) => Ok(S::Synchronizing),
            (status, E::Delete) => Ok(status),
            (status, event) => Err(Error::SyncRefused { status, event }),
        }
    }
}

/// Everything a user asked for when creating a sync task, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// `src_cloud_type`.
    pub src_cloud_type: CloudType,
    /// `src_region`.
    pub src_region: String,
    /// `src_bucket`.
    pub src_bucket: String,
    /// `app_id` (Tencent).
    pub app_id: Option<String>,
    /// Destination vendor (HuaweiCloud; the region table says how to reach it).
    pub dst_cloud_type: CloudType,
    /// `dst_region`.
    pub dst_region: String,
    /// `dst_bucket`.
    pub dst_bucket: String,
    /// `description` ("" when unset).
    pub description: String,
    /// `enable_metadata_migration`.
    pub enable_metadata_migration: bool,
    /// `enable_restore` (refused at create while restore is not built, as for tasks).
    pub enable_restore: bool,
    /// `dst_storage_policy`: the storage class copies are written in (S3 destinations).
    pub dst_storage_policy: String,
    /// `object_overwrite_mode` (not in OMS's create body; tern accepts it as an extension).
    pub object_overwrite_mode: OverwriteMode,
    /// `consistency_check` (`transmission` in the request is [`ConsistencyCheck::NoCheck`]).
    pub consistency_check: ConsistencyCheck,
}

/// A stored sync task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTask {
    /// Id.
    pub id: SyncTaskId,
    /// Owning project.
    pub project_id: String,
    /// What was asked.
    pub spec: SyncSpec,
    /// Where it stands.
    pub status: SyncStatus,
    /// Creation time, Unix ms.
    pub created_at_ms: i64,
    /// Last (re)start time, Unix ms (creation starts it).
    pub last_start_ms: i64,
}

/// One accepted event the runner has claimed: copy `key` of the task's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedEvent {
    /// Queue position (unique per store).
    pub seq: i64,
    /// Source key, decoded.
    pub key: String,
    /// Copies tried before this one.
    pub attempts: u32,
    /// When it was accepted, Unix ms.
    pub accepted_ms: i64,
}

/// Who claims sync events, and for how long: the claim expires unless resolved or released
/// by then, and another node may take the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncClaim {
    /// The claiming node's id (the scheduler's node id).
    pub node: String,
    /// How long a claim holds, ms.
    pub lease_ms: i64,
}

/// What became of one claimed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventResolution {
    /// It has its one outcome; it leaves the queue and is counted.
    Done {
        /// Succeeded, skipped or failed.
        kind: OutcomeKind,
        /// Bytes of the source object (counted in `SIZE` when succeeded).
        size: u64,
    },
    /// A transient failure: back to the queue, not before this time (Unix ms).
    Retry {
        /// Earliest next attempt, Unix ms.
        not_before_ms: i64,
    },
}

/// Counters of one statistics bucket, or of any sum of buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Events accepted (a key already waiting counts once).
    pub request: u64,
    /// Objects copied.
    pub success: u64,
    /// Objects that failed for good.
    pub failure: u64,
    /// Objects skipped by the overwrite policy.
    pub skip: u64,
    /// Bytes copied.
    pub size: u64,
}

impl SyncCounts {
    /// Adds another bucket's counts.
    pub fn add(&mut self, other: &SyncCounts) {
        self.request += other.request;
        self.success += other.success;
        self.failure += other.failure;
        self.skip += other.skip;
        self.size += other.size;
    }
}

/// One five-minute statistics bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatBucket {
    /// Bucket start, Unix ms, a multiple of [`STAT_BUCKET_MS`].
    pub start_ms: i64,
    /// What happened in it.
    pub counts: SyncCounts,
}

/// `data_type` of `list_sync_task_statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatType {
    /// Events accepted.
    Request,
    /// Objects copied.
    Success,
    /// Objects failed.
    Failure,
    /// Objects skipped.
    Skip,
    /// Bytes copied.
    Size,
}

impl StatType {
    /// The OMS wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            StatType::Request => "REQUEST",
            StatType::Success => "SUCCESS",
            StatType::Failure => "FAILURE",
            StatType::Skip => "SKIP",
            StatType::Size => "SIZE",
        }
    }

    /// This type's value in `counts`.
    pub fn pick(self, counts: &SyncCounts) -> u64 {
        match self {
            StatType::Request => counts.request,
            StatType::Success => counts.success,
            StatType::Failure => counts.failure,
            StatType::Skip => counts.skip,
            StatType::Size => counts.size,
        }
    }
}

impl FromStr for StatType {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        match value {
            "REQUEST" => Ok(StatType::Request),
            "SUCCESS" => Ok(StatType::Success),
            "FAILURE" => Ok(StatType::Failure),
            "SKIP" => Ok(StatType::Skip),
            "SIZE" => Ok(StatType::Size),
            _ => Err(Error::invalid(
                "data_type",
                format!(
                    "unknown value {value:?}, expected REQUEST, SUCCESS, FAILURE, SKIP or SIZE"
                ),
            )),
        }
    }
}

/// Start (inclusive) and end (exclusive) of the UTC calendar month holding `time_ms`, Unix ms.
pub fn month_bounds_ms(time_ms: i64) -> (i64, i64) {
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let days = time_ms.div_euclid(DAY_MS);
    let (year, month, _) = civil_from_days(days);
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (
        days_from_civil(year, month, 1) * DAY_MS,
        days_from_civil(next_year, next_month, 1) * DAY_MS,
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Persistence of sync tasks, their durable event queue and their statistics.
///
/// Every operation that changes a status asks [`SyncStatus::apply`] inside the store's own
/// transaction and writes the transition with what it implies (secrets erased or stored) in
/// that one transaction. Accepting events writes them before the caller answers, so an
/// accepted event survives any crash.
#[async_trait]
pub trait SyncStore: Send + Sync + 'static {
    /// Creates a synchronizing sync task with sealed secrets under a fresh UUID; refuses
    /// ([`Error::SyncQuota`]) when the project already holds [`MAX_SYNC_TASKS_PER_PROJECT`].
    async fn create_sync_task(
        &self,
        project_id: &str,
        spec: &SyncSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<SyncTask>;
    /// One sync task, whatever its project.
    async fn get_sync_task(&self, id: &SyncTaskId) -> Result<Option<SyncTask>>;
    /// A page of a project's sync tasks, newest first, and the count of all that match.
    async fn list_sync_tasks(
        &self,
        project_id: &str,
        status: Option<SyncStatus>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<SyncTask>, u64)>;
    /// Every sync task in this status (start-up).
    async fn sync_tasks_in_status(&self, status: SyncStatus) -> Result<Vec<SyncTask>>;
    /// Deletes a sync task with its secrets, queue and statistics in one transaction.
    async fn delete_sync_task(&self, id: &SyncTaskId) -> Result<()>;
    /// Stops a sync task ([`SyncEvent::Stop`]) and erases its secrets in one transaction.
    async fn stop_sync_task(&self, id: &SyncTaskId, now_ms: i64) -> Result<SyncTask>;
    /// Starts a stopped sync task ([`SyncEvent::Start`]) with fresh secrets in one transaction.
    async fn start_sync_task(
        &self,
        id: &SyncTaskId,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<SyncTask>;
    /// Unseals a sync task's secrets; `None` once erased.
    async fn sync_secrets(&self, id: &SyncTaskId) -> Result<Option<TaskSecrets>>;

    /// Persists keys to copy ([`SyncEvent::AcceptEvents`]) in one transaction: a key already
    /// waiting (not yet claimed) is not queued twice; the newly queued ones are counted as
    /// `REQUEST` in the bucket of `now_ms`. Returns how many were newly queued.
    async fn accept_sync_events(
        &self,
        id: &SyncTaskId,
        keys: &[String],
        now_ms: i64,
    ) -> Result<u64>;
    /// Claims for `claim`'s node at most `limit` events of a task that are due at `now_ms`,
    /// oldest first: waiting ones, and claimed ones whose claim expired (its node died). A
    /// claim lasts `claim.lease_ms`; until then the event is invisible to other claims and to
    /// deduplication, unless resolved or released first.
    async fn claim_sync_events(
        &self,
        id: &SyncTaskId,
        claim: &SyncClaim,
        limit: u64,
        now_ms: i64,
    ) -> Result<Vec<ClaimedEvent>>;
    /// Writes what became of `node`'s claimed events in one transaction: done ones leave the
    /// queue and are counted in the bucket of `now_ms`; retried ones wait again (a retried key
    /// that has meanwhile been queued afresh merges into the fresh one, its `REQUEST` taken
    /// back). An event another node has claimed since (this node's claim expired) is left to
    /// that node and not counted here.
    async fn resolve_sync_events(
        &self,
        id: &SyncTaskId,
        node: &str,
        resolutions: &[(ClaimedEvent, EventResolution)],
        now_ms: i64,
    ) -> Result<()>;
    /// Returns `node`'s claimed events to the queue unchanged (a stop, a shutdown, or start-up
    /// after a crash when `id` is `None`: then every task's), merging as
    /// [`SyncStore::resolve_sync_events`] does. Other nodes' claims are left alone.
    async fn release_sync_events(&self, id: Option<&SyncTaskId>, node: &str) -> Result<()>;
    /// Events of a task still queued (claimed or not).
    async fn pending_sync_events(&self, id: &SyncTaskId) -> Result<u64>;
    /// The task's statistics buckets with `start_ms` in `from_ms..to_ms`, in time order.
    async fn sync_stats(
        &self,
        id: &SyncTaskId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StatBucket>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_event_from_every_status() {
        use SyncEvent as E;
        use SyncStatus as S;
        assert_eq!(S::Synchronizing.apply(E::Stop), Ok(S::Stopped));
        assert_eq!(S::Stopped.apply(E::Start), Ok(S::Synchronizing));
        assert_eq!(
            S::Synchronizing.apply(E::AcceptEvents),
            Ok(S::Synchronizing)
        );
        assert_eq!(S::Stopped.apply(E::Delete), Ok(S::Stopped));
        assert_eq!(S::Synchronizing.apply(E::Delete), Ok(S::Synchronizing));
        for (status, event) in [
            (S::Stopped, E::Stop),
            (S::Synchronizing, E::Start),
            (S::Stopped, E::AcceptEvents),
        ] {
            assert_eq!(
                status.apply(event),
                Err(Error::SyncRefused { status, event })
            );
        }
    }

    #[test]
    fn test_status_round_trips() {
        for status in [SyncStatus::Synchronizing, SyncStatus::Stopped] {
            assert_eq!(status.as_str().parse::<SyncStatus>(), Ok(status));
        }
        assert!("RUNNING".parse::<SyncStatus>().is_err());
    }

    #[test]
    fn test_month_bounds() {
        // 2024-02-29T12:00:00Z: a leap February.
        let (start, end) = month_bounds_ms(1_709_208_000_000);
        assert_eq!(start, 1_706_745_600_000); // 2024-02-01
        assert_eq!(end, 1_709_251_200_000); // 2024-03-01
                                            // 2023-12-31T23:59:59.999Z rolls the year.
        let (start, end) = month_bounds_ms(1_704_067_199_999);
        assert_eq!(start, 1_701_388_800_000); // 2023-12-01
        assert_eq!(end, 1_704_067_200_000); // 2024-01-01
        assert_eq!(month_bounds_ms(0), (0, 2_678_400_000));
    }

    #[test]
    fn test_stat_type_parse_and_pick() {
        let counts = SyncCounts {
            request: 1,
            success: 2,
            failure: 3,
            skip: 4,
            size: 5,
        };
        let picked: Vec<u64> = ["REQUEST", "SUCCESS", "FAILURE", "SKIP", "SIZE"]
            .iter()
            .map(|name| name.parse::<StatType>().unwrap().pick(&counts))
            .collect();
        assert_eq!(picked, vec![1, 2, 3, 4, 5]);
        assert!("request".parse::<StatType>().is_err());
    }
}
