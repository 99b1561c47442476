//! The engine pieces a task's `enable_restore` and `dst_storage_policy: SRC_STORAGE_MAPPING`
//! need, built once for tasks and sync tasks alike.

use std::sync::Arc;

use tern_core::StoragePlan;
use tern_engine::{ClassMapping, EngineMetrics, Location, RestoreOptions, Restorer};

/// What a run asks of its source's archived objects and storage classes.
pub(crate) struct SourceArchive<'a> {
    /// The source (`None`: URL lists, which have neither).
    pub location: Option<&'a Location>,
    /// Reads are billed to the requester (`enable_requester_pays`).
    pub request_payer: bool,
    /// `enable_restore`.
    pub enable_restore: bool,
    /// The task's storage-class plan.
    pub plan: StoragePlan,
}

/// The restorer and class mapping of a run, each `None` when the task does not ask for it.
pub(crate) type ArchiveParts = (Option<Arc<Restorer>>, Option<Arc<ClassMapping>>);

impl SourceArchive<'_> {
    /// Opens what the task asks for; both were checked against the protocols at create, so an
    /// error here is a task stored before that check.
    pub(crate) fn open(
        &self,
        destination: &Location,
        metrics: &EngineMetrics,
    ) -> tern_engine::Result<ArchiveParts> {
        let restore = match (self.enable_restore, self.location) {
            (true, Some(location)) => Some(Arc::new(Restorer::open(
                location,
                self.request_payer,
                RestoreOptions::default(),
                metrics,
            )?)),
            _ => None,
        };
        let class_mapping = match (self.plan, self.location) {
            (StoragePlan::FromSource, Some(location)) => Some(Arc::new(ClassMapping::open(
                location,
                self.request_payer,
                destination,
                metrics,
            )?)),
            _ => None,
        };
        Ok((restore, class_mapping))
    }
}
