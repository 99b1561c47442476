//! Contract: secrets, restarts, deletion, field updates, tokens and credentials.

use std::sync::Arc;

use tern_core::{
    BandwidthPolicy, BandwidthWindow, ErrorKind, FailedObjectRecord, OutcomeBatch, Secret,
    TaskEvent, TaskId, TaskPriority, TaskStatus, TaskStore,
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
    store
        .transition(task.id, TaskEvent::Fail, NOW)
        .await
        .unwrap();
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
    store
        .transition(task.id, TaskEvent::Succeed, NOW)
        .await
        .unwrap();
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
    store
        .set_error_reason(id, Some(("TRF.0061".into(), "destination failed".into())))
        .await
        .unwrap();
    store
        .transition(id, TaskEvent::Fail, NOW + 10)
        .await
        .unwrap();
    let before = store.get_task(id).await.unwrap().unwrap();

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
    store.update_bandwidth_policy(id, &policy).await.unwrap();
    store.update_priority(id, TaskPriority::Low).await.unwrap();
    let reason = ("TRF.0001".to_owned(), "internal".to_owned());
    store
        .set_error_reason(id, Some(reason.clone()))
        .await
        .unwrap();
    let record = FailedObjectRecord {
        result: true,
        list_file_key: "failed/list.txt".into(),
        error_code: String::new(),
    };
    store.set_failed_object_record(id, &record).await.unwrap();
    store.add_total_time(id, 1500).await.unwrap();
    store.add_total_time(id, 500).await.unwrap();
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.spec.bandwidth_policy, policy);
    assert_eq!(task.spec.task_priority, TaskPriority::Low);
    assert_eq!(task.error_reason, Some(reason));
    assert_eq!(task.failed_object_record, Some(record));
    assert_eq!(task.total_time_ms, 2000);
    store.set_error_reason(id, None).await.unwrap();
    assert_eq!(
        store.get_task(id).await.unwrap().unwrap().error_reason,
        None
    );

    let unknown = TaskId(99);
    let not_found = |result: tern_core::Result<()>| {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound);
    };
    not_found(store.update_bandwidth_policy(unknown, &policy).await);
    not_found(store.update_priority(unknown, TaskPriority::High).await);
    not_found(store.set_error_reason(unknown, None).await);
    not_found(
        store
            .set_failed_object_record(unknown, &FailedObjectRecord::default())
            .await,
    );
    not_found(store.add_total_time(unknown, 1).await);
    not_found(store.record_batch(unknown, &OutcomeBatch::default()).await);
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
