//! Private mirrors of the core types as rows and JSON columns. Core types derive no serde, and
//! the stored shape must stay stable when they change, so each stored form is spelled out here
//! with explicit conversions; nothing here depends on a database backend.

use serde::{Deserialize, Serialize};
use tern_core::{
    BandwidthPolicy, BandwidthWindow, CloudType, Counters, DestinationSpec, Error,
    FailedObjectRecord, FailureCode, FailureReason, KeyRange, LineRange, ListFileSpec, SourceSpec,
    Task, TaskId, TaskPriority, TaskSpec, TaskStatus,
};

use crate::error::from_db;

mod group;
mod ledger;
mod secrets;
mod sync;

pub(crate) use group::{group_spec_json, split_columns, GroupRow, SplitColumns};
pub(crate) use ledger::{kind_code, kind_from_code, ledger_entry, LedgerFields};
pub(crate) use secrets::{secrets_from_json, secrets_json};
pub(crate) use sync::{sync_spec_from_json, sync_spec_json};

/// `tasks.spec`: the parts of a [`TaskSpec`] that never change, without secrets.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredSpec {
    task_type: String,
    src: StoredSource,
    dst: StoredDestination,
    description: String,
    migrate_since_s: Option<i64>,
    enable_metadata_migration: bool,
    enable_restore: bool,
    enable_failed_object_recording: bool,
    object_overwrite_mode: String,
    consistency_check: String,
    dst_storage_policy: String,
    enable_requester_pays: bool,
    echo_json: String,
    group_type: String,
}

