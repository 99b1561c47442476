//! Looking into a store without migrating: the OMS bucket helpers (list buckets, page through a
//! folder, find a bucket's region, check a prefix, check a CDN domain).
//!
//! Objects are read through OpenDAL like everything else; listing buckets and asking a bucket's
//! region have no OpenDAL operation, so they are single requests of each protocol's own API:
//! S3 `ListBuckets` / `GetBucketLocation` signed by `reqsign`'s SigV4 (the signer OpenDAL itself
//! uses), Azure `List Containers` / `Get Container Properties` ([`azure`]), the GCS JSON API's
//! buckets list and bucket metadata ([`gcs`]), native OSS, OBS and COS GetService and
//! GetBucketLocation with each vendor's signature ([`vendor`]); local regions read the root
//! directory. Other protocols are refused by name rather than answered wrongly.

mod azure;
mod gcs;
mod vendor;

use futures::{StreamExt, TryStreamExt};
use opendal::EntryMode;
use tern_core::{CloudType, Credentials, NodeSpec, Protocol, RegionEntry, RegionTable};

use crate::cdn::{cdn_object_url, CdnSigner};
use crate::error::{Error, Result};
use crate::location::Location;
use crate::storage::Storage;

/// Longest answer body read from a store for a bucket list or location (bounded memory).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Pages of a vendor's bucket list followed at most: a bounded answer.
const MAX_LIST_PAGES: usize = 100;

/// One entry of a folder page: an object with its size, or a sub-folder (`size: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    /// The full key (sub-folders end in `/`).
    pub name: String,
    /// Size in bytes; `None` for a folder.
    pub size: Option<u64>,
}

/// One page of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPage {
    /// Entries after the marker, in key order, at most the page size.
    pub entries: Vec<FolderEntry>,
    /// Whether entries remain after this page.
    pub more: bool,
}

/// The region a bucket was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRegion {
    /// The region name as task bodies spell it.
    pub region: String,
    /// Its display name from the region table.
    pub description: String,
}

/// An S3 or local endpoint of one region, with the caller's credentials.
#[derive(Debug)]
struct Account<'a> {
    entry: &'a RegionEntry,
    credentials: &'a Credentials,
}

impl Account<'_> {
    fn refuse_unsupported(&self, what: &str) -> Error {
        Error::invalid(
            "cloud_type",
            format!(
                "{what} is supported for S3-compatible, Azure, Google, OSS, OBS, COS and local regions; {} region {} speaks {:?}",
                self.entry.cloud_type.as_str(),
                self.entry.region,
                self.entry.protocol()
            ),
        )
    }
}

/// Names the buckets the credentials can see in `region` of `cloud`, sorted. Without a region,
/// the vendor's regions are asked in table order and the first that answers is used (a region
/// that cannot be reached is skipped; a refusal is the answer).
pub async fn list_buckets(
    regions: &RegionTable,
    cloud: CloudType,
    region: Option<&str>,
    credentials: &Credentials,
) -> Result<Vec<String>> {
    let candidates: Vec<&RegionEntry> = match region {
        Some(region) => vec![regions.lookup(cloud, region)?],
        None => regions
            .entries()
            .iter()
            .filter(|e| e.cloud_type == cloud)
            .collect(),
    };
    let mut unreachable = None;
    for entry in &candidates {
        match buckets_at(entry, credentials).await {
            Ok(mut names) => {
                names.sort();
                return Ok(names);
            }
            Err(Error::Storage {
                temporary: true,
                message,
                code,
            }) => {
                unreachable.get_or_insert(Error::Storage {
                    code,
                    message,
                    temporary: true,
                });
            }
            Err(err) => return Err(err),
        }
    }
    Err(unreachable.unwrap_or_else(|| {
        Error::invalid(
            "cloud_type",
            format!("no region of {} is configured", cloud.as_str()),
        )
    }))
}

