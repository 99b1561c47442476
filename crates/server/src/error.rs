//! API errors and THE table that turns each one into an HTTP status and an OMS `error_code`.
//!
//! Nothing else in tern picks a status code: handlers return [`ApiError`], domain errors convert
//! with `From<tern_core::Error>`, and [`ApiError::wire`] is the only mapping.
//!
//! | Case (`ErrorKind`)                                  | HTTP | `error_code` | Source |
//! |-----------------------------------------------------|------|--------------|--------|
//! | bad field value (`InvalidArgument`)                 | 400  | OMS.0001     | §3.1 |
//! | wrong JSON type or missing field (`InvalidArgument`) | 400 | OMS.0002     | §3.1, S3M.0002 |
//! | body is not JSON (`InvalidArgument`)                | 400  | OMS.0067     | S3M.0067 |
//! | forbidden characters in `description`               | 400  | OMS.0078     | §3.1 |
//! | other illegal state change (`InvalidState`)         | 400  | OMS.0064     | §3.1 (docs' own example) |
//! | already exists (`AlreadyExists`)                    | 400  | OMS.0064     | our choice; OMS documents no 409 |
//! | unknown task (`NotFound`)                           | 400  | OMS.1009     | §1.2: terraform reads 400 + OMS.1009 as "gone" |
//! | delete of a busy task or group (core refused `Delete`) | 400 | OMS.0063  | §1.2 |
//! | stop refused by core (task or group `Stop`)         | 400  | OMS.0066     | §1.2 |
//! | start/retry of a task refused by core (`Start`, `Retry`) | 400 | OMS.0070 | S3M.0070 |
//! | unknown task group or sync task (`NotFound`)        | 404  | OMS.1009     | §3.1: terraform reads 404 as "gone"; §0: create_sync_events documents 404 |
//! | project holds the most sync tasks it may            | 400  | OMS.0077     | §3.1, S3M.0077 |
//! | events sent to a stopped sync task (`InvalidState`) | 400  | OMS.0064     | §3.1 |
//! | no or bad credentials/signature (`Unauthenticated`) | 401  | APIGW.0301   | Huawei API gateway's "incorrect IAM authentication information" |
//! | other project's resource (`Forbidden`)              | 403  | OMS.0206     | §3.1 |
//! | too many requests (`RateLimited`)                   | 429  | APIGW.0308   | Huawei API gateway's "throttling threshold reached" |
//! | dependency down (`Unavailable`)                     | 503  | OMS.2004     | §3.1 |
//! | anything unexpected (`Internal`)                    | 500  | OMS.0001     | generic message; the cause is logged, never sent |

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tern_core::ErrorKind;

use crate::api::ErrorBody;

/// Message sent for [`ApiError::Internal`]; the cause stays in the log.
const INTERNAL_MESSAGE: &str = "internal server error, retry later";
/// Message sent for [`ApiError::Unavailable`]; the cause stays in the log.
const UNAVAILABLE_MESSAGE: &str = "service temporarily unavailable, retry later";

