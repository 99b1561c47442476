//! Objects fetched over HTTP(S): URL lists and CDN-fronted sources.
//!
//! OpenDAL's http service cannot carry a query string (CDN signatures) or a per-object host, so
//! this module speaks HTTP itself through reqwest, with no ambient proxy or credentials (the
//! client is built with `no_proxy`, and nothing is read from the environment). An object whose
//! size the server announces is checked against it; one larger than the part size is fetched
//! with ranged GETs (when the server accepts ranges) and written as a multipart upload. An
//! object without Content-Length follows OMS `no_check` (REFERENCE.md §1.2): a completed
//! download counts as a success.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use opendal::Buffer;
use reqwest::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_TYPE, LAST_MODIFIED, RANGE};
use reqwest::StatusCode;
use tern_core::{ConsistencyCheck, FailureCode};
use url::Url;

use crate::cdn::CdnSigner;
use crate::copy::{put_whole, Copied, CopyContext, CopyFailure};
use crate::error::Side;
use crate::listing::CRC64_METADATA_KEY;
use crate::multipart::MultipartUpload;
use crate::source_md5::{SourceCheck, WholeReadBuilder};
use crate::throttle::Throttle;
use crate::urllist::UrlOrigin;
use crate::verify::{verify, Observed, WriteResult};

/// Attempts of one HTTP request when the server or the network fails temporarily.
const HTTP_ATTEMPTS: u32 = 3;
/// Time allowed to connect to an object's server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed between two reads of a response.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Fetches objects by URL, signing each request when a CDN needs it.
#[derive(Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    signer: Option<Arc<CdnSigner>>,
    /// `protocol` and `domain` of a CDN the source's objects are fetched through.
    cdn: Option<Arc<(String, String)>>,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("signed", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

/// What a `HEAD` told about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Content-Length, when announced.
    pub size: Option<u64>,
    /// Last-Modified, Unix milliseconds.
    pub last_modified_ms: Option<i64>,
    /// Whether the server said it serves byte ranges.
    pub accepts_ranges: bool,
}

/// Why a request for an object failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    /// OMS failure code.
    pub code: FailureCode,
    /// One line naming the URL (never its signature) and the cause.
    pub message: String,
}

