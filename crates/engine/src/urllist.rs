//! URL-list files: the line format, its validation, and the listing of a URL-list selection.
//!
//! A URL-list file (OMS `url_list` tasks, `URL_LIST` groups) holds one object a line:
//!
//! ```text
//! <URL>\t<destination object name>
//! ```
//!
//! * the URL is absolute, `http` or `https`, written as it goes on the wire (percent-encoded
//!   where the path or query needs it: a raw space or a second TAB is refused), with no
//!   `user:password@`;
//! * the destination name is URL-encoded (percent-decoded to UTF-8 once; `+` stays `+`), not
//!   empty, at most 1024 bytes once decoded, and does not start with `/`;
//! * lines end in `\n` or `\r\n`; blank lines are ignored and not counted as objects.
//!
//! A line that breaks these rules is one failed object (TRF.0016 naming the line number), not a
//! failed task: the rest of the file is still copied. Line numbers are the file's own (1-based,
//! blank lines included), so the message points at the line a user must fix.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tern_core::{FailureCode, LineRange};
use url::Url;

use crate::compare::ObjectMeta;
use crate::error::{Error, Explained, Result, Side};
use crate::http_source::HttpSource;
use crate::listing::{Listed, SourceObject, MAX_LIST_LINE};
use crate::storage::Storage;

/// Longest destination object name (OMS `save_prefix` + key ≤ 1024).
pub const MAX_DESTINATION_NAME: usize = 1024;

/// Where an object of a URL list (or of a CDN-fronted task) is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlOrigin {
    /// The URL, as written in the list file (unsigned).
    pub url: Url,
    /// The list file's line (1-based), when the object came from one.
    pub line: Option<u64>,
    /// Whether the server announced the object's size (Content-Length). Without it the copy
    /// follows OMS `no_check`: a completed download is a success and overwrites the destination.
    pub size_known: bool,
    /// Whether the server said it serves byte ranges (large objects are then fetched in parts).
    pub accepts_ranges: bool,
}

/// One parsed line of a URL list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlLine {
    /// The object's URL.
    pub url: Url,
    /// The destination object name, decoded.
    pub name: String,
}

/// Parses one line (without its line ending) of a URL-list file; the error says what is wrong.
pub fn parse_url_line(text: &str) -> Result<UrlLine, String> {
    let mut fields = text.split('\t');
    let (Some(url_text), Some(name_text), None) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected <URL><TAB><destination name>, found {} TAB(s)",
            text.matches('\t').count()
        ));
    };
    if url_text.is_empty() {
        return Err("the URL is empty".to_owned());
    }
    if url_text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("the URL holds a space or control character; URL-encode it".to_owned());
    }
    let url = Url::parse(url_text).map_err(|err| format!("the URL does not parse: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the URL scheme {:?} is not http or https",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries credentials (user@host); they are not accepted".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL names no host".to_owned());
    }
    let name = percent_encoding::percent_decode_str(name_text)
        .decode_utf8()
        .map_err(|_| "the destination name does not URL-decode to UTF-8".to_owned())?
        .into_owned();
    if name.is_empty() {
        return Err("the destination name is empty".to_owned());
    }
    if name.starts_with('/') {
        return Err("the destination name starts with '/'".to_owned());
    }
    if name.len() > MAX_DESTINATION_NAME {
        return Err(format!(
            "the destination name is {} bytes long (at most {MAX_DESTINATION_NAME})",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the destination name holds a control character".to_owned());
    }
    Ok(UrlLine { url, name })
}

/// The source storage of a URL-list run. Nothing is read through it (objects come by URL,
/// [`crate::http_source`]); a `Migration` needs one, and an HTTP service lists nothing, so the
/// run's probe leaves it alone.
pub fn url_list_source() -> Result<Storage> {
    Storage::open(&crate::Location {
        protocol: tern_core::Protocol::Http,
        bucket: String::new(),
        endpoint: Some("http://url-list.invalid".to_owned()),
        region: None,
        root: String::new(),
        credentials: tern_core::Credentials::default(),
    })
}

/// One non-blank line of a list file: its 1-based number and its text without the line end.
pub type NumberedLine = (u64, Result<String, String>);

/// Streams the non-blank lines of a list file with their line numbers. A line that is not
/// UTF-8 is an `Err` item (a per-object problem); an unreadable file or an over-long line ends
/// the stream with an error (the task's problem).
pub async fn numbered_lines(
    storage: &Storage,
    path: &str,
) -> Result<BoxStream<'static, Result<NumberedLine>>> {
    let storage_error = |source: opendal::Error| {
        let explained = Explained::of(&source, &storage.place(Side::Source, Some(path)));
        Error::Storage {
            code: FailureCode::ListFileUnreadable,
            message: format!("cannot read the URL list file: {}", explained.message),
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
    let raw = stream::try_unfold(
        (bytes, Vec::<u8>::new(), false, 0u64),
        move |(mut bytes, mut carry, mut ended, mut number)| {
            let path = path.clone();
            async move {
                loop {
                    if let Some(newline) = carry.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = carry.drain(..=newline).collect();
                        number += 1;
                        return Ok(Some(((number, line), (bytes, carry, ended, number))));
                    }
                    if carry.len() > MAX_LIST_LINE {
                        return Err(Error::Storage {
                            code: FailureCode::ListLineTooLong,
                            message: format!(
                                "{path:?}: line {} is longer than {MAX_LIST_LINE} bytes",
                                number + 1
                            ),
                            temporary: false,
                        });
                    }
                    if ended {
                        if carry.is_empty() {
                            return Ok(None);
                        }
                        number += 1;
                        let line = std::mem::take(&mut carry);
                        return Ok(Some(((number, line), (bytes, carry, ended, number))));
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => carry.extend_from_slice(&chunk),
                        Some(Err(err)) => {
                            return Err(Error::Storage {
                                code: FailureCode::ListFileUnreadable,
                                message: format!("{path:?}: read failed: {err}"),
                                temporary: true,
                            })
                        }
                        None => ended = true,
                    }
                }
            }
        },
    );
    Ok(raw
        .try_filter_map(|(number, line)| {
            let text = match std::str::from_utf8(&line) {
                Ok(text) => text.trim_end_matches(['\n', '\r']),
                Err(_) => {
                    return futures::future::ready(Ok(Some((
                        number,
                        Err("the line is not UTF-8".to_owned()),
                    ))))
                }
            };
            let item = (!text.trim().is_empty()).then(|| (number, Ok(text.to_owned())));
            futures::future::ready(Ok(item))
        })
        .boxed())
}

/// Keeps only the window of non-blank lines a group gave one task.
pub fn window<T: Send + 'static>(
    lines: BoxStream<'static, T>,
    range: Option<LineRange>,
) -> BoxStream<'static, T> {
    match range {
        Some(range) => {
            let skip = usize::try_from(range.skip).unwrap_or(usize::MAX);
            let take = usize::try_from(range.take).unwrap_or(usize::MAX);
            lines.skip(skip).take(take).boxed()
        }
        None => lines,
    }
}

