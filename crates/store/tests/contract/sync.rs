//! The `SyncStore` contract: sync-task lifecycle, the durable event queue (deduplication,
//! claims, retries, release after a crash) and the statistics, written once against
//! `Arc<dyn SyncStore>` so every backend runs it through `sync_contract_tests!(factory)`.

use std::sync::Arc;

use tern_core::{
    ClaimedEvent, CloudType, ConsistencyCheck, Error, EventResolution, OutcomeKind, OverwriteMode,
    SyncCounts, SyncEvent, SyncSpec, SyncStatus, SyncStore, SyncTask, SyncTaskId,
    MAX_SYNC_TASKS_PER_PROJECT, STAT_BUCKET_MS,
};

use super::{secrets, NOW, PROJECT};

/// The node these tests claim sync events as.
pub const SYNC_NODE: &str = "node-a";

/// A claim of [`SYNC_NODE`] that holds a minute.
pub fn sync_claim() -> tern_core::SyncClaim {
    tern_core::SyncClaim {
        node: SYNC_NODE.to_owned(),
        lease_ms: 60_000,
    }
}

/// Expands to one test per sync contract function, each on a fresh store from `$factory`.
macro_rules! sync_contract_tests {
    ($factory:path) => {
        sync_contract_tests!(@each $factory;
            test_sync_create_get_list_and_quota,
            test_sync_lifecycle_follows_apply,
            test_sync_events_deduplicate_while_waiting,
            test_sync_claims_respect_limit_order_and_retry_time,
            test_sync_release_returns_claims_and_merges_twins,
            test_sync_claims_belong_to_their_node_and_expire,
            test_sync_stats_fall_in_five_minute_buckets,
        );
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, store) = $factory().await;
                contract::sync::$name(store).await;
            }
        )*
    };
}

/// A sync spec copying `src_bucket` to `dst`.
pub fn sync_spec(src_bucket: &str) -> SyncSpec {
    SyncSpec {
        src_cloud_type: CloudType::Aws,
        src_region: "local-1".into(),
        src_bucket: src_bucket.into(),
        app_id: Some("app".into()),
        dst_cloud_type: CloudType::HuaweiCloud,
        dst_region: "local-2".into(),
        dst_bucket: "dst".into(),
        description: "a sync task".into(),
        enable_metadata_migration: true,
        enable_restore: false,
        dst_storage_policy: "IA".into(),
        object_overwrite_mode: OverwriteMode::FullOverwrite,
        consistency_check: ConsistencyCheck::NoCheck,
    }
}

async fn create_sync(store: &Arc<dyn SyncStore>, src_bucket: &str, now_ms: i64) -> SyncTask {
    store
        .create_sync_task(PROJECT, &sync_spec(src_bucket), &secrets("sync"), now_ms)
        .await
        .unwrap()
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

async fn month(store: &Arc<dyn SyncStore>, id: &SyncTaskId) -> SyncCounts {
    let mut sum = SyncCounts::default();
    for bucket in store.sync_stats(id, 0, i64::MAX).await.unwrap() {
        sum.add(&bucket.counts);
    }
    sum
}

fn done(kind: OutcomeKind, size: u64) -> EventResolution {
    EventResolution::Done { kind, size }
}

pub async fn test_sync_create_get_list_and_quota(store: Arc<dyn SyncStore>) {
    let mut created = Vec::new();
    for index in 0..MAX_SYNC_TASKS_PER_PROJECT {
        created.push(create_sync(&store, &format!("src-{index}"), NOW + index as i64).await);
    }
    let first = &created[0];
    assert_eq!(first.status, SyncStatus::Synchronizing);
    assert_eq!(first.spec, sync_spec("src-0"));
    assert_eq!((first.created_at_ms, first.last_start_ms), (NOW, NOW));
    assert_eq!(
        store.get_sync_task(&first.id).await.unwrap().as_ref(),
        Some(first)
    );
    let refused = store
        .create_sync_task(PROJECT, &sync_spec("sixth"), &secrets("s"), NOW)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        Error::SyncQuota {
            limit: MAX_SYNC_TASKS_PER_PROJECT
        }
    );
    // The quota is per project.
    store
        .create_sync_task("project-b", &sync_spec("other"), &secrets("s"), NOW)
        .await
        .unwrap();

    let (page, count) = store.list_sync_tasks(PROJECT, None, 1, 2).await.unwrap();
    assert_eq!(count, MAX_SYNC_TASKS_PER_PROJECT);
    let newest_first: Vec<&SyncTaskId> = created.iter().rev().map(|t| &t.id).collect();
    assert_eq!(
        page.iter().map(|t| &t.id).collect::<Vec<_>>(),
        newest_first[1..3].to_vec()
    );
    store.stop_sync_task(&first.id, NOW).await.unwrap();
    let (stopped, count) = store
        .list_sync_tasks(PROJECT, Some(SyncStatus::Stopped), 0, 10)
        .await
        .unwrap();
    assert_eq!((stopped.len(), count), (1, 1));
    assert_eq!(stopped[0].id, first.id);
    let synchronizing = store
        .sync_tasks_in_status(SyncStatus::Synchronizing)
        .await
        .unwrap();
    assert_eq!(synchronizing.len() as u64, MAX_SYNC_TASKS_PER_PROJECT);
    assert!(store
        .get_sync_task(&SyncTaskId("nope".into()))
        .await
        .unwrap()
        .is_none());
}

