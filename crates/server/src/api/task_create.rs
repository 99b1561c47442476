//! `create_task` request body (`CreateTaskReq` and its nested models) and its validation into a
//! [`TaskSpec`] plus the [`TaskSecrets`] the first run needs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::names;
use tern_core::{
    CloudType, ConsistencyCheck, Credentials, DestinationSpec, GroupType, ListFileSpec,
    OverwriteMode, Secret, SourceSpec, TaskPriority, TaskSecrets, TaskSpec, TaskType,
};

use super::validate::{
    bandwidth_policy, check_bucket, check_crypto, check_len, check_non_empty, check_one_of,
    optional_secret, parse_enum, FORBIDDEN_DESCRIPTION_CHARS, MAX_BUCKET_LEN, MAX_KEY_LEN,
    MAX_REGION_LEN,
};
use super::{BandwidthPolicyDto, SmnConfig, SourceCdnReq, TaskEcho};
use crate::ApiError;

/// Largest `migrate_since` accepted: 9999-12-31T23:59:59Z in seconds. A larger value is almost
/// surely milliseconds sent by mistake (responses use ms, requests seconds).
const MAX_MIGRATE_SINCE_S: i64 = 253_402_300_799;
/// Longest `list_file.list_file_num` echoed back. OMS states no limit for this number-as-text;
/// 255 is the limit of its other short free-text fields (`app_id`, `description`).
const MAX_LIST_FILE_NUM_LEN: usize = 255;
/// `create_task` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateTaskReq {
    /// `object` (default), `prefix`, `list` or `url_list`.
    #[schema(value_type = Option<names::TaskType>)]
    pub task_type: Option<String>,
    /// Source.
    pub src_node: SrcNodeReq,
    /// Destination.
    pub dst_node: DstNodeReq,
    /// Free text, 0..255 characters, none of `^ < > & " '`.
    #[schema(max_length = 255, pattern = "^[^^<>&\"']*$")]
    pub description: Option<String>,
    /// Skip source objects older than this, Unix SECONDS.
    #[schema(minimum = 0, maximum = 253_402_300_799_i64)]
    pub migrate_since: Option<i64>,
    /// Rate-limit windows.
    #[schema(max_items = 5)]
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
    /// Fetch source objects through a CDN domain.
    pub source_cdn: Option<SourceCdnReq>,
    /// SMN notification settings.
    pub smn_config: Option<SmnConfig>,
    /// Copy user metadata (default false).
    pub enable_metadata_migration: Option<bool>,
    /// Restore archived source objects first (default false).
    pub enable_restore: Option<bool>,
    /// Write a failed-object list (default true).
    pub enable_failed_object_recording: Option<bool>,
    /// Overwrite rule (default `SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE`).
    #[schema(value_type = Option<names::OverwriteMode>)]
    pub object_overwrite_mode: Option<String>,
    /// Destination storage class (default `STANDARD`).
    #[schema(value_type = Option<names::StoragePolicy>)]
    pub dst_storage_policy: Option<String>,
    /// Consistency check (default `size_last_modified`).
    #[schema(value_type = Option<names::ConsistencyCheck>)]
    pub consistency_check: Option<String>,
    /// Requester-pays on the source.
    pub enable_requester_pays: Option<bool>,
    /// Legacy (terraform, older SDKs): KMS encryption at the destination; only `false` is taken.
    pub enable_kms: Option<bool>,
    /// `HIGH`, `MEDIUM` (default) or `LOW`.
    #[schema(value_type = Option<names::TaskPriority>)]
    pub task_priority: Option<String>,
}

