//! The S3 requests of a server-side copy that OpenDAL has no operation for: CopyObject and
//! UploadPartCopy across buckets, and the CreateMultipartUpload / CompleteMultipartUpload /
//! AbortMultipartUpload around the part copies (OpenDAL's multipart writer uploads bytes only, so
//! `multipart::MultipartUpload` cannot carry part copies); and UploadPart / ListParts for uploads
//! that survive a restart (`resumable`, RFC 0012: OpenDAL's writer hides the upload id). Requests
//! are signed by the SigV4 signer
//! OpenDAL uses, through `inspect::sign_s3_request`, and sent by reqwest.
//!
//! S3 may answer CopyObject, UploadPartCopy and CompleteMultipartUpload with `200 OK` and an
//! `<Error>` body when the copy fails after the headers were sent
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>), so a 200 is a
//! success only when its body is not an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tern_core::{Credentials, Protocol};
use tokio_util::task::TaskTracker;
use url::Url;

use crate::inspect::{encode_segment, sign_s3_request};
use crate::location::Location;
use crate::storage::Tuning;

/// Attempts of one request when the server answers 500/502/503/504 or the connection fails.
const ATTEMPTS: u32 = 4;
/// Longest a single copy request may take: the service copies up to one part (or one whole
/// object up to the part size) while the request is open.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest answer body read (copy results and errors are a few hundred bytes; a ListParts page
/// of 1,000 parts about 200 KB).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Parts per ListParts page (S3's most).
const LIST_PARTS_PAGE: u32 = 1000;

/// What a server-side copy needs to know of an S3 storage, kept by `Storage` when it speaks S3.
/// `Debug` names the endpoint and bucket only (the credentials stay secret).
#[derive(Clone)]
pub(crate) struct S3Endpoint {
    /// `scheme://host:port`, lowercase, with the scheme's default port filled in: two storages
    /// are one service when these are equal.
    origin: String,
    /// The endpoint requests go to (path-style), without a trailing `/`.
    base: String,
    bucket: String,
    /// The storage's root inside the bucket, without a leading `/` (`""` or `dir/`).
    root: String,
    region: String,
    credentials: Credentials,
    storage_class: Option<String>,
    request_payer: bool,
}

impl std::fmt::Debug for S3Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Endpoint")
            .field("origin", &self.origin)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl S3Endpoint {
    /// The S3 endpoint of a location opened with `tuning`; `None` for other protocols (OBS, OSS
    /// and COS sign differently) or an endpoint that is not a URL.
    pub(crate) fn of(location: &Location, tuning: &Tuning) -> Option<S3Endpoint> {
        if location.protocol != Protocol::S3 {
            return None;
        }
        let region = location
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_owned());
        // OpenDAL's S3 service reads an endpoint without a scheme as https, and no endpoint as
        // AWS's regional one.
        let base = match location.endpoint.as_deref() {
            Some(endpoint) if endpoint.contains("://") => endpoint.trim_end_matches('/').to_owned(),
            Some(endpoint) => format!("https://{}", endpoint.trim_end_matches('/')),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let url = Url::parse(&base).ok()?;
        let origin = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str()?.to_ascii_lowercase(),
            url.port_or_known_default()?
        );
        Some(S3Endpoint {
            origin,
            base,
            bucket: location.bucket.clone(),
            root: location.root.trim_start_matches('/').to_owned(),
            region,
            credentials: location.credentials.clone(),
            storage_class: tuning.storage_class.clone(),
            request_payer: tuning.request_payer,
        })
    }

    /// Tells whether both endpoints are one service, so one can copy from the other.
    pub(crate) fn same_service(&self, other: &S3Endpoint) -> bool {
        self.origin == other.origin
    }

    /// `/bucket/root+key`, each segment percent-encoded as S3 signs it.
    fn object_path(&self, key: &str) -> String {
        let full = format!("{}{}", self.root, key);
        let encoded: Vec<String> = full.split('/').map(encode_segment).collect();
        format!("/{}/{}", encode_segment(&self.bucket), encoded.join("/"))
    }

    fn object_url(&self, key: &str, query: &str) -> String {
        let path = self.object_path(key);
        if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        }
    }
}