pub async fn test_sync_lifecycle_follows_apply(store: Arc<dyn SyncStore>) {
    let task = create_sync(&store, "src", NOW).await;
    assert_eq!(
        store.sync_secrets(&task.id).await.unwrap(),
        Some(secrets("sync"))
    );
    let stopped = store.stop_sync_task(&task.id, NOW + 1).await.unwrap();
    assert_eq!(stopped.status, SyncStatus::Stopped);
    assert_eq!(store.sync_secrets(&task.id).await.unwrap(), None);
    let refusal = |event| Error::SyncRefused {
        status: SyncStatus::Stopped,
        event,
    };
    assert_eq!(
        store.stop_sync_task(&task.id, NOW).await.unwrap_err(),
        refusal(SyncEvent::Stop)
    );
    assert_eq!(
        store
            .accept_sync_events(&task.id, &keys(&["a"]), NOW)
            .await
            .unwrap_err(),
        refusal(SyncEvent::AcceptEvents)
    );
    let started = store
        .start_sync_task(&task.id, &secrets("again"), NOW + 5)
        .await
        .unwrap();
    assert_eq!(started.status, SyncStatus::Synchronizing);
    assert_eq!(started.last_start_ms, NOW + 5);
    assert_eq!(
        store.sync_secrets(&task.id).await.unwrap(),
        Some(secrets("again"))
    );
    assert_eq!(
        store
            .start_sync_task(&task.id, &secrets("x"), NOW)
            .await
            .unwrap_err(),
        Error::SyncRefused {
            status: SyncStatus::Synchronizing,
            event: SyncEvent::Start
        }
    );
    store
        .accept_sync_events(&task.id, &keys(&["a", "b"]), NOW)
        .await
        .unwrap();
    store.delete_sync_task(&task.id).await.unwrap();
    assert!(store.get_sync_task(&task.id).await.unwrap().is_none());
    assert_eq!(store.pending_sync_events(&task.id).await.unwrap(), 0);
    assert!(store
        .sync_stats(&task.id, 0, i64::MAX)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.sync_secrets(&task.id).await.unwrap(), None);
    assert_eq!(
        store.delete_sync_task(&task.id).await.unwrap_err(),
        Error::SyncNotFound(task.id.clone())
    );
}

pub async fn test_sync_events_deduplicate_while_waiting(store: Arc<dyn SyncStore>) {
    let task = create_sync(&store, "src", NOW).await;
    let id = &task.id;
    assert_eq!(
        store
            .accept_sync_events(id, &keys(&["a", "b", "a"]), NOW)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .accept_sync_events(id, &keys(&["a"]), NOW)
            .await
            .unwrap(),
        0
    );
    let claimed = store
        .claim_sync_events(id, &sync_claim(), 10, NOW)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    // `a` is being copied: a new event for it may mean a newer object, so it queues afresh.
    assert_eq!(
        store
            .accept_sync_events(id, &keys(&["a"]), NOW)
            .await
            .unwrap(),
        1
    );
    let resolutions = vec![
        (claimed[0].clone(), done(OutcomeKind::Succeeded, 5)),
        (claimed[1].clone(), done(OutcomeKind::Failed, 7)),
    ];
    store
        .resolve_sync_events(id, SYNC_NODE, &resolutions, NOW)
        .await
        .unwrap();
    // Resolving twice changes nothing: the rows are gone.
    store
        .resolve_sync_events(id, SYNC_NODE, &resolutions, NOW)
        .await
        .unwrap();
    assert_eq!(store.pending_sync_events(id).await.unwrap(), 1);
    assert_eq!(
        month(&store, id).await,
        SyncCounts {
            request: 3,
            success: 1,
            failure: 1,
            skip: 0,
            size: 5
        }
    );
    let again = store
        .claim_sync_events(id, &sync_claim(), 10, NOW)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].key, "a");
    assert!(again[0].seq > claimed[1].seq);
}

