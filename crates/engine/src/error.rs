//! Engine errors: ones that stop a whole run. Per-object failures are outcomes, not errors.
//!
//! Every storage error a user sees (the CLI, a task's `error_reason`, a failed object's reason)
//! goes through [`explain`]: one line naming the cause in the user's terms, with the failure code
//! and whether the problem ends the run. OpenDAL's full error (its context, the response headers)
//! goes to the debug log only.

use tern_core::{ErrorKind, FailureCode, Protocol};

/// Longest message [`explain`] returns, in characters; server messages are cut to fit.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// An error that ends a run (bad endpoint, missing bucket, refused credentials, unreadable
/// listing); per-object trouble is an outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node spec or URL cannot be turned into a storage endpoint.
    #[error("invalid {field}: {reason}")]
    InvalidLocation {
        /// The field or URL part at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// A domain rule was broken.
    #[error(transparent)]
    Core(#[from] tern_core::Error),
    /// A storage problem that ends the run: listing or probing failed after retries, or an object
    /// failed in a way every other object would too (bucket missing, credentials refused,
    /// endpoint unreachable). The message is one line from [`explain`].
    #[error("{message}")]
    Storage {
        /// The OMS failure code.
        code: FailureCode,
        /// One line naming the cause.
        message: String,
        /// Whether the storage said the problem may pass (a retry of the run may succeed).
        temporary: bool,
    },
    /// The run was cancelled.
    #[error("the run was cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidLocation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A run-fatal error from a storage error at `place`, logging the full chain at debug level.
    pub(crate) fn storage(err: &opendal::Error, place: &Place<'_>) -> Self {
        Explained::of(err, place).into_error(err.is_temporary())
    }

    /// Classifies the error for the API edge.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidLocation { .. } => ErrorKind::InvalidArgument,
            Error::Core(err) => err.kind(),
            Error::Storage {
                temporary: true, ..
            } => ErrorKind::Unavailable,
            Error::Storage { .. } => ErrorKind::InvalidArgument,
            Error::Cancelled => ErrorKind::InvalidState,
        }
    }

    /// The OMS failure code for a task that this error ended.
    pub fn failure_code(&self) -> FailureCode {
        match self {
            Error::Storage { code, .. } => *code,
            _ => FailureCode::Internal,
        }
    }
}

/// Result with the engine error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which side of the migration an error came from; the same storage error maps to different codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source.
    Source,
    /// The destination.
    Destination,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

/// Where a storage error happened, in the user's terms.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Which side.
    pub side: Side,
    /// The protocol spoken (a local directory reads differently from a bucket).
    pub protocol: Protocol,
    /// The endpoint URL, when one was given.
    pub endpoint: Option<&'a str>,
    /// The bucket or container (empty for a local directory).
    pub bucket: &'a str,
    /// The directory the storage is rooted at (`/` for a whole bucket).
    pub root: &'a str,
    /// The object key, when the error concerns one object.
    pub key: Option<&'a str>,
    /// Why credentials could not be had, when the storage knows (a failed Google token
    /// exchange: OpenDAL's signer reports only that no credential loaded).
    pub credential_problem: Option<&'a std::sync::Mutex<Option<String>>>,
}

/// A storage error as the user should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// The OMS failure code.
    pub code: FailureCode,
    /// One line (at most [`MAX_MESSAGE_CHARS`] characters) naming the cause.
    pub message: String,
    /// Whether every other object would fail the same way, so the run should stop at once:
    /// the endpoint cannot be reached, the bucket is missing, or the credentials are refused.
    pub run_fatal: bool,
}

impl Explained {
    /// Explains `err` at `place` and logs the full error chain at debug level.
    pub fn of(err: &opendal::Error, place: &Place<'_>) -> Explained {
        let explained = explain(err, place);
        // The whole chain with OpenDAL's context and the response, but not the backtrace its
        // `Debug` adds under RUST_BACKTRACE.
        tracing::debug!(error = %full_text(err), code = %explained.code, side = place.side.name(), "storage error: {}", explained.message);
        explained
    }

