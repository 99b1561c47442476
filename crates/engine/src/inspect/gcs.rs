//! Google Cloud Storage for the bucket helpers: the JSON API's buckets list
//! (`GET /storage/v1/b?project=…`) and bucket metadata (`GET /storage/v1/b/{bucket}`, whose
//! `location` names the region), with an access token exchanged at the service-account JSON's
//! own `token_uri` ([`crate::gcs_token`]). Without a JSON the requests go unsigned.

use bytes::Bytes;
use tern_core::{Credentials, RegionEntry};

use super::{encode_segment, http_client, send};
use crate::error::{Error, Result};
use crate::gcs_token::ServiceAccountTokens;

/// Pages of the buckets list followed at most (1,000 names each): a bounded answer.
const MAX_PAGES: usize = 100;

/// The project a service-account JSON belongs to (the buckets list needs it).
#[derive(serde::Deserialize)]
struct ProjectOf {
    #[serde(default)]
    project_id: Option<String>,
}

/// `GET /storage/v1/b` answer.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketList {
    #[serde(default)]
    items: Vec<BucketResource>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// The fields of a bucket resource tern reads.
#[derive(Debug, Default, serde::Deserialize)]
struct BucketResource {
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: String,
}

/// Sends reqsign's token exchange through reqwest (no proxy, no ambient identity).
#[derive(Debug)]
struct ReqwestSend(reqwest::Client);

impl reqsign_core::HttpSend for ReqwestSend {
    async fn http_send(
        &self,
        request: http::Request<Bytes>,
    ) -> reqsign_core::Result<http::Response<Bytes>> {
        let failed = |err: reqwest::Error| {
            reqsign_core::Error::unexpected("the token request failed").with_source(err)
        };
        let request = reqwest::Request::try_from(request).map_err(failed)?;
        let response = self.0.execute(request).await.map_err(failed)?;
        let mut answer = http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            headers.extend(response.headers().clone());
        }
        let body = response.bytes().await.map_err(failed)?;
        answer.body(body).map_err(|err| {
            reqsign_core::Error::unexpected("the token answer is not HTTP").with_source(err)
        })
    }
}

/// One Google account: its endpoint, project and (with a JSON) bearer token.
struct GoogleAccount {
    endpoint: String,
    project: Option<String>,
    token: Option<String>,
}

async fn google_account(entry: &RegionEntry, credentials: &Credentials) -> Result<GoogleAccount> {
    let endpoint = entry.endpoint.trim_end_matches('/').to_owned();
    let Some(json) = &credentials.json_auth_file else {
        return Ok(GoogleAccount {
            endpoint,
            project: None,
            token: None,
        });
    };
    let tokens = ServiceAccountTokens::from_json(json.expose())?;
    let project = serde_json::from_str::<ProjectOf>(json.expose())
        .ok()
        .and_then(|p| p.project_id)
        .filter(|p| !p.is_empty());
    let ctx = reqsign_core::Context::new().with_http_send(ReqwestSend(http_client()?));
    let token = tokens.access_token(&ctx).await?;
    Ok(GoogleAccount {
        endpoint,
        project,
        token: Some(token),
    })
}

impl GoogleAccount {
    async fn get(&self, path_and_query: &str) -> Result<String> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let mut request = http::Request::get(&url);
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let parts = request
            .body(())
            .map_err(|err| Error::invalid("endpoint", format!("{url}: {err}")))?
            .into_parts()
            .0;
        send(parts, &self.endpoint).await
    }
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("the {what} answer is not GCS JSON: {err}"),
        temporary: false,
    })
}

/// Names the buckets of the service account's project (every page).
pub(super) async fn bucket_names(
    entry: &RegionEntry,
    credentials: &Credentials,
) -> Result<Vec<String>> {
    let account = google_account(entry, credentials).await?;
    let Some(project) = &account.project else {
        return Err(Error::invalid(
            "json_auth_file",
            "listing Google buckets needs a service-account JSON with its project_id",
        ));
    };
    let mut names = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let mut path = format!(
            "/storage/v1/b?project={}&fields=items(name),nextPageToken",
            encode_segment(project)
        );
        if !page_token.is_empty() {
            path.push_str("&pageToken=");
            path.push_str(&encode_segment(&page_token));
        }
        let page: BucketList = parse(&account.get(&path).await?, "buckets list")?;
        names.extend(page.items.into_iter().map(|b| b.name));
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) => page_token = next,
            None => return Ok(names),
        }
    }
    Err(Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!(
            "{} lists more than {MAX_PAGES} pages of buckets",
            account.endpoint
        ),
        temporary: false,
    })
}

/// Asks this region's endpoint for the bucket's metadata: `Some(location, lower-cased as
/// region names are)` when it holds the bucket, `None` when not.
pub(super) async fn bucket_location(
    entry: &RegionEntry,
    bucket: &str,
    credentials: &Credentials,
) -> Result<Option<String>> {
    let account = google_account(entry, credentials).await?;
    let path = format!("/storage/v1/b/{}?fields=location", encode_segment(bucket));
    match account.get(&path).await {
        Ok(text) => {
            let resource: BucketResource = parse(&text, "bucket metadata")?;
            Ok(Some(resource.location.to_ascii_lowercase()))
        }
        // Missing, refused or unreachable: not a region tern can use for it.
        Err(Error::Storage { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bucket_list_and_metadata_parse() {
        let page: BucketList = parse(
            r#"{"kind":"storage#buckets","items":[{"name":"a"},{"name":"b","location":"US"}],"nextPageToken":"b"}"#,
            "buckets list",
        )
        .unwrap();
        let names: Vec<_> = page.items.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(page.next_page_token.as_deref(), Some("b"));
        let empty: BucketList = parse(r#"{"kind":"storage#buckets"}"#, "buckets list").unwrap();
        assert!(empty.items.is_empty() && empty.next_page_token.is_none());
        let bucket: BucketResource =
            parse(r#"{"location":"EUROPE-WEST1"}"#, "bucket metadata").unwrap();
        assert_eq!(bucket.location, "EUROPE-WEST1");
    }
}
