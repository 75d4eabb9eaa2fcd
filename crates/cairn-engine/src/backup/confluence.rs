//! The Confluence side of a backup: spaces, pages and blog posts with both bodies, labels,
//! properties, comments, attachments and restrictions (read ahead, or taken over unread when
//! unchanged).

use std::collections::{BTreeMap, HashMap};

use cairn_connectors::{ContentKind, Site};
use cairn_control::jobs::EngineError;
use cairn_store::Selection;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::run::{AttachmentSource, BackupRun, Category, Want};
use super::{ITEMS_READ_AHEAD, read_all, selection_names};
use crate::json::id_str;
use crate::layout::{self, attr};
use crate::site::{SiteRole::Source, site_error};

/// Backs up a Confluence site: its spaces (personal ones with `PERSONAL_SPACES`) with their
/// pages and blog posts, each with what hangs off it and its attachments.
pub(super) async fn backup(
    run: &mut BackupRun<'_>,
    site: &Site,
    selections: &[Selection],
) -> Result<(), EngineError> {
    let c = site.confluence();
    let site_doc = json!({"selections": selection_names(selections)});
    run.put(
        &layout::confluence_site(),
        &site_doc,
        BTreeMap::new(),
        Category::Data,
    )
    .await?;
    let personal = selections.contains(&Selection::PersonalSpaces);
    let spaces = read_all(c.spaces(personal)).await?;
    run.known = run.done() + spaces.len() as u64;
    let mut group_names = BTreeMap::new();
    for space in spaces {
        let key = space["key"].as_str().unwrap_or_default().to_string();
        let space_id = id_str(&space["id"]).unwrap_or_default();
        let permissions = space_permissions(&c, &space_id, &mut group_names).await?;
        let labels = read_all(c.space_labels(&space_id)).await?;
        let properties = read_all(c.space_properties(&space_id)).await?;
        run.put(
            &layout::confluence_space(&key),
            &json!({"space": space, "permissions": permissions, "labels": labels,
                    "properties": properties}),
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            // In bulk the listing carries each item's `storage` body (see `read_content`).
            let listed = match run.bulk_reads {
                true => read_all(c.contents(kind, &space_id)).await?,
                false => read_all(c.content_ids(kind, &space_id)).await?,
            };
            run.known += listed.len() as u64;
            // Changing a restriction leaves an item's version alone, so the restrictions of
            // the whole space are read in bulk and compared as well.
            let mut restrictions = restrictions_in_space(&c, kind, &key).await?;
            // Unchanged items are taken over from the parent now; the rest are read below.
            let mut to_read = Vec::new();
            for item in listed {
                let id = id_str(&item["id"]).unwrap_or_default();
                let stamp = item["version"]["createdAt"].as_str().unwrap_or_default();
                let parent = id_str(&item["parentId"]).unwrap_or_default();
                let restricted = restrictions.remove(&id);
                let restricted_stamp = restricted.as_deref().map(restrictions_stamp);
                let mut listed = vec![(attr::UPDATED, stamp)];
                if let Some(r) = &restricted_stamp {
                    listed.push((attr::RESTRICTIONS, r.as_str()));
                }
                let path = match kind {
                    ContentKind::Page => {
                        listed.push((attr::PARENT, parent.as_str()));
                        layout::confluence_page(&key, &id)
                    }
                    ContentKind::BlogPost => layout::confluence_blogpost(&key, &id),
                };
                // An item missing from the restriction listing (created in between) is read.
                if !stamp.is_empty()
                    && restricted_stamp.is_some()
                    && let Some((from, attrs)) =
                        run.take_over(&path, Want::Listed(&listed), true).await?
                {
                    AttachmentSource::Confluence(&c, &id)
                        .taken_over(run, from, &path, &attrs)
                        .await?;
                    continue;
                }
                let storage = run.bulk_reads.then(|| Listed {
                    version: item["version"]["number"].clone(),
                    storage: item["body"]["storage"].clone(),
                });
                to_read.push((path, id, storage, restricted));
            }
            // As for Jira issues: the next few items are read (each in a task of its own) while
            // one is written.
            let mut reads = futures::stream::iter(to_read)
                .map(|(path, id, listed, restricted)| {
                    let c = c.clone();
                    tokio::spawn(async move {
                        let read = match listed {
                            Some(listed) => {
                                read_content_bulk(&c, kind, &id, listed, restricted).await?
                            }
                            None => read_content(&c, kind, &id, restricted).await?,
                        };
                        Ok::<_, cairn_connectors::Error>((path, id, read))
                    })
                })
                .buffered(ITEMS_READ_AHEAD);
            while let Some(read) = reads.next().await {
                let (path, id, read) = read
                    .map_err(|e| EngineError::Retryable(format!("reading a page: {e}")))?
                    .map_err(site_error(Source))?;
                // None: deleted between the listing and now.
                if let Some(read) = read {
                    write_content(run, &c, kind, &path, &id, read).await?;
                }
            }
        }
    }
    Ok(())
}