/// The source of a copy: `x-amz-copy-source` and the ETag it must still have.
pub(crate) struct CopySource<'a> {
    pub(crate) endpoint: &'a S3Endpoint,
    pub(crate) key: &'a str,
    /// The ETag seen by the HEAD before the copy (`x-amz-copy-source-if-match`): a source
    /// rewritten since is refused (412) instead of copied half old, half new.
    pub(crate) etag: Option<&'a str>,
}

/// Where a CopyObject's Content-Type and user metadata come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetadataDirective {
    /// From the request's headers (`write_headers`).
    Replace,
    /// From the source object, as the service holds it; the request carries none.
    Copy,
}

/// How a request ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server answered with an error status (or a 200 carrying an error body).
    Status {
        /// HTTP status.
        status: u16,
        /// The S3 error code, if the body had one.
        code: String,
    },
    /// The request could not be sent or its answer not read, after retries.
    Transport(String),
    /// The answer was a success but not the XML expected.
    BadAnswer(String),
}

impl Refusal {
    /// Whether the upload named in the request does not exist (aborted, completed or expired).
    pub(crate) fn is_no_such_upload(&self) -> bool {
        matches!(self, Refusal::Status { code, .. } if code == "NoSuchUpload")
    }

    /// Whether every other object of the run would meet the same refusal: the credentials may
    /// not read the source bucket (403), the service does not implement the operation (501,
    /// 405), or refuses it as asked (400, e.g. across accounts or regions). Those turn
    /// server-side copy off for the rest of the run.
    pub(crate) fn applies_to_every_object(&self) -> bool {
        matches!(
            self,
            Refusal::Status {
                status: 400 | 403 | 405 | 501,
                ..
            }
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Status { status, code } if code.is_empty() => write!(f, "HTTP {status}"),
            Refusal::Status { status, code } => write!(f, "HTTP {status} {code}"),
            Refusal::Transport(message) => write!(f, "request failed: {message}"),
            Refusal::BadAnswer(message) => write!(f, "unexpected answer: {message}"),
        }
    }
}

/// Sends the requests of server-side copies into one destination. One per run: a reqwest
/// client's connections belong to the runtime that opened them.
#[derive(Clone)]
pub(crate) struct S3CopyClient {
    destination: Arc<S3Endpoint>,
    http: reqwest::Client,
}

impl S3CopyClient {
    /// A client writing into `destination`.
    pub(crate) fn new(destination: S3Endpoint) -> Option<S3CopyClient> {
        let http = reqwest::Client::builder()
            // No system proxy: the request goes to the endpoint the task names, like OpenDAL's.
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .ok()?;
        Some(S3CopyClient {
            destination: Arc::new(destination),
            http,
        })
    }

