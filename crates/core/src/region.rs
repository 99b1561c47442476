//! The region table: how an OMS `cloud_type` + `region` becomes an endpoint tern can reach.
//!
//! OMS requests never carry URLs. The table starts with real public endpoints and is extended by
//! the config file, which is how a local S3-compatible server becomes a "region" (DESIGN.md).
//!
//! Local directories are regions too, but never built in: a region whose protocol is
//! [`Protocol::Fs`] (a `Local` cloud type, or any cloud type with `protocol = "fs"`) exists only
//! when the operator's config names it, and its endpoint is a root directory. Buckets are the
//! root's direct subdirectories ([`check_local_bucket`]), so an API caller can reach nothing
//! outside the roots the operator chose.

use crate::{CloudType, Error};

/// The wire protocol spoken to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Amazon S3 and S3-compatible services.
    S3,
    /// Huawei OBS native.
    Obs,
    /// Aliyun OSS native.
    Oss,
    /// Tencent COS native.
    Cos,
    /// Google Cloud Storage JSON API.
    Gcs,
    /// Azure Blob.
    Azblob,
    /// Plain HTTP(S) GETs of URLs.
    Http,
    /// The local filesystem.
    Fs,
}

impl Protocol {
    /// The protocol a cloud type speaks when the region entry does not override it.
    pub fn default_for(cloud: CloudType) -> Protocol {
        match cloud {
            CloudType::Aws
            | CloudType::QingCloud
            | CloudType::KingsoftCloud
            | CloudType::Baidu
            | CloudType::Qiniu
            | CloudType::UCloud => Protocol::S3,
            CloudType::Aliyun => Protocol::Oss,
            CloudType::Tencent => Protocol::Cos,
            CloudType::HuaweiCloud => Protocol::Obs,
            CloudType::Google => Protocol::Gcs,
            CloudType::Azure => Protocol::Azblob,
            CloudType::UrlSource => Protocol::Http,
            CloudType::Local => Protocol::Fs,
        }
    }
}

/// One row of the region table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEntry {
    /// The vendor.
    pub cloud_type: CloudType,
    /// The region name as OMS requests spell it.
    pub region: String,
    /// A human description (`show_region_info`).
    pub description: String,
    /// Base URL of the storage endpoint.
    pub endpoint: String,
    /// The protocol to speak; `None` means [`Protocol::default_for`] the cloud type.
    pub protocol: Option<Protocol>,
}

impl RegionEntry {
    /// The protocol this entry speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
            .unwrap_or_else(|| Protocol::default_for(self.cloud_type))
    }
}

/// The table of known regions; later entries override earlier ones with the same key.
#[derive(Debug, Clone, Default)]
pub struct RegionTable {
    entries: Vec<RegionEntry>,
}

