//! Contract: a group's user operations and settling move the group and its tasks in one
//! transaction, as core decides.

use std::sync::Arc;

use tern_core::{
    BandwidthPolicy, BandwidthWindow, Error, ErrorKind, FailureCode, FailureReason, GroupEvent,
    GroupId, GroupStatus, KeyRange, OutcomeBatch, SplitProgress, Task, TaskEvent, TaskId,
    TaskStatus, TaskStore,
};

use super::helpers::*;

/// A Creating group with one task driven to each of `statuses`.
async fn group_with_tasks(
    store: &Arc<dyn TaskStore>,
    statuses: &[TaskStatus],
) -> (GroupId, Vec<TaskId>) {
    let group = group_in(store, GroupStatus::Creating).await;
    let mut ids = Vec::new();
    for (n, &status) in statuses.iter().enumerate() {
        let mut slice = spec("slice");
        slice.src.key_range = Some(KeyRange {
            start_after: None,
            end: Some(format!("k/{n:04}")),
        });
        let split = SplitProgress {
            task_num: n as u64 + 1,
            ..SplitProgress::default()
        };
        let task: Task = store
            .create_group_task(&group, &slice, &secrets("t"), &split, NOW)
            .await
            .unwrap();
        drive(store, task.id, status).await;
        ids.push(task.id);
    }
    (group, ids)
}

async fn status_of(store: &Arc<dyn TaskStore>, id: TaskId) -> TaskStatus {
    store.get_task(id).await.unwrap().unwrap().status
}

pub async fn test_group_operations_move_the_group_and_its_tasks_together(
    store: Arc<dyn TaskStore>,
) {
    use TaskStatus as T;
    let every = [
        T::Waiting,
        T::Migrating,
        T::Paused,
        T::Failed,
        T::Succeeded,
        T::Retrying,
    ];
    // Stop: the group and each task core moves, in one go; the pausing ones are returned.
    let (group, ids) = group_with_tasks(&store, &every).await;
    let change = store.stop_group(&group, NOW).await.unwrap();
    assert_eq!(change.group.status, GroupStatus::Pausing);
    assert_eq!(
        change.tasks,
        vec![ids[1]],
        "only the migrating task winds down"
    );
    for (&id, &before) in ids.iter().zip(&every) {
        let expected = GroupEvent::Stop.task_move(before).unwrap_or(before);
        assert_eq!(status_of(&store, id).await, expected, "{before:?}");
    }
    // A second stop is refused by core and changes nothing.
    let err = store.stop_group(&group, NOW).await.unwrap_err();
    assert!(matches!(
        err,
        Error::GroupRefused {
            event: GroupEvent::Stop,
            ..
        }
    ));

    // Settled to paused, start resumes only the paused tasks, with the new secrets.
    store
        .transition(ids[1], TaskEvent::Stopped, NOW)
        .await
        .unwrap();
    store
        .settle_group(&group, false, NOW)
        .await
        .unwrap()
        .unwrap();
    let change = store
        .start_group(&group, &secrets("again"), NOW)
        .await
        .unwrap();
    assert_eq!(change.group.status, GroupStatus::Creating, "split not done");
    let restarted: Vec<TaskId> = vec![ids[0], ids[1], ids[2], ids[5]];
    assert_eq!(
        change.tasks, restarted,
        "the tasks the stop paused, and the one paused before"
    );
    for &id in &restarted {
        assert_eq!(status_of(&store, id).await, T::Waiting);
        assert_eq!(store.secrets(id).await.unwrap(), Some(secrets("again")));
    }
    assert_eq!(
        status_of(&store, ids[3]).await,
        T::Failed,
        "a failed task stays failed"
    );
    assert_eq!(
        store.group_secrets(&group).await.unwrap(),
        Some(secrets("again"))
    );

    // Retry: only a failed group; only its failed tasks, with the stored secrets by default.
    let err = store
        .retry_group(&group, None, true, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::GroupRefused { .. }), "{err:?}");
    let (failed_group, ids) = group_with_tasks(&store, &[T::Failed, T::Succeeded]).await;
    store
        .group_transition(&failed_group, GroupEvent::CreationDone, NOW)
        .await
        .unwrap();
    let settled = store
        .settle_group(&failed_group, false, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.status, GroupStatus::MigrationFailed);
    let change = store
        .retry_group(&failed_group, None, true, NOW)
        .await
        .unwrap();
    assert_eq!(
        change.group.status,
        GroupStatus::Creating,
        "split not done: it resumes"
    );
    assert_eq!(change.group.error_reason, None, "retry clears the reason");
    assert_eq!(change.tasks, vec![ids[0]]);
    let retried = store.get_task(ids[0]).await.unwrap().unwrap();
    assert_eq!((retried.status, retried.failed_only), (T::Retrying, true));
    assert_eq!(store.secrets(ids[0]).await.unwrap(), Some(secrets("g")));
    assert_eq!(status_of(&store, ids[1]).await, T::Succeeded);

    // Policy: the group and every unfinished task; refused once the group completed.
    let policy = BandwidthPolicy::new(vec![
        BandwidthWindow::parse(0, "01:00", "02:00", 1 << 20).unwrap()
    ])
    .unwrap();
    let change = store
        .update_group_bandwidth_policy(&failed_group, &policy)
        .await
        .unwrap();
    assert_eq!(change.tasks, vec![ids[0]], "not the succeeded task");
    assert_eq!(change.group.spec.bandwidth_policy, policy);
    let completed = group_in(&store, GroupStatus::Completed).await;
    let err = store
        .update_group_bandwidth_policy(&completed, &policy)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::GroupRefused {
            event: GroupEvent::UpdateBandwidth,
            ..
        }
    ));
}

