//! AWS Signature Version 4 for S3 requests (header-based, single chunk).

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// Percent-encodes `input` the way SigV4 canonical URIs and queries require: the unreserved
/// characters `A-Za-z0-9-_.~` stay, every other byte becomes `%XX` (uppercase hex). `/` stays
/// unless `encode_slash` is set. Nothing is normalised, so `a//b` keeps its double slash.
pub(crate) fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len() * 3);
    for &byte in input.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// Builds the canonical query string: names and values encoded, sorted by name then value.
pub(crate) fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (uri_encode(name, true), uri_encode(value, true)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lowercase hex SHA-256 of `data` (the `x-amz-content-sha256` value).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Formats a time as the `x-amz-date` value, e.g. `20130524T000000Z`.
pub(crate) fn amz_date(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The key material a request is signed with.
pub(crate) struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// The parts of a request that go into the signature.
pub(crate) struct SignedRequest<'a> {
    pub method: &'a str,
    /// Already encoded with [`uri_encode`]; sent on the wire exactly like this.
    pub uri: &'a str,
    /// Already canonical (see [`canonical_query`]).
    pub query: &'a str,
    /// Every header to sign, including `host`, `x-amz-date` and `x-amz-content-sha256`.
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
    /// The `x-amz-date` value.
    pub amz_date: &'a str,
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Header values are trimmed and runs of spaces collapsed in the canonical form.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Returns the canonical request text (exposed for tests and error messages).
pub(crate) fn canonical_request(req: &SignedRequest<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), canonical_header_value(value)))
        .collect();
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method, req.uri, req.query, canonical_headers, signed_headers, req.payload_hash
    );
    (canonical, signed_headers)
}

/// Computes the `Authorization` header value for `req`.
pub(crate) fn authorization(creds: &Credentials<'_>, req: &SignedRequest<'_>) -> String {
    let date = req.amz_date.get(..8).unwrap_or(req.amz_date);
    let (canonical, signed_headers) = canonical_request(req);
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        req.amz_date,
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac_sha256(
        format!("AWS4{}", creds.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [creds.region, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        creds.access_key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: Credentials<'static> = Credentials {
        access_key: "AKIAIOSFODNN7EXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
    };

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn signature(auth: &str) -> &str {
        auth.rsplit("Signature=").next().unwrap_or_default()
    }

    #[test]
    fn test_uri_encode_keeps_unreserved_and_slashes() {
        assert_eq!(uri_encode("a//b/c-d_e.f~g", false), "a//b/c-d_e.f~g");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(
            uri_encode("with space+plus%pct?q#h", false),
            "with%20space%2Bplus%25pct%3Fq%23h"
        );
        assert_eq!(uri_encode("ü", false), "%C3%BC");
        assert_eq!(uri_encode("test$file.text", false), "test%24file.text");
    }

    #[test]
    fn test_canonical_query_sorts_and_encodes() {
        assert_eq!(
            canonical_query(&[("prefix", "a b/c"), ("list-type", "2"), ("max-keys", "2")]),
            "list-type=2&max-keys=2&prefix=a%20b%2Fc"
        );
        assert_eq!(canonical_query(&[]), "");
    }

    #[test]
    fn test_amz_date_format() {
        let t = time::macros::datetime!(2013-05-24 01:02:03 UTC);
        assert_eq!(amz_date(t), "20130524T010203Z");
    }

    // The three worked examples of the S3 SigV4 documentation ("Examples of signature calculations").
    #[test]
    fn test_aws_example_get_object() {
        let hdrs = headers(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", &sha256_hex(b"")),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let req = SignedRequest {
            method: "GET",
            uri: "/test.txt",
            query: "",
            headers: &hdrs,
            payload_hash: &sha256_hex(b""),
            amz_date: "20130524T000000Z",
        };
        let auth = authorization(&EXAMPLE, &req);
        assert!(auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"));
        assert_eq!(
            signature(&auth),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn test_aws_example_put_object() {
        let body = b"Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(
            hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let hdrs = headers(&[
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", &hash),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]);
        let uri = format!("/{}", uri_encode("test$file.text", false));
        let req = SignedRequest {
            method: "PUT",
            uri: &uri,
            query: "",
            headers: &hdrs,
            payload_hash: &hash,
            amz_date: "20130524T000000Z",
        };
        assert_eq!(
            signature(&authorization(&EXAMPLE, &req)),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn test_aws_example_list_objects() {
        let hash = sha256_hex(b"");
        let hdrs = headers(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", &hash),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let query = canonical_query(&[("prefix", "J"), ("max-keys", "2")]);
        let req = SignedRequest {
            method: "GET",
            uri: "/",
            query: &query,
            headers: &hdrs,
            payload_hash: &hash,
            amz_date: "20130524T000000Z",
        };
        assert_eq!(
            signature(&authorization(&EXAMPLE, &req)),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }
}
