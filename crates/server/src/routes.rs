//! One module per OMS resource, each with its own `router()`.

pub mod groups;
pub mod meta;
pub mod operations;
pub mod query;
pub mod tasks;
