//! Contract: secrets, restarts, deletion, field updates, tokens and credentials.

use std::sync::Arc;

use tern_core::{
    BandwidthPolicy, BandwidthWindow, BatchTarget, ErrorKind, FailedObjectRecord, FailureCode,
    FailureReason, OutcomeBatch, RunEnding, Secret, TaskEvent, TaskId, TaskPriority, TaskStatus,
    TaskStore,
};

use super::helpers::*;

pub async fn test_secrets_round_trip_and_are_erased(store: Arc<dyn TaskStore>) {
    let task = store
        .create_task(PROJECT, &spec("s"), &secrets("first"), NOW)
        .await
        .unwrap();
    assert_eq!(
        store.secrets(task.id).await.unwrap(),
        Some(secrets("first"))
    );
    apply(&store, task.id, TaskEvent::Fail).await.unwrap();
    assert_eq!(
        store.secrets(task.id).await.unwrap(),
        None,
        "erased on fail"
    );

    store
        .start_task(task.id, &secrets("second"), true, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.secrets(task.id).await.unwrap(),
        Some(secrets("second"))
    );
    store
        .transition(task.id, TaskEvent::Claim, NOW)
        .await
        .unwrap();
    assert!(
        store.secrets(task.id).await.unwrap().is_some(),
        "kept while running"
    );
    apply(&store, task.id, TaskEvent::Succeed).await.unwrap();
    assert_eq!(
        store.secrets(task.id).await.unwrap(),
        None,
        "erased on success"
    );

    let stopping = task_in(&store, TaskStatus::Pausing).await;
    assert!(store.secrets(stopping).await.unwrap().is_some());
    store
        .transition(stopping, TaskEvent::Stopped, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.secrets(stopping).await.unwrap(),
        None,
        "erased on stopped"
    );

    let waiting = create(&store, "w", NOW).await.id;
    store
        .transition(waiting, TaskEvent::Stop, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.secrets(waiting).await.unwrap(),
        None,
        "erased on pause"
    );

    let err = store.secrets(TaskId(5)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

pub async fn test_start_task_resets_the_run(store: Arc<dyn TaskStore>) {
    let id = task_in(&store, TaskStatus::Migrating).await;
    let batch = OutcomeBatch {
        fence: None,
        listed_num: 3,
        listed_size: 30,
        outcomes: vec![
            succeeded("a", 10),
            failed("b", 10, "boom"),
            skipped("c", 10),
        ],
        checkpoint: Some("c".into()),
        is_query_over: true,
        migrate_speed: 1000,
        left_time_ms: 5,
    };
    store.record_batch(id, &batch).await.unwrap();
    let fatal = RunEnding::Fatal(FailureReason::new(
        FailureCode::DestinationError,
        "destination failed",
    ));
    let before = store
        .finish_run(id, None, &fatal, 10, NOW + 10)
        .await
        .unwrap();
    assert_eq!(before.status, TaskStatus::Failed);
    assert_eq!(
        before.error_reason.as_ref().map(|r| r.code),
        Some(FailureCode::DestinationError)
    );

    let task = store
        .start_task(id, &secrets("again"), true, NOW + 20)
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::Retrying);
    assert!(task.failed_only);
    assert_eq!((task.listed_num, task.listed_size), (0, 0));
    assert!(!task.is_query_over);
    assert_eq!(task.checkpoint, None);
    assert_eq!(task.error_reason, None);
    assert_eq!((task.migrate_speed, task.left_time_ms), (0, 0));
    assert_eq!(task.start_time_ms, Some(NOW + 20));
    assert_eq!(task.counters, before.counters, "the ledger carries over");

    let paused = task_in(&store, TaskStatus::Paused).await;
    let task = store
        .start_task(paused, &secrets("p"), false, NOW)
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::Waiting);
    assert!(!task.failed_only);
}