/// Public endpoints tern knows without configuration: (cloud, region, description, endpoint).
const BUILTIN_REGIONS: &[(CloudType, &str, &str, &str)] = &[
    (
        CloudType::Aws,
        "us-east-1",
        "US East (N. Virginia)",
        "https://s3.us-east-1.amazonaws.com",
    ),
    (
        CloudType::Aws,
        "us-west-2",
        "US West (Oregon)",
        "https://s3.us-west-2.amazonaws.com",
    ),
    (
        CloudType::Aws,
        "eu-west-1",
        "Europe (Ireland)",
        "https://s3.eu-west-1.amazonaws.com",
    ),
    (
        CloudType::Aws,
        "ap-southeast-1",
        "Asia Pacific (Singapore)",
        "https://s3.ap-southeast-1.amazonaws.com",
    ),
    (
        CloudType::Aliyun,
        "oss-cn-hangzhou",
        "China East 1 (Hangzhou)",
        "https://oss-cn-hangzhou.aliyuncs.com",
    ),
    (
        CloudType::Aliyun,
        "oss-cn-beijing",
        "China North 2 (Beijing)",
        "https://oss-cn-beijing.aliyuncs.com",
    ),
    (
        CloudType::Aliyun,
        "oss-cn-shanghai",
        "China East 2 (Shanghai)",
        "https://oss-cn-shanghai.aliyuncs.com",
    ),
    (
        CloudType::Tencent,
        "ap-guangzhou",
        "South China (Guangzhou)",
        "https://cos.ap-guangzhou.myqcloud.com",
    ),
    (
        CloudType::Tencent,
        "ap-beijing",
        "North China (Beijing)",
        "https://cos.ap-beijing.myqcloud.com",
    ),
    (
        CloudType::Tencent,
        "ap-shanghai",
        "East China (Shanghai)",
        "https://cos.ap-shanghai.myqcloud.com",
    ),
    (
        CloudType::HuaweiCloud,
        "cn-north-4",
        "CN North-Beijing4",
        "https://obs.cn-north-4.myhuaweicloud.com",
    ),
    (
        CloudType::HuaweiCloud,
        "cn-east-3",
        "CN East-Shanghai1",
        "https://obs.cn-east-3.myhuaweicloud.com",
    ),
    (
        CloudType::HuaweiCloud,
        "cn-south-1",
        "CN South-Guangzhou",
        "https://obs.cn-south-1.myhuaweicloud.com",
    ),
    (
        CloudType::HuaweiCloud,
        "ap-southeast-1",
        "CN-Hong Kong",
        "https://obs.ap-southeast-1.myhuaweicloud.com",
    ),
    (
        CloudType::Google,
        "global",
        "Google Cloud Storage",
        "https://storage.googleapis.com",
    ),
    (
        CloudType::Azure,
        "global",
        "Azure Blob Storage",
        "https://{account}.blob.core.windows.net",
    ),
    // The S3-compatible clouds, at the S3 endpoints each vendor documents (tern speaks S3 to
    // them; the region name is also the SigV4 signing region):
    // - QingCloud QingStor: `s3.<zone>.qingstor.com`
    //   (https://docs.qingcloud.com/qingstor/s3.html, "AWS S3 兼容").
    // - Kingsoft Cloud KS3: `<region id>.ksyuncs.com`, region ids `ks3-cn-beijing`, …
    //   (https://docs.ksyun.com/documents/6762, "KS3访问域名使用规则"; `cn-beijing-6` is kept as
    //   an alias of earlier releases).
    // - Baidu BOS: `s3.<region>.bcebos.com` for bj, gz, su
    //   (https://cloud.baidu.com/doc/BOS/s/xjwvyq9l4-en, "Service Domain Name").
    // - Qiniu Kodo: `s3.<region id>.qiniucs.com` (Qiniu's "AWS S3 兼容" page, "服务域名").
    // - UCloud US3: `s3-<region>.ufileos.com` (UCloud's "AWS S3 protocol support" guide).
    (
        CloudType::QingCloud,
        "pek3a",
        "Beijing 3A",
        "https://s3.pek3a.qingstor.com",
    ),
    (
        CloudType::QingCloud,
        "pek3b",
        "Beijing 3B",
        "https://s3.pek3b.qingstor.com",
    ),
    (
        CloudType::QingCloud,
        "sh1a",
        "Shanghai 1A",
        "https://s3.sh1a.qingstor.com",
    ),
    (
        CloudType::KingsoftCloud,
        "ks3-cn-beijing",
        "China North 1 (Beijing)",
        "https://ks3-cn-beijing.ksyuncs.com",
    ),
    (
        CloudType::KingsoftCloud,
        "ks3-cn-shanghai",
        "China East 1 (Shanghai)",
        "https://ks3-cn-shanghai.ksyuncs.com",
    ),
    (
        CloudType::KingsoftCloud,
        "ks3-cn-guangzhou",
        "China South 1 (Guangzhou)",
        "https://ks3-cn-guangzhou.ksyuncs.com",
    ),
    (
        CloudType::KingsoftCloud,
        "cn-beijing-6",
        "Beijing 6",
        "https://ks3-cn-beijing.ksyuncs.com",
    ),
    (
        CloudType::Baidu,
        "bj",
        "North China (Beijing)",
        "https://s3.bj.bcebos.com",
    ),
    (
        CloudType::Baidu,
        "gz",
        "South China (Guangzhou)",
        "https://s3.gz.bcebos.com",
    ),
    (
        CloudType::Baidu,
        "su",
        "East China (Suzhou)",
        "https://s3.su.bcebos.com",
    ),
    (
        CloudType::Qiniu,
        "cn-east-1",
        "East China (Zhejiang)",
        "https://s3.cn-east-1.qiniucs.com",
    ),
    (
        CloudType::Qiniu,
        "cn-east-2",
        "East China (Zhejiang 2)",
        "https://s3.cn-east-2.qiniucs.com",
    ),
    (
        CloudType::Qiniu,
        "cn-north-1",
        "North China (Hebei)",
        "https://s3.cn-north-1.qiniucs.com",
    ),
    (
        CloudType::Qiniu,
        "cn-south-1",
        "South China (Guangdong)",
        "https://s3.cn-south-1.qiniucs.com",
    ),
    (
        CloudType::Qiniu,
        "us-north-1",
        "North America (Los Angeles)",
        "https://s3.us-north-1.qiniucs.com",
    ),
    (
        CloudType::Qiniu,
        "ap-southeast-1",
        "Asia Pacific (Singapore)",
        "https://s3.ap-southeast-1.qiniucs.com",
    ),
    (
        CloudType::UCloud,
        "cn-bj",
        "China (Beijing)",
        "https://s3-cn-bj.ufileos.com",
    ),
    (
        CloudType::UCloud,
        "cn-sh2",
        "China (Shanghai 2)",
        "https://s3-cn-sh2.ufileos.com",
    ),
    (
        CloudType::UCloud,
        "cn-gd",
        "China (Guangzhou)",
        "https://s3-cn-gd.ufileos.com",
    ),
    (
        CloudType::UCloud,
        "hk",
        "China (Hong Kong)",
        "https://s3-hk.ufileos.com",
    ),
];

