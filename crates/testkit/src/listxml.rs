//! Parsing the ListObjectsV2 XML answer: a small hand parser for the few elements we need.

use anyhow::{bail, Context as _, Result};

/// One page of a ListObjectsV2 answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ListPage {
    pub keys: Vec<String>,
    pub next_token: Option<String>,
}

/// Parses the parts of a ListObjectsV2 XML answer we need (keys, continuation token).
pub(crate) fn parse_list_page(xml: &str) -> Result<ListPage> {
    if !xml.contains("<ListBucketResult") {
        bail!("not a ListBucketResult document");
    }
    let mut keys = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Contents>") {
        let after = &rest[start + "<Contents>".len()..];
        let end = after
            .find("</Contents>")
            .context("unterminated <Contents>")?;
        let block = &after[..end];
        let key = element_text(block, "Key").context("<Contents> without <Key>")?;
        keys.push(xml_unescape(key)?);
        rest = &after[end..];
    }
    let truncated = element_text(xml, "IsTruncated").is_some_and(|v| v.trim() == "true");
    let next_token = if truncated {
        let token = element_text(xml, "NextContinuationToken")
            .context("truncated listing without <NextContinuationToken>")?;
        Some(xml_unescape(token)?)
    } else {
        None
    };
    Ok(ListPage { keys, next_token })
}

/// One page of a ListMultipartUploads answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UploadsPage {
    /// `(key, upload id)` of each upload in progress.
    pub uploads: Vec<(String, String)>,
    /// `(key-marker, upload-id-marker)` of the next page, when truncated.
    pub next_markers: Option<(String, String)>,
}

/// Parses a ListMultipartUploads XML answer (uploads in progress, next-page markers).
pub(crate) fn parse_uploads_page(xml: &str) -> Result<UploadsPage> {
    if !xml.contains("<ListMultipartUploadsResult") {
        bail!("not a ListMultipartUploadsResult document");
    }
    let mut uploads = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Upload>") {
        let after = &rest[start + "<Upload>".len()..];
        let end = after.find("</Upload>").context("unterminated <Upload>")?;
        let block = &after[..end];
        let key = element_text(block, "Key").context("<Upload> without <Key>")?;
        let id = element_text(block, "UploadId").context("<Upload> without <UploadId>")?;
        uploads.push((xml_unescape(key)?, xml_unescape(id)?));
        rest = &after[end..];
    }
    let truncated = element_text(xml, "IsTruncated").is_some_and(|v| v.trim() == "true");
    let next_markers = if truncated {
        let key =
            element_text(xml, "NextKeyMarker").context("truncated without <NextKeyMarker>")?;
        let id = element_text(xml, "NextUploadIdMarker").unwrap_or_default();
        Some((xml_unescape(key)?, xml_unescape(id)?))
    } else {
        None
    };
    Ok(UploadsPage {
        uploads,
        next_markers,
    })
}

/// The bucket names of an S3 `ListAllMyBucketsResult` answer, in answer order.
pub(crate) fn parse_bucket_names(xml: &str) -> Result<Vec<String>> {
    if !xml.contains("<ListAllMyBucketsResult") {
        bail!("not a ListAllMyBucketsResult document");
    }
    let mut names = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Bucket>") {
        let after = &rest[start + "<Bucket>".len()..];
        let end = after.find("</Bucket>").context("unterminated <Bucket>")?;
        let name = element_text(&after[..end], "Name").context("<Bucket> without <Name>")?;
        names.push(xml_unescape(name)?);
        rest = &after[end..];
    }
    Ok(names)
}

/// `text` with the XML special characters escaped.
pub(crate) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The raw (still escaped) text of the first `<name>…</name>` element in `xml`.
fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(&xml[start..start + len])
}

/// Decodes the XML predefined entities and character references.
fn xml_unescape(text: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .with_context(|| format!("unterminated entity in {text:?}"))?;
        let entity = &after[..semi];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .with_context(|| format!("unknown entity &{entity}; in {text:?}"))?
            }
        };
        out.push(decoded);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_xml_unescape_entities_and_references() {
        assert_eq!(
            xml_unescape("a&amp;b&lt;c&gt;&quot;&apos;&#233;&#x1F600;").ok(),
            Some("a&b<c>\"'é😀".to_string())
        );
        assert!(xml_unescape("a&bogus;").is_err());
        assert!(xml_unescape("a&amp").is_err());
    }

    #[test]
    fn test_parse_list_page_truncated() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>a &amp; b</Key><Size>1</Size></Contents>
<Contents><Key>x/&lt;y&gt;</Key><ETag>&quot;e&quot;</ETag></Contents>
<NextContinuationToken>tok&amp;1</NextContinuationToken></ListBucketResult>"#;
        let page = parse_list_page(xml).ok();
        assert_eq!(
            page,
            Some(ListPage {
                keys: vec!["a & b".to_string(), "x/<y>".to_string()],
                next_token: Some("tok&1".to_string()),
            })
        );
    }

    #[test]
    fn test_parse_uploads_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>
<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>big&amp;2</NextKeyMarker>
<NextUploadIdMarker>id2</NextUploadIdMarker><MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
<Upload><Key>big1</Key><UploadId>id1</UploadId><Initiated>2025-01-01T00:00:00Z</Initiated></Upload>
<Upload><Key>big&amp;2</Key><UploadId>id2</UploadId></Upload></ListMultipartUploadsResult>"#;
        assert_eq!(
            parse_uploads_page(xml).ok(),
            Some(UploadsPage {
                uploads: vec![
                    ("big1".to_string(), "id1".to_string()),
                    ("big&2".to_string(), "id2".to_string())
                ],
                next_markers: Some(("big&2".to_string(), "id2".to_string())),
            })
        );
        let empty = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
        assert_eq!(
            parse_uploads_page(empty).ok(),
            Some(UploadsPage {
                uploads: vec![],
                next_markers: None
            })
        );
    }

    #[test]
    fn test_parse_bucket_names() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>x</ID></Owner>
<Buckets><Bucket><Name>a&amp;b</Name><CreationDate>2025-01-01T00:00:00Z</CreationDate></Bucket>
<Bucket><Name>c</Name></Bucket></Buckets></ListAllMyBucketsResult>"#;
        assert_eq!(
            parse_bucket_names(xml).ok(),
            Some(vec!["a&b".to_string(), "c".to_string()])
        );
        assert!(parse_bucket_names("<Error><Code>AccessDenied</Code></Error>").is_err());
        assert_eq!(xml_escape("a&<b>"), "a&amp;&lt;b&gt;");
    }

    #[test]
    fn test_parse_list_page_last_and_empty() {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        let page = parse_list_page(xml).ok();
        assert_eq!(
            page,
            Some(ListPage {
                keys: vec![],
                next_token: None
            })
        );
        assert!(parse_list_page("<Error><Code>NoSuchBucket</Code></Error>").is_err());
    }
}
