//! Bodies that act on an existing task group: `start_task_group`, `retry_task_group` and
//! `update_task_group`.

use serde::Deserialize;
use utoipa::ToSchema;

use super::names;
use tern_core::{Credentials, Secret, TaskSecrets};

use super::task_extras::MAX_CDN_KEY_LEN;
use super::validate::{check_crypto, check_len, optional_secret};
use super::{StartTaskReq, UpdateBandwidthPolicyReq};
use crate::ApiError;

/// Longest access or secret key a retry body may carry.
const MAX_KEY_LEN: usize = 100;
/// Longest Azure connection string.
const MAX_CONNECTION_STRING_LEN: usize = 2048;
/// Longest Google service-account JSON.
const MAX_JSON_AUTH_FILE_LEN: usize = 65535;

/// `update_task_group` body: the same `UpdateBandwidthPolicyReq` as `update_bandwidth_policy`
/// (REFERENCE.md operation 16); its `into_domain` checks the windows into a policy.
pub type UpdateTaskGroupReq = UpdateBandwidthPolicyReq;

/// `start_task_group` body: the secrets the group's tasks need to resume.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StartTaskGroupReq {
    /// Source AK, 1..100 (not needed for URL lists); with `src_sk`.
    #[schema(min_length = 1, max_length = 100)]
    pub src_ak: Option<String>,
    /// Source SK, 1..100; with `src_ak`.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub src_sk: Option<Secret>,
    /// `DEFAULT` or `KMS` for the source secrets (KMS refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub src_crypto_type: Option<String>,
    /// KMS key id for the source secrets, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub src_kms_key_id: Option<String>,
    /// Azure connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// Google service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// Destination AK, 1..100.
    #[schema(min_length = 1, max_length = 100)]
    pub dst_ak: String,
    /// Destination SK, 1..100.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub dst_sk: Secret,
    /// `DEFAULT` or `KMS` for the destination secrets (KMS refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id for the destination secrets, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub dst_kms_key_id: Option<String>,
    /// CDN authentication key, 0..255.
    #[schema(value_type = Option<String>, max_length = 255)]
    pub source_cdn_authentication_key: Option<Secret>,
    /// `DEFAULT` or `KMS` for the CDN key (KMS refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub source_cdn_crypto_type: Option<String>,
    /// KMS key id for the CDN key, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub source_cdn_kms_key_id: Option<String>,
}

impl StartTaskGroupReq {
    /// Checks the limits (exactly `start_task`'s, which it delegates to) and returns the secrets.
    ///
    /// Whether source secrets are needed depends on the stored group (not for URL lists, not for
    /// an anonymous source), so that check belongs to the caller.
    pub fn into_domain(self) -> Result<TaskSecrets, ApiError> {
        let request = StartTaskReq {
            src_ak: self.src_ak,
            src_sk: self.src_sk,
            connection_string: self.connection_string,
            src_crypto_type: self.src_crypto_type,
            src_kms_key_id: self.src_kms_key_id,
            json_auth_file: self.json_auth_file,
            src_security_token: None,
            dst_ak: self.dst_ak,
            dst_sk: self.dst_sk,
            dst_crypto_type: self.dst_crypto_type,
            dst_kms_key_id: self.dst_kms_key_id,
            dst_security_token: None,
            source_cdn_authentication_key: self.source_cdn_authentication_key,
            source_cdn_crypto_type: self.source_cdn_crypto_type,
            source_cdn_kms_key_id: self.source_cdn_kms_key_id,
            migrate_failed_object: None,
        };
        let (secrets, _failed_only) = request.into_domain()?;
        Ok(secrets)
    }
}

