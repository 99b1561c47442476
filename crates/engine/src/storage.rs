//! A live endpoint: an OpenDAL operator built from a [`Location`], with retry and timeout layers.
//!
//! Layer order (innermost first): service → timeout → retry. Retry is outermost so that a request
//! cut by the timeout is retried like any other temporary error (OpenDAL's retry layer docs).

use std::sync::Arc;
use std::time::Duration;

use opendal::layers::{RetryEvent, RetryInterceptor, RetryLayer, TimeoutLayer};
use opendal::{services, Operator};
use tern_core::{Credentials, FailureCode, Protocol};

use crate::error::{Error, Place, Result, Side};
use crate::location::Location;
use crate::metrics::EngineMetrics;

/// Retries of one request after its first attempt, for temporary errors (5xx, SlowDown, resets,
/// timeouts): a request is sent at most 1 + this many times (measured with the `faults_s3`
/// proxy: a GET refused 6 times fails, `RateLimited (persistent)`).
pub const DEFAULT_RETRY_TIMES: usize = 5;
/// Time one I/O step may take before it counts as a timeout and is retried.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Logs a retry in one line and counts it. OpenDAL's default notifier logs the error's `Debug`,
/// which spans lines and carries a captured backtrace whenever `RUST_BACKTRACE` is set.
struct RetryNotifier {
    metrics: EngineMetrics,
}

impl RetryInterceptor for RetryNotifier {
    fn intercept(&self, event: RetryEvent<'_>) {
        self.metrics.record_retry(&event.err.kind().to_string());
        tracing::warn!(
            operation = %event.op,
            attempt = event.attempt,
            retry_after_ms = event.retry_after.as_millis(),
            error = %event.err,
            "request failed; retrying"
        );
    }
}

/// An opened storage endpoint.
#[derive(Clone, Debug)]
pub struct Storage {
    op: Operator,
    protocol: Protocol,
    /// Shared: a storage is cloned into every listing and selection.
    names: Arc<Names>,
}

/// How a storage is named in messages (no secrets).
#[derive(Debug)]
struct Names {
    description: String,
    bucket: String,
    endpoint: Option<String>,
    root: String,
}

impl Storage {
    /// Builds the operator for a location. No request is sent.
    pub fn open(location: &Location) -> Result<Storage> {
        Storage::open_counted(location, &EngineMetrics::default())
    }

