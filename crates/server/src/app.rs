//! The router: every route, the authentication layer, request ids, timeouts.

use std::time::Duration;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// Longest time one request may take before the client gets 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The routes that need credentials. Each is added with `routes!` from a handler carrying
/// `#[utoipa::path]`, which is both its registration and its OpenAPI entry; a new resource's
/// `router()` is merged here (and gets authentication and the error responses with it).
pub(crate) fn authenticated_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(routes::tasks::router())
        .merge(routes::groups::router())
        .merge(routes::sync::router())
        .merge(routes::meta::router())
        .merge(routes::identity::router())
        .merge(routes::buckets::router())
        .merge(routes::failed_objects::router())
        .merge(routes::task_runs::router())
        .merge(routes::url_lists::router())
}

/// The routes anyone may call.
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(routes::meta::public_router())
        .merge(routes::operations::public_router())
        .merge(crate::console::router())
}

/// Builds the whole API; tests call it without a socket.
pub fn app(state: AppState) -> Router {
    let (authenticated, _) = authenticated_routes()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::authn::authenticate,
        ))
        .split_for_parts();
    let (public, _) = public_routes().split_for_parts();
    Router::new()
        .merge(authenticated)
        .merge(public)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(catch_panics())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Outside the timeout so that its bare 408 gets an OMS body too; inside `request_id` so
        // that a replaced response still carries the request id.
        .layer(middleware::from_fn(oms_error_body))
        .layer(middleware::from_fn(request_id))
        // Outermost: the status counted is the one the client gets, and the time is all of it.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track_requests,
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

/// Turns a panic inside a handler into the generic 500 OMS body instead of a dropped
/// connection; the panic's text goes to the server log only.
fn catch_panics() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(
        panic_response as fn(Box<dyn std::any::Any + Send + 'static>) -> Response,
    )
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let cause = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::Internal(format!("handler panicked: {cause}")).into_response()
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

/// Gives every error response the OMS body.
///
/// Handlers and our extractors already answer `{"error_code","error_msg"}`; this is the safety
/// net for what answers before or around them (the timeout layer's bare 408, any axum rejection
/// a future handler lets through). The status is kept; the code comes from the error table.
async fn oms_error_body(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let error = if status.is_server_error() {
        ApiError::Internal(format!("{status} answered without an OMS body"))
    } else {
        let reason = status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase();
        ApiError::invalid("request", reason)
    };
    let mut replaced = error.into_response();
    *replaced.status_mut() = status;
    replaced
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
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

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn through_safety_net(handler_response: fn() -> Response) -> (StatusCode, String) {
        let router: Router = Router::new()
            .route("/", get(move || async move { handler_response() }))
            .layer(middleware::from_fn(oms_error_body));
        let response = router
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn test_plain_text_errors_get_the_oms_body_and_keep_their_status() {
        let (status, body) =
            through_safety_net(|| (StatusCode::REQUEST_TIMEOUT, "").into_response()).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error_code"], "OMS.0001");
        assert!(
            body["error_msg"].as_str().unwrap().contains("timeout"),
            "{body}"
        );

        let (status, body) = through_safety_net(|| {
            (StatusCode::BAD_GATEWAY, "upstream said: secret detail").into_response()
        })
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(!body.contains("secret detail"), "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error_code"], "OMS.0001");
    }

    #[tokio::test]
    async fn test_oms_errors_and_successes_pass_untouched() {
        let (status, body) =
            through_safety_net(|| ApiError::TaskNotFound("7".into()).into_response()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("OMS.1009"), "{body}");
        let (status, body) = through_safety_net(|| "plain ok".into_response()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "plain ok"));
    }

    #[tokio::test]
    async fn test_a_panicking_handler_answers_the_generic_500_body() {
        let router: Router = Router::new()
            .route(
                "/",
                get(|| async {
                    if true {
                        panic!("secret-detail-in-panic");
                    }
                    "unreachable"
                }),
            )
            .layer(catch_panics())
            .layer(middleware::from_fn(oms_error_body));
        let response = router
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error_code"], "OMS.0001");
        let message = body["error_msg"].as_str().unwrap();
        assert!(
            !message.contains("secret-detail"),
            "the cause stays in the log: {message}"
        );
    }
}
