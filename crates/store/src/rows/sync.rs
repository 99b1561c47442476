//! `sync_tasks.spec`: the stored form of a [`SyncSpec`], spelled out so the column stays
//! stable when the core type changes.

use serde::{Deserialize, Serialize};
use tern_core::{Error, SyncSpec};

use super::to_json;

/// `sync_tasks.spec`.
#[derive(Serialize, Deserialize)]
struct StoredSyncSpec {
    src_cloud_type: String,
    src_region: String,
    src_bucket: String,
    app_id: Option<String>,
    dst_cloud_type: String,
    dst_region: String,
    dst_bucket: String,
    description: String,
    enable_metadata_migration: bool,
    enable_restore: bool,
    dst_storage_policy: String,
    object_overwrite_mode: String,
    consistency_check: String,
}

/// Encodes a sync spec for `sync_tasks.spec`.
pub(crate) fn sync_spec_json(spec: &SyncSpec) -> Result<String, Error> {
    to_json(&StoredSyncSpec {
        src_cloud_type: spec.src_cloud_type.as_str().to_owned(),
        src_region: spec.src_region.clone(),
        src_bucket: spec.src_bucket.clone(),
        app_id: spec.app_id.clone(),
        dst_cloud_type: spec.dst_cloud_type.as_str().to_owned(),
        dst_region: spec.dst_region.clone(),
        dst_bucket: spec.dst_bucket.clone(),
        description: spec.description.clone(),
        enable_metadata_migration: spec.enable_metadata_migration,
        enable_restore: spec.enable_restore,
        dst_storage_policy: spec.dst_storage_policy.clone(),
        object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
        consistency_check: spec.consistency_check.as_str().to_owned(),
    })
}

/// Decodes `sync_tasks.spec`.
pub(crate) fn sync_spec_from_json(text: &str) -> Result<SyncSpec, Error> {
    let stored: StoredSyncSpec = serde_json::from_str(text)
        .map_err(|err| Error::Internal(format!("decoding sync spec: {err}")))?;
    let corrupt = |err: Error| Error::Internal(format!("stored sync spec: {err}"));
    Ok(SyncSpec {
        src_cloud_type: stored.src_cloud_type.parse().map_err(corrupt)?,
        src_region: stored.src_region,
        src_bucket: stored.src_bucket,
        app_id: stored.app_id,
        dst_cloud_type: stored.dst_cloud_type.parse().map_err(corrupt)?,
        dst_region: stored.dst_region,
        dst_bucket: stored.dst_bucket,
        description: stored.description,
        enable_metadata_migration: stored.enable_metadata_migration,
        enable_restore: stored.enable_restore,
        dst_storage_policy: stored.dst_storage_policy,
        object_overwrite_mode: stored.object_overwrite_mode.parse().map_err(corrupt)?,
        consistency_check: stored.consistency_check.parse().map_err(corrupt)?,
    })
}
