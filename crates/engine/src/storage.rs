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
use crate::gcs_token::{ServiceAccountTokens, TokenFailure};
use crate::location::Location;
use crate::metrics::EngineMetrics;
use crate::s3_copy_requests::S3Endpoint;
use crate::transport::{self, ObsAddressing, ResolveOverrides};

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
    /// The cause of the last failed Google token exchange (GCS with a service account).
    token_failure: Option<TokenFailure>,
    /// The location's credentials, for requests OpenDAL cannot send (`vendor_meta.rs`);
    /// `Debug` shows none of the secrets.
    credentials: Credentials,
    /// Where server-side copies address this storage (S3 only; `server_copy`).
    s3_endpoint: Option<S3Endpoint>,
}

/// What a task asks of an endpoint beyond where it is: the class objects are written in and
/// whether reads are billed to the requester. Honoured by S3-speaking endpoints; tasks asking it
/// of others are refused at create (`tern_core::check_transfer_options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `x-amz-storage-class` of every object written (`None`: the bucket's default).
    pub storage_class: Option<String>,
    /// Send `x-amz-request-payer: requester` (the source bucket bills the reader).
    pub request_payer: bool,
}

impl Storage {
    /// Builds the operator for a location. No request is sent.
    pub fn open(location: &Location) -> Result<Storage> {
        Storage::open_tuned(location, &Tuning::default(), &EngineMetrics::default())
    }

    /// Like [`Storage::open`], counting retried requests into `metrics`.
    pub fn open_counted(location: &Location, metrics: &EngineMetrics) -> Result<Storage> {
        Storage::open_tuned(location, &Tuning::default(), metrics)
    }

    /// Like [`Storage::open`], with a task's [`Tuning`], counting retried requests into
    /// `metrics`.
    pub fn open_tuned(
        location: &Location,
        tuning: &Tuning,
        metrics: &EngineMetrics,
    ) -> Result<Storage> {
        Storage::open_resolving(location, tuning, metrics, &[])
    }

