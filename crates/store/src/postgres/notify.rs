//! End-of-run notification records on PostgreSQL (`notifications`, migrations/postgres/0001).

use sqlx::postgres::PgRow;
use sqlx::Row;
use tern_core::{DeliveryState, Error, GroupId, Notification, NotifySubject, Result, TaskId};

use super::PgTaskStore;
use crate::error::db_error;

const SELECT_NOTIFICATIONS: &str = "SELECT task_id, group_id, ended_at_ms, topic_urn, body, \
     state, error_message, attempts FROM notifications ";

/// The subject's two nullable columns: (task_id, group_id).
fn subject_columns(subject: &NotifySubject) -> (Option<i64>, Option<&str>) {
    match subject {
        NotifySubject::Task(id) => (Some(id.0), None),
        NotifySubject::Group(id) => (None, Some(id.0.as_str())),
    }
}

fn notification_from_row(row: &PgRow) -> Result<Notification> {
    let read = || -> std::result::Result<_, sqlx::Error> {
        Ok((
            row.try_get::<Option<i64>, _>("task_id")?,
            row.try_get::<Option<String>, _>("group_id")?,
            row.try_get::<i64, _>("ended_at_ms")?,
            row.try_get::<String, _>("topic_urn")?,
            row.try_get::<String, _>("body")?,
            row.try_get::<String, _>("state")?,
            row.try_get::<String, _>("error_message")?,
            row.try_get::<i64, _>("attempts")?,
        ))
    };
    let (task_id, group_id, ended_at_ms, topic_urn, body, state, error_message, attempts) =
        read().map_err(db_error)?;
    let subject = match (task_id, group_id) {
        (Some(id), None) => NotifySubject::Task(TaskId(id)),
        (None, Some(id)) => NotifySubject::Group(GroupId(id)),
        _ => {
            return Err(Error::Internal(
                "notification row without one subject".into(),
            ))
        }
    };
    let state = DeliveryState::parse(&state)
        .ok_or_else(|| Error::Internal(format!("unknown notification state {state:?}")))?;
    Ok(Notification {
        subject,
        ended_at_ms,
        topic_urn,
        body,
        state,
        error_message,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    })
}

impl PgTaskStore {
    /// Inserts the record, replacing the subject's previous one.
    pub(super) async fn upsert_notification(&self, record: &Notification) -> Result<()> {
        let (task_id, group_id) = subject_columns(&record.subject);
        // One upsert on the subject's own unique column, so two nodes recording the same
        // subject at once replace rather than collide.
        let conflict = match record.subject {
            NotifySubject::Task(_) => "task_id",
            NotifySubject::Group(_) => "group_id",
        };
        let sql = format!(
            "INSERT INTO notifications (task_id, group_id, ended_at_ms, topic_urn, body, state, \
             error_message, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT ({conflict}) DO UPDATE SET ended_at_ms = excluded.ended_at_ms, \
             topic_urn = excluded.topic_urn, body = excluded.body, state = excluded.state, \
             error_message = excluded.error_message, attempts = excluded.attempts"
        );
        sqlx::query(&sql)
            .bind(task_id)
            .bind(group_id)
            .bind(record.ended_at_ms)
            .bind(&record.topic_urn)
            .bind(&record.body)
            .bind(record.state.as_str())
            .bind(&record.error_message)
            .bind(i64::from(record.attempts))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Updates the outcome of the record of one end, if it is still the subject's record.
    pub(super) async fn update_notification_outcome(
        &self,
        subject: &NotifySubject,
        ended_at_ms: i64,
        state: DeliveryState,
        error_message: &str,
        attempts: u32,
    ) -> Result<()> {
        let (task_id, group_id) = subject_columns(subject);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE notifications SET state = $1, error_message = $2, attempts = $3 \
             WHERE (task_id = $4 OR group_id = $5) AND ended_at_ms = $6",
        )
        .bind(state.as_str())
        .bind(error_message)
        .bind(i64::from(attempts))
        .bind(task_id)
        .bind(group_id)
        .bind(ended_at_ms)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    /// The subject's record.
    pub(super) async fn read_notification(
        &self,
        subject: &NotifySubject,
    ) -> Result<Option<Notification>> {
        let (task_id, group_id) = subject_columns(subject);
        let sql = format!("{SELECT_NOTIFICATIONS}WHERE task_id = $1 OR group_id = $2");
        let row = sqlx::query(&sql)
            .bind(task_id)
            .bind(group_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(notification_from_row).transpose()
    }

    /// Every pending record, oldest end first.
    pub(super) async fn read_pending_notifications(&self) -> Result<Vec<Notification>> {
        let sql = format!("{SELECT_NOTIFICATIONS}WHERE state = $1 ORDER BY ended_at_ms");
        let rows = sqlx::query(&sql)
            .bind(DeliveryState::Pending.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(notification_from_row).collect()
    }
}
