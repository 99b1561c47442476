//! `SDK-HMAC-SHA256` request signatures, verified exactly as the Huawei SDK computes them
//! (REFERENCE.md §5.2, `huaweicloudsdkcore/signer/signer.py`). Pure functions: no key lookup,
//! no clock; the caller supplies the secret key and the current time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::ApiError;

/// The algorithm name that starts the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// Header carrying the signing time.
pub const DATE_HEADER: &str = "x-sdk-date";
/// Header that, when signed, replaces the payload hash (the SDK sets `UNSIGNED-PAYLOAD` for
/// bodies that are neither JSON nor BSON; OMS never sends such bodies).
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// Largest accepted distance between `X-Sdk-Date` and the server clock (the value Huawei's API
/// gateway is commonly quoted with; REFERENCE.md §6).
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);
/// SHA-256 of an empty body.
const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// `X-Sdk-Date` format, `%Y%m%dT%H%M%SZ`.
const SDK_DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
/// What Python's `quote(s, safe='~')` leaves alone: RFC 3986 unreserved characters.
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The parts of an `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkAuthorization {
    /// The access key (AK) naming the secret key to verify with.
    pub access_key: String,
    /// Lower-case names of the signed headers, in the order given.
    pub signed_headers: Vec<String>,
    /// The signature, lower-case hex.
    pub signature: String,
}

fn unauthenticated(reason: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated(reason.into())
}

/// Parses an `Authorization` header; an empty (or blank) header counts as absent (`Ok(None)`),
/// as the SDK sends `Authorization: ` when the caller suppresses signing for a token.
pub fn parse_authorization(header: &str) -> Result<Option<SdkAuthorization>, ApiError> {
    let header = header.trim();
    if header.is_empty() {
        return Ok(None);
    }
    let (algorithm, params) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(unauthenticated(format!(
            "unsupported signing algorithm {algorithm:?}, expected {ALGORITHM}"
        )));
    }
    let (mut access, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| unauthenticated(format!("malformed authorization part {part:?}")))?;
        let slot = match name.trim() {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            other => {
                return Err(unauthenticated(format!(
                    "unknown authorization part {other:?}"
                )))
            }
        };
        if slot.replace(value.trim().to_owned()).is_some() {
            return Err(unauthenticated(format!(
                "authorization part {name} repeated"
            )));
        }
    }
    let access_key = access
        .filter(|ak| !ak.is_empty())
        .ok_or_else(|| unauthenticated("authorization lacks Access"))?;
    let signed_headers: Vec<String> = signed_headers
        .ok_or_else(|| unauthenticated("authorization lacks SignedHeaders"))?
        .split(';')
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(unauthenticated("SignedHeaders holds an empty name"));
    }
    // Without these two, a captured request could be replayed at any time or any host.
    for required in ["host", DATE_HEADER] {
        if !signed_headers.iter().any(|name| name == required) {
            return Err(unauthenticated(format!(
                "SignedHeaders must include {required}"
            )));
        }
    }
    let signature = signature
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| unauthenticated("Signature is not 64 hex digits"))?
        .to_ascii_lowercase();
    Ok(Some(SdkAuthorization {
        access_key,
        signed_headers,
        signature,
    }))
}

/// RFC 3986-encodes `text` as the SDK's `quote(s, safe='~')` does.
fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE_SET).to_string()
}

/// Percent-decodes like Python's `unquote`: invalid UTF-8 becomes U+FFFD, `+` stays `+`.
fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The canonical URI: decoded path, each segment re-encoded, always ending in `/`.
fn canonical_uri(raw_path: &str) -> String {
    let decoded = decode(raw_path);
    let mut uri = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query: pairs decoded, sorted by key then value, re-encoded, joined by `&`.
fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of one signed header, trimmed; missing, repeated or non-UTF-8 is refused.
fn signed_header_value<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ApiError> {
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or_else(|| unauthenticated(format!("signed header {name} is missing")))?;
    if values.next().is_some() {
        return Err(unauthenticated(format!("signed header {name} is repeated")));
    }
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| unauthenticated(format!("signed header {name} is not UTF-8")))?;
    Ok(text.trim())
}

/// Builds the canonical request (REFERENCE.md §5.2 steps 3–7) from the request as received.
///
/// `raw_path` and `raw_query` are exactly as on the wire (still percent-encoded, no `?`).
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    signed_headers: &[String],
    body: &[u8],
) -> Result<String, ApiError> {
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let value = signed_header_value(headers, name)?;
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    let payload_hash = if body.is_empty() {
        EMPTY_BODY_SHA256.to_owned()
    } else if signed_headers.iter().any(|h| h == CONTENT_SHA256_HEADER) {
        signed_header_value(headers, CONTENT_SHA256_HEADER)?.to_owned()
    } else {
        hex::encode(Sha256::digest(body))
    };
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_uri(raw_path),
        canonical_query(raw_query),
        canonical_headers,
        signed_headers.join(";"),
        payload_hash
    ))
}

/// The string to sign (step 8).
fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// HMAC-SHA256 of the string to sign with the secret key itself (step 9; no key derivation).
fn signature_bytes(secret_key: &str, string_to_sign: &str) -> Result<Vec<u8>, ApiError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_key.as_bytes())
        .map_err(|e| ApiError::Internal(format!("hmac key: {e}")))?;
    mac.update(string_to_sign.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Verifies a signed request: the date within [`MAX_CLOCK_SKEW`] of `now`, then the signature
/// (compared in constant time). Every failure is `Unauthenticated`.
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the parts of an HTTP request one to one"
)]
pub fn verify(
    auth: &SdkAuthorization,
    secret_key: &str,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let sdk_date = signed_header_value(headers, DATE_HEADER)?;
    let signed_at = PrimitiveDateTime::parse(sdk_date, SDK_DATE_FORMAT)
        .map_err(|_| unauthenticated("X-Sdk-Date is not yyyymmddThhmmssZ"))?
        .assume_utc();
    if (now - signed_at).abs() > MAX_CLOCK_SKEW {
        return Err(unauthenticated(format!(
            "X-Sdk-Date {sdk_date} is more than {} minutes from server time",
            MAX_CLOCK_SKEW.whole_minutes()
        )));
    }
    let canonical = canonical_request(
        method,
        raw_path,
        raw_query,
        headers,
        &auth.signed_headers,
        body,
    )?;
    let expected = signature_bytes(secret_key, &string_to_sign(sdk_date, &canonical))?;
    let given =
        hex::decode(&auth.signature).map_err(|_| unauthenticated("Signature is not hex"))?;
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(unauthenticated("signature does not match"))
    }
}

/// Signs a request as the SDK does: sets `X-Sdk-Date` (from `now`) in `headers` and returns
/// the `Authorization` value over `host`, `x-sdk-date` and every `x-project-id` header present.
///
/// `headers` must already hold `host`; clients (the `tern task …` verbs) share the verifier's
/// canonical form through this function, so the two cannot drift apart.
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the parts of an HTTP request one to one"
)]
pub fn sign(
    access_key: &str,
    secret_key: &str,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<String, ApiError> {
    let sdk_date = now
        .format(SDK_DATE_FORMAT)
        .map_err(|e| ApiError::Internal(format!("formatting X-Sdk-Date: {e}")))?;
    let date_value = sdk_date
        .parse()
        .map_err(|e| ApiError::Internal(format!("X-Sdk-Date header: {e}")))?;
    headers.insert(DATE_HEADER, date_value);
    let mut signed_headers = vec!["host".to_owned(), DATE_HEADER.to_owned()];
    if headers.contains_key("x-project-id") {
        signed_headers.push("x-project-id".to_owned());
    }
    signed_headers.sort();
    let canonical = canonical_request(method, raw_path, raw_query, headers, &signed_headers, body)?;
    let signature = signature_bytes(secret_key, &string_to_sign(&sdk_date, &canonical))?;
    Ok(format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={}",
        signed_headers.join(";"),
        hex::encode(signature)
    ))
}

#[cfg(test)]
mod tests;
