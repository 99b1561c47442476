//! Contract: the tasks of a group: creating them with the split progress, summing them up,
//! deleting them with their group.

use std::sync::Arc;

use tern_core::{
    Counters, ErrorKind, GroupEvent, GroupId, GroupStatus, GroupTotals, GroupType, KeyRange,
    OutcomeBatch, SplitProgress, Task, TaskFilter, TaskStatus, TaskStore,
};

use super::helpers::*;

/// The split progress after the `n`th task of a walk over one prefix.
fn split_after(n: u64) -> SplitProgress {
    SplitProgress {
        fence: None,
        source_index: 0,
        last_key: Some(format!("k/{n:04}")),
        lines_done: 0,
        done: false,
        task_num: n,
        assigned_num: 100 * n,
        assigned_size: 1000 * n,
    }
}

/// Creates the next task of a Creating group, with a key range ending at its split key.
async fn next_task(store: &Arc<dyn TaskStore>, group: &GroupId, n: u64) -> Task {
    let mut slice = spec("sliced");
    slice.src.key_range = Some(KeyRange {
        start_after: (n > 1).then(|| format!("k/{:04}", n - 1)),
        end: Some(format!("k/{n:04}")),
    });
    store
        .create_group_task(group, &slice, &secrets("t"), &split_after(n), NOW + 50)
        .await
        .unwrap()
}

fn in_group(group: &GroupId) -> TaskFilter {
    TaskFilter {
        group_id: Some(group.0.clone()),
        ..TaskFilter::default()
    }
}