    /// Like [`Storage::open_tuned`], with host names resolved from `resolve` before DNS: the
    /// test hook through which virtual-host buckets (`bucket.host:port`) reach a local server
    /// without editing `/etc/hosts`.
    pub fn open_resolving(
        location: &Location,
        tuning: &Tuning,
        metrics: &EngineMetrics,
        resolve: &ResolveOverrides,
    ) -> Result<Storage> {
        // Without OpenDAL's constructor feature the HTTP transport must be installed once by hand.
        opendal::install_default();
        let (mut op, token_failure, obs) = build_operator(location, tuning)?;
        if let Some(context) = transport::context(resolve, obs)? {
            op = op.with_context(context);
        }
        let op = op
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
                token_failure,
                credentials: location.credentials.clone(),
                s3_endpoint: S3Endpoint::of(location, tuning),
            }),
        })
    }

    /// Opens the source of a migration: like [`Storage::open`], but a local directory must
    /// already exist. OpenDAL's fs service creates a missing root, so without this check a
    /// mistyped source path would copy as a successful run of zero objects.
    pub fn open_source(location: &Location) -> Result<Storage> {
        Storage::open_source_tuned(location, &Tuning::default(), &EngineMetrics::default())
    }

    /// Like [`Storage::open_source`], counting retried requests into `metrics`.
    pub fn open_source_counted(location: &Location, metrics: &EngineMetrics) -> Result<Storage> {
        Storage::open_source_tuned(location, &Tuning::default(), metrics)
    }

    /// Like [`Storage::open_source`], with a task's [`Tuning`] and retry counters.
    pub fn open_source_tuned(
        location: &Location,
        tuning: &Tuning,
        metrics: &EngineMetrics,
    ) -> Result<Storage> {
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
        Storage::open_tuned(location, tuning, metrics)
    }

    /// The OpenDAL operator.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    /// The protocol this endpoint speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Where a server-side copy addresses this storage; `None` unless it speaks S3.
    pub(crate) fn s3_endpoint(&self) -> Option<&S3Endpoint> {
        self.names.s3_endpoint.as_ref()
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
            credential_problem: self.names.token_failure.as_deref(),
        }
    }

    /// Tells whether OpenDAL's reader returns the object's user metadata with its GET; where it
    /// does not, the copy asks with a HEAD. In OpenDAL 0.59 only the S3 reader parses it (OSS,
    /// OBS, COS, Azure Blob and GCS fill it in `stat` alone); the native vendors' `x-*-meta-*`
    /// headers would not be read by the S3 reader either.
    pub fn get_returns_user_metadata(&self) -> bool {
        matches!(self.protocol, Protocol::S3 | Protocol::Fs | Protocol::Http)
    }

    /// Tells whether listings carry each object's last-modified time. OpenDAL 0.59's OBS lister
    /// keeps only key and size, so OBS listings are completed by one HEAD per object.
    pub fn listings_carry_times(&self) -> bool {
        // Anonymous OBS goes through the S3 service (`build_operator`), whose listings do.
        self.protocol != Protocol::Obs || self.names.credentials.is_anonymous()
    }

    /// Tells whether a multipart upload stores the object's user metadata. OpenDAL 0.59's native
    /// OSS and OBS writers send none with InitiateMultipartUpload (COS's and S3's do), so the
    /// copy writes it afterwards (`vendor_meta.rs`, RFC 0009).
    pub fn keeps_metadata_of_multipart_writes(&self) -> bool {
        match self.protocol {
            Protocol::Oss => false,
            // Anonymous OBS goes through the S3 service, whose writer sends it.
            Protocol::Obs => self.names.credentials.is_anonymous(),
            _ => true,
        }
    }

    /// The credentials of this endpoint.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.names.credentials
    }

    /// For native OSS and OBS: the vendor's header prefix (`oss`, `obs`), the endpoint, the
    /// bucket and the root.
    pub(crate) fn vendor_target(&self) -> (Option<&'static str>, Option<&str>, &str, &str) {
        let prefix = match self.protocol {
            Protocol::Oss => Some("oss"),
            Protocol::Obs => Some("obs"),
            _ => None,
        };
        (
            prefix,
            self.names.endpoint.as_deref(),
            &self.names.bucket,
            &self.names.root,
        )
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

/// What a large write to GCS must be conditioned on so that OpenDAL uploads it resumably.
///
/// OpenDAL's GCS writer sends a multi-part object through the XML multipart API, which
/// fake-gcs-server and other GCS-compatible servers lack (`?uploads` answers 400); only a
/// conditional write takes the resumable upload of the JSON API, which real GCS and those
/// servers share. The condition is the one a plain overwrite implies anyway: the object is still
/// absent, or still the generation just seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResumableCondition {
    /// No object under the key.
    Absent,
    /// The object's current generation.
    Generation(String),
}

impl Storage {
    /// For a GCS destination, the condition of a resumable upload of `key`; `None` elsewhere.
    pub(crate) async fn resumable_condition(
        &self,
        key: &str,
    ) -> opendal::Result<Option<ResumableCondition>> {
        if self.protocol != Protocol::Gcs {
            return Ok(None);
        }
        match crate::rawpath::stat_exact(&self.op, key).await {
            Ok(meta) => match meta.version() {
                Some(generation) => Ok(Some(ResumableCondition::Generation(generation.to_owned()))),
                // A server that reports no generation: replace the object outright.
                None => {
                    self.op.delete(key).await?;
                    Ok(Some(ResumableCondition::Absent))
                }
            },
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => {
                Ok(Some(ResumableCondition::Absent))
            }
            Err(err) => Err(err),
        }
    }
}

/// The user-metadata name under which tern stores the CRC64 it computed while copying, on a
/// `protocol` endpoint. Azure metadata names must be C# identifiers (no `-`); everywhere else
/// the name keeps its dash, as earlier releases wrote it.
pub fn crc64_metadata_key(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Azblob => "tern_crc64",
        _ => "tern-crc64",
    }
}

