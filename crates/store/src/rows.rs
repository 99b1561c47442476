//! Private mirrors of the core types as rows and JSON columns. Core types derive no serde, and
//! the stored shape must stay stable when they change, so each stored form is spelled out here
//! with explicit conversions; nothing here depends on a database backend.

use serde::{Deserialize, Serialize};
use tern_core::{
    BandwidthPolicy, BandwidthWindow, CloudType, Counters, Credentials, DestinationSpec, Error,
    FailedObjectRecord, LedgerEntry, ListFileSpec, ObjectOutcome, Outcome, OutcomeKind, Secret,
    SourceSpec, Task, TaskId, TaskPriority, TaskSecrets, TaskSpec, TaskStatus,
};

use crate::error::from_db;

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

#[derive(Serialize, Deserialize)]
struct StoredSource {
    cloud_type: String,
    region: String,
    bucket: String,
    app_id: Option<String>,
    object_keys: Vec<String>,
    list_file: Option<StoredListFile>,
}

#[derive(Serialize, Deserialize)]
struct StoredListFile {
    bucket: String,
    key: String,
}

#[derive(Serialize, Deserialize)]
struct StoredDestination {
    cloud_type: String,
    region: String,
    bucket: String,
    save_prefix: String,
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
        src: StoredSource {
            cloud_type: spec.src.cloud_type.as_str().to_owned(),
            region: spec.src.region.clone(),
            bucket: spec.src.bucket.clone(),
            app_id: spec.src.app_id.clone(),
            object_keys: spec.src.object_keys.clone(),
            list_file: spec.src.list_file.as_ref().map(|file| StoredListFile {
                bucket: file.bucket.clone(),
                key: file.key.clone(),
            }),
        },
        dst: StoredDestination {
            cloud_type: spec.dst.cloud_type.as_str().to_owned(),
            region: spec.dst.region.clone(),
            bucket: spec.dst.bucket.clone(),
            save_prefix: spec.dst.save_prefix.clone(),
        },
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

/// Encodes task secrets as the plaintext that gets sealed.
pub(crate) fn secrets_json(secrets: &TaskSecrets) -> Result<Vec<u8>, Error> {
    let stored = StoredSecrets {
        src: StoredCredentials::from(&secrets.src),
        dst: StoredCredentials::from(&secrets.dst),
        cdn_key: expose(secrets.cdn_key.as_ref()),
    };
    serde_json::to_vec(&stored).map_err(|err| Error::Internal(format!("encoding secrets: {err}")))
}

/// Decodes unsealed plaintext back into task secrets.
pub(crate) fn secrets_from_json(plaintext: &[u8]) -> Result<TaskSecrets, Error> {
    let stored: StoredSecrets = serde_json::from_slice(plaintext)
        .map_err(|err| Error::Internal(format!("decoding secrets: {err}")))?;
    Ok(TaskSecrets {
        src: stored.src.into(),
        dst: stored.dst.into(),
        cdn_key: stored.cdn_key.map(Secret::new),
    })
}

/// Sealed plaintext of a task's secrets. Never `Debug`, never logged.
#[derive(Serialize, Deserialize)]
struct StoredSecrets {
    src: StoredCredentials,
    dst: StoredCredentials,
    cdn_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    access_key: String,
    secret_key: String,
    security_token: Option<String>,
    connection_string: Option<String>,
    json_auth_file: Option<String>,
}

impl From<&Credentials> for StoredCredentials {
    fn from(credentials: &Credentials) -> Self {
        StoredCredentials {
            access_key: credentials.access_key.clone(),
            secret_key: credentials.secret_key.expose().to_owned(),
            security_token: expose(credentials.security_token.as_ref()),
            connection_string: expose(credentials.connection_string.as_ref()),
            json_auth_file: expose(credentials.json_auth_file.as_ref()),
        }
    }
}

impl From<StoredCredentials> for Credentials {
    fn from(stored: StoredCredentials) -> Self {
        Credentials {
            access_key: stored.access_key,
            secret_key: Secret::new(stored.secret_key),
            security_token: stored.security_token.map(Secret::new),
            connection_string: stored.connection_string.map(Secret::new),
            json_auth_file: stored.json_auth_file.map(Secret::new),
        }
    }
}

fn expose(secret: Option<&Secret>) -> Option<String> {
    secret.map(|secret| secret.expose().to_owned())
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Error> {
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
        let windows: Vec<StoredWindow> = serde_json::from_str(&self.bandwidth_policy)
            .map_err(|err| corrupt("bandwidth policy", err.to_string()))?;
        let bandwidth_policy = BandwidthPolicy::new(
            windows
                .into_iter()
                .map(|window| BandwidthWindow {
                    start: window.start,
                    end: window.end,
                    max_bandwidth: window.max_bandwidth,
                })
                .collect(),
        )
        .map_err(|err| corrupt("bandwidth policy", err.to_string()))?;
        let parse_err = |err: Error| corrupt("spec", err.to_string());
        let spec = TaskSpec {
            task_type: stored.task_type.parse().map_err(parse_err)?,
            src: SourceSpec {
                cloud_type: stored
                    .src
                    .cloud_type
                    .parse::<CloudType>()
                    .map_err(parse_err)?,
                region: stored.src.region,
                bucket: stored.src.bucket,
                app_id: stored.src.app_id,
                object_keys: stored.src.object_keys,
                list_file: stored.src.list_file.map(|file| ListFileSpec {
                    bucket: file.bucket,
                    key: file.key,
                }),
            },
            dst: DestinationSpec {
                cloud_type: stored
                    .dst
                    .cloud_type
                    .parse::<CloudType>()
                    .map_err(parse_err)?,
                region: stored.dst.region,
                bucket: stored.dst.bucket,
                save_prefix: stored.dst.save_prefix,
            },
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
        let error_reason = match (self.error_code, self.error_message) {
            (Some(code), message) => Some((code, message.unwrap_or_default())),
            (None, _) => None,
        };
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

/// How one outcome is written to the ledger: kind, detail, message and CRC64.
pub(crate) struct LedgerFields {
    pub(crate) kind: OutcomeKind,
    pub(crate) detail: &'static str,
    pub(crate) message: String,
    /// The u64 CRC64 reinterpreted bit-for-bit as `BIGINT`.
    pub(crate) crc64: Option<i64>,
}

impl LedgerFields {
    /// Maps an engine outcome onto ledger columns.
    pub(crate) fn of(outcome: &ObjectOutcome) -> Self {
        match &outcome.outcome {
            Outcome::Succeeded {
                verification,
                crc64,
            } => LedgerFields {
                kind: OutcomeKind::Succeeded,
                detail: verification.as_str(),
                message: String::new(),
                crc64: Some(crc64.cast_signed()),
            },
            Outcome::Skipped(reason) => LedgerFields {
                kind: OutcomeKind::Skipped,
                detail: reason.as_str(),
                message: String::new(),
                crc64: None,
            },
            Outcome::Failed { code, message } => LedgerFields {
                kind: OutcomeKind::Failed,
                detail: code.as_str(),
                message: message.clone(),
                crc64: None,
            },
        }
    }
}

/// Parses a stored outcome kind.
pub(crate) fn kind_from_str(kind: &str) -> Result<OutcomeKind, Error> {
    match kind {
        "succeeded" => Ok(OutcomeKind::Succeeded),
        "skipped" => Ok(OutcomeKind::Skipped),
        "failed" => Ok(OutcomeKind::Failed),
        other => Err(Error::Internal(format!(
            "stored outcome kind {other:?} is unknown"
        ))),
    }
}

/// Rebuilds a ledger entry from stored columns.
pub(crate) fn ledger_entry(
    key: String,
    size: i64,
    kind: &str,
    detail: String,
    message: String,
    crc64: Option<i64>,
) -> Result<LedgerEntry, Error> {
    Ok(LedgerEntry {
        key,
        size: from_db(size, "ledger size")?,
        kind: kind_from_str(kind)?,
        detail,
        message,
        crc64: crc64.map(i64::cast_unsigned),
    })
}