impl RegionTable {
    /// The table with tern's built-in public endpoints.
    pub fn builtin() -> Self {
        let entries = BUILTIN_REGIONS
            .iter()
            .map(|(cloud, region, description, endpoint)| RegionEntry {
                cloud_type: *cloud,
                region: (*region).to_owned(),
                description: (*description).to_owned(),
                endpoint: (*endpoint).to_owned(),
                protocol: None,
            })
            .collect();
        RegionTable { entries }
    }

    /// Adds or replaces an entry (config-file regions override built-in ones).
    pub fn insert(&mut self, entry: RegionEntry) {
        self.entries
            .retain(|e| !(e.cloud_type == entry.cloud_type && e.region == entry.region));
        self.entries.push(entry);
    }

    /// The protocol spoken by `region` of `cloud`, as [`RegionTable::lookup`] resolves it.
    pub fn protocol_of(&self, cloud: CloudType, region: &str) -> Result<Protocol, Error> {
        self.lookup(cloud, region).map(RegionEntry::protocol)
    }

    /// Finds the entry for a cloud and region, or says which field is wrong.
    pub fn lookup(&self, cloud: CloudType, region: &str) -> Result<&RegionEntry, Error> {
        self.entries
            .iter()
            .find(|e| e.cloud_type == cloud && e.region == region)
            .ok_or_else(|| {
                Error::invalid(
                    "region",
                    format!("region {region:?} is not known for cloud type {cloud}"),
                )
            })
    }

    /// Every entry, in table order.
    pub fn entries(&self) -> &[RegionEntry] {
        &self.entries
    }
}

