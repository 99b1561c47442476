//! Task groups: the splitter that turns a group into tasks, the monitor that moves the group's
//! status from its tasks', and the user operations (stop, start, retry, delete, update).
//!
//! Splitting streams the source listing (or list file) and cuts it into slices of at most
//! `group_task_max_objects` keys; each slice becomes one task, created in the same transaction
//! as the splitter's progress, so a crash neither loses nor repeats a slice and memory never
//! holds more than the current slice's count. PREFIX slices are key ranges of a prefix (the last
//! slice is open-ended); LIST slices are chunks of keys given as an object task.

use std::sync::Arc;

use futures::TryStreamExt;
use tern_core::{
    GroupEvent, GroupId, GroupSpec, GroupStatus, GroupTaskType, KeyRange, NodeSpec, SourceSpec,
    SplitProgress, TaskFilter, TaskGroup, TaskPriority, TaskSecrets, TaskSpec, TaskStatus,
    TaskType,
};
use tern_engine::listing::{disjoint_prefixes, list_file_keys, list_prefix_after};
use tern_engine::{Location, Storage};
use tokio_util::sync::CancellationToken;

use crate::{now_ms, Error, Result, Scheduler};

/// Tasks of a group read per page when the scheduler walks them.
const TASK_PAGE: u64 = 500;

impl Scheduler {
    /// Checks every active group once: starts splitters, settles finished or paused groups.
    pub(crate) async fn tick_groups(self: &Arc<Self>) {
        let groups = match self
            .store
            .groups_in_status(&[
                GroupStatus::Waiting,
                GroupStatus::Creating,
                GroupStatus::Monitoring,
                GroupStatus::Pausing,
            ])
            .await
        {
            Ok(groups) => groups,
            Err(err) => {
                tracing::warn!(error = %err, "listing active groups failed");
                return;
            }
        };
        for group in groups {
            match group.status {
                GroupStatus::Waiting | GroupStatus::Creating => self.ensure_splitter(group).await,
                GroupStatus::Monitoring => self.settle_monitored(&group).await,
                GroupStatus::Pausing => self.settle_pausing(&group).await,
                _ => {}
            }
        }
    }

