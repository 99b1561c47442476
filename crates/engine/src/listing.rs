//! Listing the source as a stream, page by page, never holding the whole key space.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use opendal::{Entry, Metadata};
use tern_core::{FailureCode, LineRange, Protocol};

use crate::compare::ObjectMeta;
use crate::error::{Error, Explained, Result, Side};
use crate::storage::{crc64_metadata_key, Storage};

/// Longest line a list file may hold (OMS TRF.0018).
pub const MAX_LIST_LINE: usize = 65_535;

/// One object found at the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// Key relative to the source root.
    pub key: String,
    /// Size, time and checksum.
    pub meta: ObjectMeta,
    /// Where to fetch it over HTTP instead of from the source storage (URL lists, CDNs).
    pub origin: Option<Box<crate::urllist::UrlOrigin>>,
    /// The ETag the listing gave, which lets a server-side copy skip the source's HEAD.
    pub etag: Option<String>,
}

/// One item of the source listing: an object, or a key that was asked for but is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// The object exists.
    Found(SourceObject),
    /// A key named explicitly (object list, list file) that could not be found or read.
    Missing {
        /// The key.
        key: String,
        /// Why it failed.
        code: FailureCode,
        /// The storage's message.
        message: String,
    },
}

/// Which source objects a run covers, resolved to live storage.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every key under each prefix (`""` = everything under the root).
    Prefixes(Vec<String>),
    /// Exact keys; a key ending in `/` means everything below it.
    Objects(Vec<String>),
    /// The URL-encoded keys listed one per line in a file.
    ListFile {
        /// Where the list file is.
        storage: Storage,
        /// Its path.
        path: String,
        /// Only these key lines (the slice a LIST group gave one task); `None`: every line.
        lines: Option<LineRange>,
    },
    /// The objects of a URL-list file (see [`crate::urllist`]), fetched over HTTP.
    UrlList {
        /// Where the list file is.
        storage: Storage,
        /// Its path.
        path: String,
        /// Only these non-blank lines (the slice a URL_LIST group gave one task).
        lines: Option<LineRange>,
    },
    /// Keys streamed from elsewhere (a retry's failed keys, page by page from the ledger),
    /// each looked up at the source.
    Keys(KeySource),
}

/// A source of keys that can be streamed again for each listing, so a selection never holds
/// its keys in memory.
#[derive(Clone)]
pub struct KeySource(Arc<dyn Fn() -> BoxStream<'static, Result<String>> + Send + Sync>);

impl KeySource {
    /// Wraps a function that starts a fresh stream of the keys each time it is called.
    pub fn new(
        start: impl Fn() -> BoxStream<'static, Result<String>> + Send + Sync + 'static,
    ) -> Self {
        KeySource(Arc::new(start))
    }

    /// Starts streaming the keys.
    pub fn stream(&self) -> BoxStream<'static, Result<String>> {
        (self.0)()
    }
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySource(..)")
    }
}

/// Converts OpenDAL metadata read from a `protocol` endpoint into what the comparison needs.
pub fn object_meta(meta: &Metadata, protocol: Protocol) -> ObjectMeta {
    ObjectMeta {
        size: meta.content_length(),
        last_modified_ms: meta
            .last_modified()
            .map(|t| jiff_millis(std::time::SystemTime::from(t))),
        crc64: meta
            .user_metadata()
            .and_then(|m| m.get(crc64_metadata_key(protocol)))
            .and_then(|v| u64::from_str_radix(v, 16).ok()),
    }
}

fn jiff_millis(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => after.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    }
}

/// Drops prefixes covered by a shorter one, so that no key is listed twice, and sorts them.
pub fn disjoint_prefixes(prefixes: &[String]) -> Vec<String> {
    let mut sorted: Vec<String> = prefixes.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut kept: Vec<String> = Vec::with_capacity(sorted.len());
    for prefix in sorted {
        if !kept
            .iter()
            .any(|shorter| prefix.starts_with(shorter.as_str()))
        {
            kept.push(prefix);
        }
    }
    kept
}

/// Lists every object under `prefix`, recursively, in the storage's own order.
pub async fn list_prefix(
    storage: &Storage,
    prefix: &str,
) -> Result<BoxStream<'static, Result<SourceObject>>> {
    list_prefix_after(storage, prefix, None).await
}

/// Lists every object under `prefix` whose key sorts strictly after `after` (a resume
/// checkpoint) at the source. Services that cannot start a listing late are filtered
/// client-side.
pub async fn list_prefix_after(
    storage: &Storage,
    prefix: &str,
    after: Option<&str>,
) -> Result<BoxStream<'static, Result<SourceObject>>> {
    list_side_prefix_after(storage, Side::Source, prefix, after).await
}