/// Checks that a bucket of a local-directory region names one directory directly under the
/// region's root: a single path component, not `.` or `..`, without `/`, `\\` or NUL. The
/// engine also resolves symlinks and refuses a bucket directory that leads outside the root.
pub fn check_local_bucket(bucket: &str) -> Result<(), Error> {
    let reason = if bucket.is_empty() {
        return Err(Error::invalid("bucket", "a bucket is required"));
    } else if bucket == "." || bucket == ".." {
        "must name a directory under the region's root, not . or .."
    } else if bucket.contains(['/', '\\', '\0']) {
        "must be one directory name under the region's root (no /, \\ or NUL)"
    } else {
        return Ok(());
    };
    Err(Error::invalid("bucket", format!("{bucket:?} {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_config_region_overrides_builtin() {
        let mut table = RegionTable::builtin();
        table.insert(RegionEntry {
            cloud_type: CloudType::HuaweiCloud,
            region: "cn-north-4".into(),
            description: "local".into(),
            endpoint: "http://127.0.0.1:8333".into(),
            protocol: Some(Protocol::S3),
        });
        let entry = table.lookup(CloudType::HuaweiCloud, "cn-north-4").unwrap();
        assert_eq!(entry.endpoint, "http://127.0.0.1:8333");
        assert_eq!(entry.protocol(), Protocol::S3);
        assert_eq!(
            table
                .lookup(CloudType::Aliyun, "oss-cn-hangzhou")
                .unwrap()
                .protocol(),
            Protocol::Oss
        );
    }

    #[test]
    fn test_s3_compatible_clouds_resolve_to_their_public_s3_endpoints() {
        let table = RegionTable::builtin();
        let cases = [
            (
                CloudType::QingCloud,
                "pek3a",
                "https://s3.pek3a.qingstor.com",
            ),
            (CloudType::QingCloud, "sh1a", "https://s3.sh1a.qingstor.com"),
            (
                CloudType::KingsoftCloud,
                "ks3-cn-beijing",
                "https://ks3-cn-beijing.ksyuncs.com",
            ),
            (
                CloudType::KingsoftCloud,
                "ks3-cn-guangzhou",
                "https://ks3-cn-guangzhou.ksyuncs.com",
            ),
            (CloudType::Baidu, "bj", "https://s3.bj.bcebos.com"),
            (CloudType::Baidu, "su", "https://s3.su.bcebos.com"),
            (
                CloudType::Qiniu,
                "cn-east-1",
                "https://s3.cn-east-1.qiniucs.com",
            ),
            (
                CloudType::Qiniu,
                "cn-south-1",
                "https://s3.cn-south-1.qiniucs.com",
            ),
            (CloudType::UCloud, "cn-bj", "https://s3-cn-bj.ufileos.com"),
            (CloudType::UCloud, "hk", "https://s3-hk.ufileos.com"),
        ];
        for (cloud, region, endpoint) in cases {
            let entry = table.lookup(cloud, region).unwrap();
            assert_eq!(entry.endpoint, endpoint, "{cloud} {region}");
            assert_eq!(entry.protocol(), Protocol::S3, "{cloud} {region}");
        }
        for cloud in [
            CloudType::QingCloud,
            CloudType::KingsoftCloud,
            CloudType::Baidu,
            CloudType::Qiniu,
            CloudType::UCloud,
        ] {
            let regions = table.entries().iter().filter(|e| e.cloud_type == cloud);
            assert!(regions.count() >= 3, "{cloud}");
        }
    }

    #[test]
    fn test_unknown_region_names_the_field() {
        let err = RegionTable::builtin()
            .lookup(CloudType::Aws, "mars-1")
            .unwrap_err();
        assert!(matches!(err, Error::InvalidField { ref field, .. } if field == "region"));
    }

    #[test]
    fn test_local_bucket_is_one_plain_directory_name() {
        for good in ["photos", "a.b", "..x", "my bucket"] {
            assert!(check_local_bucket(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "../etc", "/etc", "a\\b", "a\0b"] {
            assert!(check_local_bucket(bad).is_err(), "{bad:?}");
        }
    }
}
