//! `create_task_group` body (`CreateTaskGroupReq`, `TaskGroupSrcNode`, `TaskGroupDstNode`) and its
//! validation into a [`GroupSpec`] plus the [`TaskSecrets`] the group's tasks need.
//!
//! A group body is a task body with an upper-case `task_type` (`PREFIX` default, `LIST`,
//! `URL_LIST`; no `OBJECT`), no `task_priority` and no STS tokens. Every other rule is the
//! task's, so the conversion maps the body onto [`CreateTaskReq`] and lets
//! [`CreateTaskReq::into_domain`] check it: limits, enums, cross-field rules, CDN, SMN and the
//! KMS refusal can never drift apart between tasks and groups.

use serde::Deserialize;
use utoipa::ToSchema;

use super::names;
use tern_core::{GroupSpec, GroupTaskType, Secret, TaskSecrets, TaskSpec, TaskType};

use super::task_create::TypeSpelling;
use super::validate::parse_enum;
use super::{
    BandwidthPolicyDto, CreateTaskReq, DstNodeReq, ListFile, SmnConfig, SourceCdnReq, SrcNodeReq,
};
use crate::ApiError;

/// `create_task_group` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateTaskGroupReq {
    /// Source.
    pub src_node: TaskGroupSrcNode,
    /// Free text, 0..255 characters, none of `^ < > & " '` (OMS.0078).
    #[schema(max_length = 255, pattern = "^[^^<>&\"']*$")]
    pub description: Option<String>,
    /// Destination.
    pub dst_node: TaskGroupDstNode,
    /// Copy user metadata (default false).
    pub enable_metadata_migration: Option<bool>,
    /// Write a failed-object list (default true).
    pub enable_failed_object_recording: Option<bool>,
    /// Restore archived source objects first (default false).
    pub enable_restore: Option<bool>,
    /// `PREFIX` (default), `LIST` or `URL_LIST`.
    #[schema(value_type = Option<names::GroupTaskType>)]
    pub task_type: Option<String>,
    /// Rate-limit windows, given to every task of the group.
    #[schema(max_items = 5)]
    pub bandwidth_policy: Option<Vec<BandwidthPolicyDto>>,
    /// SMN notification settings.
    pub smn_config: Option<SmnConfig>,
    /// Fetch source objects through a CDN domain.
    pub source_cdn: Option<SourceCdnReq>,
    /// Skip source objects older than this, Unix SECONDS.
    #[schema(minimum = 0, maximum = 253_402_300_799_i64)]
    pub migrate_since: Option<i64>,
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
    /// Legacy (terraform): KMS encryption at the destination; only `false` is taken.
    pub enable_kms: Option<bool>,
}

/// `src_node` of `create_task_group`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TaskGroupSrcNode {
    /// Access key, 0..100; required unless `URL_LIST`.
    #[schema(max_length = 100)]
    pub ak: Option<String>,
    /// Secret key, 0..100; required unless `URL_LIST`.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub sk: Option<Secret>,
    /// Azure connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// `DEFAULT` or `KMS` (refused: tern cannot decrypt KMS secrets).
    #[schema(value_type = Option<names::CryptoType>)]
    pub crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub kms_key_id: Option<String>,
    /// Google service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// Tencent APPID, 0..255; required for `Tencent`.
    #[schema(max_length = 255)]
    pub app_id: Option<String>,
    /// Region; required unless `URL_LIST`.
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// Prefixes of a `PREFIX` group (`[""]` = whole bucket).
    #[schema(value_type = Option<Vec<names::ObjectKey>>)]
    pub object_key: Option<Vec<String>>,
    /// Bucket; required unless `URL_LIST`.
    #[schema(max_length = 222)]
    pub bucket: Option<String>,
    /// Vendor (default `Aliyun`; `URLSource`, the default there, for `URL_LIST`).
    #[schema(value_type = Option<names::CloudType>)]
    pub cloud_type: Option<String>,
    /// List file of `LIST` / `URL_LIST` groups.
    pub list_file: Option<ListFile>,
}

