//! One module per OMS resource, each with its own `router()`.

pub mod buckets;
pub mod failed_objects;
pub mod groups;
pub mod identity;
pub mod meta;
pub mod operations;
pub mod query;
pub mod sync;
pub mod task_runs;
pub mod tasks;
pub mod url_lists;
