//! User metadata for objects uploaded in parts to native OSS and OBS.
//!
//! OpenDAL 0.59's OSS and OBS writers send no `x-oss-meta-*` / `x-obs-meta-*` headers with
//! InitiateMultipartUpload, so an object uploaded in parts arrives without its metadata. Once the
//! upload completes, tern copies the object onto itself with the metadata directive `REPLACE`
//! (both vendors' CopyObject), signed by the same reqsign signers OpenDAL uses and sent through the
//! operator's own transport. CopyObject has a size limit (OSS 1 GiB, OBS 5 GiB); above it the
//! metadata stays missing and a warning says so (RFC 0009).

use std::collections::HashMap;

use http::Request;
use opendal::{Buffer, ErrorKind};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqsign_core::SignRequest;
use tern_core::Protocol;

use crate::storage::Storage;

/// OSS CopyObject copies objects up to 1 GiB.
const OSS_COPY_LIMIT: u64 = 1 << 30;
/// OBS CopyObject copies objects up to 5 GiB.
const OBS_COPY_LIMIT: u64 = 5 << 30;

/// Bytes of a key that stay unencoded in the request path (RFC 3986 unreserved, and `/`).
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn failure(message: String) -> opendal::Error {
    opendal::Error::new(ErrorKind::Unexpected, message)
}

impl Storage {
    /// The largest object whose metadata [`Storage::replace_user_metadata`] can write; `None`
    /// where multipart uploads keep their metadata anyway.
    pub(crate) fn metadata_copy_limit(&self) -> Option<u64> {
        match self.protocol() {
            Protocol::Oss => Some(OSS_COPY_LIMIT),
            Protocol::Obs => Some(OBS_COPY_LIMIT),
            _ => None,
        }
    }

    /// Copies `key` onto itself with `metadata` and `content_type` replacing its own.
    pub(crate) async fn replace_user_metadata(
        &self,
        key: &str,
        content_type: Option<&str>,
        metadata: &HashMap<String, String>,
    ) -> opendal::Result<()> {
        let (prefix, endpoint, bucket, root) = self.vendor_target();
        let (Some(prefix), Some(endpoint)) = (prefix, endpoint) else {
            return Err(failure(format!(
                "{:?} has no metadata copy",
                self.protocol()
            )));
        };
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| failure(format!("{endpoint} is not a URL")))?;
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or_default();
        let host = host.strip_prefix(&format!("{bucket}.")).unwrap_or(host);
        let authority = match uri.port_u16() {
            Some(port) => format!("{bucket}.{host}:{port}"),
            None => format!("{bucket}.{host}"),
        };
        let path = format!("{}{key}", root.trim_start_matches('/'));
        let encoded = utf8_percent_encode(&path, PATH).to_string();
        let mut request = Request::put(format!("{scheme}://{authority}/{encoded}"))
            .header(
                format!("x-{prefix}-copy-source"),
                format!("/{bucket}/{encoded}"),
            )
            .header(format!("x-{prefix}-metadata-directive"), "REPLACE");
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in metadata {
            request = request.header(format!("x-{prefix}-meta-{name}"), value);
        }
        let (mut parts, ()) = request
            .body(())
            .map_err(|err| failure(format!("building the metadata copy: {err}")))?
            .into_parts();
        let creds = self.credentials();
        let context = reqsign_core::Context::new();
        let signed = match self.protocol() {
            // Unsigned, as OpenDAL's own requests for this location.
            _ if creds.is_anonymous() => Ok(()),
            Protocol::Oss => {
                let credential = reqsign_aliyun_oss::Credential {
                    access_key_id: creds.access_key.clone(),
                    access_key_secret: creds.secret_key.expose().to_owned(),
                    security_token: creds.security_token.as_ref().map(|t| t.expose().to_owned()),
                    expires_in: None,
                };
                reqsign_aliyun_oss::RequestSigner::new(bucket)
                    .sign_request(&context, &mut parts, Some(&credential), None)
                    .await
            }
            _ => {
                let credential = reqsign_huaweicloud_obs::Credential::new(
                    creds.access_key.clone(),
                    creds.secret_key.expose().to_owned(),
                    creds.security_token.as_ref().map(|t| t.expose().to_owned()),
                );
                reqsign_huaweicloud_obs::RequestSigner::new(bucket)
                    .sign_request(&context, &mut parts, Some(&credential), None)
                    .await
            }
        };
        signed.map_err(|err| failure(format!("signing the metadata copy: {err}")))?;
        let response = self
            .operator()
            .context()
            .http_transport()
            .send(Request::from_parts(parts, Buffer::new()))
            .await?;
        if !response.status().is_success() {
            let body = String::from_utf8_lossy(&response.body().to_vec()).into_owned();
            return Err(failure(format!(
                "the metadata copy of {key} answered {}: {body}",
                response.status()
            )));
        }
        Ok(())
    }
}
