//! The HTTP side of a task's source: URL lists and `source_cdn` (the CDN settings live in the
//! task's echo JSON; the key in its sealed secrets).

use futures::TryStreamExt;
use tern_core::{CloudType, Credentials, NodeSpec, RegionTable, TaskSecrets, TaskSpec, TaskType};
use tern_engine::cdn::{CdnAuthentication, CdnSigner};
use tern_engine::urllist::{numbered_lines, parse_url_line};
use tern_engine::{HttpSource, Location, Storage};

/// Why a URL-list file does not check out (`check_url_source_list_file_format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlListProblem {
    /// The request field at fault (`list_file_key` for the content, `region`, `obs_bucket`).
    pub field: &'static str,
    /// What is wrong; for content, the first bad line's number and reason.
    pub message: String,
}

/// Reads a URL-list file in a destination-region bucket and checks every line against the
/// format tasks accept ([`tern_engine::urllist`]); the first bad line is the answer. A file
/// without any object line is refused too.
pub async fn check_url_list_file(
    regions: &RegionTable,
    region: &str,
    bucket: &str,
    key: &str,
    credentials: Credentials,
) -> Result<(), UrlListProblem> {
    let node = NodeSpec {
        cloud_type: CloudType::HuaweiCloud,
        region: region.to_owned(),
        bucket: bucket.to_owned(),
        credentials,
        app_id: None,
    };
    let storage = Location::from_node(&node, regions)
        .and_then(|location| Storage::open(&location))
        .map_err(|err| UrlListProblem {
            field: "region",
            message: err.to_string(),
        })?;
    let unreadable = |err: tern_engine::Error| UrlListProblem {
        field: "list_file_key",
        message: err.to_string(),
    };
    let mut lines = numbered_lines(&storage, key).await.map_err(unreadable)?;
    let mut objects = 0u64;
    while let Some((number, text)) = lines.try_next().await.map_err(unreadable)? {
        let checked = text.and_then(|text| parse_url_line(&text).map(|_| ()));
        if let Err(reason) = checked {
            return Err(UrlListProblem {
                field: "list_file_key",
                message: format!("line {number}: {reason}"),
            });
        }
        objects += 1;
    }
    if objects == 0 {
        return Err(UrlListProblem {
            field: "list_file_key",
            message: "the URL list file has no lines".to_owned(),
        });
    }
    Ok(())
}

/// The HTTP source a task's run needs: `None` for a plain storage source. A URL list always gets
/// one; with `source_cdn`, objects are fetched through the CDN domain, signed per its scheme
/// (URL lists keep their own hosts and are signed the same way).
pub(crate) fn http_source(
    spec: &TaskSpec,
    secrets: &TaskSecrets,
) -> tern_engine::Result<Option<HttpSource>> {
    let cdn = source_cdn(&spec.echo_json);
    if spec.task_type != TaskType::UrlList && cdn.is_none() {
        return Ok(None);
    }
    let Some(cdn) = cdn else {
        return HttpSource::new(None).map(Some);
    };
    let auth = CdnAuthentication::parse(&cdn.authentication_type)?;
    let signer = CdnSigner::new(
        auth,
        secrets.cdn_key.as_ref().map(|key| key.expose()),
        &secrets.src.access_key,
        secrets.src.secret_key.expose(),
        &spec.src.bucket,
    )?;
    let http = HttpSource::new(Some(signer))?;
    Ok(Some(if spec.task_type == TaskType::UrlList {
        http
    } else {
        http.through_cdn(&cdn.protocol, &cdn.domain)
    }))
}

/// `source_cdn` as echoed (no key).
struct SourceCdn {
    domain: String,
    protocol: String,
    authentication_type: String,
}

fn source_cdn(echo_json: &str) -> Option<SourceCdn> {
    let echo: serde_json::Value = serde_json::from_str(echo_json).ok()?;
    let cdn = echo.get("source_cdn")?;
    let field = |name: &str| cdn.get(name)?.as_str().map(str::to_owned);
    Some(SourceCdn {
        domain: field("domain")?,
        protocol: field("protocol")?,
        authentication_type: field("authentication_type")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_source_cdn_reads_the_echo() {
        let cdn = source_cdn(
            r#"{"source_cdn":{"domain":"cdn.example.com","protocol":"https","authentication_type":"ALIYUN_OSS_A"}}"#,
        )
        .unwrap();
        assert_eq!(cdn.domain, "cdn.example.com");
        assert_eq!(cdn.protocol, "https");
        assert_eq!(cdn.authentication_type, "ALIYUN_OSS_A");
        assert!(source_cdn("").is_none());
        assert!(source_cdn(r#"{"smn_config":{}}"#).is_none());
    }
}
