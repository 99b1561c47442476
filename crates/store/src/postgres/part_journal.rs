//! The checkpoint of multipart uploads in progress on PostgreSQL (RFC 0012): one row per upload,
//! one per finished part.

use async_trait::async_trait;
use tern_core::{DonePart, PartJournal, Result, SourceVersion, TaskId, UploadCheckpoint};

use super::PgTaskStore;
use crate::error::{db_error, from_db};

/// `multipart_uploads` columns after `key`, as read.
type UploadRow = (String, String, i64, Option<String>, i64, Option<i64>);

fn checkpoint(row: UploadRow, parts: Vec<DonePart>) -> Result<UploadCheckpoint> {
    let (upload_id, dst_key, part_size, etag, size, modified_ms) = row;
    Ok(UploadCheckpoint {
        upload_id,
        dst_key,
        part_size: from_db(part_size, "part_size")?,
        source: SourceVersion {
            etag,
            size: from_db(size, "source_size")?,
            modified_ms,
        },
        parts,
    })
}

#[async_trait]
impl PartJournal for PgTaskStore {
    async fn load_upload(&self, task: TaskId, key: &str) -> Result<Option<UploadCheckpoint>> {
        let row: Option<UploadRow> = sqlx::query_as(
            "SELECT upload_id, dst_key, part_size, source_etag, source_size, source_modified_ms \
             FROM multipart_uploads WHERE task_id = $1 AND key = $2",
        )
        .bind(task.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let parts: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT part_number, etag, size, crc64 FROM multipart_parts \
             WHERE task_id = $1 AND key = $2 ORDER BY part_number",
        )
        .bind(task.0)
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let parts = parts
            .into_iter()
            .map(|(number, etag, size, crc64)| {
                Ok(DonePart {
                    number: u32::try_from(number).map_err(|_| {
                        tern_core::Error::Internal("stored part_number is out of range".into())
                    })?,
                    etag,
                    size: from_db(size, "part size")?,
                    crc64: crc64.cast_unsigned(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        checkpoint(row, parts).map(Some)
    }

    async fn begin_upload(
        &self,
        task: TaskId,
        key: &str,
        checkpoint: &UploadCheckpoint,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM multipart_parts WHERE task_id = $1 AND key = $2")
            .bind(task.0)
            .bind(key)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO multipart_uploads (task_id, key, upload_id, dst_key, part_size, \
             source_etag, source_size, source_modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (task_id, key) DO UPDATE SET upload_id = excluded.upload_id, \
             dst_key = excluded.dst_key, part_size = excluded.part_size, \
             source_etag = excluded.source_etag, source_size = excluded.source_size, \
             source_modified_ms = excluded.source_modified_ms",
        )
        .bind(task.0)
        .bind(key)
        .bind(&checkpoint.upload_id)
        .bind(&checkpoint.dst_key)
        .bind(checkpoint.part_size.cast_signed())
        .bind(checkpoint.source.etag.as_deref())
        .bind(checkpoint.source.size.cast_signed())
        .bind(checkpoint.source.modified_ms)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    async fn record_part(
        &self,
        task: TaskId,
        key: &str,
        upload_id: &str,
        part: &DonePart,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Only while the key's checkpoint is still this upload's: a part finishing after its
        // upload was replaced must not join the new one.
        sqlx::query(
            "INSERT INTO multipart_parts (task_id, key, part_number, etag, size, crc64) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM multipart_uploads \
             WHERE task_id = $1 AND key = $2 AND upload_id = $7) \
             ON CONFLICT (task_id, key, part_number) DO UPDATE SET etag = excluded.etag, \
             size = excluded.size, crc64 = excluded.crc64",
        )
        .bind(task.0)
        .bind(key)
        .bind(i64::from(part.number))
        .bind(&part.etag)
        .bind(part.size.cast_signed())
        .bind(part.crc64.cast_signed())
        .bind(upload_id)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    async fn forget_upload(&self, task: TaskId, key: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for statement in [
            "DELETE FROM multipart_parts WHERE task_id = $1 AND key = $2",
            "DELETE FROM multipart_uploads WHERE task_id = $1 AND key = $2",
        ] {
            sqlx::query(statement)
                .bind(task.0)
                .bind(key)
                .execute(tx.conn())
                .await
                .map_err(db_error)?;
        }
        tx.commit().await
    }

    async fn task_uploads(&self, task: TaskId) -> Result<Vec<(String, UploadCheckpoint)>> {
        let rows: Vec<(
            String,
            String,
            String,
            i64,
            Option<String>,
            i64,
            Option<i64>,
        )> = sqlx::query_as(
            "SELECT key, upload_id, dst_key, part_size, source_etag, source_size, \
                 source_modified_ms FROM multipart_uploads WHERE task_id = $1 ORDER BY key",
        )
        .bind(task.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(
                |(key, upload_id, dst_key, part_size, etag, size, modified_ms)| {
                    let row = (upload_id, dst_key, part_size, etag, size, modified_ms);
                    Ok((key, checkpoint(row, Vec::new())?))
                },
            )
            .collect()
    }
}
