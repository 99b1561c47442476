//! Azurite (Azure Blob emulator) on 127.0.0.1, and a small Shared Key blob client that checks
//! results independently of the code under test.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use sha2::Sha256;
use tokio::sync::OnceCell;

use crate::process::{self, Launch, Ready, ServerProcess};
use crate::{bucket_name, READY_TIMEOUT, START_ATTEMPTS};

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The development account's well-known key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const API_VERSION: &str = "2021-08-06";

/// A running Azurite blob service. Killed on Drop.
pub struct AzuriteServer {
    blob_endpoint: String,
    process: ServerProcess,
}

impl std::fmt::Debug for AzuriteServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzuriteServer")
            .field("blob_endpoint", &self.blob_endpoint)
            .finish()
    }
}

impl AzuriteServer {
    /// Starts `azurite-blob` (from PATH) on a free port with an in-directory store.
    pub async fn start() -> Result<AzuriteServer> {
        let mut attempt = 1;
        loop {
            let port = process::free_port();
            let dir = tempfile::Builder::new()
                .prefix("tern-testkit-azurite-")
                .tempdir()
                .context("creating a temp dir for Azurite")?;
            let launch = Launch {
                program: "azurite-blob",
                args: vec![
                    "--blobHost".into(),
                    "127.0.0.1".into(),
                    "--blobPort".into(),
                    port.to_string(),
                    "--location".into(),
                    dir.path().display().to_string(),
                    "--skipApiVersionCheck".into(),
                    "--loose".into(),
                ],
                envs: Vec::new(),
                cleanup: Vec::new(),
            };
            let probe = format!("http://127.0.0.1:{port}/");
            match process::start(
                "Azurite",
                &launch,
                dir,
                &probe,
                Ready::AnyStatus,
                READY_TIMEOUT,
            )
            .await
            {
                Ok(process) => {
                    return Ok(AzuriteServer {
                        blob_endpoint: format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"),
                        process,
                    })
                }
                Err(failure) if failure.port_conflict && attempt < START_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// A process-wide shared server, started on first use; tests use their own containers.
    pub async fn shared() -> Result<&'static AzuriteServer> {
        static SERVER: OnceCell<AzuriteServer> = OnceCell::const_new();
        SERVER.get_or_try_init(AzuriteServer::start).await
    }

    /// The account's blob endpoint, `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn blob_endpoint(&self) -> &str {
        &self.blob_endpoint
    }

    /// A connection string as Azure portals print it, naming this server's blob endpoint.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={};",
            self.blob_endpoint
        )
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// An independent Shared Key client for this server.
    pub fn client(&self) -> AzureClient {
        AzureClient {
            endpoint: self.blob_endpoint.clone(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }

    /// Creates a container with a unique name and returns it.
    pub async fn new_container(&self, prefix: &str) -> Result<String> {
        let name = bucket_name(prefix);
        self.client().create_container(&name).await?;
        Ok(name)
    }
}

/// A blob's bytes and properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// The bytes.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// User metadata (`x-ms-meta-*`), names lowercased.
    pub user_metadata: BTreeMap<String, String>,
}

/// A minimal Azure Blob client signing with the account key (Shared Key).
#[derive(Clone, Debug)]
pub struct AzureClient {
    endpoint: String,
    http: reqwest::Client,
}

/// Percent-encodes a blob name for a URL path, keeping `/`.
fn encode_path(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl AzureClient {
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        let date = httpdate(std::time::SystemTime::now());
        let mut ms_headers: BTreeMap<String, String> = BTreeMap::new();
        ms_headers.insert("x-ms-date".into(), date);
        ms_headers.insert("x-ms-version".into(), API_VERSION.into());
        let mut content_type = String::new();
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if lower == "content-type" {
                content_type = value.clone();
            } else if lower.starts_with("x-ms-") {
                ms_headers.insert(lower, value.clone());
            }
        }
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let mut canonical_headers = String::new();
        for (name, value) in &ms_headers {
            canonical_headers.push_str(&format!("{name}:{value}\n"));
        }
        // The path as sent (encoded), under the account: `/account/account/container/blob`.
        let url_path = format!("/{AZURITE_ACCOUNT}{path}");
        let mut resource = format!("/{AZURITE_ACCOUNT}{url_path}");
        let mut sorted: Vec<(&str, &str)> = query.to_vec();
        sorted.sort();
        for (name, value) in &sorted {
            resource.push_str(&format!("\n{}:{}", name.to_ascii_lowercase(), value));
        }
        let string_to_sign = format!(
            "{}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\n{canonical_headers}{resource}",
            method.as_str()
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .context("decoding the account key")?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).context("HMAC key")?;
        mac.update(string_to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());

        let base = self
            .endpoint
            .trim_end_matches(&format!("/{AZURITE_ACCOUNT}"));
        let mut url = reqwest::Url::parse(&format!("{base}{url_path}")).context("blob URL")?;
        for (name, value) in query {
            url.query_pairs_mut().append_pair(name, value);
        }
        let method_needs_length = method == Method::PUT;
        let mut request = self.http.request(method, url).header(
            "Authorization",
            format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
        );
        for (name, value) in &ms_headers {
            request = request.header(name, value);
        }
        if !content_type.is_empty() {
            request = request.header("Content-Type", &content_type);
        }
        if body.is_empty() && method_needs_length {
            request = request.header("Content-Length", "0");
        }
        Ok(request.body(body).send().await?)
    }

