//! The bucket helpers' bodies (REFERENCE.md operations 25–29): requests carry the caller's
//! credentials for one call only; they are checked here, used once, and never stored or echoed.

use serde::{Deserialize, Serialize};
use tern_core::{CloudType, Credentials, NodeSpec, Secret};
use utoipa::ToSchema;

use super::names;
use super::task_extras::SourceCdnReq;
use super::task_resp::SourceCdnResp;
use super::validate::{check_len, check_non_empty, optional_secret, parse_enum, MAX_REGION_LEN};
use crate::ApiError;

/// Largest `page_size` of `show_bucket_objects` (OMS states none; S3 pages hold 1,000 keys).
pub const MAX_PAGE_SIZE: i32 = 1000;
/// Most keys `show_cdn_info` checks in one call (each is two HEAD requests).
pub const MAX_CDN_KEYS: usize = 100;
/// Keys `show_cdn_info` samples from the bucket when the request names none.
pub const DEFAULT_CDN_SAMPLE: usize = 10;

/// The credential fields every helper body shares.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct HelperAccount {
    /// Vendor; default `Aliyun` where the reference gives one.
    #[schema(value_type = Option<names::CloudType>)]
    pub cloud_type: Option<String>,
    /// Access key, 0..100.
    #[schema(max_length = 100)]
    pub ak: Option<String>,
    /// Secret key, 0..100.
    #[schema(value_type = Option<String>, max_length = 100)]
    pub sk: Option<Secret>,
    /// Google service-account JSON, 0..65535.
    #[schema(value_type = Option<String>, max_length = 65535)]
    pub json_auth_file: Option<Secret>,
    /// Azure connection string, 0..2048.
    #[schema(value_type = Option<String>, max_length = 2048)]
    pub connection_string: Option<Secret>,
    /// Tencent APPID, 0..255.
    #[schema(max_length = 255)]
    pub app_id: Option<String>,
}

/// Vendor, credentials and APPID of a helper call.
#[derive(Debug, Clone)]
pub struct Account {
    /// The vendor.
    pub cloud_type: CloudType,
    /// The credentials, for this call only.
    pub credentials: Credentials,
    /// Tencent APPID.
    pub app_id: Option<String>,
}

impl HelperAccount {
    fn into_account(self, security_token: Option<Secret>) -> Result<Account, ApiError> {
        let cloud_type = match self.cloud_type.as_deref() {
            Some(value) => {
                check_len("cloud_type", value, 0, 100)?;
                parse_enum("cloud_type", value)?
            }
            None => CloudType::Aliyun,
        };
        let access_key = self.ak.unwrap_or_default();
        check_len("ak", &access_key, 0, 100)?;
        let secret_key = optional_secret("sk", self.sk, 0, 100)?.unwrap_or_default();
        let json_auth_file = optional_secret("json_auth_file", self.json_auth_file, 0, 65535)?;
        let connection_string =
            optional_secret("connection_string", self.connection_string, 0, 2048)?;
        let security_token = optional_secret("security_token", security_token, 0, 16384)?;
        let app_id = self.app_id.filter(|id| !id.is_empty());
        if let Some(app_id) = &app_id {
            check_len("app_id", app_id, 0, 255)?;
        }
        if cloud_type == CloudType::Tencent && app_id.is_none() {
            return Err(ApiError::invalid(
                "app_id",
                "is required when cloud_type is Tencent",
            ));
        }
        if cloud_type == CloudType::UrlSource {
            return Err(ApiError::invalid(
                "cloud_type",
                "URLSource has no buckets; check a URL list with check_url_source_list_file_format",
            ));
        }
        Ok(Account {
            cloud_type,
            credentials: Credentials {
                access_key,
                secret_key,
                security_token,
                connection_string,
                json_auth_file,
            },
            app_id,
        })
    }
}

impl Account {
    /// The node a helper reads: `bucket` in `region` with these credentials.
    pub fn node(&self, region: String, bucket: String) -> NodeSpec {
        NodeSpec {
            cloud_type: self.cloud_type,
            region,
            bucket,
            credentials: self.credentials.clone(),
            app_id: self.app_id.clone(),
        }
    }
}

