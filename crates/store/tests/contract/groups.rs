//! Contract: creating, listing and moving task groups through their statuses; their secrets,
//! fields and specs.

use std::collections::HashSet;
use std::sync::Arc;

use tern_core::{
    BandwidthPolicy, BandwidthWindow, CloudType, ConsistencyCheck, ErrorKind, GroupEvent, GroupId,
    GroupStatus, GroupTaskType, KeyRange, ListFileSpec, OverwriteMode, SplitProgress, TaskStore,
};

use super::helpers::*;

/// The events that move a group alone (`group_transition`); start, retry, delete and
/// policy updates have their own operations, tested below.
const GROUP_EVENTS: [GroupEvent; 7] = [
    GroupEvent::BeginCreating,
    GroupEvent::CreationDone,
    GroupEvent::CreationFailed,
    GroupEvent::TasksSucceeded,
    GroupEvent::TasksFailed,
    GroupEvent::Stop,
    GroupEvent::Stopped,
];

pub async fn test_group_create_get_and_list(store: Arc<dyn TaskStore>) {
    let first = store
        .create_group(PROJECT, &group_spec("alpha"), &secrets("g"), NOW)
        .await
        .unwrap();
    let second = create_group(&store, "beta", NOW + 1).await;
    let third = create_group(&store, "gamma", NOW + 2).await;
    let other = store
        .create_group("project-b", &group_spec("alpha"), &secrets("g"), NOW + 3)
        .await
        .unwrap()
        .id;

    let ids: HashSet<&str> = [&first.id, &second, &third, &other]
        .iter()
        .map(|id| id.0.as_str())
        .collect();
    assert_eq!(ids.len(), 4, "ids are unique");
    for id in &ids {
        let bytes = id.as_bytes();
        assert_eq!(bytes.len(), 36, "{id} is a hyphenated UUID");
        assert_eq!(bytes[14], b'4', "{id} is version 4");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
    assert_eq!(first.status, GroupStatus::Waiting);
    assert_eq!(first.project_id, PROJECT);
    assert_eq!(first.spec, group_spec("alpha"));
    assert_eq!(first.split, SplitProgress::default());
    assert_eq!(first.created_at_ms, NOW);
    assert_eq!(
        (first.start_time_ms, first.error_reason.clone()),
        (None, None)
    );
    assert_eq!(
        store.get_group(&first.id).await.unwrap(),
        Some(first.clone())
    );
    let unknown = GroupId("00000000-0000-4000-8000-000000000000".into());
    assert_eq!(store.get_group(&unknown).await.unwrap(), None);

    let (page, total) = store.list_groups(PROJECT, None, 0, 10).await.unwrap();
    assert_eq!(total, 3);
    let order: Vec<&GroupId> = page.iter().map(|g| &g.id).collect();
    assert_eq!(order, vec![&third, &second, &first.id], "newest first");
    let (page, total) = store.list_groups(PROJECT, None, 1, 1).await.unwrap();
    assert_eq!((page.len(), total), (1, 3));
    assert_eq!(page[0].id, second);
    let (page, total) = store.list_groups(PROJECT, None, 5, 10).await.unwrap();
    assert_eq!((page.len(), total), (0, 3));

    store
        .group_transition(&first.id, GroupEvent::BeginCreating, NOW)
        .await
        .unwrap();
    let creating = Some(GroupStatus::Creating);
    let (page, total) = store.list_groups(PROJECT, creating, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].id, first.id);
    let waiting = Some(GroupStatus::Waiting);
    let (page, total) = store.list_groups(PROJECT, waiting, 0, 1).await.unwrap();
    assert_eq!((page.len(), total), (1, 2), "the count ignores the page");
    let (page, total) = store.list_groups("project-b", None, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(page[0].id, other);
    let (page, total) = store.list_groups("nobody", None, 0, 10).await.unwrap();
    assert_eq!((page.len(), total), (0, 0));

    let in_status = store
        .groups_in_status(&[GroupStatus::Creating])
        .await
        .unwrap();
    assert_eq!(
        in_status.iter().map(|g| &g.id).collect::<Vec<_>>(),
        [&first.id]
    );
    let both = store
        .groups_in_status(&[GroupStatus::Waiting, GroupStatus::Creating])
        .await
        .unwrap();
    let order: Vec<&GroupId> = both.iter().map(|g| &g.id).collect();
    assert_eq!(order, [&first.id, &second, &third, &other], "oldest first");
    assert!(store.groups_in_status(&[]).await.unwrap().is_empty());
}

pub async fn test_group_every_event_from_every_status_follows_apply(store: Arc<dyn TaskStore>) {
    for from in all_group_statuses() {
        for event in GROUP_EVENTS {
            let id = group_in(&store, from).await;
            let result = store.group_transition(&id, event, NOW + 9).await;
            let after = store.get_group(&id).await.unwrap().unwrap();
            match from.apply(event) {
                Ok(next) => {
                    let group = result.unwrap_or_else(|err| panic!("{from:?} + {event:?}: {err}"));
                    assert_eq!(group.status, next, "{from:?} + {event:?}");
                    assert_eq!(after, group, "returned group is the stored one");
                }
                Err(_) => {
                    let err = result.expect_err("illegal event must fail");
                    assert_eq!(err.kind(), ErrorKind::InvalidState, "{from:?} + {event:?}");
                    assert_eq!(after.status, from, "an illegal event changes nothing");
                }
            }
        }
    }
    let unknown = GroupId("no-such-group".into());
    for event in GROUP_EVENTS {
        let err = store
            .group_transition(&unknown, event, NOW)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

pub async fn test_group_start_time_and_secrets(store: Arc<dyn TaskStore>) {
    use GroupEvent as E;
    let id = store
        .create_group(PROJECT, &group_spec("s"), &secrets("first"), NOW)
        .await
        .unwrap()
        .id;
    assert_eq!(
        store.group_secrets(&id).await.unwrap(),
        Some(secrets("first"))
    );
    let group = store
        .group_transition(&id, E::BeginCreating, NOW + 10)
        .await
        .unwrap();
    assert_eq!(
        group.start_time_ms,
        Some(NOW + 10),
        "the first BeginCreating stamps it"
    );
    let group = store
        .group_transition(&id, E::BeginCreating, NOW + 20)
        .await
        .unwrap();
    assert_eq!(
        group.start_time_ms,
        Some(NOW + 10),
        "a resumed splitter keeps it"
    );

    let done = SplitProgress {
        done: true,
        ..SplitProgress::default()
    };
    store.update_group_split(&id, &done).await.unwrap();
    store.group_transition(&id, E::Stop, NOW).await.unwrap();
    store.group_transition(&id, E::Stopped, NOW).await.unwrap();
    assert!(
        store.group_secrets(&id).await.unwrap().is_some(),
        "kept while paused"
    );
    let group = store
        .start_group(&id, &secrets("second"), NOW + 30)
        .await
        .unwrap()
        .group;
    assert_eq!(
        store.group_secrets(&id).await.unwrap(),
        Some(secrets("second"))
    );
    assert_eq!(group.status, GroupStatus::Monitoring);
    assert_eq!(group.start_time_ms, Some(NOW + 10));
    assert!(
        store.group_secrets(&id).await.unwrap().is_some(),
        "kept while monitoring"
    );
    store
        .group_transition(&id, E::TasksSucceeded, NOW)
        .await
        .unwrap();
    assert_eq!(
        store.group_secrets(&id).await.unwrap(),
        None,
        "erased on completion"
    );

    let failed = group_in(&store, GroupStatus::MigrationFailed).await;
    assert!(
        store.group_secrets(&failed).await.unwrap().is_some(),
        "kept for retry"
    );

    let unknown = GroupId("no-such-group".into());
    let err = store.group_secrets(&unknown).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = store
        .start_group(&unknown, &secrets("x"), NOW)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

pub async fn test_group_updates_and_unknown_ids(store: Arc<dyn TaskStore>) {
    let id = create_group(&store, "u", NOW).await;
    let policy = BandwidthPolicy::new(vec![
        BandwidthWindow::parse(0, "01:00", "02:00", 1_048_576).unwrap(),
        BandwidthWindow::parse(1, "03:00", "04:00", 2_097_152).unwrap(),
    ])
    .unwrap();
    store
        .update_group_bandwidth_policy(&id, &policy)
        .await
        .unwrap();
    let split = SplitProgress {
        fence: None,
        source_index: 3,
        last_key: Some("photos/2024/é".into()),
        lines_done: 7,
        done: false,
        task_num: 4,
        assigned_num: 400,
        assigned_size: 1 << 40,
    };
    store.update_group_split(&id, &split).await.unwrap();
    let group = store.get_group(&id).await.unwrap().unwrap();
    assert_eq!(group.spec.bandwidth_policy, policy);
    assert_eq!(group.split, split);

    let paused = group_in(&store, GroupStatus::Paused).await;
    store.update_group_split(&paused, &split).await.unwrap();
    assert_eq!(
        store.get_group(&paused).await.unwrap().unwrap().split,
        split
    );
    let unknown = GroupId("no-such-group".into());
    let not_found = |result: tern_core::Result<()>| {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound);
    };
    not_found(
        store
            .update_group_bandwidth_policy(&unknown, &policy)
            .await
            .map(drop),
    );
    not_found(store.stop_group(&unknown, NOW).await.map(drop));
    not_found(
        store
            .retry_group(&unknown, None, false, NOW)
            .await
            .map(drop),
    );
    not_found(store.settle_group(&unknown, false, NOW).await.map(drop));
    not_found(store.update_group_split(&unknown, &split).await);
    not_found(store.delete_group(&unknown).await);
    let err = store.group_totals(&unknown).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

pub async fn test_group_spec_and_key_ranges_round_trip(store: Arc<dyn TaskStore>) {
    let window = BandwidthWindow::parse(0, "22:00", "02:00", 2 * 1_048_576).unwrap();
    let mut full = group_spec("every-field");
    full.task_type = GroupTaskType::List;
    full.src.cloud_type = CloudType::Tencent;
    full.src.app_id = Some("1250000000".into());
    full.src.object_keys = vec!["a/".into(), "b é/".into()];
    full.src.list_file = Some(ListFileSpec {
        bucket: "lists".into(),
        key: "lists/".into(),
    });
    full.src.key_range = Some(KeyRange {
        start_after: Some("a/0".into()),
        end: None,
    });
    full.dst.save_prefix = "moved/".into();
    full.description = "a group".into();
    full.migrate_since_s = Some(1_600_000_000);
    full.bandwidth_policy = BandwidthPolicy::new(vec![window]).unwrap();
    full.enable_metadata_migration = true;
    full.enable_restore = true;
    full.enable_failed_object_recording = false;
    full.object_overwrite_mode = OverwriteMode::Crc64;
    full.consistency_check = ConsistencyCheck::NoCheck;
    full.dst_storage_policy = "COLD".into();
    full.enable_requester_pays = true;
    full.echo_json = r#"{"source_cdn":{"domain":"cdn.example"}}"#.into();
    let group = store
        .create_group(PROJECT, &full, &secrets("m"), NOW)
        .await
        .unwrap();
    assert_eq!(group.spec, full);
    assert_eq!(
        store.get_group(&group.id).await.unwrap().unwrap().spec,
        full
    );

    let ranges = [
        None,
        Some(KeyRange::default()),
        Some(KeyRange {
            start_after: Some("k/0999".into()),
            end: Some("k/1999".into()),
        }),
        Some(KeyRange {
            start_after: None,
            end: Some("k/0999".into()),
        }),
        Some(KeyRange {
            start_after: Some("k/1999".into()),
            end: None,
        }),
    ];
    for key_range in ranges {
        let mut sliced = spec("sliced");
        sliced.src.key_range = key_range.clone();
        let task = store
            .create_task(PROJECT, &sliced, &secrets("m"), NOW)
            .await
            .unwrap();
        assert_eq!(task.spec.src.key_range, key_range);
        let stored = store.get_task(task.id).await.unwrap().unwrap();
        assert_eq!(stored.spec, sliced, "{key_range:?}");
    }
}
