//! No protocol ever signs with ambient credentials: anonymous means unsigned, and given
//! credentials are the only ones used.
//!
//! The test process is poisoned the way a careless host would be: every credential variable the
//! signing libraries know (`AWS_*`, `ALIBABA_CLOUD_*`, `OSS_*`, `AZURE_*`, `TENCENTCLOUD_*`,
//! `HUAWEI_CLOUD_*`, `GOOGLE_APPLICATION_CREDENTIALS`, metadata endpoint overrides) and a `HOME`
//! holding `~/.aws/credentials`, `~/.alibabacloud/config.json`, `~/.tencentcloud/credentials` and
//! gcloud's application-default credentials, all with values containing "poison". Every request
//! goes through a recording server set as `HTTP_PROXY`/`HTTPS_PROXY`, so requests for the
//! virtual-host names OSS, COS, OBS and Azure use (`bucket.endpoint-host`) are recorded without
//! name resolution, and so is any attempt to reach a metadata or token endpoint.
//!
//! Environment changes are process-wide, so this binary holds a single `#[test]` that poisons the
//! environment before any thread exists, then runs every case one after another.

use std::path::Path;
use std::time::Duration;

use tern_core::{Credentials, Protocol, Secret};
use tern_engine::{Location, Storage};
use tern_testkit::{RecordedRequest, RecordingServer};

/// Every poisoned value contains this, so one case-insensitive search finds any of them.
const POISON: &str = "poison";
const POISON_AK: &str = "POISONAKIDEXAMPLE";
const POISON_SK: &str = "POISONSECRETKEYEXAMPLE";
const POISON_TOKEN: &str = "POISONSESSIONTOKENEXAMPLE";
/// Metadata, STS and token endpoints the poisoned variables name; reached only via the recorder.
const POISON_URL: &str = "http://metadata.poison.invalid";

const GIVEN_AK: &str = "GIVENAKIDEXAMPLE";
const GIVEN_SK: &str = "GIVENSECRETKEYEXAMPLE";
const GIVEN_AZURE_ACCOUNT: &str = "givenacct";
const BUCKET: &str = "probe-bucket";
const KEY: &str = "probe.txt";
/// The region every S3-style case signs for.
const REGION: &str = "local-1";

/// A throwaway RSA key for the service-account JSON cases; it signs nothing real.
const TEST_RSA_KEY: &str = include_str!("fixtures/gcs_test_key.pem");

