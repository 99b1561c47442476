//! Keys that OpenDAL's public API would rewrite, reached through its raw service API.
//!
//! OpenDAL normalises every path (drops a leading `/`, folds `//`, trims surrounding spaces), so
//! `a//b` would silently be read from and written to `a/b`. S3 keys are opaque bytes and such
//! keys exist in real buckets, so for them tern calls the layered service directly (retry and
//! timeout layers still apply). This path sends whole objects in one request, so it serves
//! objects up to one part size; larger ones fail with a clear message instead of being mangled.

use std::collections::HashMap;

use opendal::raw::{normalize_path, OpRead, OpStat, OpWrite};
use opendal::BytesRange;
use opendal::{options::WriteOptions, Buffer, Metadata, Operator};

/// Tells whether OpenDAL's path normalisation would change this key.
pub fn needs_raw_path(key: &str) -> bool {
    normalize_path(key) != key
}

/// Stats a key exactly as given.
pub async fn stat_exact(op: &Operator, key: &str) -> opendal::Result<Metadata> {
    if !needs_raw_path(key) {
        return op.stat(key).await;
    }
    op.service()
        .stat_dyn(op.context(), key, OpStat::new())
        .await
        .map(|rp| rp.into_metadata())
}

/// Reads a whole object of known size, exactly by key.
pub async fn read_exact(op: &Operator, key: &str, size: u64) -> opendal::Result<Buffer> {
    if size == 0 {
        return Ok(Buffer::new());
    }
    read_exact_with_length(op, key, size)
        .await
        .map(|(buffer, _)| buffer)
}

/// Reads the first `size` bytes (more than zero) of an object, exactly by key, and the object's
/// whole length when the service reports it. The read fails when the object is shorter.
pub async fn read_exact_with_length(
    op: &Operator,
    key: &str,
    size: u64,
) -> opendal::Result<(Buffer, Option<u64>)> {
    let reader = op.service().read_dyn(op.context(), key, OpRead::new())?;
    let (rp, buffer) = reader.read_dyn(BytesRange::new(0, Some(size))).await?;
    Ok((buffer, rp.metadata().map(Metadata::content_length)))
}

/// Writes a whole object in one request, exactly by key.
pub async fn write_exact(
    op: &Operator,
    key: &str,
    body: Buffer,
    content_type: Option<String>,
    user_metadata: Option<HashMap<String, String>>,
) -> opendal::Result<Metadata> {
    let options = WriteOptions {
        content_type,
        user_metadata,
        ..WriteOptions::default()
    };
    let (args, _) = OpWrite::from_options(&op.info().capability(), options)?;
    let mut writer = op.service().write_dyn(op.context(), key, args)?;
    writer.write_dyn(body).await?;
    writer.close_dyn().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_needs_raw_path_for_keys_opendal_rewrites() {
        assert!(needs_raw_path("a//b"));
        assert!(needs_raw_path("/leading"));
        assert!(needs_raw_path("trailing "));
        assert!(!needs_raw_path("a/b c/d"));
        assert!(!needs_raw_path("dir/"));
        assert!(!needs_raw_path("unicode/日本語"));
    }
}