/// `src_node` of `create_task`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SrcNodeReq {
    /// Vendor (default `Aliyun`; `URLSource` for `url_list`).
    #[schema(value_type = Option<names::CloudType>)]
    pub cloud_type: Option<String>,
    /// Region; required unless `url_list`.
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// Access key, 0..100; required unless `url_list`.
    #[schema(max_length = 100)]
    pub ak: Option<String>,
    /// Secret key, 0..100; required unless `url_list`.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub sk: Option<Secret>,
    /// Azure connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// Google service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// STS token, 0..16384.
    #[schema(value_type = Option<String>, max_length = 16384)]
    pub security_token: Option<Secret>,
    /// Tencent APPID, 0..255; required for `Tencent`.
    #[schema(max_length = 255)]
    pub app_id: Option<String>,
    /// Bucket; required unless `url_list`.
    #[schema(max_length = 222)]
    pub bucket: Option<String>,
    /// Object names (`object`) or prefixes (`prefix`; `[""]` = whole bucket).
    #[schema(value_type = Option<Vec<names::ObjectKey>>)]
    pub object_key: Option<Vec<String>>,
    /// List file of `list` / `url_list` tasks.
    pub list_file: Option<ListFile>,
    /// `DEFAULT` or `KMS`.
    #[schema(value_type = Option<names::CryptoType>)]
    pub crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub kms_key_id: Option<String>,
}

/// `dst_node` of `create_task`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DstNodeReq {
    /// Access key, 0..100.
    #[schema(max_length = 100)]
    pub ak: String,
    /// Secret key, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub sk: Secret,
    /// STS token, 0..16384.
    #[schema(value_type = Option<String>, max_length = 16384)]
    pub security_token: Option<Secret>,
    /// Bucket.
    #[schema(min_length = 1, max_length = 222)]
    pub bucket: String,
    /// Prepended to destination keys; with each key at most 1024 characters.
    #[schema(max_length = 1024)]
    pub save_prefix: Option<String>,
    /// Region.
    #[schema(min_length = 1, max_length = 100)]
    pub region: String,
    /// `DEFAULT` or `KMS`.
    #[schema(value_type = Option<names::CryptoType>)]
    pub crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub kms_key_id: Option<String>,
    /// tern extension, not in OMS: the destination vendor (default `HuaweiCloud`).
    #[schema(value_type = Option<names::CloudType>)]
    pub cloud_type: Option<String>,
    /// tern extension, not in OMS: an Azure destination's connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// tern extension, not in OMS: a Google destination's service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
}

/// `list_file`: where an object-list or URL-list file lives (request and response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListFile {
    /// Key of the list file, 1..1024.
    #[schema(min_length = 1, max_length = 1024)]
    pub list_file_key: String,
    /// Bucket holding it (destination region), 0..1024; empty means the destination bucket.
    #[schema(max_length = 1024)]
    pub obs_bucket: String,
    /// Number of list files, echoed as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub list_file_num: Option<String>,
}

impl CreateTaskReq {
    /// Checks every rule of REFERENCE.md §2 and splits the request into spec and secrets.
    pub fn into_domain(self) -> Result<(TaskSpec, TaskSecrets), ApiError> {
        self.into_domain_as(None)
    }

