//! The `TaskStore` and `SyncStore` contracts on PostgreSQL (a throwaway cluster from the test
//! kit, a fresh database per test), plus what only a shared database can show: several nodes
//! (stores) on one database, the seal key check, bytewise keys under a linguistic default
//! collation, nothing secret in the rows, URL dispatch.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns unwrap to fail loudly"
)]

#[macro_use]
mod contract;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use sqlx::{Connection as _, PgConnection};
use tern_core::{ErrorKind, OutcomeBatch, Secret, SyncStore, TaskEvent, TaskStore};
use tern_store::{PgTaskStore, SEAL_KEY_FILE};
use tern_testkit::PostgresServer;

use contract::{create, secrets, spec, succeeded, NOW, PROJECT};

/// What a test holds while its store lives: the data dir with the node's seal key.
type Guard = tempfile::TempDir;

/// A fresh database on the shared cluster, by URL.
async fn new_database(prefix: &str) -> String {
    let server = PostgresServer::shared().await.unwrap();
    server.new_database(prefix).await.unwrap()
}

/// A store on a fresh database, with its own data dir (and so its own seal key file).
async fn pg_store() -> (Guard, Arc<dyn TaskStore>) {
    let url = new_database("contract").await;
    let dir = tempfile::tempdir().unwrap();
    let store = PgTaskStore::connect(&url, dir.path()).await.unwrap();
    (dir, Arc::new(store))
}

contract_tests!(pg_store);

/// The same store seen as the [`SyncStore`].
async fn pg_sync_store() -> (Guard, Arc<dyn SyncStore>) {
    let url = new_database("sync_contract").await;
    let dir = tempfile::tempdir().unwrap();
    let store = PgTaskStore::connect(&url, dir.path()).await.unwrap();
    (dir, Arc::new(store))
}

sync_contract_tests!(pg_sync_store);

