//! Bodies that change an existing task: `start_task`, `update_bandwidth_policy`,
//! `batch_update_tasks`, and the bandwidth window they share.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::names;
use tern_core::{
    BandwidthPolicy, BandwidthWindow, Credentials, Secret, TaskId, TaskPriority, TaskSecrets,
};

use super::task_extras::MAX_CDN_KEY_LEN;
use super::validate::{bandwidth_policy, check_crypto, check_len, optional_secret, parse_enum};
use crate::ApiError;

/// Most task ids one `batch_update_tasks` call may name.
const MAX_BATCH_IDS: usize = 20;

/// One bandwidth window: `"hh:mm"` start (inclusive) and end, cap in bytes/s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BandwidthPolicyDto {
    /// Window end, `"hh:mm"`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
    /// Cap inside the window, 1048576..=209715200 bytes/s.
    #[schema(minimum = 1048576, maximum = 209715200)]
    pub max_bandwidth: i64,
    /// Window start, `"hh:mm"`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
}

impl BandwidthPolicyDto {
    /// The wire form of one window.
    pub fn from_window(window: &BandwidthWindow) -> Self {
        BandwidthPolicyDto {
            end: BandwidthWindow::format_minute(window.end),
            max_bandwidth: i64::try_from(window.max_bandwidth).unwrap_or(i64::MAX),
            start: BandwidthWindow::format_minute(window.start),
        }
    }

    /// The wire form of a whole policy.
    pub fn from_policy(policy: &BandwidthPolicy) -> Vec<Self> {
        policy.windows().iter().map(Self::from_window).collect()
    }
}

/// `start_task` body: the secrets of the next run (they are never stored across runs).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StartTaskReq {
    /// Source AK, 1..100 (not needed for URL lists).
    #[schema(min_length = 1, max_length = 100)]
    pub src_ak: Option<String>,
    /// Source SK, 1..100.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub src_sk: Option<Secret>,
    /// Azure connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// `DEFAULT` or `KMS` for the source secrets.
    #[schema(value_type = Option<names::CryptoType>)]
    pub src_crypto_type: Option<String>,
    /// KMS key id for the source secrets, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub src_kms_key_id: Option<String>,
    /// Google service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// Source STS token, 0..16384.
    #[schema(value_type = Option<String>, max_length = 16384)]
    pub src_security_token: Option<Secret>,
    /// Destination AK, 1..100.
    #[schema(min_length = 1, max_length = 100)]
    pub dst_ak: String,
    /// Destination SK, 1..100.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub dst_sk: Secret,
    /// `DEFAULT` or `KMS` for the destination secrets.
    #[schema(value_type = Option<names::CryptoType>)]
    pub dst_crypto_type: Option<String>,
    /// KMS key id for the destination secrets, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub dst_kms_key_id: Option<String>,
    /// Destination STS token, 0..16384.
    #[schema(value_type = Option<String>, max_length = 16384)]
    pub dst_security_token: Option<Secret>,
    /// CDN authentication key, 0..255.
    #[schema(value_type = Option<String>, max_length = 255)]
    pub source_cdn_authentication_key: Option<Secret>,
    /// `DEFAULT` or `KMS` for the CDN key.
    #[schema(value_type = Option<names::CryptoType>)]
    pub source_cdn_crypto_type: Option<String>,
    /// KMS key id for the CDN key, 36 characters.
    #[schema(min_length = 36, max_length = 36)]
    pub source_cdn_kms_key_id: Option<String>,
    /// True: re-copy only failed objects; false/absent: full run.
    pub migrate_failed_object: Option<bool>,
}