impl HttpSource {
    /// A client with no proxy, no cookies and no ambient credentials; `signer` signs each URL.
    pub fn new(signer: Option<CdnSigner>) -> crate::Result<HttpSource> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            // No `gzip` feature: bodies arrive as stored, so Content-Length and bytes agree.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|err| {
                crate::Error::invalid("http", format!("cannot build a client: {err}"))
            })?;
        Ok(HttpSource {
            client,
            signer: signer.map(Arc::new),
            cdn: None,
        })
    }

    /// Fetches every listed object through `protocol://domain/<key>` (OMS `source_cdn`).
    pub fn through_cdn(mut self, protocol: &str, domain: &str) -> Self {
        self.cdn = Some(Arc::new((protocol.to_owned(), domain.to_owned())));
        self
    }

    /// Where a listed object is fetched when the source goes through a CDN; `None` otherwise.
    /// The listing already told the size, and CDNs serve ranges.
    pub fn cdn_origin(&self, key: &str) -> Option<crate::Result<UrlOrigin>> {
        let (protocol, domain) = self.cdn.as_deref()?;
        Some(
            crate::cdn::cdn_object_url(protocol, domain, key).map(|url| UrlOrigin {
                url,
                line: None,
                size_known: true,
                accepts_ranges: true,
            }),
        )
    }

    /// The URL to request: `url` signed for the CDN, at the current time.
    fn request_url(&self, url: &Url) -> Url {
        match &self.signer {
            Some(signer) => signer.sign(url, std::time::SystemTime::now()),
            None => url.clone(),
        }
    }

    /// Asks the server for an object's size and time. A server that refuses `HEAD` (405, 501)
    /// is treated as one that announces no size.
    pub async fn head(&self, url: &Url) -> Result<Head, FetchFailure> {
        let response = self
            .send(url, |client, signed| client.head(signed), &[])
            .await;
        let response = match response {
            Ok(response) => response,
            Err((Some(status), _))
                if status == StatusCode::METHOD_NOT_ALLOWED
                    || status == StatusCode::NOT_IMPLEMENTED =>
            {
                return Ok(Head {
                    size: None,
                    last_modified_ms: None,
                    accepts_ranges: false,
                })
            }
            Err((_, failure)) => return Err(failure),
        };
        let headers = response.headers();
        // reqwest reports a HEAD's body length (0), not the header: read the header itself.
        let size = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let last_modified_ms = headers
            .get(LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date_ms);
        let accepts_ranges = headers
            .get(ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
        Ok(Head {
            size,
            last_modified_ms,
            accepts_ranges,
        })
    }

    /// Sends one request with retries of temporary failures; a final failure carries the HTTP
    /// status when there was one.
    async fn send(
        &self,
        url: &Url,
        build: impl Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
        headers: &[(reqwest::header::HeaderName, String)],
    ) -> Result<reqwest::Response, (Option<StatusCode>, FetchFailure)> {
        let shown = shown_url(url);
        let mut attempt = 1;
        loop {
            let mut request = build(&self.client, self.request_url(url));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let outcome = request.send().await;
            let temporary = match &outcome {
                Ok(response) => {
                    response.status().is_server_error()
                        || response.status() == StatusCode::TOO_MANY_REQUESTS
                }
                Err(err) => err.is_timeout() || err.is_connect() || err.is_request(),
            };
            if temporary && attempt < HTTP_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
                continue;
            }
            return match outcome {
                Ok(response) if response.status().is_success() => Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let code = match status {
                        StatusCode::NOT_FOUND | StatusCode::GONE => FailureCode::SourceNotFound,
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            FailureCode::SourcePermissionDenied
                        }
                        _ => FailureCode::Internal,
                    };
                    Err((
                        Some(status),
                        FetchFailure {
                            code,
                            message: format!("{shown} answered HTTP {status}"),
                        },
                    ))
                }
                Err(err) => Err((
                    None,
                    FetchFailure {
                        code: FailureCode::Internal,
                        // reqwest's message names the URL it sent (signed): keep only the cause.
                        message: format!("{shown} could not be fetched: {}", error_cause(&err)),
                    },
                )),
            };
        }
    }

    /// One GET of the whole object, or of `range` (inclusive bounds).
    async fn get(
        &self,
        url: &Url,
        range: Option<(u64, u64)>,
    ) -> Result<reqwest::Response, FetchFailure> {
        let headers: Vec<_> = range
            .map(|(first, last)| (RANGE, format!("bytes={first}-{last}")))
            .into_iter()
            .collect();
        let response = self
            .send(url, |client, signed| client.get(signed), &headers)
            .await
            .map_err(|(_, failure)| failure)?;
        if range.is_some() && response.status() != StatusCode::PARTIAL_CONTENT {
            return Err(FetchFailure {
                code: FailureCode::Internal,
                message: format!(
                    "{} ignored a byte range (HTTP {})",
                    shown_url(url),
                    response.status()
                ),
            });
        }
        Ok(response)
    }
}

/// The URL as logs and messages show it: no query (it may hold a signature or SAS token).
pub fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn error_cause(err: &reqwest::Error) -> String {
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        if err.is_timeout() {
            "timed out".to_owned()
        } else {
            "request failed".to_owned()
        }
    } else {
        cause
    }
}