/// `dst_node` of `create_task_group`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TaskGroupDstNode {
    /// Access key, 0..100.
    #[schema(max_length = 100)]
    pub ak: String,
    /// Secret key, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub sk: Secret,
    /// `DEFAULT` or `KMS` (refused: tern cannot decrypt KMS secrets).
    #[schema(value_type = Option<names::CryptoType>)]
    pub crypto_type: Option<String>,
    /// KMS key id, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub kms_key_id: Option<String>,
    /// Region.
    #[schema(min_length = 1, max_length = 100)]
    pub region: String,
    /// Bucket.
    #[schema(min_length = 1, max_length = 222)]
    pub bucket: String,
    /// Destination vendor (default `HEC`, i.e. Huawei OBS).
    #[schema(value_type = Option<names::CloudType>)]
    pub cloud_type: Option<String>,
    /// tern extension, not in OMS: an Azure destination's connection string.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// tern extension, not in OMS: a Google destination's service-account JSON.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// Prepended to destination keys; with each key at most 1024 characters.
    #[schema(max_length = 1024)]
    pub save_prefix: Option<String>,
}

impl CreateTaskGroupReq {
    /// Checks every rule of REFERENCE.md §2 (through the task rules) and splits the request into
    /// spec and secrets. The spec's `src.key_range` is `None`: ranges belong to split tasks.
    pub fn into_domain(self) -> Result<(GroupSpec, TaskSecrets), ApiError> {
        let task_type: GroupTaskType = match self.task_type.as_deref() {
            Some(value) => parse_enum("task_type", value)?,
            None => GroupTaskType::default(),
        };
        let request = CreateTaskReq {
            task_type: Some(task_type_of(task_type).as_str().to_owned()),
            src_node: self.src_node.into_task_node(),
            dst_node: self.dst_node.into_task_node(),
            description: self.description,
            migrate_since: self.migrate_since,
            bandwidth_policy: self.bandwidth_policy,
            source_cdn: self.source_cdn,
            smn_config: self.smn_config,
            enable_metadata_migration: self.enable_metadata_migration,
            enable_restore: self.enable_restore,
            enable_failed_object_recording: self.enable_failed_object_recording,
            object_overwrite_mode: self.object_overwrite_mode,
            dst_storage_policy: self.dst_storage_policy,
            consistency_check: self.consistency_check,
            enable_requester_pays: self.enable_requester_pays,
            enable_kms: self.enable_kms,
            task_priority: None,
        };
        let spelling = TypeSpelling {
            this: task_type.as_str(),
            url_list: GroupTaskType::UrlList.as_str(),
        };
        let (spec, secrets) = request.into_domain_as(Some(spelling))?;
        // Destructured in full so a new `TaskSpec` field cannot be dropped silently.
        let TaskSpec {
            task_type: _,
            src,
            dst,
            description,
            migrate_since_s,
            bandwidth_policy,
            enable_metadata_migration,
            enable_restore,
            enable_failed_object_recording,
            object_overwrite_mode,
            consistency_check,
            dst_storage_policy,
            enable_requester_pays,
            task_priority: _,
            echo_json,
            group_id: _,
            group_type: _,
        } = spec;
        let spec = GroupSpec {
            task_type,
            src,
            dst,
            description,
            migrate_since_s,
            bandwidth_policy,
            enable_metadata_migration,
            enable_restore,
            enable_failed_object_recording,
            object_overwrite_mode,
            consistency_check,
            dst_storage_policy,
            enable_requester_pays,
            echo_json,
        };
        Ok((spec, secrets))
    }
}

impl TaskGroupSrcNode {
    /// The same source as a task's `src_node` (groups take no STS token).
    fn into_task_node(self) -> SrcNodeReq {
        SrcNodeReq {
            cloud_type: self.cloud_type,
            region: self.region,
            ak: self.ak,
            sk: self.sk,
            connection_string: self.connection_string,
            json_auth_file: self.json_auth_file,
            security_token: None,
            app_id: self.app_id,
            bucket: self.bucket,
            object_key: self.object_key,
            list_file: self.list_file,
            crypto_type: self.crypto_type,
            kms_key_id: self.kms_key_id,
        }
    }
}

impl TaskGroupDstNode {
    /// The same destination as a task's `dst_node` (groups take no STS token).
    fn into_task_node(self) -> DstNodeReq {
        DstNodeReq {
            ak: self.ak,
            sk: self.sk,
            security_token: None,
            bucket: self.bucket,
            save_prefix: self.save_prefix,
            region: self.region,
            crypto_type: self.crypto_type,
            kms_key_id: self.kms_key_id,
            cloud_type: self.cloud_type,
            connection_string: self.connection_string,
            json_auth_file: self.json_auth_file,
        }
    }
}

/// The task type whose rules a group type follows.
fn task_type_of(task_type: GroupTaskType) -> TaskType {
    match task_type {
        GroupTaskType::Prefix => TaskType::Prefix,
        GroupTaskType::List => TaskType::List,
        GroupTaskType::UrlList => TaskType::UrlList,
    }
}
