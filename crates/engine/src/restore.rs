//! Archived source objects: an S3 source object's storage class and restore state (one HEAD),
//! and its restore (S3 RestoreObject), so that `enable_restore` tasks can copy it.
//!
//! OpenDAL neither restores objects nor reports storage classes, so these are single path-style
//! requests to the source bucket, signed by the bucket helpers' SigV4 helper
//! ([`crate::inspect::sign_s3_request`]). The run ([`crate::run`]) meets an archived object when
//! its GET answers `InvalidObjectState`; with a [`Restorer`] it asks for the restore, frees the
//! object's transfer slot, and [`Restorer::wait_restored`] polls the HEAD's `x-amz-restore`
//! until `ongoing-request="false"` (bounded by [`RestoreOptions::max_wait`]), then the object is
//! copied like any other.

use std::time::Duration;

use futures::TryStreamExt;
use tern_core::{mapped_storage_policy, Credentials, FailureCode, Protocol};
use tokio_util::sync::CancellationToken;

use crate::copy::CopyFailure;
use crate::error::{Error, Result};
use crate::inspect::{encode_segment, http_client, sign_s3_request};
use crate::location::Location;
use crate::metrics::EngineMetrics;

/// Longest error body read from the source (bounded memory).
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Attempts of one request that fails for a reason that may pass (5xx, connection reset).
const REQUEST_ATTEMPTS: u32 = 3;

/// How archived objects are restored and how long tern waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Days the restored copy stays readable (RestoreObject `Days`); the copy starts as soon as
    /// the restore completes, so one day is enough.
    pub days: u32,
    /// First pause between polls; it doubles up to `max_poll`.
    pub first_poll: Duration,
    /// Longest pause between polls.
    pub max_poll: Duration,
    /// Longest wait for one object's restore; past it the object fails with TRF.0003 and a
    /// retry of the task waits again (the restore goes on at the source).
    pub max_wait: Duration,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            days: 1,
            first_poll: Duration::from_secs(5),
            max_poll: Duration::from_secs(10 * 60),
            // S3's Standard tier restores GLACIER in 3–5 hours and DEEP_ARCHIVE within 12
            // hours; Bulk takes up to 48 hours.
            max_wait: Duration::from_secs(48 * 3600),
        }
    }
}

/// Where a source object's restore stands, from the HEAD's `x-amz-restore` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreState {
    /// No restore asked for (or an earlier one expired).
    NotRequested,
    /// `ongoing-request="true"`: the restore runs.
    Ongoing,
    /// `ongoing-request="false"`: a restored copy is readable.
    Restored,
}

impl RestoreState {
    /// Reads an `x-amz-restore` header value (`None`: the header is absent).
    pub fn parse(header: Option<&str>) -> RestoreState {
        let Some(value) = header else {
            return RestoreState::NotRequested;
        };
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.contains("ongoing-request=\"true\"") {
            RestoreState::Ongoing
        } else if compact.contains("ongoing-request=\"false\"") {
            RestoreState::Restored
        } else {
            RestoreState::NotRequested
        }
    }
}

/// What a HEAD of a source object says about its class and restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveState {
    /// `x-amz-storage-class` (S3 omits it for STANDARD).
    pub storage_class: Option<String>,
    /// The restore's progress.
    pub restore: RestoreState,
}

impl ArchiveState {
    /// Tells whether the object must be restored before it can be read: its class is an
    /// archive class (S3 GLACIER and DEEP_ARCHIVE, and the archive classes of S3-compatible
    /// stores: COS ARCHIVE, OSS ColdArchive, OBS COLD…; GLACIER_IR reads at once) and no
    /// restored copy is readable.
    pub fn needs_restore(&self) -> bool {
        let archived = match self.storage_class.as_deref() {
            None => false,
            Some(class) if class.eq_ignore_ascii_case("GLACIER_IR") => false,
            Some(class) => matches!(
                mapped_storage_policy(Some(class)),
                "ARCHIVE" | "DEEP_ARCHIVE"
            ),
        };
        archived && self.restore != RestoreState::Restored
    }
}

