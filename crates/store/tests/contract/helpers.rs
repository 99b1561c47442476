//! Builders shared by the contract tests.

use std::sync::Arc;

use tern_core::OutcomeBatch;
use tern_core::{
    BandwidthPolicy, CloudType, ConsistencyCheck, CopyPath, Counters, Credentials, DestinationSpec,
    FailureCode, FailureReason, GroupEvent, GroupId, GroupSpec, GroupStatus, GroupTaskType,
    GroupType, ObjectOutcome, Outcome, OutcomeKind, OverwriteMode, RunEnding, Secret, SkipReason,
    SourceSpec, Task, TaskEvent, TaskId, TaskPriority, TaskSecrets, TaskSpec, TaskStatus,
    TaskStore, TaskType, Verification,
};

/// Project used by most tests.
pub const PROJECT: &str = "project-a";
/// Fixed clock for created tasks.
pub const NOW: i64 = 1_700_000_000_000;

/// A minimal prefix-task spec copying `src_bucket` to `dst`.
pub fn spec(src_bucket: &str) -> TaskSpec {
    TaskSpec {
        task_type: TaskType::Prefix,
        src: SourceSpec {
            cloud_type: CloudType::Aws,
            region: "local-1".into(),
            bucket: src_bucket.into(),
            app_id: None,
            object_keys: vec![String::new()],
            list_file: None,
            key_range: None,
            list_lines: None,
            signed: true,
        },
        dst: DestinationSpec {
            cloud_type: CloudType::HuaweiCloud,
            region: "local-1".into(),
            bucket: "dst".into(),
            save_prefix: String::new(),
        },
        description: String::new(),
        migrate_since_s: None,
        bandwidth_policy: BandwidthPolicy::default(),
        enable_metadata_migration: false,
        enable_restore: false,
        enable_failed_object_recording: true,
        object_overwrite_mode: OverwriteMode::SizeLastModified,
        consistency_check: ConsistencyCheck::SizeLastModified,
        dst_storage_policy: String::new(),
        enable_requester_pays: false,
        task_priority: TaskPriority::Medium,
        echo_json: String::new(),
        group_id: None,
        group_type: GroupType::NormalTask,
    }
}

/// Secrets whose every field carries `marker`.
pub fn secrets(marker: &str) -> TaskSecrets {
    let credentials = |side: &str| Credentials {
        access_key: format!("AK-{side}"),
        secret_key: Secret::new(format!("sk-{side}-{marker}")),
        security_token: Some(Secret::new(format!("token-{side}-{marker}"))),
        connection_string: Some(Secret::new(format!("conn-{side}-{marker}"))),
        json_auth_file: Some(Secret::new(format!("{{\"key\":\"{side}-{marker}\"}}"))),
    };
    TaskSecrets {
        src: credentials("src"),
        dst: credentials("dst"),
        cdn_key: Some(Secret::new(format!("cdn-{marker}"))),
    }
}

/// Creates a task in [`PROJECT`] from `spec(src_bucket)`.
pub async fn create(store: &Arc<dyn TaskStore>, src_bucket: &str, now_ms: i64) -> Task {
    store
        .create_task(PROJECT, &spec(src_bucket), &secrets("m"), now_ms)
        .await
        .unwrap()
}

/// A succeeded outcome.
pub fn succeeded(key: &str, size: u64) -> ObjectOutcome {
    ObjectOutcome {
        key: key.into(),
        size,
        outcome: Outcome::Succeeded {
            verification: Verification::Crc64,
            crc64: Some(u64::MAX - size),
            path: CopyPath::Streamed,
        },
    }
}

/// A skipped outcome.
pub fn skipped(key: &str, size: u64) -> ObjectOutcome {
    ObjectOutcome {
        key: key.into(),
        size,
        outcome: Outcome::Skipped(SkipReason::Unchanged),
    }
}

/// A failed outcome.
pub fn failed(key: &str, size: u64, message: &str) -> ObjectOutcome {
    ObjectOutcome {
        key: key.into(),
        size,
        outcome: Outcome::Failed {
            code: FailureCode::DestinationError,
            message: message.into(),
        },
    }
}

