//! Native Aliyun OSS, Huawei OBS and Tencent COS for the bucket helpers: ListBuckets (GetService,
//! `GET /` at the region's service host, no bucket in the host) and GetBucketLocation
//! (`GET /?location` at the bucket's virtual host, the endpoint's port kept), each signed with the
//! vendor's own signature by the reqsign signer OpenDAL's service uses.
//!
//! One exception is hand-written: reqsign's OBS signer always signs `/{bucket}{path}`, which for a
//! service-level request is `//`, while OBS documents `/` for a request naming no bucket; so the
//! OBS ListBuckets signature is computed here ([`sign_obs_service_request`]), from the same
//! `StringToSign` rules and reqsign's own HMAC helper.
//!
//! The answers (vendor documents, each cited where parsed):
//! - OSS GetService: `ListAllMyBucketsResult/Buckets/Bucket/{Name,Location}`, paged by `marker`
//!   and `max-keys` (default 100, at most 1000) with `IsTruncated`/`NextMarker`; GetBucketLocation:
//!   `<LocationConstraint>oss-cn-hangzhou</LocationConstraint>` (the OSS region id, which is how
//!   tern's table names Aliyun regions).
//! - OBS ListBuckets: `ListAllMyBucketsResult/Buckets/Bucket/{Name,Location}`, unpaged, every
//!   region's buckets whatever the endpoint; GetBucketLocation: `<Location>cn-north-4</Location>`.
//! - COS GetService: `ListAllMyBucketsResult/Buckets/Bucket/{Name,Location}`, paged by `marker`
//!   (`max-keys` default and limit 2000), only the endpoint region's buckets; GetBucketLocation:
//!   `<LocationConstraint>ap-beijing</LocationConstraint>` (older answers say `cos.ap-beijing`).

use http::request::Parts;
use reqsign_core::SignRequest;
use tern_core::{Credentials, Protocol, RegionEntry};

use super::{encode_segment, send_with, MAX_LIST_PAGES};
use crate::error::{Error, Result};

/// OSS GetService's largest page (its default is 100).
const OSS_MAX_KEYS: u32 = 1000;

/// Names the buckets ListBuckets at this region's endpoint returns (every page).
pub(super) async fn bucket_names(
    entry: &RegionEntry,
    credentials: &Credentials,
) -> Result<Vec<String>> {
    let protocol = entry.protocol();
    let base = endpoint_base(&entry.endpoint)?;
    let mut names = Vec::new();
    let mut marker = String::new();
    for _ in 0..MAX_LIST_PAGES {
        let mut query = Vec::new();
        if protocol == Protocol::Oss {
            query.push(format!("max-keys={OSS_MAX_KEYS}"));
        }
        if !marker.is_empty() {
            query.push(format!("marker={}", encode_segment(&marker)));
        }
        let url = if query.is_empty() {
            format!("{base}/")
        } else {
            format!("{base}/?{}", query.join("&"))
        };
        let page = parse_bucket_page(&get(protocol, &url, "", credentials, &base).await?)?;
        names.extend(page.buckets.bucket.into_iter().map(|b| b.name));
        // OBS has no paging; a truncated answer without a marker cannot be followed either.
        match page
            .next_marker
            .filter(|m| page.is_truncated && !m.is_empty())
        {
            Some(next) if protocol != Protocol::Obs => marker = next,
            _ => return Ok(names),
        }
    }
    Err(Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("{base} lists more than {MAX_LIST_PAGES} pages of buckets"),
        temporary: false,
    })
}

