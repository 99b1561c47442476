//! Contract: creating, listing and moving tasks through their statuses.

use std::collections::HashSet;
use std::sync::Arc;

use tern_core::{
    BandwidthPolicy, BandwidthWindow, BatchTarget, CloudType, ConsistencyCheck, ErrorKind,
    GroupType, KeyRange, ListFileSpec, OverwriteMode, TaskEvent, TaskFilter, TaskId, TaskPriority,
    TaskStatus, TaskStore, TaskType,
};

use super::helpers::*;

/// Every event that moves a status; `apply` (helpers) sends each through the operation a
/// caller uses for it (`transition`, `finish_run`, `start_task`).
const EVENTS: [TaskEvent; 7] = [
    TaskEvent::Claim,
    TaskEvent::Stop,
    TaskEvent::Stopped,
    TaskEvent::Succeed,
    TaskEvent::Fail,
    TaskEvent::Start,
    TaskEvent::Retry,
];

pub async fn test_create_get_and_list(store: Arc<dyn TaskStore>) {
    let first = create(&store, "alpha", NOW).await;
    let mut grouped = spec("beta");
    grouped.group_id = Some("group-1".into());
    let second = store
        .create_task(PROJECT, &grouped, &secrets("m"), NOW + 1)
        .await
        .unwrap();
    let third = create(&store, "gamma", NOW + 1).await;
    let other = store
        .create_task("project-b", &spec("alpha"), &secrets("m"), NOW + 2)
        .await
        .unwrap();

    let ids: HashSet<i64> = [&first, &second, &third, &other]
        .iter()
        .map(|t| t.id.0)
        .collect();
    assert_eq!(ids.len(), 4, "ids are unique");
    for id in &ids {
        assert!(
            (1..999_999_999_999_999).contains(id),
            "id {id} in OMS range"
        );
    }
    assert_eq!(first.status, TaskStatus::Waiting);
    assert_eq!(first.project_id, PROJECT);
    assert_eq!(first.spec, spec("alpha"));
    assert_eq!(first.created_at_ms, NOW);
    assert!(!first.name.is_empty());
    assert_eq!(first.counters, Default::default());
    assert_eq!(first.start_time_ms, None);
    assert_eq!(store.get_task(first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_task(TaskId(42)).await.unwrap(), None);

    let all = TaskFilter::default();
    let (page, total) = store.list_tasks(PROJECT, &all, 0, 10).await.unwrap();
    assert_eq!(total, 3);
    let order: Vec<TaskId> = page.iter().map(|t| t.id).collect();
    assert_eq!(order, vec![third.id, second.id, first.id], "newest first");
    let (page, total) = store.list_tasks(PROJECT, &all, 1, 1).await.unwrap();
    assert_eq!((page.len(), total), (1, 3));
    assert_eq!(page[0].id, second.id);
    let (page, total) = store.list_tasks(PROJECT, &all, 5, 10).await.unwrap();
    assert_eq!((page.len(), total), (0, 3));

    let by_group = TaskFilter {
        group_id: Some("group-1".into()),
        ..TaskFilter::default()
    };
    let (page, total) = store.list_tasks(PROJECT, &by_group, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].spec.group_id.as_deref(), Some("group-1"));

    let by_name = TaskFilter {
        // A strict substring: the name without its first and last characters.
        name: Some(third.name[1..third.name.len() - 1].to_owned()),
        ..TaskFilter::default()
    };
    let (page, _) = store.list_tasks(PROJECT, &by_name, 0, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![third.id]
    );

    store
        .transition(first.id, TaskEvent::Claim, NOW)
        .await
        .unwrap();
    let by_status = TaskFilter {
        status: Some(TaskStatus::Migrating),
        ..TaskFilter::default()
    };
    let (page, total) = store.list_tasks(PROJECT, &by_status, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].id, first.id);

    let (page, total) = store.list_tasks("project-b", &all, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].id, other.id);
    let (page, total) = store.list_tasks("nobody", &all, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (0, 0));
}

pub async fn test_spec_round_trips_every_field(store: Arc<dyn TaskStore>) {
    let window = BandwidthWindow::parse(0, "22:00", "02:00", 2 * 1_048_576).unwrap();
    let mut full = spec("every-field");
    full.task_type = TaskType::List;
    full.src.cloud_type = CloudType::Tencent;
    full.src.app_id = Some("1250000000".into());
    full.src.object_keys = vec!["a/".into(), "b é/".into()];
    full.src.list_file = Some(ListFileSpec {
        bucket: "lists".into(),
        key: "list.txt".into(),
    });
    full.src.key_range = Some(KeyRange {
        start_after: Some("a/".into()),
        end: Some("b é/z".into()),
    });
    full.dst.save_prefix = "moved/".into();
    full.description = "a description".into();
    full.migrate_since_s = Some(1_600_000_000);
    full.bandwidth_policy = BandwidthPolicy::new(vec![window]).unwrap();
    full.enable_metadata_migration = true;
    full.enable_restore = true;
    full.enable_failed_object_recording = false;
    full.object_overwrite_mode = OverwriteMode::Crc64;
    full.consistency_check = ConsistencyCheck::NoCheck;
    full.dst_storage_policy = "COLD".into();
    full.enable_requester_pays = true;
    full.task_priority = TaskPriority::High;
    full.echo_json = r#"{"smn_config":{"topic_urn":"urn"}}"#.into();
    full.group_id = Some("g".into());
    full.group_type = GroupType::GroupTask;
    let task = store
        .create_task(PROJECT, &full, &secrets("m"), NOW)
        .await
        .unwrap();
    assert_eq!(task.spec, full);
    assert_eq!(store.get_task(task.id).await.unwrap().unwrap().spec, full);
}

