//! A fault-injecting HTTP proxy in front of a real server, for retry and failure tests; with
//! [`Fault::Nothing`] a plain relay that counts the object bytes it serves
//! ([`FaultProxy::object_bytes_served`]), for tests of how much a client reads.
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

/// Which reads of a [`Fault::FlipBitInObjectGets`] object are corrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlippedReads {
    /// Only the first: a transient fault, a second read gets the true bytes.
    First,
    /// Every one, each at a different bit, so no two reads agree.
    EveryDifferently,
}

/// Which requests fail, and how.
#[derive(Debug, Clone)]
pub enum Fault {
    /// None: every request is relayed unchanged (the proxy only counts).
    Nothing,
    /// Every `every`-th request (1-based, counted over all requests) gets 503 SlowDown, but
    /// one request (same method and URI: a retry) at most `max_per_request` times. Without
    /// that bound a request retried while others interleave can be refused on every attempt
    /// by chance, and a test of retries fails now and then for a reason that is not a bug.
    SlowDownEvery {
        /// Refuse every this many requests.
        every: u64,
        /// Most refusals of one request; keep it below the client's attempts.
        max_per_request: u64,
    },
    /// The first request of each method and path gets 503 SlowDown; its retries pass. Unlike
    /// `SlowDownEvery`, no request can be unlucky on every retry.
    SlowDownFirstTry,
    /// Requests whose path contains this text get 403 AccessDenied.
    DenyPathContaining(String),
    /// Successful GETs of every `every_nth_object`-th object (numbered by their first GET; not
    /// bucket listings) reach the client with one bit flipped in the body; status, headers and
    /// length are unchanged, as when a bit is flipped on the way. [`FaultProxy::corrupted_paths`]
    /// names the reads hit, [`FaultProxy::object_get_counts`] how often each object was read.
    FlipBitInObjectGets {
        /// Which objects: the `n`-th, `2n`-th, … distinct object path read.
        every_nth_object: u64,
        /// Which of their reads.
        reads: FlippedReads,
    },
    /// GET and HEAD answers for objects whose path contains this text carry a different,
    /// consistent single-part ETag: 32 hex digits that are not the MD5 of the body, as AWS
    /// sends for SSE-KMS and SSE-C objects. Each hex digit `d` becomes `f - d`, so the fake
    /// differs from the real ETag in every digit. Listings are relayed unchanged (the engine
    /// takes ETags only from GET and HEAD answers).
    EtagNotMd5ForPathContaining(String),
    /// Successful answers to object PUTs (single-part uploads; not multipart parts, completions
    /// or server-side copies) carry a different, consistent single-part ETag that is not the
    /// MD5 of the bytes stored, as a destination bucket with default SSE-KMS encryption answers
    /// on AWS and OBS; digits are changed as in [`Fault::EtagNotMd5ForPathContaining`].
    EtagNotMd5OnPuts {
        /// Also flip one bit (the lowest of the middle byte) of every non-empty PUT body on its
        /// way to the server, so the server stores other bytes than the client sent (this needs
        /// a client that signs `UNSIGNED-PAYLOAD` and sends no Content-MD5).
        /// [`FaultProxy::corrupted_paths`] names the PUTs hit.
        flip_bit_in_body: bool,
    },
    /// GETs whose path contains `path_containing` and whose `Range` starts at or after
    /// `from_offset` get 403 AccessDenied (not retried): a large object's read fails after
    /// its first parts were read.
    DenyRangedGetFrom {
        /// Text the request path must contain.
        path_containing: String,
        /// First byte offset refused.
        from_offset: u64,
    },
    /// HEAD answers for an object whose restore is done (`x-amz-restore:
    /// ongoing-request="false"`) say it still runs (`ongoing-request="true"`) the first this
    /// many times the object is HEADed so: a restore that takes a while, where moto finishes
    /// one at once. [`FaultProxy::injected`] counts the answers changed.
    RestoreOngoingForHeads(u64),
}

struct ProxyState {
    upstream: String,
    fault: Fault,
    client: reqwest::Client,
    requests: AtomicU64,
    injected: AtomicU64,
    /// Body bytes of successful object GET answers relayed.
    object_bytes: AtomicU64,
    /// `METHOD uri` → SlowDown answers sent to it so far.
    refusals: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Object path → GETs of it so far, with its number in order of first GET.
    object_gets: std::sync::Mutex<std::collections::HashMap<String, ObjectReads>>,
    corrupted: std::sync::Mutex<Vec<String>>,
    /// `(method, path)` of every request, in arrival order.
    seen: std::sync::Mutex<Vec<(String, String)>>,
}