fn check_bucket_name(value: &str) -> Result<(), ApiError> {
    check_non_empty("bucket_name", value)?;
    check_len("bucket_name", value, 1, 100)
}

fn check_region(field: &str, value: &str) -> Result<(), ApiError> {
    check_non_empty(field, value)?;
    check_len(field, value, 1, MAX_REGION_LEN)
}

/// `show_bucket_list` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ListBucketsReq {
    /// Vendor and credentials.
    #[serde(flatten)]
    pub account: HelperAccount,
    /// tern extension, not in OMS: the region to ask (default: the vendor's first region in
    /// the region table).
    #[schema(max_length = 100)]
    pub region: Option<String>,
}

impl ListBucketsReq {
    /// Checks the body; returns the account and the region to ask.
    pub fn into_domain(self) -> Result<(Account, Option<String>), ApiError> {
        let region = self.region.filter(|r| !r.is_empty());
        if let Some(region) = &region {
            check_region("region", region)?;
        }
        Ok((self.account.into_account(None)?, region))
    }
}

/// `show_bucket_objects` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowBucketReq {
    /// Vendor and credentials.
    #[serde(flatten)]
    pub account: HelperAccount,
    /// Folder to list, ending in `/` (`/` alone: the bucket's top level).
    #[schema(max_length = 1023, pattern = "^([\\s\\S]*/)?$")]
    pub file_path: String,
    /// Region of the bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub data_center: String,
    /// Entries per page, 1..1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub page_size: i32,
    /// Last name of the previous page (`""` for the first).
    #[schema(max_length = 1024)]
    pub behind_filename: String,
    /// Bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub bucket_name: String,
}

/// A checked `show_bucket_objects` request.
#[derive(Debug)]
pub struct FolderQuery {
    /// Whose bucket.
    pub account: Account,
    /// Region of the bucket.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Folder key (`""` for the top level, else ending in `/`).
    pub folder: String,
    /// Marker (exclusive).
    pub after: String,
    /// Entries per page.
    pub page_size: usize,
}

impl ShowBucketReq {
    /// Checks the body.
    pub fn into_domain(self) -> Result<FolderQuery, ApiError> {
        check_len("file_path", &self.file_path, 0, 1023)?;
        if !self.file_path.is_empty() && !self.file_path.ends_with('/') {
            return Err(ApiError::invalid("file_path", "must end with '/'"));
        }
        check_region("data_center", &self.data_center)?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ApiError::invalid(
                "page_size",
                format!("{} is outside 1..{MAX_PAGE_SIZE}", self.page_size),
            ));
        }
        check_len("behind_filename", &self.behind_filename, 0, 1024)?;
        check_bucket_name(&self.bucket_name)?;
        let folder = self.file_path.trim_start_matches('/').to_owned();
        Ok(FolderQuery {
            account: self.account.into_account(None)?,
            region: self.data_center,
            bucket: self.bucket_name,
            folder,
            after: self.behind_filename,
            page_size: usize::try_from(self.page_size).unwrap_or(1),
        })
    }
}

/// `show_bucket_objects` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowBucketObjectsResponse {
    /// More entries follow.
    pub next_page: bool,
    /// Last name of this page (the next call's `behind_filename`).
    pub next_marker: String,
    /// This page's entries.
    pub records: Vec<ShowBucketRecord>,
}

/// One entry of a folder page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowBucketRecord {
    /// Object key (folders end in `/`).
    pub name: String,
    /// Size in bytes as text; `--` for a folder.
    pub size: String,
}

/// `show_bucket_region` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowBucketRegionReq {
    /// Vendor and credentials.
    #[serde(flatten)]
    pub account: HelperAccount,
    /// Bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub bucket_name: String,
}

impl ShowBucketRegionReq {
    /// Checks the body.
    pub fn into_domain(self) -> Result<(Account, String), ApiError> {
        check_bucket_name(&self.bucket_name)?;
        Ok((self.account.into_account(None)?, self.bucket_name))
    }
}

/// `show_bucket_region` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowBucketRegionResponse {
    /// Region id as task bodies spell it.
    pub id: String,
    /// Region display name.
    pub name: String,
    /// Whether tern can migrate from this region (it is in the region table).
    pub support: bool,
}

