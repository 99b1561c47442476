//! What every handler shares.

use std::sync::Arc;

use tern_core::{RegionTable, TaskStore};
use tern_scheduler::{Scheduler, SyncRunner};

use crate::metrics::ServerMetrics;

/// Shared state of the API server.
#[derive(Clone)]
pub struct AppState {
    /// The task store.
    pub store: Arc<dyn TaskStore>,
    /// The scheduler that runs tasks.
    pub scheduler: Arc<Scheduler>,
    /// The runner of sync tasks (and, through it, their store).
    pub sync: Arc<SyncRunner>,
    /// Regions reported by `show_region_info` and used to resolve nodes.
    pub regions: Arc<RegionTable>,
    /// This server's `/metrics` registry (the scheduler's counters included).
    pub metrics: Arc<ServerMetrics>,
}

impl AppState {
    /// State for a server over `store`, `scheduler` and `sync`, with a registry of its own.
    pub fn new(
        store: Arc<dyn TaskStore>,
        scheduler: Arc<Scheduler>,
        sync: Arc<SyncRunner>,
        regions: RegionTable,
    ) -> Self {
        let metrics = Arc::new(ServerMetrics::new(scheduler.metrics()));
        AppState {
            store,
            scheduler,
            sync,
            regions: Arc::new(regions),
            metrics,
        }
    }
}