    /// The run-fatal engine error carrying this explanation.
    pub fn into_error(self, temporary: bool) -> Error {
        Error::Storage {
            code: self.code,
            message: self.message,
            temporary,
        }
    }
}

/// What the storage said, picked out of OpenDAL's error text (it carries the HTTP response in its
/// context and the service's parsed error body in its message; both are only ever rendered).
#[derive(Debug, Default, PartialEq, Eq)]
struct Response {
    /// The HTTP status, if a response came back.
    status: Option<u16>,
    /// The service's error code (S3 `<Code>`, e.g. `NoSuchBucket`).
    code: Option<String>,
    /// The service's error message.
    message: Option<String>,
}

impl Response {
    fn parse(text: &str) -> Response {
        let status = text
            .find("status: ")
            .map(|at| &text[at + "status: ".len()..])
            .and_then(|rest| rest.get(..3))
            .and_then(|digits| digits.parse::<u16>().ok());
        let code = quoted_field(text, "code: \"")
            .or_else(|| xml_element(text, "Code"))
            .filter(|code| !code.is_empty());
        let message = quoted_field(text, "message: \"")
            .or_else(|| xml_element(text, "Message"))
            .filter(|message| !message.is_empty());
        Response {
            status,
            code,
            message,
        }
    }
}

/// The text of `"…"` after `marker` (Rust `Debug` of a string field), unescaped enough to read.
fn quoted_field(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// The text of `<name>…</name>` in a raw XML body.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim().to_owned())
}

