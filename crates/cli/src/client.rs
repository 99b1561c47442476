//! The HTTP client of the `task` and `group` verbs: endpoint and identity from the environment
//! (or flags), requests signed like the OMS SDK's, OMS error bodies turned into one line.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use reqwest::Method;
use serde_json::Value;
use url::Url;

/// Default server when `TERN_ENDPOINT` is not set (`tern serve`'s default listen address).
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";

/// Where the server is and who is calling; shared by every client verb.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server URL.
    #[arg(long, env = "TERN_ENDPOINT", default_value = DEFAULT_ENDPOINT, global = true)]
    pub endpoint: String,
    /// Project id; asked of the server (`GET /tern/whoami`) when not given.
    #[arg(long, env = "TERN_PROJECT_ID", global = true)]
    pub project: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// How requests prove who sends them. Secrets come only from the environment, never flags,
/// so they stay out of shell history and `ps`.
enum Identity {
    Token(String),
    AkSk {
        access_key: String,
        secret_key: String,
    },
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Token(_) => f.write_str("Token(<redacted>)"),
            Identity::AkSk { access_key, .. } => {
                write!(f, "AkSk({access_key}, <redacted>)")
            }
        }
    }
}

impl Identity {
    fn from_env() -> Result<Identity> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(token) = var("TERN_TOKEN") {
            return Ok(Identity::Token(token));
        }
        match (var("TERN_AK"), var("TERN_SK")) {
            (Some(access_key), Some(secret_key)) => Ok(Identity::AkSk {
                access_key,
                secret_key,
            }),
            (Some(_), None) | (None, Some(_)) => bail!("set both TERN_AK and TERN_SK"),
            (None, None) => bail!(
                "no credentials: set TERN_TOKEN (from `tern admin token create`) or TERN_AK and \
                 TERN_SK (from `tern admin credential create`)"
            ),
        }
    }
}

/// A connection to one `tern serve` for one project.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    endpoint: Url,
    identity: Identity,
    project: String,
}

impl ApiClient {
    /// Builds the client and settles the project id (asking the server when not given).
    pub async fn connect(args: &ClientArgs) -> Result<ApiClient> {
        // `host:port` alone, as `tern serve --listen` takes it, means plain HTTP.
        let text = if args.endpoint.contains("://") {
            args.endpoint.clone()
        } else {
            format!("http://{}", args.endpoint)
        };
        let endpoint = Url::parse(&text)
            .with_context(|| format!("TERN_ENDPOINT / --endpoint {:?}", args.endpoint))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            bail!("endpoint {endpoint} must be http:// or https://");
        }
        // No system proxy: the endpoint is named explicitly, and a proxy would see the token.
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        let mut client = ApiClient {
            http,
            endpoint,
            identity: Identity::from_env()?,
            project: args.project.clone().unwrap_or_default(),
        };
        if client.project.is_empty() {
            let whoami = client.call(Method::GET, "/tern/whoami", &[], None).await?;
            client.project = whoami["project_id"]
                .as_str()
                .ok_or_else(|| anyhow!("the server's /tern/whoami answer has no project_id"))?
                .to_owned();
        }
        Ok(client)
    }

    /// `/v2/{project_id}` followed by `rest`, with the project percent-encoded.
    pub fn project_path(&self, rest: &str) -> String {
        let project: String =
            url::form_urlencoded::byte_serialize(self.project.as_bytes()).collect();
        format!("/v2/{}{rest}", project.replace('+', "%20"))
    }

    /// Sends one request; a 2xx answer's JSON (or `null` for an empty body) comes back, any
    /// other answer becomes an error carrying the OMS code and message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut url = self.endpoint.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let body_bytes = match body {
            Some(value) => serde_json::to_vec(value).context("encoding the request body")?,
            None => Vec::new(),
        };
        let mut headers = HeaderMap::new();
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        self.authorize(&method, &url, &mut headers, &body_bytes)?;
        let response = self
            .http
            .request(method.clone(), url.clone())
            .headers(headers)
            .body(body_bytes)
            .send()
            .await
            .with_context(|| format!("{method} {}", url.path()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer to {method} {}", url.path()))?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "the answer to {method} {} (HTTP {status}) is not JSON",
                    url.path()
                )
            })?
        };
        if status.is_success() {
            return Ok(value);
        }
        match (value["error_code"].as_str(), value["error_msg"].as_str()) {
            (Some(code), Some(message)) => bail!("HTTP {}: {code}: {message}", status.as_u16()),
            _ => bail!("HTTP {} without an OMS error body", status.as_u16()),
        }
    }

    fn authorize(
        &self,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
        body: &[u8],
    ) -> Result<()> {
        match &self.identity {
            Identity::Token(token) => {
                let mut value =
                    HeaderValue::from_str(token).context("TERN_TOKEN is not a valid header")?;
                value.set_sensitive(true);
                headers.insert("x-auth-token", value);
            }
            Identity::AkSk {
                access_key,
                secret_key,
            } => {
                let host = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                    None => url.host_str().unwrap_or_default().to_owned(),
                };
                headers.insert(HOST, HeaderValue::from_str(&host).context("endpoint host")?);
                if !self.project.is_empty() {
                    headers.insert(
                        "x-project-id",
                        HeaderValue::from_str(&self.project).context("project id header")?,
                    );
                }
                let authorization = tern_server::auth::signature::sign(
                    access_key,
                    secret_key,
                    method.as_str(),
                    url.path(),
                    url.query().unwrap_or(""),
                    headers,
                    body,
                    time::OffsetDateTime::now_utc(),
                )
                .map_err(|err| anyhow!("signing the request: {err}"))?;
                let mut value =
                    HeaderValue::from_str(&authorization).context("Authorization header")?;
                value.set_sensitive(true);
                headers.insert("authorization", value);
            }
        }
        Ok(())
    }
}