pub async fn test_create_group_task_only_while_creating(store: Arc<dyn TaskStore>) {
    let group = store
        .create_group("project-g", &group_spec("big"), &secrets("g"), NOW)
        .await
        .unwrap()
        .id;
    store
        .group_transition(&group, GroupEvent::BeginCreating, NOW)
        .await
        .unwrap();
    let first = next_task(&store, &group, 1).await;
    assert_eq!(first.status, TaskStatus::Waiting);
    assert_eq!(first.project_id, "project-g", "the group's project");
    assert_eq!(first.spec.group_id.as_deref(), Some(group.0.as_str()));
    assert_eq!(first.spec.group_type, GroupType::GroupTask, "forced");
    let range = first.spec.src.key_range.clone().unwrap();
    assert_eq!(
        (range.start_after, range.end.as_deref()),
        (None, Some("k/0001"))
    );
    assert_eq!(store.get_task(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.secrets(first.id).await.unwrap(), Some(secrets("t")));
    let stored = store.get_group(&group).await.unwrap().unwrap();
    assert_eq!(stored.split, split_after(1), "saved with the task");

    let second = next_task(&store, &group, 2).await;
    let stored = store.get_group(&group).await.unwrap().unwrap();
    assert_eq!(stored.split, split_after(2));
    let outsider = store
        .create_task("project-g", &spec("outside"), &secrets("m"), NOW)
        .await
        .unwrap();

    let (tasks, total) = store
        .list_tasks("project-g", &in_group(&group), 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        [second.id, first.id]
    );
    for task in &tasks {
        assert_eq!(task.spec.group_type, GroupType::GroupTask);
        assert_eq!(task.spec.group_id.as_deref(), Some(group.0.as_str()));
    }
    let (all, _) = store
        .list_tasks("project-g", &TaskFilter::default(), 0, 10)
        .await
        .unwrap();
    let outsider = all.iter().find(|t| t.id == outsider.id).unwrap();
    assert_eq!(outsider.spec.group_type, GroupType::NormalTask);

    // Stopped: the splitter's next task is refused, and nothing of it is kept.
    store
        .group_transition(&group, GroupEvent::Stop, NOW)
        .await
        .unwrap();
    let mut slice = spec("sliced");
    slice.group_id = Some(group.0.clone());
    let err = store
        .create_group_task(&group, &slice, &secrets("t"), &split_after(3), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    let (_, total) = store
        .list_tasks("project-g", &in_group(&group), 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 2, "no task added");
    let stored = store.get_group(&group).await.unwrap().unwrap();
    assert_eq!(stored.split, split_after(2), "no progress saved");

    for status in all_group_statuses().filter(|s| *s != GroupStatus::Creating) {
        let other = group_in(&store, status).await;
        let err = store
            .create_group_task(&other, &spec("x"), &secrets("t"), &split_after(1), NOW)
            .await
            .unwrap_err();
        assert!(
            matches!(err, tern_core::Error::GroupRefused { .. }),
            "{status:?}: {err:?}"
        );
        let (_, total) = store
            .list_tasks(PROJECT, &in_group(&other), 0, 10)
            .await
            .unwrap();
        assert_eq!(total, 0, "{status:?}");
        let split = store.get_group(&other).await.unwrap().unwrap().split;
        assert_eq!(split, SplitProgress::default(), "{status:?}");
    }
    let unknown = GroupId("no-such-group".into());
    let err = store
        .create_group_task(&unknown, &spec("x"), &secrets("t"), &split_after(1), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

pub async fn test_group_totals_sum_the_tasks(store: Arc<dyn TaskStore>) {
    let group = group_in(&store, GroupStatus::Creating).await;
    let empty = store.group_totals(&group).await.unwrap();
    assert_eq!(empty, GroupTotals::default());

    let statuses = [
        TaskStatus::Waiting,
        TaskStatus::Migrating,
        TaskStatus::Paused,
        TaskStatus::Failed,
        TaskStatus::Succeeded,
        TaskStatus::Retrying,
        TaskStatus::Pausing,
        TaskStatus::Succeeded,
    ];
    let mut ids = Vec::new();
    for (n, status) in (1..).zip(statuses) {
        let id = next_task(&store, &group, n).await.id;
        drive(&store, id, status).await;
        let key = |name: &str| format!("k/{n:04}/{name}");
        let outcomes = match n % 3 {
            0 => vec![succeeded(&key("a"), n), skipped(&key("b"), 2 * n)],
            1 => vec![failed(&key("a"), n, "boom"), succeeded(&key("b"), 3)],
            _ => vec![skipped(&key("a"), 5), failed(&key("b"), n, "x")],
        };
        let batch = OutcomeBatch {
            outcomes,
            migrate_speed: i64::try_from(n).unwrap() * 1000,
            ..OutcomeBatch::default()
        };
        store.record_batch(id, &batch).await.unwrap();
        ids.push(id);
    }
    // Neither a normal task nor another group's task counts.
    let outsider = task_in(&store, TaskStatus::Migrating).await;
    let other_group = group_in(&store, GroupStatus::Creating).await;
    let foreign = next_task(&store, &other_group, 1).await.id;
    for id in [outsider, foreign] {
        let batch = OutcomeBatch {
            outcomes: vec![succeeded("elsewhere", 99)],
            migrate_speed: 7,
            ..OutcomeBatch::default()
        };
        store.record_batch(id, &batch).await.unwrap();
    }

    let mut counters = Counters::default();
    let (mut speed, mut time) = (0, 0);
    for &id in &ids {
        let task = store.get_task(id).await.unwrap().unwrap();
        assert_eq!(task.counters, ledger_aggregate(&store, id).await);
        for (sum, part) in [
            (&mut counters.total_num, task.counters.total_num),
            (&mut counters.successful_num, task.counters.successful_num),
            (&mut counters.skipped_num, task.counters.skipped_num),
            (&mut counters.failed_num, task.counters.failed_num),
            (&mut counters.total_size, task.counters.total_size),
            (&mut counters.successful_size, task.counters.successful_size),
            (&mut counters.skipped_size, task.counters.skipped_size),
            (&mut counters.failed_size, task.counters.failed_size),
        ] {
            *sum += part;
        }
        speed += task.migrate_speed;
        time += task.total_time_ms;
    }
    let totals = store.group_totals(&group).await.unwrap();
    assert_eq!(
        totals,
        GroupTotals {
            task_num: 8,
            failed_task_num: 1,
            complete_task_num: 2,
            paused_task_num: 1,
            executing_task_num: 2,
            waiting_task_num: 2,
            counters,
            migrate_speed: speed,
            total_time_ms: time,
        }
    );
    assert_eq!(counters.total_num, 16, "two outcomes per task");
    assert!(!totals.all_settled());
}

pub async fn test_delete_group_refused_while_a_task_is_busy(store: Arc<dyn TaskStore>) {
    use GroupEvent as E;
    let group = group_in(&store, GroupStatus::Creating).await;
    let busy = next_task(&store, &group, 1).await.id;
    let idle = next_task(&store, &group, 2).await.id;
    store
        .transition(busy, tern_core::TaskEvent::Claim, NOW)
        .await
        .unwrap();
    let batch = OutcomeBatch {
        outcomes: vec![succeeded("k/0001/a", 1)],
        ..OutcomeBatch::default()
    };
    store.record_batch(busy, &batch).await.unwrap();
    let outsider = create(&store, "outside", NOW).await.id;
    let other_group = group_in(&store, GroupStatus::Creating).await;
    let foreign = next_task(&store, &other_group, 1).await.id;

    store.group_transition(&group, E::Stop, NOW).await.unwrap();
    let err = store.delete_group(&group).await.unwrap_err();
    assert!(
        matches!(
            err,
            tern_core::Error::GroupRefused {
                event: E::Delete,
                ..
            }
        ),
        "a pausing group is busy: {err:?}"
    );
    // The group alone settled (as after a crash of the node running `busy`): its task still
    // migrates, so the delete is refused and the group keeps its status, not 8 or 9.
    store
        .group_transition(&group, E::Stopped, NOW)
        .await
        .unwrap();
    let err = store.delete_group(&group).await.unwrap_err();
    assert_eq!(
        err,
        tern_core::Error::GroupTasksBusy { busy: 1 },
        "a task is migrating"
    );
    store
        .transition(busy, tern_core::TaskEvent::Stop, NOW)
        .await
        .unwrap();
    let err = store.delete_group(&group).await.unwrap_err();
    assert_eq!(
        err,
        tern_core::Error::GroupTasksBusy { busy: 1 },
        "pausing is busy too"
    );
    let kept = store.get_group(&group).await.unwrap().unwrap();
    assert_eq!(
        kept.status,
        GroupStatus::Paused,
        "a refused delete changes nothing"
    );
    assert!(store.get_task(busy).await.unwrap().is_some());
    assert!(store.group_secrets(&group).await.unwrap().is_some());

    store
        .transition(busy, tern_core::TaskEvent::Stopped, NOW)
        .await
        .unwrap();
    store.delete_group(&group).await.unwrap();
    assert_eq!(store.get_group(&group).await.unwrap(), None);
    for id in [busy, idle] {
        assert_eq!(store.get_task(id).await.unwrap(), None);
        let err = store.secrets(id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
    assert_eq!(store.ledger_entry(busy, "k/0001/a").await.unwrap(), None);
    let (_, total) = store
        .list_tasks(PROJECT, &in_group(&group), 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 0);
    for gone in [
        store.group_secrets(&group).await.err(),
        store.group_totals(&group).await.err(),
        store.delete_group(&group).await.err(),
    ] {
        assert_eq!(gone.map(|err| err.kind()), Some(ErrorKind::NotFound));
    }

    assert!(
        store.get_task(outsider).await.unwrap().is_some(),
        "normal task kept"
    );
    assert!(
        store.get_task(foreign).await.unwrap().is_some(),
        "other group kept"
    );
    assert!(store.secrets(foreign).await.unwrap().is_some());
    assert!(store.group_secrets(&other_group).await.unwrap().is_some());
    assert_eq!(store.group_totals(&other_group).await.unwrap().task_num, 1);
}
