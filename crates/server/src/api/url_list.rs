//! `check_url_source_list_file_format` (REFERENCE.md op 30): the request and its checks.

use serde::Deserialize;
use tern_core::{Credentials, Secret};
use utoipa::ToSchema;

use super::validate::{check_len, check_non_empty, MAX_REGION_LEN};
use crate::ApiError;

/// `CheckUrlSourceListFileFormatReq`: a URL-list file in a destination-region bucket.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckUrlSourceListFileFormatReq {
    /// Bucket holding the list file.
    #[schema(min_length = 1, max_length = 1024)]
    pub obs_bucket: String,
    /// The list file's key, 1..1024.
    #[schema(min_length = 1, max_length = 1024)]
    pub list_file_key: String,
    /// Destination AK, 0..100.
    #[schema(max_length = 100)]
    pub ak: String,
    /// Destination SK, 0..100.
    #[schema(value_type = String, max_length = 100)]
    pub sk: Secret,
    /// The bucket's region.
    #[schema(min_length = 1, max_length = 100)]
    pub region: String,
}

/// A validated check request.
#[derive(Debug)]
pub struct UrlListFileCheck {
    /// Bucket holding the list file.
    pub bucket: String,
    /// The list file's key.
    pub key: String,
    /// The bucket's region.
    pub region: String,
    /// Destination credentials.
    pub credentials: Credentials,
}

impl CheckUrlSourceListFileFormatReq {
    /// Checks each field's rule.
    pub fn into_domain(self) -> Result<UrlListFileCheck, ApiError> {
        check_non_empty("obs_bucket", &self.obs_bucket)?;
        check_len("obs_bucket", &self.obs_bucket, 1, 1024)?;
        check_len("list_file_key", &self.list_file_key, 1, 1024)?;
        check_len("ak", &self.ak, 0, 100)?;
        check_len("sk", self.sk.expose(), 0, 100)?;
        check_non_empty("region", &self.region)?;
        check_len("region", &self.region, 1, MAX_REGION_LEN)?;
        Ok(UrlListFileCheck {
            bucket: self.obs_bucket,
            key: self.list_file_key,
            region: self.region,
            credentials: Credentials::access_key(self.ak, self.sk),
        })
    }
}