    /// As [`CreateTaskReq::into_domain`]; messages spell task types as `spelling` says when given
    /// (a task group's request spells its types `PREFIX`, `LIST`, `URL_LIST`).
    pub(crate) fn into_domain_as(
        self,
        spelling: Option<TypeSpelling<'_>>,
    ) -> Result<(TaskSpec, TaskSecrets), ApiError> {
        let task_type: TaskType = match self.task_type.as_deref() {
            Some(value) => parse_enum("task_type", value)?,
            None => TaskType::default(),
        };
        let description = self.description.unwrap_or_default();
        check_len("description", &description, 0, 255)?;
        if description.contains(FORBIDDEN_DESCRIPTION_CHARS) {
            return Err(ApiError::ForbiddenChars {
                field: "description".into(),
            });
        }
        if let Some(since) = self.migrate_since {
            if !(0..=MAX_MIGRATE_SINCE_S).contains(&since) {
                return Err(ApiError::invalid(
                    "migrate_since",
                    format!("{since} is outside 0..={MAX_MIGRATE_SINCE_S} (Unix seconds)"),
                ));
            }
        }
        let bandwidth_policy = bandwidth_policy(self.bandwidth_policy.as_deref().unwrap_or(&[]))?;
        let object_overwrite_mode = match self.object_overwrite_mode.as_deref() {
            Some(value) => {
                parse_exact::<OverwriteMode>("object_overwrite_mode", value, |m| m.as_str())?
            }
            None => OverwriteMode::default(),
        };
        let consistency_check = match self.consistency_check.as_deref() {
            Some(value) => {
                parse_exact::<ConsistencyCheck>("consistency_check", value, |c| c.as_str())?
            }
            None => ConsistencyCheck::default(),
        };
        if self.enable_kms == Some(true) {
            return Err(ApiError::invalid(
                "enable_kms",
                "KMS encryption of destination objects is not supported; send false or leave it out",
            ));
        }
        let dst_storage_policy = self.dst_storage_policy.unwrap_or_else(|| "STANDARD".into());
        check_one_of(
            "dst_storage_policy",
            &dst_storage_policy,
            &tern_core::DST_STORAGE_POLICIES,
        )?;
        let task_priority: TaskPriority = match self.task_priority.as_deref() {
            Some(value) => parse_enum("task_priority", value)?,
            None => TaskPriority::default(),
        };

        let (dst, dst_credentials) = self.dst_node.into_domain()?;
        let spelling = spelling.unwrap_or(TypeSpelling {
            this: task_type.as_str(),
            url_list: TaskType::UrlList.as_str(),
        });
        let (src, src_credentials, list_file_num) =
            self.src_node.into_domain(task_type, spelling, &dst)?;
        let (source_cdn, cdn_key) = match self.source_cdn {
            Some(cdn) => {
                let (echo, key) = cdn.into_domain()?;
                (Some(echo), key)
            }
            None => (None, None),
        };
        if let Some(smn) = &self.smn_config {
            smn.validate()?;
        }
        let echo = TaskEcho {
            source_cdn,
            smn_config: self.smn_config,
            list_file_num,
        };
        let spec = TaskSpec {
            task_type,
            src,
            dst,
            description,
            migrate_since_s: self.migrate_since,
            bandwidth_policy,
            enable_metadata_migration: self.enable_metadata_migration.unwrap_or(false),
            enable_restore: self.enable_restore.unwrap_or(false),
            enable_failed_object_recording: self.enable_failed_object_recording.unwrap_or(true),
            object_overwrite_mode,
            consistency_check,
            dst_storage_policy,
            enable_requester_pays: self.enable_requester_pays.unwrap_or(false),
            task_priority,
            echo_json: echo.to_json()?,
            group_id: None,
            group_type: GroupType::NormalTask,
        };
        let secrets = TaskSecrets {
            src: src_credentials,
            dst: dst_credentials,
            cdn_key,
        };
        Ok((spec, secrets))
    }
}

/// Parses an enum and insists on its OMS spelling (core also takes CLI shorthands like `full`).
fn parse_exact<T>(
    field: &str,
    value: &str,
    wire: impl Fn(&T) -> &'static str,
) -> Result<T, ApiError>
where
    T: std::str::FromStr<Err = tern_core::Error>,
{
    let parsed: T = parse_enum(field, value)?;
    if wire(&parsed) != value {
        return Err(ApiError::invalid(field, format!("unknown value {value:?}")));
    }
    Ok(parsed)
}

/// How a request spells task types in messages: a task's `url_list`, a group's `URL_LIST`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeSpelling<'a> {
    /// The request's own task type.
    pub this: &'a str,
    /// The URL-list type.
    pub url_list: &'a str,
}

