//! Served beyond OMS: the OpenAPI document and the Prometheus metrics; no authentication.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::metrics::{render, METRICS_CONTENT_TYPE};
use crate::state::AppState;

/// The operations routes.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(metrics))
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "ShowOpenApi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = serde_json::Value))
)]
async fn openapi_json() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        crate::openapi::openapi_json(),
    )
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "ShowMetrics",
    responses((
        status = 200,
        description = "Prometheus metrics, names prefixed `tern_`",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body = String
    ))
)]
async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse> {
    let text = render(&state).await?;
    Ok(([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], text))
}