/// `retry_task_group` body. Every field is optional, and an empty body (the SDK sends none when
/// no model is set) is `{}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RetryTaskGroupReq {
    /// Source AK, 0..100 (not needed for URL lists).
    #[schema(max_length = 100)]
    pub src_ak: Option<String>,
    /// Source SK, 0..100.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub src_sk: Option<Secret>,
    /// `DEFAULT` or `KMS` for the source secrets (KMS refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub src_crypto_type: Option<String>,
    /// KMS key id for the source secrets, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub src_kms_key_id: Option<String>,
    /// Azure connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// Google service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// Destination AK, 0..100.
    #[schema(max_length = 100)]
    pub dst_ak: Option<String>,
    /// Destination SK, 0..100.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub dst_sk: Option<Secret>,
    /// `DEFAULT` or `KMS` for the destination secrets (KMS refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id for the destination secrets, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub dst_kms_key_id: Option<String>,
    /// CDN authentication key, 0..255.
    #[schema(value_type = Option<String>, max_length = 255)]
    pub source_cdn_authentication_key: Option<Secret>,
    /// `DEFAULT` or `KMS` for the CDN key (KMS refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub source_cdn_crypto_type: Option<String>,
    /// KMS key id for the CDN key, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub source_cdn_kms_key_id: Option<String>,
    /// True: re-copy only failed objects; false/absent: full re-run.
    pub migrate_failed_object: Option<bool>,
}

/// A checked `retry_task_group` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryGroup {
    /// The secrets given, or `None` when the body carries no credential field at all (`src_ak`,
    /// `src_sk`, `dst_ak`, `dst_sk`, `connection_string`, `json_auth_file`,
    /// `source_cdn_authentication_key`); absent fields of a `Some` are empty.
    pub secrets: Option<TaskSecrets>,
    /// `migrate_failed_object` (default false).
    pub migrate_failed_object: bool,
}

impl RetryTaskGroupReq {
    /// Checks every limit (all fields optional, keys 0..100) and returns the retry to perform.
    pub fn into_domain(self) -> Result<RetryGroup, ApiError> {
        check_crypto(
            "src_crypto_type",
            self.src_crypto_type.as_deref(),
            "src_kms_key_id",
            self.src_kms_key_id.as_deref(),
        )?;
        check_crypto(
            "dst_crypto_type",
            self.dst_crypto_type.as_deref(),
            "dst_kms_key_id",
            self.dst_kms_key_id.as_deref(),
        )?;
        check_crypto(
            "source_cdn_crypto_type",
            self.source_cdn_crypto_type.as_deref(),
            "source_cdn_kms_key_id",
            self.source_cdn_kms_key_id.as_deref(),
        )?;
        let any_credential = self.src_ak.is_some()
            || self.src_sk.is_some()
            || self.dst_ak.is_some()
            || self.dst_sk.is_some()
            || self.connection_string.is_some()
            || self.json_auth_file.is_some()
            || self.source_cdn_authentication_key.is_some();
        let src = Credentials {
            access_key: access_key("src_ak", self.src_ak)?,
            secret_key: optional_secret("src_sk", self.src_sk, 0, MAX_KEY_LEN)?.unwrap_or_default(),
            security_token: None,
            connection_string: optional_secret(
                "connection_string",
                self.connection_string,
                0,
                MAX_CONNECTION_STRING_LEN,
            )?,
            json_auth_file: optional_secret(
                "json_auth_file",
                self.json_auth_file,
                0,
                MAX_JSON_AUTH_FILE_LEN,
            )?,
        };
        let dst = Credentials {
            access_key: access_key("dst_ak", self.dst_ak)?,
            secret_key: optional_secret("dst_sk", self.dst_sk, 0, MAX_KEY_LEN)?.unwrap_or_default(),
            ..Credentials::default()
        };
        let cdn_key = optional_secret(
            "source_cdn_authentication_key",
            self.source_cdn_authentication_key,
            0,
            MAX_CDN_KEY_LEN,
        )?;
        Ok(RetryGroup {
            secrets: any_credential.then_some(TaskSecrets { src, dst, cdn_key }),
            migrate_failed_object: self.migrate_failed_object.unwrap_or(false),
        })
    }
}

/// Checks an optional access key of 0..100 characters; absent is empty.
fn access_key(field: &str, value: Option<String>) -> Result<String, ApiError> {
    let value = value.unwrap_or_default();
    check_len(field, &value, 0, MAX_KEY_LEN)?;
    Ok(value)
}