/// Builds the service operator for a location.
///
/// tern never signs with ambient credentials: no environment variable, no file under `HOME`
/// (`~/.aws`, `~/.alibabacloud`, `~/.tencentcloud`, gcloud's), no instance metadata. Each
/// service gets exactly the credentials of the location; none means unsigned requests. Where an
/// OpenDAL service cannot be told to skip its environment loaders, the location is served
/// another way (see each arm), and `tests/ambient_credentials.rs` proves it per protocol.
fn build_operator(
    location: &Location,
    tuning: &Tuning,
) -> Result<(Operator, Option<TokenFailure>, Option<ObsAddressing>)> {
    let creds = &location.credentials;
    let mut token_failure = None;
    let mut obs_addressing = None;
    check_key_pair(creds)?;
    let anonymous = creds.is_anonymous();
    let endpoint = location.endpoint.as_deref();
    let root = format!("/{}", location.root.trim_start_matches('/'));
    let built = match location.protocol {
        Protocol::S3 => Operator::new(s3_builder(location, &root, false, tuning)),
        // OpenDAL's OBS signer always consults `HUAWEI_CLOUD_*`/`OBS_*` variables when it has no
        // key of its own, and COS's always reads `~/.tencentcloud` and refuses to send unsigned
        // requests. Both speak S3, so anonymous access goes through the S3 service, with the
        // bucket in the host name as the native services put it.
        Protocol::Obs | Protocol::Cos if anonymous => {
            Operator::new(s3_builder(location, &root, true, tuning))
        }
        Protocol::Obs => {
            // OpenDAL drops the endpoint's port and addresses hosts it does not know as custom
            // domains; `transport.rs` addresses the bucket as `bucket.host:port` instead.
            let endpoint = endpoint.unwrap_or_default();
            obs_addressing = Some(ObsAddressing::new(&location.bucket, endpoint)?);
            let builder = services::Obs::default()
                .bucket(&location.bucket)
                .root(&root)
                .endpoint(&ObsAddressing::stand_in_endpoint(endpoint))
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
                // OpenDAL's own service-account exchange ignores the JSON's `token_uri`.
                Some(json) => {
                    let tokens = ServiceAccountTokens::from_json(json.expose())?;
                    token_failure = Some(tokens.failures());
                    builder = builder.credential_provider(tokens)
                }
                None => builder = builder.skip_signature(),
            }
            Operator::new(builder)
        }
        Protocol::Azblob => {
            // Without a key or SAS of its own, OpenDAL's Azure signer falls back to
            // `AZURE_STORAGE_*` variables, Azure CLI files and the instance metadata service.
            let conn = match &creds.connection_string {
                Some(conn) => ConnectionString::check(conn.expose())?,
                None => ConnectionString::default(),
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
            if !conn.has_credential {
                builder = builder.skip_signature();
            }
            builder = builder.container(&location.bucket).root(&root);
            // The connection string's endpoint wins over the region table, as in Azure's SDKs;
            // otherwise the account fills the region's `{account}` template.
            if let (Some(endpoint), false) = (endpoint, conn.names_endpoint) {
                builder =
                    builder.endpoint(&azure_endpoint(endpoint, conn.account_name.as_deref())?);
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
    built
        .map(|op| (op, token_failure, obs_addressing))
        .map_err(|err| Error::invalid("endpoint", format!("{}: {err}", location.describe())))
}

/// Builds an S3 service that reads nothing from the environment: given keys only, otherwise
/// unsigned. `virtual_host` puts the bucket in the host name (OBS and COS native style).
fn s3_builder(
    location: &Location,
    root: &str,
    virtual_host: bool,
    tuning: &Tuning,
) -> services::S3 {
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
    if let Some(class) = &tuning.storage_class {
        builder = builder.default_storage_class(class);
    }
    if tuning.request_payer {
        builder = builder.enable_request_payer();
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

/// What tern needs to know of an Azure connection string (no secret in it).
#[derive(Debug, Default, PartialEq, Eq)]
struct ConnectionString {
    /// It carries a credential OpenDAL will use: a shared access signature, an account name
    /// with its key, or the development-storage shorthand (Azurite's well-known key).
    has_credential: bool,
    /// It names the blob endpoint (`BlobEndpoint`, `EndpointSuffix`, development storage).
    names_endpoint: bool,
    /// `AccountName`, which fills a region endpoint's `{account}`.
    account_name: Option<String>,
}

impl ConnectionString {
    /// Checks a connection string. A key without its account name is refused: OpenDAL would
    /// ignore it and look for credentials in the environment. Errors never quote the string,
    /// which may hold the key.
    fn check(conn: &str) -> Result<ConnectionString> {
        let mut account_name = None;
        let mut has_key = false;
        let mut has_sas = false;
        let mut development = false;
        let mut names_endpoint = false;
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
                "AccountName" => account_name = Some(value.to_owned()).filter(|v| !v.is_empty()),
                "AccountKey" => has_key = !value.is_empty(),
                "SharedAccessSignature" => has_sas = !value.is_empty(),
                "UseDevelopmentStorage" => development = value == "true",
                "BlobEndpoint" | "EndpointSuffix" => names_endpoint |= !value.is_empty(),
                _ => {}
            }
        }
        if has_key && account_name.is_none() && !development {
            return Err(Error::invalid(
                "connection_string",
                "an AccountKey was given without its AccountName",
            ));
        }
        Ok(ConnectionString {
            has_credential: has_sas || development || (account_name.is_some() && has_key),
            names_endpoint: names_endpoint || development,
            account_name,
        })
    }
}

/// Fills a region endpoint's `{account}` with the storage account's name.
fn azure_endpoint(template: &str, account_name: Option<&str>) -> Result<String> {
    if !template.contains("{account}") {
        return Ok(template.to_owned());
    }
    let account = account_name.ok_or_else(|| {
        Error::invalid(
            "connection_string",
            format!(
                "the region's endpoint {template} needs the storage account: give AccountName or BlobEndpoint"
            ),
        )
    })?;
    // The name becomes part of a host name: Azure allows 3-24 lowercase letters and digits.
    if !account
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(Error::invalid(
            "connection_string",
            "AccountName must be lowercase letters and digits",
        ));
    }
    Ok(template.replace("{account}", account))
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
            if protocol == Protocol::Gcs {
                // The fixture's private key is no RSA key: refused, without quoting it.
                let err = Storage::open(&location).expect_err("not an RSA key");
                assert!(
                    matches!(&err, Error::InvalidLocation { field, .. } if field == "json_auth_file"),
                    "{err}"
                );
                assert_no_secret("open error", &format!("{err} {err:?}"));
                continue;
            }
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
        let has = |conn: &str| ConnectionString::check(conn).ok().map(|c| c.has_credential);
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

    #[test]
    fn test_azure_endpoint_comes_from_the_connection_string_or_fills_the_template() {
        let conn = ConnectionString::check(
            "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1",
        )
        .expect("valid");
        assert!(conn.names_endpoint);
        assert_eq!(conn.account_name.as_deref(), Some("devstoreaccount1"));
        let conn = ConnectionString::check("AccountName=acct;AccountKey=a2V5").expect("valid");
        assert!(!conn.names_endpoint);
        assert!(
            ConnectionString::check("UseDevelopmentStorage=true")
                .expect("valid")
                .names_endpoint
        );

        let template = "https://{account}.blob.core.windows.net";
        assert_eq!(
            azure_endpoint(template, Some("acct")).ok().as_deref(),
            Some("https://acct.blob.core.windows.net")
        );
        assert_eq!(
            azure_endpoint("http://127.0.0.1:1/x", None).ok().as_deref(),
            Some("http://127.0.0.1:1/x")
        );
        for bad in [None, Some("a/b"), Some("Acct")] {
            let err = azure_endpoint(template, bad).expect_err("refused");
            assert!(
                matches!(&err, Error::InvalidLocation { field, .. } if field == "connection_string"),
                "{err}"
            );
        }
    }
}