    async fn ensure_splitter(self: &Arc<Self>, group: TaskGroup) {
        let cancel = {
            let mut splitters = self.lock_splitters();
            if splitters.contains_key(&group.id) {
                return;
            }
            let cancel = self.root.child_token();
            splitters.insert(group.id.clone(), cancel.clone());
            cancel
        };
        let group = if group.status == GroupStatus::Waiting {
            match self
                .store
                .group_transition(&group.id, GroupEvent::BeginCreating, now_ms())
                .await
            {
                Ok(group) => group,
                Err(err) => {
                    tracing::warn!(group_id = %group.id, error = %err, "group could not start creating");
                    self.lock_splitters().remove(&group.id);
                    return;
                }
            }
        } else {
            group
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let id = group.id.clone();
            tracing::info!(group_id = %id, split = ?group.split, "group splitting starts");
            let outcome = this.split(&group, &cancel).await;
            match outcome {
                Ok(true) => {
                    if let Err(err) = this
                        .store
                        .group_transition(&id, GroupEvent::CreationDone, now_ms())
                        .await
                    {
                        tracing::warn!(group_id = %id, error = %err, "group not moved to monitoring");
                    }
                }
                Ok(false) => tracing::info!(group_id = %id, "group splitting interrupted"),
                Err((code, message)) if !cancel.is_cancelled() => {
                    tracing::warn!(group_id = %id, code = %code, message = %message, "group creation failed");
                    let _ = this
                        .store
                        .set_group_error_reason(&id, Some((code, message)))
                        .await;
                    let _ = this
                        .store
                        .group_transition(&id, GroupEvent::CreationFailed, now_ms())
                        .await;
                }
                Err(_) => tracing::info!(group_id = %id, "group splitting cancelled"),
            }
            this.lock_splitters().remove(&id);
            this.wake();
        });
    }

    /// Creates the group's tasks from where the last run stopped. `Ok(true)` when every task
    /// exists, `Ok(false)` when stopped or cancelled on the way.
    async fn split(
        &self,
        group: &TaskGroup,
        cancel: &CancellationToken,
    ) -> Result<bool, (String, String)> {
        let internal = |err: &dyn std::fmt::Display| ("TRF.0001".to_owned(), err.to_string());
        let secrets = self
            .store
            .group_secrets(&group.id)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| {
                (
                    "TRF.0001".to_owned(),
                    "the group has no credentials; start it again".to_owned(),
                )
            })?;
        let mut split = group.split.clone();
        if split.done {
            return Ok(true);
        }
        let max_objects = self.config.group_task_max_objects.max(1);
        match group.spec.task_type {
            GroupTaskType::UrlList => {
                return Err((
                    "TRF.0016".to_owned(),
                    "URL-list sources are not supported yet by this tern version".to_owned(),
                ))
            }
            GroupTaskType::Prefix => {
                let source = self
                    .open_node(
                        &group.spec.src.cloud_type,
                        &group.spec.src.region,
                        &group.spec.src.bucket,
                        &secrets.src,
                        group.spec.src.app_id.clone(),
                    )
                    .map_err(|e| ("TRF.0012".to_owned(), e))?;
                let prefixes = disjoint_prefixes(&group.spec.src.object_keys);
                while (split.source_index as usize) < prefixes.len() {
                    let prefix = &prefixes[split.source_index as usize];
                    let mut listing = list_prefix_after(&source, prefix, split.last_key.as_deref())
                        .await
                        .map_err(|e| (e.failure_code().as_str().to_owned(), e.to_string()))?;
                    let mut slice_start = split.last_key.clone();
                    let (mut count, mut bytes) = (0u64, 0u64);
                    loop {
                        if cancel.is_cancelled() {
                            return Ok(false);
                        }
                        let next = listing
                            .try_next()
                            .await
                            .map_err(|e| (e.failure_code().as_str().to_owned(), e.to_string()))?;
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
                                return Ok(false);
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
                            return Ok(false);
                        }
                    } else {
                        self.store
                            .update_group_split(&group.id, &split)
                            .await
                            .map_err(|e| internal(&e))?;
                    }
                }
            }
            GroupTaskType::List => {
                let list_file = group.spec.src.list_file.clone().ok_or_else(|| {
                    (
                        "TRF.0013".to_owned(),
                        "the LIST group has no list_file".to_owned(),
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
                    .map_err(|e| ("TRF.0013".to_owned(), e))?;
                let keys = list_file_keys(&storage, &list_file.key)
                    .await
                    .map_err(|e| ("TRF.0013".to_owned(), e.to_string()))?;
                let mut keys = std::pin::pin!(keys);
                let mut skipped = 0u64;
                let mut chunk: Vec<String> = Vec::new();
                loop {
                    if cancel.is_cancelled() {
                        return Ok(false);
                    }
                    let next = keys
                        .try_next()
                        .await
                        .map_err(|e| ("TRF.0013".to_owned(), e.to_string()))?;
                    let ended = next.is_none();
                    if let Some(key) = next {
                        if skipped < split.lines_done {
                            skipped += 1;
                            continue;
                        }
                        chunk.push(key);
                    }
                    if chunk.len() as u64 >= max_objects || (ended && !chunk.is_empty()) {
                        split.lines_done += chunk.len() as u64;
                        split.assigned_num += chunk.len() as u64;
                        split.task_num += 1;
                        let keys = std::mem::take(&mut chunk);
                        if !self
                            .create_slice(group, "", None, Some(keys), &secrets, &split)
                            .await?
                        {
                            return Ok(false);
                        }
                    }
                    if ended {
                        break;
                    }
                }
            }
        }
        split.done = true;
        self.store
            .update_group_split(&group.id, &split)
            .await
            .map_err(|e| internal(&e))?;
        Ok(true)
    }

    /// Creates one slice's task with the progress that includes it; `Ok(false)` if the group
    /// left status 1 meanwhile (stopped or deleted).
    async fn create_slice(
        &self,
        group: &TaskGroup,
        prefix: &str,
        range: Option<KeyRange>,
        keys: Option<Vec<String>>,
        secrets: &TaskSecrets,
        split: &SplitProgress,
    ) -> Result<bool, (String, String)> {
        let spec = group_task_spec(group, prefix, range, keys);
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
            Err(tern_core::Error::InvalidState(_)) => Ok(false),
            Err(err) => Err(("TRF.0001".to_owned(), err.to_string())),
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
            .and_then(|location| Storage::open(&location))
            .map_err(|err| err.to_string())
    }

    async fn settle_monitored(&self, group: &TaskGroup) {
        let Ok(totals) = self.store.group_totals(&group.id).await else {
            return;
        };
        if !totals.all_settled() || totals.paused_task_num > 0 {
            return;
        }
        let event = if totals.failed_task_num > 0 {
            let reason = (
                "TRF.0062".to_owned(),
                format!(
                    "{} of {} tasks failed; retry the group",
                    totals.failed_task_num, totals.task_num
                ),
            );
            let _ = self
                .store
                .set_group_error_reason(&group.id, Some(reason))
                .await;
            GroupEvent::TasksFailed
        } else {
            let _ = self.store.set_group_error_reason(&group.id, None).await;
            GroupEvent::TasksSucceeded
        };
        match self
            .store
            .group_transition(&group.id, event, now_ms())
            .await
        {
            Ok(group) => {
                tracing::info!(group_id = %group.id, status = group.status.code(), "group settled")
            }
            Err(err) => tracing::warn!(group_id = %group.id, error = %err, "group not settled"),
        }
    }

    async fn settle_pausing(&self, group: &TaskGroup) {
        if self.lock_splitters().contains_key(&group.id) {
            return;
        }
        let Ok(totals) = self.store.group_totals(&group.id).await else {
            return;
        };
        if totals.all_settled() {
            if let Err(err) = self
                .store
                .group_transition(&group.id, GroupEvent::Stopped, now_ms())
                .await
            {
                tracing::warn!(group_id = %group.id, error = %err, "group not paused");
            }
        }
    }

    /// Every task of a group, page by page.
    async fn group_tasks(&self, group: &TaskGroup) -> Result<Vec<tern_core::Task>> {
        let filter = TaskFilter {
            group_id: Some(group.id.0.clone()),
            ..TaskFilter::default()
        };
        let mut tasks = Vec::new();
        loop {
            let (page, total) = self
                .store
                .list_tasks(&group.project_id, &filter, tasks.len() as u64, TASK_PAGE)
                .await?;
            let empty = page.is_empty();
            tasks.extend(page);
            if empty || tasks.len() as u64 >= total {
                return Ok(tasks);
            }
        }
    }

    /// Stops a group: 1/2 → 7, cancels splitting, stops its tasks; 7 → 3 once they settle.
    pub async fn stop_group(&self, id: &GroupId) -> Result<TaskGroup> {
        let group = self
            .store
            .group_transition(id, GroupEvent::Stop, now_ms())
            .await?;
        if let Some(cancel) = self.lock_splitters().get(id) {
            cancel.cancel();
        }
        for task in self.group_tasks(&group).await? {
            if matches!(
                task.status,
                TaskStatus::Waiting | TaskStatus::Retrying | TaskStatus::Migrating
            ) {
                if let Err(err) = self.stop_task(task.id).await {
                    tracing::warn!(task_id = %task.id, error = %err, "group task not stopped");
                }
            }
        }
        self.wake();
        Ok(group)
    }

    /// Starts a paused group with fresh credentials: its paused tasks and any unfinished split.
    pub async fn start_group(&self, id: &GroupId, secrets: &TaskSecrets) -> Result<TaskGroup> {
        let current = self
            .store
            .get_group(id)
            .await?
            .ok_or_else(|| tern_core::Error::NotFound(format!("task group {id}")))?;
        let group = self
            .store
            .group_transition(
                id,
                GroupEvent::Start {
                    split_done: current.split.done,
                },
                now_ms(),
            )
            .await?;
        self.store.put_group_secrets(id, secrets).await?;
        for task in self.group_tasks(&group).await? {
            if task.status == TaskStatus::Paused {
                self.start_task(task.id, secrets, false).await?;
            }
        }
        self.wake();
        Ok(group)
    }

    /// Retries a failed group: `failed_only` re-migrates only the ledger's failed objects of its
    /// failed tasks; otherwise those tasks run again over all their objects, and the overwrite
    /// policy skips what already arrived. Credentials default to the group's stored ones.
    pub async fn retry_group(
        &self,
        id: &GroupId,
        secrets: Option<&TaskSecrets>,
        failed_only: bool,
    ) -> Result<TaskGroup> {
        let current = self
            .store
            .get_group(id)
            .await?
            .ok_or_else(|| tern_core::Error::NotFound(format!("task group {id}")))?;
        if !current.status.is_failed() {
            return Err(Error::Core(tern_core::Error::InvalidState(format!(
                "task group {id} is in status {} and can be retried only when failed (4 or 5)",
                current.status.code()
            ))));
        }
        let secrets = match secrets {
            Some(secrets) => secrets.clone(),
            None => self.store.group_secrets(id).await?.ok_or_else(|| {
                tern_core::Error::invalid(
                    "dst_ak",
                    "the group holds no credentials any more; give them in the retry body",
                )
            })?,
        };
        let group = self
            .store
            .group_transition(
                id,
                GroupEvent::Retry {
                    split_done: current.split.done,
                },
                now_ms(),
            )
            .await?;
        self.store.put_group_secrets(id, &secrets).await?;
        self.store.set_group_error_reason(id, None).await?;
        for task in self.group_tasks(&group).await? {
            if task.status == TaskStatus::Failed {
                self.start_task(task.id, &secrets, failed_only).await?;
            }
        }
        self.wake();
        Ok(group)
    }

    /// Replaces a group's bandwidth policy and that of its unfinished tasks.
    pub async fn update_group_bandwidth_policy(
        &self,
        id: &GroupId,
        policy: tern_core::BandwidthPolicy,
    ) -> Result<()> {
        let group = self
            .store
            .get_group(id)
            .await?
            .ok_or_else(|| tern_core::Error::NotFound(format!("task group {id}")))?;
        self.store
            .update_group_bandwidth_policy(id, &policy)
            .await?;
        for task in self.group_tasks(&group).await? {
            if task.status != TaskStatus::Succeeded {
                self.update_bandwidth_policy(task.id, policy.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes a settled group with its tasks (8 → 9 → gone).
    pub async fn delete_group(&self, id: &GroupId) -> Result<()> {
        self.store
            .group_transition(id, GroupEvent::Delete, now_ms())
            .await?;
        self.store
            .group_transition(id, GroupEvent::Deleting, now_ms())
            .await?;
        self.store.delete_group(id).await?;
        Ok(())
    }

    /// Wakes the group loop (after a group was created, started or retried).
    pub fn wake_groups(&self) {
        self.wake.notify_one();
    }
}

/// The task a slice of a group becomes.
fn group_task_spec(
    group: &TaskGroup,
    prefix: &str,
    range: Option<KeyRange>,
    keys: Option<Vec<String>>,
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
    let (task_type, object_keys) = match keys {
        Some(keys) => (TaskType::Object, keys),
        None => (TaskType::Prefix, vec![prefix.to_owned()]),
    };
    TaskSpec {
        task_type,
        src: SourceSpec {
            object_keys,
            list_file: None,
            key_range: range,
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