/// The source bucket of an S3-speaking location, spoken to directly for the requests OpenDAL
/// has no operation for: HEAD (class and restore state) and RestoreObject.
#[derive(Debug, Clone)]
pub struct S3Source {
    /// `http(s)://host[:port]`, no trailing slash.
    endpoint: String,
    bucket: String,
    /// The location's root inside the bucket (`""` or `dir/`), prefixed to every key.
    root: String,
    region: String,
    credentials: Credentials,
    request_payer: bool,
    client: reqwest::Client,
}

/// One answer of the source.
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    /// The S3 error `<Code>`, when the answer is an error with a body.
    error_code: String,
}

impl S3Source {
    /// The source of `location`, which must speak S3; `request_payer` adds
    /// `x-amz-request-payer: requester` as the task's reads do.
    pub fn open(location: &Location, request_payer: bool) -> Result<S3Source> {
        if location.protocol != Protocol::S3 {
            return Err(Error::invalid(
                "enable_restore",
                "restores and storage classes are read through S3; the source does not speak S3",
            ));
        }
        let region = location
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_owned());
        // OpenDAL's S3 service addresses the same default endpoint when none is given.
        let endpoint = location
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        Ok(S3Source {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            bucket: location.bucket.clone(),
            root: location.root.trim_start_matches('/').to_owned(),
            region,
            credentials: location.credentials.clone(),
            request_payer,
            client: http_client()?,
        })
    }

    /// Reads `key`'s storage class and restore state with one HEAD.
    pub async fn archive_state(&self, key: &str) -> Result<ArchiveState, CopyFailure> {
        let answer = self.send(http::Method::HEAD, key, None, Vec::new()).await?;
        if !(200..300).contains(&answer.status) {
            return Err(self.refused("HEAD", key, &answer));
        }
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        Ok(ArchiveState {
            storage_class: header("x-amz-storage-class"),
            restore: RestoreState::parse(header("x-amz-restore").as_deref()),
        })
    }

    /// Asks S3 to restore `key` for `days` days (Standard tier). A restore already running
    /// (409 `RestoreAlreadyInProgress`) or done (200) is success too.
    pub async fn request_restore(&self, key: &str, days: u32) -> Result<(), CopyFailure> {
        let body = format!(
            "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>{days}</Days>\
             <GlacierJobParameters><Tier>Standard</Tier></GlacierJobParameters></RestoreRequest>"
        );
        let answer = self
            .send(http::Method::POST, key, Some("restore"), body.into_bytes())
            .await?;
        match answer.status {
            200 | 202 => Ok(()),
            409 if answer.error_code == "RestoreAlreadyInProgress" => Ok(()),
            _ => Err(self.refused("RestoreObject", key, &answer)),
        }
    }

    fn url(&self, key: &str, query: Option<&str>) -> String {
        let path = format!("{}{key}", self.root)
            .split('/')
            .map(encode_segment)
            .collect::<Vec<_>>()
            .join("/");
        let bucket = encode_segment(&self.bucket);
        match query {
            Some(query) => format!("{}/{bucket}/{path}?{query}", self.endpoint),
            None => format!("{}/{bucket}/{path}", self.endpoint),
        }
    }

    /// Sends one signed request, again on a 5xx or a failed connection.
    async fn send(
        &self,
        method: http::Method,
        key: &str,
        query: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, CopyFailure> {
        let url = self.url(key, query);
        let mut attempt = 1;
        loop {
            let answer = self.send_once(method.clone(), &url, body.clone()).await;
            let retry = match &answer {
                Ok(answer) => answer.status >= 500,
                Err(_) => true,
            };
            if !retry || attempt >= REQUEST_ATTEMPTS {
                return answer.map_err(|reason| CopyFailure {
                    code: FailureCode::Internal,
                    message: format!(
                        "the source {} of object {:?} in bucket {:?} failed: {reason}",
                        method,
                        format!("{}{key}", self.root),
                        self.bucket
                    ),
                    run_fatal: false,
                });
            }
            tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        method: http::Method,
        url: &str,
        body: Vec<u8>,
    ) -> std::result::Result<Answer, String> {
        let mut builder = http::Request::builder().method(method).uri(url);
        if self.request_payer {
            builder = builder.header("x-amz-request-payer", "requester");
        }
        if !body.is_empty() {
            builder = builder.header("content-type", "application/xml");
        }
        let (mut parts, ()) = builder
            .body(())
            .map_err(|err| format!("bad request URL: {err}"))?
            .into_parts();
        sign_s3_request(&mut parts, &self.region, &self.credentials)
            .await
            .map_err(|err| err.to_string())?;
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|err| format!("bad request: {err}"))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|err| format!("cannot reach {}: {err}", self.endpoint))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut error_body = Vec::new();
        if status >= 300 {
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream
                .try_next()
                .await
                .map_err(|err| format!("reading the answer: {err}"))?
            {
                let room = MAX_ERROR_BODY_BYTES.saturating_sub(error_body.len());
                error_body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        let text = String::from_utf8_lossy(&error_body);
        let error_code = xml_code(&text);
        Ok(Answer {
            status,
            headers,
            error_code,
        })
    }

    fn refused(&self, operation: &str, key: &str, answer: &Answer) -> CopyFailure {
        let detail = if answer.error_code.is_empty() {
            format!("HTTP {}", answer.status)
        } else {
            format!("HTTP {} {}", answer.status, answer.error_code)
        };
        let code = match answer.status {
            401 | 403 => FailureCode::SourcePermissionDenied,
            404 => FailureCode::SourceNotFound,
            _ => FailureCode::Internal,
        };
        CopyFailure {
            code,
            message: format!(
                "the source refused {operation} of object {:?} in bucket {:?} ({detail})",
                format!("{}{key}", self.root),
                self.bucket
            ),
            run_fatal: false,
        }
    }
}

/// Restores archived source objects for a run (`enable_restore`).
#[derive(Debug, Clone)]
pub struct Restorer {
    source: S3Source,
    options: RestoreOptions,
    metrics: EngineMetrics,
}

impl Restorer {
    /// A restorer for the source at `location` (it must speak S3), counting restores and
    /// waits into `metrics` (`tern_restores_requested_total`, `tern_restores_waiting`).
    pub fn open(
        location: &Location,
        request_payer: bool,
        options: RestoreOptions,
        metrics: &EngineMetrics,
    ) -> Result<Restorer> {
        Ok(Restorer {
            source: S3Source::open(location, request_payer)?,
            options,
            metrics: metrics.clone(),
        })
    }

    /// Asks for `key`'s restore.
    pub(crate) async fn request(&self, key: &str) -> Result<(), CopyFailure> {
        self.source.request_restore(key, self.options.days).await?;
        self.metrics.record_restore_requested();
        Ok(())
    }

    /// Waits until `key` can be read: polls its HEAD, pausing `first_poll`, then twice as long
    /// each time up to `max_poll`, for at most `max_wait`. A restore that is no longer there
    /// (expired, or never taken) is asked for again. `Ok(false)` when `stop` ended the wait.
    pub(crate) async fn wait_restored(
        &self,
        key: &str,
        stop: &CancellationToken,
    ) -> Result<bool, CopyFailure> {
        self.metrics.add_restores_waiting(1);
        let _waiting = WaitingGuard(&self.metrics);
        let started = tokio::time::Instant::now();
        let mut pause = self.options.first_poll;
        loop {
            let state = self.source.archive_state(key).await?;
            if !state.needs_restore() {
                return Ok(true);
            }
            if state.restore == RestoreState::NotRequested {
                self.request(key).await?;
            }
            let waited = started.elapsed();
            if waited >= self.options.max_wait {
                return Err(CopyFailure {
                    code: FailureCode::WaitTimedOut,
                    message: format!(
                        "the restore of archived object {key:?} ({}) did not finish within {} \
                         minutes; it goes on at the source: retry the task later",
                        state.storage_class.as_deref().unwrap_or("archive"),
                        self.options.max_wait.as_secs() / 60
                    ),
                    run_fatal: false,
                });
            }
            tracing::debug!(key, waited_s = waited.as_secs(), "restore still running");
            let sleep = pause.min(self.options.max_wait - waited);
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Ok(false),
                _ = tokio::time::sleep(sleep) => {}
            }
            pause = next_pause(pause, self.options.max_poll);
        }
    }
}

