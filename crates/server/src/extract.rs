//! Request extractors that answer in the OMS error format instead of axum's plain text.
//!
//! Handlers use these in place of axum's `Json`, `Path` and `Query`, whose rejections are
//! `text/plain` bodies. Each rejection becomes an [`ApiError`] naming what was wrong (the path
//! parameter, `query` or `body`), so it goes through the one error table like every other error.

use axum::body::Bytes;
use axum::extract::path::ErrorKind as PathErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api::parse_body;
use crate::error::ApiError;

/// A JSON body parsed with OMS errors (OMS.0067 not JSON, OMS.0002 wrong type, path named).
///
/// The `Content-Type` is not checked: the SDKs always send `application/json;charset=utf-8`,
/// and `curl -d` sends a form type for a JSON body; the body itself decides.
pub struct OmsJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OmsJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|err| ApiError::invalid("body", err.body_text()))?;
        parse_body(&bytes).map(OmsJson)
    }
}

/// Path parameters whose rejection is 400 OMS.0001 naming the parameter (`task_id` holding
/// `%FF`, which is not UTF-8, is the usual case).
pub struct OmsPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for OmsPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| OmsPath(value))
            .map_err(path_rejection)
    }
}

/// Classifies a path rejection: a client's bad value names its parameter; a mismatch between
/// route and handler (axum answers 500 for those) is our bug and stays internal.
fn path_rejection(rejection: PathRejection) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        return ApiError::Internal(format!("path parameters: {}", rejection.body_text()));
    };
    if error.status().is_server_error() {
        return ApiError::Internal(format!("path parameters: {}", error.body_text()));
    }
    match error.kind() {
        PathErrorKind::InvalidUtf8InPathParam { key } => {
            ApiError::invalid(key.as_str(), "is not valid percent-encoded UTF-8")
        }
        PathErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => ApiError::invalid(key.as_str(), format!("{value:?} is not a {expected_type}")),
        PathErrorKind::DeserializeError {
            key,
            value,
            message,
        } => ApiError::invalid(key.as_str(), format!("{value:?}: {message}")),
        _ => ApiError::invalid("path", error.body_text()),
    }
}

/// A query string whose rejection is 400 OMS.0001 naming `query`. Handlers take the parameters
/// as text and check each one by name (`routes::query`), so this only refuses a query string
/// that cannot be decoded at all.
pub struct OmsQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for OmsQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| OmsQuery(value))
            .map_err(|rejection: QueryRejection| ApiError::invalid("query", rejection.body_text()))
    }
}