async fn buckets_at(entry: &RegionEntry, credentials: &Credentials) -> Result<Vec<String>> {
    let account = Account { entry, credentials };
    match entry.protocol() {
        Protocol::Fs => local_buckets(&entry.endpoint),
        Protocol::S3 => {
            let body = s3_get(&account, "/", "").await?;
            parse_bucket_names(&body)
        }
        Protocol::Azblob => azure::container_names(entry, credentials).await,
        Protocol::Gcs => gcs::bucket_names(entry, credentials).await,
        Protocol::Oss | Protocol::Obs | Protocol::Cos => {
            vendor::bucket_names(entry, credentials).await
        }
        _ => Err(account.refuse_unsupported("listing buckets")),
    }
}

/// Finds which region of `cloud` in the table holds `bucket`: the region the store names
/// (S3 `LocationConstraint`, GCS `location`, OSS/COS `LocationConstraint`, OBS `Location`) when the table has it, else the first region whose
/// endpoint knows the bucket. Azure containers have no region of their own (the storage account
/// has one, readable only through Azure Resource Manager): the region whose endpoint is the
/// account's endpoint counts as named, see [`azure::region_holding`].
pub async fn bucket_region(
    regions: &RegionTable,
    cloud: CloudType,
    bucket: &str,
    credentials: &Credentials,
) -> Result<BucketRegion> {
    let candidates: Vec<&RegionEntry> = regions
        .entries()
        .iter()
        .filter(|e| e.cloud_type == cloud)
        .collect();
    if candidates.is_empty() {
        return Err(Error::invalid(
            "cloud_type",
            format!("no region of {} is configured", cloud.as_str()),
        ));
    }
    let found = |entry: &RegionEntry| BucketRegion {
        region: entry.region.clone(),
        description: entry.description.clone(),
    };
    // Every region of the vendor is asked (a few at a time, answers kept in table order): a
    // region whose endpoint cannot be reached does not hold the bucket as far as tern can use it.
    let asks: Vec<_> = candidates
        .iter()
        .map(|entry| ask_region(entry, bucket, credentials))
        .collect();
    let answers: Vec<Result<Option<String>>> =
        futures::stream::iter(asks).buffered(8).collect().await;
    let mut first_holder = None;
    for (entry, answer) in candidates.iter().zip(answers) {
        let Some(named) = answer? else { continue };
        // The store names its region: prefer the table's entry of that name.
        if let Some(other) = candidates
            .iter()
            .find(|e| !named.is_empty() && e.region.eq_ignore_ascii_case(&named))
        {
            return Ok(found(other));
        }
        first_holder.get_or_insert(*entry);
    }
    if let Some(entry) = first_holder {
        return Ok(found(entry));
    }
    Err(Error::invalid(
        "bucket_name",
        format!(
            "no configured region of {} holds bucket {bucket:?} for these credentials",
            cloud.as_str()
        ),
    ))
}

/// Asks one region whether it holds `bucket`: `Some(region the store names, or "")` if so.
async fn ask_region(
    entry: &RegionEntry,
    bucket: &str,
    credentials: &Credentials,
) -> Result<Option<String>> {
    let account = Account { entry, credentials };
    match entry.protocol() {
        Protocol::Fs => {
            tern_core::check_local_bucket(bucket)?;
            let here = local_buckets(&entry.endpoint)?.iter().any(|b| b == bucket);
            Ok(here.then(String::new))
        }
        Protocol::S3 => {
            let path = format!("/{}", encode_segment(bucket));
            match s3_get(&account, &path, "location").await {
                Ok(body) => Ok(Some(parse_location(&body))),
                // Refused, missing or unreachable: not a region tern can use for it.
                Err(Error::Storage { .. }) => Ok(None),
                Err(err) => Err(err),
            }
        }
        Protocol::Azblob => azure::region_holding(entry, bucket, credentials).await,
        Protocol::Gcs => gcs::bucket_location(entry, bucket, credentials).await,
        Protocol::Oss | Protocol::Obs | Protocol::Cos => {
            vendor::bucket_location(entry, bucket, credentials).await
        }
        _ => Err(account.refuse_unsupported("finding a bucket's region")),
    }
}

