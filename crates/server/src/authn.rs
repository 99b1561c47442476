//! Who is calling: the middleware that authenticates every `/v2/{project_id}/…` request and
//! refuses other projects, and the [`Caller`] extractor handlers use.
//!
//! Precedence: a non-empty `Authorization: SDK-HMAC-SHA256 …` header is verified (the official
//! SDKs always sign); otherwise `X-Auth-Token` (1..16384 chars) is looked up by its SHA-256. An
//! empty `Authorization` header counts as absent (REFERENCE.md §5.4). A valid identity whose
//! project differs from the path's gets 403 OMS.0206 without any detail of the other project.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::auth::signature::{parse_authorization, verify};
use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body accepted (a GCS key file is up to 64 KiB; batch bodies are small).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest `X-Auth-Token` accepted.
pub const MAX_TOKEN_CHARS: usize = 16_384;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The project the identity belongs to (equal to the path's project).
    pub project_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthenticated("no credentials".into()))
    }
}

/// Hashes a token the way the store keeps it.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Authenticates the request and checks its project; passes the body on untouched.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::invalid("body", format!("larger than {MAX_BODY_BYTES} bytes"))
                .into_response()
        }
    };
    let path_project = project_from_path(parts.uri.path());
    let caller = match identify(&state, &parts, &bytes).await {
        Ok(caller) => caller,
        Err(err) => {
            tracing::info!(path = %parts.uri.path(), error = %err, "request refused");
            return err.into_response();
        }
    };
    if let Some(path_project) = path_project {
        if path_project != caller.project_id {
            return ApiError::Forbidden("the credentials do not belong to this project".into())
                .into_response();
        }
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The `{project_id}` segment of `/v2/{project_id}/…`, percent-decoded.
fn project_from_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let segment = rest.split('/').next().filter(|s| !s.is_empty())?;
    Some(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Headers that decide who the caller is; each may appear at most once.
const IDENTITY_HEADERS: [&str; 4] = [
    "X-Auth-Token",
    "Authorization",
    "X-Sdk-Date",
    "X-Project-Id",
];

/// Refuses a repeated identity header: with two tokens (or two signatures) "first one wins"
/// would let a proxy and the server disagree about who is calling.
fn refuse_repeated_identity_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    for name in IDENTITY_HEADERS {
        if headers.get_all(name).iter().count() > 1 {
            return Err(ApiError::invalid(name, "is given more than once"));
        }
    }
    Ok(())
}

async fn identify(state: &AppState, parts: &Parts, body: &[u8]) -> Result<Caller, ApiError> {
    let headers: &HeaderMap = &parts.headers;
    refuse_repeated_identity_headers(headers)?;
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Some(auth) = authorization
        .map(parse_authorization)
        .transpose()?
        .flatten()
    {
        let (project_id, secret_key) = state
            .store
            .credential(&auth.access_key)
            .await?
            .ok_or_else(|| ApiError::Unauthenticated("unknown access key".into()))?;
        verify(
            &auth,
            secret_key.expose(),
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            headers,
            body,
            time::OffsetDateTime::now_utc(),
        )?;
        return Ok(Caller { project_id });
    }
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::Unauthenticated("missing X-Auth-Token or Authorization".into()))?;
    if token.chars().count() > MAX_TOKEN_CHARS {
        return Err(ApiError::Unauthenticated(format!(
            "X-Auth-Token longer than {MAX_TOKEN_CHARS} characters"
        )));
    }
    let project_id = state
        .store
        .project_for_token(&token_digest(token))
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("invalid token".into()))?;
    Ok(Caller { project_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_repeated_identity_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append("x-auth-token", "one".parse().unwrap());
        assert!(refuse_repeated_identity_headers(&headers).is_ok());
        headers.append("x-auth-token", "two".parse().unwrap());
        let err = refuse_repeated_identity_headers(&headers).unwrap_err();
        assert_eq!(err.error_code(), "OMS.0001");
        assert!(err.to_string().contains("X-Auth-Token"), "{err}");
        let mut signed = HeaderMap::new();
        signed.append("authorization", "SDK-HMAC-SHA256 a".parse().unwrap());
        signed.append("authorization", "SDK-HMAC-SHA256 b".parse().unwrap());
        assert!(refuse_repeated_identity_headers(&signed).is_err());
    }

    #[test]
    fn test_project_from_path() {
        assert_eq!(project_from_path("/v2/abc/tasks").as_deref(), Some("abc"));
        assert_eq!(project_from_path("/v2/a%20b/tasks").as_deref(), Some("a b"));
        assert_eq!(project_from_path("/v2"), None);
        assert_eq!(project_from_path("/"), None);
    }
}