/// An error the API returns to a client as `{"error_code", "error_msg"}`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// A field's value breaks a rule (OMS.0001).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field's wire path, e.g. `src_node.ak`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// The body is JSON but a value has the wrong type or a required field is missing (OMS.0002).
    #[error("invalid request body format: {0}")]
    BadFormat(String),
    /// The body is not JSON at all (OMS.0067).
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    /// A free-text field holds a forbidden character (OMS.0078).
    #[error("invalid {field}: must not contain any of ^ < > & \" '")]
    ForbiddenChars {
        /// The field's wire path.
        field: String,
    },
    /// No migration task has this id in the caller's project (400 OMS.1009).
    #[error("task {0} not found")]
    TaskNotFound(String),
    /// No task group has this id (404 OMS.1009).
    #[error("task group {0} not found")]
    GroupNotFound(String),
    /// No sync task has this id in the caller's project (404 OMS.1009).
    #[error("sync task {0} not found")]
    SyncTaskNotFound(String),
    /// The project holds the most tasks of a kind it may (OMS.0077).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The task or group is in progress and cannot be deleted (OMS.0063).
    #[error("{0}")]
    TaskBusy(String),
    /// The task or group cannot be stopped in its status (OMS.0066).
    #[error("{0}")]
    TaskNotMigrating(String),
    /// The task cannot be started in its status (OMS.0070).
    #[error("{0}")]
    TaskNotStartable(String),
    /// Another state change the current state forbids (OMS.0064).
    #[error("{0}")]
    InvalidState(String),
    /// The thing to create exists already (OMS.0064).
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The store a helper was pointed at refused or cannot be reached: bucket missing,
    /// credentials refused, endpoint down (400 OMS.0057, "invalid source parameters").
    #[error("{0}")]
    SourceUnusable(String),
    /// Missing or wrong credentials, bad signature, stale date (401 APIGW.0301).
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// Valid credentials without the right to this resource (403 OMS.0206).
    #[error("insufficient permission: {0}")]
    Forbidden(String),
    /// Too many requests (429 APIGW.0308).
    #[error("too many requests: {0}")]
    RateLimited(String),
    /// A dependency is down (503 OMS.2004); the text is the logged cause, not sent.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or unexpected failure (500); the text is the logged cause, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result with the API error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    /// Builds an [`ApiError::InvalidField`] (OMS.0001) naming the field at fault.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds the OMS.0001 error for a required field that is absent or empty.
    pub fn required(field: impl Into<String>) -> Self {
        ApiError::invalid(field, "is required")
    }

    /// Classifies a body deserialization error: syntax → OMS.0067, types/missing → OMS.0002.
    pub fn from_json(error: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let inner = error.inner();
        let detail = if path.is_empty() || path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::BadFormat(detail),
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::NotJson(detail),
        }
    }

    /// The kind of failure, as `tern-core` classifies them.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::InvalidField { .. }
            | ApiError::BadFormat(_)
            | ApiError::NotJson(_)
            | ApiError::ForbiddenChars { .. }
            | ApiError::SourceUnusable(_) => ErrorKind::InvalidArgument,
            ApiError::TaskNotFound(_)
            | ApiError::GroupNotFound(_)
            | ApiError::SyncTaskNotFound(_) => ErrorKind::NotFound,
            ApiError::QuotaExceeded(_) => ErrorKind::InvalidState,
            ApiError::TaskBusy(_)
            | ApiError::TaskNotMigrating(_)
            | ApiError::TaskNotStartable(_)
            | ApiError::InvalidState(_) => ErrorKind::InvalidState,
            ApiError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            ApiError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            ApiError::Forbidden(_) => ErrorKind::Forbidden,
            ApiError::RateLimited(_) => ErrorKind::RateLimited,
            ApiError::Unavailable(_) => ErrorKind::Unavailable,
            ApiError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// THE table: HTTP status and OMS `error_code` of every error (see the module doc).
    pub fn wire(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "OMS.0001"),
            ApiError::BadFormat(_) => (StatusCode::BAD_REQUEST, "OMS.0002"),
            ApiError::NotJson(_) => (StatusCode::BAD_REQUEST, "OMS.0067"),
            ApiError::ForbiddenChars { .. } => (StatusCode::BAD_REQUEST, "OMS.0078"),
            ApiError::InvalidState(_) | ApiError::AlreadyExists(_) => {
                (StatusCode::BAD_REQUEST, "OMS.0064")
            }
            ApiError::TaskNotFound(_) => (StatusCode::BAD_REQUEST, "OMS.1009"),
            ApiError::SourceUnusable(_) => (StatusCode::BAD_REQUEST, "OMS.0057"),
            ApiError::TaskBusy(_) => (StatusCode::BAD_REQUEST, "OMS.0063"),
            ApiError::TaskNotMigrating(_) => (StatusCode::BAD_REQUEST, "OMS.0066"),
            ApiError::TaskNotStartable(_) => (StatusCode::BAD_REQUEST, "OMS.0070"),
            ApiError::GroupNotFound(_) | ApiError::SyncTaskNotFound(_) => {
                (StatusCode::NOT_FOUND, "OMS.1009")
            }
            ApiError::QuotaExceeded(_) => (StatusCode::BAD_REQUEST, "OMS.0077"),
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "APIGW.0301"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "OMS.0206"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "APIGW.0308"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "OMS.2004"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "OMS.0001"),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.wire().0
    }

    /// The OMS `error_code`.
    pub fn error_code(&self) -> &'static str {
        self.wire().1
    }

    /// The text a client sees: the error itself, except for internal causes.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            ApiError::Unavailable(_) => UNAVAILABLE_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }

    /// The OMS error body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.error_code().to_owned(),
            error_msg: self.public_message(),
        }
    }
}

