//! tern's domain: the plain data and rules of a migration, with no I/O.
//!
//! This crate owns source/destination node specs, the region table that turns an OMS
//! `cloud_type` + `region` into an endpoint, the overwrite / consistency / bandwidth policies,
//! and the per-object outcomes the engine reports. It must not depend on sqlx, axum or OpenDAL:
//! storage lives in `tern-engine`, persistence in `tern-store`, HTTP in `tern-server`.
#![deny(missing_docs)]

pub mod error;
pub mod group;
pub mod lease;
pub mod node;
pub mod notify;
pub mod outcome;
pub mod part_journal;
pub mod policy;
pub mod region;
pub mod secret;
pub mod selection;
pub mod store;
pub mod sync;
pub mod task;
pub mod transfer_options;

pub use error::{Error, ErrorKind, Result};
pub use group::{
    GroupEvent, GroupId, GroupSpec, GroupStatus, GroupTaskType, GroupTotals, SplitProgress,
    TaskGroup,
};
pub use lease::{
    check_fence, claimable, continues_earlier_claim, lease_expired, ClaimedRun, Fence, LeaseCheck,
    LeaseTerms, NodeId, RunRecord, DEFAULT_LEASE_MS,
};
pub use node::{CloudType, Credentials, NodeSpec};
pub use notify::{DeliveryState, Notification, NotifySubject, TriggerCondition};
pub use outcome::{
    CopyPath, Counters, FailureCode, FailureReason, ObjectOutcome, Outcome, SkipReason,
    Verification,
};
pub use part_journal::{DonePart, PartJournal, SourceVersion, UploadCheckpoint};
pub use policy::{BandwidthPolicy, BandwidthWindow, ConsistencyCheck, OverwriteMode};
pub use region::{check_local_bucket, Protocol, RegionEntry, RegionTable};
pub use secret::Secret;
pub use selection::{ListFileSpec, SourceSelection};
pub use store::{
    BatchTarget, GroupChange, LedgerEntry, OutcomeBatch, OutcomeKind, TaskFilter, TaskStore,
};
pub use sync::{
    month_bounds_ms, ClaimedEvent, EventResolution, StatBucket, StatType, SyncClaim, SyncCounts,
    SyncEvent, SyncSpec, SyncStatus, SyncStore, SyncTask, SyncTaskId, HOUR_MS, MAX_EVENT_KEYS,
    MAX_EVENT_KEY_LEN, MAX_SYNC_TASKS_PER_PROJECT, STAT_BUCKET_MS,
};
pub use task::{
    DestinationSpec, FailedObjectRecord, GroupType, KeyRange, LineRange, RunEnding, SourceSpec,
    Task, TaskEvent, TaskId, TaskPriority, TaskSecrets, TaskSpec, TaskStatus, TaskType,
};
pub use transfer_options::{
    check_transfer_options, destination_storage_class, destination_storage_plan,
    mapped_storage_class, mapped_storage_policy, StoragePlan, DST_STORAGE_POLICIES,
};
