//! Contract: leases and fences (RFC 0011) — claims, takeovers after expiry, fenced writes,
//! renewals, stops of runs held elsewhere, run records and the group split lease.

use std::sync::Arc;

use tern_core::{
    Error, Fence, GroupStatus, LeaseCheck, LeaseTerms, NodeId, OutcomeBatch, RunEnding,
    SplitProgress, TaskEvent, TaskStatus, TaskStore,
};

use super::helpers::*;

const LEASE_MS: i64 = 1_000;

fn node(name: &str) -> LeaseTerms {
    LeaseTerms {
        node: NodeId(name.to_owned()),
        duration_ms: LEASE_MS,
    }
}

fn fenced(fence: Fence, key: &str) -> OutcomeBatch {
    OutcomeBatch {
        fence: Some(fence),
        listed_num: 1,
        listed_size: 1,
        outcomes: vec![succeeded(key, 1)],
        checkpoint: Some(key.to_owned()),
        ..OutcomeBatch::default()
    }
}

pub async fn test_a_takeover_fences_the_old_run_out(store: Arc<dyn TaskStore>) {
    let id = create(&store, "lease", NOW).await.id;
    let a = store
        .claim_next_runnable(&node("a"), NOW)
        .await
        .unwrap()
        .expect("a claims the waiting task");
    assert_eq!(a.task.id, id);
    assert_eq!(a.task.status, TaskStatus::Migrating);
    // While a's lease is live nobody else gets the task.
    assert_eq!(
        store
            .claim_next_runnable(&node("b"), NOW + LEASE_MS)
            .await
            .unwrap(),
        None
    );
    store
        .record_batch(id, &fenced(a.fence, "k1"))
        .await
        .unwrap();

    // a stops renewing; after expiry b takes over with a larger fence.
    let b = store
        .claim_next_runnable(&node("b"), NOW + LEASE_MS + 1)
        .await
        .unwrap()
        .expect("b takes the expired task over");
    assert_eq!(b.task.id, id);
    assert!(b.fence > a.fence, "{} > {}", b.fence, a.fence);
    assert_eq!(b.task.checkpoint.as_deref(), Some("k1"));

    // Everything a writes now is refused and changes nothing.
    let before = store.get_task(id).await.unwrap().unwrap();
    let err = store
        .record_batch(id, &fenced(a.fence, "k2"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseLost(_)), "{err:?}");
    let err = store
        .finish_run(id, Some(a.fence), &RunEnding::Stopped, 5, NOW + 2_000)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseLost(_)), "{err:?}");
    assert_eq!(store.get_task(id).await.unwrap().unwrap(), before);
    assert_eq!(store.ledger_entry(id, "k2").await.unwrap(), None);
    assert_eq!(
        store
            .renew_lease(id, a.fence, &node("a"), NOW + 2_000)
            .await
            .unwrap(),
        LeaseCheck::Lost
    );

    // b's writes pass, and its end releases the lease and closes its run record.
    store
        .record_batch(id, &fenced(b.fence, "k2"))
        .await
        .unwrap();
    let ended = store
        .finish_run(
            id,
            Some(b.fence),
            &RunEnding::Completed {
                failed_object_record: None,
            },
            5,
            NOW + 3_000,
        )
        .await
        .unwrap();
    assert_eq!(ended.status, TaskStatus::Succeeded);
    assert_eq!(ended.counters.successful_num, 2);
    let runs = store.task_runs(id).await.unwrap();
    let nodes: Vec<_> = runs.iter().map(|r| r.node.0.as_str()).collect();
    assert_eq!(nodes, ["a", "b"]);
    assert_eq!(runs[0].started_ms, NOW);
    assert_eq!(runs[0].ended_ms, None, "a died without writing its end");
    assert_eq!(runs[1].ended_ms, Some(NOW + 3_000));
    assert_eq!(
        store
            .renew_lease(id, b.fence, &node("b"), NOW + 3_001)
            .await
            .unwrap(),
        LeaseCheck::Lost,
        "an ended task holds no lease"
    );
}

