//! A minimal path-style S3 client, independent of the code under test.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode, Url};
use time::OffsetDateTime;

use crate::listxml::{parse_list_page, parse_uploads_page};
use crate::sigv4::{self, Credentials, SignedRequest};

/// Minimal path-style S3 client with AWS SigV4 signing (hmac + sha2), used by tests to seed and check buckets.
#[derive(Clone, Debug)]
pub struct S3Client {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    http: reqwest::Client,
}

/// An object's body and the metadata a GET returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectData {
    /// The object's bytes.
    pub body: Vec<u8>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// User metadata: lowercase names without the `x-amz-meta-` prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// The `Last-Modified` header as sent by the server.
    pub last_modified: Option<String>,
}

/// An object's metadata as a HEAD returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHead {
    /// The `Content-Length` of the object.
    pub size: u64,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// User metadata: lowercase names without the `x-amz-meta-` prefix.
    pub user_metadata: BTreeMap<String, String>,
    /// The `ETag` header as sent by the server (usually quoted).
    pub etag: Option<String>,
    /// The `Last-Modified` header as sent by the server.
    pub last_modified: Option<String>,
    /// The `x-amz-storage-class` header (servers leave it out for STANDARD).
    pub storage_class: Option<String>,
}

/// Attempts of a seeding PUT that the server answers with a 5xx.
const PUT_ATTEMPTS: u64 = 4;

