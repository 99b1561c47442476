//! One module per OMS resource, each with its own `router()`.

pub mod groups;
pub mod meta;
pub mod query;
pub mod sync;
pub mod tasks;