/// A space's permissions as v2 lists them, each group principal with its `name` too (a
/// destination knows groups by name, not by this site's ids). `group_names` caches the look-ups.
async fn space_permissions(
    c: &cairn_connectors::Confluence,
    space_id: &str,
    group_names: &mut BTreeMap<String, Option<String>>,
) -> Result<Vec<Value>, EngineError> {
    let mut out = read_all(c.space_permissions(space_id)).await?;
    for p in &mut out {
        if p["principal"]["type"] != "group" {
            continue;
        }
        let id = id_str(&p["principal"]["id"]).unwrap_or_default();
        if !group_names.contains_key(&id) {
            let name = c.group_name(&id).await.map_err(site_error(Source))?;
            group_names.insert(id.clone(), name);
        }
        if let Some(Some(name)) = group_names.get(&id) {
            p["principal"]["name"] = json!(name);
        }
    }
    Ok(out)
}

/// A page or blog post with both bodies, and what hangs off it, read side by side.
struct ContentRead {
    content: Value,
    labels: Vec<Value>,
    properties: Vec<Value>,
    comments: Vec<Value>,
    attachments: Vec<Value>,
    /// Who may read and who may edit it (v1 `restriction`, one entry per operation).
    restrictions: Vec<Value>,
}

/// The restrictions of one page or blog post: v1's entries with their users and groups, as
/// the space's listing gave them or else read on their own.
async fn read_restrictions(
    c: &cairn_connectors::Confluence,
    id: &str,
    listed: Option<Vec<Value>>,
) -> cairn_connectors::Result<Vec<Value>> {
    if let Some(listed) = listed {
        return Ok(listed);
    }
    let v = c.restrictions(id).await?;
    Ok(v["results"].as_array().cloned().unwrap_or_default())
}

/// The restrictions of every page (or blog post) of a space the backup account reads, by id:
/// each item's entries (`read`, `update`) in the form [`read_restrictions`] gives them.
async fn restrictions_in_space(
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    space_key: &str,
) -> Result<HashMap<String, Vec<Value>>, EngineError> {
    let listed = read_all(c.restrictions_in_space(kind, space_key)).await?;
    Ok(listed
        .into_iter()
        .filter_map(|mut item| {
            let id = id_str(&item["id"])?;
            let entries = ["read", "update"]
                .iter()
                .filter_map(|op| {
                    let mut e = item["restrictions"][op].take();
                    if e.is_null() {
                        return None;
                    }
                    e["operation"] = json!(op);
                    Some(e)
                })
                .collect();
            Some((id, entries))
        })
        .collect())
}

/// A short digest of who an item's restrictions let through (accounts and groups per
/// operation, order ignored): kept as an entry attribute so that a changed restriction makes
/// the next backup read the item again.
fn restrictions_stamp(entries: &[Value]) -> String {
    let mut parsed = crate::json::content_restrictions(entries);
    parsed.sort_by(|a, b| a.operation.cmp(&b.operation));
    for r in &mut parsed {
        r.users.sort();
        r.groups.sort();
    }
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(format!("{parsed:?}").as_bytes())[..8])
}

