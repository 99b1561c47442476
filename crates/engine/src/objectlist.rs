//! Writing object lists (failed / succeeded / skipped) into a bucket, streamed.

use futures::{Stream, StreamExt};

use crate::error::{Error, Result, Side};
use crate::storage::Storage;

/// Buffer size per upload part for object lists.
const LIST_CHUNK: usize = 8 * 1024 * 1024;

/// Writes `lines` (each without its newline) to `key` at `storage`, never holding more than one
/// part in memory.
pub async fn write_lines(
    storage: &Storage,
    key: &str,
    lines: impl Stream<Item = Result<String>>,
) -> Result<u64> {
    let storage_error = |source: opendal::Error| {
        Error::storage(&source, &storage.place(Side::Destination, Some(key)))
    };
    let mut writer = storage
        .operator()
        .writer_with(key)
        .chunk(LIST_CHUNK)
        .content_type("text/plain; charset=utf-8")
        .await
        .map_err(storage_error)?;
    let mut count = 0u64;
    let mut lines = std::pin::pin!(lines);
    while let Some(line) = lines.next().await {
        let mut line = line?;
        line.push('\n');
        if let Err(err) = writer.write(line.into_bytes()).await {
            let _ = writer.abort().await;
            return Err(storage_error(err));
        }
        count += 1;
    }
    writer.close().await.map_err(storage_error)?;
    Ok(count)
}

/// Formats one row of a failed-object list: code, time (ms), URL-encoded key, key, message,
/// separated by tabs. Tabs and newlines inside the raw key and message become spaces so the
/// row stays one line; the URL-encoded key is always exact.
pub fn failed_row(code: &str, time_ms: i64, key: &str, message: &str) -> String {
    format!(
        "{code}\t{time_ms}\t{}\t{}\t{}",
        encode_key(key),
        one_line(key),
        one_line(message)
    )
}

/// Formats one row of a succeeded or skipped list: URL-encoded key, key, size, detail.
pub fn plain_row(key: &str, size: u64, detail: &str) -> String {
    format!(
        "{}\t{}\t{size}\t{}",
        encode_key(key),
        one_line(key),
        one_line(detail)
    )
}

/// URL-encodes a key the way list files expect (every byte but unreserved ones and `/`).
pub fn encode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

fn one_line(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rows_stay_on_one_line_and_keys_round_trip() {
        let row = failed_row("TRF.0012", 5, "a b\n+%/c", "no\tsuch key");
        assert_eq!(row.lines().count(), 1);
        assert_eq!(row.split('\t').count(), 5);
        let encoded = encode_key("a b\n+%/c");
        assert_eq!(encoded, "a%20b%0A%2B%25/c");
        let decoded = percent_encoding::percent_decode_str(&encoded)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, "a b\n+%/c");
        assert_eq!(plain_row("k", 3, "size_md5"), "k\tk\t3\tsize_md5");
    }
}
