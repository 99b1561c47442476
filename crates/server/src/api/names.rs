//! Schema-only types for the OpenAPI document: the closed value sets and bounded scalars that
//! the wire types carry as plain `String` / `i64`.
//!
//! The wire types keep `String` so that an unknown value reaches the validation code, which
//! refuses it with OMS.0001 naming the field; these types only tell the document what that code
//! accepts. Each set is the one its `FromStr` or `check_one_of` accepts (tests below hold them
//! together), so the document never promises a value the server refuses, or the reverse.

#![allow(
    dead_code,
    reason = "the variants exist only to be listed in the OpenAPI document"
)]

use serde::Serialize;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// `task_type` of a task.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// Named objects (`src_node.object_key`).
    Object,
    /// Prefixes (`[""]` = the whole bucket).
    Prefix,
    /// An object-list file.
    List,
    /// A URL-list file.
    UrlList,
}

/// `task_type` of a task group.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupTaskType {
    /// Prefixes.
    Prefix,
    /// An object-list file.
    List,
    /// A URL-list file.
    UrlList,
}

/// `task_priority`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskPriority {
    /// Claimed first.
    High,
    /// The default.
    Medium,
    /// Claimed last.
    Low,
}

/// `object_overwrite_mode`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OverwriteMode {
    /// Never overwrite an existing destination object.
    NoOverwrite,
    /// Overwrite when size or last-modified time differ (the default).
    SizeLastModifiedComparisonOverwrite,
    /// Overwrite when CRC64 differ.
    Crc64ComparisonOverwrite,
    /// Always overwrite.
    FullOverwrite,
}

/// `consistency_check`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyCheck {
    /// Size and last-modified time (the default).
    SizeLastModified,
    /// CRC64.
    Crc64,
    /// No check after the copy.
    NoCheck,
}

/// `dst_storage_policy` (REFERENCE.md §4).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StoragePolicy {
    /// Standard (the default).
    Standard,
    /// Infrequent access.
    Ia,
    /// Archive.
    Archive,
    /// Deep archive.
    DeepArchive,
    /// The source object's class, mapped.
    SrcStorageMapping,
}

/// `*crypto_type`: only `DEFAULT` (plain secrets); `KMS` secrets are refused because tern cannot
/// reach Huawei KMS to decrypt them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CryptoType {
    /// Secrets sent in plain text (over TLS).
    Default,
}

/// `source_cdn.authentication_type`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CdnAuthenticationType {
    /// No URL authentication.
    None,
    /// Qiniu private URLs.
    QiniuPrivateAuthentication,
    /// Aliyun type A.
    AliyunOssA,
    /// Aliyun type B.
    AliyunOssB,
    /// Aliyun type C.
    AliyunOssC,
    /// Kingsoft private URLs.
    KsyunPrivateAuthentication,
    /// Azure SAS token.
    AzureSasToken,
    /// Tencent type A.
    TencentCosA,
    /// Tencent type B.
    TencentCosB,
    /// Tencent type C.
    TencentCosC,
    /// Tencent type D.
    TencentCosD,
}

/// `source_cdn.protocol`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CdnProtocol {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// `smn_config.language`.
#[derive(Serialize, ToSchema)]
pub enum SmnLanguage {
    /// Chinese.
    #[serde(rename = "zh-cn")]
    ZhCn,
    /// English.
    #[serde(rename = "en-us")]
    EnUs,
}

/// One of `smn_config.trigger_conditions`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TriggerCondition {
    /// Notify when the task succeeds.
    Success,
    /// Notify when the task fails.
    Failure,
}

/// `type` of `show_cloud_type`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeSide {
    /// Source vendors.
    Src,
    /// Destination vendors.
    Dst,
}

/// Vendor names `cloud_type` accepts, in any letter case (`HEC` is `HuaweiCloud`).
pub(crate) const CLOUD_TYPE_NAMES: [&str; 14] = [
    "AWS",
    "Azure",
    "Aliyun",
    "Tencent",
    "HuaweiCloud",
    "HEC",
    "QingCloud",
    "KingsoftCloud",
    "Baidu",
    "Qiniu",
    "Google",
    "URLSource",
    "UCloud",
    "Local",
];

/// `cloud_type`: a vendor name, matched without regard to letter case.
pub struct CloudType;