impl From<tern_core::Error> for ApiError {
    /// Maps a domain error: core's refusals carry the operation refused, which picks OMS's
    /// code (stop → OMS.0066, start/retry → OMS.0070, delete → OMS.0063, others → OMS.0064).
    fn from(error: tern_core::Error) -> Self {
        use tern_core::{Error as E, GroupEvent, SyncEvent, TaskEvent};
        let message = error.to_string();
        match error {
            E::InvalidField { field, reason } => ApiError::InvalidField { field, reason },
            E::TaskRefused { event, .. } => match event {
                TaskEvent::Stop => ApiError::TaskNotMigrating(message),
                TaskEvent::Start | TaskEvent::Retry => ApiError::TaskNotStartable(message),
                TaskEvent::Delete => ApiError::TaskBusy(message),
                _ => ApiError::InvalidState(message),
            },
            E::GroupRefused { event, .. } => match event {
                GroupEvent::Stop => ApiError::TaskNotMigrating(message),
                GroupEvent::Delete => ApiError::TaskBusy(message),
                _ => ApiError::InvalidState(message),
            },
            E::GroupTasksBusy { .. } => ApiError::TaskBusy(message),
            E::SyncRefused { event, .. } => match event {
                SyncEvent::Stop => ApiError::TaskNotMigrating(message),
                SyncEvent::Start => ApiError::TaskNotStartable(message),
                SyncEvent::AcceptEvents | SyncEvent::Delete => ApiError::InvalidState(message),
            },
            E::SyncQuota { .. } => ApiError::QuotaExceeded(message),
            E::SyncNotFound(id) => ApiError::SyncTaskNotFound(id.0),
            E::InvalidState(message) => ApiError::InvalidState(message),
            E::LeaseLost(_) => ApiError::InvalidState(message),
            E::TaskNotFound(id) => ApiError::TaskNotFound(id.to_string()),
            E::GroupNotFound(id) => ApiError::GroupNotFound(id.0),
            E::NotFound(what) => ApiError::TaskNotFound(what),
            E::Unavailable(cause) => ApiError::Unavailable(cause),
            E::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<tern_engine::Error> for ApiError {
    /// Maps what a bucket helper met at a store: a bad location names its field, a store's
    /// refusal is the one-line explanation the engine already gives.
    fn from(error: tern_engine::Error) -> Self {
        match error {
            tern_engine::Error::InvalidLocation { field, reason } => {
                ApiError::InvalidField { field, reason }
            }
            tern_engine::Error::Core(error) => error.into(),
            tern_engine::Error::Storage { message, .. } => ApiError::SourceUnusable(message),
            tern_engine::Error::Cancelled => {
                ApiError::Unavailable("the request was cancelled".into())
            }
        }
    }
}

impl From<tern_scheduler::Error> for ApiError {
    fn from(error: tern_scheduler::Error) -> Self {
        let tern_scheduler::Error::Core(error) = error;
        error.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.wire();
        match &self {
            ApiError::Internal(cause) | ApiError::Unavailable(cause) => {
                tracing::error!(error_code = code, cause = %cause, "request failed");
            }
            _ => tracing::debug!(error_code = code, error = %self, "request refused"),
        }
        (status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> ApiError {
        let mut deserializer = serde_json::Deserializer::from_str(body);
        let result: Result<crate::api::StartTaskReq, _> =
            serde_path_to_error::deserialize(&mut deserializer);
        ApiError::from_json(&result.unwrap_err())
    }

    #[test]
    fn test_json_errors_are_classified() {
        assert_eq!(parse("{not json").error_code(), "OMS.0067");
        assert_eq!(parse("").error_code(), "OMS.0067");
        let wrong_type = parse(r#"{"dst_ak": 5, "dst_sk": "b"}"#);
        assert_eq!(wrong_type.error_code(), "OMS.0002");
        assert!(wrong_type.to_string().contains("dst_ak"), "{wrong_type}");
        let missing = parse(r#"{"dst_ak": "a"}"#);
        assert_eq!(missing.error_code(), "OMS.0002");
        assert!(missing.to_string().contains("dst_sk"), "{missing}");
    }

    #[test]
    fn test_internal_errors_never_leak_their_cause() {
        let error = ApiError::Internal("sqlite: disk I/O error at /var/lib/tern".into());
        let body = error.body();
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.error_msg.contains("sqlite"));
        let unavailable = ApiError::from(tern_core::Error::Unavailable("pool timed out".into()));
        assert_eq!(
            unavailable.wire(),
            (StatusCode::SERVICE_UNAVAILABLE, "OMS.2004")
        );
        assert!(!unavailable.body().error_msg.contains("pool"));
    }

    #[test]
    fn test_table_covers_documented_codes() {
        let cases = [
            (
                ApiError::invalid("src_node.ak", "too long"),
                400,
                "OMS.0001",
            ),
            (
                ApiError::ForbiddenChars {
                    field: "description".into(),
                },
                400,
                "OMS.0078",
            ),
            (ApiError::TaskNotFound("1".into()), 400, "OMS.1009"),
            (ApiError::GroupNotFound("g".into()), 404, "OMS.1009"),
            (ApiError::TaskBusy("1".into()), 400, "OMS.0063"),
            (ApiError::TaskNotMigrating("1".into()), 400, "OMS.0066"),
            (ApiError::TaskNotStartable("1".into()), 400, "OMS.0070"),
            (
                ApiError::Unauthenticated("bad signature".into()),
                401,
                "APIGW.0301",
            ),
            (ApiError::Forbidden("other project".into()), 403, "OMS.0206"),
            (ApiError::RateLimited("quota".into()), 429, "APIGW.0308"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error}");
            assert_eq!(error.error_code(), code, "{error}");
        }
    }

    #[tokio::test]
    async fn test_into_response_writes_status_and_oms_body() {
        let response = ApiError::TaskNotFound("42".into()).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error_code": "OMS.1009", "error_msg": "task 42 not found"})
        );
    }

    #[test]
    fn test_core_errors_keep_the_field_name() {
        let error = ApiError::from(tern_core::Error::invalid("bandwidth_policy[1]", "overlaps"));
        assert_eq!(error.error_code(), "OMS.0001");
        assert_eq!(
            error.body().error_msg,
            "invalid bandwidth_policy[1]: overlaps"
        );
    }
}
