//! `SRC_STORAGE_MAPPING`: each object is written in the class its source object's class maps to
//! (the table is `tern_core::mapped_storage_class`).
//!
//! OpenDAL sets the storage class per operator (`default_storage_class`), not per write, and
//! reports no class in listings or stats. So the destination is opened once per class it may be
//! written in (four operators on one bucket), and each object's source class is read with one
//! signed HEAD ([`crate::restore::S3Source`]) before its copy.

use tern_core::mapped_storage_class;

use crate::copy::CopyFailure;
use crate::error::Result;
use crate::location::Location;
use crate::metrics::EngineMetrics;
use crate::restore::S3Source;
use crate::storage::{Storage, Tuning};

/// The destination classes a mapped object may be written in (`None`: the bucket's default).
const CLASSES: [Option<&str>; 4] = [
    None,
    Some("STANDARD_IA"),
    Some("GLACIER"),
    Some("DEEP_ARCHIVE"),
];

/// A destination opened once per storage class, and the source whose classes it follows.
#[derive(Debug)]
pub struct ClassMapping {
    source: S3Source,
    destinations: Vec<(Option<&'static str>, Storage)>,
}

impl ClassMapping {
    /// Opens the mapping from the S3 source at `source` (reads billed to the requester when
    /// `request_payer`) to the S3 destination at `destination`. No request is sent.
    pub fn open(
        source: &Location,
        request_payer: bool,
        destination: &Location,
        metrics: &EngineMetrics,
    ) -> Result<ClassMapping> {
        let destinations = CLASSES
            .into_iter()
            .map(|class| {
                let tuning = Tuning {
                    storage_class: class.map(str::to_owned),
                    request_payer: false,
                };
                Storage::open_tuned(destination, &tuning, metrics).map(|storage| (class, storage))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ClassMapping {
            source: S3Source::open(source, request_payer)?,
            destinations,
        })
    }

    /// The destination that writes `key` in the class its source object's class maps to.
    pub(crate) async fn destination_for(&self, key: &str) -> Result<&Storage, CopyFailure> {
        let state = self.source.archive_state(key).await?;
        let class = mapped_storage_class(state.storage_class.as_deref());
        tracing::debug!(key, source_class = ?state.storage_class, destination_class = ?class, "storage class mapped");
        Ok(self
            .destinations
            .iter()
            .find(|(candidate, _)| *candidate == class)
            .map(|(_, storage)| storage)
            .unwrap_or(&self.destinations[0].1))
    }
}
