//! tern's HTTP edge: the Huawei Cloud OMS v2 API served over axum.
//!
//! This crate owns the OMS wire types and their validation into `tern-core` types (`api`), the
//! one table from errors to HTTP status and OMS `error_code` (`error`), authentication
//! (`SDK-HMAC-SHA256` signatures and `X-Auth-Token`, `auth` + `authn`), the routes, one module
//! per resource (`routes`; sync tasks and their S3 notification receiver in `routes::sync`), and
//! the web console's embedded static files (`console`). It depends on `tern-core`,
//! `tern-scheduler` and, for the bucket helpers, `tern-engine`; it never touches SQL directly:
//! handlers extract, call the store or scheduler, and map to wire types. [`app`] builds the whole
//! router so tests need no socket.

pub mod api;
mod app;
pub mod auth;
pub mod authn;
mod console;
pub mod error;
mod extract;
mod metrics;
pub mod openapi;
mod routes;
mod state;

pub use app::{app, serve, REQUEST_TIMEOUT};
pub use authn::{token_digest, Caller};
pub use error::{ApiError, Result};
pub use metrics::ServerMetrics;
pub use openapi::openapi;
pub use state::AppState;
