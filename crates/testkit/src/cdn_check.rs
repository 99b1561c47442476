//! CDN signature checks for [`crate::HttpFileServer`], written from the vendors' documentation
//! independently of tern's signers, so a test proves tern signs as the vendor verifies.

use std::sync::Arc;

use md5::{Digest, Md5};

use crate::http_server::{percent_decode, RequestCheck};

/// Aliyun type A (written from Aliyun's documentation, independently of
/// tern's signer): `auth_key = timestamp-rand-uid-md5(path-timestamp-rand-uid-key)`, fresh.
pub fn aliyun_type_a(key: &'static str) -> RequestCheck {
    Arc::new(move |path: &str, query: Option<&str>| {
        let auth = query?
            .split('&')
            .find_map(|pair| pair.strip_prefix("auth_key="))?;
        let parts: Vec<&str> = auth.splitn(4, '-').collect();
        let [timestamp, rand, uid, hash] = parts[..] else {
            return None;
        };
        let signed_at: u64 = timestamp.parse().ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        if now.abs_diff(signed_at) > 1800 {
            return None;
        }
        let expected = hex::encode(Md5::digest(
            format!("{path}-{timestamp}-{rand}-{uid}-{key}").as_bytes(),
        ));
        (expected == hash).then(|| percent_decode(path))
    })
}

/// The test's own Tencent TypeC check (from Tencent's documentation, independently of tern's
/// signer): `/md5hash/hextime/path` with `md5hash = md5(key + path + hextime)`, fresh.
pub fn tencent_type_c(key: &'static str) -> RequestCheck {
    Arc::new(move |path: &str, _query: Option<&str>| {
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (hash, hex_time, rest) = (parts.next()?, parts.next()?, parts.next()?);
        let signed_at = u64::from_str_radix(hex_time, 16).ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        if now.abs_diff(signed_at) > 1800 || hex_time != hex_time.to_lowercase() {
            return None;
        }
        let original = format!("/{rest}");
        let expected = hex::encode(Md5::digest(format!("{key}{original}{hex_time}").as_bytes()));
        (expected == hash).then(|| percent_decode(&original))
    })
}
