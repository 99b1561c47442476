//! Azure Blob for the bucket helpers: `List Containers` and `Get Container Properties` against
//! the account a connection string names, signed with its shared key (or carrying its SAS) by
//! `reqsign`'s Azure signer, the one OpenDAL's azblob service uses.
//!
//! The account and endpoint come from OpenDAL's own connection-string parser, after the string
//! passed the same checks a task's does, so a helper and a task always reach the same account:
//! the connection string's `BlobEndpoint` (or development storage) wins over the region table,
//! otherwise the region's endpoint with `{account}` filled.

use opendal_service_azure_common::{azure_config_from_connection_string, AzureStorageService};
use reqsign_core::SignRequest;
use tern_core::{Credentials, Protocol, RegionEntry};

use super::{encode_segment, send};
use crate::error::{Error, Result};
use crate::location::Location;
use crate::storage::Storage;

/// The REST version the requests ask for (List Containers exists in every version since 2009).
const API_VERSION: &str = "2021-08-06";
/// Pages of `List Containers` followed at most (5,000 names each): a bounded answer.
const MAX_PAGES: usize = 100;

/// Where one region's requests go for this connection string, and how they are signed.
struct BlobAccount {
    /// The blob service endpoint, without a trailing `/`.
    endpoint: String,
    /// The region's own endpoint, `{account}` filled: equal to `endpoint` unless the connection
    /// string names another.
    region_endpoint: String,
    /// `None`: anonymous (a connection string without key or SAS).
    credential: Option<reqsign_azure_storage::Credential>,
}

fn blob_account(entry: &RegionEntry, credentials: &Credentials) -> Result<BlobAccount> {
    let Some(conn) = &credentials.connection_string else {
        return Err(Error::invalid(
            "connection_string",
            "is required for Azure: it names the storage account",
        ));
    };
    // Opening a (never used) operator applies every check a task's connection string gets:
    // unknown settings, a key without its account, an account name unfit for the template.
    Storage::open(&Location {
        protocol: Protocol::Azblob,
        bucket: "tern-helper".to_owned(),
        endpoint: Some(entry.endpoint.clone()),
        region: Some(entry.region.clone()),
        root: String::new(),
        credentials: credentials.clone(),
    })?;
    let config = azure_config_from_connection_string(conn.expose(), AzureStorageService::Blob)
        // The parser's message may quote the key.
        .map_err(|_| Error::invalid("connection_string", "malformed connection string"))?;
    let region_endpoint = match &config.account_name {
        Some(account) => entry.endpoint.replace("{account}", account),
        None => entry.endpoint.clone(),
    };
    let endpoint = config
        .endpoint
        .clone()
        .unwrap_or_else(|| region_endpoint.clone());
    let credential = match (&config.sas_token, &config.account_name, &config.account_key) {
        (Some(sas), _, _) => Some(reqsign_azure_storage::Credential::with_sas_token(sas)),
        (None, Some(account), Some(key)) => Some(
            reqsign_azure_storage::Credential::with_shared_key(account, key),
        ),
        _ => None,
    };
    Ok(BlobAccount {
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        region_endpoint: region_endpoint.trim_end_matches('/').to_owned(),
        credential,
    })
}

impl BlobAccount {
    /// One signed GET of `{endpoint}/{path}?{query}`; the answer as text.
    async fn get(&self, path: &str, query: &str) -> Result<String> {
        let url = format!("{}/{path}?{query}", self.endpoint);
        let mut parts = http::Request::get(&url)
            .header("x-ms-version", API_VERSION)
            .body(())
            .map_err(|err| Error::invalid("connection_string", format!("endpoint: {err}")))?
            .into_parts()
            .0;
        if let Some(credential) = &self.credential {
            reqsign_azure_storage::RequestSigner::new()
                .sign_request(
                    &reqsign_core::Context::new(),
                    &mut parts,
                    Some(credential),
                    None,
                )
                .await
                .map_err(|err| {
                    Error::invalid("connection_string", format!("signing the request: {err}"))
                })?;
        }
        send(parts, &self.endpoint).await
    }
}

/// Names the containers of the connection string's account (every page).
pub(super) async fn container_names(
    entry: &RegionEntry,
    credentials: &Credentials,
) -> Result<Vec<String>> {
    let account = blob_account(entry, credentials)?;
    let mut names = Vec::new();
    let mut marker = String::new();
    for _ in 0..MAX_PAGES {
        let mut query = "comp=list".to_owned();
        if !marker.is_empty() {
            query.push_str("&marker=");
            query.push_str(&encode_segment(&marker));
        }
        let page = parse_container_list(&account.get("", &query).await?)?;
        names.extend(page.containers.container.into_iter().map(|c| c.name));
        match page.next_marker.filter(|m| !m.is_empty()) {
            Some(next) => marker = next,
            None => return Ok(names),
        }
    }
    Err(Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!(
            "{} lists more than {MAX_PAGES} pages of containers",
            account.endpoint
        ),
        temporary: false,
    })
}