    /// Creates a container.
    pub async fn create_container(&self, container: &str) -> Result<()> {
        let resp = self
            .send(
                Method::PUT,
                &format!("/{container}"),
                &[("restype", "container")],
                &[],
                Vec::new(),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            bail!(
                "create container {container}: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Uploads a block blob in one request.
    pub async fn put_blob(
        &self,
        container: &str,
        name: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        metadata: &[(&str, &str)],
    ) -> Result<()> {
        let mut headers = vec![("x-ms-blob-type", "BlockBlob".to_owned())];
        if let Some(content_type) = content_type {
            headers.push(("Content-Type", content_type.to_owned()));
        }
        let names: Vec<String> = metadata
            .iter()
            .map(|(name, _)| format!("x-ms-meta-{name}"))
            .collect();
        for ((_, value), name) in metadata.iter().zip(&names) {
            headers.push((name.as_str(), (*value).to_owned()));
        }
        let path = format!("/{container}/{}", encode_path(name));
        let resp = self.send(Method::PUT, &path, &[], &headers, body).await?;
        if resp.status() != StatusCode::CREATED {
            bail!(
                "put blob {name:?}: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Downloads a blob; `None` if it does not exist.
    pub async fn get_blob(&self, container: &str, name: &str) -> Result<Option<Blob>> {
        let path = format!("/{container}/{}", encode_path(name));
        let resp = self.send(Method::GET, &path, &[], &[], Vec::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            bail!("get blob {name:?}: {}", resp.status());
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let user_metadata = resp
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                let name = name.as_str().strip_prefix("x-ms-meta-")?;
                Some((name.to_ascii_lowercase(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let body = resp.bytes().await?.to_vec();
        Ok(Some(Blob {
            body,
            content_type,
            user_metadata,
        }))
    }

    /// Every blob name in a container, in the server's order.
    pub async fn list_blobs(&self, container: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![("restype", "container"), ("comp", "list")];
            if !marker.is_empty() {
                query.push(("marker", marker.as_str()));
            }
            let resp = self
                .send(
                    Method::GET,
                    &format!("/{container}"),
                    &query,
                    &[],
                    Vec::new(),
                )
                .await?;
            if !resp.status().is_success() {
                bail!("list blobs: {}", resp.status());
            }
            let text = resp.text().await?;
            names.extend(xml_values(&text, "Name"));
            marker = xml_values(&text, "NextMarker")
                .into_iter()
                .next()
                .unwrap_or_default();
            if marker.is_empty() {
                return Ok(names);
            }
        }
    }
}

/// The text of every `<tag>…</tag>`, XML entities decoded.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(
            rest[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[end + close.len()..];
    }
    out
}

/// An RFC 1123 date (`x-ms-date`).
fn httpdate(time: std::time::SystemTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(time)
        .format(&format)
        .unwrap_or_default()
}
