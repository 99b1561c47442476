//! Sync-task request bodies (`CreateSyncTaskReq`, `StartSyncTaskReq`, `SyncObjectReq`) with their
//! validation into core types, and the strict key decoding they share with `sync_notify`.

use serde::Deserialize;
use tern_core::{
    CloudType, ConsistencyCheck, Credentials, OverwriteMode, Secret, SyncSpec, TaskSecrets,
    MAX_EVENT_KEYS, MAX_EVENT_KEY_LEN,
};
use utoipa::ToSchema;

use super::names;
use super::validate::{
    check_bucket, check_crypto, check_len, check_non_empty, check_one_of, parse_enum,
    FORBIDDEN_DESCRIPTION_CHARS, MAX_REGION_LEN,
};
use crate::ApiError;

/// Longest AK or SK of a sync body (OMS: 0..100).
const MAX_SYNC_SECRET_LEN: usize = 100;
/// Longest free-text field (`description`, `app_id`, the CDN key).
const MAX_TEXT_LEN: usize = 255;
/// Characters a sync `description` must not contain (OMS: `< > ( ) " ' &`), with the tasks' `^`.
const FORBIDDEN_SYNC_DESCRIPTION_CHARS: [char; 2] = ['(', ')'];
/// Source vendors a sync task accepts (OMS's list without Azure: a sync body carries an AK/SK
/// pair only, and Azure sources need a connection string).
const SYNC_SOURCES: [&str; 9] = [
    "AWS",
    "Aliyun",
    "Tencent",
    "HuaweiCloud",
    "QingCloud",
    "KingsoftCloud",
    "Baidu",
    "Qiniu",
    "UCloud",
];
/// `dst_storage_policy` values (REFERENCE.md §4).
const DST_STORAGE_POLICIES: [&str; 5] = [
    "STANDARD",
    "IA",
    "ARCHIVE",
    "DEEP_ARCHIVE",
    "SRC_STORAGE_MAPPING",
];

/// `create_sync_task` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateSyncTaskReq {
    /// Source vendor (default `Aliyun`).
    #[schema(value_type = Option<names::SyncCloudType>)]
    pub src_cloud_type: Option<String>,
    /// Source region, 1..100.
    #[schema(min_length = 1, max_length = 100)]
    pub src_region: String,
    /// Source bucket.
    #[schema(min_length = 1, max_length = 63)]
    pub src_bucket: String,
    /// Source AK, 0..100.
    #[schema(max_length = 100)]
    pub src_ak: String,
    /// Source SK, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub src_sk: Secret,
    /// `DEFAULT` only (KMS is refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub src_crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub src_kms_key_id: Option<String>,
    /// Destination AK, 0..100.
    #[schema(max_length = 100)]
    pub dst_ak: String,
    /// Destination SK, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub dst_sk: Secret,
    /// `DEFAULT` only (KMS is refused).
    #[schema(value_type = Option<names::CryptoType>)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub dst_kms_key_id: Option<String>,
    /// Destination region, 1..100.
    #[schema(min_length = 1, max_length = 100)]
    pub dst_region: String,
    /// Destination bucket.
    #[schema(min_length = 1, max_length = 63)]
    pub dst_bucket: String,
    /// Free text, 0..255, none of `^ < > ( ) & " '` (OMS.0078).
    #[schema(max_length = 255, pattern = "^[^^<>&\"'()]*$")]
    pub description: Option<String>,
    /// Copy user metadata (default false).
    pub enable_metadata_migration: Option<bool>,
    /// Restore archived source objects first (default false; kept and echoed as for tasks).
    pub enable_restore: Option<bool>,
    /// Destination storage class (default `STANDARD`).
    #[schema(value_type = Option<names::StoragePolicy>)]
    pub dst_storage_policy: Option<String>,
    /// Tencent APPID, 0..255; required for `Tencent`.
    #[schema(max_length = 255)]
    pub app_id: Option<String>,
    /// Fetching through a CDN: refused, sync tasks read the source bucket directly.
    #[schema(ignore)]
    pub source_cdn: Option<serde_json::Value>,
    /// `size_last_modified` (default), `crc64`, `transmission` (or `no_check`).
    #[schema(value_type = Option<names::SyncConsistencyCheck>)]
    pub consistency_check: Option<String>,
    /// tern extension (not in OMS's body): the overwrite rule, default
    /// `SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE`.
    #[schema(value_type = Option<names::OverwriteMode>)]
    pub object_overwrite_mode: Option<String>,
}