pub async fn test_sync_claims_respect_limit_order_and_retry_time(store: Arc<dyn SyncStore>) {
    let task = create_sync(&store, "src", NOW).await;
    let other = create_sync(&store, "other", NOW).await;
    let id = &task.id;
    store
        .accept_sync_events(id, &keys(&["k1", "k2", "k3", "k4", "k5"]), NOW)
        .await
        .unwrap();
    store
        .accept_sync_events(&other.id, &keys(&["elsewhere"]), NOW)
        .await
        .unwrap();
    let first = store
        .claim_sync_events(id, &sync_claim(), 2, NOW)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
    let rest = store
        .claim_sync_events(id, &sync_claim(), 10, NOW)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["k3", "k4", "k5"]
    );
    assert!(store
        .claim_sync_events(id, &sync_claim(), 10, NOW)
        .await
        .unwrap()
        .is_empty());
    store
        .resolve_sync_events(
            id,
            SYNC_NODE,
            &[(
                first[0].clone(),
                EventResolution::Retry {
                    not_before_ms: NOW + 1000,
                },
            )],
            NOW,
        )
        .await
        .unwrap();
    assert!(store
        .claim_sync_events(id, &sync_claim(), 10, NOW + 999)
        .await
        .unwrap()
        .is_empty());
    let retried = store
        .claim_sync_events(id, &sync_claim(), 10, NOW + 1000)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].key.as_str(), retried[0].attempts), ("k1", 1));
    // A retry counts nothing yet.
    assert_eq!(month(&store, id).await.request, 5);
    assert_eq!(month(&store, id).await.failure, 0);
    assert_eq!(store.pending_sync_events(id).await.unwrap(), 5);
    assert_eq!(store.pending_sync_events(&other.id).await.unwrap(), 1);
}

pub async fn test_sync_release_returns_claims_and_merges_twins(store: Arc<dyn SyncStore>) {
    let task = create_sync(&store, "src", NOW).await;
    let id = &task.id;
    store
        .accept_sync_events(id, &keys(&["a", "b"]), NOW)
        .await
        .unwrap();
    let claimed = store
        .claim_sync_events(id, &sync_claim(), 10, NOW)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    store
        .accept_sync_events(id, &keys(&["a"]), NOW)
        .await
        .unwrap();
    assert_eq!(month(&store, id).await.request, 3);
    // What start-up does after a crash: every claim returns; the claimed `a` merges into the
    // `a` queued meanwhile and its REQUEST is taken back, so each key is copied and counted
    // once.
    store.release_sync_events(None, SYNC_NODE).await.unwrap();
    assert_eq!(store.pending_sync_events(id).await.unwrap(), 2);
    assert_eq!(month(&store, id).await.request, 2);
    let reclaimed = store
        .claim_sync_events(id, &sync_claim(), 10, NOW)
        .await
        .unwrap();
    let mut names: Vec<&str> = reclaimed.iter().map(|e| e.key.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b"]);
    // A release keeps the number of tries.
    assert!(reclaimed.iter().all(|event| event.attempts == 0));
    store
        .release_sync_events(Some(id), SYNC_NODE)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_sync_events(id, &sync_claim(), 10, NOW)
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn test_sync_stats_fall_in_five_minute_buckets(store: Arc<dyn SyncStore>) {
    let task = create_sync(&store, "src", NOW).await;
    let id = &task.id;
    let bucket = NOW.div_euclid(STAT_BUCKET_MS) * STAT_BUCKET_MS;
    store
        .accept_sync_events(id, &keys(&["a"]), bucket)
        .await
        .unwrap();
    store
        .accept_sync_events(id, &keys(&["b", "c"]), bucket + STAT_BUCKET_MS - 1)
        .await
        .unwrap();
    let claimed = store
        .claim_sync_events(id, &sync_claim(), 10, bucket)
        .await
        .unwrap();
    let later = bucket + STAT_BUCKET_MS;
    let resolutions: Vec<_> = claimed
        .into_iter()
        .map(|event| (event, done(OutcomeKind::Skipped, 9)))
        .collect();
    store
        .resolve_sync_events(id, SYNC_NODE, &resolutions, later)
        .await
        .unwrap();
    let buckets = store.sync_stats(id, 0, i64::MAX).await.unwrap();
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0].start_ms, bucket);
    assert_eq!(buckets[0].counts.request, 3);
    assert_eq!(buckets[1].start_ms, later);
    assert_eq!(buckets[1].counts.skip, 3);
    // Skipped bytes are not copied bytes.
    assert_eq!(buckets[1].counts.size, 0);
    let only_second = store.sync_stats(id, later, later + 1).await.unwrap();
    assert_eq!(only_second.len(), 1);
    assert!(store.sync_stats(id, 0, bucket).await.unwrap().is_empty());
}