/// Reads one page or blog post; `None` if it was deleted since it was listed.
async fn read_content(
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    id: &str,
    restricted: Option<Vec<Value>>,
) -> cairn_connectors::Result<Option<ContentRead>> {
    let all = |docs: cairn_connectors::Docs| docs.try_collect::<Vec<Value>>();
    let read = futures::try_join!(
        c.content(kind, id, "storage"),
        c.content(kind, id, "atlas_doc_format"),
        all(c.labels(kind, id)),
        all(c.properties(kind, id)),
        all(c.comments(kind, id)),
        all(c.attachments(kind, id)),
        read_restrictions(c, id, restricted),
    );
    let (mut content, adf, labels, properties, comments, attachments, restrictions) = match read {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    content["body"]["atlas_doc_format"] = adf["body"]["atlas_doc_format"].clone();
    Ok(Some(ContentRead {
        content,
        labels,
        properties,
        comments,
        attachments,
        restrictions,
    }))
}

/// What the bulk listing gave of an item: its `storage` body, at its version then.
struct Listed {
    version: Value,
    storage: Value,
}

/// Reads one page or blog post as [`read_content`] does, into the same documents, with fewer
/// requests: the `storage` body comes from the listing, and one read gives the ADF body with
/// the labels and properties (`include-*`, each cut off at 50: a list with `meta.hasMore` is
/// read whole from its own route). The `storage` body is read on its own only when the item
/// changed since it was listed. Comments and attachments have no `include-*` form: they are
/// read as one by one. `None` if it was deleted since it was listed.
async fn read_content_bulk(
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    id: &str,
    listed: Listed,
    restricted: Option<Vec<Value>>,
) -> cairn_connectors::Result<Option<ContentRead>> {
    match read_parts(c, kind, id, listed, restricted).await {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn read_parts(
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    id: &str,
    listed: Listed,
    restricted: Option<Vec<Value>>,
) -> cairn_connectors::Result<ContentRead> {
    let all = |docs: cairn_connectors::Docs| docs.try_collect::<Vec<Value>>();
    let (mut content, comments, attachments, restrictions) = futures::try_join!(
        c.content_with_parts(kind, id, "atlas_doc_format"),
        all(c.comments(kind, id)),
        all(c.attachments(kind, id)),
        read_restrictions(c, id, restricted),
    )?;
    let included = |content: &mut Value, field: &str| -> Option<Vec<Value>> {
        let part = content.as_object_mut()?.shift_remove(field)?;
        if part["meta"]["hasMore"] == json!(true) {
            return None;
        }
        match part.get("results").cloned() {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        }
    };
    let labels = included(&mut content, "labels");
    let properties = included(&mut content, "properties");
    let labels = match labels {
        Some(l) => l,
        None => all(c.labels(kind, id)).await?,
    };
    let properties = match properties {
        Some(p) => p,
        None => all(c.properties(kind, id)).await?,
    };
    let storage = match content["version"]["number"] == listed.version {
        true => listed.storage,
        false => c.content(kind, id, "storage").await?["body"]["storage"].take(),
    };
    // The body as the one-by-one read builds it: `storage`, then `atlas_doc_format`.
    let adf = content["body"]["atlas_doc_format"].take();
    content["body"] = json!({"storage": storage, "atlas_doc_format": adf});
    Ok(ContentRead {
        content,
        labels,
        properties,
        comments,
        attachments,
        restrictions,
    })
}

/// Writes a page or blog post that was read, then streams its attachments.
async fn write_content(
    run: &mut BackupRun<'_>,
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    path: &str,
    id: &str,
    read: ContentRead,
) -> Result<(), EngineError> {
    let ContentRead {
        content,
        labels,
        properties,
        comments,
        attachments,
        restrictions,
    } = read;
    let (inline, footer): (Vec<Value>, Vec<Value>) = comments
        .into_iter()
        .partition(|c| c.get("resolutionStatus").is_some());
    let ids: Vec<String> = attachments
        .iter()
        .map(|a| id_str(&a["id"]).unwrap_or_default())
        .collect();
    let stamp = content["version"]["createdAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = match kind {
        ContentKind::Page => "page",
        ContentKind::BlogPost => "blogpost",
    };
    let doc = json!({
        name: content,
        "labels": labels,
        "properties": properties,
        "footerComments": footer,
        "inlineComments": inline,
        "attachments": attachments,
        "restrictions": restrictions,
    });
    let mut attrs = BTreeMap::from([
        (attr::UPDATED.to_string(), stamp),
        (attr::ATTACHMENTS.to_string(), ids.join(",")),
        (
            attr::RESTRICTIONS.to_string(),
            restrictions_stamp(&restrictions),
        ),
    ]);
    if kind == ContentKind::Page {
        attrs.insert(
            attr::PARENT.to_string(),
            id_str(&content["parentId"]).unwrap_or_default(),
        );
    }
    run.put(path, &doc, attrs, Category::Data).await?;
    if !run.attachments {
        return Ok(());
    }
    run.known += attachments.len() as u64;
    for a in &attachments {
        AttachmentSource::Confluence(c, id)
            .store(run, &doc, &id_str(&a["id"]).unwrap_or_default())
            .await?;
    }
    Ok(())
}