pub async fn test_settle_group_follows_core(store: Arc<dyn TaskStore>) {
    use TaskStatus as T;
    let (group, ids) = group_with_tasks(&store, &[T::Succeeded, T::Migrating]).await;
    store
        .group_transition(&group, GroupEvent::CreationDone, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.settle_group(&group, false, NOW).await.unwrap(),
        None,
        "one still runs"
    );
    let batch = OutcomeBatch {
        outcomes: vec![failed("x", 1, "boom")],
        ..OutcomeBatch::default()
    };
    store.record_batch(ids[1], &batch).await.unwrap();
    apply(&store, ids[1], TaskEvent::Succeed).await.unwrap();
    assert_eq!(
        status_of(&store, ids[1]).await,
        T::Failed,
        "a failed object fails the run"
    );
    let group = store
        .settle_group(&group, false, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.status, GroupStatus::MigrationFailed);
    let reason = group.error_reason.unwrap();
    assert_eq!(reason.code, FailureCode::ObjectsFailed);
    assert!(
        reason.message.starts_with("1 of 2 tasks failed"),
        "{reason}"
    );
    assert!(
        store.group_secrets(&group.id).await.unwrap().is_some(),
        "kept for retry"
    );

    let (done, _) = group_with_tasks(&store, &[T::Succeeded]).await;
    store
        .group_transition(&done, GroupEvent::CreationDone, NOW)
        .await
        .unwrap();
    let group = store
        .settle_group(&done, false, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.status, GroupStatus::Completed);
    assert_eq!(
        store.group_secrets(&done).await.unwrap(),
        None,
        "erased on completion"
    );

    // A pausing group waits for its splitter, then settles to paused.
    let (pausing, _) = group_with_tasks(&store, &[T::Paused]).await;
    store
        .group_transition(&pausing, GroupEvent::Stop, NOW)
        .await
        .unwrap();
    assert_eq!(store.settle_group(&pausing, true, NOW).await.unwrap(), None);
    let group = store
        .settle_group(&pausing, false, NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.status, GroupStatus::Paused);
}

pub async fn test_group_failure_paths_record_the_reason(store: Arc<dyn TaskStore>) {
    let creating = group_in(&store, GroupStatus::Creating).await;
    let reason = FailureReason::new(FailureCode::ListFileUnreadable, "no such key: list.txt");
    let group = store.fail_group_creation(&creating, &reason).await.unwrap();
    assert_eq!(group.status, GroupStatus::CreationFailed);
    assert_eq!(group.error_reason, Some(reason.clone()));
    assert_eq!(store.get_group(&creating).await.unwrap(), Some(group));
    let err = store
        .fail_group_creation(&creating, &reason)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);

    // Finishing the split saves the progress with the move to monitoring.
    let splitting = group_in(&store, GroupStatus::Creating).await;
    let split = SplitProgress {
        done: true,
        task_num: 3,
        assigned_num: 30,
        ..SplitProgress::default()
    };
    let group = store.finish_group_split(&splitting, &split).await.unwrap();
    assert_eq!(
        (group.status, group.split.clone()),
        (GroupStatus::Monitoring, split.clone())
    );
    let paused = group_in(&store, GroupStatus::Paused).await;
    let err = store.finish_group_split(&paused, &split).await.unwrap_err();
    assert!(matches!(err, Error::GroupRefused { .. }));
    let kept = store.get_group(&paused).await.unwrap().unwrap();
    assert_eq!(
        kept.split,
        SplitProgress::default(),
        "a refused finish saves nothing"
    );

    // A completed group keeps no secrets and is not retryable: the refusal comes from core.
    let done = group_in(&store, GroupStatus::Completed).await;
    assert_eq!(store.group_secrets(&done).await.unwrap(), None);
    let err = store
        .retry_group(&done, None, false, NOW)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::GroupRefused { .. }),
        "completed is not retryable"
    );
}
