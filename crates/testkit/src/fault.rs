//! A fault-injecting HTTP proxy in front of a real server, for retry and failure tests.
//!
//! It forwards every request unchanged (Host header included, so SigV4 signatures made for the
//! proxy's address still verify upstream) except those its rule picks, which get the error an
//! overloaded or refusing S3 server sends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

/// Which requests fail, and how.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Every `n`-th request (1-based) gets 503 SlowDown.
    SlowDownEvery(u64),
    /// The first request of each method and path gets 503 SlowDown; its retries pass. Unlike
    /// `SlowDownEvery`, no request can be unlucky on every retry.
    SlowDownFirstTry,
    /// Requests whose path contains this text get 403 AccessDenied.
    DenyPathContaining(String),
    /// Every `n`-th successful GET of an object (not a bucket listing) reaches the client with
    /// one bit flipped in its body; status, headers and length are unchanged, as when a bit
    /// rots on the way. [`FaultProxy::corrupted_paths`] names the objects hit.
    FlipBitInEveryNthObjectGet(u64),
    /// GETs whose path contains `path_containing` and whose `Range` starts at or after
    /// `from_offset` get 403 AccessDenied (not retried): a large object's read fails after
    /// its first parts were read.
    DenyRangedGetFrom {
        /// Text the request path must contain.
        path_containing: String,
        /// First byte offset refused.
        from_offset: u64,
    },
}

struct ProxyState {
    upstream: String,
    fault: Fault,
    client: reqwest::Client,
    requests: AtomicU64,
    injected: AtomicU64,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
    object_gets: AtomicU64,
    corrupted: std::sync::Mutex<Vec<String>>,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    endpoint: String,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, fault: Fault) -> Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fault proxy")?;
        let address: SocketAddr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            fault,
            client: reqwest::Client::new(),
            requests: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            seen: std::sync::Mutex::new(std::collections::HashSet::new()),
            object_gets: AtomicU64::new(0),
            corrupted: std::sync::Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FaultProxy {
            endpoint: format!("http://{address}"),
            state,
            task,
        })
    }

    /// The proxy's endpoint, to give to the client under test.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with an injected error (or a corrupted body) so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::Relaxed)
    }

    /// Request paths (`/bucket/key`, as sent) whose GET body was corrupted, in order.
    pub fn corrupted_paths(&self) -> Vec<String> {
        self.state
            .corrupted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    response
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let number = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let path = request.uri().path().to_owned();
    let inject = match &state.fault {
        Fault::SlowDownEvery(n) => *n > 0 && number % n == 0,
        Fault::SlowDownFirstTry => {
            let request_key = format!("{} {}", request.method(), request.uri());
            let mut seen = state
                .seen
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            seen.insert(request_key)
        }
        Fault::DenyPathContaining(text) => path.contains(text.as_str()),
        Fault::DenyRangedGetFrom {
            path_containing,
            from_offset,
        } => {
            request.method() == axum::http::Method::GET
                && path.contains(path_containing.as_str())
                && range_start(request.headers()).is_some_and(|start| start >= *from_offset)
        }
        // Decided on the response (only successful object GETs are corrupted).
        Fault::FlipBitInEveryNthObjectGet(_) => false,
    };
    if inject {
        state.injected.fetch_add(1, Ordering::Relaxed);
        return match &state.fault {
            Fault::SlowDownEvery(_) | Fault::SlowDownFirstTry => s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            ),
            Fault::DenyPathContaining(_) | Fault::DenyRangedGetFrom { .. } => {
                s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
            }
            Fault::FlipBitInEveryNthObjectGet(_) => {
                unreachable!("bit flips are decided on the response")
            }
        };
    }
    let flip_every = match state.fault {
        Fault::FlipBitInEveryNthObjectGet(n) if n > 0 => Some(n),
        _ => None,
    };
    // `/bucket/key`: a GET with a key reads an object; `/bucket?list-type=2` lists.
    let object_get = request.method() == axum::http::Method::GET
        && path
            .trim_start_matches('/')
            .split_once('/')
            .is_some_and(|(_, key)| !key.is_empty());
    match relay(&state, request).await {
        Ok(response) => match flip_every {
            Some(every) if object_get => maybe_flip_bit(&state, every, &path, response).await,
            _ => response,
        },
        Err(err) => s3_error(StatusCode::BAD_GATEWAY, "ProxyError", &err.to_string()),
    }
}

/// The first byte of a `Range: bytes=FIRST-…` header.
fn range_start(headers: &axum::http::HeaderMap) -> Option<u64> {
    let range = headers.get("range")?.to_str().ok()?;
    let (first, _) = range.strip_prefix("bytes=")?.split_once('-')?;
    first.trim().parse().ok()
}

/// Flips the lowest bit of the middle byte of every `every`-th successful, non-empty object GET.
async fn maybe_flip_bit(
    state: &ProxyState,
    every: u64,
    path: &str,
    response: Response,
) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return s3_error(StatusCode::BAD_GATEWAY, "ProxyError", "reading the body");
    };
    let mut body = bytes.to_vec();
    if !body.is_empty() {
        let number = state.object_gets.fetch_add(1, Ordering::Relaxed) + 1;
        if number.is_multiple_of(every) {
            let middle = body.len() / 2;
            body[middle] ^= 1;
            state.injected.fetch_add(1, Ordering::Relaxed);
            state
                .corrupted
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(path.to_owned());
        }
    }
    Response::from_parts(parts, Body::from(body))
}

async fn relay(state: &ProxyState, request: Request) -> Result<Response> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let url = format!("{}{path_and_query}", state.upstream);
    let method = reqwest::Method::from_bytes(request.method().as_str().as_bytes())?;
    // A HEAD answer has no body to measure: its Content-Length must be relayed as sent.
    let is_head = method == reqwest::Method::HEAD;
    let mut builder = state.client.request(method, &url);
    for (name, value) in request.headers() {
        if name.as_str() != "content-length" {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let body = to_bytes(request.into_body(), usize::MAX).await?;
    let upstream = builder.body(body).send().await?;
    let status = StatusCode::from_u16(upstream.status().as_u16())?;
    let headers = upstream.headers().clone();
    let bytes = upstream.bytes().await?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        let relayed_length = is_head && name.as_str() == "content-length";
        if !relayed_length
            && matches!(
                name.as_str(),
                "transfer-encoding" | "connection" | "content-length"
            )
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}
