//! The splitter: turns a task group into tasks.
//!
//! Splitting streams the source listing (or list file) and cuts it into slices of at most
//! `group_task_max_objects` keys; each slice becomes one task, created in the same transaction
//! as the splitter's progress, so a crash neither loses nor repeats a slice and memory never
//! holds more than the current slice. PREFIX slices are key ranges of a prefix (the last slice
//! of a prefix is open-ended); LIST slices are windows of the list file's key lines, given as
//! a list task that streams its window from the file.

use futures::{StreamExt, TryStreamExt};
use tern_core::{
    FailureCode, FailureReason, GroupSpec, GroupTaskType, KeyRange, LineRange, ListFileSpec,
    NodeSpec, SourceSpec, SplitProgress, TaskGroup, TaskPriority, TaskSecrets, TaskSpec, TaskType,
};
use tern_engine::listing::{disjoint_prefixes, list_file_keys, list_prefix_after};
use tern_engine::urllist::numbered_lines;
use tern_engine::{Location, Storage};
use tokio_util::sync::CancellationToken;

use crate::{now_ms, Result, Scheduler};

impl Scheduler {
    /// Creates the group's tasks from where the last run stopped. `Ok(Some(progress))` when
    /// every task exists (the caller records it with the group's move to monitoring, in one
    /// transaction), `Ok(None)` when stopped or cancelled on the way.
    pub(crate) async fn split(
        &self,
        group: &TaskGroup,
        cancel: &CancellationToken,
    ) -> Result<Option<SplitProgress>, FailureReason> {
        let internal = |err: &dyn std::fmt::Display| {
            FailureReason::new(FailureCode::Internal, err.to_string())
        };
        let secrets = self
            .store
            .group_secrets(&group.id)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| {
                FailureReason::new(
                    FailureCode::Internal,
                    "the group has no credentials; start it again".to_owned(),
                )
            })?;
        let mut split = group.split.clone();
        if split.done {
            return Ok(Some(split));
        }
        let max_objects = self.config.group_task_max_objects.max(1);
        match group.spec.task_type {
            GroupTaskType::Prefix => {
                let source = self
                    .open_node(
                        &group.spec.src.cloud_type,
                        &group.spec.src.region,
                        &group.spec.src.bucket,
                        &secrets.src,
                        group.spec.src.app_id.clone(),
                    )
                    .map_err(|e| FailureReason::new(FailureCode::SourceNotFound, e))?;
                let prefixes = disjoint_prefixes(&group.spec.src.object_keys);
                while (split.source_index as usize) < prefixes.len() {
                    let prefix = &prefixes[split.source_index as usize];
                    let mut listing = list_prefix_after(&source, prefix, split.last_key.as_deref())
                        .await
                        .map_err(|e| FailureReason::new(e.failure_code(), e.to_string()))?;
                    let mut slice_start = split.last_key.clone();
                    let (mut count, mut bytes) = (0u64, 0u64);
                    loop {
                        if cancel.is_cancelled() {
                            return Ok(None);
                        }
                        let next = listing
                            .try_next()
                            .await
                            .map_err(|e| FailureReason::new(e.failure_code(), e.to_string()))?;
                        let Some(object) = next else { break };
                        count += 1;
                        bytes += object.meta.size;
                        if count >= max_objects {
                            let range = KeyRange {
                                start_after: slice_start.clone(),
                                end: Some(object.key.clone()),
                            };
                            split.last_key = Some(object.key.clone());
                            split.assigned_num += count;
                            split.assigned_size += bytes;
                            split.task_num += 1;
                            if !self
                                .create_slice(group, prefix, Some(range), None, &secrets, &split)
                                .await?
                            {
                                return Ok(None);
                            }
                            slice_start = Some(object.key);
                            count = 0;
                            bytes = 0;
                        }
                    }
                    // The open-ended last slice also takes keys written while splitting.
                    split.source_index += 1;
                    split.last_key = None;
                    if count > 0 {
                        split.assigned_num += count;
                        split.assigned_size += bytes;
                        split.task_num += 1;
                        let range = KeyRange {
                            start_after: slice_start,
                            end: None,
                        };
                        if !self
                            .create_slice(group, prefix, Some(range), None, &secrets, &split)
                            .await?
                        {
                            return Ok(None);
                        }
                    } else {
                        self.store
                            .update_group_split(&group.id, &split)
                            .await
                            .map_err(|e| internal(&e))?;
                    }
                }
            }
            GroupTaskType::List | GroupTaskType::UrlList => {
                let list_file = group.spec.src.list_file.clone().ok_or_else(|| {
                    FailureReason::new(
                        FailureCode::ListFileUnreadable,
                        "the group has no list_file".to_owned(),
                    )
                })?;
                let bucket = if list_file.bucket.is_empty() {
                    group.spec.dst.bucket.clone()
                } else {
                    list_file.bucket.clone()
                };
                let storage = self
                    .open_node(
                        &group.spec.dst.cloud_type,
                        &group.spec.dst.region,
                        &bucket,
                        &secrets.dst,
                        None,
                    )
                    .map_err(|e| FailureReason::new(FailureCode::ListFileUnreadable, e))?;
                let unreadable =
                    |e: tern_engine::Error| FailureReason::new(e.failure_code(), e.to_string());
                // Every non-blank line is one object: a URL list's bad lines included, since
                // each becomes a failed object of the task that gets it.
                let keys = if group.spec.task_type == GroupTaskType::UrlList {
                    numbered_lines(&storage, &list_file.key)
                        .await
                        .map_err(unreadable)?
                        .map_ok(|_| ())
                        .boxed()
                } else {
                    list_file_keys(&storage, &list_file.key)
                        .await
                        .map_err(unreadable)?
                        .map_ok(|_| ())
                        .boxed()
                };
                // Tasks get a window of the file's key lines, not the keys: memory and task
                // rows stay small whatever the file's size.
                let task_file = ListFileSpec {
                    bucket,
                    key: list_file.key.clone(),
                };
                let mut keys = std::pin::pin!(keys);
                let mut seen = 0u64;
                let mut slice = 0u64;
                loop {
                    if cancel.is_cancelled() {
                        return Ok(None);
                    }
                    let next = keys.try_next().await.map_err(|e| {
                        FailureReason::new(FailureCode::ListFileUnreadable, e.to_string())
                    })?;
                    let ended = next.is_none();
                    if next.is_some() {
                        seen += 1;
                        if seen <= split.lines_done {
                            continue;
                        }
                        slice += 1;
                    }
                    if slice >= max_objects || (ended && slice > 0) {
                        let lines = LineRange {
                            skip: split.lines_done,
                            take: slice,
                        };
                        split.lines_done += slice;
                        split.assigned_num += slice;
                        split.task_num += 1;
                        slice = 0;
                        let window = Some((task_file.clone(), lines));
                        if !self
                            .create_slice(group, "", None, window, &secrets, &split)
                            .await?
                        {
                            return Ok(None);
                        }
                    }
                    if ended {
                        break;
                    }
                }
            }
        }
        split.done = true;
        Ok(Some(split))
    }

    /// Creates one slice's task with the progress that includes it; `Ok(false)` if the group
    /// left status 1 meanwhile (stopped or deleted).
    async fn create_slice(
        &self,
        group: &TaskGroup,
        prefix: &str,
        range: Option<KeyRange>,
        lines: Option<(ListFileSpec, LineRange)>,
        secrets: &TaskSecrets,
        split: &SplitProgress,
    ) -> Result<bool, FailureReason> {
        let spec = group_task_spec(group, prefix, range, lines);
        match self
            .store
            .create_group_task(&group.id, &spec, secrets, split, now_ms())
            .await
        {
            Ok(task) => {
                tracing::info!(group_id = %group.id, task_id = %task.id, "group task created");
                self.wake();
                Ok(true)
            }
            Err(tern_core::Error::GroupRefused { .. }) => Ok(false),
            Err(err) => Err(FailureReason::new(FailureCode::Internal, err.to_string())),
        }
    }

    fn open_node(
        &self,
        cloud_type: &tern_core::CloudType,
        region: &str,
        bucket: &str,
        credentials: &tern_core::Credentials,
        app_id: Option<String>,
    ) -> Result<Storage, String> {
        let node = NodeSpec {
            cloud_type: *cloud_type,
            region: region.to_owned(),
            bucket: bucket.to_owned(),
            credentials: credentials.clone(),
            app_id,
        };
        Location::from_node(&node, &self.config.regions)
            .and_then(|location| Storage::open_counted(&location, &self.config.metrics.engine))
            .map_err(|err| err.to_string())
    }
}

/// The task a slice of a group becomes.
fn group_task_spec(
    group: &TaskGroup,
    prefix: &str,
    range: Option<KeyRange>,
    lines: Option<(ListFileSpec, LineRange)>,
) -> TaskSpec {
    let GroupSpec {
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
        echo_json,
    } = group.spec.clone();
    let (task_type, object_keys, list_file, list_lines) = match lines {
        Some((file, lines)) => {
            let task_type = if group.spec.task_type == GroupTaskType::UrlList {
                TaskType::UrlList
            } else {
                TaskType::List
            };
            (task_type, Vec::new(), Some(file), Some(lines))
        }
        None => (TaskType::Prefix, vec![prefix.to_owned()], None, None),
    };
    TaskSpec {
        task_type,
        src: SourceSpec {
            object_keys,
            list_file,
            key_range: range,
            list_lines,
            ..src
        },
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
        task_priority: TaskPriority::Medium,
        echo_json,
        group_id: Some(group.id.0.clone()),
        group_type: tern_core::GroupType::GroupTask,
    }
}
