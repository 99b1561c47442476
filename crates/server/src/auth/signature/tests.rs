//! The three captured vectors of REFERENCE.md §5.2, tampering, stale dates, header parsing.

use axum::http::{HeaderName, HeaderValue};
use time::macros::datetime;

use super::*;

const AK: &str = "AKEXAMPLE0000000000";
const SK: &str = "SKEXAMPLEsecretkey0000000000000000000000";
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SIGNED: &str = "content-type;host;user-agent;x-project-id;x-sdk-date";
const NOW: OffsetDateTime = datetime!(2024-01-01 00:05:00 UTC);

struct Request {
    method: &'static str,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn headers(content_type: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", content_type),
        ("host", "127.0.0.1:18080"),
        ("user-agent", "oms-capture"),
        ("x-project-id", PROJECT),
        ("x-sdk-date", "20240101T000000Z"),
        // Sent by the HTTP library after signing; never part of the signature.
        ("accept-encoding", "gzip, deflate"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn vector_a() -> Request {
    Request {
        method: "PUT",
        path: format!("/v2/{PROJECT}/taskgroups/3b5e5a4a-1b2c-4d5e-8f90-123456789abc/retry"),
        query: String::new(),
        headers: headers("application/json;charset=utf-8"),
        body: br#"{"migrate_failed_object": false}"#.to_vec(),
    }
}

fn vector_b() -> Request {
    Request {
        method: "GET",
        path: format!("/v2/{PROJECT}/objectstorage/cloud-type"),
        query: "type=src".into(),
        headers: headers("application/json"),
        body: Vec::new(),
    }
}

fn vector_c() -> Request {
    Request {
        method: "GET",
        path: format!("/v2/{PROJECT}/sync-tasks/s1/statistics"),
        query: "data_type=REQUEST%2CSUCCESS&end_time=1700003600000&start_time=1700000000000".into(),
        headers: headers("application/json"),
        body: Vec::new(),
    }
}

fn authorization(signature: &str) -> SdkAuthorization {
    let header = format!("{ALGORITHM} Access={AK}, SignedHeaders={SIGNED}, Signature={signature}");
    parse_authorization(&header).unwrap().unwrap()
}

fn signed_headers() -> Vec<String> {
    SIGNED.split(';').map(str::to_owned).collect()
}

fn sign(request: &Request) -> String {
    let canonical = canonical_request(
        request.method,
        &request.path,
        &request.query,
        &request.headers,
        &signed_headers(),
        &request.body,
    )
    .unwrap();
    hex::encode(signature_bytes(SK, &string_to_sign("20240101T000000Z", &canonical)).unwrap())
}

fn check(
    request: &Request,
    signature: &str,
    secret_key: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    verify(
        &authorization(signature),
        secret_key,
        request.method,
        &request.path,
        &request.query,
        &request.headers,
        &request.body,
        now,
    )
}

const SIGNATURE_A: &str = "652728bac8a5431638e86f1401970fddf1413b2e057d8bfcfc68b8aaeeb4f377";
const SIGNATURE_B: &str = "406c5b358ad0b75e3cbb4f78e72a9b86e4abe8b4f9eb6e8c9e30f3ff00cc6568";
const SIGNATURE_C: &str = "b699e8ceaf378f21546c3099acf33d62e0c824c273a4eddc1df5092bb1b62e28";

#[test]
fn test_vector_a_canonical_request_and_signature() {
    let request = vector_a();
    let canonical = canonical_request(
        request.method,
        &request.path,
        &request.query,
        &request.headers,
        &signed_headers(),
        &request.body,
    )
    .unwrap();
    let expected = format!(
        "PUT\n/v2/{PROJECT}/taskgroups/3b5e5a4a-1b2c-4d5e-8f90-123456789abc/retry/\n\n\
         content-type:application/json;charset=utf-8\nhost:127.0.0.1:18080\n\
         user-agent:oms-capture\nx-project-id:{PROJECT}\nx-sdk-date:20240101T000000Z\n\n\
         {SIGNED}\n2e2e14fc69095b58b160c84e63f55242473faa38769fa0a5c44350dbbf33ea03"
    );
    assert_eq!(canonical, expected);
    let to_sign = string_to_sign("20240101T000000Z", &canonical);
    assert!(to_sign.ends_with("4565e182caeb3966123d0a836e0438b1607f6033c847dac1ad428d34178c21f0"));
    assert_eq!(sign(&request), SIGNATURE_A);
    assert_eq!(check(&request, SIGNATURE_A, SK, NOW), Ok(()));
}

#[test]
fn test_vector_b_get_with_query() {
    let request = vector_b();
    let canonical = canonical_request(
        request.method,
        &request.path,
        &request.query,
        &request.headers,
        &signed_headers(),
        &request.body,
    )
    .unwrap();
    assert!(canonical.starts_with(&format!(
        "GET\n/v2/{PROJECT}/objectstorage/cloud-type/\ntype=src\ncontent-type:application/json\n"
    )));
    assert!(canonical.ends_with(EMPTY_BODY_SHA256));
    assert_eq!(sign(&request), SIGNATURE_B);
    assert_eq!(check(&request, SIGNATURE_B, SK, NOW), Ok(()));
}

#[test]
fn test_vector_c_encoded_query() {
    let request = vector_c();
    assert_eq!(sign(&request), SIGNATURE_C);
    assert_eq!(check(&request, SIGNATURE_C, SK, NOW), Ok(()));
    // Upper-case hex in the header is the same signature.
    assert_eq!(
        check(&request, &SIGNATURE_C.to_uppercase(), SK, NOW),
        Ok(())
    );
}

#[test]
fn test_tampered_requests_fail() {
    let mut body = vector_a();
    body.body = br#"{"migrate_failed_object": true}"#.to_vec();
    assert!(check(&body, SIGNATURE_A, SK, NOW).is_err());

    let mut query = vector_c();
    query.query = query
        .query
        .replace("end_time=1700003600000", "end_time=1700003600001");
    assert!(check(&query, SIGNATURE_C, SK, NOW).is_err());

    assert!(check(&vector_b(), SIGNATURE_B, "SKwrong", NOW).is_err());

    let stale = NOW + Duration::minutes(20);
    let error = check(&vector_b(), SIGNATURE_B, SK, stale).unwrap_err();
    assert!(error.to_string().contains("X-Sdk-Date"), "{error}");
    let early = datetime!(2023-12-31 23:44:00 UTC);
    assert!(check(&vector_b(), SIGNATURE_B, SK, early).is_err());
    let edge = datetime!(2024-01-01 00:15:00 UTC);
    assert_eq!(check(&vector_b(), SIGNATURE_B, SK, edge), Ok(()));

    let mut missing = vector_b();
    missing.headers.remove("user-agent");
    let error = check(&missing, SIGNATURE_B, SK, NOW).unwrap_err();
    assert_eq!(error.error_code(), "APIGW.0301");
    assert!(error.to_string().contains("user-agent"), "{error}");
}

#[test]
fn test_canonical_uri_and_query_follow_the_sdk() {
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/v2/p/tasks"), "/v2/p/tasks/");
    assert_eq!(canonical_uri("/v2/p/x%2Fy"), "/v2/p/x/y/");
    assert_eq!(canonical_uri("/a%20b/c~d"), "/a%20b/c~d/");
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(canonical_query("k=a+b&flag"), "flag=&k=a%2Bb");
}

#[test]
fn test_parse_authorization() {
    assert_eq!(parse_authorization(""), Ok(None));
    assert_eq!(parse_authorization("  "), Ok(None));
    let auth = authorization(SIGNATURE_A);
    assert_eq!(auth.access_key, AK);
    assert_eq!(auth.signed_headers, signed_headers());
    for bad in [
        "SDK-HMAC-SM3 Access=a, SignedHeaders=host;x-sdk-date, Signature=00",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x-sdk-date",
        "SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature=ab",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=content-type;x-sdk-date, Signature=ab",
        "Bearer token",
    ] {
        let error = parse_authorization(bad).unwrap_err();
        assert_eq!(error.status().as_u16(), 401, "{bad}");
    }
    let unsigned_date =
        format!("{ALGORITHM} Access=a, SignedHeaders=host, Signature={SIGNATURE_A}");
    assert!(parse_authorization(&unsigned_date).is_err());
}

#[test]
fn test_sign_produces_what_verify_accepts() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:18080"));
    headers.insert("x-project-id", HeaderValue::from_static(PROJECT));
    let body = br#"{"name":"t"}"#;
    let path = "/v2/p%20q/tasks";
    let authorization = super::sign(
        AK,
        SK,
        "POST",
        path,
        "limit=5&offset=0",
        &mut headers,
        body,
        NOW,
    )
    .expect("sign");
    assert_eq!(
        headers.get(DATE_HEADER).map(HeaderValue::as_bytes),
        Some(&b"20240101T000500Z"[..])
    );
    let auth = parse_authorization(&authorization)
        .expect("parse")
        .expect("present");
    assert_eq!(auth.signed_headers, ["host", "x-project-id", "x-sdk-date"]);
    verify(
        &auth,
        SK,
        "POST",
        path,
        "offset=0&limit=5",
        &headers,
        body,
        NOW,
    )
    .expect("verifies");
    let other_body = br#"{"name":"u"}"#;
    assert!(verify(
        &auth,
        SK,
        "POST",
        path,
        "limit=5&offset=0",
        &headers,
        other_body,
        NOW
    )
    .is_err());
    assert!(verify(
        &auth,
        "another-secret",
        "POST",
        path,
        "limit=5&offset=0",
        &headers,
        body,
        NOW
    )
    .is_err());
}