pub async fn test_renewal_keeps_the_task_and_carries_stops(store: Arc<dyn TaskStore>) {
    let id = create(&store, "renew", NOW).await.id;
    let a = store
        .claim_next_runnable(&node("a"), NOW)
        .await
        .unwrap()
        .unwrap();
    // Renewing past the first expiry keeps the task from b.
    assert_eq!(
        store
            .renew_lease(id, a.fence, &node("a"), NOW + LEASE_MS - 1)
            .await
            .unwrap(),
        LeaseCheck::Held(TaskStatus::Migrating)
    );
    assert_eq!(
        store
            .claim_next_runnable(&node("b"), NOW + LEASE_MS + 1)
            .await
            .unwrap(),
        None
    );
    // A stop issued through any node is a row change a's renewal reads.
    let stopped = store
        .transition(id, TaskEvent::Stop, NOW + LEASE_MS + 2)
        .await
        .unwrap();
    assert_eq!(stopped.status, TaskStatus::Pausing);
    // Winding down is refused while a's lease is live: a ends the run itself.
    let err = store
        .transition(id, TaskEvent::Stopped, NOW + LEASE_MS + 3)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
    assert!(store
        .wind_down_pausing(None, NOW + LEASE_MS + 3)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .renew_lease(id, a.fence, &node("a"), NOW + LEASE_MS + 4)
            .await
            .unwrap(),
        LeaseCheck::Held(TaskStatus::Pausing)
    );
    let paused = store
        .finish_run(
            id,
            Some(a.fence),
            &RunEnding::Stopped,
            1,
            NOW + LEASE_MS + 5,
        )
        .await
        .unwrap();
    assert_eq!(paused.status, TaskStatus::Paused);
}

pub async fn test_orphaned_stops_and_own_runs_come_back(store: Arc<dyn TaskStore>) {
    let dead = create(&store, "dead", NOW).await.id;
    let mine = create(&store, "mine", NOW + 1).await.id;
    let pausing_mine = create(&store, "pausing-mine", NOW + 2).await.id;
    for (expected, name) in [(dead, "dead-node"), (mine, "me"), (pausing_mine, "me")] {
        let claimed = store
            .claim_next_runnable(&node(name), NOW + 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.task.id, expected);
    }
    store
        .transition(dead, TaskEvent::Stop, NOW + 20)
        .await
        .unwrap();
    store
        .transition(pausing_mine, TaskEvent::Stop, NOW + 20)
        .await
        .unwrap();

    // Restarted before expiry, "me" winds its own stop down and takes its run back at once.
    let wound = store
        .wind_down_pausing(Some(&NodeId("me".into())), NOW + 30)
        .await
        .unwrap();
    assert_eq!(wound, vec![pausing_mine]);
    let resumed = store.resume_node_runs(&node("me"), NOW + 30).await.unwrap();
    let ids: Vec<_> = resumed.iter().map(|c| c.task.id).collect();
    assert_eq!(ids, vec![mine]);
    assert_eq!(store.task_runs(mine).await.unwrap().len(), 2);

    // The dead node's stop is wound down by anyone once its lease expired.
    let wound = store
        .wind_down_pausing(None, NOW + 10 + LEASE_MS + 1)
        .await
        .unwrap();
    assert_eq!(wound, vec![dead]);
    assert_eq!(
        store.get_task(dead).await.unwrap().unwrap().status,
        TaskStatus::Paused
    );
}

pub async fn test_one_node_splits_a_group_at_a_time(store: Arc<dyn TaskStore>) {
    let group = group_in(&store, GroupStatus::Creating).await;
    let a = store
        .claim_group_split(&group, &node("a"), NOW)
        .await
        .unwrap()
        .expect("a takes the split");
    assert_eq!(
        store
            .claim_group_split(&group, &node("b"), NOW + LEASE_MS)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .renew_group_split(&group, a, &node("a"), NOW + LEASE_MS)
        .await
        .unwrap());
    let b = store
        .claim_group_split(&group, &node("b"), NOW + 2 * LEASE_MS + 1)
        .await
        .unwrap()
        .expect("b takes the split after a's lease expired");
    assert!(b > a);
    let stale = SplitProgress {
        task_num: 1,
        last_key: Some("x".into()),
        fence: Some(a),
        ..SplitProgress::default()
    };
    let err = store
        .create_group_task(&group, &spec("slice"), &secrets("s"), &stale, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseLost(_)), "{err:?}");
    assert_eq!(store.group_totals(&group).await.unwrap().task_num, 0);
    assert!(!store
        .renew_group_split(&group, a, &node("a"), NOW + 2 * LEASE_MS + 2)
        .await
        .unwrap());
    let current = SplitProgress {
        fence: Some(b),
        ..stale
    };
    store
        .create_group_task(&group, &spec("slice"), &secrets("s"), &current, NOW)
        .await
        .unwrap();
    assert_eq!(store.group_totals(&group).await.unwrap().task_num, 1);
}