#[test]
fn test_no_protocol_uses_ambient_credentials() {
    let home = tempfile::tempdir().expect("temp home");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The recorder must listen before the proxy variables name it; the runtime is single-threaded
    // and idle here, so changing the environment races with no other thread.
    let recorder = runtime
        .block_on(RecordingServer::start())
        .expect("recording server");
    poison_environment(home.path(), recorder.endpoint());

    let mut failures = Vec::new();
    for case in anonymous_cases().into_iter().chain(signed_cases()) {
        recorder.clear();
        let name = case.name;
        let outcome = runtime.block_on(probe(&case));
        let requests = recorder.requests();
        if let Err(problem) = (case.check)(&outcome, &requests) {
            failures.push(format!(
                "{name}: {problem}\n  probe: {outcome}\n  requests: {requests:#?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

type Check = fn(&str, &[RecordedRequest]) -> Result<(), String>;

struct Case {
    name: &'static str,
    location: Location,
    check: Check,
}

/// Opens the storage and stats one key; returns what happened, for the failure report.
async fn probe(case: &Case) -> String {
    let storage = match Storage::open(&case.location) {
        Ok(storage) => storage,
        Err(err) => return format!("open failed: {err}"),
    };
    let stat = storage.operator().stat(KEY);
    match tokio::time::timeout(Duration::from_secs(60), stat).await {
        Ok(Ok(meta)) => format!("stat succeeded: {meta:?}"),
        Ok(Err(err)) => format!("stat failed: {err}"),
        Err(_) => "stat timed out".to_owned(),
    }
}

fn location(protocol: Protocol, endpoint: &str, credentials: Credentials) -> Location {
    Location {
        protocol,
        bucket: BUCKET.to_owned(),
        endpoint: Some(endpoint.to_owned()),
        region: Some(REGION.to_owned()),
        root: String::new(),
        credentials,
    }
}

fn anonymous_cases() -> Vec<Case> {
    let anonymous = Credentials::default;
    vec![
        Case {
            name: "s3 anonymous",
            location: location(Protocol::S3, "http://s3.tern.invalid", anonymous()),
            check: |_, requests| unsigned(requests, "s3.tern.invalid"),
        },
        Case {
            name: "obs anonymous",
            location: location(Protocol::Obs, "http://obs.tern.invalid", anonymous()),
            check: |_, requests| unsigned(requests, "obs.tern.invalid"),
        },
        Case {
            name: "oss anonymous",
            location: location(Protocol::Oss, "http://oss.tern.invalid", anonymous()),
            check: |_, requests| unsigned(requests, "oss.tern.invalid"),
        },
        Case {
            name: "cos anonymous",
            location: location(Protocol::Cos, "http://cos.tern.invalid", anonymous()),
            check: |_, requests| unsigned(requests, "cos.tern.invalid"),
        },
        Case {
            name: "gcs anonymous",
            location: location(Protocol::Gcs, "http://gcs.tern.invalid", anonymous()),
            check: |_, requests| unsigned(requests, "gcs.tern.invalid"),
        },
        Case {
            name: "azblob anonymous",
            location: location(
                Protocol::Azblob,
                "http://anonacct.blob.tern.invalid",
                anonymous(),
            ),
            check: |_, requests| unsigned(requests, "anonacct.blob.tern.invalid"),
        },
        Case {
            name: "azblob connection string without a key",
            location: location(
                Protocol::Azblob,
                "http://keylessacct.blob.tern.invalid",
                Credentials {
                    connection_string: Some(Secret::new(
                        "DefaultEndpointsProtocol=http;AccountName=keylessacct;\
                         BlobEndpoint=http://keylessacct.blob.tern.invalid",
                    )),
                    ..Credentials::default()
                },
            ),
            check: |_, requests| unsigned(requests, "keylessacct.blob.tern.invalid"),
        },
        Case {
            name: "azblob key without account name",
            location: location(
                Protocol::Azblob,
                "http://namelessacct.blob.tern.invalid",
                Credentials {
                    connection_string: Some(Secret::new(
                        "AccountKey=R0lWRU5BWlVSRUFDQ09VTlRLRVk=;\
                         BlobEndpoint=http://namelessacct.blob.tern.invalid",
                    )),
                    ..Credentials::default()
                },
            ),
            check: |outcome, requests| refused(outcome, requests, "connection_string"),
        },
        Case {
            name: "http anonymous",
            location: Location {
                root: "files/".to_owned(),
                ..location(Protocol::Http, "http://files.tern.invalid", anonymous())
            },
            check: |_, requests| unsigned(requests, "files.tern.invalid"),
        },
    ]
}

fn signed_cases() -> Vec<Case> {
    let given = || Credentials::access_key(GIVEN_AK, GIVEN_SK);
    let azure_key = base64(b"GIVENAZUREACCOUNTKEYEXAMPLE0123");
    let connection_string = format!(
        "DefaultEndpointsProtocol=http;AccountName={GIVEN_AZURE_ACCOUNT};AccountKey={azure_key};\
         BlobEndpoint=http://{GIVEN_AZURE_ACCOUNT}.blob.tern.invalid"
    );
    let service_account = service_account_json(
        "given@tern-test.iam.gserviceaccount.com",
        "https://oauth2.googleapis.com/token",
    );
    vec![
        Case {
            name: "s3 signed",
            location: location(Protocol::S3, "http://s3.tern.invalid", given()),
            check: |_, requests| signed_by(requests, "s3.tern.invalid", "Credential=GIVENAKID"),
        },
        Case {
            name: "obs signed",
            location: location(Protocol::Obs, "http://obs.tern.invalid", given()),
            check: |_, requests| signed_by(requests, "obs.tern.invalid", "OBS GIVENAKID"),
        },
        Case {
            name: "oss signed",
            location: location(Protocol::Oss, "http://oss.tern.invalid", given()),
            check: |_, requests| signed_by(requests, "oss.tern.invalid", GIVEN_AK),
        },
        Case {
            name: "cos signed",
            location: location(Protocol::Cos, "http://cos.tern.invalid", given()),
            check: |_, requests| signed_by(requests, "cos.tern.invalid", "q-ak=GIVENAKID"),
        },
        Case {
            name: "azblob signed",
            location: location(
                Protocol::Azblob,
                &format!("http://{GIVEN_AZURE_ACCOUNT}.blob.tern.invalid"),
                Credentials {
                    connection_string: Some(Secret::new(connection_string)),
                    ..Credentials::default()
                },
            ),
            check: |_, requests| {
                signed_by(
                    requests,
                    "givenacct.blob.tern.invalid",
                    "SharedKey givenacct:",
                )
            },
        },
        // The Google signer always exchanges the service-account JWT at
        // https://oauth2.googleapis.com/token (it ignores `token_uri`), which the recorder sees
        // only as a CONNECT: this case proves the given key is the one tried and nothing of the
        // poisoned environment is, not what the final bearer token is.
        Case {
            name: "gcs signed",
            location: location(
                Protocol::Gcs,
                "http://gcs.tern.invalid",
                Credentials {
                    json_auth_file: Some(Secret::new(service_account)),
                    ..Credentials::default()
                },
            ),
            check: |_, requests| {
                clean(requests)?;
                let exchanged = requests.iter().any(|request| {
                    request.method == "CONNECT" && request.host.starts_with("oauth2.googleapis.com")
                });
                if exchanged {
                    Ok(())
                } else {
                    Err("the given service account's token exchange was never attempted".into())
                }
            },
        },
    ]
}

/// No request carries a credential or a poisoned value, and at least one reached `host` (the
/// endpoint's host, possibly with the bucket or account prepended).
fn unsigned(requests: &[RecordedRequest], host: &str) -> Result<(), String> {
    clean(requests)?;
    reached(requests, host)?;
    for request in requests {
        for (name, value) in &request.headers {
            let name = name.to_ascii_lowercase();
            if name == "authorization" || name.contains("security-token") || name == "x-ms-sas" {
                return Err(format!("unsigned request carries {name}: {value}"));
            }
        }
        let query = request.path_and_query.to_ascii_lowercase();
        for signature_param in ["signature=", "sig=", "x-amz-credential", "q-ak="] {
            if query.contains(signature_param) {
                return Err(format!(
                    "unsigned request's query carries {signature_param}"
                ));
            }
        }
    }
    Ok(())
}

/// Opening failed with an error naming `field`, and nothing was sent.
fn refused(outcome: &str, requests: &[RecordedRequest], field: &str) -> Result<(), String> {
    if !requests.is_empty() {
        return Err("a request was sent with credentials that should have been refused".into());
    }
    if outcome.starts_with("open failed") && outcome.contains(field) {
        Ok(())
    } else {
        Err(format!("opening should fail naming {field}"))
    }
}

/// No request carries a poisoned value, every request reached `host`, and each carries an
/// `Authorization` header containing `signature` (which names the given key).
fn signed_by(requests: &[RecordedRequest], host: &str, signature: &str) -> Result<(), String> {
    clean(requests)?;
    reached(requests, host)?;
    for request in requests {
        let authorization = request.header("authorization").unwrap_or_default();
        if !authorization.contains(signature) {
            return Err(format!(
                "request to {} is not signed with the given key (want {signature:?}, got {authorization:?})",
                request.host
            ));
        }
    }
    Ok(())
}

fn clean(requests: &[RecordedRequest]) -> Result<(), String> {
    match requests.iter().find(|request| request.mentions(POISON)) {
        Some(request) => Err(format!(
            "a request used the host's ambient credentials: {} {}{}",
            request.method, request.host, request.path_and_query
        )),
        None => Ok(()),
    }
}

fn reached(requests: &[RecordedRequest], host: &str) -> Result<(), String> {
    if requests.is_empty() {
        return Err("no request was sent".into());
    }
    let suffix = format!(".{host}");
    match requests
        .iter()
        .find(|request| request.host != host && !request.host.ends_with(&suffix))
    {
        Some(stray) => Err(format!(
            "a request went to {} instead of {host}",
            stray.host
        )),
        None => Ok(()),
    }
}

/// Sets every credential source the signing libraries read to a poisoned value.
fn poison_environment(home: &Path, proxy: &str) {
    let write = |relative: &str, contents: &str| {
        let path = home.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
        std::fs::write(&path, contents).expect("write poisoned file");
        path
    };
    let aws_credentials = format!(
        "[default]\naws_access_key_id = {POISON_AK}\naws_secret_access_key = {POISON_SK}\n\
         aws_session_token = {POISON_TOKEN}\n"
    );
    write(".aws/credentials", &aws_credentials);
    write(
        ".aws/config",
        &format!(
            "[default]\nregion = us-east-1\naws_access_key_id = {POISON_AK}\n\
             aws_secret_access_key = {POISON_SK}\ncredential_process = {POISON_URL}\n"
        ),
    );
    let aliyun = format!(
        r#"{{"current":"default","profiles":[{{"name":"default","mode":"AK","access_key_id":"{POISON_AK}","access_key_secret":"{POISON_SK}"}}]}}"#
    );
    write(".alibabacloud/config.json", &aliyun);
    write(".aliyun/config.json", &aliyun);
    write(
        ".alibabacloud/credentials",
        &format!("[default]\ntype = access_key\naccess_key_id = {POISON_AK}\naccess_key_secret = {POISON_SK}\n"),
    );
    write(
        ".tencentcloud/credentials",
        &format!("[default]\nsecret_id = {POISON_AK}\nsecret_key = {POISON_SK}\n"),
    );
    let google = service_account_json(
        "poison@poison-project.iam.gserviceaccount.com",
        &format!("{POISON_URL}/token"),
    );
    let google_file = write(
        ".config/gcloud/application_default_credentials.json",
        &google,
    );
    let token_file = write(".poison/web-identity-token", "POISONWEBIDENTITYTOKEN");
    let token_file = token_file.to_string_lossy().into_owned();

    let poisoned_azure_key = base64(b"POISONAZUREACCOUNTKEYEXAMPLE012");
    let variables: Vec<(&str, String)> = vec![
        ("HOME", home.to_string_lossy().into_owned()),
        ("XDG_CONFIG_HOME", home.join(".config").to_string_lossy().into_owned()),
        ("AWS_ACCESS_KEY_ID", POISON_AK.into()),
        ("AWS_SECRET_ACCESS_KEY", POISON_SK.into()),
        ("AWS_SESSION_TOKEN", POISON_TOKEN.into()),
        ("AWS_PROFILE", "default".into()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/poison".into()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.clone()),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{POISON_URL}/aws-container")),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", POISON_TOKEN.into()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", POISON_URL.into()),
        ("AWS_ENDPOINT_URL", format!("{POISON_URL}/aws-endpoint")),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", POISON_AK.into()),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", POISON_SK.into()),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", POISON_TOKEN.into()),
        ("ALIBABA_CLOUD_ECS_METADATA", "poisonrole".into()),
        ("ALIBABA_CLOUD_ECS_METADATA_SERVICE_ENDPOINT", POISON_URL.into()),
        ("ALIBABA_CLOUD_CREDENTIALS_URI", format!("{POISON_URL}/aliyun-credentials")),
        ("OSS_ACCESS_KEY_ID", POISON_AK.into()),
        ("OSS_ACCESS_KEY_SECRET", POISON_SK.into()),
        ("OSS_SESSION_TOKEN", POISON_TOKEN.into()),
        ("AZURE_STORAGE_ACCOUNT", "poisonacct".into()),
        ("AZURE_STORAGE_ACCOUNT_NAME", "poisonacct".into()),
        ("AZURE_STORAGE_KEY", poisoned_azure_key.clone()),
        ("AZURE_STORAGE_ACCOUNT_KEY", poisoned_azure_key.clone()),
        ("AZBLOB_ACCOUNT_NAME", "poisonacct".into()),
        ("AZBLOB_ACCOUNT_KEY", poisoned_azure_key.clone()),
        ("AZURE_STORAGE_SAS_TOKEN", "sv=2021&sig=POISONSAS".into()),
        ("AZURE_STORAGE_BEARER_TOKEN", POISON_TOKEN.into()),
        (
            "AZURE_STORAGE_CONNECTION_STRING",
            format!(
                "DefaultEndpointsProtocol=http;AccountName=poisonacct;AccountKey={poisoned_azure_key}"
            ),
        ),
        ("AZURE_CLIENT_ID", "poison-client".into()),
        ("AZURE_CLIENT_SECRET", POISON_SK.into()),
        ("AZURE_TENANT_ID", "poison-tenant".into()),
        ("AZURE_FEDERATED_TOKEN_FILE", token_file),
        ("AZURE_AUTHORITY_HOST", POISON_URL.into()),
        ("AZURE_IMDS_ENDPOINT", POISON_URL.into()),
        ("TENCENTCLOUD_SECRET_ID", POISON_AK.into()),
        ("TENCENTCLOUD_SECRET_KEY", POISON_SK.into()),
        ("TENCENTCLOUD_SECURITY_TOKEN", POISON_TOKEN.into()),
        ("TKE_SECRET_ID", POISON_AK.into()),
        ("TKE_SECRET_KEY", POISON_SK.into()),
        ("QCLOUD_SECRET_TOKEN", POISON_TOKEN.into()),
        ("COS_SECRET_ID", POISON_AK.into()),
        ("COS_SECRET_KEY", POISON_SK.into()),
        ("HUAWEI_CLOUD_ACCESS_KEY_ID", POISON_AK.into()),
        ("HUAWEI_CLOUD_SECRET_ACCESS_KEY", POISON_SK.into()),
        ("HUAWEI_CLOUD_SECURITY_TOKEN", POISON_TOKEN.into()),
        ("HUAWEICLOUD_SDK_AK", POISON_AK.into()),
        ("HUAWEICLOUD_SDK_SK", POISON_SK.into()),
        ("OBS_ACCESS_KEY_ID", POISON_AK.into()),
        ("OBS_SECRET_ACCESS_KEY", POISON_SK.into()),
        ("GOOGLE_APPLICATION_CREDENTIALS", google_file.to_string_lossy().into_owned()),
        ("GCE_METADATA_HOST", "metadata.poison.invalid".into()),
        // Send everything, https included (as CONNECT), to the recorder.
        ("HTTP_PROXY", proxy.into()),
        ("http_proxy", proxy.into()),
        ("HTTPS_PROXY", proxy.into()),
        ("https_proxy", proxy.into()),
        ("ALL_PROXY", proxy.into()),
    ];
    for (name, value) in variables {
        std::env::set_var(name, value);
    }
    for name in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(name);
    }
}

fn service_account_json(client_email: &str, token_uri: &str) -> String {
    format!(
        r#"{{"type":"service_account","project_id":"tern-test","private_key_id":"1","private_key":{},"client_email":"{client_email}","client_id":"1","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"{token_uri}"}}"#,
        json_string(TEST_RSA_KEY)
    )
}

fn json_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('\n', "\\n"))
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(char::from(
                    ALPHABET[((n >> (18 - 6 * index)) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}
