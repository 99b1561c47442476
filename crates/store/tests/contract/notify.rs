//! Notification records: one per subject, replaced by each end, outcomes tied to their end,
//! pending ones listed for redelivery, removed with their task or group.

use std::sync::Arc;

use tern_core::{DeliveryState, GroupStatus, Notification, NotifySubject, TaskStatus, TaskStore};

use super::{group_in, task_in};

fn pending(subject: NotifySubject, ended_at_ms: i64) -> Notification {
    Notification {
        subject,
        ended_at_ms,
        topic_urn: "urn:smn:r:p:ops".into(),
        body: format!("{{\"ended_at\":{ended_at_ms}}}"),
        state: DeliveryState::Pending,
        error_message: String::new(),
        attempts: 0,
    }
}

pub async fn test_notification_records_follow_their_subject(store: Arc<dyn TaskStore>) {
    let task = NotifySubject::Task(task_in(&store, TaskStatus::Succeeded).await);
    let group = NotifySubject::Group(group_in(&store, GroupStatus::Completed).await);
    assert_eq!(store.notification(&task).await.unwrap(), None);

    store
        .put_notification(&pending(task.clone(), 10))
        .await
        .unwrap();
    store
        .put_notification(&pending(group.clone(), 20))
        .await
        .unwrap();
    let waiting = store.pending_notifications().await.unwrap();
    assert_eq!(
        waiting,
        vec![pending(task.clone(), 10), pending(group.clone(), 20)]
    );

    store
        .record_notification_outcome(&task, 10, DeliveryState::Failed, "HTTP 500", 3)
        .await
        .unwrap();
    let failed = store.notification(&task).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error_message.as_str(), failed.attempts),
        (DeliveryState::Failed, "HTTP 500", 3)
    );
    assert_eq!(
        failed.body,
        pending(task.clone(), 10).body,
        "the message is kept"
    );
    assert_eq!(store.pending_notifications().await.unwrap().len(), 1);

    // A new end replaces the record; the old end's late outcome changes nothing.
    store
        .put_notification(&pending(task.clone(), 30))
        .await
        .unwrap();
    store
        .record_notification_outcome(&task, 10, DeliveryState::Delivered, "", 1)
        .await
        .unwrap();
    assert_eq!(
        store.notification(&task).await.unwrap(),
        Some(pending(task.clone(), 30))
    );
    store
        .record_notification_outcome(&group, 20, DeliveryState::Delivered, "", 1)
        .await
        .unwrap();
    assert_eq!(
        store.notification(&group).await.unwrap().unwrap().state,
        DeliveryState::Delivered
    );

    // Records go with their subject.
    let (NotifySubject::Task(task_id), NotifySubject::Group(group_id)) = (&task, &group) else {
        unreachable!()
    };
    store.delete_task(*task_id).await.unwrap();
    store.delete_group(group_id).await.unwrap();
    assert_eq!(store.notification(&task).await.unwrap(), None);
    assert_eq!(store.notification(&group).await.unwrap(), None);
    assert!(store.pending_notifications().await.unwrap().is_empty());
}
