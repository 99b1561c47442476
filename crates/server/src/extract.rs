//! Request extractors that answer in the OMS error format instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::api::parse_body;
use crate::error::ApiError;

/// A JSON body parsed with OMS errors (OMS.0067 not JSON, OMS.0002 wrong type, path named).
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
