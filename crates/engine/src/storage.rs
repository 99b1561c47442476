//! A live endpoint: an OpenDAL operator built from a [`Location`], with retry and timeout layers.
//!
//! Layer order (innermost first): service → timeout → retry. Retry is outermost so that a request
//! cut by the timeout is retried like any other temporary error (OpenDAL's retry layer docs).

use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{services, Operator};
use tern_core::Protocol;

use crate::error::{Error, Result};
use crate::location::Location;

/// Attempts per request, counting the first, for temporary errors (5xx, SlowDown, resets, timeouts).
pub const DEFAULT_RETRY_TIMES: usize = 5;
/// Time one I/O step may take before it counts as a timeout and is retried.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);

/// An opened storage endpoint.
#[derive(Clone, Debug)]
pub struct Storage {
    op: Operator,
    protocol: Protocol,
    description: String,
}

impl Storage {
    /// Builds the operator for a location. No request is sent.
    pub fn open(location: &Location) -> Result<Storage> {
        // Without OpenDAL's constructor feature the HTTP transport must be installed once by hand.
        opendal::install_default();
        let op = build_operator(location)?
            .layer(TimeoutLayer::new().with_io_timeout(DEFAULT_IO_TIMEOUT))
            .layer(
                RetryLayer::new()
                    .with_max_times(DEFAULT_RETRY_TIMES)
                    .with_jitter()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(10)),
            );
        Ok(Storage {
            op,
            protocol: location.protocol,
            description: location.describe(),
        })
    }

    /// The OpenDAL operator.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// The protocol this endpoint speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// A description without secrets.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Tells whether recursive listings come back in byte order of keys, which lets the engine
    /// merge the source and destination listings instead of sending one HEAD per object.
    pub fn lists_in_key_order(&self) -> bool {
        matches!(
            self.protocol,
            Protocol::S3
                | Protocol::Obs
                | Protocol::Oss
                | Protocol::Cos
                | Protocol::Gcs
                | Protocol::Azblob
        )
    }
}

fn build_operator(location: &Location) -> Result<Operator> {
    let creds = &location.credentials;
    let endpoint = location.endpoint.as_deref();
    let root = format!("/{}", location.root.trim_start_matches('/'));
    let built = match location.protocol {
        Protocol::S3 => {
            let mut builder = services::S3::default()
                .bucket(&location.bucket)
                .root(&root)
                .region(location.region.as_deref().unwrap_or("us-east-1"))
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(endpoint) = endpoint {
                builder = builder.endpoint(endpoint);
            }
            if creds.is_anonymous() {
                builder = builder.skip_signature();
            } else {
                builder = builder
                    .access_key_id(&creds.access_key)
                    .secret_access_key(creds.secret_key.expose());
            }
            if let Some(token) = &creds.security_token {
                builder = builder.session_token(token.expose());
            }
            Operator::new(builder)
        }
        Protocol::Obs => {
            let builder = services::Obs::default()
                .bucket(&location.bucket)
                .root(&root)
                .endpoint(endpoint.unwrap_or_default())
                .access_key_id(&creds.access_key)
                .secret_access_key(creds.secret_key.expose());
            Operator::new(builder)
        }
        Protocol::Oss => {
            let mut builder = services::Oss::default()
                .bucket(&location.bucket)
                .root(&root)
                .endpoint(endpoint.unwrap_or_default())
                .access_key_id(&creds.access_key)
                .access_key_secret(creds.secret_key.expose());
            if let Some(token) = &creds.security_token {
                builder = builder.security_token(token.expose());
            }
            Operator::new(builder)
        }
        Protocol::Cos => {
            let mut builder = services::Cos::default()
                .bucket(&location.bucket)
                .root(&root)
                .endpoint(endpoint.unwrap_or_default())
                .secret_id(&creds.access_key)
                .secret_key(creds.secret_key.expose())
                .disable_config_load();
            if let Some(token) = &creds.security_token {
                builder = builder.security_token(token.expose());
            }
            Operator::new(builder)
        }
        Protocol::Gcs => {
            let mut builder = services::Gcs::default()
                .bucket(&location.bucket)
                .root(&root)
                .disable_config_load()
                .disable_vm_metadata();
            if let Some(endpoint) = endpoint {
                builder = builder.endpoint(endpoint);
            }
            match &creds.json_auth_file {
                // OpenDAL takes the service-account JSON base64-encoded.
                Some(json) => {
                    builder = builder.credential(&base64_encode(json.expose().as_bytes()))
                }
                None => builder = builder.skip_signature(),
            }
            Operator::new(builder)
        }
        Protocol::Azblob => {
            let mut builder = match &creds.connection_string {
                Some(conn) => services::Azblob::from_connection_string(conn.expose())
                    .map_err(|err| Error::invalid("connection_string", err.to_string()))?,
                None => services::Azblob::default(),
            };
            builder = builder.container(&location.bucket).root(&root);
            if let Some(endpoint) = endpoint {
                builder = builder.endpoint(endpoint);
            }
            Operator::new(builder)
        }
        Protocol::Fs => {
            let builder = services::Fs::default().root(&location.root);
            Operator::new(builder)
        }
        Protocol::Http => {
            let builder = services::Http::default().endpoint(endpoint.unwrap_or_default());
            Operator::new(builder)
        }
    };
    built.map_err(|err| Error::invalid("endpoint", format!("{}: {err}", location.describe())))
}

pub(crate) fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_base64_encode_matches_rfc4648_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn test_every_protocol_builds_without_network() {
        for protocol in [
            Protocol::S3,
            Protocol::Obs,
            Protocol::Oss,
            Protocol::Cos,
            Protocol::Gcs,
        ] {
            let location = Location {
                protocol,
                bucket: "bucket".into(),
                endpoint: Some("http://127.0.0.1:1".into()),
                region: Some("us-east-1".into()),
                root: "dir/".into(),
                credentials: tern_core::Credentials::access_key("ak", "sk"),
            };
            let storage = Storage::open(&location).unwrap();
            assert_eq!(storage.protocol(), protocol);
            assert!(!storage.describe().contains("sk"));
        }
    }
}