    /// The headers every write carries: Content-Type and user metadata (which replace the
    /// source's), the destination's storage class. `Err` names a value HTTP cannot carry.
    pub(crate) fn write_headers(
        &self,
        content_type: Option<&str>,
        user_metadata: Option<&HashMap<String, String>>,
    ) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        if let Some(content_type) = content_type {
            let value = HeaderValue::from_str(content_type)
                .map_err(|_| format!("Content-Type {content_type:?} is not a header value"))?;
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        for (name, value) in user_metadata.into_iter().flatten() {
            let header = HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes())
                .map_err(|_| format!("metadata name {name:?} is not a header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("metadata {name:?} has a value that is not a header value"))?;
            headers.insert(header, value);
        }
        if let Some(class) = &self.destination.storage_class {
            let value = HeaderValue::from_str(class)
                .map_err(|_| format!("storage class {class:?} is not a header value"))?;
            headers.insert(HeaderName::from_static("x-amz-storage-class"), value);
        }
        Ok(headers)
    }

    /// CopyObject: the whole source object into `dst_key`, its metadata replaced by
    /// `write_headers` or kept as the source has it, as `directive` says. Returns the new
    /// object's ETag (unquoted).
    pub(crate) async fn copy_object(
        &self,
        source: &CopySource<'_>,
        dst_key: &str,
        write_headers: &HeaderMap,
        directive: MetadataDirective,
    ) -> Result<String, Refusal> {
        let mut headers = write_headers.clone();
        self.copy_source_headers(source, &mut headers)?;
        headers.insert(
            HeaderName::from_static("x-amz-metadata-directive"),
            HeaderValue::from_static(match directive {
                MetadataDirective::Replace => "REPLACE",
                MetadataDirective::Copy => "COPY",
            }),
        );
        let url = self.destination.object_url(dst_key, "");
        let body = self.send(Method::PUT, &url, &headers, Bytes::new()).await?;
        parse_etag(&body)
    }

    /// CreateMultipartUpload of `dst_key` with `write_headers`; returns the upload id.
    pub(crate) async fn create_upload(
        &self,
        dst_key: &str,
        write_headers: &HeaderMap,
    ) -> Result<String, Refusal> {
        let mut headers = write_headers.clone();
        self.payer_header(&mut headers);
        let url = self.destination.object_url(dst_key, "uploads");
        let body = self
            .send(Method::POST, &url, &headers, Bytes::new())
            .await?;
        let answer: InitiateAnswer = quick_xml::de::from_str(&body)
            .map_err(|err| Refusal::BadAnswer(format!("CreateMultipartUpload: {err}")))?;
        if answer.upload_id.is_empty() {
            return Err(Refusal::BadAnswer(
                "CreateMultipartUpload returned no UploadId".to_owned(),
            ));
        }
        Ok(answer.upload_id)
    }

    /// UploadPartCopy of the source's bytes `first..=last` as part `number`; returns the part's
    /// ETag as the server spelled it (CompleteMultipartUpload wants it back unchanged).
    pub(crate) async fn copy_part(
        &self,
        source: &CopySource<'_>,
        upload: &UploadRef,
        number: u32,
        (first, last): (u64, u64),
    ) -> Result<String, Refusal> {
        let mut headers = HeaderMap::new();
        self.copy_source_headers(source, &mut headers)?;
        headers.insert(
            HeaderName::from_static("x-amz-copy-source-range"),
            header_value(&format!("bytes={first}-{last}"))?,
        );
        let url = self.upload_url(upload, &format!("partNumber={number}&"));
        let body = self.send(Method::PUT, &url, &headers, Bytes::new()).await?;
        parse_etag(&body)
    }

    /// UploadPart: `body` as part `number`; returns the part's ETag as the server spelled it.
    pub(crate) async fn upload_part(
        &self,
        upload: &UploadRef,
        number: u32,
        body: Bytes,
    ) -> Result<String, Refusal> {
        let mut headers = HeaderMap::new();
        self.payer_header(&mut headers);
        let url = self.upload_url(upload, &format!("partNumber={number}&"));
        let (etag, _) = self.send_answer(Method::PUT, &url, &headers, body).await?;
        etag.filter(|etag| !etag.is_empty())
            .ok_or_else(|| Refusal::BadAnswer("UploadPart returned no ETag".to_owned()))
    }

    /// ListParts: every part the server holds for the upload, in part order (all pages).
    pub(crate) async fn list_parts(&self, upload: &UploadRef) -> Result<Vec<ListedPart>, Refusal> {
        let mut headers = HeaderMap::new();
        self.payer_header(&mut headers);
        let mut parts = Vec::new();
        let mut marker = 0u32;
        loop {
            let url = self.upload_url(
                upload,
                &format!("max-parts={LIST_PARTS_PAGE}&part-number-marker={marker}&"),
            );
            let body = self.send(Method::GET, &url, &headers, Bytes::new()).await?;
            let page: ListPartsAnswer = quick_xml::de::from_str(&body)
                .map_err(|err| Refusal::BadAnswer(format!("ListParts: {err}")))?;
            let last = page.parts.last().map(|part| part.number);
            parts.extend(page.parts);
            match (page.is_truncated, page.next_part_number_marker.or(last)) {
                (true, Some(next)) if next > marker => marker = next,
                _ => break,
            }
        }
        parts.sort_by_key(|part| part.number);
        Ok(parts)
    }

    /// CompleteMultipartUpload with the parts' ETags in part order; returns the object's ETag.
    pub(crate) async fn complete_upload(
        &self,
        upload: &UploadRef,
        part_etags: &[String],
    ) -> Result<String, Refusal> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (index, etag) in part_etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                index + 1,
                escape_xml(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let mut headers = HeaderMap::new();
        self.payer_header(&mut headers);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        let url = self.upload_url(upload, "");
        let body = self
            .send(Method::POST, &url, &headers, Bytes::from(xml))
            .await?;
        parse_etag(&body)
    }

    /// AbortMultipartUpload; failures are logged (the upload then stays until a lifecycle rule
    /// removes it, as for streamed uploads).
    pub(crate) async fn abort_upload(&self, upload: &UploadRef) {
        match self.try_abort_upload(upload).await {
            Ok(()) => tracing::debug!(key = %upload.key, "multipart upload aborted"),
            Err(refusal) => tracing::warn!(
                key = %upload.key,
                error = %refusal,
                "aborting a multipart upload failed; it stays open at the destination"
            ),
        }
    }

    /// AbortMultipartUpload, telling how it went; an upload already gone (NoSuchUpload) counts
    /// as aborted.
    pub(crate) async fn try_abort_upload(&self, upload: &UploadRef) -> Result<(), Refusal> {
        let mut headers = HeaderMap::new();
        self.payer_header(&mut headers);
        let url = self.upload_url(upload, "");
        match self
            .send(Method::DELETE, &url, &headers, Bytes::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(refusal) if refusal.is_no_such_upload() => Ok(()),
            Err(refusal) => Err(refusal),
        }
    }

    fn upload_url(&self, upload: &UploadRef, query_before_upload_id: &str) -> String {
        let upload_id = encode_segment(&upload.upload_id);
        self.destination.object_url(
            &upload.key,
            &format!("{query_before_upload_id}uploadId={upload_id}"),
        )
    }

    fn copy_source_headers(
        &self,
        source: &CopySource<'_>,
        headers: &mut HeaderMap,
    ) -> Result<(), Refusal> {
        headers.insert(
            HeaderName::from_static("x-amz-copy-source"),
            header_value(&source.endpoint.object_path(source.key))?,
        );
        if let Some(etag) = source.etag {
            headers.insert(
                HeaderName::from_static("x-amz-copy-source-if-match"),
                header_value(etag)?,
            );
        }
        if source.endpoint.request_payer {
            headers.insert(
                HeaderName::from_static("x-amz-request-payer"),
                HeaderValue::from_static("requester"),
            );
        }
        Ok(())
    }

    fn payer_header(&self, headers: &mut HeaderMap) {
        if self.destination.request_payer {
            headers.insert(
                HeaderName::from_static("x-amz-request-payer"),
                HeaderValue::from_static("requester"),
            );
        }
    }

    /// Signs and sends one request, retrying temporary failures; the body of a success.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<String, Refusal> {
        self.send_answer(method, url, headers, body)
            .await
            .map(|(_, body)| body)
    }

