//! Writing object lists (failed / succeeded / skipped) into a bucket, streamed.

use futures::{Stream, StreamExt};

use crate::error::{Error, Result, Side};
use crate::storage::Storage;

/// Buffer size per upload part for object lists.
const LIST_CHUNK: usize = 8 * 1024 * 1024;

/// Lines are handed to the writer in blocks of about this size. One write per line would queue
/// ~100,000 buffers per part, and the writer's queue sums their lengths on every write: a
/// million-line list took hours (bench/ledger_size.sh).
const LIST_BLOCK: usize = 256 * 1024;

/// Writes `lines` (each without its newline) to `key` at `storage`, never holding more than one
/// part and one block in memory.
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
    let mut block: Vec<u8> = Vec::with_capacity(LIST_BLOCK);
    let mut lines = std::pin::pin!(lines);
    loop {
        let line = match lines.next().await {
            Some(Ok(line)) => Some(line),
            Some(Err(err)) => {
                let _ = writer.abort().await;
                return Err(err);
            }
            None => None,
        };
        let last = line.is_none();
        if let Some(line) = line {
            block.extend_from_slice(line.as_bytes());
            block.push(b'\n');
            count += 1;
        }
        if (last && !block.is_empty()) || block.len() >= LIST_BLOCK {
            let full = std::mem::replace(&mut block, Vec::with_capacity(LIST_BLOCK));
            if let Err(err) = writer.write(full).await {
                let _ = writer.abort().await;
                return Err(storage_error(err));
            }
        }
        if last {
            break;
        }
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
    use crate::Location;
    use tern_core::Credentials;

    /// A list longer than one block and one part arrives whole, in order, once per line; a
    /// failure to read the rows is the call's error.
    #[tokio::test]
    async fn test_write_lines_streams_every_line_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let storage =
            Storage::open(&Location::parse_url(&url, Credentials::default()).unwrap()).unwrap();
        let count = 200_000u64;
        let lines = futures::stream::iter((0..count).map(|i| {
            Ok(format!(
                "data/tenant-7/2026-11-25/object-{i:010}.parquet\t{i}"
            ))
        }));
        assert_eq!(
            write_lines(&storage, "oms/list.txt", lines).await.unwrap(),
            count
        );
        let written = std::fs::read_to_string(dir.path().join("oms/list.txt")).unwrap();
        let expected: String = (0..count)
            .map(|i| format!("data/tenant-7/2026-11-25/object-{i:010}.parquet\t{i}\n"))
            .collect();
        assert!(
            written.len() > LIST_CHUNK,
            "the list spans more than one part"
        );
        assert_eq!(written, expected);

        let failing = futures::stream::iter(vec![
            Ok("first".to_owned()),
            Err(Error::Core(tern_core::Error::Internal(
                "ledger read failed".into(),
            ))),
        ]);
        assert!(write_lines(&storage, "oms/broken.txt", failing)
            .await
            .is_err());
    }

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
