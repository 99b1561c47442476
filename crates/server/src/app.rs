//! The router: every route, the authentication layer, request ids, timeouts.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// Longest time one request may take before the client gets 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the whole API; tests call it without a socket.
pub fn app(state: AppState) -> Router {
    let authenticated = Router::new()
        .merge(routes::tasks::router())
        .merge(routes::groups::router())
        .merge(routes::meta::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::authn::authenticate,
        ));
    Router::new()
        .merge(authenticated)
        .merge(routes::meta::public_router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_id))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn unknown_route() -> Response {
    let mut response = ApiError::invalid("path", "no such API operation").into_response();
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn method_not_allowed() -> Response {
    let mut response = ApiError::invalid(
        "method",
        "HTTP method not supported; use the method from the API reference",
    )
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// Adds `X-Request-Id` to every response; the SDK copies it into its exceptions.
async fn request_id(request: Request, next: Next) -> Response {
    let id = format!("{:032x}", rand::random::<u128>());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
