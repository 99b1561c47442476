//! A local stand-in for Aliyun OSS, Huawei OBS or Tencent COS in front of a real SeaweedFS.
//!
//! It takes virtual-host requests (`Host: bucket.domain:port`), checks the vendor's signature
//! with the independent implementations in `vendor_sign.rs` (403 `SignatureDoesNotMatch` when it
//! fails), and forwards the request path-style to SeaweedFS, re-signed with SigV4, translating
//! the vendor's `x-{oss,obs,cos}-meta-*` and `x-…-copy-source` headers to S3's and back.
//!
//! Service-level requests (`Host: domain:port`, no bucket) are ListBuckets (GetService) only:
//! the bucket names come from SeaweedFS and the answer is written in the vendor's own XML, each
//! bucket located in the region the domain names, as the vendor's endpoint would
//! ([`VendorProxy::region`]); OSS and COS page it with `marker` / `max-keys` (OSS's default page
//! is 100). GetBucketLocation (`GET /?location` on a bucket) is checked against SeaweedFS (the
//! bucket must exist there) and answered in the vendor's XML with that region.
//!
//! Clients reach it under its virtual-host names in two ways, neither touching `/etc/hosts`: a
//! resolver override in the client (`reqwest::ClientBuilder::resolve`, see [`VendorProxy::resolve`])
//! or, for a `tern` child process, as its HTTP proxy (`HTTP_PROXY`, see
//! [`VendorProxy::proxy_url`]): requests then arrive in absolute form with the same `Host`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use time::OffsetDateTime;

use crate::sigv4::{self, Credentials, SignedRequest};
use crate::vendor_sign::{self, SignedParts};
use crate::S3Server;

/// The access key the proxies accept (each vendor's own, not SeaweedFS's).
pub const VENDOR_ACCESS_KEY: &str = "TERNVENDORTESTAK0001";
/// The secret key the proxies check signatures with.
pub const VENDOR_SECRET_KEY: &str = "ternVendorTestSecretKey0123456789abcdef";

/// Which vendor's protocol the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Aliyun OSS, signature V1 (`Authorization: OSS ak:signature`).
    Oss,
    /// Huawei Cloud OBS (`Authorization: OBS ak:signature`).
    Obs,
    /// Tencent COS (`Authorization: q-sign-algorithm=sha1&…`).
    Cos,
}

impl Vendor {
    /// The region an endpoint domain of this vendor names, as the vendor spells region ids:
    /// OSS `oss-cn-hangzhou.aliyuncs.com` → `oss-cn-hangzhou`; OBS
    /// `obs.cn-north-4.myhuaweicloud.com` → `cn-north-4`; COS `cos.ap-beijing.myqcloud.com` →
    /// `ap-beijing`.
    pub fn region_of(self, domain: &str) -> String {
        let mut labels = domain.split('.');
        let first = labels.next().unwrap_or_default();
        match self {
            Vendor::Oss => first.to_owned(),
            Vendor::Obs | Vendor::Cos => labels.next().unwrap_or(first).to_owned(),
        }
    }

    /// The prefix of the vendor's own headers, `x-oss-`, `x-obs-` or `x-cos-`.
    pub fn header_prefix(self) -> &'static str {
        match self {
            Vendor::Oss => "x-oss-",
            Vendor::Obs => "x-obs-",
            Vendor::Cos => "x-cos-",
        }
    }
}

struct ProxyState {
    /// Each vendor spoken and the domain its buckets are virtual hosts of.
    domains: Vec<(Vendor, String)>,
    port: u16,
    upstream: String,
    upstream_access_key: String,
    upstream_secret_key: String,
    upstream_region: String,
    client: reqwest::Client,
    verified: AtomicU64,
    refusals: Mutex<Vec<String>>,
}

/// A running proxy; stops when dropped.
pub struct VendorProxy {
    address: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VendorProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VendorProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream`, speaking each vendor's
    /// protocol for the buckets under its domain (`*.{domain}`, a name nobody resolves such as
    /// `oss.tern.test`; one proxy serves several vendors, as one `HTTP_PROXY` must).
    pub async fn start(upstream: &S3Server, domains: &[(Vendor, &str)]) -> Result<VendorProxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the vendor proxy")?;
        let address = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            domains: domains
                .iter()
                .map(|(vendor, domain)| (*vendor, (*domain).to_owned()))
                .collect(),
            port: address.port(),
            upstream: upstream.endpoint().to_owned(),
            upstream_access_key: upstream.access_key().to_owned(),
            upstream_secret_key: upstream.secret_key().to_owned(),
            upstream_region: upstream.region().to_owned(),
            client: reqwest::Client::builder().no_proxy().build()?,
            verified: AtomicU64::new(0),
            refusals: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(VendorProxy {
            address,
            state,
            task,
        })
    }

    fn domain(&self, vendor: Vendor) -> &str {
        self.state
            .domains
            .iter()
            .find(|(v, _)| *v == vendor)
            .map(|(_, domain)| domain.as_str())
            .unwrap_or_else(|| panic!("the proxy was not started for {vendor:?}"))
    }

    /// The endpoint to give the client under test: `http://{domain}:{port}`.
    pub fn endpoint(&self, vendor: Vendor) -> String {
        format!("http://{}:{}", self.domain(vendor), self.state.port)
    }