/// A data dir holding a copy of `from`'s seal key: another node sharing the key.
fn same_key_dir(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(from.join(SEAL_KEY_FILE), dir.path().join(SEAL_KEY_FILE)).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_nodes_with_one_key_share_everything_and_another_key_is_refused() {
    let url = new_database("seal_check").await;
    let first_dir = tempfile::tempdir().unwrap();
    let first: Arc<dyn TaskStore> =
        Arc::new(PgTaskStore::connect(&url, first_dir.path()).await.unwrap());
    let task = create(&first, "shared", NOW).await;
    first
        .put_credential(PROJECT, "AKSHARED", &Secret::new("sk-shared"))
        .await
        .unwrap();

    // A second node with the same key sees the task, its secrets and the credential.
    let second_dir = same_key_dir(first_dir.path());
    let second: Arc<dyn TaskStore> =
        Arc::new(PgTaskStore::connect(&url, second_dir.path()).await.unwrap());
    assert_eq!(second.get_task(task.id).await.unwrap(), Some(task.clone()));
    assert_eq!(second.secrets(task.id).await.unwrap(), Some(secrets("m")));
    let (project, secret_key) = second.credential("AKSHARED").await.unwrap().unwrap();
    assert_eq!(
        (project.as_str(), secret_key.expose()),
        (PROJECT, "sk-shared")
    );

    // A node with a key of its own refuses to start, naming the variable to fix.
    let stranger_dir = tempfile::tempdir().unwrap();
    let err = PgTaskStore::connect(&url, stranger_dir.path())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let message = err.to_string();
    assert!(message.contains("TERN_SEAL_KEY"), "{message}");
    assert!(message.contains("cannot open this database"), "{message}");
    assert!(
        message.contains(&stranger_dir.path().display().to_string()),
        "names where the key came from: {message}"
    );
    // The refused node wrote nothing: the first node's key still opens everything.
    assert_eq!(first.secrets(task.id).await.unwrap(), Some(secrets("m")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_nodes_starting_together_on_a_fresh_database_agree() {
    let url = new_database("fresh").await;
    let key_dir = tempfile::tempdir().unwrap();
    // Write the key first so all three nodes share it.
    std::fs::write(
        key_dir.path().join(SEAL_KEY_FILE),
        format!("{}\n", "5a".repeat(32)),
    )
    .unwrap();
    let dirs: Vec<_> = (0..3).map(|_| same_key_dir(key_dir.path())).collect();
    let starts: Vec<_> = dirs
        .iter()
        .map(|dir| {
            let url = url.clone();
            let path = dir.path().to_path_buf();
            tokio::spawn(async move { PgTaskStore::connect(&url, &path).await })
        })
        .collect();
    let mut stores: Vec<Arc<dyn TaskStore>> = Vec::new();
    for start in starts {
        stores.push(Arc::new(start.await.unwrap().unwrap()));
    }
    // Each migrated nothing twice and each reads what another wrote.
    let id = create(&stores[0], "together", NOW).await.id;
    for store in &stores {
        assert_eq!(store.secrets(id).await.unwrap(), Some(secrets("m")));
    }
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // Every migration file applied once although three nodes raced.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(migrations, i64::try_from(files).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_nodes_claim_each_task_once() {
    let url = new_database("two_nodes").await;
    let first_dir = tempfile::tempdir().unwrap();
    let second_dir = {
        // The first connect creates the key; the second node copies it.
        let store = PgTaskStore::connect(&url, first_dir.path()).await.unwrap();
        store.close().await;
        same_key_dir(first_dir.path())
    };
    let nodes: Vec<Arc<dyn TaskStore>> = vec![
        Arc::new(PgTaskStore::connect(&url, first_dir.path()).await.unwrap()),
        Arc::new(PgTaskStore::connect(&url, second_dir.path()).await.unwrap()),
    ];
    let mut created = HashSet::new();
    for index in 0..20 {
        created.insert(
            create(&nodes[index % 2], &format!("n-{index}"), NOW + index as i64)
                .await
                .id,
        );
    }
    let racers: Vec<_> = (0..30)
        .map(|index| {
            let node = Arc::clone(&nodes[index % 2]);
            tokio::spawn(async move {
                node.claim_next_runnable(&tern_core::LeaseTerms::new("node-a"), NOW)
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
    assert_eq!(claimed.len(), 20, "every task claimed");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_stored_counters_equal_group_by_recount() {
    let url = new_database("recount").await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(PgTaskStore::connect(&url, dir.path()).await.unwrap());
    let dyn_store: Arc<dyn TaskStore> = store.clone();
    contract::check_counters_against_recount(&dyn_store, |id| {
        let store = Arc::clone(&store);
        async move { store.ledger_counters(id).await.unwrap() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_keys_compare_bytewise_under_a_linguistic_default_collation() {
    let url = new_database("collation").await;
    let mut conn = PgConnection::connect(&url).await.unwrap();
    // The cluster's own order is linguistic: it would put "a" before "B" and "é" before "z".
    let linguistic: (bool, bool) = sqlx::query_as("SELECT 'a' < 'B', 'é' < 'z'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        linguistic,
        (true, true),
        "the test cluster must not sort bytewise"
    );

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn TaskStore> = Arc::new(PgTaskStore::connect(&url, dir.path()).await.unwrap());
    let id = create(&store, "collation", NOW).await.id;
    store.transition(id, TaskEvent::Claim, NOW).await.unwrap();
    let keys = ["é", "z", "a", "B", "_", "a-b", "a/b", "Z"];
    let batch = OutcomeBatch {
        outcomes: keys.iter().map(|key| succeeded(key, 1)).collect(),
        ..OutcomeBatch::default()
    };
    store.record_batch(id, &batch).await.unwrap();
    let page = store
        .ledger_page(id, tern_core::OutcomeKind::Succeeded, Some("Z"), 100)
        .await
        .unwrap();
    let seen: Vec<&str> = page.iter().map(|entry| entry.key.as_str()).collect();
    // UTF-8 byte order, as S3 lists: "Z" (0x5A) < "_" (0x5F) < "a" < "a-b" < "a/b" < "z" < "é".
    assert_eq!(seen, ["_", "a", "a-b", "a/b", "z", "é"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_secrets_never_reach_the_rows_in_clear() {
    let url = new_database("sealed").await;
    let dir = tempfile::tempdir().unwrap();
    let store = PgTaskStore::connect(&url, dir.path()).await.unwrap();
    let store: Arc<dyn TaskStore> = Arc::new(store);
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
    let group = store
        .create_group(
            PROJECT,
            &contract::group_spec("sealed-group"),
            &secrets(&format!("{marker}-group")),
            NOW,
        )
        .await
        .unwrap();

    // Every row of every table of ours, as text (BYTEA shows as hex, so also look for the
    // marker's hex form).
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    let mut dump = String::new();
    for table in &tables {
        let rows: Option<String> =
            sqlx::query_scalar(&format!("SELECT string_agg(t::text, ' ') FROM {table} t"))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        dump.push_str(&rows.unwrap_or_default());
    }
    assert!(dump.contains(&visible), "the dump sees plain columns");
    assert!(!dump.contains(&marker), "no secret in clear");
    assert!(!dump.contains(&hex::encode(&marker)), "nor in a BYTEA");
    assert_eq!(
        store.secrets(task.id).await.unwrap(),
        Some(secrets(&marker))
    );
    assert_eq!(
        store.group_secrets(&group.id).await.unwrap(),
        Some(secrets(&format!("{marker}-group")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_open_dispatches_postgres_urls_and_keeps_data_across_reconnects() {
    let url = new_database("dispatch").await;
    let dir = tempfile::tempdir().unwrap();
    let (store, sync_store) = tern_store::open_with_sync(Some(&url), dir.path())
        .await
        .unwrap();
    let id = create(&store, "dispatch", NOW).await.id;
    let sync_task = sync_store
        .create_sync_task(
            PROJECT,
            &contract::sync::sync_spec("src"),
            &secrets("s"),
            NOW,
        )
        .await
        .unwrap();
    drop((store, sync_store));

    let alias = url.replacen("postgres://", "postgresql://", 1);
    let store = tern_store::open(Some(&alias), dir.path()).await.unwrap();
    assert_eq!(store.secrets(id).await.unwrap(), Some(secrets("m")));
    let (_, sync_store) = tern_store::open_with_sync(Some(&url), dir.path())
        .await
        .unwrap();
    assert_eq!(
        sync_store.get_sync_task(&sync_task.id).await.unwrap(),
        Some(sync_task)
    );

    let err = tern_store::open(Some("postgres://u@127.0.0.1:notaport/db"), dir.path())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_an_unreachable_database_is_unavailable_naming_the_address() {
    // A port nothing listens on: the testkit hands out free ports.
    let port = tern_testkit::free_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://tern@127.0.0.1:{port}/tern");
    let err = tern_store::open(Some(&url), dir.path())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
