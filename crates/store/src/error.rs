//! Errors: this crate speaks [`tern_core::Error`], the error of the `TaskStore` trait it
//! implements, so it has no enum of its own; this module holds the one translation of database
//! failures and the checked integer conversions between domain `u64` and SQL `BIGINT`.

use tern_core::Error;

/// Translates a database failure into the core error kind callers act on.
///
/// Retryable conditions (busy, locked, I/O, connection loss, serialization failures) become
/// [`Error::Unavailable`]; anything else is [`Error::Internal`]. The decision reads the result
/// code (SQLite's extended code, or PostgreSQL's SQLSTATE) and never the message text.
pub(crate) fn db_error(err: sqlx::Error) -> Error {
    let retryable = match &err {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // Both code systems are digit strings ("5", "40001"), so the backend decides.
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse().is_ok_and(sqlite_code_is_retryable)
            } else {
                sqlstate_is_retryable(&code)
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    if retryable {
        tracing::warn!(error = %err, "database unavailable");
        Error::Unavailable(err.to_string())
    } else {
        tracing::error!(error = %err, "database error");
        Error::Internal(format!("database: {err}"))
    }
}

/// Tells whether a SQLite extended result code names a condition that may pass if retried.
fn sqlite_code_is_retryable(code: i32) -> bool {
    // Extended codes carry the primary code in the low byte.
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    const SQLITE_NOMEM: i32 = 7;
    const SQLITE_IOERR: i32 = 10;
    const SQLITE_FULL: i32 = 13;
    const SQLITE_CANTOPEN: i32 = 14;
    const SQLITE_PROTOCOL: i32 = 15;
    matches!(
        code & 0xff,
        SQLITE_BUSY
            | SQLITE_LOCKED
            | SQLITE_NOMEM
            | SQLITE_IOERR
            | SQLITE_FULL
            | SQLITE_CANTOPEN
            | SQLITE_PROTOCOL
    )
}

/// Tells whether a PostgreSQL SQLSTATE names a condition that may pass if retried: connection
/// exceptions (08), serialization failure and deadlock (40), insufficient resources (53),
/// operator intervention such as shutdown (57), lock not available (55P03).
fn sqlstate_is_retryable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("40")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "55P03"
}

/// Converts a domain count or size into a SQL `BIGINT`.
pub(crate) fn to_db(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::invalid(what, format!("{value} is too large")))
}

/// Converts a stored `BIGINT` back into a domain count or size.
pub(crate) fn from_db(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Internal(format!("stored {what} is negative")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sqlite_busy_locked_and_ioerr_are_retryable() {
        assert!(sqlite_code_is_retryable(5)); // SQLITE_BUSY
        assert!(sqlite_code_is_retryable(517)); // SQLITE_BUSY_SNAPSHOT
        assert!(sqlite_code_is_retryable(6)); // SQLITE_LOCKED
        assert!(sqlite_code_is_retryable(266)); // SQLITE_IOERR_READ
        assert!(!sqlite_code_is_retryable(1555)); // SQLITE_CONSTRAINT_PRIMARYKEY
        assert!(!sqlite_code_is_retryable(11)); // SQLITE_CORRUPT
    }

    #[test]
    fn test_sqlstate_classes() {
        assert!(sqlstate_is_retryable("08006"));
        assert!(sqlstate_is_retryable("40001"));
        assert!(sqlstate_is_retryable("55P03"));
        assert!(!sqlstate_is_retryable("23505"));
        assert!(!sqlstate_is_retryable("42P01"));
    }

    #[test]
    fn test_pool_timeout_is_unavailable() {
        let mapped = db_error(sqlx::Error::PoolTimedOut);
        assert!(matches!(mapped, Error::Unavailable(_)));
        let mapped = db_error(sqlx::Error::RowNotFound);
        assert!(matches!(mapped, Error::Internal(_)));
    }

    #[tokio::test]
    async fn test_real_sqlite_busy_error_is_unavailable() {
        use sqlx::sqlite::SqliteConnectOptions;
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("busy.db"))
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        let mut holder = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let mut waiter = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        let err = waiter.execute("BEGIN IMMEDIATE").await.unwrap_err();
        assert!(matches!(db_error(err), Error::Unavailable(_)));
        let err = waiter
            .execute("SELECT * FROM no_such_table")
            .await
            .unwrap_err();
        assert!(matches!(db_error(err), Error::Internal(_)));
    }

    #[test]
    fn test_integer_conversions_check_range() {
        assert_eq!(to_db(7, "size"), Ok(7));
        assert!(to_db(u64::MAX, "size").is_err());
        assert_eq!(from_db(7, "size"), Ok(7));
        assert!(from_db(-1, "size").is_err());
    }
}