/// The error's text followed by its sources': OpenDAL's `Display` shows the first source only,
/// and the transport's cause (`Connection refused`) sits deeper in the chain.
fn full_text(err: &opendal::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why a request got no response (reqwest/hyper/io wording in the error's source chain), and
/// whether it concerns the endpoint as a whole: a connection that cannot be opened fails every
/// object alike, while one closed mid-transfer may concern one object.
fn connection_problem(text: &str) -> Option<(&'static str, bool)> {
    let lower = text.to_ascii_lowercase();
    let problem = if lower.contains("connection refused") {
        ("connection refused", true)
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ("host name not found", true)
    } else if lower.contains("tcp connect error") && lower.contains("timed out") {
        ("connection timed out", true)
    } else if lower.contains("network is unreachable") || lower.contains("no route to host") {
        ("network unreachable", true)
    } else if lower.contains("certificate") || lower.contains("tls handshake") {
        ("TLS handshake failed", true)
    } else if lower.contains("client error (connect)") || lower.contains("tcp connect error") {
        ("cannot connect", true)
    } else if lower.contains("connection reset") || lower.contains("connection closed") {
        ("connection closed by the server", false)
    } else {
        return None;
    };
    Some(problem)
}

/// Turns a storage error into its failure code, one line naming the cause, and whether the run
/// must stop: the one place that decides how a storage error reads.
///
/// The cause comes from, in order: a connection failure in the error's source chain; the
/// service's error code (S3 `NoSuchBucket`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`,
/// `AccessDenied`, …, found in OpenDAL's message or a raw `<Code>` element); the HTTP status;
/// OpenDAL's [`opendal::ErrorKind`]. OpenDAL labels `NoSuchBucket` `ConfigInvalid`, and a HEAD
/// refused for bad credentials has no body, so the code wins over the kind when present.
pub fn explain(err: &opendal::Error, place: &Place<'_>) -> Explained {
    use opendal::ErrorKind as Kind;
    let side = place.side.name();
    let text = full_text(err);
    let response = Response::parse(&text);
    let endpoint = place.endpoint.unwrap_or("its default endpoint");
    let bucket = place.bucket;
    let what = describe_target(place);
    let by_side = |source: FailureCode, destination: FailureCode| match place.side {
        Side::Source => source,
        Side::Destination => destination,
    };
    let explained = |code, message: String, run_fatal| Explained {
        code,
        message: shorten(message),
        run_fatal,
    };

    if response.status.is_none() {
        match connection_problem(&text) {
            Some((problem, true)) => {
                return explained(
                    by_side(FailureCode::SourceNotFound, FailureCode::DestinationError),
                    format!("cannot reach the {side} endpoint {endpoint}: {problem}"),
                    true,
                )
            }
            Some((problem, false)) => {
                return explained(
                    by_side(FailureCode::Internal, FailureCode::DestinationError),
                    format!("the {side} {endpoint} failed on {what}: {problem}"),
                    false,
                )
            }
            None => {}
        }
    }
    // A service account's token could not be had: no request of the run can be signed.
    let credential_problem = place
        .credential_problem
        .and_then(|problem| problem.lock().ok()?.clone());
    if let (Some(problem), true) = (credential_problem, text.contains("reqsign::Sign")) {
        return explained(
            by_side(
                FailureCode::SourcePermissionDenied,
                FailureCode::DestinationPermissionDenied,
            ),
            format!("{side} credentials: {problem}"),
            true,
        );
    }
    let code = response.code.as_deref().unwrap_or("");
    let suffix = match (&response.code, response.status) {
        (Some(code), _) => format!(" ({code})"),
        (None, Some(status)) => format!(" (HTTP {status})"),
        (None, None) => String::new(),
    };
    match code {
        // S3, OBS, OSS and COS answer a GET of an archived object with InvalidObjectState,
        // Azure with BlobArchived: that object alone cannot be read until it is restored.
        "InvalidObjectState" | "BlobArchived" if place.side == Side::Source => {
            return explained(
                FailureCode::SourceArchived,
                format!(
                    "the source {what} is archived{suffix}: it can be read only after a restore \
                     (enable_restore restores it on S3 sources)"
                ),
                false,
            )
        }
        "NoSuchBucket" | "NoSuchContainer" | "ContainerNotFound" => {
            return explained(
                by_side(
                    FailureCode::SourceBucketNotFound,
                    FailureCode::DestinationBucketNotFound,
                ),
                format!("the {side} bucket {bucket:?} does not exist at {endpoint}"),
                true,
            )
        }
        "InvalidAccessKeyId" | "InvalidAccessKeyID" | "InvalidAccessKey" => {
            return explained(
                by_side(
                    FailureCode::SourceCredentialsInvalid,
                    FailureCode::DestinationCredentialsInvalid,
                ),
                format!("the {side} refused the credentials: unknown access key{suffix}"),
                true,
            )
        }
        "SignatureDoesNotMatch" => {
            return explained(
                by_side(
                    FailureCode::SourceCredentialsInvalid,
                    FailureCode::DestinationCredentialsInvalid,
                ),
                format!(
                    "the {side} refused the credentials: the secret key does not match the access key{suffix}"
                ),
                true,
            )
        }
        "InvalidToken" | "ExpiredToken" | "TokenRefreshRequired" | "AuthenticationFailed" => {
            return explained(
                by_side(
                    FailureCode::SourceCredentialsInvalid,
                    FailureCode::DestinationCredentialsInvalid,
                ),
                format!("the {side} refused the credentials{suffix}"),
                true,
            )
        }
        _ => {}
    }
    match err.kind() {
        Kind::NotFound => explained(
            by_side(
                FailureCode::SourceNotFound,
                FailureCode::DestinationBucketNotFound,
            ),
            format!("{side} {what} not found{suffix}"),
            false,
        ),
        Kind::PermissionDenied => {
            let hint = if response.code.is_none() && response.status == Some(403) {
                ": access denied or credentials refused"
            } else {
                ""
            };
            explained(
                by_side(
                    FailureCode::SourcePermissionDenied,
                    FailureCode::DestinationPermissionDenied,
                ),
                format!("the {side} denied access to {what}{suffix}{hint}"),
                false,
            )
        }
        kind => {
            let detail = response
                .message
                .as_deref()
                .map(|message| format!(": {message}"))
                .unwrap_or_default();
            let operation = operation(&text).unwrap_or("request");
            explained(
                by_side(FailureCode::Internal, FailureCode::DestinationError),
                format!("the {side} {operation} of {what} failed: {kind}{suffix}{detail}"),
                false,
            )
        }
    }
}

/// "object \"k\" in bucket \"b\"", "bucket \"b\"", "file \"k\" in /dir", "directory /dir".
fn describe_target(place: &Place<'_>) -> String {
    let root = place.root.trim_matches('/');
    let full_key = |key: &str| {
        if root.is_empty() {
            key.to_owned()
        } else {
            format!("{root}/{key}")
        }
    };
    match (place.protocol, place.key) {
        (Protocol::Fs, Some(key)) => format!("file {:?} in {}", key, place.root),
        (Protocol::Fs, None) => format!("directory {}", place.root),
        (_, Some(key)) => format!("object {:?} in bucket {:?}", full_key(key), place.bucket),
        (_, None) if root.is_empty() => format!("bucket {:?}", place.bucket),
        (_, None) => format!("bucket {:?} (under {root}/)", place.bucket),
    }
}

/// OpenDAL's operation name ("… at stat, context: …"), e.g. `stat`, `read`, `write`, `list`.
fn operation(text: &str) -> Option<&str> {
    let start = text.find(") at ")? + ") at ".len();
    let rest = &text[start..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|op| !op.is_empty())
}

/// One line, at most [`MAX_MESSAGE_CHARS`] characters.
fn shorten(message: String) -> String {
    let line: String = message
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() <= MAX_MESSAGE_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The response part of OpenDAL's context, as SeaweedFS 4.48 answered (captured verbatim).
    fn seaweed_response(status: u16, length: u32) -> String {
        format!(
            "Parts {{ status: {status}, version: HTTP/1.1, headers: {{\"accept-ranges\": \"bytes\", \"content-length\": \"{length}\", \"content-type\": \"application/xml\", \"server\": \"SeaweedFS 8000GB 4.48\", \"vary\": \"Origin\", \"x-amz-request-id\": \"18EDB18844D1C9633419D19D\", \"date\": \"Thu, 03 Dec 2026 08:37:05 GMT\"}} }}"
        )
    }

    /// Rebuilds the error OpenDAL's S3 service returned for a failed ListObjectsV2.
    fn s3_list_error(kind: opendal::ErrorKind, status: u16, s3_error: &str) -> opendal::Error {
        opendal::Error::new(kind, s3_error)
            .with_operation("list")
            .with_context("service_operation", "ListObjectsV2")
            .with_context("uri", "http://127.0.0.1:41300/nosuch?list-type=2")
            .with_context("response", seaweed_response(status, 239))
            .with_context("service", "s3")
            .with_context("path", "/")
            .with_context("listed", 0)
            .set_persistent()
    }

    fn place(side: Side, bucket: &'static str, key: Option<&'static str>) -> Place<'static> {
        Place {
            side,
            protocol: Protocol::S3,
            endpoint: Some("http://127.0.0.1:41300"),
            bucket,
            root: "/",
            key,
            credential_problem: None,
        }
    }

    fn assert_one_short_line(explained: &Explained) {
        assert!(explained.message.chars().count() < 400, "{explained:?}");
        assert!(!explained.message.contains('\n'), "{explained:?}");
        for dump in ["Parts {", "headers", "x-amz-request-id", "context:"] {
            assert!(!explained.message.contains(dump), "{explained:?}");
        }
    }

    #[test]
    fn test_explain_missing_bucket_names_it_and_is_run_fatal() {
        let err = s3_list_error(
            opendal::ErrorKind::ConfigInvalid,
            404,
            "S3Error { code: \"NoSuchBucket\", message: \"The specified bucket does not exist\", resource: \"/nosuch\", request_id: \"18EDB18844D1C9633419D19D\" }",
        );
        // The rebuilt error renders as the one SeaweedFS produced, so the parse is tested on it.
        assert_eq!(
            err.to_string(),
            format!(
                "ConfigInvalid (persistent) at list, context: {{ service_operation: ListObjectsV2, uri: http://127.0.0.1:41300/nosuch?list-type=2, response: {}, service: s3, path: /, listed: 0 }} => S3Error {{ code: \"NoSuchBucket\", message: \"The specified bucket does not exist\", resource: \"/nosuch\", request_id: \"18EDB18844D1C9633419D19D\" }}",
                seaweed_response(404, 239)
            )
        );
        let source = explain(&err, &place(Side::Source, "nosuch", None));
        assert_eq!(source.code, FailureCode::SourceBucketNotFound);
        assert_eq!(
            source.message,
            "the source bucket \"nosuch\" does not exist at http://127.0.0.1:41300"
        );
        assert!(source.run_fatal);
        assert_one_short_line(&source);
        let destination = explain(&err, &place(Side::Destination, "nosuch", Some("k0")));
        assert_eq!(destination.code, FailureCode::DestinationBucketNotFound);
        assert_eq!(destination.code.as_str(), "TRF.0058");
        assert!(destination.run_fatal);
    }

    #[test]
    fn test_explain_refused_credentials() {
        let unknown_key = s3_list_error(
            opendal::ErrorKind::PermissionDenied,
            403,
            "S3Error { code: \"InvalidAccessKeyId\", message: \"The access key ID you provided does not exist in our records.\", resource: \"/src\", request_id: \"18EDB18C021F86AED80273C5\" }",
        );
        let explained = explain(&unknown_key, &place(Side::Source, "src", None));
        assert_eq!(explained.code, FailureCode::SourceCredentialsInvalid);
        assert_eq!(
            explained.message,
            "the source refused the credentials: unknown access key (InvalidAccessKeyId)"
        );
        assert!(explained.run_fatal);
        assert_one_short_line(&explained);

        let wrong_secret = s3_list_error(
            opendal::ErrorKind::PermissionDenied,
            403,
            "S3Error { code: \"SignatureDoesNotMatch\", message: \"The request signature we calculated does not match the signature you provided. Check your key and signing method.\", resource: \"/dst\", request_id: \"18EDB18937CAF7C554BD6B29\" }",
        );
        let explained = explain(&wrong_secret, &place(Side::Destination, "dst", None));
        assert_eq!(explained.code, FailureCode::DestinationCredentialsInvalid);
        assert_eq!(explained.code.as_str(), "TRF.0057");
        assert!(explained.message.contains("secret key does not match"));
        assert!(explained.run_fatal);

        let denied = s3_list_error(
            opendal::ErrorKind::PermissionDenied,
            403,
            "S3Error { code: \"AccessDenied\", message: \"Access Denied\", resource: \"/dst\", request_id: \"1\" }",
        );
        let explained = explain(&denied, &place(Side::Destination, "dst", None));
        assert_eq!(explained.code, FailureCode::DestinationPermissionDenied);
        assert_eq!(
            explained.message,
            "the destination denied access to bucket \"dst\" (AccessDenied)"
        );
        assert!(!explained.run_fatal);
    }

    #[test]
    fn test_explain_archived_source_object_fails_alone_with_the_restore_hint() {
        let err = opendal::Error::new(
            opendal::ErrorKind::PermissionDenied,
            "S3Error { code: \"InvalidObjectState\", message: \"The operation is not valid for the object's storage class\", resource: \"\", request_id: \"1\" }",
        )
        .with_operation("read")
        .with_context("response", seaweed_response(403, 365))
        .set_persistent();
        let explained = explain(&err, &place(Side::Source, "src", Some("cold.bin")));
        assert_eq!(explained.code, FailureCode::SourceArchived);
        assert_eq!(explained.code.as_str(), "TRF.0012");
        assert!(!explained.run_fatal);
        assert!(
            explained.message.contains("archived") && explained.message.contains("enable_restore"),
            "{explained:?}"
        );
        // The same code at the destination is no archive of ours to restore.
        let destination = explain(&err, &place(Side::Destination, "dst", Some("cold.bin")));
        assert_eq!(destination.code, FailureCode::DestinationPermissionDenied);
    }

    #[test]
    fn test_explain_head_without_body_uses_the_status() {
        // A HEAD refused for an unknown access key: 403 and no body (SeaweedFS, S3).
        let err = opendal::Error::new(opendal::ErrorKind::PermissionDenied, "")
            .with_operation("stat")
            .with_context("service_operation", "HeadObject")
            .with_context("uri", "http://127.0.0.1:41300/src/k0")
            .with_context("response", seaweed_response(403, 281))
            .with_context("service", "s3")
            .with_context("path", "k0")
            .set_persistent();
        let explained = explain(&err, &place(Side::Source, "src", Some("k0")));
        assert_eq!(explained.code, FailureCode::SourcePermissionDenied);
        assert_eq!(
            explained.message,
            "the source denied access to object \"k0\" in bucket \"src\" (HTTP 403): access denied or credentials refused"
        );

        let missing = opendal::Error::new(opendal::ErrorKind::NotFound, "")
            .with_operation("stat")
            .with_context("response", seaweed_response(404, 248))
            .set_persistent();
        let explained = explain(&missing, &place(Side::Source, "src", Some("nope")));
        assert_eq!(explained.code, FailureCode::SourceNotFound);
        assert_eq!(
            explained.message,
            "source object \"nope\" in bucket \"src\" not found (HTTP 404)"
        );
        assert!(!explained.run_fatal);
    }

    #[test]
    fn test_explain_unreachable_endpoint_names_the_address() {
        // OpenDAL's reqwest transport wraps the connect error (captured against a closed port).
        let refused = opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request")
            .with_operation("list")
            .with_context("url", "http://127.0.0.1:41399/dst?list-type=2")
            .with_context("called", "reqwest::send")
            .set_source(std::io::Error::other(
                "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)",
            ))
            .set_persistent();
        let mut at = place(Side::Destination, "dst", None);
        at.endpoint = Some("http://127.0.0.1:41399");
        let explained = explain(&refused, &at);
        assert_eq!(
            explained.message,
            "cannot reach the destination endpoint http://127.0.0.1:41399: connection refused"
        );
        assert_eq!(explained.code, FailureCode::DestinationError);
        assert!(explained.run_fatal);

        let dns = opendal::Error::new(opendal::ErrorKind::Unexpected, "send http request")
            .with_operation("list")
            .set_source(std::io::Error::other(
                "error sending request: client error (Connect): dns error: error resolving DNS: failed to lookup address information: Name or service not known",
            ));
        at.side = Side::Source;
        at.endpoint = Some("http://nosuch.invalid:9000");
        let explained = explain(&dns, &at);
        assert_eq!(
            explained.message,
            "cannot reach the source endpoint http://nosuch.invalid:9000: host name not found"
        );
        assert_eq!(explained.code, FailureCode::SourceNotFound);
        assert!(explained.run_fatal);
    }

    #[test]
    fn test_explain_local_file_and_long_messages() {
        let err = opendal::Error::new(opendal::ErrorKind::NotFound, "entity not found")
            .with_operation("stat")
            .with_context("service", "fs")
            .with_context("path", "a")
            .set_source(std::io::Error::from(std::io::ErrorKind::NotFound));
        let at = Place {
            side: Side::Source,
            protocol: Protocol::Fs,
            endpoint: None,
            bucket: "",
            root: "/data/in",
            key: Some("a"),
            credential_problem: None,
        };
        assert_eq!(
            explain(&err, &at).message,
            "source file \"a\" in /data/in not found"
        );

        let long = "x".repeat(2000);
        let err = opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            format!("S3Error {{ code: \"InternalError\", message: \"{long}\" }}"),
        )
        .with_operation("write")
        .with_context("response", seaweed_response(500, 2000));
        let explained = explain(&err, &place(Side::Destination, "dst", Some("k")));
        assert_eq!(explained.code, FailureCode::DestinationError);
        assert!(explained
            .message
            .starts_with("the destination write of object \"k\" in bucket \"dst\" failed: Unexpected (InternalError): xxx"));
        assert_one_short_line(&explained);
    }
}