#[derive(Debug, Clone, Copy)]
struct ObjectReads {
    number: u64,
    reads: u64,
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
            object_bytes: AtomicU64::new(0),
            refusals: std::sync::Mutex::new(std::collections::HashMap::new()),
            object_gets: std::sync::Mutex::new(std::collections::HashMap::new()),
            corrupted: std::sync::Mutex::new(Vec::new()),
            seen: std::sync::Mutex::new(Vec::new()),
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

    /// The most SlowDown answers one request (method and URI) got, its retries included.
    pub fn most_refusals_of_one_request(&self) -> u64 {
        self.state
            .refusals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Body bytes of successful object GETs (`/bucket/key`, not listings) relayed so far: what
    /// a client read from the server behind the proxy.
    pub fn object_bytes_served(&self) -> u64 {
        self.state.object_bytes.load(Ordering::Relaxed)
    }

    /// Paths (`/bucket/key`, as sent, percent-encoded) of the requests made with `method` so
    /// far, in arrival order.
    pub fn paths_of(&self, method: &str) -> Vec<String> {
        self.state
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .filter(|(seen, _)| seen == method)
            .map(|(_, path)| path.clone())
            .collect()
    }

    /// Requests answered with an injected error (or a corrupted body) so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::Relaxed)
    }

    /// Successful, non-empty GETs of each object path (`/bucket/key`, as sent) so far; counted
    /// in the [`Fault::FlipBitInObjectGets`] mode only.
    pub fn object_get_counts(&self) -> std::collections::HashMap<String, u64> {
        self.state
            .object_gets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(path, reads)| (path.clone(), reads.reads))
            .collect()
    }

    /// Request paths (`/bucket/key`, as sent) whose GET answer or PUT body was corrupted, once
    /// per corrupted request, in order.
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
    let request_key = format!("{} {}", request.method(), request.uri());
    state
        .seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((request.method().to_string(), path.clone()));
    let inject = match &state.fault {
        Fault::Nothing => false,
        Fault::SlowDownEvery {
            every,
            max_per_request,
        } => {
            *every > 0
                && number.is_multiple_of(*every)
                && refuse_again(&state, request_key, *max_per_request)
        }
        Fault::SlowDownFirstTry => refuse_again(&state, request_key, 1),
        Fault::DenyPathContaining(text) => path.contains(text.as_str()),
        Fault::DenyRangedGetFrom {
            path_containing,
            from_offset,
        } => {
            request.method() == axum::http::Method::GET
                && path.contains(path_containing.as_str())
                && range_start(request.headers()).is_some_and(|start| start >= *from_offset)
        }
        // Decided on the response (only successful object reads are changed).
        Fault::FlipBitInObjectGets { .. }
        | Fault::EtagNotMd5ForPathContaining(_)
        | Fault::EtagNotMd5OnPuts { .. }
        | Fault::RestoreOngoingForHeads(_) => false,
    };
    if inject {
        state.injected.fetch_add(1, Ordering::Relaxed);
        return match &state.fault {
            Fault::SlowDownEvery { .. } | Fault::SlowDownFirstTry => s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            ),
            Fault::DenyPathContaining(_) | Fault::DenyRangedGetFrom { .. } => {
                s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
            }
            Fault::Nothing
            | Fault::FlipBitInObjectGets { .. }
            | Fault::EtagNotMd5ForPathContaining(_)
            | Fault::EtagNotMd5OnPuts { .. }
            | Fault::RestoreOngoingForHeads(_) => unreachable!("decided on the response"),
        };
    }
    // `/bucket/key`: a GET with a key reads an object; `/bucket?list-type=2` lists.
    let object_path = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let object_get = object_path && request.method() == axum::http::Method::GET;
    let object_head = object_path && request.method() == axum::http::Method::HEAD;
    let object_put = object_path
        && request.method() == axum::http::Method::PUT
        && !request.uri().query().unwrap_or("").contains("uploadId")
        && !request.headers().contains_key("x-amz-copy-source");
    let corrupt_body = object_put
        && matches!(
            state.fault,
            Fault::EtagNotMd5OnPuts {
                flip_bit_in_body: true
            }
        );
    let response = match relay(&state, request, corrupt_body, object_get).await {
        Ok(response) => response,
        Err(err) => return s3_error(StatusCode::BAD_GATEWAY, "ProxyError", &err.to_string()),
    };
    match &state.fault {
        Fault::FlipBitInObjectGets {
            every_nth_object,
            reads,
        } if object_get && *every_nth_object > 0 => {
            maybe_flip_bit(&state, *every_nth_object, *reads, &path, response).await
        }
        Fault::EtagNotMd5ForPathContaining(text)
            if (object_get || object_head) && path.contains(text.as_str()) =>
        {
            replace_etag(&state, response)
        }
        Fault::EtagNotMd5OnPuts { .. } if object_put => replace_etag(&state, response),
        Fault::RestoreOngoingForHeads(heads) if object_head => {
            restore_still_running(&state, *heads, &path, response)
        }
        _ => response,
    }
}