fn parse_http_date_ms(text: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let parsed = time::PrimitiveDateTime::parse(text.trim(), &format).ok()?;
    Some((parsed.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

fn fetch_failed(failure: FetchFailure) -> CopyFailure {
    CopyFailure {
        code: failure.code,
        message: failure.message,
        run_fatal: false,
    }
}

/// Copies the object at `origin` to `dst_key`. `size` is the size its `HEAD` announced (ignored
/// when `origin.size_known` is false).
pub(crate) async fn copy_url_object(
    ctx: CopyContext<'_>,
    http: &HttpSource,
    origin: &UrlOrigin,
    size: u64,
    dst_key: &str,
) -> Result<Copied, CopyFailure> {
    let CopyContext {
        destination,
        options,
        throttle,
        progress,
        stop,
        cleanup,
        source: _,
    } = ctx;
    let url = &origin.url;
    let part_size = options.part_size.max(1);
    // No Content-Length: OMS `no_check`, whatever the task's check.
    let check = if origin.size_known {
        options.check
    } else {
        ConsistencyCheck::NoCheck
    };
    let capability = destination.operator().info().capability();
    if origin.size_known && size <= part_size as u64 {
        let response = http.get(url, None).await.map_err(fetch_failed)?;
        let content_type =
            content_type_of(&response).filter(|_| capability.write_with_content_type);
        let mut body = response.bytes_stream();
        let mut whole = WholeReadBuilder::new(size <= crate::copy::MD5_CHECK_MAX_BYTES);
        let mut taken = 0u64;
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                next = body.next() => next,
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|err| body_failed(url, &err))?;
            taken += chunk.len() as u64;
            // The server announced `size`; more than a part would not fit a single PUT.
            if taken > part_size as u64 {
                return Err(CopyFailure::verification(format!(
                    "{} sent more than the {size} bytes it announced",
                    shown_url(url)
                )));
            }
            whole
                .take(Buffer::from(chunk), throttle, Some(progress))
                .await;
        }
        let read = whole.finish();
        let user_metadata = capability.write_with_user_metadata.then(|| {
            std::collections::HashMap::from([(
                CRC64_METADATA_KEY.to_owned(),
                format!("{:016x}", read.crc64),
            )])
        });
        if check != ConsistencyCheck::NoCheck && read.bytes != size {
            return Err(CopyFailure::verification(format!(
                "read {} bytes but {} announced {size}",
                read.bytes,
                shown_url(url)
            )));
        }
        let put = put_whole(
            destination,
            dst_key,
            &read.chunks,
            content_type.as_deref(),
            user_metadata.as_ref(),
        );
        let meta = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            meta = put => meta?,
        };
        let written = WriteResult {
            etag_md5: read
                .md5
                .map(|digest| (meta.etag().map(str::to_owned), hex::encode(digest))),
            source: SourceCheck::NotCompared,
        };
        let verification = verify(
            destination,
            dst_key,
            check,
            Observed {
                expected_size: size,
                bytes_read: read.bytes,
                declared_crc64: None,
                crc64: read.crc64,
                multipart: false,
                written,
            },
        )
        .await?;
        return Ok(Copied {
            bytes: read.bytes,
            crc64: read.crc64,
            verification,
        });
    }

    // Large or of unknown size: streamed through a multipart writer (OpenDAL sends a single PUT
    // when the object turns out to fit one part).
    let (body, content_type): (BoxStream<'static, Result<Bytes, CopyFailure>>, _) =
        if origin.size_known && origin.accepts_ranges {
            let ranges = part_ranges(size, part_size as u64);
            let http = http.clone();
            let url = url.clone();
            let body = stream::iter(ranges)
                .map(move |(first, last)| {
                    let http = http.clone();
                    let url = url.clone();
                    async move { fetch_range(&http, &url, first, last).await }
                })
                .buffered(options.part_concurrency.div_ceil(2).max(1))
                .boxed();
            (body, None)
        } else {
            let response = http.get(url, None).await.map_err(fetch_failed)?;
            let content_type = content_type_of(&response);
            let shown = url.clone();
            let body = response
                .bytes_stream()
                .map_err(move |err| body_failed(&shown, &err))
                .boxed();
            (body, content_type)
        };
    let mut writer = destination
        .operator()
        .writer_with(dst_key)
        .chunk(part_size)
        .concurrent(options.part_concurrency.max(1));
    if let Some(content_type) = content_type.filter(|_| capability.write_with_content_type) {
        writer = writer.content_type(&content_type);
    }
    let writer = writer.await.map_err(|err| {
        CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
    })?;
    let mut upload = MultipartUpload::new(writer, cleanup, dst_key);
    let mut crc = crc64fast::Digest::new();
    let mut bytes_read = 0u64;
    let streamed = stream_into(
        body,
        &mut upload,
        &mut crc,
        &mut bytes_read,
        throttle,
        progress,
        stop,
        destination,
        dst_key,
    )
    .await
    .and_then(|()| {
        if check != ConsistencyCheck::NoCheck && bytes_read != size {
            return Err(CopyFailure::verification(format!(
                "read {bytes_read} bytes but {} announced {size}",
                shown_url(url)
            )));
        }
        Ok(())
    });
    if let Err(failure) = streamed {
        upload.abort().await;
        return Err(failure);
    }
    upload.complete().await.map_err(|err| {
        CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
    })?;
    let verification = verify(
        destination,
        dst_key,
        check,
        Observed {
            expected_size: if origin.size_known { size } else { bytes_read },
            bytes_read,
            declared_crc64: None,
            crc64: crc.sum64(),
            multipart: true,
            written: WriteResult {
                etag_md5: None,
                source: SourceCheck::NotCompared,
            },
        },
    )
    .await?;
    Ok(Copied {
        bytes: bytes_read,
        crc64: crc.sum64(),
        verification,
    })
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments
async fn stream_into(
    mut body: BoxStream<'static, Result<Bytes, CopyFailure>>,
    upload: &mut MultipartUpload,
    crc: &mut crc64fast::Digest,
    bytes_read: &mut u64,
    throttle: &Throttle,
    progress: &AtomicU64,
    stop: &tokio_util::sync::CancellationToken,
    destination: &crate::storage::Storage,
    dst_key: &str,
) -> Result<(), CopyFailure> {
    loop {
        // Reads and throttle waits give way to `stop`; a part write does not (see copy.rs).
        let next = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            next = body.try_next() => next?,
        };
        let Some(chunk) = next else { return Ok(()) };
        let len = chunk.len() as u64;
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            _ = throttle.consume(len) => {}
        }
        crc.write(&chunk);
        *bytes_read += len;
        progress.fetch_add(len, Ordering::Relaxed);
        upload.write(Buffer::from(chunk)).await.map_err(|err| {
            CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
        })?;
    }
}