pub async fn test_every_event_from_every_status_follows_apply(store: Arc<dyn TaskStore>) {
    let statuses = (1..=7).filter_map(TaskStatus::from_code);
    for from in statuses {
        for event in EVENTS {
            let id = task_in(&store, from).await;
            let result = apply(&store, id, event).await;
            let after = store.get_task(id).await.unwrap().unwrap();
            match from.apply(event) {
                Ok(next) => {
                    let task = result.unwrap_or_else(|err| panic!("{from:?} + {event:?}: {err}"));
                    assert_eq!(task.status, next, "{from:?} + {event:?}");
                    assert_eq!(after, task, "returned task is the stored one");
                }
                Err(_) => {
                    let err = result.expect_err("illegal event must fail");
                    assert_eq!(err.kind(), ErrorKind::InvalidState, "{from:?} + {event:?}");
                    assert_eq!(after.status, from, "an illegal event changes nothing");
                }
            }
        }
    }
    let unknown = TaskId(7);
    for event in EVENTS {
        let err = apply(&store, unknown, event).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

pub async fn test_claim_order_and_start_time(store: Arc<dyn TaskStore>) {
    assert_eq!(
        store
            .claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW)
            .await
            .unwrap()
            .map(|claimed| claimed.task),
        None
    );
    let mut low = spec("low");
    low.task_priority = TaskPriority::Low;
    let low = store
        .create_task(PROJECT, &low, &secrets("m"), NOW)
        .await
        .unwrap();
    let medium_new = create(&store, "medium-new", NOW + 2).await;
    let medium_old = create(&store, "medium-old", NOW + 1).await;
    let mut high = spec("high");
    high.task_priority = TaskPriority::High;
    let high = store
        .create_task(PROJECT, &high, &secrets("m"), NOW + 3)
        .await
        .unwrap();
    let retrying = task_in(&store, TaskStatus::Retrying).await;
    store
        .batch_update_tasks(
            PROJECT,
            &BatchTarget::Tasks(vec![retrying]),
            &BandwidthPolicy::default(),
            Some(TaskPriority::Low),
        )
        .await
        .unwrap();
    let _paused = task_in(&store, TaskStatus::Paused).await;

    let mut order = Vec::new();
    while let Some(task) = store
        .claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW + 100)
        .await
        .unwrap()
        .map(|claimed| claimed.task)
    {
        assert_eq!(task.status, TaskStatus::Migrating);
        order.push(task.id);
    }
    assert_eq!(
        order,
        vec![high.id, medium_old.id, medium_new.id, low.id, retrying]
    );
    let claimed = store.get_task(high.id).await.unwrap().unwrap();
    assert_eq!(
        claimed.start_time_ms,
        Some(NOW + 100),
        "claim stamps start time"
    );
    let again = store
        .transition(high.id, TaskEvent::Claim, NOW + 999)
        .await
        .unwrap();
    assert_eq!(again.status, TaskStatus::Migrating, "a restart re-claims");
    assert_eq!(
        again.start_time_ms,
        Some(NOW + 100),
        "start time kept when set"
    );
    let in_status = store
        .tasks_in_status(&[TaskStatus::Migrating])
        .await
        .unwrap();
    assert_eq!(in_status.len(), 5);
    let both = store
        .tasks_in_status(&[TaskStatus::Migrating, TaskStatus::Paused])
        .await
        .unwrap();
    assert_eq!(both.len(), 6);
    assert!(store.tasks_in_status(&[]).await.unwrap().is_empty());
}

pub async fn test_concurrent_claims_take_each_task_once(store: Arc<dyn TaskStore>) {
    let mut created = HashSet::new();
    for index in 0..8 {
        created.insert(
            create(&store, &format!("race-{index}"), NOW + index)
                .await
                .id,
        );
    }
    let racers: Vec<_> = (0..12)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW + 50)
                    .await
                    .unwrap()
                    .map(|claimed| claimed.task)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    let mut empty = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Some(task) => claimed.push(task.id),
            None => empty += 1,
        }
    }
    assert_eq!(claimed.len(), 8, "every task claimed");
    assert_eq!(empty, 4, "surplus racers find nothing");
    assert_eq!(
        claimed.iter().copied().collect::<HashSet<_>>(),
        created,
        "each once"
    );
}

pub async fn test_concurrent_stops_let_one_win(store: Arc<dyn TaskStore>) {
    let id = task_in(&store, TaskStatus::Migrating).await;
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.transition(id, TaskEvent::Stop, NOW).await })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(task) => {
                assert_eq!(task.status, TaskStatus::Pausing);
                wins += 1;
            }
            Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidState),
        }
    }
    assert_eq!(wins, 1);
}