/// Recounts a task's ledger through the trait only, paging two rows at a time.
pub async fn ledger_aggregate(store: &Arc<dyn TaskStore>, id: TaskId) -> Counters {
    let mut counters = Counters::default();
    for kind in [
        OutcomeKind::Succeeded,
        OutcomeKind::Skipped,
        OutcomeKind::Failed,
    ] {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .ledger_page(id, kind, after.as_deref(), 2)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            for entry in &page {
                assert_eq!(entry.kind, kind);
                let (num, size) = match kind {
                    OutcomeKind::Succeeded => {
                        (&mut counters.successful_num, &mut counters.successful_size)
                    }
                    OutcomeKind::Skipped => (&mut counters.skipped_num, &mut counters.skipped_size),
                    OutcomeKind::Failed => (&mut counters.failed_num, &mut counters.failed_size),
                };
                *num += 1;
                *size += entry.size;
                counters.total_num += 1;
                counters.total_size += entry.size;
            }
        }
    }
    counters
}

/// Asserts that `get_task` and `list_tasks` both show counters equal to the ledger.
pub async fn assert_counters_match_ledger(store: &Arc<dyn TaskStore>, id: TaskId) -> Counters {
    let aggregate = ledger_aggregate(store, id).await;
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.counters, aggregate, "get_task counters vs ledger");
    let (listed, _) = store
        .list_tasks(&task.project_id, &Default::default(), 0, 1000)
        .await
        .unwrap();
    let from_list = listed.iter().find(|t| t.id == id).unwrap();
    assert_eq!(
        from_list.counters, aggregate,
        "list_tasks counters vs ledger"
    );
    aggregate
}

/// Creates a task and drives it to `status` with legal events only.
pub async fn task_in(store: &Arc<dyn TaskStore>, status: TaskStatus) -> TaskId {
    let id = create(store, "walk", NOW).await.id;
    drive(store, id, status).await;
    id
}

/// Drives a waiting task to `status` with legal events only.
pub async fn drive(store: &Arc<dyn TaskStore>, id: TaskId, status: TaskStatus) {
    let path: &[TaskEvent] = match status {
        TaskStatus::Waiting => &[],
        TaskStatus::Migrating => &[TaskEvent::Claim],
        TaskStatus::Pausing => &[TaskEvent::Claim, TaskEvent::Stop],
        TaskStatus::Paused => &[TaskEvent::Stop],
        TaskStatus::Failed => &[TaskEvent::Fail],
        TaskStatus::Succeeded => &[TaskEvent::Claim, TaskEvent::Succeed],
        TaskStatus::Retrying => &[TaskEvent::Fail, TaskEvent::Retry],
    };
    for &event in path {
        apply(store, id, event).await.unwrap();
    }
    assert_eq!(store.get_task(id).await.unwrap().unwrap().status, status);
}

/// Applies an event through the method a caller would use for it.
pub async fn apply(
    store: &Arc<dyn TaskStore>,
    id: TaskId,
    event: TaskEvent,
) -> tern_core::Result<tern_core::Task> {
    match event {
        TaskEvent::Start => store.start_task(id, &secrets("s"), false, NOW + 5).await,
        TaskEvent::Retry => store.start_task(id, &secrets("s"), true, NOW + 5).await,
        TaskEvent::Succeed => {
            let completed = RunEnding::Completed {
                failed_object_record: None,
            };
            store.finish_run(id, None, &completed, 0, NOW + 5).await
        }
        TaskEvent::Fail => {
            let fatal = RunEnding::Fatal(FailureReason::new(FailureCode::Internal, "test"));
            store.finish_run(id, None, &fatal, 0, NOW + 5).await
        }
        other => store.transition(id, other, NOW + 5).await,
    }
}