/// The ledger key of a line that is not an object: names the line, unique within the file.
pub fn bad_line_key(number: u64, text: &str) -> String {
    const SHOWN: usize = 200;
    let shown: String = text.chars().take(SHOWN).collect();
    format!("#line-{number}: {shown}")
}

/// Lists a URL-list selection: each line parsed and its URL asked for its size (`HEAD`),
/// `checkers` at a time, in file order.
pub async fn list_url_file(
    list_storage: &Storage,
    path: &str,
    lines: Option<LineRange>,
    http: &HttpSource,
    checkers: usize,
) -> Result<BoxStream<'static, Result<Listed>>> {
    let numbered = window(numbered_lines(list_storage, path).await?, lines);
    let http = http.clone();
    Ok(numbered
        .map_ok(move |(number, text)| {
            let http = http.clone();
            async move { Ok(list_line(&http, number, text).await) }
        })
        .try_buffered(checkers.max(1))
        .boxed())
}

async fn list_line(http: &HttpSource, number: u64, text: Result<String, String>) -> Listed {
    let parsed = text
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|text| parse_url_line(text).map_err(|reason| format!("line {number}: {reason}")));
    let UrlLine { url, name } = match parsed {
        Ok(line) => line,
        Err(message) => {
            return Listed::Missing {
                key: bad_line_key(number, text.as_deref().unwrap_or("")),
                code: FailureCode::UrlListBadFormat,
                message,
            }
        }
    };
    match http.head(&url).await {
        Ok(head) => Listed::Found(SourceObject {
            key: name,
            etag: None,
            meta: ObjectMeta {
                size: head.size.unwrap_or(0),
                last_modified_ms: head.last_modified_ms,
                crc64: None,
            },
            origin: Some(Box::new(UrlOrigin {
                url,
                line: Some(number),
                size_known: head.size.is_some(),
                accepts_ranges: head.accepts_ranges,
            })),
        }),
        Err(failure) => Listed::Missing {
            key: name,
            code: failure.code,
            message: format!("line {number}: {}", failure.message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_url_line_accepts_encoded_names() {
        let line =
            parse_url_line("http://h:8080/a%20b/c+d.txt?x=1\tdir/a%20b%2Bc%25+%C3%A9.txt").unwrap();
        assert_eq!(line.url.as_str(), "http://h:8080/a%20b/c+d.txt?x=1");
        assert_eq!(line.name, "dir/a b+c%+é.txt");
    }

    #[test]
    fn test_parse_url_line_names_each_problem() {
        for (line, expected) in [
            ("http://h/a", "found 0 TAB"),
            ("http://h/a\tb\tc", "found 2 TAB"),
            ("\tb", "URL is empty"),
            ("http://h/a b\tb", "space"),
            ("ftp://h/a\tb", "scheme"),
            ("http://u:p@h/a\tb", "credentials"),
            ("not a url\tb", "space"),
            ("nourl\tb", "does not parse"),
            ("http://h/a\t", "name is empty"),
            ("http://h/a\t/abs", "starts with '/'"),
            ("http://h/a\t%FF", "UTF-8"),
            ("http://h/a\ta%0Ab", "control"),
        ] {
            let err = parse_url_line(line).unwrap_err();
            assert!(err.contains(expected), "{line:?}: {err}");
        }
        let long = format!("http://h/a\t{}", "k".repeat(MAX_DESTINATION_NAME + 1));
        assert!(parse_url_line(&long).unwrap_err().contains("1025 bytes"));
    }

    #[test]
    fn test_bad_line_key_is_bounded_and_names_the_line() {
        let key = bad_line_key(7, &"x".repeat(5000));
        assert!(key.starts_with("#line-7: "));
        assert!(key.len() < 300);
    }
}
