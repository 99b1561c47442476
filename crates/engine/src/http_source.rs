//! Objects fetched over HTTP(S): URL lists and CDN-fronted sources.
//!
//! OpenDAL's http service cannot carry a query string (CDN signatures) or a per-object host, so
//! this module speaks HTTP itself through reqwest, with no ambient proxy or credentials (the
//! client is built with `no_proxy`, and nothing is read from the environment): `HEAD`s for the
//! listing, GETs (whole or ranged) for `http_copy`, which copies one object by URL.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT_RANGES, CONTENT_LENGTH, LAST_MODIFIED, RANGE};
use reqwest::StatusCode;
use tern_core::FailureCode;
use url::Url;

use crate::cdn::CdnSigner;
use crate::urllist::UrlOrigin;

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
    pub(crate) async fn get(
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

pub(crate) fn error_cause(err: &reqwest::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