/// [`list_prefix_after`] at either end; `side` names it in error messages and codes.
pub(crate) async fn list_side_prefix_after(
    storage: &Storage,
    side: Side,
    prefix: &str,
    after: Option<&str>,
) -> Result<BoxStream<'static, Result<SourceObject>>> {
    let after = match after {
        // Every key under the prefix sorts before the checkpoint: nothing left to list.
        Some(after) if after > prefix && !after.starts_with(prefix) => {
            return Ok(stream::empty().boxed())
        }
        Some(after) if after.starts_with(prefix) => Some(after.to_owned()),
        _ => None,
    };
    let mut lister = storage.operator().lister_with(prefix).recursive(true);
    if let Some(after) = &after {
        if storage.operator().info().capability().list_with_start_after {
            lister = lister.start_after(after);
        }
    }
    let lister = lister
        .await
        .map_err(|source| Error::storage(&source, &storage.place(side, None)))?;
    let storage_for_errors = storage.clone();
    let protocol = storage.protocol();
    let prefix = prefix.to_owned();
    let listed = lister
        .map_err(move |source| Error::storage(&source, &storage_for_errors.place(side, None)))
        .try_filter_map(move |entry: Entry| {
            let keep = entry.metadata().is_file()
                && entry.path().starts_with(prefix.as_str())
                && after.as_deref().is_none_or(|after| entry.path() > after);
            let found = keep.then(|| SourceObject {
                origin: None,
                etag: entry.metadata().etag().map(str::to_owned),
                meta: object_meta(entry.metadata(), protocol),
                key: entry.path().to_owned(),
            });
            futures::future::ready(Ok(found))
        })
        .boxed();
    if storage.listings_carry_times() {
        return Ok(listed);
    }
    // Without times every object would compare as changed: each entry's HEAD supplies them.
    let storage = storage.clone();
    Ok(listed
        .map_ok(move |mut object| {
            let storage = storage.clone();
            async move {
                match crate::rawpath::stat_exact(storage.operator(), &object.key).await {
                    Ok(meta) => {
                        object.meta = object_meta(&meta, protocol);
                        object.etag = meta.etag().map(str::to_owned);
                    }
                    // Deleted since it was listed: the copy reports it.
                    Err(err) if err.kind() == opendal::ErrorKind::NotFound => {}
                    Err(err) => {
                        return Err(Error::storage(
                            &err,
                            &storage.place(side, Some(&object.key)),
                        ))
                    }
                }
                Ok(object)
            }
        })
        .try_buffered(LISTING_STATS_IN_FLIGHT)
        .boxed())
}

/// HEADs in flight while a listing without times is completed (see
/// [`crate::Storage::listings_carry_times`]).
const LISTING_STATS_IN_FLIGHT: usize = 8;

/// Looks one named key up at the source.
pub async fn stat_key(storage: &Storage, key: String) -> Listed {
    match crate::rawpath::stat_exact(storage.operator(), &key).await {
        Ok(meta) if meta.is_file() => Listed::Found(SourceObject {
            origin: None,
            etag: meta.etag().map(str::to_owned),
            meta: object_meta(&meta, storage.protocol()),
            key,
        }),
        Ok(_) => Listed::Missing {
            key,
            code: FailureCode::SourceNotFound,
            message: "the key names a directory, not an object".to_owned(),
        },
        Err(err) => {
            let Explained { code, message, .. } =
                Explained::of(&err, &storage.place(Side::Source, Some(&key)));
            Listed::Missing { key, code, message }
        }
    }
}

/// Streams the keys of a list file: one URL-encoded key per line, blank lines ignored.
pub async fn list_file_keys(
    storage: &Storage,
    path: &str,
) -> Result<BoxStream<'static, Result<String>>> {
    let storage_error = |source: opendal::Error| {
        let explained = Explained::of(&source, &storage.place(Side::Source, Some(path)));
        Error::Storage {
            code: FailureCode::ListFileUnreadable,
            message: format!("cannot read the list file: {}", explained.message),
            temporary: source.is_temporary(),
        }
    };
    let reader = storage
        .operator()
        .reader(path)
        .await
        .map_err(storage_error)?;
    let bytes = reader.into_bytes_stream(..).await.map_err(storage_error)?;
    let path = path.to_owned();
    let lines = stream::try_unfold(
        (bytes, Vec::<u8>::new(), false),
        move |(mut bytes, mut carry, mut ended)| {
            let path = path.clone();
            async move {
                loop {
                    if let Some(newline) = carry.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = carry.drain(..=newline).collect();
                        return Ok(Some((line, (bytes, carry, ended))));
                    }
                    if carry.len() > MAX_LIST_LINE {
                        return Err(list_line_error(&path, "a line is longer than 65535 bytes"));
                    }
                    if ended {
                        if carry.is_empty() {
                            return Ok(None);
                        }
                        let line = std::mem::take(&mut carry);
                        return Ok(Some((line, (bytes, carry, ended))));
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => carry.extend_from_slice(&chunk),
                        Some(Err(err)) => {
                            return Err(list_line_error(&path, &format!("read failed: {err}")))
                        }
                        None => ended = true,
                    }
                }
            }
        },
    );
    Ok(lines
        .try_filter_map(|line| futures::future::ready(decode_list_line(&line)))
        .boxed())
}

