//! The `TaskStore` contract on SQLite, plus what only a file-backed store can show: nothing
//! secret in the raw files, persistence across reopening, the seal key file and its check,
//! URL dispatch.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns unwrap to fail loudly"
)]

#[macro_use]
mod contract;

use std::path::Path;
use std::sync::Arc;

use tern_core::{
    ErrorKind, GroupEvent, GroupStatus, OutcomeBatch, Secret, SplitProgress, SyncStore, TaskEvent,
    TaskStore,
};
use tern_store::{SqliteTaskStore, DB_FILE, SEAL_KEY_FILE};

use contract::sync::{sync_claim, SYNC_NODE};
use contract::{
    create, failed, group_in, group_spec, secrets, skipped, spec, succeeded, NOW, PROJECT,
};

/// A fresh SQLite store in its own temporary data dir (the guard deletes it).
async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn TaskStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTaskStore::open(dir.path()).await.unwrap();
    (dir, Arc::new(store))
}

contract_tests!(sqlite_store);

/// The same store seen as the [`SyncStore`].
async fn sqlite_sync_store() -> (tempfile::TempDir, Arc<dyn SyncStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTaskStore::open(dir.path()).await.unwrap();
    (dir, Arc::new(store))
}

sync_contract_tests!(sqlite_sync_store);

#[tokio::test]
async fn test_sync_events_survive_reopening_and_claims_return() {
    let dir = tempfile::tempdir().unwrap();
    let first: Arc<dyn SyncStore> = Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap());
    let task = first
        .create_sync_task(
            PROJECT,
            &contract::sync::sync_spec("src"),
            &secrets("k"),
            NOW,
        )
        .await
        .unwrap();
    first
        .accept_sync_events(&task.id, &["x".to_owned(), "y".to_owned()], NOW)
        .await
        .unwrap();
    assert_eq!(
        first
            .claim_sync_events(&task.id, &sync_claim(), 1, NOW)
            .await
            .unwrap()
            .len(),
        1
    );
    // The process dies holding a claim: nothing resolves it.
    drop(first);
    let reopened: Arc<dyn SyncStore> = Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap());
    assert_eq!(reopened.pending_sync_events(&task.id).await.unwrap(), 2);
    assert_eq!(
        reopened
            .claim_sync_events(&task.id, &sync_claim(), 10, NOW)
            .await
            .unwrap()
            .len(),
        1
    );
    reopened.release_sync_events(None, SYNC_NODE).await.unwrap();
    let claimed = reopened
        .claim_sync_events(&task.id, &sync_claim(), 10, NOW)
        .await
        .unwrap();
    let mut keys: Vec<&str> = claimed.iter().map(|event| event.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["x", "y"]);
    assert_eq!(
        reopened.sync_secrets(&task.id).await.unwrap(),
        Some(secrets("k"))
    );
}

