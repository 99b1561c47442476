//! The checkpoint of multipart uploads in progress (RFC 0012).

use std::sync::Arc;

use tern_core::{DonePart, SourceVersion, TaskStatus, TaskStore, UploadCheckpoint};

use super::helpers::task_in;

fn upload(id: &str) -> UploadCheckpoint {
    UploadCheckpoint {
        upload_id: id.to_owned(),
        dst_key: "saved/big.bin".to_owned(),
        part_size: 8 << 20,
        source: SourceVersion {
            etag: Some("\"abc-3\"".to_owned()),
            size: (20 << 20) + 5,
            modified_ms: Some(1_700_000_000_123),
        },
        parts: Vec::new(),
    }
}

fn part(number: u32) -> DonePart {
    DonePart {
        number,
        etag: format!("\"etag-{number}\""),
        size: 8 << 20,
        // Above i64::MAX: the u64 must come back bit for bit.
        crc64: 0xF000_0000_0000_0000 + u64::from(number),
    }
}

pub async fn test_part_journal_records_and_reloads_an_upload(store: Arc<dyn TaskStore>) {
    let task = task_in(&store, TaskStatus::Migrating).await;
    assert_eq!(store.load_upload(task, "big.bin").await.unwrap(), None);
    store
        .begin_upload(task, "big.bin", &upload("u-1"))
        .await
        .unwrap();
    // Out of order, and one recorded twice (a retried journal write): kept once, in order.
    for number in [2, 1, 2] {
        store
            .record_part(task, "big.bin", "u-1", &part(number))
            .await
            .unwrap();
    }
    let loaded = store.load_upload(task, "big.bin").await.unwrap().unwrap();
    assert_eq!(
        loaded,
        UploadCheckpoint {
            parts: vec![part(1), part(2)],
            ..upload("u-1")
        }
    );
    // Another key of the same task and the same key of another task are their own.
    let other_task = task_in(&store, TaskStatus::Migrating).await;
    assert_eq!(store.load_upload(task, "other.bin").await.unwrap(), None);
    assert_eq!(
        store.load_upload(other_task, "big.bin").await.unwrap(),
        None
    );
    let listed = store.task_uploads(task).await.unwrap();
    assert_eq!(listed, vec![("big.bin".to_owned(), upload("u-1"))]);

    store.forget_upload(task, "big.bin").await.unwrap();
    assert_eq!(store.load_upload(task, "big.bin").await.unwrap(), None);
    assert!(store.task_uploads(task).await.unwrap().is_empty());
}

pub async fn test_part_journal_a_new_upload_replaces_the_old_and_its_late_parts(
    store: Arc<dyn TaskStore>,
) {
    let task = task_in(&store, TaskStatus::Migrating).await;
    store.begin_upload(task, "k", &upload("old")).await.unwrap();
    store.record_part(task, "k", "old", &part(1)).await.unwrap();
    let mut changed = upload("new");
    changed.source.etag = None;
    changed.source.modified_ms = None;
    store.begin_upload(task, "k", &changed).await.unwrap();
    // A part of the replaced upload finishing late must not join the new one.
    store.record_part(task, "k", "old", &part(2)).await.unwrap();
    assert_eq!(
        store.load_upload(task, "k").await.unwrap(),
        Some(changed.clone())
    );
    store.record_part(task, "k", "new", &part(3)).await.unwrap();
    assert_eq!(
        store.load_upload(task, "k").await.unwrap().unwrap().parts,
        vec![part(3)]
    );
    // A part of a key with no upload at all is dropped too.
    store
        .record_part(task, "none", "new", &part(1))
        .await
        .unwrap();
    assert_eq!(store.load_upload(task, "none").await.unwrap(), None);
}

pub async fn test_part_journal_rows_go_with_the_deleted_task(store: Arc<dyn TaskStore>) {
    let task = task_in(&store, TaskStatus::Paused).await;
    let kept = task_in(&store, TaskStatus::Paused).await;
    for id in [task, kept] {
        store.begin_upload(id, "k", &upload("u")).await.unwrap();
        store.record_part(id, "k", "u", &part(1)).await.unwrap();
    }
    store.delete_task(task).await.unwrap();
    assert_eq!(store.load_upload(task, "k").await.unwrap(), None);
    assert!(store.task_uploads(task).await.unwrap().is_empty());
    assert_eq!(
        store.load_upload(kept, "k").await.unwrap().unwrap().parts,
        vec![part(1)]
    );
}