/// Whether this region's endpoint holds `container`: `Some(region)` when the region's own
/// endpoint is the account's (the connection string names it, or the template makes it), so the
/// table's entry for the account is preferred; `Some("")` for a region that reaches the account
/// only because the connection string's endpoint wins; `None` when the container is not there.
pub(super) async fn region_holding(
    entry: &RegionEntry,
    container: &str,
    credentials: &Credentials,
) -> Result<Option<String>> {
    let account = blob_account(entry, credentials)?;
    let path = encode_segment(container);
    match account.get(&path, "restype=container").await {
        Ok(_) if account.region_endpoint == account.endpoint => Ok(Some(entry.region.clone())),
        Ok(_) => Ok(Some(String::new())),
        // Missing, refused or unreachable: not a region tern can use for it.
        Err(Error::Storage { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// `EnumerationResults`, the answer to `GET /?comp=list`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerList {
    #[serde(default)]
    containers: Containers,
    #[serde(default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Containers {
    #[serde(default)]
    container: Vec<ContainerName>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerName {
    name: String,
}

fn parse_container_list(xml: &str) -> Result<ContainerList> {
    quick_xml::de::from_str(xml).map_err(|err| Error::Storage {
        code: tern_core::FailureCode::SourceNotFound,
        message: format!("the container list answer is not EnumerationResults XML: {err}"),
        temporary: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_container_list_parses_names_and_marker() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:1/devstoreaccount1/"><MaxResults>2</MaxResults><Containers><Container><Name>a&amp;b</Name><Properties><Etag>"x"</Etag></Properties></Container><Container><Name>c</Name></Container></Containers><NextMarker>c</NextMarker></EnumerationResults>"#;
        let list = parse_container_list(xml).unwrap();
        let names: Vec<_> = list.containers.container.iter().map(|c| &c.name).collect();
        assert_eq!(names, ["a&b", "c"]);
        assert_eq!(list.next_marker.as_deref(), Some("c"));
        let empty = parse_container_list(
            "<EnumerationResults><Containers /><NextMarker /></EnumerationResults>",
        )
        .unwrap();
        assert!(empty.containers.container.is_empty());
        assert_eq!(empty.next_marker.unwrap_or_default(), "");
    }

    fn region(endpoint: &str) -> RegionEntry {
        RegionEntry {
            cloud_type: tern_core::CloudType::Azure,
            region: "r".into(),
            description: String::new(),
            endpoint: endpoint.into(),
            protocol: None,
        }
    }

    fn with_connection_string(conn: &str) -> Credentials {
        Credentials {
            connection_string: Some(tern_core::Secret::new(conn.to_owned())),
            ..Credentials::default()
        }
    }

    #[test]
    fn test_account_endpoint_follows_the_connection_string_then_the_template() {
        let template = region("https://{account}.blob.core.windows.net");
        let named = blob_account(
            &template,
            &with_connection_string(
                "AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acct/",
            ),
        )
        .unwrap();
        assert_eq!(named.endpoint, "http://127.0.0.1:1/acct");
        assert_eq!(named.region_endpoint, "https://acct.blob.core.windows.net");
        assert!(named.credential.is_some());
        let filled = blob_account(
            &template,
            &with_connection_string("AccountName=acct;AccountKey=a2V5"),
        )
        .unwrap();
        assert_eq!(filled.endpoint, "https://acct.blob.core.windows.net");
        assert_eq!(filled.endpoint, filled.region_endpoint);
        let anonymous = blob_account(
            &region("http://127.0.0.1:1/acct"),
            &with_connection_string("BlobEndpoint=http://127.0.0.1:1/acct"),
        )
        .unwrap();
        assert!(anonymous.credential.is_none());
    }

    #[test]
    fn test_account_refusals_name_the_connection_string_without_quoting_it() {
        let entry = region("https://{account}.blob.core.windows.net");
        for credentials in [
            Credentials::default(),
            with_connection_string("AccountKey=SECRETKEY0001"),
            with_connection_string("AccountName=acct;AcountKey=SECRETKEY0001"),
        ] {
            let err = blob_account(&entry, &credentials).err().unwrap();
            assert!(
                matches!(&err, Error::InvalidLocation { field, .. } if field == "connection_string"),
                "{err}"
            );
            assert!(!err.to_string().contains("SECRETKEY0001"), "{err}");
        }
    }
}
