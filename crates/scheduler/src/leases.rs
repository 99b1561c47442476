//! This node's side of leases (RFC 0011): renewing the leases of its runs and splitters,
//! acting on what renewal finds (a stop issued on another node, a claim taken over), and
//! winding down pausing tasks whose node died.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tern_core::{Fence, GroupId, LeaseCheck, TaskStatus};

use crate::{now_ms, Scheduler};

/// A node id for a process that was given none: host name and process id, unique enough for
/// logs and run records; such a node cannot take its runs back after a restart before their
/// leases expire.
pub(crate) fn ephemeral_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}-{}", std::process::id())
}

impl Scheduler {
    /// How often leases are renewed: a fifth of their length, so four renewals may fail before
    /// another node can take the work over.
    fn renew_every(&self) -> Duration {
        let ms = (self.config.lease.duration_ms / 5).clamp(50, 60_000);
        Duration::from_millis(u64::try_from(ms).unwrap_or(2_000))
    }

    /// Renews every lease of this node, and winds down orphaned stops, until shutdown.
    pub(crate) async fn renew_loop(self: Arc<Self>) {
        let every = self.renew_every();
        loop {
            tokio::select! {
                _ = self.root.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            self.renew_runs().await;
            self.renew_splits().await;
            // A dead node's stop can only be wound down after its lease expired, so once per
            // renewal period is soon enough (and spares the claim loop a write every tick).
            self.wind_down_orphans().await;
        }
    }

    /// Renews each run's lease; a lost lease ends the run without writing, a stop issued on
    /// any node (the task is pausing) cancels it as a local stop does.
    pub(crate) async fn renew_runs(&self) {
        let runs: Vec<_> = self
            .lock_running()
            .iter()
            .map(|(id, run)| {
                (
                    *id,
                    run.fence,
                    run.cancel.clone(),
                    Arc::clone(&run.lease_lost),
                )
            })
            .collect();
        for (id, fence, cancel, lease_lost) in runs {
            match self
                .store
                .renew_lease(id, fence, &self.config.lease, now_ms())
                .await
            {
                Ok(LeaseCheck::Held(TaskStatus::Pausing)) => {
                    if !cancel.is_cancelled() {
                        tracing::info!(task_id = %id, "stop received through the database");
                        cancel.cancel();
                    }
                }
                Ok(LeaseCheck::Held(_)) => {}
                Ok(LeaseCheck::Lost) => {
                    // The run may just have written its end (which releases the lease); only
                    // a run still registered here is cut short.
                    if self
                        .lock_running()
                        .get(&id)
                        .is_some_and(|r| r.fence == fence)
                    {
                        tracing::warn!(task_id = %id, fence = %fence, "lease lost: the task was claimed elsewhere or ended; stopping this run without writing");
                        lease_lost.store(true, Ordering::SeqCst);
                        cancel.cancel();
                    }
                }
                Err(err) => {
                    tracing::warn!(task_id = %id, error = %err, "renewing the run's lease failed")
                }
            }
        }
    }

    async fn renew_splits(&self) {
        let splits: Vec<_> = self
            .lock_splitters()
            .iter()
            .map(|(id, splitter)| (id.clone(), splitter.fence, splitter.cancel.clone()))
            .collect();
        for (id, fence, cancel) in splits {
            match self
                .store
                .renew_group_split(&id, fence, &self.config.lease, now_ms())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    if self
                        .lock_splitters()
                        .get(&id)
                        .is_some_and(|s| s.fence == fence)
                    {
                        tracing::info!(group_id = %id, "split lease ended; stopping this splitter");
                        cancel.cancel();
                    }
                }
                Err(err) => {
                    tracing::warn!(group_id = %id, error = %err, "renewing the split lease failed")
                }
            }
        }
    }

    /// Whether this node's splitter still holds the group's split lease.
    pub(crate) async fn holds_split(&self, id: &GroupId, fence: Fence) -> bool {
        matches!(
            self.store
                .renew_group_split(id, fence, &self.config.lease, now_ms())
                .await,
            Ok(true)
        )
    }

    /// Winds down pausing tasks whose node died (their lease expired).
    pub(crate) async fn wind_down_orphans(&self) {
        match self.store.wind_down_pausing(None, now_ms()).await {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(task_id = %id, "stopped a task whose node stopped renewing its lease");
                }
            }
            Err(err) => tracing::warn!(error = %err, "winding down orphaned stops failed"),
        }
    }
}
