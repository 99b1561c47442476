//! Project identities on PostgreSQL: API tokens (stored as the caller's SHA-256) and AK/SK pairs
//! (the SK sealed, bound to its access key).

use tern_core::{Error, Result, Secret};

use super::PgTaskStore;
use crate::error::db_error;

impl PgTaskStore {
    /// Stores a hashed token for a project (replacing its project if known).
    pub(super) async fn store_token(&self, project_id: &str, token_sha256: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (token_sha256, project_id) VALUES ($1, $2) \
             ON CONFLICT (token_sha256) DO UPDATE SET project_id = excluded.project_id",
        )
        .bind(token_sha256)
        .bind(project_id)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    /// The project a hashed token belongs to.
    pub(super) async fn token_project(&self, token_sha256: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT project_id FROM tokens WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    /// Stores an AK with its sealed SK.
    pub(super) async fn store_credential(
        &self,
        project_id: &str,
        access_key: &str,
        secret_key: &Secret,
    ) -> Result<()> {
        let sealed = self.sealer.seal(
            &credential_context(access_key),
            secret_key.expose().as_bytes(),
        )?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO credentials (access_key, project_id, sealed_secret_key) \
             VALUES ($1, $2, $3) ON CONFLICT (access_key) DO UPDATE SET \
             project_id = excluded.project_id, sealed_secret_key = excluded.sealed_secret_key",
        )
        .bind(access_key)
        .bind(project_id)
        .bind(sealed)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    /// Records a privacy-agreement acceptance (the latest time wins).
    pub(super) async fn store_privacy_agreement(
        &self,
        project_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO privacy_agreements (project_id, accepted_at_ms) VALUES ($1, $2) \
             ON CONFLICT (project_id) DO UPDATE SET accepted_at_ms = excluded.accepted_at_ms",
        )
        .bind(project_id)
        .bind(now_ms)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    /// When a project last accepted the privacy agreement.
    pub(super) async fn read_privacy_agreement(&self, project_id: &str) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT accepted_at_ms FROM privacy_agreements WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    /// The project and unsealed SK of an AK.
    pub(super) async fn unseal_credential(
        &self,
        access_key: &str,
    ) -> Result<Option<(String, Secret)>> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT project_id, sealed_secret_key FROM credentials WHERE access_key = $1",
        )
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some((project_id, sealed)) = row else {
            return Ok(None);
        };
        let plaintext = self.sealer.open(&credential_context(access_key), &sealed)?;
        let secret_key = String::from_utf8(plaintext)
            .map_err(|_| Error::Internal("unsealed secret key is not UTF-8".to_owned()))?;
        Ok(Some((project_id, Secret::new(secret_key))))
    }
}

/// Associated data binding a sealed SK to its access key.
fn credential_context(access_key: &str) -> String {
    format!("credential:{access_key}")
}
