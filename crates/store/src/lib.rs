//! tern's persistence: the [`TaskStore`] of `tern-core` on sqlx.
//!
//! This crate owns the database: schema migrations per backend (`migrations/<backend>/`), the
//! tables of tokens, credentials, tasks, sealed task secrets, the per-object ledger, task groups
//! and their sealed secrets, sync tasks with their durable event queue and statistics, the
//! sealing key (`<data_dir>/seal.key` or `TERN_SEAL_KEY`), and the translation of database
//! errors into core errors. It is the only crate that imports sqlx; it depends on `tern-core`
//! alone among tern's crates, and callers see it only as `Arc<dyn TaskStore>`.
//!
//! Backends: SQLite (the default, an embedded file in the data dir). PostgreSQL, for several
//! nodes sharing the work, is not built yet; its URL is refused with a clear error.

mod error;
mod migrations;
mod perms;
mod rows;
mod seal;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use tern_core::{Error, Result, SyncStore, TaskStore};

pub use seal::{SEAL_KEY_ENV, SEAL_KEY_FILE};
pub use sqlite::{SqliteTaskStore, DB_FILE};

/// Opens the store as [`open`] does, seen both as the [`TaskStore`] and as the [`SyncStore`]
/// (one database, one seal key).
pub async fn open_with_sync(
    database_url: Option<&str>,
    data_dir: &Path,
) -> Result<(Arc<dyn TaskStore>, Arc<dyn SyncStore>)> {
    // Refuses what `open` refuses, with the same errors.
    let store = match database_url {
        None => Arc::new(SqliteTaskStore::open(data_dir).await?),
        Some(url) if url.starts_with("sqlite:") => {
            Arc::new(SqliteTaskStore::open_url(url, data_dir).await?)
        }
        Some(url) => {
            open(Some(url), data_dir).await?;
            return Err(Error::Internal("unreachable database scheme".into()));
        }
    };
    Ok((store.clone(), store))
}

/// Opens the store a database URL names: SQLite in `data_dir` when `None`, the SQLite file a
/// `sqlite:` URL names, or an error for PostgreSQL (not built yet) and unknown schemes. The
/// seal key always lives in (or is created in) `data_dir` unless `TERN_SEAL_KEY` is set.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn TaskStore>> {
    match database_url {
        None => Ok(Arc::new(SqliteTaskStore::open(data_dir).await?)),
        Some(url) if url.starts_with("sqlite:") => {
            Ok(Arc::new(SqliteTaskStore::open_url(url, data_dir).await?))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Err(
            Error::invalid("database", "PostgreSQL support is not built yet"),
        ),
        Some(url) => {
            let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
            Err(Error::invalid(
                "database",
                format!("unsupported database URL scheme {scheme:?}; use sqlite: or postgres://"),
            ))
        }
    }
}
