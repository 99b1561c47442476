//! A static HTTP file server for URL-list and CDN tests: serves in-memory files on 127.0.0.1,
//! answers `HEAD` and ranged `GET`s with the body's MD5 as ETag (what an origin-pull CDN in front
//! of an S3 bucket sends for a single-part object), can leave out Content-Length per file,
//! counts requests, and can require each request to pass a check the test supplies (a CDN
//! signature verified by the test's own implementation, see [`crate::cdn_check`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

/// Maps a request (its raw path and query) to the file path it may read, or refuses it.
pub type RequestCheck = Arc<dyn Fn(&str, Option<&str>) -> Option<String> + Send + Sync>;

/// One served file.
#[derive(Clone)]
pub struct HttpFile {
    /// The bytes.
    pub body: Vec<u8>,
    /// Sent without Content-Length (a chunked body) and without range support.
    pub no_content_length: bool,
}

struct Shared {
    /// Files by decoded path (`/dir/a b.txt`).
    files: Mutex<HashMap<String, HttpFile>>,
    check: Option<RequestCheck>,
    ranged_gets: AtomicUsize,
    refused: AtomicUsize,
}

/// A running static server; stops when dropped.
pub struct HttpFileServer {
    endpoint: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl HttpFileServer {
    /// Starts serving on a free port of 127.0.0.1. With `check`, every request must pass it.
    pub async fn start(check: Option<RequestCheck>) -> Result<HttpFileServer> {
        let shared = Arc::new(Shared {
            files: Mutex::new(HashMap::new()),
            check,
            ranged_gets: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the HTTP file server")?;
        let address = listener.local_addr()?;
        let app = Router::new()
            .fallback(serve)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(HttpFileServer {
            endpoint: format!("http://{address}"),
            shared,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Serves `body` at the decoded `path` (starting with `/`).
    pub fn put(&self, path: &str, body: Vec<u8>, no_content_length: bool) {
        if let Ok(mut files) = self.shared.files.lock() {
            files.insert(
                path.to_owned(),
                HttpFile {
                    body,
                    no_content_length,
                },
            );
        }
    }

    /// Stops serving `path` (requests for it get 404).
    pub fn remove(&self, path: &str) {
        if let Ok(mut files) = self.shared.files.lock() {
            files.remove(path);
        }
    }

    /// `GET`s that asked for a byte range so far.
    pub fn ranged_gets(&self) -> usize {
        self.shared.ranged_gets.load(Ordering::SeqCst)
    }

    /// Requests refused by the check so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for HttpFileServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = match &shared.check {
        Some(check) => match check(uri.path(), uri.query()) {
            Some(path) => path,
            None => {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                return status(StatusCode::FORBIDDEN);
            }
        },
        None => percent_decode(uri.path()),
    };
    let file = shared
        .files
        .lock()
        .ok()
        .and_then(|files| files.get(&path).cloned());
    let Some(file) = file else {
        return status(StatusCode::NOT_FOUND);
    };
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    if file.no_content_length {
        // A streamed body of unknown length: hyper sends it chunked, with no Content-Length.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = if head {
            Vec::new()
        } else {
            file.body
                .chunks(64 * 1024)
                .map(|c| Ok(c.to_vec()))
                .collect()
        };
        let mut response = Response::new(Body::from_stream(futures::stream::iter(chunks)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/octet-stream"),
        );
        return response;
    }
    let size = file.body.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, size));
    let mut response = match range {
        Some((first, last)) if !head => {
            shared.ranged_gets.fetch_add(1, Ordering::SeqCst);
            let part = file.body[first as usize..=last as usize].to_vec();
            let mut response = Response::new(Body::from(part));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = format!("bytes {first}-{last}/{size}").parse() {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        _ if head => {
            let mut response = Response::new(Body::empty());
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, header::HeaderValue::from(size));
            response
        }
        _ => Response::new(Body::from(file.body.clone())),
    };
    response.headers_mut().insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    let etag = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&file.body))
    );
    if let Ok(value) = header::HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    response
}

/// `bytes=a-b` or `bytes=a-` within `size`.
fn parse_range(text: &str, size: u64) -> Option<(u64, u64)> {
    let spec = text.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let first: u64 = first.parse().ok()?;
    let last: u64 = if last.is_empty() {
        size.checked_sub(1)?
    } else {
        last.parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (first <= last).then_some((first, last))
}

/// Decodes `%XX` escapes of a request path (`+` stays `+`).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            if let Ok(value) = u8::from_str_radix(&text[index + 1..index + 3], 16) {
                out.push(value);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
