//! fake-gcs-server on 127.0.0.1, a JSON-API client that checks results independently of the code
//! under test, and a local OAuth token endpoint for service-account JSONs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Form, Json, Router};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::process::{self, Launch, Ready, ServerProcess};
use crate::{bucket_name, READY_TIMEOUT, START_ATTEMPTS};

/// A running fake-gcs-server (in-memory backend). Killed on Drop.
pub struct FakeGcsServer {
    endpoint: String,
    process: ServerProcess,
}

impl std::fmt::Debug for FakeGcsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGcsServer")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl FakeGcsServer {
    /// Starts `fake-gcs-server` (from PATH) over plain HTTP on a free port.
    pub async fn start() -> Result<FakeGcsServer> {
        let mut attempt = 1;
        loop {
            let port = process::free_port();
            let dir = tempfile::Builder::new()
                .prefix("tern-testkit-gcs-")
                .tempdir()
                .context("creating a temp dir for fake-gcs-server")?;
            let launch = Launch {
                program: "fake-gcs-server",
                args: vec![
                    "-scheme".into(),
                    "http".into(),
                    "-host".into(),
                    "127.0.0.1".into(),
                    "-port".into(),
                    port.to_string(),
                    "-backend".into(),
                    "memory".into(),
                    "-log-level".into(),
                    "warn".into(),
                ],
                envs: Vec::new(),
                cleanup: Vec::new(),
            };
            let endpoint = format!("http://127.0.0.1:{port}");
            let probe = format!("{endpoint}/storage/v1/b");
            match process::start(
                "fake-gcs-server",
                &launch,
                dir,
                &probe,
                Ready::Status(200),
                READY_TIMEOUT,
            )
            .await
            {
                Ok(process) => return Ok(FakeGcsServer { endpoint, process }),
                Err(failure) if failure.port_conflict && attempt < START_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// A process-wide shared server, started on first use; tests use their own buckets.
    pub async fn shared() -> Result<&'static FakeGcsServer> {
        static SERVER: OnceCell<FakeGcsServer> = OnceCell::const_new();
        SERVER.get_or_try_init(FakeGcsServer::start).await
    }

    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// An independent JSON-API client (fake-gcs-server does not check tokens).
    pub fn client(&self) -> GcsClient {
        GcsClient {
            endpoint: self.endpoint.clone(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }

    /// Creates a bucket with a unique name and returns it.
    pub async fn new_bucket(&self, prefix: &str) -> Result<String> {
        let name = bucket_name(prefix);
        self.client().create_bucket(&name).await?;
        Ok(name)
    }
}

/// An object's bytes and properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcsObject {
    /// The bytes.
    pub body: Vec<u8>,
    /// `contentType`.
    pub content_type: Option<String>,
    /// User metadata.
    pub user_metadata: BTreeMap<String, String>,
}

/// A minimal GCS JSON-API client.
#[derive(Clone, Debug)]
pub struct GcsClient {
    endpoint: String,
    http: reqwest::Client,
}

fn encode_component(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct ObjectResource {
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    items: Vec<ListItem>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ListItem {
    name: String,
}

impl GcsClient {
    /// Creates a bucket.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let resp = self
            .http
            .post(format!("{}/storage/v1/b?project=tern-test", self.endpoint))
            .header("Content-Type", "application/json")
            .body(serde_json::json!({ "name": bucket }).to_string())
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("create bucket {bucket}: {}", resp.status());
        }
        Ok(())
    }

    /// Uploads an object with its Content-Type and user metadata (a multipart upload of the
    /// JSON API: metadata part, then media part).
    pub async fn put_object(
        &self,
        bucket: &str,
        name: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        metadata: &[(&str, &str)],
    ) -> Result<()> {
        let boundary = "tern-testkit-boundary-7f3a";
        let meta: BTreeMap<&str, &str> = metadata.iter().copied().collect();
        let mut resource = serde_json::json!({ "name": name, "metadata": meta });
        if let Some(content_type) = content_type {
            resource["contentType"] = content_type.into();
        }
        let media_type = content_type.unwrap_or("application/octet-stream");
        let mut payload = format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n--{boundary}\r\nContent-Type: {media_type}\r\n\r\n"
        )
        .into_bytes();
        payload.extend_from_slice(&body);
        payload.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let resp = self
            .http
            .post(format!(
                "{}/upload/storage/v1/b/{bucket}/o?uploadType=multipart",
                self.endpoint
            ))
            .header(
                "Content-Type",
                format!("multipart/related; boundary={boundary}"),
            )
            .body(payload)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "put object {name:?}: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Downloads an object with its properties; `None` if it does not exist.
    pub async fn get_object(&self, bucket: &str, name: &str) -> Result<Option<GcsObject>> {
        let url = format!(
            "{}/storage/v1/b/{bucket}/o/{}",
            self.endpoint,
            encode_component(name)
        );
        let resp = self.http.get(&url).send().await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            bail!("get object {name:?}: {}", resp.status());
        }
        let resource: ObjectResource =
            serde_json::from_slice(&resp.bytes().await?).context("object resource")?;
        let resp = self.http.get(format!("{url}?alt=media")).send().await?;
        if !resp.status().is_success() {
            bail!("download {name:?}: {}", resp.status());
        }
        Ok(Some(GcsObject {
            body: resp.bytes().await?.to_vec(),
            content_type: resource.content_type,
            user_metadata: resource.metadata,
        }))
    }

    /// Every object name in a bucket.
    pub async fn list_objects(&self, bucket: &str) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!("{}/storage/v1/b/{bucket}/o", self.endpoint);
            if let Some(token) = &token {
                url.push_str(&format!("?pageToken={}", encode_component(token)));
            }
            let resp = self.http.get(&url).send().await?;
            if !resp.status().is_success() {
                bail!("list objects: {}", resp.status());
            }
            let page: ListPage =
                serde_json::from_slice(&resp.bytes().await?).context("list page")?;
            names.extend(page.items.into_iter().map(|item| item.name));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(names),
            }
        }
    }
}

