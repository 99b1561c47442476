//! A header-recording HTTP server: it answers every request with a canned response and keeps the
//! method, target, headers and body of each one, so tests can check what a client really sent
//! (which credentials signed it, which hosts it reached).
//!
//! It also serves as a plain HTTP proxy: a client whose `HTTP_PROXY` points here sends requests
//! for any `http://` host in absolute form, and the recorder keeps them like the others. That lets
//! services that put the bucket in the host name (OSS, COS, OBS, Azure) be exercised without any
//! name resolution, and makes requests to unexpected hosts (instance metadata, token endpoints)
//! visible instead of lost.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

/// Bodies above this size are truncated in the record; the tests only need small ones.
const MAX_RECORDED_BODY: usize = 64 * 1024;

/// One request as the recorder received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// The `Host` header (for proxied requests, the host the client meant to reach).
    pub host: String,
    /// Path and query, e.g. `/bucket/key?list-type=2`.
    pub path_and_query: String,
    /// Every header, names lower-case, in arrival order; non-UTF-8 values are lossily decoded.
    pub headers: Vec<(String, String)>,
    /// The body (truncated to 64 KiB).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Tells whether `needle` occurs, case-insensitively, anywhere the client could put a
    /// credential: the target (host, path, query), a header name or value, or the body.
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        let contains = |text: &str| text.to_ascii_lowercase().contains(&needle);
        contains(&self.host)
            || contains(&self.path_and_query)
            || self
                .headers
                .iter()
                .any(|(name, value)| contains(name) || contains(value))
            || contains(&String::from_utf8_lossy(&self.body))
    }
}

/// A canned answer for requests whose path equals `path`.
#[derive(Debug, Clone)]
struct CannedResponse {
    path: String,
    status: u16,
    content_type: String,
    body: String,
}

#[derive(Default)]
struct RecorderState {
    requests: Mutex<Vec<RecordedRequest>>,
    canned: Mutex<Vec<CannedResponse>>,
}

/// A running recording server on 127.0.0.1; stops when dropped.
///
/// Requests without a canned response get `404` with an S3-style `NoSuchKey` error, which every
/// object-store client treats as a final (not retried) "not found".
pub struct RecordingServer {
    endpoint: String,
    address: SocketAddr,
    state: Arc<RecorderState>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingServer {
    /// Starts the server on a free 127.0.0.1 port.
    pub async fn start() -> Result<RecordingServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the recording server")?;
        let address = listener.local_addr()?;
        let state = Arc::new(RecorderState::default());
        let app = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RecordingServer {
            endpoint: format!("http://{address}"),
            address,
            state,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, to use as an endpoint or as `HTTP_PROXY`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Answers requests for exactly `path` with this status, content type and body from now on.
    pub fn respond(&self, path: &str, status: u16, content_type: &str, body: &str) {
        lock(&self.state.canned).push(CannedResponse {
            path: path.to_owned(),
            status,
            content_type: content_type.to_owned(),
            body: body.to_owned(),
        });
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forgets the requests received so far (canned responses stay).
    pub fn clear(&self) {
        lock(&self.state.requests).clear();
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn record(State(state): State<Arc<RecorderState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    // A proxied request carries the absolute URL; its authority and the Host header agree.
    let host = parts
        .headers
        .get("host")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mut body = to_bytes(body, usize::MAX)
        .await
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    body.truncate(MAX_RECORDED_BODY);
    lock(&state.requests).push(RecordedRequest {
        method: parts.method.as_str().to_owned(),
        host,
        path_and_query,
        headers,
        body,
    });

    let canned = lock(&state.canned)
        .iter()
        .rev()
        .find(|canned| canned.path == path)
        .cloned();
    let (status, content_type, body) = match canned {
        Some(canned) => (canned.status, canned.content_type, canned.body),
        None => (
            404,
            "application/xml".to_owned(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message></Error>"
                .to_owned(),
        ),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert("content-type", value);
    }
    response
}
