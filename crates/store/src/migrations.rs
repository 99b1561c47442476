//! Numbered schema migrations per backend, embedded in the binary and run by sqlx's migrator
//! (its `_sqlx_migrations` table records what ran, with checksums). They are listed here by
//! hand because `sqlx::migrate!` needs sqlx's `macros` feature, which would build the SQLite
//! driver a second time for the host.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use tern_core::Error;

use crate::error::db_error;

/// SQLite migrations: (version, description, SQL), in order. Never edit one that shipped.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "groups",
        include_str!("../migrations/sqlite/0002_groups.sql"),
    ),
    (
        3,
        "sync",
        include_str!("../migrations/sqlite/0003_sync.sql"),
    ),
    (
        4,
        "notify",
        include_str!("../migrations/sqlite/0004_notify.sql"),
    ),
    (
        5,
        "privacy",
        include_str!("../migrations/sqlite/0005_privacy.sql"),
    ),
    (
        6,
        "seal check",
        include_str!("../migrations/sqlite/0006_seal_check.sql"),
    ),
    (
        7,
        "leases",
        include_str!("../migrations/sqlite/0007_leases.sql"),
    ),
    (
        8,
        "part journal",
        include_str!("../migrations/sqlite/0008_part_journal.sql"),
    ),
    (
        9,
        "compact ledger",
        include_str!("../migrations/sqlite/0009_compact_ledger.sql"),
    ),
    (
        10,
        "sync claims",
        include_str!("../migrations/sqlite/0010_sync_claims.sql"),
    ),
];

/// PostgreSQL migrations, numbered on their own: 0001 is SQLite's 0001..0006 in one step.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "leases",
        include_str!("../migrations/postgres/0002_leases.sql"),
    ),
    (
        3,
        "part journal",
        include_str!("../migrations/postgres/0003_part_journal.sql"),
    ),
    (
        4,
        "compact ledger",
        include_str!("../migrations/postgres/0004_compact_ledger.sql"),
    ),
    (
        5,
        "sync claims",
        include_str!("../migrations/postgres/0005_sync_claims.sql"),
    ),
];

/// A fixed list of migrations compiled into the binary.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// Brings a SQLite database up to the newest schema.
pub(crate) async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), Error> {
    migrator(SQLITE)
        .await?
        .run(pool)
        .await
        .map_err(migrate_error)
}

/// Brings a PostgreSQL database up to the newest schema. sqlx holds an advisory lock while it
/// migrates, so nodes starting together apply each migration once.
pub(crate) async fn migrate_postgres(pool: &sqlx::PgPool) -> Result<(), Error> {
    migrator(POSTGRES)
        .await?
        .run(pool)
        .await
        .map_err(migrate_error)
}

async fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Result<Migrator, Error> {
    Migrator::new(Embedded(list))
        .await
        .map_err(|err| Error::Internal(format!("loading migrations: {err}")))
}

fn migrate_error(err: sqlx::migrate::MigrateError) -> Error {
    match err {
        sqlx::migrate::MigrateError::Execute(err) => db_error(err),
        other => Error::Internal(format!("migrating the database: {other}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    /// SQLite 0009 carries every ledger row over: kind words become codes, details become
    /// word ids, and nothing else changes.
    #[tokio::test]
    async fn test_compact_ledger_migration_keeps_every_row() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let before = SQLITE.iter().position(|m| m.0 == 9).unwrap();
        Migrator::new(Embedded(&SQLITE[..before]))
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let rows = [
            (7_i64, "a/1", 10_i64, "succeeded", "crc64", "", Some(-5_i64)),
            (7, "a/2", 20, "skipped", "unchanged", "", None),
            (7, "a/3", 30, "failed", "TRF.0061", "disk full", None),
            (8, "a/1", 40, "succeeded", "crc64", "", Some(6)),
        ];
        for (task, key, size, kind, detail, message, crc) in rows {
            sqlx::query(
                "INSERT INTO ledger (task_id, key, size, kind, detail, message, crc64) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(task)
            .bind(key)
            .bind(size)
            .bind(kind)
            .bind(detail)
            .bind(message)
            .bind(crc)
            .execute(&pool)
            .await
            .unwrap();
        }
        migrate_sqlite(&pool).await.unwrap();
        type Row = (i64, String, i64, i64, String, String, Option<i64>);
        let migrated: Vec<Row> = sqlx::query_as(
            "SELECT l.task_id, l.key, l.size, l.kind, w.word, l.message, l.crc64 \
             FROM ledger l JOIN ledger_words w ON w.id = l.detail_id ORDER BY l.task_id, l.key",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected: Vec<Row> = rows
            .iter()
            .map(|&(task, key, size, kind, detail, message, crc)| {
                let code = match kind {
                    "succeeded" => 0,
                    "skipped" => 1,
                    _ => 2,
                };
                let text = |s: &str| s.to_owned();
                (
                    task,
                    text(key),
                    size,
                    code,
                    text(detail),
                    text(message),
                    crc,
                )
            })
            .collect();
        assert_eq!(migrated, expected);
        let words: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_words")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(words, 3, "each distinct detail is stored once");
    }
}
