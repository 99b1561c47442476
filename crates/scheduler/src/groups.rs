//! Task groups: the loop that starts splitters (`split.rs`) and moves each group's status from
//! its tasks', and the user operations (stop, start, retry, delete, update).

use std::sync::Arc;

use tern_core::{GroupEvent, GroupId, GroupStatus, TaskFilter, TaskGroup, TaskSecrets, TaskStatus};

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