/// Lists one folder level of `storage` after `marker` (exclusive), `page_size` entries at most.
///
/// Entries come in byte order of keys whatever order the store lists in, so `marker` paging is
/// stable; the folder's entries are read as one stream and only a page plus one is kept.
pub async fn folder_page(
    storage: &Storage,
    folder: &str,
    marker: &str,
    page_size: usize,
) -> Result<FolderPage> {
    let place = storage.place(crate::error::Side::Source, Some(folder));
    let mut lister = storage
        .operator()
        .lister(folder)
        .await
        .map_err(|err| Error::storage(&err, &place))?;
    // The smallest `page_size + 1` names after the marker, kept sorted: bounded memory even
    // for a store that lists out of order (local directories).
    let mut kept: Vec<FolderEntry> = Vec::with_capacity(page_size + 1);
    while let Some(entry) = lister
        .try_next()
        .await
        .map_err(|err| Error::storage(&err, &place))?
    {
        let name = entry.path().trim_start_matches('/').to_owned();
        if name == folder || name.as_str() <= marker {
            continue;
        }
        let size = match entry.metadata().mode() {
            EntryMode::DIR => None,
            _ => Some(entry.metadata().content_length()),
        };
        let position = kept.partition_point(|e| e.name < name);
        if position > page_size {
            continue;
        }
        kept.insert(position, FolderEntry { name, size });
        kept.truncate(page_size + 1);
    }
    let more = kept.len() > page_size;
    kept.truncate(page_size);
    Ok(FolderPage {
        entries: kept,
        more,
    })
}

