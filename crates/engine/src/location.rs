//! Where objects live: a node spec or a URL resolved into a protocol, bucket, endpoint and root.

use tern_core::{Credentials, NodeSpec, Protocol, RegionTable};
use url::Url;

use crate::error::{Error, Result};

/// A resolved storage location; [`crate::Storage::open`] turns it into a live endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The protocol to speak.
    pub protocol: Protocol,
    /// Bucket or container (empty for the filesystem).
    pub bucket: String,
    /// Service endpoint; `None` lets the service pick its public default.
    pub endpoint: Option<String>,
    /// Signing region (S3).
    pub region: Option<String>,
    /// Directory inside the bucket that every key is relative to (`""` or ending in `/`; for the
    /// filesystem, an absolute directory).
    pub root: String,
    /// Credentials (anonymous when empty).
    pub credentials: Credentials,
}

impl Location {
    /// Resolves an OMS node through the region table. A local-directory region
    /// ([`Protocol::Fs`]) names a root directory; the bucket is a directory right under it.
    pub fn from_node(node: &NodeSpec, regions: &RegionTable) -> Result<Location> {
        let entry = regions.lookup(node.cloud_type, &node.region)?;
        if entry.protocol() == Protocol::Fs {
            return Ok(Location {
                protocol: Protocol::Fs,
                bucket: String::new(),
                endpoint: None,
                region: None,
                root: local_bucket_dir(&entry.endpoint, &node.bucket)?,
                credentials: Credentials::default(),
            });
        }
        if node.bucket.is_empty() {
            return Err(Error::invalid("bucket", "a bucket is required"));
        }
        let bucket = node.store_bucket();
        Ok(Location {
            protocol: entry.protocol(),
            bucket,
            endpoint: Some(entry.endpoint.clone()),
            region: Some(node.region.clone()),
            root: String::new(),
            credentials: node.credentials.clone(),
        })
    }

    /// Parses the `tern copy` URL forms: `s3://bucket/dir?endpoint=…&region=…`, `oss://`, `obs://`,
    /// `cos://`, `gs://`, `azblob://container/dir`, `file:///abs/dir`, or a plain local path.
    /// Credentials never come from the URL.
    pub fn parse_url(text: &str, credentials: Credentials) -> Result<Location> {
        if !text.contains("://") {
            return Self::local_dir(text);
        }
        let url =
            Url::parse(text).map_err(|err| Error::invalid("url", format!("{text:?}: {err}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid(
                "url",
                "credentials are not accepted in URLs; use TERN_SRC_AK/TERN_SRC_SK or TERN_DST_AK/TERN_DST_SK",
            ));
        }
        let protocol = match url.scheme() {
            "s3" => Protocol::S3,
            "oss" => Protocol::Oss,
            "obs" => Protocol::Obs,
            "cos" => Protocol::Cos,
            "gs" | "gcs" => Protocol::Gcs,
            "azblob" | "az" => Protocol::Azblob,
            "file" => return Self::local_dir(&decode(url.path())),
            other => {
                return Err(Error::invalid(
                    "url",
                    format!("unsupported scheme {other:?}"),
                ))
            }
        };
        let bucket = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| Error::invalid("url", format!("{text:?} names no bucket")))?
            .to_owned();
        let mut endpoint = None;
        let mut region = None;
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "endpoint" => endpoint = Some(value.into_owned()),
                "region" => region = Some(value.into_owned()),
                other => {
                    return Err(Error::invalid(
                        "url",
                        format!("unknown query parameter {other:?} (known: endpoint, region)"),
                    ))
                }
            }
        }
        Ok(Location {
            protocol,
            bucket,
            endpoint,
            region,
            root: dir_root(&decode(url.path())),
            credentials,
        })
    }

    fn local_dir(path: &str) -> Result<Location> {
        let absolute = std::path::absolute(path)
            .map_err(|err| Error::invalid("url", format!("{path:?}: {err}")))?;
        Ok(Location {
            protocol: Protocol::Fs,
            bucket: String::new(),
            endpoint: None,
            region: None,
            root: absolute.to_string_lossy().into_owned(),
            credentials: Credentials::default(),
        })
    }

    /// A short description without secrets, for logs and errors.
    pub fn describe(&self) -> String {
        match self.protocol {
            Protocol::Fs => format!("file://{}", self.root),
            protocol => format!("{protocol:?}://{}/{}", self.bucket, self.root).to_lowercase(),
        }
    }
}