fn sync_credentials(
    ak_field: &str,
    ak: String,
    sk_field: &str,
    sk: Secret,
) -> Result<Credentials, ApiError> {
    check_len(ak_field, &ak, 0, MAX_SYNC_SECRET_LEN)?;
    check_len(sk_field, sk.expose(), 0, MAX_SYNC_SECRET_LEN)?;
    Ok(Credentials::access_key(ak, sk))
}

fn check_region(field: &str, value: &str) -> Result<(), ApiError> {
    check_non_empty(field, value)?;
    check_len(field, value, 1, MAX_REGION_LEN)
}

impl CreateSyncTaskReq {
    /// Checks every field and splits the body into the spec and the secrets.
    pub fn into_domain(self) -> Result<(SyncSpec, TaskSecrets), ApiError> {
        let src_cloud_type = self.src_cloud_type.as_deref().unwrap_or("Aliyun");
        if src_cloud_type == "Azure" {
            return Err(ApiError::invalid(
                "src_cloud_type",
                "Azure sources need a connection string, which a sync task cannot carry",
            ));
        }
        check_one_of("src_cloud_type", src_cloud_type, &SYNC_SOURCES)?;
        let src_cloud_type: CloudType = parse_enum("src_cloud_type", src_cloud_type)?;
        check_region("src_region", &self.src_region)?;
        check_bucket("src_bucket", &self.src_bucket, src_cloud_type)?;
        check_region("dst_region", &self.dst_region)?;
        check_bucket("dst_bucket", &self.dst_bucket, CloudType::HuaweiCloud)?;
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
        let src = sync_credentials("src_ak", self.src_ak, "src_sk", self.src_sk)?;
        let dst = sync_credentials("dst_ak", self.dst_ak, "dst_sk", self.dst_sk)?;
        let description = self.description.unwrap_or_default();
        check_len("description", &description, 0, MAX_TEXT_LEN)?;
        if description.contains(FORBIDDEN_DESCRIPTION_CHARS)
            || description.contains(FORBIDDEN_SYNC_DESCRIPTION_CHARS)
        {
            return Err(ApiError::ForbiddenChars {
                field: "description".into(),
            });
        }
        let app_id = self.app_id.filter(|id| !id.is_empty());
        if let Some(app_id) = &app_id {
            check_len("app_id", app_id, 0, MAX_TEXT_LEN)?;
        }
        if src_cloud_type == CloudType::Tencent && app_id.is_none() {
            return Err(ApiError::invalid(
                "app_id",
                "is required when src_cloud_type is Tencent",
            ));
        }
        if self.source_cdn.is_some() {
            return Err(ApiError::invalid(
                "source_cdn",
                "sync tasks read the source bucket directly; a CDN source is not supported",
            ));
        }
        let dst_storage_policy = self.dst_storage_policy.unwrap_or_else(|| "STANDARD".into());
        check_one_of(
            "dst_storage_policy",
            &dst_storage_policy,
            &DST_STORAGE_POLICIES,
        )?;
        let consistency_check = match self.consistency_check.as_deref() {
            Some(value) => {
                check_one_of(
                    "consistency_check",
                    value,
                    &["size_last_modified", "crc64", "transmission", "no_check"],
                )?;
                parse_enum::<ConsistencyCheck>("consistency_check", value)?
            }
            None => ConsistencyCheck::default(),
        };
        let object_overwrite_mode = match self.object_overwrite_mode.as_deref() {
            Some(value) => {
                check_one_of(
                    "object_overwrite_mode",
                    value,
                    &[
                        "NO_OVERWRITE",
                        "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE",
                        "CRC64_COMPARISON_OVERWRITE",
                        "FULL_OVERWRITE",
                    ],
                )?;
                parse_enum::<OverwriteMode>("object_overwrite_mode", value)?
            }
            None => OverwriteMode::default(),
        };
        let spec = SyncSpec {
            src_cloud_type,
            src_region: self.src_region,
            src_bucket: self.src_bucket,
            app_id,
            dst_cloud_type: CloudType::HuaweiCloud,
            dst_region: self.dst_region,
            dst_bucket: self.dst_bucket,
            description,
            enable_metadata_migration: self.enable_metadata_migration.unwrap_or(false),
            enable_restore: self.enable_restore.unwrap_or(false),
            dst_storage_policy,
            object_overwrite_mode,
            consistency_check,
        };
        let secrets = TaskSecrets {
            src,
            dst,
            cdn_key: None,
        };
        Ok((spec, secrets))
    }
}