    /// The virtual host of `bucket` and the address it must resolve to, for
    /// `reqwest::ClientBuilder::resolve`.
    pub fn resolve(&self, vendor: Vendor, bucket: &str) -> (String, SocketAddr) {
        (format!("{bucket}.{}", self.domain(vendor)), self.address)
    }

    /// The region the proxy locates every bucket of `vendor` in ([`Vendor::region_of`] its domain).
    pub fn region(&self, vendor: Vendor) -> String {
        vendor.region_of(self.domain(vendor))
    }

    /// `http://127.0.0.1:{port}`: the proxy as a child process's `HTTP_PROXY`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Requests whose signature verified so far.
    pub fn verified(&self) -> u64 {
        self.state.verified.load(Ordering::Relaxed)
    }

    /// Why each refused request was refused, in order.
    pub fn refusals(&self) -> Vec<String> {
        self.state
            .refusals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message></Error>",
        message
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

async fn handle(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    match serve(&state, request).await {
        Ok(response) => response,
        Err(err) => xml_error(StatusCode::BAD_GATEWAY, "ProxyError", &format!("{err:#}")),
    }
}

fn refuse(state: &ProxyState, status: StatusCode, code: &str, reason: String) -> Response {
    state
        .refusals
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(reason.clone());
    xml_error(status, code, &reason)
}

/// Decoded query pairs in wire order; a name without `=` has an empty value.
fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| crate::percent_decode(&text.replace('+', "%20"));
            (decode(name), decode(value))
        })
        .collect()
}

async fn serve(state: &ProxyState, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get("host")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // The port must be in the Host header: a client that drops it reaches another server.
    // `domain:port` alone is the service host: a request naming no bucket (empty `bucket`).
    let found = state.domains.iter().find_map(|(vendor, domain)| {
        let service_host = format!("{domain}:{}", state.port);
        if host == service_host {
            return Some((*vendor, domain.clone(), String::new()));
        }
        host.strip_suffix(&format!(".{service_host}"))
            .filter(|bucket| !bucket.is_empty())
            .map(|bucket| (*vendor, domain.clone(), bucket.to_owned()))
    });
    let Some((vendor, domain, bucket)) = found else {
        return Ok(refuse(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidHost",
            format!(
                "host {host:?} is neither domain:{port} nor bucket.domain:{port}",
                port = state.port
            ),
        ));
    };
    let raw_path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            None => headers.push((name.as_str().to_owned(), value)),
        }
    }
    let signed = SignedParts {
        method: parts.method.as_str(),
        raw_path: &raw_path,
        query: &query,
        headers: &headers,
    };
    let verdict = match vendor {
        Vendor::Oss => vendor_sign::verify_v1(
            "OSS",
            &signed,
            &vendor_sign::oss_string_to_sign(&signed, &bucket),
            VENDOR_ACCESS_KEY,
            VENDOR_SECRET_KEY,
        ),
        Vendor::Obs => vendor_sign::verify_v1(
            "OBS",
            &signed,
            &vendor_sign::obs_string_to_sign(&signed, &bucket),
            VENDOR_ACCESS_KEY,
            VENDOR_SECRET_KEY,
        ),
        Vendor::Cos => vendor_sign::verify_cos(
            &signed,
            VENDOR_ACCESS_KEY,
            VENDOR_SECRET_KEY,
            OffsetDateTime::now_utc().unix_timestamp(),
        ),
    };
    if let Err(reason) = verdict {
        return Ok(refuse(
            state,
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            format!("{} {raw_path}: {reason}", parts.method),
        ));
    }
    state.verified.fetch_add(1, Ordering::Relaxed);
    let body = to_bytes(body, usize::MAX).await?;
    let region = vendor.region_of(&domain);
    if bucket.is_empty() {
        if parts.method != axum::http::Method::GET || raw_path != "/" {
            return Ok(refuse(
                state,
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!(
                    "{} {raw_path} on the service host: only GET / (ListBuckets)",
                    parts.method
                ),
            ));
        }
        return list_buckets(state, vendor, &region, &query, &headers).await;
    }
    let is_location = parts.method == axum::http::Method::GET
        && raw_path == "/"
        && query.len() == 1
        && query[0].0 == "location";
    let response = forward(
        state,
        vendor,
        &parts.method,
        &bucket,
        &raw_path,
        &query,
        &headers,
        body,
    )
    .await?;
    if is_location && response.status().is_success() {
        return Ok(xml_answer(location_xml(vendor, &region)));
    }
    Ok(response)
}