impl CloudType {
    /// The pattern: each name spelled with a `[xX]` class per letter, since JSON Schema
    /// patterns (ECMA-262) have no case-insensitive flag.
    pub(crate) fn pattern() -> String {
        let names: Vec<String> = CLOUD_TYPE_NAMES
            .iter()
            .map(|name| {
                name.chars()
                    .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
                    .collect()
            })
            .collect();
        format!("^({})$", names.join("|"))
    }
}

impl PartialSchema for CloudType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Self::pattern()))
            .description(Some(format!(
                "Vendor, any letter case: {}",
                CLOUD_TYPE_NAMES.join(", ")
            )))
            .into()
    }
}

impl ToSchema for CloudType {}

/// An object name or prefix: with `dst_node.save_prefix` in front, at most 1024 characters.
pub struct ObjectKey;

impl PartialSchema for ObjectKey {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(super::validate::MAX_KEY_LEN))
            .into()
    }
}

impl ToSchema for ObjectKey {}

/// A key `show_cdn_info` checks: 1..1024 characters.
pub struct CdnKey;

impl PartialSchema for CdnKey {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(1024))
            .into()
    }
}

impl ToSchema for CdnKey {}

/// A task id in `ids`: not negative.
pub struct TaskIdNumber;

impl PartialSchema for TaskIdNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0))
            .into()
    }
}

impl ToSchema for TaskIdNumber {}

/// `src_cloud_type` of a sync task: OMS's vendors without Azure (a sync body carries an AK/SK
/// pair only), spelled exactly.
#[derive(Serialize, ToSchema)]
pub enum SyncCloudType {
    /// Amazon S3.
    #[serde(rename = "AWS")]
    Aws,
    /// Alibaba Cloud OSS (the default).
    Aliyun,
    /// Tencent COS.
    Tencent,
    /// Huawei Cloud OBS.
    HuaweiCloud,
    /// QingCloud.
    QingCloud,
    /// Kingsoft Cloud.
    KingsoftCloud,
    /// Baidu BOS.
    Baidu,
    /// Qiniu.
    Qiniu,
    /// UCloud.
    UCloud,
}

/// `consistency_check` of a sync task (`transmission` is stored as `no_check`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncConsistencyCheck {
    /// Size and last-modified time (the default).
    SizeLastModified,
    /// CRC64.
    Crc64,
    /// Only that the copy completed.
    Transmission,
    /// No check after the copy.
    NoCheck,
}

/// A percent-encoded object key of `create_sync_events`.
pub struct EventKey;

impl PartialSchema for EventKey {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(tern_core::MAX_EVENT_KEY_LEN))
            .description(Some(
                "URL-encoded key (RFC 3986 percent-encoding; `+` is a plus)",
            ))
            .into()
    }
}

impl ToSchema for EventKey {}

#[cfg(test)]
mod tests {
    use super::*;

    fn enum_values<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn test_enums_list_what_core_parses() {
        for value in enum_values::<TaskType>() {
            assert!(value.parse::<tern_core::TaskType>().is_ok(), "{value}");
        }
        for value in enum_values::<GroupTaskType>() {
            assert!(value.parse::<tern_core::GroupTaskType>().is_ok(), "{value}");
        }
        for value in enum_values::<TaskPriority>() {
            assert!(value.parse::<tern_core::TaskPriority>().is_ok(), "{value}");
        }
        for value in enum_values::<OverwriteMode>() {
            let parsed: tern_core::OverwriteMode = value.parse().unwrap();
            assert_eq!(parsed.as_str(), value);
        }
        for value in enum_values::<ConsistencyCheck>() {
            let parsed: tern_core::ConsistencyCheck = value.parse().unwrap();
            assert_eq!(parsed.as_str(), value);
        }
        assert_eq!(enum_values::<TaskType>().len(), 4);
        assert_eq!(enum_values::<OverwriteMode>().len(), 4);
        assert_eq!(enum_values::<ConsistencyCheck>().len(), 3);
    }

    #[test]
    fn test_cloud_type_names_are_what_core_parses() {
        for name in CLOUD_TYPE_NAMES {
            for spelling in [name.to_owned(), name.to_lowercase(), name.to_uppercase()] {
                assert!(
                    spelling.parse::<tern_core::CloudType>().is_ok(),
                    "{spelling}"
                );
            }
        }
        for cloud in tern_core::CloudType::OMS_SOURCES {
            assert!(
                CLOUD_TYPE_NAMES
                    .iter()
                    .any(|name| name.eq_ignore_ascii_case(cloud.as_str())),
                "{cloud:?}"
            );
        }
        assert!(CloudType::pattern().starts_with("^([aA][wW][sS]|"));
    }
}