impl StartTaskReq {
    /// Checks the limits; returns the run's secrets and `migrate_failed_object`. Whether the
    /// task needs source secrets depends on the stored task; the store asks core
    /// (`SourceSpec::check_start_secrets`) in the start's own transaction.
    pub fn into_domain(self) -> Result<(TaskSecrets, bool), ApiError> {
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
        if let Some(src_ak) = &self.src_ak {
            check_len("src_ak", src_ak, 1, 100)?;
        }
        if let Some(src_sk) = &self.src_sk {
            check_len("src_sk", src_sk.expose(), 1, 100)?;
        }
        match (&self.src_ak, &self.src_sk) {
            (Some(_), None) => return Err(ApiError::invalid("src_sk", "is required with src_ak")),
            (None, Some(_)) => return Err(ApiError::invalid("src_ak", "is required with src_sk")),
            _ => {}
        }
        let src = Credentials {
            access_key: self.src_ak.unwrap_or_default(),
            secret_key: self.src_sk.unwrap_or_default(),
            security_token: optional_secret(
                "src_security_token",
                self.src_security_token,
                0,
                16384,
            )?,
            connection_string: optional_secret(
                "connection_string",
                self.connection_string,
                0,
                2048,
            )?,
            json_auth_file: optional_secret("json_auth_file", self.json_auth_file, 0, 65535)?,
        };
        check_len("dst_ak", &self.dst_ak, 1, 100)?;
        check_len("dst_sk", self.dst_sk.expose(), 1, 100)?;
        let dst = Credentials {
            access_key: self.dst_ak,
            secret_key: self.dst_sk,
            security_token: optional_secret(
                "dst_security_token",
                self.dst_security_token,
                0,
                16384,
            )?,
            connection_string: None,
            json_auth_file: None,
        };
        let cdn_key = optional_secret(
            "source_cdn_authentication_key",
            self.source_cdn_authentication_key,
            0,
            MAX_CDN_KEY_LEN,
        )?;
        let secrets = TaskSecrets { src, dst, cdn_key };
        Ok((secrets, self.migrate_failed_object.unwrap_or(false)))
    }
}

/// `update_bandwidth_policy` (and `update_task_group`) body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateBandwidthPolicyReq {
    /// The new windows; replaces the whole policy (empty = no limit).
    #[schema(max_items = 5)]
    pub bandwidth_policy: Vec<BandwidthPolicyDto>,
}

impl UpdateBandwidthPolicyReq {
    /// Checks the windows into a policy.
    pub fn into_domain(self) -> Result<BandwidthPolicy, ApiError> {
        bandwidth_policy(&self.bandwidth_policy)
    }
}

/// `batch_update_tasks` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BatchUpdateTasksReq {
    /// Update every task of this group, 1..36 characters (exactly one of `group_id` / `ids`).
    #[schema(min_length = 1, max_length = 36)]
    pub group_id: Option<String>,
    /// Update these tasks, at most 20 (exactly one of `group_id` / `ids`).
    #[schema(value_type = Option<Vec<names::TaskIdNumber>>, max_items = 20)]
    pub ids: Option<Vec<i64>>,
    /// The new windows.
    #[schema(max_items = 5)]
    pub bandwidth_policy: Vec<BandwidthPolicyDto>,
    /// New priority; applies only to waiting, paused or failed tasks.
    #[schema(value_type = Option<names::TaskPriority>)]
    pub task_priority: Option<String>,
}

pub use tern_core::BatchTarget;

/// A checked `batch_update_tasks` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUpdate {
    /// The tasks addressed.
    pub target: BatchTarget,
    /// The new bandwidth policy.
    pub bandwidth_policy: BandwidthPolicy,
    /// The new priority, if any.
    pub task_priority: Option<TaskPriority>,
}

impl BatchUpdateTasksReq {
    /// Checks the exactly-one-target rule, the limits and the policy.
    pub fn into_domain(self) -> Result<BatchUpdate, ApiError> {
        let target = match (self.group_id, self.ids) {
            (Some(group_id), None) => {
                check_len("group_id", &group_id, 1, 36)?;
                BatchTarget::Group(group_id)
            }
            (None, Some(ids)) => {
                if ids.len() > MAX_BATCH_IDS {
                    return Err(ApiError::invalid(
                        "ids",
                        format!("{} ids given, at most {MAX_BATCH_IDS} allowed", ids.len()),
                    ));
                }
                if let Some(index) = ids.iter().position(|id| *id < 0) {
                    return Err(ApiError::invalid(
                        format!("ids[{index}]"),
                        format!("{} is negative", ids[index]),
                    ));
                }
                BatchTarget::Tasks(ids.into_iter().map(TaskId).collect())
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "ids",
                    "give either group_id or ids, not both",
                ))
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "group_id",
                    "one of group_id or ids is required",
                ))
            }
        };
        let bandwidth_policy = bandwidth_policy(&self.bandwidth_policy)?;
        let task_priority = match self.task_priority.as_deref() {
            Some(value) => Some(parse_enum::<TaskPriority>("task_priority", value)?),
            None => None,
        };
        Ok(BatchUpdate {
            target,
            bandwidth_policy,
            task_priority,
        })
    }
}