/// The `src` of a stored task or group spec.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredSource {
    cloud_type: String,
    region: String,
    bucket: String,
    app_id: Option<String>,
    object_keys: Vec<String>,
    list_file: Option<StoredListFile>,
    /// Absent in rows written before task groups existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_range: Option<StoredKeyRange>,
    /// Absent in rows written before LIST groups streamed their slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_lines: Option<StoredLineRange>,
    /// Absent in rows written before starts checked source secrets: read as unsigned.
    #[serde(default)]
    signed: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredLineRange {
    skip: u64,
    take: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredKeyRange {
    start_after: Option<String>,
    end: Option<String>,
}

impl StoredSource {
    /// Mirrors a source spec.
    pub(crate) fn of(src: &SourceSpec) -> Self {
        StoredSource {
            cloud_type: src.cloud_type.as_str().to_owned(),
            region: src.region.clone(),
            bucket: src.bucket.clone(),
            app_id: src.app_id.clone(),
            object_keys: src.object_keys.clone(),
            list_file: src.list_file.as_ref().map(|file| StoredListFile {
                bucket: file.bucket.clone(),
                key: file.key.clone(),
            }),
            key_range: src.key_range.as_ref().map(|range| StoredKeyRange {
                start_after: range.start_after.clone(),
                end: range.end.clone(),
            }),
            list_lines: src.list_lines.map(|lines| StoredLineRange {
                skip: lines.skip,
                take: lines.take,
            }),
            signed: src.signed,
        }
    }

    /// Rebuilds the source spec.
    pub(crate) fn into_spec(self) -> Result<SourceSpec, Error> {
        Ok(SourceSpec {
            cloud_type: self.cloud_type.parse::<CloudType>()?,
            region: self.region,
            bucket: self.bucket,
            app_id: self.app_id,
            object_keys: self.object_keys,
            list_file: self.list_file.map(|file| ListFileSpec {
                bucket: file.bucket,
                key: file.key,
            }),
            key_range: self.key_range.map(|range| KeyRange {
                start_after: range.start_after,
                end: range.end,
            }),
            list_lines: self.list_lines.map(|lines| LineRange {
                skip: lines.skip,
                take: lines.take,
            }),
            signed: self.signed,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredListFile {
    bucket: String,
    key: String,
}

/// The `dst` of a stored task or group spec.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredDestination {
    cloud_type: String,
    region: String,
    bucket: String,
    save_prefix: String,
}

impl StoredDestination {
    /// Mirrors a destination spec.
    pub(crate) fn of(dst: &DestinationSpec) -> Self {
        StoredDestination {
            cloud_type: dst.cloud_type.as_str().to_owned(),
            region: dst.region.clone(),
            bucket: dst.bucket.clone(),
            save_prefix: dst.save_prefix.clone(),
        }
    }

    /// Rebuilds the destination spec.
    pub(crate) fn into_spec(self) -> Result<DestinationSpec, Error> {
        Ok(DestinationSpec {
            cloud_type: self.cloud_type.parse::<CloudType>()?,
            region: self.region,
            bucket: self.bucket,
            save_prefix: self.save_prefix,
        })
    }
}

/// One window of `tasks.bandwidth_policy`.
#[derive(Serialize, Deserialize)]
struct StoredWindow {
    start: u16,
    end: u16,
    max_bandwidth: u64,
}

/// Encodes the unchanging part of a spec as the `tasks.spec` JSON.
pub(crate) fn spec_json(spec: &TaskSpec) -> Result<String, Error> {
    let stored = StoredSpec {
        task_type: spec.task_type.as_str().to_owned(),
        src: StoredSource::of(&spec.src),
        dst: StoredDestination::of(&spec.dst),
        description: spec.description.clone(),
        migrate_since_s: spec.migrate_since_s,
        enable_metadata_migration: spec.enable_metadata_migration,
        enable_restore: spec.enable_restore,
        enable_failed_object_recording: spec.enable_failed_object_recording,
        object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
        consistency_check: spec.consistency_check.as_str().to_owned(),
        dst_storage_policy: spec.dst_storage_policy.clone(),
        enable_requester_pays: spec.enable_requester_pays,
        echo_json: spec.echo_json.clone(),
        group_type: spec.group_type.as_str().to_owned(),
    };
    to_json(&stored)
}

/// Encodes a bandwidth policy as the `tasks.bandwidth_policy` JSON.
pub(crate) fn bandwidth_json(policy: &BandwidthPolicy) -> Result<String, Error> {
    let windows: Vec<StoredWindow> = policy
        .windows()
        .iter()
        .map(|window| StoredWindow {
            start: window.start,
            end: window.end,
            max_bandwidth: window.max_bandwidth,
        })
        .collect();
    to_json(&windows)
}

/// Decodes a `bandwidth_policy` column; the error tells what is wrong with it.
pub(crate) fn bandwidth_from_json(text: &str) -> Result<BandwidthPolicy, String> {
    let windows: Vec<StoredWindow> = serde_json::from_str(text).map_err(|err| err.to_string())?;
    BandwidthPolicy::new(
        windows
            .into_iter()
            .map(|window| BandwidthWindow {
                start: window.start,
                end: window.end,
                max_bandwidth: window.max_bandwidth,
            })
            .collect(),
    )
    .map_err(|err| err.to_string())
}

/// Encodes a stored form as JSON text.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|err| Error::Internal(format!("encoding row: {err}")))
}

/// A `tasks` row as plain values, read by a backend and turned into a [`Task`].
pub(crate) struct TaskRow {
    pub(crate) id: i64,
    pub(crate) project_id: String,
    pub(crate) name: String,
    pub(crate) status: i32,
    pub(crate) priority_rank: i32,
    pub(crate) group_id: Option<String>,
    pub(crate) spec: String,
    pub(crate) bandwidth_policy: String,
    pub(crate) succeeded_num: i64,
    pub(crate) succeeded_size: i64,
    pub(crate) skipped_num: i64,
    pub(crate) skipped_size: i64,
    pub(crate) failed_num: i64,
    pub(crate) failed_size: i64,
    pub(crate) listed_num: i64,
    pub(crate) listed_size: i64,
    pub(crate) created_at_ms: i64,
    pub(crate) start_time_ms: Option<i64>,
    pub(crate) total_time_ms: i64,
    pub(crate) is_query_over: bool,
    pub(crate) migrate_speed: i64,
    pub(crate) left_time_ms: i64,
    pub(crate) error_code: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) failed_record_result: Option<bool>,
    pub(crate) failed_record_key: Option<String>,
    pub(crate) failed_record_error_code: Option<String>,
    pub(crate) failed_only: bool,
    pub(crate) checkpoint: Option<String>,
}

impl TaskRow {
    /// Rebuilds the domain task; a row that does not parse is an internal error.
    pub(crate) fn into_task(self) -> Result<Task, Error> {
        let corrupt = |what: &str, err: String| {
            Error::Internal(format!("task {}: stored {what} is corrupt: {err}", self.id))
        };
        let status = TaskStatus::from_code(self.status)
            .ok_or_else(|| corrupt("status", self.status.to_string()))?;
        let stored: StoredSpec =
            serde_json::from_str(&self.spec).map_err(|err| corrupt("spec", err.to_string()))?;
        let bandwidth_policy = bandwidth_from_json(&self.bandwidth_policy)
            .map_err(|err| corrupt("bandwidth policy", err))?;
        let parse_err = |err: Error| corrupt("spec", err.to_string());
        let spec = TaskSpec {
            task_type: stored.task_type.parse().map_err(parse_err)?,
            src: stored.src.into_spec().map_err(parse_err)?,
            dst: stored.dst.into_spec().map_err(parse_err)?,
            description: stored.description,
            migrate_since_s: stored.migrate_since_s,
            bandwidth_policy,
            enable_metadata_migration: stored.enable_metadata_migration,
            enable_restore: stored.enable_restore,
            enable_failed_object_recording: stored.enable_failed_object_recording,
            object_overwrite_mode: stored.object_overwrite_mode.parse().map_err(parse_err)?,
            consistency_check: stored.consistency_check.parse().map_err(parse_err)?,
            dst_storage_policy: stored.dst_storage_policy,
            enable_requester_pays: stored.enable_requester_pays,
            task_priority: TaskPriority::from_rank(self.priority_rank),
            echo_json: stored.echo_json,
            group_id: self.group_id,
            group_type: stored.group_type.parse().map_err(parse_err)?,
        };
        let successful_num = from_db(self.succeeded_num, "succeeded_num")?;
        let skipped_num = from_db(self.skipped_num, "skipped_num")?;
        let failed_num = from_db(self.failed_num, "failed_num")?;
        let successful_size = from_db(self.succeeded_size, "succeeded_size")?;
        let skipped_size = from_db(self.skipped_size, "skipped_size")?;
        let failed_size = from_db(self.failed_size, "failed_size")?;
        let counters = Counters {
            // Total is every ledger row, so it is the sum of the kinds by construction.
            total_num: successful_num + skipped_num + failed_num,
            successful_num,
            skipped_num,
            failed_num,
            total_size: successful_size + skipped_size + failed_size,
            successful_size,
            skipped_size,
            failed_size,
        };
        let error_reason = failure_reason(self.error_code, self.error_message)?;
        let failed_object_record = self.failed_record_result.map(|result| FailedObjectRecord {
            result,
            list_file_key: self.failed_record_key.unwrap_or_default(),
            error_code: self.failed_record_error_code.unwrap_or_default(),
        });
        Ok(Task {
            id: TaskId(self.id),
            project_id: self.project_id,
            name: self.name,
            spec,
            status,
            counters,
            listed_num: from_db(self.listed_num, "listed_num")?,
            listed_size: from_db(self.listed_size, "listed_size")?,
            created_at_ms: self.created_at_ms,
            start_time_ms: self.start_time_ms,
            total_time_ms: self.total_time_ms,
            is_query_over: self.is_query_over,
            migrate_speed: self.migrate_speed,
            left_time_ms: self.left_time_ms,
            error_reason,
            failed_object_record,
            failed_only: self.failed_only,
            checkpoint: self.checkpoint,
        })
    }
}

/// Rebuilds a stored failure reason; an unknown code is a corrupt row.
pub(crate) fn failure_reason(
    code: Option<String>,
    message: Option<String>,
) -> Result<Option<FailureReason>, Error> {
    let Some(code) = code else {
        return Ok(None);
    };
    let parsed = FailureCode::from_code(&code)
        .ok_or_else(|| Error::Internal(format!("stored failure code {code:?} is unknown")))?;
    Ok(Some(FailureReason::new(
        parsed,
        message.unwrap_or_default(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_source_stored_before_key_ranges_still_loads() {
        let old = r#"{"cloud_type":"AWS","region":"r","bucket":"b","app_id":null,
            "object_keys":["p/"],"list_file":null}"#;
        let stored: StoredSource = serde_json::from_str(old).unwrap();
        let src = stored.into_spec().unwrap();
        assert_eq!(src.key_range, None);
        assert_eq!(src.object_keys, vec!["p/".to_owned()]);
    }

    #[test]
    fn test_key_range_round_trips_and_is_omitted_when_absent() {
        let old = r#"{"cloud_type":"AWS","region":"r","bucket":"b","app_id":null,
            "object_keys":[],"list_file":null}"#;
        let mut src = serde_json::from_str::<StoredSource>(old)
            .unwrap()
            .into_spec()
            .unwrap();
        let text = to_json(&StoredSource::of(&src)).unwrap();
        assert!(!text.contains("key_range"), "{text}");
        src.key_range = Some(KeyRange {
            start_after: Some("a".into()),
            end: None,
        });
        let text = to_json(&StoredSource::of(&src)).unwrap();
        let back = serde_json::from_str::<StoredSource>(&text).unwrap();
        assert_eq!(back.into_spec().unwrap(), src);
    }
}
