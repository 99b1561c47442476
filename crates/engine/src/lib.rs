//! tern's migration engine: list, compare, copy, verify and throttle, over Apache OpenDAL.
//!
//! This is the only crate that imports OpenDAL. It depends on `tern-core` alone and knows nothing
//! of persistence: a [`Migration`] streams [`Event`]s (one `Finished` outcome per listed object)
//! that the caller counts, prints or stores.
//!
//! Data flow: [`listing`] streams the source (prefixes, named keys, list files) → [`march`] pairs
//! each object with the destination's copy (merged listings, or a HEAD when listings cannot
//! answer) → [`compare::decide`] applies the overwrite policy → [`copy`] streams the bytes with a
//! CRC64 on the way and verifies by the consistency check → [`run`] bounds the objects in flight.
//! Every copy's buffers come out of one process-wide [`memory::MemoryBudget`].
//! Retries of temporary storage errors happen in OpenDAL's retry layer ([`storage`]). Objects that
//! come by URL (URL lists, CDN sources) are listed by [`urllist`] and fetched by [`http_source`]
//! with reqwest, their URLs signed by [`cdn`]: OpenDAL's http service cannot send them.
//! Archived S3 source objects are restored by [`restore`] (`enable_restore`), and
//! [`storage_class`] writes each object in the class its source's maps to
//! (`SRC_STORAGE_MAPPING`): single signed S3 requests, as OpenDAL has neither.
#![deny(missing_docs)]

pub mod cdn;
pub mod compare;
pub mod copy;
mod crc64;
pub mod error;
mod gcs_token;
mod http_copy;
pub mod http_source;
pub mod inspect;
pub mod listing;
pub mod location;
pub mod march;
pub mod memory;
pub mod metadata_names;
pub mod metrics;
mod multipart;
pub mod objectlist;
pub mod rawpath;
pub mod restore;
pub mod resumable;
pub mod run;
mod s3_copy_requests;
mod server_copy;
mod source_md5;
pub mod storage;
pub mod storage_class;
pub mod throttle;
pub mod transport;
pub mod urllist;
mod vendor_meta;
mod verify;

pub use compare::{decide, Decision, ObjectMeta};
pub use error::{Error, Result};
pub use http_source::HttpSource;
pub use listing::{KeySource, Selection};
pub use location::Location;
pub use memory::MemoryBudget;
pub use metrics::EngineMetrics;
pub use restore::{RestoreOptions, Restorer};
pub use resumable::PartCheckpoints;
pub use run::{run_collecting, Event, Migration, MigrationOptions, Summary};
pub use storage::{Storage, Tuning};
pub use storage_class::ClassMapping;
pub use throttle::Throttle;