    /// Like [`Storage::open`], counting retried requests into `metrics`.
    pub fn open_counted(location: &Location, metrics: &EngineMetrics) -> Result<Storage> {
        // Without OpenDAL's constructor feature the HTTP transport must be installed once by hand.
        opendal::install_default();
        let op = build_operator(location)?
            .layer(TimeoutLayer::new().with_io_timeout(DEFAULT_IO_TIMEOUT))
            .layer(
                RetryLayer::new()
                    .with_max_times(DEFAULT_RETRY_TIMES)
                    .with_jitter()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(10))
                    .with_notify(RetryNotifier {
                        metrics: metrics.clone(),
                    }),
            );
        Ok(Storage {
            op,
            protocol: location.protocol,
            names: Arc::new(Names {
                description: location.describe(),
                bucket: location.bucket.clone(),
                endpoint: location.endpoint.clone(),
                root: format!("/{}", location.root.trim_start_matches('/')),
            }),
        })
    }

    /// Opens the source of a migration: like [`Storage::open`], but a local directory must
    /// already exist. OpenDAL's fs service creates a missing root, so without this check a
    /// mistyped source path would copy as a successful run of zero objects.
    pub fn open_source(location: &Location) -> Result<Storage> {
        Storage::open_source_counted(location, &EngineMetrics::default())
    }

    /// Like [`Storage::open_source`], counting retried requests into `metrics`.
    pub fn open_source_counted(location: &Location, metrics: &EngineMetrics) -> Result<Storage> {
        if location.protocol == Protocol::Fs {
            let root = format!("/{}", location.root.trim_start_matches('/'));
            let problem = match std::fs::metadata(&root) {
                Ok(meta) if meta.is_dir() => None,
                Ok(_) => Some("is not a directory".to_owned()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    Some("does not exist".to_owned())
                }
                Err(err) => Some(format!("cannot be read: {err}")),
            };
            if let Some(problem) = problem {
                return Err(Error::Storage {
                    code: FailureCode::SourceNotFound,
                    message: format!("the source directory {root} {problem}"),
                    temporary: false,
                });
            }
        }
        Storage::open_counted(location, metrics)
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
        &self.names.description
    }

    /// Where an error at this storage happened (`key`: the object concerned, if one), for
    /// [`crate::error::explain`].
    pub fn place<'a>(&'a self, side: Side, key: Option<&'a str>) -> Place<'a> {
        Place {
            side,
            protocol: self.protocol,
            endpoint: self.names.endpoint.as_deref(),
            bucket: &self.names.bucket,
            root: &self.names.root,
            key,
        }
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

/// Builds the service operator for a location.
///
/// tern never signs with ambient credentials: no environment variable, no file under `HOME`
/// (`~/.aws`, `~/.alibabacloud`, `~/.tencentcloud`, gcloud's), no instance metadata. Each
/// service gets exactly the credentials of the location; none means unsigned requests. Where an
/// OpenDAL service cannot be told to skip its environment loaders, the location is served
/// another way (see each arm), and `tests/ambient_credentials.rs` proves it per protocol.
fn build_operator(location: &Location) -> Result<Operator> {
    let creds = &location.credentials;
    check_key_pair(creds)?;
    let anonymous = creds.is_anonymous();
    let endpoint = location.endpoint.as_deref();
    let root = format!("/{}", location.root.trim_start_matches('/'));
    let built = match location.protocol {
        Protocol::S3 => Operator::new(s3_builder(location, &root, false)),
        // OpenDAL's OBS signer always consults `HUAWEI_CLOUD_*`/`OBS_*` variables when it has no
        // key of its own, and COS's always reads `~/.tencentcloud` and refuses to send unsigned
        // requests. Both speak S3, so anonymous access goes through the S3 service, with the
        // bucket in the host name as the native services put it.
        Protocol::Obs | Protocol::Cos if anonymous => {
            Operator::new(s3_builder(location, &root, true))
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
                .endpoint(endpoint.unwrap_or_default());
            if anonymous {
                // Skips the whole credential chain (env, profile files, ECS RAM role).
                builder = builder.skip_signature();
            } else {
                builder = builder
                    .access_key_id(&creds.access_key)
                    .access_key_secret(creds.secret_key.expose());
            }
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
            // Without a key or SAS of its own, OpenDAL's Azure signer falls back to
            // `AZURE_STORAGE_*` variables, Azure CLI files and the instance metadata service.
            let has_own_credential = match &creds.connection_string {
                Some(conn) => connection_string_has_credential(conn.expose())?,
                None => false,
            };
            let mut builder = match &creds.connection_string {
                Some(conn) => services::Azblob::from_connection_string(conn.expose())
                    // The parser's message quotes the offending field, which may be the key.
                    .map_err(|_| {
                        Error::invalid(
                            "connection_string",
                            "malformed connection string: expected Name=Value fields separated by ';'",
                        )
                    })?,
                None => services::Azblob::default(),
            };
            if !has_own_credential {
                builder = builder.skip_signature();
            }
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

/// Builds an S3 service that reads nothing from the environment: given keys only, otherwise
/// unsigned. `virtual_host` puts the bucket in the host name (OBS and COS native style).
fn s3_builder(location: &Location, root: &str, virtual_host: bool) -> services::S3 {
    let creds = &location.credentials;
    let mut builder = services::S3::default()
        .bucket(&location.bucket)
        .root(root)
        .region(location.region.as_deref().unwrap_or("us-east-1"))
        .disable_config_load()
        .disable_ec2_metadata();
    if virtual_host {
        builder = builder.enable_virtual_host_style();
    }
    if let Some(endpoint) = location.endpoint.as_deref() {
        builder = builder.endpoint(endpoint);
    }
    if creds.is_anonymous() {
        builder = builder.skip_signature();
    } else {
        builder = builder
            .access_key_id(&creds.access_key)
            .secret_access_key(creds.secret_key.expose());
        if let Some(token) = &creds.security_token {
            builder = builder.session_token(token.expose());
        }
    }
    builder
}

/// Refuses half a key pair (and a token without one): a service given half would fall back to
/// whatever else it can find, which for tern must never happen.
fn check_key_pair(creds: &Credentials) -> Result<()> {
    let has_ak = !creds.access_key.is_empty();
    let has_sk = !creds.secret_key.is_empty();
    match (has_ak, has_sk) {
        (true, false) => Err(Error::invalid("sk", "an ak was given without its sk")),
        (false, true) => Err(Error::invalid("ak", "an sk was given without its ak")),
        (false, false) if creds.security_token.is_some() => Err(Error::invalid(
            "security_token",
            "a security token needs the ak and sk it belongs to",
        )),
        _ => Ok(()),
    }
}

/// Settings an Azure Storage connection string may hold ([Microsoft's list]). Anything else is a
/// typo, and a typo near `AccountKey` must not quietly turn into anonymous access.
///
/// [Microsoft's list]: https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string
const CONNECTION_STRING_SETTINGS: [&str; 11] = [
    "DefaultEndpointsProtocol",
    "AccountName",
    "AccountKey",
    "SharedAccessSignature",
    "EndpointSuffix",
    "BlobEndpoint",
    "QueueEndpoint",
    "TableEndpoint",
    "FileEndpoint",
    "UseDevelopmentStorage",
    "DevelopmentStorageProxyUri",
];

/// Checks an Azure connection string and tells whether it carries a credential OpenDAL will use:
/// a shared access signature, an account name with its key, or the development-storage
/// shorthand (Azurite's well-known key). A key without its account name is refused: OpenDAL
/// would ignore it and look for credentials in the environment. Errors never quote the string,
/// which may hold the key.
fn connection_string_has_credential(conn: &str) -> Result<bool> {
    let mut has_name = false;
    let mut has_key = false;
    let mut has_sas = false;
    let mut development = false;
    let fields = conn
        .split(';')
        .map(str::trim)
        .filter(|field| !field.is_empty());
    for (index, field) in fields.enumerate() {
        let known = field
            .split_once('=')
            .map(|(name, value)| (name.trim(), value.trim()))
            .filter(|(name, _)| CONNECTION_STRING_SETTINGS.contains(name));
        let Some((name, value)) = known else {
            return Err(Error::invalid(
                "connection_string",
                format!(
                    "field {} is not a Name=Value setting of an Azure Storage connection string",
                    index + 1
                ),
            ));
        };
        match name {
            "AccountName" => has_name = !value.is_empty(),
            "AccountKey" => has_key = !value.is_empty(),
            "SharedAccessSignature" => has_sas = !value.is_empty(),
            "UseDevelopmentStorage" => development = value == "true",
            _ => {}
        }
    }
    if has_key && !has_name && !development {
        return Err(Error::invalid(
            "connection_string",
            "an AccountKey was given without its AccountName",
        ));
    }
    Ok(has_sas || development || (has_name && has_key))
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

    const SECRET_AK: &str = "TERNDESCRIBEAKID0001";
    const SECRET_SK: &str = "TERNDESCRIBESECRETKEY0002";
    const SECRET_TOKEN: &str = "TERNDESCRIBETOKEN0003";
    /// Base64 of "TERNDESCRIBEAZUREACCOUNTKEY4", so OpenDAL accepts it as an account key.
    const SECRET_AZURE_KEY: &str = "VEVSTkRFU0NSSUJFQVpVUkVBQ0NPVU5US0VZNA==";
    const SECRET_PRIVATE_KEY: &str = "TERNDESCRIBEPRIVATEKEY0005";
    const ALL_SECRETS: [&str; 5] = [
        SECRET_AK,
        SECRET_SK,
        SECRET_TOKEN,
        SECRET_AZURE_KEY,
        SECRET_PRIVATE_KEY,
    ];

    fn assert_no_secret(what: &str, text: &str) {
        for secret in ALL_SECRETS {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
    }

    fn location_with_every_secret(protocol: Protocol, connection_string: &str) -> Location {
        let json = format!(
            r#"{{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\n{SECRET_PRIVATE_KEY}\n-----END PRIVATE KEY-----\n"}}"#
        );
        Location {
            protocol,
            bucket: "bucket".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: Some("us-east-1".into()),
            root: "dir/".into(),
            credentials: Credentials {
                access_key: SECRET_AK.into(),
                secret_key: SECRET_SK.into(),
                security_token: Some(SECRET_TOKEN.into()),
                connection_string: Some(connection_string.into()),
                json_auth_file: Some(json.into()),
            },
        }
    }

    #[test]
    fn test_no_secret_shows_in_descriptions_debug_or_errors() {
        let good_connection_string = format!(
            "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={SECRET_AZURE_KEY};\
             BlobEndpoint=http://127.0.0.1:1/acct"
        );
        for protocol in [
            Protocol::S3,
            Protocol::Obs,
            Protocol::Oss,
            Protocol::Cos,
            Protocol::Gcs,
            Protocol::Azblob,
            Protocol::Http,
        ] {
            let location = location_with_every_secret(protocol, &good_connection_string);
            assert_no_secret("Location::describe", &location.describe());
            assert_no_secret("Location Debug", &format!("{location:?}"));
            let storage =
                Storage::open(&location).unwrap_or_else(|err| panic!("{protocol:?} opens: {err}"));
            assert_eq!(storage.protocol(), protocol);
            assert_no_secret("Storage::describe", storage.describe());
            assert_no_secret("Storage Debug", &format!("{storage:?}"));
        }

        // Opening fails; the error names the field but never echoes the secret in it.
        let malformed = [
            // A ':' typed for '=': OpenDAL's parser quotes the whole field in its error, or, when
            // the key's base64 padding supplies an '=', takes it for an unknown setting.
            format!("AccountName=acct;AccountKey:{SECRET_SK}"),
            format!("AccountName=acct;AccountKey:{SECRET_AZURE_KEY}"),
            // Not base64: OpenDAL refuses the key.
            format!("AccountName=acct;AccountKey={SECRET_SK}-;BlobEndpoint=http://127.0.0.1:1"),
            // A key without its account name.
            format!("AccountKey={SECRET_AZURE_KEY};BlobEndpoint=http://127.0.0.1:1"),
        ];
        for connection_string in &malformed {
            let location = location_with_every_secret(Protocol::Azblob, connection_string);
            let err = Storage::open(&location).expect_err(connection_string);
            assert_no_secret("open error", &err.to_string());
            assert_no_secret("open error Debug", &format!("{err:?}"));
            assert_eq!(err.kind(), tern_core::ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn test_half_a_key_pair_is_refused_naming_the_missing_field() {
        let mut location = location_with_every_secret(Protocol::S3, "");
        location.credentials = Credentials::access_key(SECRET_AK, "");
        for protocol in [
            Protocol::S3,
            Protocol::Obs,
            Protocol::Oss,
            Protocol::Cos,
            Protocol::Gcs,
            Protocol::Azblob,
        ] {
            location.protocol = protocol;
            location.credentials = Credentials::access_key(SECRET_AK, "");
            let err = Storage::open(&location).expect_err("ak without sk");
            assert!(
                matches!(&err, Error::InvalidLocation { field, .. } if field == "sk"),
                "{err}"
            );
            assert_no_secret("half-pair error", &err.to_string());

            location.credentials = Credentials::access_key("", SECRET_SK);
            let err = Storage::open(&location).expect_err("sk without ak");
            assert!(
                matches!(&err, Error::InvalidLocation { field, .. } if field == "ak"),
                "{err}"
            );

            location.credentials = Credentials {
                security_token: Some(SECRET_TOKEN.into()),
                ..Credentials::default()
            };
            let err = Storage::open(&location).expect_err("token without a key pair");
            assert!(
                matches!(&err, Error::InvalidLocation { field, .. } if field == "security_token"),
                "{err}"
            );
        }
    }

    #[test]
    fn test_connection_string_credential_detection() {
        let has = |conn: &str| connection_string_has_credential(conn).ok();
        assert_eq!(has("AccountName=a;AccountKey=a2V5"), Some(true));
        assert_eq!(
            has("BlobEndpoint=http://x;SharedAccessSignature=sv=1&sig=x"),
            Some(true)
        );
        assert_eq!(has("UseDevelopmentStorage=true"), Some(true));
        assert_eq!(has("AccountName=a;BlobEndpoint=http://x"), Some(false));
        assert_eq!(
            has("AccountName=a;AccountKey=;SharedAccessSignature="),
            Some(false)
        );
        assert_eq!(has("AccountKey=a2V5;BlobEndpoint=http://x"), None);
        assert_eq!(has("AccountName=a;AccountKey:a2V5=="), None);
        assert_eq!(has("AccountName=a;Accountkey=a2V5"), None);
        assert_eq!(has("AccountName=a;AccountKey=a2V5;"), Some(true));
    }
}