/// A minimal PREFIX group spec splitting `src_bucket` into tasks copying to `dst`.
pub fn group_spec(src_bucket: &str) -> GroupSpec {
    let task = spec(src_bucket);
    GroupSpec {
        task_type: GroupTaskType::Prefix,
        src: task.src,
        dst: task.dst,
        description: String::new(),
        migrate_since_s: None,
        bandwidth_policy: BandwidthPolicy::default(),
        enable_metadata_migration: false,
        enable_restore: false,
        enable_failed_object_recording: true,
        object_overwrite_mode: OverwriteMode::SizeLastModified,
        consistency_check: ConsistencyCheck::SizeLastModified,
        dst_storage_policy: String::new(),
        enable_requester_pays: false,
        echo_json: String::new(),
    }
}

/// Creates a group in [`PROJECT`] from `group_spec(src_bucket)`.
pub async fn create_group(store: &Arc<dyn TaskStore>, src_bucket: &str, now_ms: i64) -> GroupId {
    store
        .create_group(PROJECT, &group_spec(src_bucket), &secrets("g"), now_ms)
        .await
        .unwrap()
        .id
}

/// Creates a group and drives it to `status` with legal events only.
pub async fn group_in(store: &Arc<dyn TaskStore>, status: GroupStatus) -> GroupId {
    use GroupEvent as E;
    let id = create_group(store, "walk", NOW).await;
    let path: &[GroupEvent] = match status {
        GroupStatus::Waiting => &[],
        GroupStatus::Creating => &[E::BeginCreating],
        GroupStatus::Monitoring => &[E::BeginCreating, E::CreationDone],
        GroupStatus::Paused => &[E::Stop, E::Stopped],
        GroupStatus::CreationFailed => &[E::CreationFailed],
        GroupStatus::MigrationFailed => &[E::BeginCreating, E::CreationDone, E::TasksFailed],
        GroupStatus::Completed => &[E::BeginCreating, E::CreationDone, E::TasksSucceeded],
        GroupStatus::Pausing => &[E::Stop],
        GroupStatus::WaitingDeletion | GroupStatus::Deleting => {
            unreachable!("deletion is one transaction: 8 and 9 are never stored")
        }
    };
    for &event in path {
        store.group_transition(&id, event, NOW + 5).await.unwrap();
    }
    assert_eq!(store.get_group(&id).await.unwrap().unwrap().status, status);
    id
}

/// Every group status a group can be stored in: 0 to 7 (deletion is one transaction).
pub fn all_group_statuses() -> impl Iterator<Item = GroupStatus> {
    (0..=7).filter_map(GroupStatus::from_code)
}

/// Records three batches that insert, replace failed rows and ignore outcomes, checking after
/// each that the task's stored counters equal `recount` (the backend's GROUP BY of its ledger),
/// then checks the final recount against the rule worked out by hand.
pub async fn check_counters_against_recount<F, Fut>(store: &Arc<dyn TaskStore>, recount: F)
where
    F: Fn(TaskId) -> Fut,
    Fut: std::future::Future<Output = Counters>,
{
    let id = create(store, "recount", NOW).await.id;
    let batches = [
        vec![succeeded("a", 1), failed("b", 2, "x"), failed("b", 3, "y")],
        vec![
            succeeded("b", 4),
            skipped("c", 5),
            failed("a", 6, "ignored"),
        ],
        vec![failed("d", 7, "x"), failed("d", 8, "y"), skipped("d", 9)],
    ];
    for outcomes in batches {
        let batch = OutcomeBatch {
            outcomes,
            ..OutcomeBatch::default()
        };
        store.record_batch(id, &batch).await.unwrap();
        let stored = store.get_task(id).await.unwrap().unwrap().counters;
        assert_eq!(stored, recount(id).await);
    }
    // a, b (failed twice, then succeeded), c, and d (failed twice, then skipped).
    let counters = recount(id).await;
    assert_eq!(
        (
            counters.total_num,
            counters.successful_num,
            counters.skipped_num
        ),
        (4, 2, 2)
    );
    assert_eq!(counters.total_size, 1 + 4 + 5 + 9);
}