/// Asks this region's endpoint for the bucket's location: `Some(region id)` when it holds the
/// bucket, `None` when it is missing, refused or unreachable there.
pub(super) async fn bucket_location(
    entry: &RegionEntry,
    bucket: &str,
    credentials: &Credentials,
) -> Result<Option<String>> {
    let protocol = entry.protocol();
    let base = endpoint_base(&entry.endpoint)?;
    let url = format!("{}/?location", bucket_base(&entry.endpoint, bucket)?);
    match get(protocol, &url, bucket, credentials, &base).await {
        Ok(text) => Ok(Some(parse_location(protocol, &text))),
        Err(Error::Storage { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// `scheme://host[:port]` of an endpoint, without a trailing `/`.
fn endpoint_base(endpoint: &str) -> Result<String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| Error::invalid("endpoint", format!("{endpoint} is not a URL")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => Ok(format!("{scheme}://{authority}")),
        _ => Err(Error::invalid(
            "endpoint",
            format!("{endpoint} names no scheme and host"),
        )),
    }
}

/// `scheme://bucket.host[:port]`: the bucket's virtual host, the endpoint's port kept (an
/// endpoint that already starts with the bucket is taken as the bucket's host).
fn bucket_base(endpoint: &str, bucket: &str) -> Result<String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| Error::invalid("endpoint", format!("{endpoint} is not a URL")))?;
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(Error::invalid(
            "endpoint",
            format!("{endpoint} names no scheme and host"),
        ));
    };
    let host = host.strip_prefix(&format!("{bucket}.")).unwrap_or(host);
    let authority = match uri.port_u16() {
        Some(port) => format!("{bucket}.{host}:{port}"),
        None => format!("{bucket}.{host}"),
    };
    // A bucket name that cannot be a host label is refused before any request.
    authority.parse::<http::uri::Authority>().map_err(|_| {
        Error::invalid(
            "bucket_name",
            format!("{bucket:?} cannot be a virtual-host bucket name"),
        )
    })?;
    Ok(format!("{scheme}://{authority}"))
}

/// One signed GET of `url` (`bucket` empty for a service-level request); the answer as text.
async fn get(
    protocol: Protocol,
    url: &str,
    bucket: &str,
    credentials: &Credentials,
    endpoint: &str,
) -> Result<String> {
    let mut parts = http::Request::get(url)
        .body(())
        .map_err(|err| Error::invalid("endpoint", format!("{endpoint}: {err}")))?
        .into_parts()
        .0;
    if !credentials.is_anonymous() {
        sign(protocol, &mut parts, bucket, credentials).await?;
    }
    // The route a task's requests to this vendor take: OpenDAL's HTTP client honours
    // HTTP(S)_PROXY, so the helper does too and reaches the bucket a task would.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|err| Error::invalid("endpoint", format!("HTTP client: {err}")))?;
    send_with(&client, parts, endpoint).await
}

async fn sign(
    protocol: Protocol,
    parts: &mut Parts,
    bucket: &str,
    creds: &Credentials,
) -> Result<()> {
    let context = reqsign_core::Context::new();
    let token = creds.security_token.as_ref().map(|t| t.expose().to_owned());
    let signed = match protocol {
        Protocol::Oss => {
            let credential = reqsign_aliyun_oss::Credential {
                access_key_id: creds.access_key.clone(),
                access_key_secret: creds.secret_key.expose().to_owned(),
                security_token: token,
                expires_in: None,
            };
            // With no bucket the signed resource is the path, `/`, as OSS documents for
            // GetService.
            reqsign_aliyun_oss::RequestSigner::new(bucket)
                .sign_request(&context, parts, Some(&credential), None)
                .await
        }
        Protocol::Obs if bucket.is_empty() => {
            return sign_obs_service_request(parts, creds, reqsign_core::time::Timestamp::now())
        }
        Protocol::Obs => {
            let credential = reqsign_huaweicloud_obs::Credential::new(
                creds.access_key.clone(),
                creds.secret_key.expose().to_owned(),
                token,
            );
            reqsign_huaweicloud_obs::RequestSigner::new(bucket)
                .sign_request(&context, parts, Some(&credential), None)
                .await
        }
        Protocol::Cos => {
            let credential = reqsign_tencent_cos::Credential {
                secret_id: creds.access_key.clone(),
                secret_key: creds.secret_key.expose().to_owned(),
                security_token: token,
                expires_in: None,
            };
            reqsign_tencent_cos::RequestSigner::new()
                .sign_request(&context, parts, Some(&credential), None)
                .await
        }
        other => {
            return Err(Error::invalid(
                "cloud_type",
                format!("{other:?} is not a native vendor protocol"),
            ))
        }
    };
    // reqsign's messages name the failing step, never the key.
    signed.map_err(|err| Error::invalid("sk", format!("signing the request: {err}")))
}

