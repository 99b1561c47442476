//! tern's persistence: the [`TaskStore`] of `tern-core` on sqlx.
//!
//! This crate owns the database: schema migrations per backend (`migrations/<backend>/`), the
//! tables of tokens, credentials, tasks, sealed task secrets, the per-object ledger, task groups
//! and their sealed secrets, sync tasks with their durable event queue and statistics, the
//! sealing key (`<data_dir>/seal.key` or `TERN_SEAL_KEY`), and the translation of database
//! errors into core errors. It is the only crate that imports sqlx; it depends on `tern-core`
//! alone among tern's crates, and callers see it only as `Arc<dyn TaskStore>`.
//!
//! Backends: SQLite (the default, an embedded file in the data dir) and PostgreSQL (several
//! nodes sharing the work, `postgres://` URLs). Either refuses to open with a seal key that
//! cannot open the database's sealed secrets (a check value stored at first open).

mod error;
mod ledger_batch;
mod migrations;
mod perms;
mod postgres;
mod rows;
mod seal;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use tern_core::{Error, Result, SyncStore, TaskStore};

pub use postgres::PgTaskStore;
pub use seal::{SEAL_KEY_ENV, SEAL_KEY_FILE};
pub use sqlite::{SqliteTaskStore, DB_FILE};

/// The backend a database URL names.
enum Backend<'a> {
    /// SQLite in the data dir.
    EmbeddedSqlite,
    /// The SQLite file a `sqlite:` URL names.
    Sqlite(&'a str),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(&'a str),
}

/// Picks the backend from the URL's scheme; an unknown scheme is refused naming it.
fn backend(database_url: Option<&str>) -> Result<Backend<'_>> {
    match database_url {
        None => Ok(Backend::EmbeddedSqlite),
        Some(url) if url.starts_with("sqlite:") => Ok(Backend::Sqlite(url)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Backend::Postgres(url))
        }
        Some(url) => {
            let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
            Err(Error::invalid(
                "database",
                format!("unsupported database URL scheme {scheme:?}; use sqlite: or postgres://"),
            ))
        }
    }
}

/// Opens the store as [`open`] does, seen both as the [`TaskStore`] and as the [`SyncStore`]
/// (one database, one seal key).
pub async fn open_with_sync(
    database_url: Option<&str>,
    data_dir: &Path,
) -> Result<(Arc<dyn TaskStore>, Arc<dyn SyncStore>)> {
    Ok(match backend(database_url)? {
        Backend::EmbeddedSqlite => both(SqliteTaskStore::open(data_dir).await?),
        Backend::Sqlite(url) => both(SqliteTaskStore::open_url(url, data_dir).await?),
        Backend::Postgres(url) => both(PgTaskStore::connect(url, data_dir).await?),
    })
}

fn both<S: TaskStore + SyncStore + 'static>(store: S) -> (Arc<dyn TaskStore>, Arc<dyn SyncStore>) {
    let store = Arc::new(store);
    (store.clone(), store)
}

/// Opens the store a database URL names: SQLite in `data_dir` when `None`, the SQLite file a
/// `sqlite:` URL names, or the PostgreSQL database a `postgres://` URL names; other schemes are
/// refused. The seal key comes from `TERN_SEAL_KEY`, else lives in (or is created in)
/// `data_dir`.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn TaskStore>> {
    open_with_sync(database_url, data_dir)
        .await
        .map(|(store, _)| store)
}