/// Takes one object off `tern_restores_waiting` when its wait ends, however it ends.
struct WaitingGuard<'a>(&'a EngineMetrics);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.add_restores_waiting(-1);
    }
}

/// The pause after `pause`: twice as long, at most `max`.
fn next_pause(pause: Duration, max: Duration) -> Duration {
    pause.saturating_mul(2).min(max)
}

/// The `<Code>` of an S3 error body (empty when there is none).
fn xml_code(text: &str) -> String {
    let Some(start) = text.find("<Code>") else {
        return String::new();
    };
    let rest = &text[start + "<Code>".len()..];
    rest.find("</Code>")
        .map(|end| rest[..end].trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_restore_header_reads_as_s3_documents_it() {
        assert_eq!(RestoreState::parse(None), RestoreState::NotRequested);
        assert_eq!(
            RestoreState::parse(Some("ongoing-request=\"true\"")),
            RestoreState::Ongoing
        );
        assert_eq!(
            RestoreState::parse(Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            )),
            RestoreState::Restored
        );
        assert_eq!(
            RestoreState::parse(Some("ongoing-request = \"false\"")),
            RestoreState::Restored
        );
        assert_eq!(RestoreState::parse(Some("")), RestoreState::NotRequested);
    }

    #[test]
    fn test_only_unrestored_archive_classes_need_a_restore() {
        let state = |class: Option<&str>, restore| ArchiveState {
            storage_class: class.map(str::to_owned),
            restore,
        };
        assert!(state(Some("GLACIER"), RestoreState::NotRequested).needs_restore());
        assert!(state(Some("DEEP_ARCHIVE"), RestoreState::Ongoing).needs_restore());
        assert!(!state(Some("GLACIER"), RestoreState::Restored).needs_restore());
        assert!(!state(Some("GLACIER_IR"), RestoreState::NotRequested).needs_restore());
        assert!(!state(None, RestoreState::NotRequested).needs_restore());
        assert!(!state(Some("STANDARD_IA"), RestoreState::NotRequested).needs_restore());
        assert!(state(Some("ARCHIVE"), RestoreState::NotRequested).needs_restore());
        assert!(state(Some("ColdArchive"), RestoreState::Ongoing).needs_restore());
    }

    #[test]
    fn test_polls_back_off_to_the_longest_pause() {
        let max = Duration::from_secs(600);
        let mut pause = Duration::from_secs(5);
        let mut pauses = Vec::new();
        for _ in 0..10 {
            pauses.push(pause.as_secs());
            pause = next_pause(pause, max);
        }
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
    }

    #[test]
    fn test_urls_are_path_style_with_the_root_and_encoded_keys() {
        let location = Location {
            protocol: Protocol::S3,
            bucket: "b".into(),
            endpoint: Some("http://127.0.0.1:9000/".into()),
            region: None,
            root: "/dir/".into(),
            credentials: Credentials::default(),
        };
        let source = S3Source::open(&location, false).expect("s3");
        assert_eq!(
            source.url("a b/c+d.txt", Some("restore")),
            "http://127.0.0.1:9000/b/dir/a%20b/c%2Bd.txt?restore"
        );
        let mut location = location;
        location.protocol = Protocol::Azblob;
        assert!(S3Source::open(&location, false).is_err());
        assert_eq!(
            xml_code("<Error><Code>RestoreAlreadyInProgress</Code></Error>"),
            "RestoreAlreadyInProgress"
        );
    }
}