/// A local OAuth 2.0 token endpoint for one service account: it accepts a JWT-bearer assertion
/// (RFC 7523) only when it is RS256-signed with the account's private key, addressed to this
/// endpoint and not expired, and answers with an access token. Stops on Drop.
pub struct TokenServer {
    address: SocketAddr,
    service_account_json: String,
    state: Arc<TokenState>,
    task: tokio::task::JoinHandle<()>,
}

struct TokenState {
    public_key_pem: String,
    token_uri: String,
    client_email: String,
    issued: AtomicUsize,
    refused: AtomicUsize,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    assertion: String,
}

#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded so that the claims are checked")]
struct AssertionClaims {
    iss: String,
    aud: String,
    scope: String,
    exp: u64,
}

/// The access token the endpoint issues (fake-gcs-server accepts any).
pub const TEST_ACCESS_TOKEN: &str = "tern-test-access-token";

impl TokenServer {
    /// Generates an RSA key pair and starts the endpoint on a free port; tokens last an hour.
    pub async fn start() -> Result<TokenServer> {
        Self::start_with_lifetime(3600).await
    }

    /// As [`TokenServer::start`], with tokens that expire `expires_in` seconds after issue.
    pub async fn start_with_lifetime(expires_in: u64) -> Result<TokenServer> {
        let mut rng = rsa::rand_core::OsRng;
        let private_key = rsa::RsaPrivateKey::new(&mut rng, 2048).context("RSA key")?;
        let private_pem = private_key
            .to_pkcs8_pem(LineEnding::LF)
            .context("private key PEM")?
            .to_string();
        let public_key_pem = private_key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .context("public key PEM")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let token_uri = format!("http://{address}/token");
        let client_email = "tern-test@tern-test.iam.gserviceaccount.com".to_owned();
        let service_account_json = serde_json::json!({
            "type": "service_account",
            "project_id": "tern-test",
            "private_key_id": "test",
            "private_key": private_pem,
            "client_email": client_email,
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string();
        let state = Arc::new(TokenState {
            public_key_pem,
            token_uri,
            client_email,
            issued: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            expires_in,
        });
        let app = Router::new()
            .route("/token", post(issue))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(TokenServer {
            address,
            service_account_json,
            state,
            task,
        })
    }

    /// A service-account JSON whose `token_uri` is this endpoint.
    pub fn service_account_json(&self) -> &str {
        &self.service_account_json
    }

    /// The endpoint's URL.
    pub fn token_uri(&self) -> String {
        format!("http://{}/token", self.address)
    }

    /// Tokens issued for valid assertions so far.
    pub fn issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Assertions refused so far.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn issue(
    State(state): State<Arc<TokenState>>,
    Form(form): Form<TokenForm>,
) -> (StatusCode, Json<serde_json::Value>) {
    let verified = (|| {
        if form.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return Err("unsupported grant_type".to_owned());
        }
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(state.public_key_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[&state.token_uri]);
        validation.set_issuer(&[&state.client_email]);
        jsonwebtoken::decode::<AssertionClaims>(&form.assertion, &key, &validation)
            .map_err(|e| e.to_string())
    })();
    match verified {
        Ok(_) => {
            state.issued.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::OK,
                Json(serde_json::json!({
                    "access_token": TEST_ACCESS_TOKEN,
                    "expires_in": state.expires_in,
                    "token_type": "Bearer",
                })),
            )
        }
        Err(why) => {
            state.refused.fetch_add(1, Ordering::SeqCst);
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "invalid_grant", "error_description": why })),
            )
        }
    }
}
