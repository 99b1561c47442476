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