    /// As `send`, with the answer's `ETag` header (UploadPart answers with it alone).
    async fn send_answer(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(Option<String>, String), Refusal> {
        let mut attempt = 1;
        loop {
            let answer = self
                .send_once(method.clone(), url, headers, body.clone())
                .await;
            let temporary = match &answer {
                Ok(_) => false,
                Err(Refusal::Transport(_)) => true,
                Err(Refusal::Status { status, code }) => {
                    matches!(status, 500 | 502 | 503 | 504)
                        || matches!(code.as_str(), "InternalError" | "SlowDown")
                }
                Err(Refusal::BadAnswer(_)) => false,
            };
            if !temporary || attempt >= ATTEMPTS {
                return answer;
            }
            tracing::debug!(url = %url, attempt, "server-side copy request failed; retrying");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(Option<String>, String), Refusal> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        let (mut parts, ()) = builder
            .body(())
            .map_err(|err| Refusal::BadAnswer(format!("building the request: {err}")))?
            .into_parts();
        sign_s3_request(
            &mut parts,
            &self.destination.region,
            &self.destination.credentials,
        )
        .await
        .map_err(|err| Refusal::Transport(format!("signing the request: {err}")))?;
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|err| Refusal::BadAnswer(format!("building the request: {err}")))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|err| Refusal::Transport(err.to_string()))?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get(http::header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = read_bounded(response).await?;
        let error_code = error_code(&text);
        match error_code {
            // A 200 whose body is an error (see the module doc), or an error status.
            Some(code) => Err(Refusal::Status {
                status: if status == 200 { 500 } else { status },
                code,
            }),
            None if (200..300).contains(&status) => Ok((etag, text)),
            None => Err(Refusal::Status {
                status,
                code: String::new(),
            }),
        }
    }
}

/// A multipart upload being filled by part copies.
pub(crate) struct UploadRef {
    pub(crate) key: String,
    pub(crate) upload_id: String,
}

/// A multipart copy in progress, aborted unless it completes: like `multipart::MultipartUpload`,
/// errors and stops abort explicitly, and `Drop` hands the abort to the run's cleanup tracker
/// when the copy's future is dropped.
pub(crate) struct PartCopyUpload {
    client: S3CopyClient,
    upload: Option<UploadRef>,
    cleanup: TaskTracker,
}

impl PartCopyUpload {
    pub(crate) fn new(client: &S3CopyClient, upload: UploadRef, cleanup: &TaskTracker) -> Self {
        PartCopyUpload {
            client: client.clone(),
            upload: Some(upload),
            cleanup: cleanup.clone(),
        }
    }

