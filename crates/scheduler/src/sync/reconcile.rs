//! The reconciliation pass of a sync worker: list both sides, queue what events missed.

use std::time::Instant;

use tern_engine::{Decision, Event, Selection};
use tokio::sync::mpsc;

use super::{Ends, Work};
use crate::now_ms;

/// Keys a reconciliation pass queues per transaction.
const RECONCILE_CHUNK: usize = 500;

impl Work {
    /// Lists both sides and queues every source object the overwrite policy would copy, as
    /// events: counted as `REQUEST` like any event, copied by the same batches.
    pub(super) async fn reconcile(&self, ends: &Ends) {
        let id = &self.task.id;
        let started = Instant::now();
        let migration = self.migration(ends, Selection::Prefixes(vec![String::new()]), true);
        let (sender, mut receiver) = mpsc::channel(1024);
        let cancel = self.cancel.child_token();
        let run = tokio::spawn(async move { migration.run(sender, cancel).await });
        let mut chunk = Vec::with_capacity(RECONCILE_CHUNK);
        let mut queued = 0u64;
        let mut refused = false;
        while let Some(event) = receiver.recv().await {
            if let Event::Planned {
                key,
                decision: Decision::Copy,
                ..
            } = event
            {
                chunk.push(key);
                if chunk.len() >= RECONCILE_CHUNK && !refused {
                    match self.queue(&chunk).await {
                        Some(count) => queued += count,
                        None => refused = true,
                    }
                    chunk.clear();
                }
            }
        }
        if !chunk.is_empty() && !refused {
            queued += self.queue(&chunk).await.unwrap_or(0);
        }
        if let Ok(Err(err)) = run.await {
            tracing::warn!(sync_task_id = %id, error = %err, "reconciliation listing failed");
        }
        tracing::info!(sync_task_id = %id, queued, elapsed_ms = started.elapsed().as_millis() as u64, "reconciliation pass done");
    }

    async fn queue(&self, keys: &[String]) -> Option<u64> {
        match self
            .store
            .accept_sync_events(&self.task.id, keys, now_ms())
            .await
        {
            Ok(count) => Some(count),
            Err(err) => {
                tracing::warn!(sync_task_id = %self.task.id, error = %err, "reconciliation could not queue events");
                None
            }
        }
    }
}