fn xml_answer(body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// ListBuckets: SeaweedFS's bucket names in the vendor's `ListAllMyBucketsResult`, paged as
/// the vendor pages it (OSS: `marker`, `max-keys` 1–1000, default 100; COS: `marker`,
/// `max-keys` 1–2000, default 2000; OBS: unpaged).
async fn list_buckets(
    state: &ProxyState,
    vendor: Vendor,
    region: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> Result<Response> {
    let upstream = forward(
        state,
        vendor,
        &axum::http::Method::GET,
        "",
        "/",
        &[],
        headers,
        bytes::Bytes::new(),
    )
    .await?;
    if !upstream.status().is_success() {
        return Ok(upstream);
    }
    let text = to_bytes(upstream.into_body(), usize::MAX).await?;
    let mut names = crate::listxml::parse_bucket_names(&String::from_utf8_lossy(&text))?;
    names.sort();
    let param = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let (default_keys, most_keys) = match vendor {
        Vendor::Oss => (100, 1000),
        Vendor::Cos => (2000, 2000),
        Vendor::Obs => (usize::MAX, usize::MAX),
    };
    let max_keys = match param("max-keys") {
        Some(value) => match value.parse::<usize>() {
            Ok(n) if (1..=most_keys).contains(&n) => n,
            _ => {
                return Ok(refuse(
                    state,
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    format!("max-keys {value:?} is not 1..={most_keys}"),
                ))
            }
        },
        None => default_keys,
    };
    let marker = param("marker").unwrap_or_default().to_owned();
    let after: Vec<&String> = names
        .iter()
        .filter(|name| vendor == Vendor::Obs || name.as_str() > marker.as_str())
        .collect();
    let truncated = after.len() > max_keys;
    let page = &after[..after.len().min(max_keys)];
    let next_marker = if truncated {
        page.last().map(|name| name.as_str()).unwrap_or_default()
    } else {
        ""
    };
    Ok(xml_answer(bucket_list_xml(
        vendor,
        region,
        page,
        &marker,
        truncated.then_some(next_marker),
    )))
}

/// A `ListAllMyBucketsResult` as `vendor` writes it (the vendors' documented answers).
fn bucket_list_xml(
    vendor: Vendor,
    region: &str,
    names: &[&String],
    marker: &str,
    next_marker: Option<&str>,
) -> String {
    use crate::listxml::xml_escape;
    const CREATED: &str = "2025-01-01T00:00:00.000Z";
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match vendor {
        Vendor::Oss => {
            out.push_str("<ListAllMyBucketsResult>");
            if let Some(next) = next_marker {
                out.push_str(&format!(
                    "<Prefix></Prefix><Marker>{}</Marker><MaxKeys>{}</MaxKeys>\
                     <IsTruncated>true</IsTruncated><NextMarker>{}</NextMarker>",
                    xml_escape(marker),
                    names.len(),
                    xml_escape(next)
                ));
            }
            out.push_str("<Owner><ID>51264</ID><DisplayName>51264</DisplayName></Owner><Buckets>");
            for name in names {
                out.push_str(&format!(
                    "<Bucket><CreationDate>{CREATED}</CreationDate>\
                     <ExtranetEndpoint>{region}.aliyuncs.com</ExtranetEndpoint>\
                     <Location>{region}</Location><Name>{}</Name>\
                     <Region>{}</Region><StorageClass>Standard</StorageClass></Bucket>",
                    xml_escape(name),
                    region.trim_start_matches("oss-")
                ));
            }
        }
        Vendor::Obs => {
            out.push_str(&format!(
                "<ListAllMyBucketsResult xmlns=\"http://obs.{region}.myhuaweicloud.com/doc/2015-06-30/\">\
                 <Owner><ID>783fc6652cf246c096ea836694f71855</ID></Owner><Buckets>"
            ));
            for name in names {
                out.push_str(&format!(
                    "<Bucket><Name>{}</Name><CreationDate>{CREATED}</CreationDate>\
                     <Location>{region}</Location><BucketType>OBJECT</BucketType></Bucket>",
                    xml_escape(name)
                ));
            }
        }
        Vendor::Cos => {
            out.push_str(&format!(
                "<ListAllMyBucketsResult><Owner><ID>qcs::cam::uin/100000000001:uin/100000000001</ID>\
                 <DisplayName>100000000001</DisplayName></Owner><Marker>{}</Marker>\
                 <NextMarker>{}</NextMarker><IsTruncated>{}</IsTruncated><Buckets>",
                xml_escape(marker),
                xml_escape(next_marker.unwrap_or_default()),
                next_marker.is_some()
            ));
            for name in names {
                out.push_str(&format!(
                    "<Bucket><Name>{}</Name><Location>{region}</Location>\
                     <CreationDate>{CREATED}</CreationDate><BucketType>cos</BucketType></Bucket>",
                    xml_escape(name)
                ));
            }
        }
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    out
}

/// A GetBucketLocation answer as `vendor` writes it: OSS and COS `LocationConstraint`, OBS
/// `Location`.
fn location_xml(vendor: Vendor, region: &str) -> String {
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    match vendor {
        Vendor::Oss | Vendor::Cos => {
            format!("{head}<LocationConstraint>{region}</LocationConstraint>")
        }
        Vendor::Obs => format!(
            "{head}<Location xmlns=\"http://obs.{region}.myhuaweicloud.com/doc/2015-06-30/\">{region}</Location>"
        ),
    }
}

/// Request headers SeaweedFS gets as they are; the vendor's own are translated or dropped.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "content-md5",
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

#[allow(
    clippy::too_many_arguments,
    reason = "one request's parts, passed on once"
)]
async fn forward(
    state: &ProxyState,
    vendor: Vendor,
    method: &axum::http::Method,
    bucket: &str,
    raw_path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: bytes::Bytes,
) -> Result<Response> {
    let vendor_prefix = vendor.header_prefix();
    let key = crate::percent_decode(raw_path.trim_start_matches('/'));
    let mut path = format!("/{}", sigv4::uri_encode(bucket, true));
    if !key.is_empty() {
        path.push('/');
        path.push_str(&sigv4::uri_encode(&key, false));
    }
    let pairs: Vec<(&str, &str)> = query
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let canonical_query = sigv4::canonical_query(&pairs);
    let mut url = format!("{}{path}", state.upstream);
    if !canonical_query.is_empty() {
        url.push('?');
        url.push_str(&canonical_query);
    }
    let mut out_headers: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        if PASSED_HEADERS.contains(&name.as_str()) {
            out_headers.push((name.clone(), value.clone()));
        } else if let Some(rest) = name.strip_prefix(vendor_prefix) {
            if rest.starts_with("meta-") || rest == "copy-source" || rest == "metadata-directive" {
                out_headers.push((format!("x-amz-{rest}"), value.clone()));
            }
        }
    }
    let upstream_host = state
        .upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let payload_hash = sigv4::sha256_hex(&body);
    let amz_date = sigv4::amz_date(OffsetDateTime::now_utc());
    out_headers.push(("host".to_owned(), upstream_host));
    out_headers.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
    out_headers.push(("x-amz-date".to_owned(), amz_date.clone()));
    let authorization = sigv4::authorization(
        &Credentials {
            access_key: &state.upstream_access_key,
            secret_key: &state.upstream_secret_key,
            region: &state.upstream_region,
        },
        &SignedRequest {
            method: method.as_str(),
            uri: &path,
            query: &canonical_query,
            headers: &out_headers,
            payload_hash: &payload_hash,
            amz_date: &amz_date,
        },
    );
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes())?;
    let is_head = method == reqwest::Method::HEAD;
    let mut builder = state.client.request(method, &url);
    for (name, value) in &out_headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let upstream = builder
        .header("authorization", authorization)
        .body(body)
        .send()
        .await
        .with_context(|| format!("forwarding to {url}"))?;
    let status = StatusCode::from_u16(upstream.status().as_u16())?;
    let upstream_headers = upstream.headers().clone();
    let bytes = upstream.bytes().await?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &upstream_headers {
        let name = name.as_str();
        let relayed_length = is_head && name == "content-length";
        if !relayed_length && matches!(name, "transfer-encoding" | "connection" | "content-length")
        {
            continue;
        }
        let name = match name.strip_prefix("x-amz-meta-") {
            Some(rest) => format!("{vendor_prefix}meta-{rest}"),
            None => name.to_owned(),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}