/// `start_sync_task` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StartSyncTaskReq {
    /// Source AK, 0..100.
    #[schema(max_length = 100)]
    pub src_ak: String,
    /// Source SK, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub src_sk: Secret,
    /// `DEFAULT` only.
    #[schema(value_type = Option<names::CryptoType>)]
    pub src_crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub src_kms_key_id: Option<String>,
    /// Destination AK, 0..100.
    #[schema(max_length = 100)]
    pub dst_ak: String,
    /// Destination SK, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub dst_sk: Secret,
    /// `DEFAULT` only.
    #[schema(value_type = Option<names::CryptoType>)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub dst_kms_key_id: Option<String>,
    /// CDN key: refused when non-empty (sync tasks have no CDN source).
    #[schema(value_type = Option<String>, max_length = 0)]
    pub source_cdn_authentication_key: Option<Secret>,
    /// `DEFAULT` only.
    #[schema(value_type = Option<names::CryptoType>)]
    pub source_cdn_crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub source_cdn_kms_key_id: Option<String>,
}

impl StartSyncTaskReq {
    /// Checks the body into the secrets a start needs.
    pub fn into_domain(self) -> Result<TaskSecrets, ApiError> {
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
        if let Some(key) = &self.source_cdn_authentication_key {
            check_len(
                "source_cdn_authentication_key",
                key.expose(),
                0,
                MAX_TEXT_LEN,
            )?;
            if !key.is_empty() {
                return Err(ApiError::invalid(
                    "source_cdn_authentication_key",
                    "sync tasks have no CDN source",
                ));
            }
        }
        Ok(TaskSecrets {
            src: sync_credentials("src_ak", self.src_ak, "src_sk", self.src_sk)?,
            dst: sync_credentials("dst_ak", self.dst_ak, "dst_sk", self.dst_sk)?,
            cdn_key: None,
        })
    }
}

/// `create_sync_events` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SyncObjectReq {
    /// URL-encoded keys (RFC 3986 percent-encoding; `+` is a plus), 1..100 of 1..16384.
    #[schema(value_type = Vec<names::EventKey>, min_items = 1, max_items = 100)]
    pub object_keys: Vec<String>,
}

impl SyncObjectReq {
    /// Checks the keys and decodes them.
    pub fn into_keys(self) -> Result<Vec<String>, ApiError> {
        let count = self.object_keys.len();
        if !(1..=MAX_EVENT_KEYS).contains(&count) {
            return Err(ApiError::invalid(
                "object_keys",
                format!("holds {count} keys; 1..{MAX_EVENT_KEYS} are allowed"),
            ));
        }
        self.object_keys
            .iter()
            .enumerate()
            .map(|(index, encoded)| {
                let field = format!("object_keys[{index}]");
                check_len(&field, encoded, 1, MAX_EVENT_KEY_LEN)?;
                decode_key(&field, encoded, false)
            })
            .collect()
    }
}

/// Decodes a percent-encoded key strictly: a `%` must start two hex digits and the bytes must
/// be UTF-8. `plus_is_space` reads `+` as a space (S3 notifications' form encoding).
pub(crate) fn decode_key(
    field: &str,
    encoded: &str,
    plus_is_space: bool,
) -> Result<String, ApiError> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            field,
                            format!("bad percent-encoding at byte {index}; write % as %25"),
                        )
                    })?;
                decoded.push(hex);
                index += 3;
            }
            b'+' if plus_is_space => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    let key = String::from_utf8(decoded)
        .map_err(|_| ApiError::invalid(field, "does not decode to UTF-8"))?;
    if key.is_empty() {
        return Err(ApiError::invalid(field, "decodes to an empty key"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_decode_key_percent_and_plus() {
        assert_eq!(decode_key("k", "a%20b+c%2B%25", false).unwrap(), "a b+c+%");
        assert_eq!(decode_key("k", "a%20b+c%2B", true).unwrap(), "a b c+");
        assert_eq!(
            decode_key("k", "caf%C3%A9/%E2%9C%93", false).unwrap(),
            "café/✓"
        );
        for bad in ["%", "%2", "%zz", "%FF"] {
            let error = decode_key("object_keys[3]", bad, false).unwrap_err();
            assert!(error.to_string().contains("object_keys[3]"), "{error}");
        }
    }

    #[test]
    fn test_event_key_count_limits() {
        let keys = |n: usize| SyncObjectReq {
            object_keys: (0..n).map(|i| format!("k{i}")).collect(),
        };
        assert_eq!(
            keys(MAX_EVENT_KEYS).into_keys().unwrap().len(),
            MAX_EVENT_KEYS
        );
        assert!(keys(MAX_EVENT_KEYS + 1).into_keys().is_err());
        assert!(keys(0).into_keys().is_err());
    }
}