/// Tells whether any object's key starts with `prefix` (an exact key counts).
pub async fn prefix_exists(storage: &Storage, prefix: &str) -> Result<bool> {
    let place = storage.place(crate::error::Side::Source, Some(prefix));
    // List the parent folder from the prefix on: OpenDAL lists folders, and a partial name
    // (`logs/2024-`) is not one.
    let parent = match prefix.rfind('/') {
        Some(index) => &prefix[..=index],
        None => "",
    };
    let mut lister = storage
        .operator()
        .lister_with(parent)
        .recursive(true)
        .await
        .map_err(|err| Error::storage(&err, &place))?;
    while let Some(entry) = lister
        .try_next()
        .await
        .map_err(|err| Error::storage(&err, &place))?
    {
        let name = entry.path().trim_start_matches('/');
        if entry.metadata().mode() != EntryMode::DIR && name.starts_with(prefix) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a CDN domain serves for one key, compared with the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnCheck {
    /// The key checked.
    pub key: String,
    /// The bucket holds the key.
    pub in_bucket: bool,
    /// The CDN answered 2xx to a HEAD of the key.
    pub downloadable: bool,
    /// The CDN's ETag equals the bucket's.
    pub etag_matches: bool,
}

/// HEADs each key at the bucket and through the CDN domain (`{protocol}://{domain}/{key}`),
/// comparing ETags. Each CDN URL is signed by `signer` (OMS `source_cdn.authentication_type`),
/// just as a task's object fetches through the CDN are.
pub async fn check_cdn(
    storage: &Storage,
    protocol: &str,
    domain: &str,
    keys: &[String],
    signer: &CdnSigner,
) -> Result<Vec<CdnCheck>> {
    let client = http_client()?;
    let mut checks = Vec::with_capacity(keys.len());
    for key in keys {
        let bucket_etag = match storage.operator().stat(key).await {
            Ok(meta) => Some(meta.etag().map(unquote).unwrap_or_default()),
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => None,
            Err(err) => {
                let place = storage.place(crate::error::Side::Source, Some(key));
                return Err(Error::storage(&err, &place));
            }
        };
        let url = signer.sign(
            &cdn_object_url(protocol, domain, key)?,
            std::time::SystemTime::now(),
        );
        let answer = client.head(url).send().await;
        let (downloadable, cdn_etag) = match answer {
            Ok(response) if response.status().is_success() => (
                true,
                response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(unquote),
            ),
            Ok(_) => (false, None),
            Err(err) => {
                // Without the URL: a signed query may carry the key itself (Azure SAS).
                tracing::debug!(error = %err.without_url(), "CDN HEAD failed");
                (false, None)
            }
        };
        checks.push(CdnCheck {
            key: key.clone(),
            in_bucket: bucket_etag.is_some(),
            downloadable,
            etag_matches: matches!((&bucket_etag, &cdn_etag), (Some(a), Some(b)) if !a.is_empty() && a == b),
        });
    }
    Ok(checks)
}

/// Opens the bucket of a helper request (`node.bucket` in `node.region`) for reading.
pub fn open_bucket(node: &NodeSpec, regions: &RegionTable) -> Result<Storage> {
    Storage::open_source(&Location::from_node(node, regions)?)
}

fn unquote(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_owned()
}

/// The bucket directories of a local root: its direct subdirectories.
fn local_buckets(root: &str) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(root).map_err(|err| Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("local root {root} cannot be read: {err}"),
        temporary: false,
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// RFC 3986 encoding of one path segment, as S3 signs it.
pub(crate) fn encode_segment(segment: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(segment, SET).to_string()
}

/// Signs one S3 request with SigV4 for `region`, as OpenDAL's S3 service would (reqsign, with
/// an unsigned payload); anonymous credentials leave it unsigned. Used for the few S3 requests
/// OpenDAL has no operation for (ListBuckets, GetBucketLocation, RestoreObject, the HEAD that
/// reads `x-amz-storage-class` and `x-amz-restore`).
pub(crate) async fn sign_s3_request(
    parts: &mut http::request::Parts,
    region: &str,
    creds: &Credentials,
) -> Result<()> {
    if creds.is_anonymous() {
        return Ok(());
    }
    use reqsign_core::SignRequest;
    let credential = reqsign_aws_v4::Credential {
        access_key_id: creds.access_key.clone(),
        secret_access_key: creds.secret_key.expose().to_owned(),
        session_token: creds.security_token.as_ref().map(|t| t.expose().to_owned()),
        expires_in: None,
    };
    reqsign_aws_v4::RequestSigner::new("s3", region)
        .sign_request(
            &reqsign_core::Context::new(),
            parts,
            Some(&credential),
            None,
        )
        .await
        .map_err(|err| Error::invalid("sk", format!("signing the request: {err}")))
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    // No system proxy and no ambient identity: the request goes where the caller named.
    reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|err| Error::invalid("endpoint", format!("HTTP client: {err}")))
}

/// One signed (or, without keys, unsigned) path-style GET to an S3 region; the body as text.
async fn s3_get(account: &Account<'_>, path: &str, query: &str) -> Result<String> {
    let endpoint = account.entry.endpoint.trim_end_matches('/');
    let url = if query.is_empty() {
        format!("{endpoint}{path}")
    } else {
        format!("{endpoint}{path}?{query}")
    };
    let mut parts = http::Request::get(&url)
        .body(())
        .map_err(|err| Error::invalid("endpoint", format!("{url}: {err}")))?
        .into_parts()
        .0;
    sign_s3_request(&mut parts, &account.entry.region, account.credentials).await?;
    send(parts, endpoint).await
}

/// Sends one bucket-helper request and reads its answer as text, at most [`MAX_ANSWER_BYTES`].
/// A non-2xx answer is a storage error naming the endpoint, the status and the store's own error
/// code (S3 and Azure XML `Code`, GCS JSON `error.message`); 401/403 read as refused credentials.
async fn send(parts: http::request::Parts, endpoint: &str) -> Result<String> {
    send_with(&http_client()?, parts, endpoint).await
}

/// [`send`] through `client`.
async fn send_with(
    client: &reqwest::Client,
    parts: http::request::Parts,
    endpoint: &str,
) -> Result<String> {
    let request = reqwest::Request::try_from(http::Request::from_parts(parts, Vec::<u8>::new()))
        .map_err(|err| Error::invalid("endpoint", format!("{endpoint}: {err}")))?;
    let response = client
        .execute(request)
        .await
        .map_err(|err| Error::Storage {
            code: tern_core::FailureCode::SourceNotFound,
            // Without the URL: an Azure SAS rides in the query.
            message: format!("{endpoint} cannot be reached: {}", err.without_url()),
            temporary: true,
        })?;
    let status = response.status();
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.try_next().await.map_err(|err| Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("reading the answer of {endpoint}: {}", err.without_url()),
        temporary: true,
    })? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Error::Storage {
                code: tern_core::FailureCode::SourceNotFound,
                message: format!("{endpoint} answered more than {MAX_ANSWER_BYTES} bytes"),
                temporary: false,
            });
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        return Ok(text);
    }
    let code = parse_error_code(&text);
    let failure = match status.as_u16() {
        401 | 403 => tern_core::FailureCode::SourceCredentialsInvalid,
        _ => tern_core::FailureCode::SourceNotFound,
    };
    Err(Error::Storage {
        code: failure,
        message: format!("{endpoint} refused the request: HTTP {status} {code}"),
        temporary: status.is_server_error(),
    })
}