/// Signs an OBS request that names no bucket (ListBuckets): `Authorization: OBS ak:signature`
/// over `GET\n\n\n{Date}\n{x-obs-* headers}/` (OBS "Authentication of Signature in a Header":
/// the CanonicalizedResource of a request without a bucket is `/`).
fn sign_obs_service_request(
    parts: &mut Parts,
    creds: &Credentials,
    now: reqsign_core::time::Timestamp,
) -> Result<()> {
    let header = |value: &str| {
        http::HeaderValue::from_str(value)
            .map_err(|_| Error::invalid("sk", "the credentials are not valid header text"))
    };
    let date = now.format_http_date();
    parts.headers.insert(http::header::DATE, header(&date)?);
    let mut obs_headers = String::new();
    if let Some(token) = &creds.security_token {
        let mut value = header(token.expose())?;
        value.set_sensitive(true);
        parts.headers.insert("x-obs-security-token", value);
        obs_headers = format!("x-obs-security-token:{}\n", token.expose());
    }
    let string_to_sign = format!("{}\n\n\n{date}\n{obs_headers}/", parts.method);
    let signature = reqsign_core::hash::base64_hmac_sha1(
        creds.secret_key.expose().as_bytes(),
        string_to_sign.as_bytes(),
    );
    let mut authorization = header(&format!("OBS {}:{signature}", creds.access_key))?;
    authorization.set_sensitive(true);
    parts
        .headers
        .insert(http::header::AUTHORIZATION, authorization);
    Ok(())
}

/// One page of `ListAllMyBucketsResult` as OSS, OBS and COS send it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BucketPage {
    #[serde(default)]
    buckets: Buckets,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Buckets {
    #[serde(default)]
    bucket: Vec<Bucket>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Bucket {
    name: String,
    /// The bucket's region (OBS, COS) or OSS region id; kept for the tests of the format.
    #[serde(default)]
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the format tests"))]
    location: String,
}

fn parse_bucket_page(xml: &str) -> Result<BucketPage> {
    quick_xml::de::from_str(xml).map_err(|err| Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("the bucket list answer is not ListAllMyBucketsResult XML: {err}"),
        temporary: false,
    })
}

/// The text of the root element, whatever its name (`LocationConstraint` on OSS and COS,
/// `Location` on OBS).
#[derive(Debug, Default, serde::Deserialize)]
struct RootText {
    #[serde(rename = "$text", default)]
    text: String,
}