impl SrcNodeReq {
    /// Validates the source against the task type; returns spec, credentials, `list_file_num`.
    fn into_domain(
        self,
        task_type: TaskType,
        spelling: TypeSpelling<'_>,
        dst: &DestinationSpec,
    ) -> Result<(SourceSpec, Credentials, Option<String>), ApiError> {
        let is_url_list = task_type == TaskType::UrlList;
        let cloud_type = match self.cloud_type.as_deref() {
            Some(value) => parse_enum("src_node.cloud_type", value)?,
            // A URL list can only come from URLs, so the Aliyun default would always be refused.
            None if is_url_list => CloudType::UrlSource,
            None => CloudType::Aliyun,
        };
        if is_url_list && cloud_type != CloudType::UrlSource {
            return Err(ApiError::invalid(
                "src_node.cloud_type",
                format!("must be URLSource for task_type {}", spelling.this),
            ));
        }
        if !is_url_list && cloud_type == CloudType::UrlSource {
            return Err(ApiError::invalid(
                "src_node.cloud_type",
                format!("URLSource requires task_type {}", spelling.url_list),
            ));
        }
        check_crypto(
            "src_node.crypto_type",
            self.crypto_type.as_deref(),
            "src_node.kms_key_id",
            self.kms_key_id.as_deref(),
        )?;
        let (has_ak, has_sk) = (self.ak.is_some(), self.sk.is_some());
        let access_key = self.ak.unwrap_or_default();
        check_len("src_node.ak", &access_key, 0, 100)?;
        let secret_key = optional_secret("src_node.sk", self.sk, 0, 100)?;
        let connection_string = optional_secret(
            "src_node.connection_string",
            self.connection_string,
            0,
            2048,
        )?;
        let json_auth_file =
            optional_secret("src_node.json_auth_file", self.json_auth_file, 0, 65535)?;
        let security_token =
            optional_secret("src_node.security_token", self.security_token, 0, 16384)?;
        let app_id = self.app_id.filter(|id| !id.is_empty());
        if let Some(app_id) = &app_id {
            check_len("src_node.app_id", app_id, 0, 255)?;
        }
        if cloud_type == CloudType::Tencent && app_id.is_none() {
            return Err(ApiError::invalid(
                "src_node.app_id",
                "is required when cloud_type is Tencent",
            ));
        }
        let region = self.region.unwrap_or_default();
        let bucket = self.bucket.unwrap_or_default();
        if is_url_list {
            // A URL list ignores region and bucket, but what is stored is still bounded.
            check_len("src_node.region", &region, 0, MAX_REGION_LEN)?;
            check_len("src_node.bucket", &bucket, 0, MAX_BUCKET_LEN)?;
        } else {
            // "Required" = present; empty AK/SK are allowed (0..100) and mean anonymous access.
            check_non_empty("src_node.region", &region)?;
            check_len("src_node.region", &region, 1, MAX_REGION_LEN)?;
            if !has_ak {
                return Err(ApiError::required("src_node.ak"));
            }
            if !has_sk {
                return Err(ApiError::required("src_node.sk"));
            }
            check_bucket("src_node.bucket", &bucket, cloud_type)?;
        }

        // Checked whenever given, also by task types that ignore it, so the limits hold as the
        // OpenAPI document states them.
        if let Some(list_file) = &self.list_file {
            check_list_file(list_file)?;
        }
        let mut list_file_num = None;
        let list_file = if matches!(task_type, TaskType::List | TaskType::UrlList) {
            let list_file = self
                .list_file
                .ok_or_else(|| ApiError::required("src_node.list_file"))?;
            list_file_num = list_file.list_file_num;
            // OMS requires the list file in the destination region; an empty bucket means the
            // destination bucket itself.
            let bucket = if list_file.obs_bucket.is_empty() {
                dst.bucket.clone()
            } else {
                list_file.obs_bucket
            };
            Some(ListFileSpec {
                bucket,
                key: list_file.list_file_key,
            })
        } else {
            None
        };

        let object_keys = match task_type {
            TaskType::Object | TaskType::Prefix => {
                check_object_keys(task_type, spelling.this, self.object_key, &dst.save_prefix)?
            }
            TaskType::List | TaskType::UrlList => {
                // Ignored by list types, but bounded as documented.
                for (index, key) in self.object_key.iter().flatten().enumerate() {
                    check_len(
                        &format!("src_node.object_key[{index}]"),
                        key,
                        0,
                        MAX_KEY_LEN,
                    )?;
                }
                Vec::new()
            }
        };
        let credentials = Credentials {
            access_key,
            secret_key: secret_key.unwrap_or_default(),
            security_token,
            connection_string,
            json_auth_file,
        };
        let signed = !credentials.access_key.is_empty()
            || credentials.connection_string.is_some()
            || credentials.json_auth_file.is_some();
        let spec = SourceSpec {
            cloud_type,
            region,
            bucket,
            app_id,
            object_keys,
            list_file,
            key_range: None,
            list_lines: None,
            signed,
        };
        Ok((spec, credentials, list_file_num))
    }
}