/// Two serve nodes on one database: a node's start-up or stop releases only its own claims; a
/// claim that outlives its lease (its node died) goes to the next node that asks; the node
/// that lost it can then neither count nor requeue the event, so each event is counted once.
pub async fn test_sync_claims_belong_to_their_node_and_expire(store: Arc<dyn SyncStore>) {
    let task = create_sync(&store, "src", NOW).await;
    let id = &task.id;
    let claim_of = |node: &str| tern_core::SyncClaim {
        node: node.to_owned(),
        lease_ms: 1_000,
    };
    store
        .accept_sync_events(id, &keys(&["a", "b", "c"]), NOW)
        .await
        .unwrap();
    let held_by_a = store
        .claim_sync_events(id, &claim_of("node-a"), 2, NOW)
        .await
        .unwrap();
    assert_eq!(held_by_a.len(), 2);
    // Node b starts (or stops its worker): node a's claims stay claimed.
    store.release_sync_events(None, "node-b").await.unwrap();
    store.release_sync_events(Some(id), "node-b").await.unwrap();
    let held_by_b = store
        .claim_sync_events(id, &claim_of("node-b"), 10, NOW + 999)
        .await
        .unwrap();
    assert_eq!(
        held_by_b.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["c"],
        "only the unclaimed event while a's claims hold"
    );
    // Node a goes silent past its lease: node b takes a's events.
    let taken_over = store
        .claim_sync_events(id, &claim_of("node-b"), 10, NOW + 1_001)
        .await
        .unwrap();
    let mut taken: Vec<&str> = taken_over.iter().map(|e| e.key.as_str()).collect();
    taken.sort_unstable();
    let mut lost: Vec<&str> = held_by_a.iter().map(|e| e.key.as_str()).collect();
    lost.sort_unstable();
    assert_eq!(taken, lost);
    // Node a wakes up and reports its (stale) outcomes: one done, one to retry. Neither counts
    // nor changes the queue; node b's copies do.
    let stale = vec![
        (
            held_by_a[0].clone(),
            EventResolution::Done {
                kind: OutcomeKind::Succeeded,
                size: 7,
            },
        ),
        (
            held_by_a[1].clone(),
            EventResolution::Retry { not_before_ms: NOW },
        ),
    ];
    store
        .resolve_sync_events(id, "node-a", &stale, NOW + 1_002)
        .await
        .unwrap();
    store.release_sync_events(None, "node-a").await.unwrap();
    assert_eq!(store.pending_sync_events(id).await.unwrap(), 3);
    assert_eq!(month(&store, id).await.success, 0);
    assert!(store
        .claim_sync_events(id, &claim_of("node-c"), 10, NOW + 1_003)
        .await
        .unwrap()
        .is_empty());
    let done: Vec<(ClaimedEvent, EventResolution)> = taken_over
        .iter()
        .chain(&held_by_b)
        .map(|event| {
            (
                event.clone(),
                EventResolution::Done {
                    kind: OutcomeKind::Succeeded,
                    size: 1,
                },
            )
        })
        .collect();
    store
        .resolve_sync_events(id, "node-b", &done, NOW + 1_004)
        .await
        .unwrap();
    assert_eq!(store.pending_sync_events(id).await.unwrap(), 0);
    let counts = month(&store, id).await;
    assert_eq!((counts.request, counts.success), (3, 3));
}