/// `check_prefix` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckPrefixReq {
    /// Vendor and credentials.
    #[serde(flatten)]
    pub account: HelperAccount,
    /// Bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub bucket_name: String,
    /// Prefix to look for, 0..1024.
    #[schema(max_length = 1024)]
    pub file_name: String,
    /// Region of the bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub data_center: String,
    /// STS token, 0..16384.
    #[schema(value_type = Option<String>, max_length = 16384)]
    pub security_token: Option<Secret>,
}

impl CheckPrefixReq {
    /// Checks the body; returns the node to look in and the prefix.
    pub fn into_domain(self) -> Result<(NodeSpec, String), ApiError> {
        check_bucket_name(&self.bucket_name)?;
        check_len("file_name", &self.file_name, 0, 1024)?;
        check_region("data_center", &self.data_center)?;
        let account = self.account.into_account(self.security_token)?;
        Ok((
            account.node(self.data_center, self.bucket_name),
            self.file_name,
        ))
    }
}

/// `check_prefix` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckPrefixResponse {
    /// At least one object's key starts with the prefix.
    pub exist: bool,
}

/// `show_cdn_info` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ShowCdnInfoReq {
    /// Vendor and credentials (`ak` and `sk` required by OMS).
    #[serde(flatten)]
    pub account: HelperAccount,
    /// Region of the bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub region: String,
    /// Bucket.
    #[schema(min_length = 1, max_length = 100)]
    pub bucket: String,
    /// Keys to check; without it, the bucket's first objects are sampled.
    pub prefix: Option<PrefixKeyInfo>,
    /// The CDN domain and its URL authentication.
    pub source_cdn: SourceCdnReq,
}

/// `prefix` of `show_cdn_info`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PrefixKeyInfo {
    /// Keys to check.
    #[schema(value_type = Vec<names::CdnKey>, min_items = 1, max_items = 100)]
    pub keys: Vec<String>,
}

/// A checked `show_cdn_info` request.
#[derive(Debug)]
pub struct CdnQuery {
    /// The bucket to compare with.
    pub node: NodeSpec,
    /// Keys to check (`None`: sample the bucket).
    pub keys: Option<Vec<String>>,
    /// The CDN settings (no secret).
    pub cdn: SourceCdnResp,
    /// The CDN authentication key.
    pub cdn_key: Option<Secret>,
}

impl ShowCdnInfoReq {
    /// Checks the body.
    pub fn into_domain(self) -> Result<CdnQuery, ApiError> {
        if self.account.ak.is_none() {
            return Err(ApiError::required("ak"));
        }
        if self.account.sk.is_none() {
            return Err(ApiError::required("sk"));
        }
        check_region("region", &self.region)?;
        check_non_empty("bucket", &self.bucket)?;
        check_len("bucket", &self.bucket, 1, 100)?;
        let keys = match self.prefix {
            Some(prefix) => {
                if prefix.keys.is_empty() || prefix.keys.len() > MAX_CDN_KEYS {
                    return Err(ApiError::invalid(
                        "prefix.keys",
                        format!("must hold 1..{MAX_CDN_KEYS} keys"),
                    ));
                }
                for (index, key) in prefix.keys.iter().enumerate() {
                    check_non_empty(&format!("prefix.keys[{index}]"), key)?;
                    check_len(&format!("prefix.keys[{index}]"), key, 1, 1024)?;
                }
                Some(prefix.keys)
            }
            None => None,
        };
        let (cdn, cdn_key) = self.source_cdn.into_domain()?;
        let account = self.account.into_account(None)?;
        Ok(CdnQuery {
            node: account.node(self.region, self.bucket),
            keys,
            cdn,
            cdn_key,
        })
    }
}

/// `show_cdn_info` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowCdnInfoResponse {
    /// The CDN serves this bucket's objects (every checked key's ETag matched).
    pub is_same_cloud_type: bool,
    /// Every checked key could be downloaded through the CDN.
    pub is_download_available: bool,
    /// Per-key results.
    pub checked_keys: Vec<CheckedKey>,
}

/// One key of `show_cdn_info`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedKey {
    /// The key.
    pub key: String,
    /// The CDN's ETag equals the bucket's.
    pub is_etag_matching: bool,
    /// The bucket holds the key.
    pub is_object_existing: bool,
}