fn list_line_error(path: &str, reason: &str) -> Error {
    Error::invalid("list_file", format!("{path:?}: {reason}"))
}

/// Decodes one list-file line into a key; `None` for a blank line.
fn decode_list_line(line: &[u8]) -> Result<Option<String>> {
    let text = std::str::from_utf8(line)
        .map_err(|_| Error::invalid("list_file", "a line is not UTF-8"))?
        .trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Ok(None);
    }
    let key = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| {
            Error::invalid(
                "list_file",
                format!("line {text:?} does not decode to UTF-8"),
            )
        })?;
    Ok(Some(key.into_owned()))
}

/// Streams the selection as [`Listed`] items. Prefix listings stay in storage order; named keys are
/// looked up `checkers` at a time, in the order given.
pub async fn list_selection(
    storage: &Storage,
    selection: &Selection,
    checkers: usize,
    start_after: Option<&str>,
) -> Result<BoxStream<'static, Result<Listed>>> {
    match selection {
        Selection::Prefixes(prefixes) => {
            let mut streams = Vec::new();
            for prefix in disjoint_prefixes(prefixes) {
                streams.push(list_prefix_after(storage, &prefix, start_after).await?);
            }
            Ok(stream::iter(streams)
                .flatten()
                .map_ok(Listed::Found)
                .boxed())
        }
        Selection::Objects(keys) => {
            let storage = storage.clone();
            let keys = keys.clone();
            let items = stream::iter(keys)
                .map(move |key| {
                    let storage = storage.clone();
                    async move {
                        if key.ends_with('/') {
                            let listed = list_prefix(&storage, &key).await?;
                            Ok::<_, Error>(listed.map_ok(Listed::Found).boxed())
                        } else {
                            let one = stat_key(&storage, key).await;
                            Ok(stream::once(async move { Ok(one) }).boxed())
                        }
                    }
                })
                .buffered(checkers.max(1))
                .try_flatten();
            Ok(items.boxed())
        }
        Selection::ListFile {
            storage: list_storage,
            path,
            lines,
        } => {
            let keys = list_file_keys(list_storage, path).await?;
            let keys = match lines {
                Some(range) => {
                    let skip = usize::try_from(range.skip).unwrap_or(usize::MAX);
                    let take = usize::try_from(range.take).unwrap_or(usize::MAX);
                    keys.skip(skip).take(take).boxed()
                }
                None => keys,
            };
            Ok(stat_each(storage, keys, checkers))
        }
        Selection::Keys(source) => Ok(stat_each(storage, source.stream(), checkers)),
        // Needs the run's HTTP client: listed by `Migration` through `urllist::list_url_file`.
        Selection::UrlList { .. } => Err(Error::invalid(
            "task_type",
            "a URL list is listed through its HTTP source",
        )),
    }
}

/// Looks each key of a stream up at the source, `checkers` at a time, in stream order.
fn stat_each(
    storage: &Storage,
    keys: BoxStream<'static, Result<String>>,
    checkers: usize,
) -> BoxStream<'static, Result<Listed>> {
    let storage = storage.clone();
    keys.map_ok(move |key| {
        let storage = storage.clone();
        async move { Ok(stat_key(&storage, key).await) }
    })
    .try_buffered(checkers.max(1))
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_disjoint_prefixes_drop_covered_and_duplicates() {
        let given = ["b/", "a", "ab/", "a", "c/d/", "c/"].map(String::from);
        assert_eq!(disjoint_prefixes(&given), vec!["a", "b/", "c/"]);
        assert_eq!(disjoint_prefixes(&[String::new(), "x/".into()]), vec![""]);
    }

    #[test]
    fn test_decode_list_line() {
        assert_eq!(
            decode_list_line(b"a%20b%2Bc\r\n").unwrap().as_deref(),
            Some("a b+c")
        );
        assert_eq!(
            decode_list_line(b"plain/key.txt\n").unwrap().as_deref(),
            Some("plain/key.txt")
        );
        assert_eq!(decode_list_line(b"  \r\n").unwrap(), None);
        assert_eq!(
            decode_list_line("caf%C3%A9".as_bytes()).unwrap().as_deref(),
            Some("café")
        );
        assert!(decode_list_line(b"%FF").is_err());
    }
}
