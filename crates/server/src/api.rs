//! OMS v2 wire types with their exact JSON field names (REFERENCE.md §2), and their conversion
//! into `tern-core` types.
//!
//! Requests accept and ignore unknown fields: SDKs and terraform still send legacy ones such as
//! `enable_kms`. Optional fields are `Option`; required ones are plain, so a missing one is a
//! format error (OMS.0002) that names it. Every rule the reference states for a field (length,
//! enum, range, cross-field) is checked in the `into_domain` conversions and refused with
//! OMS.0001 naming the field (`src_node.ak`, `bandwidth_policy[1].start`, …).
//!
//! Responses serialize every field of their model, with `0` / `""` / `false` when the task has no
//! value, except optional objects (`error_reason`, `smn_info`, `source_cdn`,
//! `failed_object_record`, `list_file`), which are omitted when absent.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ApiError;

pub mod bucket_helpers;
mod group_create;
mod group_resp;
mod group_update;
mod meta;
pub mod names;
mod sync_notify;
mod sync_req;
mod sync_resp;
mod task_create;
mod task_extras;
mod task_resp;
mod task_update;
mod url_list;
mod validate;

#[cfg(test)]
mod tests_create;
#[cfg(test)]
mod tests_group;
#[cfg(test)]
mod tests_resp;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_update;

pub use group_create::{CreateTaskGroupReq, TaskGroupDstNode, TaskGroupSrcNode};
pub use group_resp::{
    CreateTaskGroupResponse, ListTaskGroupResponse, ShowTaskGroupResponse, TaskGroupDstNodeResp,
    TaskGroupResp, TaskGroupSrcNodeResp,
};
pub use group_update::{RetryGroup, RetryTaskGroupReq, StartTaskGroupReq, UpdateTaskGroupReq};
pub use meta::{
    Link, ListApiVersionsResponse, RegionInfo, ShowApiInfoResponse, ShowRegionInfoResp, Version,
};
pub use sync_notify::{
    NotifiedKeys, S3Bucket, S3Entity, S3EventNotification, S3EventRecord, S3Object,
    MAX_NOTIFICATION_RECORDS,
};
pub use sync_req::{CreateSyncTaskReq, StartSyncTaskReq, SyncObjectReq};
pub use sync_resp::{
    statistic_series, CreateSyncTaskResponse, ListSyncTaskStatisticResponse, ListSyncTasksResponse,
    ShowSyncTaskResponse, StatisticData, StatisticTypeData, SyncTaskInfo,
};
pub use task_create::{CreateTaskReq, DstNodeReq, ListFile, SrcNodeReq};
pub use task_extras::{SmnConfig, SourceCdnReq, TaskEcho};
pub use task_resp::{
    CreateTaskResponse, DstNodeResp, ErrorReasonResp, FailedObjectRecordDto, ListTasksResponse,
    ShowTaskResponse, SmnInfo, SourceCdnResp, SrcNodeResp, TaskResp,
};
pub use task_update::{
    BandwidthPolicyDto, BatchTarget, BatchUpdate, BatchUpdateTasksReq, StartTaskReq,
    UpdateBandwidthPolicyReq,
};
pub use url_list::{CheckUrlSourceListFileFormatReq, UrlListFileCheck};

/// The OMS error body: `{"error_code": "OMS.xxxx", "error_msg": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// `OMS.xxxx` or `APIGW.xxxx`.
    #[schema(pattern = "^(OMS|APIGW)\\.[0-9]{4}$")]
    pub error_code: String,
    /// Human-readable cause.
    pub error_msg: String,
}

/// Parses a request body; an empty body counts as `{}` (the SDK sends none for an unset model).
///
/// Errors name the JSON path at fault: OMS.0067 when the bytes are not JSON, OMS.0002 when a
/// value has the wrong type or a required field is missing.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| ApiError::from_json(&e))?;
    deserializer
        .end()
        .map_err(|e| ApiError::NotJson(e.to_string()))?;
    Ok(value)
}