/// Every byte of the database file and its WAL and shared-memory companions.
fn raw_database_bytes(data_dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = data_dir.join(format!("{DB_FILE}{suffix}"));
        if let Ok(content) = std::fs::read(&path) {
            bytes.extend_from_slice(&content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn test_secrets_never_reach_the_files_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn TaskStore> = Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap());
    let marker = format!("SECRET-MARKER-{}", std::process::id());
    let visible = format!("VISIBLE-CONTROL-{}", std::process::id());
    let mut described = spec("sealed");
    described.description = visible.clone();
    let task = store
        .create_task(PROJECT, &described, &secrets(&marker), NOW)
        .await
        .unwrap();
    store
        .put_credential(PROJECT, "AKSEALED", &Secret::new(format!("sk-{marker}")))
        .await
        .unwrap();
    contract::apply(&store, task.id, TaskEvent::Fail)
        .await
        .unwrap();
    store
        .start_task(task.id, &secrets(&format!("{marker}-restart")), false, NOW)
        .await
        .unwrap();
    let mut grouped = group_spec("sealed-group");
    grouped.description = format!("{visible}-group");
    let group = store
        .create_group(PROJECT, &grouped, &secrets(&format!("{marker}-group")), NOW)
        .await
        .unwrap()
        .id;
    store
        .group_transition(&group, GroupEvent::Stop, NOW)
        .await
        .unwrap();
    store
        .group_transition(&group, GroupEvent::Stopped, NOW)
        .await
        .unwrap();
    store
        .start_group(&group, &secrets(&format!("{marker}-group-start")), NOW)
        .await
        .unwrap();
    let group_task = store
        .create_group_task(
            &group,
            &spec("slice"),
            &secrets(&format!("{marker}-group-task")),
            &SplitProgress::default(),
            NOW,
        )
        .await
        .unwrap();

    let raw = raw_database_bytes(dir.path());
    assert!(
        contains(&raw, &format!("{visible}-group")),
        "group rows too"
    );
    assert!(contains(&raw, &visible), "the grep sees plain columns");
    assert!(
        !contains(&raw, &marker),
        "no secret in tern.db, -wal or -shm"
    );
    assert_eq!(
        store.secrets(task.id).await.unwrap(),
        Some(secrets(&format!("{marker}-restart")))
    );
    let (_, secret_key) = store.credential("AKSEALED").await.unwrap().unwrap();
    assert_eq!(secret_key.expose(), format!("sk-{marker}"));
    assert_eq!(
        store.group_secrets(&group).await.unwrap(),
        Some(secrets(&format!("{marker}-group-start")))
    );
    assert_eq!(
        store.secrets(group_task.id).await.unwrap(),
        Some(secrets(&format!("{marker}-group-task")))
    );

    drop(store);
    let reopened = SqliteTaskStore::open(dir.path()).await.unwrap();
    reopened.close().await;
    let raw = raw_database_bytes(dir.path());
    assert!(contains(&raw, &visible));
    assert!(!contains(&raw, &marker), "not after a checkpoint either");
}

#[tokio::test]
async fn test_reopening_the_data_dir_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteTaskStore::open(dir.path()).await.unwrap();
    first.put_token(PROJECT, "tokenhash").await.unwrap();
    first
        .put_credential(PROJECT, "AKID", &Secret::new("sk"))
        .await
        .unwrap();
    let store: Arc<dyn TaskStore> = Arc::new(first);
    let running = create(&store, "persist", NOW).await.id;
    let waiting = create(&store, "waiting", NOW + 1).await.id;
    let claimed = store
        .claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.task.id, running);
    let batch = OutcomeBatch {
        fence: None,
        listed_num: 3,
        listed_size: 6,
        outcomes: vec![succeeded("a", 1), skipped("b", 2), failed("c", 3, "x")],
        checkpoint: Some("c".into()),
        is_query_over: true,
        migrate_speed: 5,
        left_time_ms: 7,
    };
    store.record_batch(running, &batch).await.unwrap();
    let group = group_in(&store, GroupStatus::Creating).await;
    let split = SplitProgress {
        last_key: Some("p/0100".into()),
        task_num: 1,
        ..SplitProgress::default()
    };
    let group_task = store
        .create_group_task(&group, &spec("slice"), &secrets("gt"), &split, NOW + 2)
        .await
        .unwrap()
        .id;
    let before = (
        store.get_task(running).await.unwrap(),
        store.get_task(waiting).await.unwrap(),
        store.get_group(&group).await.unwrap(),
        store.get_task(group_task).await.unwrap(),
    );
    drop(store);

    let store: Arc<dyn TaskStore> = Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap());
    let after = (
        store.get_task(running).await.unwrap(),
        store.get_task(waiting).await.unwrap(),
        store.get_group(&group).await.unwrap(),
        store.get_task(group_task).await.unwrap(),
    );
    assert_eq!(after, before);
    assert_eq!(after.2.map(|g| g.split), Some(split));
    assert_eq!(
        store.group_secrets(&group).await.unwrap(),
        Some(secrets("g"))
    );
    assert_eq!(store.secrets(running).await.unwrap(), Some(secrets("m")));
    assert_eq!(
        store
            .project_for_token("tokenhash")
            .await
            .unwrap()
            .as_deref(),
        Some(PROJECT)
    );
    let (_, secret_key) = store.credential("AKID").await.unwrap().unwrap();
    assert_eq!(secret_key.expose(), "sk");
    let resumable = store
        .tasks_in_status(&[tern_core::TaskStatus::Migrating])
        .await
        .unwrap();
    assert_eq!(resumable.len(), 1);
    assert_eq!(resumable[0].checkpoint.as_deref(), Some("c"));
    assert_eq!(
        store
            .claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW)
            .await
            .unwrap()
            .map(|claimed| claimed.task)
            .map(|t| t.id),
        Some(waiting)
    );
}