/// Checks the limits of a `list_file`.
fn check_list_file(list_file: &ListFile) -> Result<(), ApiError> {
    check_len(
        "src_node.list_file.list_file_key",
        &list_file.list_file_key,
        1,
        1024,
    )?;
    check_len(
        "src_node.list_file.obs_bucket",
        &list_file.obs_bucket,
        0,
        1024,
    )?;
    if let Some(num) = &list_file.list_file_num {
        check_len(
            "src_node.list_file.list_file_num",
            num,
            0,
            MAX_LIST_FILE_NUM_LEN,
        )?;
    }
    Ok(())
}

/// Checks `object_key`: required and non-empty; object names non-empty (`""` only as a prefix,
/// where it means the whole bucket); `save_prefix` + key within 1024 characters.
fn check_object_keys(
    task_type: TaskType,
    type_word: &str,
    keys: Option<Vec<String>>,
    save_prefix: &str,
) -> Result<Vec<String>, ApiError> {
    let keys = keys.unwrap_or_default();
    if keys.is_empty() {
        return Err(ApiError::invalid(
            "src_node.object_key",
            format!("is required for task_type {type_word}"),
        ));
    }
    let prefix_len = save_prefix.chars().count();
    for (index, key) in keys.iter().enumerate() {
        let field = format!("src_node.object_key[{index}]");
        if key.is_empty() && task_type == TaskType::Object {
            return Err(ApiError::invalid(
                field,
                format!(
                    "must not be empty for task_type {type_word} (use a prefix task_type with \"\" for the whole bucket)"
                ),
            ));
        }
        let total = prefix_len + key.chars().count();
        if total > MAX_KEY_LEN {
            return Err(ApiError::invalid(
                field,
                format!("save_prefix + key is {total} characters, more than {MAX_KEY_LEN}"),
            ));
        }
    }
    Ok(keys)
}

impl DstNodeReq {
    /// Validates the destination; returns spec and credentials.
    fn into_domain(self) -> Result<(DestinationSpec, Credentials), ApiError> {
        let cloud_type = match self.cloud_type.as_deref() {
            Some(value) => parse_enum("dst_node.cloud_type", value)?,
            None => CloudType::HuaweiCloud,
        };
        if cloud_type == CloudType::UrlSource {
            return Err(ApiError::invalid(
                "dst_node.cloud_type",
                "URLSource cannot be a destination",
            ));
        }
        check_len("dst_node.ak", &self.ak, 0, 100)?;
        check_len("dst_node.sk", self.sk.expose(), 0, 100)?;
        let security_token =
            optional_secret("dst_node.security_token", self.security_token, 0, 16384)?;
        check_bucket("dst_node.bucket", &self.bucket, cloud_type)?;
        check_non_empty("dst_node.region", &self.region)?;
        check_len("dst_node.region", &self.region, 1, MAX_REGION_LEN)?;
        let save_prefix = self.save_prefix.unwrap_or_default();
        check_len("dst_node.save_prefix", &save_prefix, 0, MAX_KEY_LEN)?;
        check_crypto(
            "dst_node.crypto_type",
            self.crypto_type.as_deref(),
            "dst_node.kms_key_id",
            self.kms_key_id.as_deref(),
        )?;
        let connection_string = optional_secret(
            "dst_node.connection_string",
            self.connection_string,
            0,
            2048,
        )?;
        let json_auth_file =
            optional_secret("dst_node.json_auth_file", self.json_auth_file, 0, 65535)?;
        let credentials = Credentials {
            access_key: self.ak,
            secret_key: self.sk,
            security_token,
            connection_string,
            json_auth_file,
        };
        let spec = DestinationSpec {
            cloud_type,
            region: self.region,
            bucket: self.bucket,
            save_prefix,
        };
        Ok((spec, credentials))
    }
}