    /// The upload, while it is open.
    pub(crate) fn upload(&self) -> Option<&UploadRef> {
        self.upload.as_ref()
    }

    /// Completes the upload with the parts' ETags; aborts it when completion fails.
    pub(crate) async fn complete(mut self, part_etags: &[String]) -> Result<String, Refusal> {
        let Some(upload) = self.upload.take() else {
            return Err(Refusal::BadAnswer("upload already finished".to_owned()));
        };
        match self.client.complete_upload(&upload, part_etags).await {
            Ok(etag) => Ok(etag),
            Err(refusal) => {
                self.client.abort_upload(&upload).await;
                Err(refusal)
            }
        }
    }

    /// Aborts the upload now.
    pub(crate) async fn abort(mut self) {
        if let Some(upload) = self.upload.take() {
            self.client.abort_upload(&upload).await;
        }
    }
}

impl Drop for PartCopyUpload {
    fn drop(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        let client = self.client.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                self.cleanup
                    .spawn_on(async move { client.abort_upload(&upload).await }, &runtime);
            }
            Err(_) => tracing::warn!(
                key = %upload.key,
                "server-side multipart copy dropped outside a runtime; it stays open at the destination"
            ),
        }
    }
}

fn header_value(text: &str) -> Result<HeaderValue, Refusal> {
    HeaderValue::from_str(text)
        .map_err(|_| Refusal::BadAnswer(format!("{text:?} is not a header value")))
}