#[tokio::test]
async fn test_stored_counters_equal_group_by_recount() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap());
    let dyn_store: Arc<dyn TaskStore> = store.clone();
    contract::check_counters_against_recount(&dyn_store, |id| {
        let store = Arc::clone(&store);
        async move { store.ledger_counters(id).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn test_a_different_seal_key_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTaskStore::open(dir.path()).await.unwrap();
    let task = store
        .create_task(PROJECT, &spec("k"), &secrets("m"), NOW)
        .await
        .unwrap();
    store.close().await;
    let key_path = dir.path().join(SEAL_KEY_FILE);
    let original = std::fs::read(&key_path).unwrap();
    std::fs::write(&key_path, format!("{}\n", "ab".repeat(32))).unwrap();
    let err = SqliteTaskStore::open(dir.path()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("TERN_SEAL_KEY"), "{err}");
    assert!(
        err.to_string().contains(&key_path.display().to_string()),
        "names the key file: {err}"
    );
    // The original key opens the database and its secrets again.
    std::fs::write(&key_path, original).unwrap();
    let store = SqliteTaskStore::open(dir.path()).await.unwrap();
    assert_eq!(store.secrets(task.id).await.unwrap(), Some(secrets("m")));
}

#[tokio::test]
async fn test_open_dispatches_on_the_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let store = tern_store::open(None, dir.path()).await.unwrap();
    let id = create(&store, "url", NOW).await.id;
    drop(store);
    let url = format!("sqlite://{}", dir.path().join(DB_FILE).display());
    let store = tern_store::open(Some(&url), dir.path()).await.unwrap();
    assert!(store.get_task(id).await.unwrap().is_some(), "same file");

    let other = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", other.path().join("elsewhere.db").display());
    let store = tern_store::open(Some(&url), other.path()).await.unwrap();
    assert_eq!(store.get_task(id).await.unwrap(), None);
    assert!(other.path().join("elsewhere.db").exists());

    // postgres:// URLs: tests/postgres.rs.
    let err = tern_store::open(Some("mysql://x"), dir.path())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_stores_on_one_file_claim_each_task_once() {
    // Two stores share no in-process lock, so this races SQLite's own write lock
    // (BEGIN IMMEDIATE + busy timeout), as two processes on one data dir would.
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<dyn TaskStore>> = vec![
        Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap()),
        Arc::new(SqliteTaskStore::open(dir.path()).await.unwrap()),
    ];
    let mut created = std::collections::HashSet::new();
    for index in 0..8 {
        created.insert(
            create(&stores[0], &format!("shared-{index}"), NOW + index)
                .await
                .id,
        );
    }
    let racers: Vec<_> = (0..12)
        .map(|index| {
            let store = Arc::clone(&stores[index % 2]);
            tokio::spawn(async move {
                store
                    .claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW)
                    .await
                    .unwrap()
                    .map(|claimed| claimed.task)
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for racer in racers {
        claimed.extend(racer.await.unwrap().map(|task| task.id));
    }
    assert_eq!(claimed.len(), 8);
    assert_eq!(
        claimed
            .into_iter()
            .collect::<std::collections::HashSet<_>>(),
        created
    );
}

/// The data dir is 0700 and every file in it 0600, also when the dir and the database were
/// left looser by someone else (umask 022 made them 0755 / 0644 before).
#[cfg(unix)]
#[tokio::test]
async fn test_data_dir_and_database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for round in 0..2 {
        let store = SqliteTaskStore::open(&dir).await.unwrap();
        store
            .put_token("p", &format!("digest-{round}"))
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        let names: Vec<String> = files
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for expected in [DB_FILE, SEAL_KEY_FILE, "tern.db-wal", "tern.db-shm"] {
            assert!(
                names.iter().any(|name| name == expected),
                "{expected} in {names:?}"
            );
        }
        assert_eq!(mode(&dir), 0o700, "data dir, round {round}");
        for path in &files {
            assert_eq!(mode(path), 0o600, "{}, round {round}", path.display());
        }
        store.close().await;
        // Loosen everything, as an older tern or a careless copy would leave it.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for path in &files {
            if path.exists() {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
    }
}