/// The region id a GetBucketLocation answer names, as tern's region table spells it; empty when
/// the answer names none.
fn parse_location(protocol: Protocol, xml: &str) -> String {
    let text = quick_xml::de::from_str::<RootText>(xml)
        .map(|root| root.text.trim().to_owned())
        .unwrap_or_default();
    match protocol {
        Protocol::Cos => text.strip_prefix("cos.").unwrap_or(&text).to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_oss_bucket_list_parses_names_and_paging() {
        // The shape of OSS's documented GetService answer, truncated.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult>
  <Prefix></Prefix><Marker></Marker><MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated><NextMarker>app-b</NextMarker>
  <Owner><ID>51264</ID><DisplayName>51264</DisplayName></Owner>
  <Buckets>
    <Bucket><CreationDate>2015-12-17T18:12:43.000Z</CreationDate>
      <ExtranetEndpoint>oss-cn-shanghai.aliyuncs.com</ExtranetEndpoint>
      <IntranetEndpoint>oss-cn-shanghai-internal.aliyuncs.com</IntranetEndpoint>
      <Location>oss-cn-shanghai</Location><Name>app-a</Name><Region>cn-shanghai</Region>
      <StorageClass>Standard</StorageClass></Bucket>
    <Bucket><Location>oss-cn-hangzhou</Location><Name>app-b</Name></Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let page = parse_bucket_page(xml).unwrap();
        let names: Vec<_> = page
            .buckets
            .bucket
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(names, ["app-a", "app-b"]);
        assert_eq!(page.buckets.bucket[0].location, "oss-cn-shanghai");
        assert!(page.is_truncated);
        assert_eq!(page.next_marker.as_deref(), Some("app-b"));
    }

    #[test]
    fn test_obs_and_cos_bucket_lists_parse() {
        let obs = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ListAllMyBucketsResult xmlns="http://obs.cn-north-4.myhuaweicloud.com/doc/2015-06-30/">
  <Owner><ID>783fc6652cf246c096ea836694f71855</ID></Owner>
  <Buckets>
    <Bucket><Name>examplebucket01</Name><CreationDate>2018-06-21T09:15:01.032Z</CreationDate>
      <Location>cn-north-4</Location><BucketType>OBJECT</BucketType></Bucket>
    <Bucket><Name>a&amp;b</Name><Location>cn-east-3</Location></Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let page = parse_bucket_page(obs).unwrap();
        let names: Vec<_> = page
            .buckets
            .bucket
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(names, ["examplebucket01", "a&b"]);
        assert_eq!(page.buckets.bucket[1].location, "cn-east-3");
        assert!(!page.is_truncated && page.next_marker.is_none());

        let cos = r#"<ListAllMyBucketsResult>
  <Owner><ID>qcs::cam::uin/100000000001:uin/100000000001</ID><DisplayName>100000000001</DisplayName></Owner>
  <Marker/><NextMarker/><IsTruncated>false</IsTruncated>
  <Buckets>
    <Bucket><Name>examplebucket1-1250000000</Name><Location>ap-beijing</Location>
      <CreationDate>2019-05-24T11:49:50Z</CreationDate><BucketType>cos</BucketType></Bucket>
  </Buckets>
</ListAllMyBucketsResult>"#;
        let page = parse_bucket_page(cos).unwrap();
        assert_eq!(page.buckets.bucket[0].name, "examplebucket1-1250000000");
        assert_eq!(page.buckets.bucket[0].location, "ap-beijing");
        assert!(!page.is_truncated);

        let empty =
            parse_bucket_page("<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>")
                .unwrap();
        assert!(empty.buckets.bucket.is_empty());
        assert!(parse_bucket_page("<Error><Code>AccessDenied</Code>").is_err());
    }

    #[test]
    fn test_locations_parse_per_vendor() {
        assert_eq!(
            parse_location(
                Protocol::Oss,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint>oss-cn-hangzhou</LocationConstraint >"
            ),
            "oss-cn-hangzhou"
        );
        assert_eq!(
            parse_location(
                Protocol::Obs,
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Location xmlns="http://obs.cn-north-4.myhuaweicloud.com/doc/2015-06-30/">cn-north-4</Location>"#
            ),
            "cn-north-4"
        );
        assert_eq!(
            parse_location(
                Protocol::Cos,
                "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><LocationConstraint>ap-beijing</LocationConstraint>"
            ),
            "ap-beijing"
        );
        assert_eq!(
            parse_location(
                Protocol::Cos,
                "<LocationConstraint>cos.ap-beijing</LocationConstraint>"
            ),
            "ap-beijing"
        );
        assert_eq!(parse_location(Protocol::Oss, "not xml <"), "");
    }

    #[test]
    fn test_virtual_host_keeps_the_port() {
        assert_eq!(
            bucket_base("http://obs.local.test:8999", "bkt").unwrap(),
            "http://bkt.obs.local.test:8999"
        );
        assert_eq!(
            bucket_base("https://bkt.oss-cn-hangzhou.aliyuncs.com/", "bkt").unwrap(),
            "https://bkt.oss-cn-hangzhou.aliyuncs.com"
        );
        assert!(bucket_base("https://cos.ap-beijing.myqcloud.com", "a b").is_err());
        assert_eq!(
            endpoint_base("https://cos.ap-beijing.myqcloud.com/").unwrap(),
            "https://cos.ap-beijing.myqcloud.com"
        );
    }

    #[test]
    fn test_obs_service_signature_signs_slash() {
        // Expected values computed independently (Python hmac + base64) over
        // `GET\n\n\n{date}\n/` and, with a token, `…\nx-obs-security-token:TOKEN\n/`.
        let now = reqsign_core::time::Timestamp::from_second(1_700_000_000).unwrap();
        let sign = |creds: &Credentials| {
            let mut parts = http::Request::get("http://obs.example.com/")
                .body(())
                .unwrap()
                .into_parts()
                .0;
            sign_obs_service_request(&mut parts, creds, now).unwrap();
            parts
        };
        let parts = sign(&Credentials::access_key("AK", "SK"));
        assert_eq!(parts.headers["date"], "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            parts.headers["authorization"],
            "OBS AK:Pw3emB9YOrFxDGJGiCBZI45JfDo="
        );
        let mut with_token = Credentials::access_key("AK", "SK");
        with_token.security_token = Some("TOKEN".into());
        let parts = sign(&with_token);
        assert_eq!(parts.headers["x-obs-security-token"], "TOKEN");
        assert_eq!(
            parts.headers["authorization"],
            "OBS AK:3CQEh0/bMsQTVchA1KjOloWRHHw="
        );
    }
}