/// `ListAllMyBucketsResult`, the answer to `GET /`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketList {
    #[serde(default)]
    buckets: BucketListBuckets,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketListBuckets {
    #[serde(default)]
    bucket: Vec<BucketName>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketName {
    name: String,
}

/// `LocationConstraint`, the answer to `GET /{bucket}?location` (empty for us-east-1).
#[derive(Debug, Default, serde::Deserialize)]
struct LocationConstraint {
    #[serde(rename = "$text", default)]
    region: String,
}

/// The `Code` of an S3 error body.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
}

fn parse_bucket_names(xml: &str) -> Result<Vec<String>> {
    let list: BucketList = quick_xml::de::from_str(xml).map_err(|err| Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("the bucket list answer is not ListAllMyBucketsResult XML: {err}"),
        temporary: false,
    })?;
    Ok(list.buckets.bucket.into_iter().map(|b| b.name).collect())
}

fn parse_location(xml: &str) -> String {
    quick_xml::de::from_str::<LocationConstraint>(xml)
        .map(|l| l.region.trim().to_owned())
        .unwrap_or_default()
}

/// The store's error code: the `Code` of an S3 or Azure XML error, or the `error.message` of a
/// GCS JSON one.
fn parse_error_code(text: &str) -> String {
    if text.trim_start().starts_with('<') {
        return quick_xml::de::from_str::<ErrorBody>(text)
            .map(|e| e.code)
            .unwrap_or_default();
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_s3_answers_parse() {
        let xml = r#"<?xml version="1.0"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>x</ID></Owner><Buckets><Bucket><Name>a&amp;b</Name><CreationDate>2024-01-01T00:00:00Z</CreationDate></Bucket><Bucket><Name>c</Name></Bucket></Buckets></ListAllMyBucketsResult>"#;
        assert_eq!(parse_bucket_names(xml).unwrap(), ["a&b", "c"]);
        assert_eq!(
            parse_bucket_names("<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>")
                .unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(parse_location("<LocationConstraint/>"), "");
        assert_eq!(
            parse_location(r#"<LocationConstraint xmlns="x">eu-west-1</LocationConstraint>"#),
            "eu-west-1"
        );
        assert_eq!(
            parse_error_code("<Error><Code>AccessDenied</Code><Message>no</Message></Error>"),
            "AccessDenied"
        );
        assert_eq!(
            parse_error_code(r#"{"error":{"code":404,"message":"Not Found"}}"#),
            "Not Found"
        );
    }

    #[test]
    fn test_unquote_strips_quotes_and_weak_marker() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("W/\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
    }
}