pub async fn test_delete_refused_while_busy(store: Arc<dyn TaskStore>) {
    let id = task_in(&store, TaskStatus::Migrating).await;
    let batch = OutcomeBatch {
        outcomes: vec![succeeded("k", 1)],
        ..OutcomeBatch::default()
    };
    store.record_batch(id, &batch).await.unwrap();
    let err = store.delete_task(id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    store.transition(id, TaskEvent::Stop, NOW).await.unwrap();
    let err = store.delete_task(id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "pausing is busy too");
    assert!(store.get_task(id).await.unwrap().is_some());

    store.transition(id, TaskEvent::Stopped, NOW).await.unwrap();
    store.delete_task(id).await.unwrap();
    assert_eq!(store.get_task(id).await.unwrap(), None);
    assert_eq!(store.ledger_entry(id, "k").await.unwrap(), None);
    assert_eq!(
        store.secrets(id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.delete_task(id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let waiting = create(&store, "w", NOW).await.id;
    store.delete_task(waiting).await.unwrap();
    assert_eq!(store.get_task(waiting).await.unwrap(), None);
}

pub async fn test_updates_and_unknown_ids(store: Arc<dyn TaskStore>) {
    let id = create(&store, "u", NOW).await.id;
    let policy = BandwidthPolicy::new(vec![
        BandwidthWindow::parse(0, "01:00", "02:00", 1_048_576).unwrap(),
        BandwidthWindow::parse(1, "03:00", "04:00", 2_097_152).unwrap(),
    ])
    .unwrap();
    let task = store.update_bandwidth_policy(id, &policy).await.unwrap();
    assert_eq!(task.spec.bandwidth_policy, policy);
    let changed = store
        .batch_update_tasks(
            PROJECT,
            &BatchTarget::Tasks(vec![id]),
            &policy,
            Some(TaskPriority::Low),
        )
        .await
        .unwrap();
    assert_eq!(changed, vec![id]);
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.spec.task_priority, TaskPriority::Low);

    let unknown = TaskId(99);
    let not_found = |result: tern_core::Result<()>| {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound);
    };
    not_found(
        store
            .update_bandwidth_policy(unknown, &policy)
            .await
            .map(drop),
    );
    not_found(store.record_batch(unknown, &OutcomeBatch::default()).await);
    not_found(
        store
            .finish_run(unknown, None, &RunEnding::Stopped, 1, NOW)
            .await
            .map(drop),
    );
    // One unknown id refuses the whole batch: the known task keeps its priority.
    not_found(
        store
            .batch_update_tasks(
                PROJECT,
                &BatchTarget::Tasks(vec![id, unknown]),
                &BandwidthPolicy::default(),
                Some(TaskPriority::High),
            )
            .await
            .map(drop),
    );
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.spec.task_priority, TaskPriority::Low);
    assert_eq!(task.spec.bandwidth_policy, policy);
    // A group target must be a group of the project.
    let group = create_group(&store, "batch", NOW).await;
    for project in [PROJECT, "project-b"] {
        let result = store
            .batch_update_tasks(
                project,
                &BatchTarget::Group(if project == PROJECT {
                    "no-such".into()
                } else {
                    group.0.clone()
                }),
                &policy,
                None,
            )
            .await;
        assert!(
            matches!(result, Err(tern_core::Error::GroupNotFound(_))),
            "{project}: {result:?}"
        );
    }
    let empty = store
        .batch_update_tasks(PROJECT, &BatchTarget::Group(group.0.clone()), &policy, None)
        .await
        .unwrap();
    assert!(empty.is_empty(), "a group without tasks changes no task");
}

pub async fn test_finish_run_writes_status_reason_record_and_time_together(
    store: Arc<dyn TaskStore>,
) {
    // Completed with failures: failed, with the reason and the failed-object record.
    let id = task_in(&store, TaskStatus::Migrating).await;
    let batch = OutcomeBatch {
        outcomes: vec![succeeded("a", 1), failed("b", 2, "boom")],
        ..OutcomeBatch::default()
    };
    store.record_batch(id, &batch).await.unwrap();
    let record = FailedObjectRecord {
        result: true,
        list_file_key: "oms/failed_object_lists/x/failed-objects-list.txt".into(),
        error_code: String::new(),
    };
    let completed = RunEnding::Completed {
        failed_object_record: Some(record.clone()),
    };
    let task = store
        .finish_run(id, None, &completed, 1500, NOW)
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    let reason = task.error_reason.clone().unwrap();
    assert_eq!(reason.code, FailureCode::ObjectsFailed);
    assert!(reason.message.starts_with("1 objects failed"), "{reason}");
    assert_eq!(task.failed_object_record, Some(record));
    assert_eq!(task.total_time_ms, 1500);
    assert_eq!(store.secrets(id).await.unwrap(), None);
    assert_eq!(store.get_task(id).await.unwrap(), Some(task.clone()));
    // A second end is refused and changes nothing (not the time either).
    let err = store
        .finish_run(id, None, &completed, 99, NOW)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(store.get_task(id).await.unwrap(), Some(task));

    // A stop that came in while the run wrote its lists: the run's end still wins.
    let pausing = task_in(&store, TaskStatus::Pausing).await;
    let completed = RunEnding::Completed {
        failed_object_record: None,
    };
    let task = store
        .finish_run(pausing, None, &completed, 5, NOW)
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::Succeeded);
    assert_eq!(task.error_reason, None);

    // The user's stop winds down to paused; a stopped end of a migrating task is refused.
    let stopped = task_in(&store, TaskStatus::Pausing).await;
    let task = store
        .finish_run(stopped, None, &RunEnding::Stopped, 5, NOW)
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::Paused);
    let migrating = task_in(&store, TaskStatus::Migrating).await;
    let err = store
        .finish_run(migrating, None, &RunEnding::Stopped, 5, NOW)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(
        store
            .get_task(migrating)
            .await
            .unwrap()
            .unwrap()
            .total_time_ms,
        0,
        "a refused end adds no time"
    );
}