impl S3Client {
    /// Creates a client for `endpoint` (`http://host:port`, no path) with static credentials.
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> S3Client {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        S3Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: region.to_string(),
            http,
        }
    }

    /// Creates a bucket (CreateBucket, no location constraint).
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let resp = self
            .send(Method::PUT, bucket, None, &[], Vec::new(), Vec::new())
            .await?;
        check(resp, &format!("create bucket {bucket:?}")).await?;
        Ok(())
    }

    /// Uploads an object in one PUT with an optional content type and user metadata.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        user_metadata: &[(&str, &str)],
    ) -> Result<()> {
        let mut headers = Vec::new();
        if let Some(content_type) = content_type {
            headers.push(("content-type".to_string(), content_type.to_string()));
        }
        for (name, value) in user_metadata {
            headers.push((
                format!("x-amz-meta-{}", name.to_ascii_lowercase()),
                value.to_string(),
            ));
        }
        // SeaweedFS answers an occasional 500 while it grows a volume under load (seen in CI
        // runs with the disk far from full); a test's seeding retries that, never other codes.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .send(
                    Method::PUT,
                    bucket,
                    Some(key),
                    &[],
                    headers.clone(),
                    body.clone(),
                )
                .await?;
            if resp.status().is_server_error() && attempt < PUT_ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                continue;
            }
            check(resp, &format!("put object {bucket:?}/{key:?}")).await?;
            return Ok(());
        }
    }

    /// Downloads an object. Returns None on 404.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectData>> {
        let resp = self
            .send(Method::GET, bucket, Some(key), &[], Vec::new(), Vec::new())
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let what = format!("get object {bucket:?}/{key:?}");
        let resp = check(resp, &what).await?;
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("{what}: reading the body"))?;
        Ok(Some(ObjectData {
            body: body.to_vec(),
            content_type: header(&headers, "content-type"),
            user_metadata: user_metadata(&headers),
            last_modified: header(&headers, "last-modified"),
        }))
    }

    /// Reads an object's metadata with HEAD. Returns None on 404.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectHead>> {
        let resp = self
            .send(Method::HEAD, bucket, Some(key), &[], Vec::new(), Vec::new())
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let what = format!("head object {bucket:?}/{key:?}");
        let resp = check(resp, &what).await?;
        let headers = resp.headers();
        // Read the header itself: for HEAD, reqwest's content_length() reports the (empty) body.
        let size = header(headers, "content-length")
            .with_context(|| format!("{what}: no Content-Length header"))?
            .parse::<u64>()
            .with_context(|| format!("{what}: bad Content-Length header"))?;
        Ok(Some(ObjectHead {
            size,
            content_type: header(headers, "content-type"),
            user_metadata: user_metadata(headers),
            etag: header(headers, "etag"),
            last_modified: header(headers, "last-modified"),
            storage_class: header(headers, "x-amz-storage-class"),
        }))
    }

    /// Deletes an object (S3 answers success for a missing key too).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let resp = self
            .send(
                Method::DELETE,
                bucket,
                Some(key),
                &[],
                Vec::new(),
                Vec::new(),
            )
            .await?;
        check(resp, &format!("delete object {bucket:?}/{key:?}")).await?;
        Ok(())
    }

    /// All keys under prefix (ListObjectsV2, follows continuation tokens), in server order.
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        self.list_keys_paged(bucket, prefix, None).await
    }

    /// [`S3Client::list_keys`] with an explicit page size (`max-keys`).
    pub(crate) async fn list_keys_paged(
        &self,
        bucket: &str,
        prefix: &str,
        max_keys: Option<u32>,
    ) -> Result<Vec<String>> {
        let max_keys = max_keys.map(|n| n.to_string());
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2")];
            if !prefix.is_empty() {
                query.push(("prefix", prefix));
            }
            if let Some(max_keys) = &max_keys {
                query.push(("max-keys", max_keys));
            }
            if let Some(token) = &token {
                query.push(("continuation-token", token));
            }
            let resp = self
                .send(Method::GET, bucket, None, &query, Vec::new(), Vec::new())
                .await?;
            let what = format!("list objects in {bucket:?} under {prefix:?}");
            let xml = check(resp, &what)
                .await?
                .text()
                .await
                .with_context(|| format!("{what}: reading the body"))?;
            let page = parse_list_page(&xml).with_context(|| format!("{what}: {xml}"))?;
            keys.extend(page.keys);
            match page.next_token {
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                Some(next) => bail!("{what}: server repeated continuation token {next:?}"),
                None => return Ok(keys),
            }
        }
    }

    /// Starts a multipart upload (CreateMultipartUpload) and returns its upload id.
    pub async fn create_multipart_upload(&self, bucket: &str, key: &str) -> Result<String> {
        let resp = self
            .send(
                Method::POST,
                bucket,
                Some(key),
                &[("uploads", "")],
                Vec::new(),
                Vec::new(),
            )
            .await?;
        let what = format!("create multipart upload {bucket:?}/{key:?}");
        let xml = check(resp, &what).await?.text().await?;
        let start = xml
            .find("<UploadId>")
            .with_context(|| format!("{what}: no <UploadId> in {xml}"))?;
        let rest = &xml[start + "<UploadId>".len()..];
        let end = rest
            .find("</UploadId>")
            .with_context(|| format!("{what}: unterminated <UploadId> in {xml}"))?;
        Ok(rest[..end].to_string())
    }

    /// Multipart uploads in progress in `bucket` (ListMultipartUploads, every page), as
    /// `(key, upload id)`.
    pub async fn list_multipart_uploads(&self, bucket: &str) -> Result<Vec<(String, String)>> {
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut query = vec![("uploads", "")];
            if let Some((key, id)) = &markers {
                query.push(("key-marker", key));
                query.push(("upload-id-marker", id));
            }
            let resp = self
                .send(Method::GET, bucket, None, &query, Vec::new(), Vec::new())
                .await?;
            let what = format!("list multipart uploads in {bucket:?}");
            let xml = check(resp, &what).await?.text().await?;
            let page = parse_uploads_page(&xml).with_context(|| format!("{what}: {xml}"))?;
            uploads.extend(page.uploads);
            match page.next_markers {
                Some(next) if markers.as_ref() != Some(&next) => markers = Some(next),
                Some(next) => bail!("{what}: server repeated markers {next:?}"),
                None => return Ok(uploads),
            }
        }
    }

    /// Signs and sends one request. `key` None addresses the bucket itself.
    async fn send(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Response> {
        let mut path = format!("/{}", sigv4::uri_encode(bucket, true));
        if let Some(key) = key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(key, false));
        }
        let query = sigv4::canonical_query(query);
        let url_text = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let url =
            Url::parse(&url_text).with_context(|| format!("invalid request URL {url_text:?}"))?;
        // The signature covers the path as we encoded it; make sure the URL library sends exactly
        // that (it would fold `.`/`..` segments, and an endpoint with a path is not supported).
        if url.path() != path || url.query().unwrap_or("") != query {
            bail!(
                "the URL library would send {url_text:?} as {:?}; keys with `.` or `..` path \
                 segments, and endpoints with a path, are not supported by this test client",
                url.as_str()
            );
        }
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => bail!("endpoint {:?} has no host", self.endpoint),
        };
        let payload_hash = sigv4::sha256_hex(&body);
        let amz_date = sigv4::amz_date(OffsetDateTime::now_utc());
        headers.push(("host".to_string(), host));
        headers.push(("x-amz-content-sha256".to_string(), payload_hash.clone()));
        headers.push(("x-amz-date".to_string(), amz_date.clone()));
        let creds = Credentials {
            access_key: &self.access_key,
            secret_key: &self.secret_key,
            region: &self.region,
        };
        let authorization = sigv4::authorization(
            &creds,
            &SignedRequest {
                method: method.as_str(),
                uri: &path,
                query: &query,
                headers: &headers,
                payload_hash: &payload_hash,
                amz_date: &amz_date,
            },
        );
        let mut request = self.http.request(method.clone(), url);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request
            .header("authorization", authorization)
            .body(body)
            .send()
            .await
            .with_context(|| format!("{method} {url_text} failed"))
    }
}

/// Turns a non-2xx response into an error carrying the status and the body.
async fn check(resp: Response, what: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    bail!("{what}: HTTP {status}: {body}")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

fn user_metadata(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().to_ascii_lowercase();
            let short = name.strip_prefix("x-amz-meta-")?;
            Some((
                short.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_url_keeps_encoded_path_verbatim() {
        let path = format!(
            "/bucket/{}",
            sigv4::uri_encode("a//b/ü x+%?#/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10", false)
        );
        let url = Url::parse(&format!(
            "http://127.0.0.1:9{path}?list-type=2&prefix=a%2Fb"
        ))
        .map(|u| (u.path().to_string(), u.query().map(str::to_string)))
        .ok();
        assert_eq!(
            url,
            Some((path, Some("list-type=2&prefix=a%2Fb".to_string())))
        );
    }

    #[tokio::test]
    async fn test_dot_segments_are_refused_not_rewritten() {
        let client = S3Client::new("http://127.0.0.1:9", "a", "b", "us-east-1");
        for key in ["a/../b", "./a", "a/."] {
            let err = client.put_object("bkt", key, vec![], None, &[]).await;
            let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains("not supported"), "{key}: {msg}");
        }
    }
}
