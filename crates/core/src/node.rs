//! Source and destination nodes: which cloud, region and bucket, with which credentials.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Secret};

/// A storage vendor as OMS names it in `cloud_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloudType {
    /// Amazon S3.
    Aws,
    /// Azure Blob Storage.
    Azure,
    /// Aliyun OSS (OMS's default source).
    Aliyun,
    /// Tencent COS.
    Tencent,
    /// Huawei OBS (`HuaweiCloud`; the destination side also says `HEC`).
    HuaweiCloud,
    /// QingCloud (S3-compatible).
    QingCloud,
    /// Kingsoft Cloud KS3 (S3-compatible).
    KingsoftCloud,
    /// Baidu BOS (S3-compatible).
    Baidu,
    /// Qiniu Kodo (S3-compatible).
    Qiniu,
    /// Google Cloud Storage.
    Google,
    /// A list of HTTP/HTTPS URLs.
    UrlSource,
    /// UCloud US3 (S3-compatible).
    UCloud,
    /// A local directory (tern only; not an OMS value).
    Local,
}

impl CloudType {
    /// Every OMS source cloud type, in the order `show_cloud_type` reports them.
    pub const OMS_SOURCES: [CloudType; 12] = [
        CloudType::Aws,
        CloudType::Azure,
        CloudType::Aliyun,
        CloudType::Tencent,
        CloudType::HuaweiCloud,
        CloudType::QingCloud,
        CloudType::KingsoftCloud,
        CloudType::Baidu,
        CloudType::Qiniu,
        CloudType::Google,
        CloudType::UrlSource,
        CloudType::UCloud,
    ];

    /// The spelling OMS uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudType::Aws => "AWS",
            CloudType::Azure => "Azure",
            CloudType::Aliyun => "Aliyun",
            CloudType::Tencent => "Tencent",
            CloudType::HuaweiCloud => "HuaweiCloud",
            CloudType::QingCloud => "QingCloud",
            CloudType::KingsoftCloud => "KingsoftCloud",
            CloudType::Baidu => "Baidu",
            CloudType::Qiniu => "Qiniu",
            CloudType::Google => "Google",
            CloudType::UrlSource => "URLSource",
            CloudType::UCloud => "UCloud",
            CloudType::Local => "Local",
        }
    }
}

impl fmt::Display for CloudType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloudType {
    type Err = Error;

    /// Parses OMS spellings case-insensitively: group responses echo them upper-case, and the
    /// destination side says `HEC` for Huawei.
    fn from_str(value: &str) -> Result<Self, Error> {
        let found = match value.to_ascii_lowercase().as_str() {
            "aws" => CloudType::Aws,
            "azure" => CloudType::Azure,
            "aliyun" => CloudType::Aliyun,
            "tencent" => CloudType::Tencent,
            "huaweicloud" | "hec" => CloudType::HuaweiCloud,
            "qingcloud" => CloudType::QingCloud,
            "kingsoftcloud" => CloudType::KingsoftCloud,
            "baidu" => CloudType::Baidu,
            "qiniu" => CloudType::Qiniu,
            "google" => CloudType::Google,
            "urlsource" => CloudType::UrlSource,
            "ucloud" => CloudType::UCloud,
            "local" => CloudType::Local,
            _ => {
                return Err(Error::invalid(
                    "cloud_type",
                    format!("unknown cloud type {value:?}"),
                ))
            }
        };
        Ok(found)
    }
}

/// How tern authenticates to one node. Every secret is a [`Secret`], and `Debug` shows only the
/// first characters of the access key id, so printing credentials never leaks them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (not secret by itself, but never logged with its secret).
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Secret,
    /// STS session token.
    pub security_token: Option<Secret>,
    /// Azure connection string.
    pub connection_string: Option<Secret>,
    /// Google service-account JSON.
    pub json_auth_file: Option<Secret>,
}

impl Credentials {
    /// Access key and secret, no token.
    pub fn access_key(access_key: impl Into<String>, secret_key: impl Into<Secret>) -> Self {
        Credentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            ..Credentials::default()
        }
    }

    /// Tells whether no credential at all is set, i.e. requests go unsigned.
    pub fn is_anonymous(&self) -> bool {
        self.access_key.is_empty()
            && self.secret_key.is_empty()
            && self.connection_string.is_none()
            && self.json_auth_file.is_none()
    }
}

/// Characters of an access key id that `Debug` shows: enough to tell keys apart in a log, too few
/// to use or look up the key (AWS ids share their first four, `AKIA`).
const SHOWN_ACCESS_KEY_PREFIX: usize = 4;

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Credentials {
            access_key,
            secret_key,
            security_token,
            connection_string,
            json_auth_file,
        } = self;
        let shown: String = access_key.chars().take(SHOWN_ACCESS_KEY_PREFIX).collect();
        let access_key = if shown.len() < access_key.len() {
            format!("{shown}***")
        } else {
            shown
        };
        f.debug_struct("Credentials")
            .field("access_key", &access_key)
            .field("secret_key", secret_key)
            .field("security_token", security_token)
            .field("connection_string", connection_string)
            .field("json_auth_file", json_auth_file)
            .finish()
    }
}

/// One side of a migration: where the objects live and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The vendor.
    pub cloud_type: CloudType,
    /// The region name, looked up in the [`crate::RegionTable`].
    pub region: String,
    /// The bucket (the directory for [`CloudType::Local`]).
    pub bucket: String,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Tencent APPID, appended to COS bucket names when missing.
    pub app_id: Option<String>,
}

impl NodeSpec {
    /// The bucket as the store names it: COS bucket names carry the APPID (`name-APPID`),
    /// which OMS lets callers give apart in `app_id`, so it is appended when missing.
    pub fn store_bucket(&self) -> String {
        match (self.cloud_type, &self.app_id) {
            (CloudType::Tencent, Some(app_id)) if !self.bucket.ends_with(&format!("-{app_id}")) => {
                format!("{}-{app_id}", self.bucket)
            }
            _ => self.bucket.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_store_bucket_appends_the_cos_app_id_once() {
        let mut node = NodeSpec {
            cloud_type: CloudType::Tencent,
            region: "ap-beijing".into(),
            bucket: "photos".into(),
            credentials: Credentials::default(),
            app_id: Some("1250000000".into()),
        };
        assert_eq!(node.store_bucket(), "photos-1250000000");
        node.bucket = "photos-1250000000".into();
        assert_eq!(node.store_bucket(), "photos-1250000000");
        node.cloud_type = CloudType::Aliyun;
        node.bucket = "photos".into();
        assert_eq!(node.store_bucket(), "photos");
    }

    #[test]
    fn test_cloud_type_round_trips_every_oms_spelling() {
        for cloud in CloudType::OMS_SOURCES {
            assert_eq!(cloud.as_str().parse::<CloudType>(), Ok(cloud));
            assert_eq!(
                cloud.as_str().to_uppercase().parse::<CloudType>(),
                Ok(cloud)
            );
        }
        assert_eq!("HEC".parse::<CloudType>(), Ok(CloudType::HuaweiCloud));
        assert!("Dropbox".parse::<CloudType>().is_err());
    }

    #[test]
    fn test_credentials_debug_hides_secrets() {
        let creds = Credentials::access_key("AKIDEXAMPLE1234", "SUPERSECRET");
        let printed = format!("{creds:?}");
        assert!(printed.contains("\"AKID***\""), "{printed}");
        assert!(!printed.contains("AKIDEXAMPLE1234"), "{printed}");
        assert!(!printed.contains("SUPERSECRET"), "{printed}");
    }
}
