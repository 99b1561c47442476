//! Task groups: the loop that starts splitters (`split.rs`) and settles groups from their
//! tasks, and the user operations (stop, start, retry, delete, update). Each operation is one
//! store call that asks core and writes the group with its tasks in one transaction; this
//! module only acts on this node's runtime afterwards (cancel splitters and runs, wake the
//! claim loop, re-throttle runs).

use std::sync::Arc;

use tern_core::{GroupEvent, GroupId, GroupStatus, TaskGroup, TaskSecrets};

use crate::{now_ms, Result, Scheduler, Splitter};

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
                _ => self.settle(&group.id).await,
            }
        }
    }

    async fn settle(&self, id: &GroupId) {
        let splitting = self.lock_splitters().contains_key(id);
        match self.store.settle_group(id, splitting, now_ms()).await {
            Ok(Some(group)) => {
                tracing::info!(group_id = %group.id, status = group.status.code(), "group settled");
                if tern_core::TriggerCondition::of_group(group.status).is_some() {
                    self.notify_group_end(&group).await;
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(group_id = %id, error = %err, "group not settled"),
        }
    }

    /// Hands a settled group's end to the notifier with its tasks' totals.
    async fn notify_group_end(&self, group: &TaskGroup) {
        match self.store.group_totals(&group.id).await {
            Ok(totals) => self.notifier.group_ended(group, &totals, now_ms()),
            Err(err) => {
                tracing::warn!(group_id = %group.id, error = %err, "group totals for its notification failed")
            }
        }
    }

    async fn ensure_splitter(self: &Arc<Self>, group: TaskGroup) {
        if self.lock_splitters().contains_key(&group.id) {
            return;
        }
        // The split lease: only one node cuts a group's slices; another node's live lease
        // means that node splits it.
        let fence = match self
            .store
            .claim_group_split(&group.id, &self.config.lease, now_ms())
            .await
        {
            Ok(Some(fence)) => fence,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(group_id = %group.id, error = %err, "claiming the group's split failed");
                return;
            }
        };
        let cancel = {
            let mut splitters = self.lock_splitters();
            if splitters.contains_key(&group.id) {
                return;
            }
            let cancel = self.root.child_token();
            splitters.insert(
                group.id.clone(),
                Splitter {
                    cancel: cancel.clone(),
                    fence,
                },
            );
            cancel
        };
        let mut group = if group.status == GroupStatus::Waiting {
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
        group.split.fence = Some(fence);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let id = group.id.clone();
            tracing::info!(group_id = %id, node = %this.config.lease.node, split = ?group.split, "group splitting starts");
            match this.split(&group, &cancel).await {
                Ok(Some(split)) => {
                    if let Err(err) = this.store.finish_group_split(&id, &split).await {
                        tracing::warn!(group_id = %id, error = %err, "group not moved to monitoring");
                    }
                }
                Ok(None) => tracing::info!(group_id = %id, "group splitting interrupted"),
                Err(reason) if !cancel.is_cancelled() && this.holds_split(&id, fence).await => {
                    tracing::warn!(group_id = %id, reason = %reason, "group creation failed");
                    match this.store.fail_group_creation(&id, &reason).await {
                        Ok(group) => this.notify_group_end(&group).await,
                        Err(err) => {
                            tracing::warn!(group_id = %id, error = %err, "group creation failure not recorded")
                        }
                    }
                }
                Err(_) => tracing::info!(group_id = %id, "group splitting cancelled"),
            }
            this.lock_splitters().remove(&id);
            this.wake();
        });
    }

    /// Stops a group with its tasks in one store transaction, then cancels its splitter and
    /// the runs of its tasks here; the group moves 7 → 3 once they settle.
    pub async fn stop_group(&self, id: &GroupId) -> Result<TaskGroup> {
        let change = self.store.stop_group(id, now_ms()).await?;
        if let Some(splitter) = self.lock_splitters().get(id) {
            splitter.cancel.cancel();
        }
        self.cancel_stopped_runs(&change.tasks).await;
        self.wake();
        Ok(change.group)
    }

    /// Starts a paused group with fresh credentials: its paused tasks and any unfinished split.
    pub async fn start_group(&self, id: &GroupId, secrets: &TaskSecrets) -> Result<TaskGroup> {
        let change = self.store.start_group(id, secrets, now_ms()).await?;
        self.wake();
        Ok(change.group)
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
        let change = self
            .store
            .retry_group(id, secrets, failed_only, now_ms())
            .await?;
        self.wake();
        Ok(change.group)
    }

    /// Replaces a group's bandwidth policy and that of its unfinished tasks.
    pub async fn update_group_bandwidth_policy(
        &self,
        id: &GroupId,
        policy: tern_core::BandwidthPolicy,
    ) -> Result<()> {
        let change = self
            .store
            .update_group_bandwidth_policy(id, &policy)
            .await?;
        self.retune_runs(&change.tasks, &policy);
        Ok(())
    }

    /// Deletes a settled group with its tasks, in one store transaction.
    pub async fn delete_group(&self, id: &GroupId) -> Result<()> {
        self.store.delete_group(id).await?;
        Ok(())
    }

    /// Wakes the group loop (after a group was created, started or retried).
    pub fn wake_groups(&self) {
        self.wake.notify_one();
    }
}