/// Makes a finished restore look unfinished, `heads` times per object path.
fn restore_still_running(
    state: &ProxyState,
    heads: u64,
    path: &str,
    mut response: Response,
) -> Response {
    let done = response
        .headers()
        .get("x-amz-restore")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("ongoing-request=\"false\""));
    if done && refuse_again(state, format!("RESTORE {path}"), heads) {
        response.headers_mut().insert(
            "x-amz-restore",
            HeaderValue::from_static("ongoing-request=\"true\""),
        );
        state.injected.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// Replaces a successful answer's single-part ETag with one that is not the body's MD5.
fn replace_etag(state: &ProxyState, mut response: Response) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let Some(etag) = response
        .headers()
        .get("etag")
        .and_then(|value| value.to_str().ok())
    else {
        return response;
    };
    let fake: String = etag
        .chars()
        .map(|c| match c.to_digit(16) {
            Some(digit) => char::from_digit(15 - digit, 16).unwrap_or(c),
            None => c,
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&fake) {
        response.headers_mut().insert("etag", value);
        state.injected.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// Counts one more refusal of `request_key` unless it was refused `max_per_request` times already.
fn refuse_again(state: &ProxyState, request_key: String, max_per_request: u64) -> bool {
    let mut refusals = state
        .refusals
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let refused = refusals.entry(request_key).or_insert(0);
    let refuse = *refused < max_per_request;
    if refuse {
        *refused += 1;
    }
    refuse
}

/// The first byte of a `Range: bytes=FIRST-…` header.
fn range_start(headers: &axum::http::HeaderMap) -> Option<u64> {
    let range = headers.get("range")?.to_str().ok()?;
    let (first, _) = range.strip_prefix("bytes=")?.split_once('-')?;
    first.trim().parse().ok()
}

/// Flips one bit of the chosen reads of every `every`-th object: the lowest bit of the middle
/// byte, moved one byte on per earlier read of that object so that no two corrupted reads agree.
async fn maybe_flip_bit(
    state: &ProxyState,
    every: u64,
    flipped: FlippedReads,
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
        let ObjectReads { number, reads } = {
            let mut gets = state
                .object_gets
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let next_number = gets.len() as u64 + 1;
            let entry = gets.entry(path.to_owned()).or_insert(ObjectReads {
                number: next_number,
                reads: 0,
            });
            entry.reads += 1;
            *entry
        };
        let chosen_read = match flipped {
            FlippedReads::First => reads == 1,
            FlippedReads::EveryDifferently => true,
        };
        if number.is_multiple_of(every) && chosen_read {
            let at = (body.len() / 2 + reads as usize - 1) % body.len();
            body[at] ^= 1;
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

/// Relays `request` upstream; with `corrupt_body`, a non-empty request body goes with the lowest
/// bit of its middle byte flipped (recorded in [`FaultProxy::corrupted_paths`]). The body of a
/// successful `object_get` answer is counted in [`FaultProxy::object_bytes_served`].
async fn relay(
    state: &ProxyState,
    request: Request,
    corrupt_body: bool,
    object_get: bool,
) -> Result<Response> {
    let path = request.uri().path().to_owned();
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
    let headers = request.headers().clone();
    let mut body = to_bytes(request.into_body(), usize::MAX).await?;
    for (name, value) in &headers {
        // reqwest sets the length of a body it sends, but not a zero one (an empty PUT or
        // POST: CopyObject, CreateMultipartUpload), whose signature may cover it.
        if name.as_str() != "content-length" || body.is_empty() {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    if corrupt_body && !body.is_empty() {
        let mut flipped = body.to_vec();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        body = flipped.into();
        state.injected.fetch_add(1, Ordering::Relaxed);
        state
            .corrupted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(path);
    }
    let upstream = builder.body(body).send().await?;
    let status = StatusCode::from_u16(upstream.status().as_u16())?;
    let headers = upstream.headers().clone();
    let bytes = upstream.bytes().await?;
    if object_get && status.is_success() {
        state
            .object_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
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