/// The directory of `bucket` under a local region's `root`, refusing anything that leads outside
/// the root: names that are not one plain directory name, and symlinks pointing elsewhere. The
/// directory must exist, as a bucket must (keys below it are confined by OpenDAL's fs service,
/// which refuses `..` components).
fn local_bucket_dir(root: &str, bucket: &str) -> Result<String> {
    tern_core::check_local_bucket(bucket)?;
    let root_dir = std::fs::canonicalize(root).map_err(|err| {
        Error::invalid(
            "region",
            format!("local root directory {root:?} is not usable: {err}"),
        )
    })?;
    let dir = std::fs::canonicalize(root_dir.join(bucket)).map_err(|err| {
        Error::invalid(
            "bucket",
            format!("bucket directory {bucket:?} is not usable: {err}"),
        )
    })?;
    if !dir.starts_with(&root_dir) || dir == root_dir || !dir.is_dir() {
        return Err(Error::invalid(
            "bucket",
            format!("{bucket:?} is not a directory under the region's root"),
        ));
    }
    Ok(dir.to_string_lossy().into_owned())
}

fn decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Turns a URL path into an OpenDAL-style root: no leading `/`, a trailing `/` unless empty.
fn dir_root(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::{CloudType, RegionEntry};

    #[test]
    fn test_parse_s3_url_with_endpoint_and_region() {
        let location = Location::parse_url(
            "s3://bucket-a/photos/2024?endpoint=http://127.0.0.1:8333&region=us-east-1",
            Credentials::default(),
        )
        .unwrap();
        assert_eq!(location.protocol, Protocol::S3);
        assert_eq!(location.bucket, "bucket-a");
        assert_eq!(location.root, "photos/2024/");
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(location.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn test_parse_url_refuses_credentials_and_unknown_params() {
        assert!(Location::parse_url("s3://ak:sk@bucket/", Credentials::default()).is_err());
        assert!(Location::parse_url("s3://bucket/?secret=x", Credentials::default()).is_err());
        assert!(Location::parse_url("ftp://bucket/", Credentials::default()).is_err());
    }

    #[test]
    fn test_parse_file_url_and_plain_path() {
        let location = Location::parse_url("file:///tmp/a%20b", Credentials::default()).unwrap();
        assert_eq!(location.protocol, Protocol::Fs);
        assert_eq!(location.root, "/tmp/a b");
        let plain = Location::parse_url("/tmp/x", Credentials::default()).unwrap();
        assert_eq!(plain.root, "/tmp/x");
    }

    #[test]
    fn test_from_node_uses_region_table_and_cos_app_id() {
        let mut regions = RegionTable::builtin();
        regions.insert(RegionEntry {
            cloud_type: CloudType::HuaweiCloud,
            region: "local-1".into(),
            description: "local".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            protocol: Some(Protocol::S3),
        });
        let node = NodeSpec {
            cloud_type: CloudType::HuaweiCloud,
            region: "local-1".into(),
            bucket: "dst".into(),
            credentials: Credentials::access_key("ak", "sk"),
            app_id: None,
        };
        let location = Location::from_node(&node, &regions).unwrap();
        assert_eq!(location.protocol, Protocol::S3);
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));

        let cos = NodeSpec {
            cloud_type: CloudType::Tencent,
            region: "ap-guangzhou".into(),
            bucket: "photos".into(),
            credentials: Credentials::default(),
            app_id: Some("1250000000".into()),
        };
        let location = Location::from_node(&cos, &regions).unwrap();
        assert_eq!(location.bucket, "photos-1250000000");
        assert_eq!(location.protocol, Protocol::Cos);
    }

    #[test]
    fn test_local_region_confines_buckets_to_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("photos")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("escape")).unwrap();
        let mut regions = RegionTable::builtin();
        regions.insert(RegionEntry {
            cloud_type: CloudType::Local,
            region: "local".into(),
            description: "local".into(),
            endpoint: root.to_string_lossy().into_owned(),
            protocol: None,
        });
        let node = |cloud_type, bucket: &str| NodeSpec {
            cloud_type,
            region: "local".into(),
            bucket: bucket.into(),
            credentials: Credentials::default(),
            app_id: None,
        };
        let location = Location::from_node(&node(CloudType::Local, "photos"), &regions).unwrap();
        assert_eq!(location.protocol, Protocol::Fs);
        assert_eq!(
            location.root,
            std::fs::canonicalize(root.join("photos"))
                .unwrap()
                .to_string_lossy()
        );
        for bad in ["..", ".", "../outside", "/etc", "escape", "missing", ""] {
            assert!(
                Location::from_node(&node(CloudType::Local, bad), &regions).is_err(),
                "{bad:?}"
            );
        }
        // Local regions exist only when configured.
        assert!(
            Location::from_node(&node(CloudType::Local, "photos"), &RegionTable::builtin())
                .is_err()
        );
    }
}
