//! Pairs each source object with what the destination holds under the same key.
//!
//! When both sides list in key order and the selection is a set of prefixes, the two listings are
//! merged like rclone's march: one LIST page answers a thousand objects instead of a HEAD each.
//! Otherwise (named keys, list files, a filesystem on either side) the destination is looked up
//! per object.

use futures::stream::{self, BoxStream, Peekable, StreamExt, TryStreamExt};

use crate::compare::ObjectMeta;
use crate::error::{Result, Side};
use crate::listing::{disjoint_prefixes, list_side_prefix_after, Listed, Selection};
use crate::storage::Storage;

/// What is known about the destination copy of one source object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DstState {
    /// The destination listing answered: present with this metadata, or absent.
    Listed(Option<ObjectMeta>),
    /// Not known yet; the worker must look the key up.
    Unknown,
}

/// Tells whether the merged-listing strategy applies to this pair of endpoints and selection.
pub fn can_march(source: &Storage, destination: &Storage, selection: &Selection) -> bool {
    matches!(selection, Selection::Prefixes(_))
        && source.lists_in_key_order()
        && destination.lists_in_key_order()
}

/// Lists the destination under `dst_prefix` + each selection prefix, yielding keys relative to
/// `dst_prefix` so that they compare directly with source keys.
pub async fn list_destination(
    destination: &Storage,
    dst_prefix: &str,
    prefixes: &[String],
    start_after: Option<&str>,
) -> Result<BoxStream<'static, Result<(String, ObjectMeta)>>> {
    let mut streams = Vec::new();
    let dst_after = start_after.map(|after| format!("{dst_prefix}{after}"));
    for prefix in disjoint_prefixes(prefixes) {
        let strip = dst_prefix.to_owned();
        let listed = list_side_prefix_after(
            destination,
            Side::Destination,
            &format!("{dst_prefix}{prefix}"),
            dst_after.as_deref(),
        )
        .await?;
        streams.push(
            listed
                .map_ok(move |object| {
                    let relative = object
                        .key
                        .strip_prefix(strip.as_str())
                        .unwrap_or(&object.key);
                    (relative.to_owned(), object.meta)
                })
                .boxed(),
        );
    }
    Ok(stream::iter(streams).flatten().boxed())
}

/// Merges a key-ordered source stream with a key-ordered destination stream.
pub fn merge(
    source: BoxStream<'static, Result<Listed>>,
    destination: BoxStream<'static, Result<(String, ObjectMeta)>>,
) -> BoxStream<'static, Result<(Listed, DstState)>> {
    stream::try_unfold(
        (source, destination.peekable()),
        |(mut source, mut destination)| async move {
            let Some(listed) = source.try_next().await? else {
                return Ok(None);
            };
            let key = match &listed {
                Listed::Found(object) => object.key.clone(),
                Listed::Missing { .. } => {
                    return Ok(Some(((listed, DstState::Unknown), (source, destination))))
                }
            };
            let found = advance_to(&mut destination, &key).await?;
            Ok(Some((
                (listed, DstState::Listed(found)),
                (source, destination),
            )))
        },
    )
    .boxed()
}

/// Skips destination keys before `key` and takes `key`'s entry if it is next.
async fn advance_to(
    destination: &mut Peekable<BoxStream<'static, Result<(String, ObjectMeta)>>>,
    key: &str,
) -> Result<Option<ObjectMeta>> {
    loop {
        let next = std::pin::Pin::new(&mut *destination).peek().await;
        match next {
            None => return Ok(None),
            Some(Err(_)) => {
                // Surface the listing error by taking it out of the stream.
                return match destination.next().await {
                    Some(Err(err)) => Err(err),
                    _ => Ok(None),
                };
            }
            Some(Ok((dst_key, _))) => match dst_key.as_str().cmp(key) {
                std::cmp::Ordering::Less => {
                    destination.next().await;
                }
                std::cmp::Ordering::Equal => {
                    return Ok(destination
                        .next()
                        .await
                        .and_then(|r| r.ok())
                        .map(|(_, meta)| meta));
                }
                std::cmp::Ordering::Greater => return Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::SourceObject;

    fn meta(size: u64) -> ObjectMeta {
        ObjectMeta {
            size,
            last_modified_ms: Some(0),
            crc64: None,
        }
    }

    #[tokio::test]
    async fn test_merge_pairs_present_and_absent_keys() {
        let source: Vec<Result<Listed>> = ["a", "b", "d", "e"]
            .iter()
            .map(|key| {
                Ok(Listed::Found(SourceObject {
                    origin: None,
                    etag: None,
                    key: (*key).to_owned(),
                    meta: meta(1),
                }))
            })
            .collect();
        let destination: Vec<Result<(String, ObjectMeta)>> =
            [("0", 9), ("b", 2), ("c", 3), ("e", 5), ("f", 6)]
                .iter()
                .map(|(key, size)| Ok(((*key).to_owned(), meta(*size))))
                .collect();
        let merged: Vec<(Listed, DstState)> = merge(
            stream::iter(source).boxed(),
            stream::iter(destination).boxed(),
        )
        .try_collect()
        .await
        .unwrap();
        let states: Vec<DstState> = merged.into_iter().map(|(_, state)| state).collect();
        assert_eq!(
            states,
            vec![
                DstState::Listed(None),
                DstState::Listed(Some(meta(2))),
                DstState::Listed(None),
                DstState::Listed(Some(meta(5))),
            ]
        );
    }
}