async fn fetch_range(
    http: &HttpSource,
    url: &Url,
    first: u64,
    last: u64,
) -> Result<Bytes, CopyFailure> {
    let response = http
        .get(url, Some((first, last)))
        .await
        .map_err(fetch_failed)?;
    let bytes = response
        .bytes()
        .await
        .map_err(|err| body_failed(url, &err))?;
    if bytes.len() as u64 != last - first + 1 {
        return Err(CopyFailure::verification(format!(
            "{} sent {} bytes for range {first}-{last}",
            shown_url(url),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Inclusive byte ranges of `part` bytes covering `size` bytes.
fn part_ranges(size: u64, part: u64) -> Vec<(u64, u64)> {
    let part = part.max(1);
    (0..size.div_ceil(part))
        .map(|index| {
            let first = index * part;
            (first, (first + part).min(size) - 1)
        })
        .collect()
}

fn content_type_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn body_failed(url: &Url, err: &reqwest::Error) -> CopyFailure {
    CopyFailure {
        code: FailureCode::Internal,
        message: format!(
            "{} broke off while sending: {}",
            shown_url(url),
            error_cause(err)
        ),
        run_fatal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_part_ranges_cover_every_byte_once() {
        assert_eq!(part_ranges(10, 4), vec![(0, 3), (4, 7), (8, 9)]);
        assert_eq!(part_ranges(8, 4), vec![(0, 3), (4, 7)]);
        assert!(part_ranges(0, 4).is_empty());
    }

    #[test]
    fn test_shown_url_drops_signatures() {
        let url = Url::parse("https://cdn.example.com/a%20b.txt?auth_key=1-0-0-abc").unwrap();
        assert_eq!(shown_url(&url), "https://cdn.example.com/a%20b.txt");
    }

    #[test]
    fn test_parse_http_date() {
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(parse_http_date_ms("yesterday"), None);
    }
}
