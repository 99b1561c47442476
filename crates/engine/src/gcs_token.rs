//! Google access tokens from a service-account JSON, requested at the JSON's own `token_uri`.
//!
//! OpenDAL's GCS signer exchanges a service account's key at Google's public token URL whatever
//! the JSON says, so a private or local token endpoint never works. This provider does the
//! JWT-bearer exchange (RFC 7523: an RS256-signed assertion with the JSON's `private_key`) at
//! `token_uri` and hands OpenDAL the access token with its expiry; OpenDAL's signer asks again
//! when the token nears expiry, so long runs keep a valid token.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqsign_core::time::Timestamp;
use reqsign_core::{Context, ProvideCredential};
use reqsign_google::{Credential, Token};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How every failed exchange reads.
const TOKEN_EXCHANGE: &str = "the Google token exchange";
/// Google's token endpoint, for a JSON that names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Read and write objects, nothing more.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
/// Lifetime asked for in the assertion; Google caps it at one hour.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The fields of a service-account JSON this provider uses.
#[derive(Deserialize)]
struct ServiceAccountJson {
    client_email: String,
    private_key: String,
    #[serde(default)]
    token_uri: Option<String>,
}

/// Exchanges a service account's signed assertion for access tokens at its `token_uri`.
#[derive(Clone)]
pub(crate) struct ServiceAccountTokens {
    client_email: String,
    key: jsonwebtoken::EncodingKey,
    token_uri: String,
    /// The last exchange's failure, cleared by a success. OpenDAL's credential chain drops a
    /// provider's error (it reports only that no credential loaded), so the storage keeps it
    /// here to name the cause.
    last_failure: Arc<Mutex<Option<String>>>,
}

/// Where a [`ServiceAccountTokens`] leaves the cause of its last failed exchange.
pub(crate) type TokenFailure = Arc<Mutex<Option<String>>>;

/// The key never shows.
impl fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountTokens")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl ServiceAccountTokens {
    /// Reads a service-account JSON. Errors name the field `json_auth_file` and never quote the
    /// JSON, which holds the private key.
    pub(crate) fn from_json(json: &str) -> Result<ServiceAccountTokens> {
        let parsed: ServiceAccountJson = serde_json::from_str(json).map_err(|err| {
            Error::invalid(
                "json_auth_file",
                format!(
                    "not a service-account JSON with client_email and private_key (line {}, column {})",
                    err.line(),
                    err.column()
                ),
            )
        })?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(parsed.private_key.as_bytes()).map_err(
            |_| {
                Error::invalid(
                    "json_auth_file",
                    "private_key is not a PEM-encoded RSA private key",
                )
            },
        )?;
        let token_uri = parsed
            .token_uri
            .filter(|uri| !uri.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err(Error::invalid(
                "json_auth_file",
                format!("token_uri {token_uri:?} is not an http(s) URL"),
            ));
        }
        Ok(ServiceAccountTokens {
            client_email: parsed.client_email,
            key,
            token_uri,
            last_failure: Arc::default(),
        })
    }

    /// Where the cause of the last failed exchange is kept.
    pub(crate) fn failures(&self) -> TokenFailure {
        self.last_failure.clone()
    }

    fn record(&self, outcome: Option<String>) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = outcome;
        }
    }

    fn assertion(&self, now: u64) -> reqsign_core::Result<String> {
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|err| {
            reqsign_core::Error::credential_invalid("signing the token assertion failed")
                .with_source(err)
        })
    }
}

impl ProvideCredential for ServiceAccountTokens {
    type Credential = Credential;

    async fn provide_credential(&self, ctx: &Context) -> reqsign_core::Result<Option<Credential>> {
        let outcome = self.exchange(ctx).await;
        self.record(outcome.as_ref().err().map(|err| err.to_string()));
        outcome.map(Some)
    }
}

impl ServiceAccountTokens {
    /// Exchanges one assertion for an access token: the bucket helpers' single requests, outside
    /// OpenDAL. A refusal names `json_auth_file` and the token endpoint, never the key.
    pub(crate) async fn access_token(&self, ctx: &Context) -> Result<String> {
        let credential = self
            .exchange(ctx)
            .await
            .map_err(|err| Error::invalid("json_auth_file", err.to_string()))?;
        credential
            .token
            .map(|token| token.access_token)
            .ok_or_else(|| Error::invalid("json_auth_file", "the token exchange gave no token"))
    }

    async fn exchange(&self, ctx: &Context) -> reqsign_core::Result<Credential> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| reqsign_core::Error::unexpected("the clock is before 1970"))?
            .as_secs();
        let assertion = self.assertion(now)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let request = http::Request::post(&self.token_uri)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Bytes::from(body))
            .map_err(|err| {
                reqsign_core::Error::config_invalid("token_uri is not a valid URL").with_source(err)
            })?;
        let response = ctx.http_send(request).await.map_err(|err| {
            let cause = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
                .last()
                .map(|e| e.to_string())
                .unwrap_or_default();
            reqsign_core::Error::credential_invalid(format!(
                "{TOKEN_EXCHANGE} at {} failed: {cause}",
                self.token_uri
            ))
            .set_retryable(true)
        })?;
        let status = response.status();
        if !status.is_success() {
            // The body is the token server's error (`invalid_grant` …), never a secret of ours.
            let detail = String::from_utf8_lossy(response.body());
            let detail: String = detail.chars().take(200).collect();
            let err = reqsign_core::Error::credential_invalid(format!(
                "{TOKEN_EXCHANGE} at {} failed: HTTP {status}: {detail}",
                self.token_uri
            ));
            return Err(err.set_retryable(status.is_server_error()));
        }
        let token: TokenResponse = serde_json::from_slice(response.body()).map_err(|_| {
            reqsign_core::Error::unexpected(format!(
                "{TOKEN_EXCHANGE} at {} failed: the answer has no access_token",
                self.token_uri
            ))
        })?;
        let expires_at = token
            .expires_in
            .map(|seconds| Timestamp::now() + Duration::from_secs(seconds));
        Ok(Credential::with_token(Token {
            access_token: token.access_token,
            expires_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bad_service_account_json_is_refused_without_quoting_it() {
        let secret = "TERNGCSPRIVATEKEY0001";
        let cases = [
            format!("{{\"private_key\": \"{secret}\""),
            format!(r#"{{"client_email":"a@b","private_key":"{secret}"}}"#),
            format!(
                r#"{{"client_email":"a@b","private_key":"{secret}","token_uri":"file:///etc"}}"#
            ),
        ];
        for json in &cases {
            let err = ServiceAccountTokens::from_json(json).expect_err(json);
            assert!(
                matches!(&err, Error::InvalidLocation { field, .. } if field == "json_auth_file"),
                "{err}"
            );
            assert!(!err.to_string().contains(secret), "{err}");
        }
    }
}
