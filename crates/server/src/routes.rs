//! One module per OMS resource, each with its own `router()`.

pub mod groups;
pub mod identity;
pub mod meta;
pub mod query;
pub mod tasks;
pub mod url_lists;