pub async fn test_start_is_decided_by_core(store: Arc<dyn TaskStore>) {
    // Only a failed task re-migrates its failed objects.
    let paused = task_in(&store, TaskStatus::Paused).await;
    let err = store
        .start_task(paused, &secrets("p"), true, NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            tern_core::Error::TaskRefused {
                event: TaskEvent::Retry,
                ..
            }
        ),
        "{err:?}"
    );
    // A source created with credentials needs them again.
    let failed = task_in(&store, TaskStatus::Failed).await;
    let mut without_source = secrets("x");
    without_source.src = tern_core::Credentials::default();
    let err = store
        .start_task(failed, &without_source, false, NOW)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let task = store.get_task(failed).await.unwrap().unwrap();
    assert_eq!(
        task.status,
        TaskStatus::Failed,
        "a refused start changes nothing"
    );
    let mut anonymous = spec("anon");
    anonymous.src.signed = false;
    let anon = store
        .create_task(PROJECT, &anonymous, &without_source, NOW)
        .await
        .unwrap();
    store
        .transition(anon.id, TaskEvent::Stop, NOW)
        .await
        .unwrap();
    let task = store
        .start_task(anon.id, &without_source, false, NOW)
        .await
        .unwrap();
    assert_eq!(task.status, TaskStatus::Waiting);
}

pub async fn test_check_only_events_follow_apply(store: Arc<dyn TaskStore>) {
    let policy = BandwidthPolicy::default();
    for from in (1..=7).filter_map(TaskStatus::from_code) {
        let id = task_in(&store, from).await;
        let updated = store.update_bandwidth_policy(id, &policy).await;
        assert_eq!(
            updated.is_ok(),
            from.apply(TaskEvent::UpdateBandwidth).is_ok(),
            "{from:?}"
        );
        let changed = store
            .batch_update_tasks(
                PROJECT,
                &BatchTarget::Tasks(vec![id]),
                &policy,
                Some(TaskPriority::High),
            )
            .await
            .unwrap();
        assert_eq!(
            changed.contains(&id),
            from.apply(TaskEvent::UpdateBandwidth).is_ok()
        );
        let priority = store
            .get_task(id)
            .await
            .unwrap()
            .unwrap()
            .spec
            .task_priority;
        let expected = if from.apply(TaskEvent::UpdatePriority).is_ok() {
            TaskPriority::High
        } else {
            TaskPriority::Medium
        };
        assert_eq!(priority, expected, "{from:?}");
        let deleted = store.delete_task(id).await;
        assert_eq!(
            deleted.is_ok(),
            from.apply(TaskEvent::Delete).is_ok(),
            "{from:?}"
        );
        if let Err(err) = deleted {
            assert!(
                matches!(
                    err,
                    tern_core::Error::TaskRefused {
                        event: TaskEvent::Delete,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(store.get_task(id).await.unwrap().is_some());
        }
    }
    // Another project's task reads like a missing one in a batch.
    let other = store
        .create_task("project-b", &spec("b"), &secrets("b"), NOW)
        .await
        .unwrap();
    let err = store
        .batch_update_tasks(PROJECT, &BatchTarget::Tasks(vec![other.id]), &policy, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

pub async fn test_tokens_and_credentials_round_trip(store: Arc<dyn TaskStore>) {
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(store.project_for_token(hash).await.unwrap(), None);
    store.put_token(PROJECT, hash).await.unwrap();
    store
        .put_token("project-b", &hash.replace('9', "8"))
        .await
        .unwrap();
    assert_eq!(
        store.project_for_token(hash).await.unwrap().as_deref(),
        Some(PROJECT)
    );

    assert_eq!(store.credential("AKID").await.unwrap(), None);
    store
        .put_credential(PROJECT, "AKID", &Secret::new("sk-one"))
        .await
        .unwrap();
    let (project, secret) = store.credential("AKID").await.unwrap().unwrap();
    assert_eq!((project.as_str(), secret.expose()), (PROJECT, "sk-one"));
    store
        .put_credential(PROJECT, "AKID", &Secret::new("sk-two"))
        .await
        .unwrap();
    let (_, secret) = store.credential("AKID").await.unwrap().unwrap();
    assert_eq!(secret.expose(), "sk-two", "a new SK replaces the old");
}

pub async fn test_privacy_agreement_records_the_latest_acceptance(store: Arc<dyn TaskStore>) {
    assert_eq!(store.privacy_agreement(PROJECT).await.unwrap(), None);
    store
        .record_privacy_agreement(PROJECT, 1_000)
        .await
        .unwrap();
    store
        .record_privacy_agreement(PROJECT, 2_000)
        .await
        .unwrap();
    store
        .record_privacy_agreement("project-b", 500)
        .await
        .unwrap();
    assert_eq!(store.privacy_agreement(PROJECT).await.unwrap(), Some(2_000));
    assert_eq!(
        store.privacy_agreement("project-b").await.unwrap(),
        Some(500)
    );
    assert_eq!(store.privacy_agreement("project-c").await.unwrap(), None);
}