async fn read_bounded(response: reqwest::Response) -> Result<String, Refusal> {
    use futures::TryStreamExt;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|err| Refusal::Transport(format!("reading the answer: {err}")))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Refusal::BadAnswer(format!(
                "answer longer than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `CopyObjectResult`, `CopyPartResult` and `CompleteMultipartUploadResult` all carry `ETag`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EtagAnswer {
    #[serde(rename = "ETag", default)]
    etag: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateAnswer {
    #[serde(default)]
    upload_id: String,
}

/// One part as ListParts names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct ListedPart {
    #[serde(rename = "PartNumber")]
    pub(crate) number: u32,
    #[serde(rename = "ETag", default)]
    pub(crate) etag: String,
    #[serde(rename = "Size", default)]
    pub(crate) size: u64,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ListPartsAnswer {
    #[serde(rename = "Part", default)]
    parts: Vec<ListedPart>,
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextPartNumberMarker", default)]
    next_part_number_marker: Option<u32>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorAnswer {
    #[serde(default)]
    code: String,
}

fn parse_etag(xml: &str) -> Result<String, Refusal> {
    let answer: EtagAnswer = quick_xml::de::from_str(xml)
        .map_err(|err| Refusal::BadAnswer(format!("no ETag in the copy result: {err}")))?;
    if answer.etag.is_empty() {
        return Err(Refusal::BadAnswer("the copy result has no ETag".to_owned()));
    }
    Ok(answer.etag)
}

/// The `Code` of a body whose root element is `<Error>`; `None` for any other body.
fn error_code(body: &str) -> Option<String> {
    let trimmed = body.trim_start();
    let after_declaration = match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, rest)| rest.trim_start())?,
        None => trimmed,
    };
    if !after_declaration.starts_with("<Error>") && !after_declaration.starts_with("<Error ") {
        return None;
    }
    Some(
        quick_xml::de::from_str::<ErrorAnswer>(after_declaration)
            .map(|answer| answer.code)
            .unwrap_or_default(),
    )
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(endpoint: Option<&str>, bucket: &str, root: &str) -> Location {
        Location {
            protocol: Protocol::S3,
            bucket: bucket.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            region: Some("us-east-1".to_owned()),
            root: root.to_owned(),
            credentials: Credentials::default(),
        }
    }

    #[test]
    fn test_one_service_means_same_scheme_host_and_port() {
        let tuning = Tuning::default();
        let of = |endpoint| S3Endpoint::of(&location(endpoint, "b", ""), &tuning).unwrap();
        assert!(of(Some("http://127.0.0.1:8333")).same_service(&of(Some("http://127.0.0.1:8333/"))));
        assert!(!of(Some("http://127.0.0.1:8333")).same_service(&of(Some("http://127.0.0.1:8334"))));
        assert!(of(Some("https://S3.example.com"))
            .same_service(&of(Some("https://s3.example.com:443"))));
        assert!(
            !of(Some("http://s3.example.com")).same_service(&of(Some("https://s3.example.com")))
        );
        assert!(of(None).same_service(&of(Some("https://s3.us-east-1.amazonaws.com"))));
        let mut oss = location(Some("http://127.0.0.1:1"), "b", "");
        oss.protocol = Protocol::Oss;
        assert!(S3Endpoint::of(&oss, &tuning).is_none());
    }

    #[test]
    fn test_object_paths_encode_each_segment_under_the_root() {
        let endpoint = S3Endpoint::of(
            &location(Some("http://h:1"), "bkt", "dir/"),
            &Tuning::default(),
        )
        .unwrap();
        assert_eq!(
            endpoint.object_path("a b/c+d%e?f#g/ü"),
            "/bkt/dir/a%20b/c%2Bd%25e%3Ff%23g/%C3%BC"
        );
        assert_eq!(
            endpoint.object_url("k", "uploads"),
            "http://h:1/bkt/dir/k?uploads"
        );
    }

    #[test]
    fn test_error_bodies_are_told_from_results() {
        assert_eq!(
            error_code(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>"#
            )
            .as_deref(),
            Some("AccessDenied")
        );
        assert_eq!(
            error_code("<CopyObjectResult><ETag>\"x\"</ETag></CopyObjectResult>"),
            None
        );
        assert_eq!(
            parse_etag(
                r#"<?xml version="1.0"?><CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2024-01-01T00:00:00Z</LastModified><ETag>"5eb63bbbe01eeed093cb22bb8f5acdc3"</ETag></CopyObjectResult>"#
            ),
            Ok("\"5eb63bbbe01eeed093cb22bb8f5acdc3\"".to_owned())
        );
        assert!(parse_etag("<CopyObjectResult/>").is_err());
    }

    #[test]
    fn test_list_parts_answers_are_read_with_their_marker() {
        let page: ListPartsAnswer = quick_xml::de::from_str(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"a"</ETag><Size>5242880</Size></Part><Part><PartNumber>2</PartNumber><ETag>"b"</ETag><Size>7</Size></Part></ListPartsResult>"#,
        )
        .unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_part_number_marker, Some(2));
        assert_eq!(
            page.parts,
            vec![
                ListedPart {
                    number: 1,
                    etag: "\"a\"".into(),
                    size: 5_242_880
                },
                ListedPart {
                    number: 2,
                    etag: "\"b\"".into(),
                    size: 7
                },
            ]
        );
        let empty: ListPartsAnswer = quick_xml::de::from_str(
            "<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>",
        )
        .unwrap();
        assert!(empty.parts.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn test_refusals_that_stop_server_side_copy_for_the_run() {
        let status = |status| Refusal::Status {
            status,
            code: String::new(),
        };
        for every in [400, 403, 405, 501] {
            assert!(status(every).applies_to_every_object(), "{every}");
        }
        for one in [404, 412, 500, 503] {
            assert!(!status(one).applies_to_every_object(), "{one}");
        }
        assert!(!Refusal::Transport("reset".into()).applies_to_every_object());
    }
}
