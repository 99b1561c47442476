//! What every handler shares.

use std::sync::Arc;

use tern_core::{RegionTable, TaskStore};
use tern_scheduler::{Scheduler, SyncRunner};

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
}
