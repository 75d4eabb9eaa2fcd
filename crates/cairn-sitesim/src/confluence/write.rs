//! v2 writes: pages and blog posts (create, update, delete), footer and inline comments,
//! content properties.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use crate::http::*;
use crate::model::*;
use crate::{adf, storage};

use super::R;
use super::read::{container, id_param, may_edit};
use super::render::{comment_json, page_json, prop_json};

/// A written body in both formats: storage as written and its ADF, or ADF as written and its
/// storage. Malformed storage is refused (400), as Confluence refuses it.
fn read_body(site: &Site, r: &Req, b: &Value) -> Result<(String, Value), Response> {
    // Either `{representation, value}` (PageBodyWrite) or `{storage: {value}}` (PageNestedBodyWrite).
    let nested = ["storage", "atlas_doc_format", "wiki"]
        .into_iter()
        .find(|k| b["body"].get(*k).is_some());
    let (rep, value) = match nested {
        Some(k) => (k, &b["body"][k]["value"]),
        None => (
            b["body"]["representation"].as_str().unwrap_or("storage"),
            &b["body"]["value"],
        ),
    };
    match rep {
        "storage" => {
            let s = value.as_str().unwrap_or("").to_string();
            let names = |id: &str| site.user(id).map(|u| u.display_name.clone());
            let a = storage::to_adf(&s, &names).map_err(|e| {
                r.err(
                    StatusCode::BAD_REQUEST,
                    &format!("Error parsing xhtml: {e}"),
                )
            })?;
            Ok((s, a))
        }
        "atlas_doc_format" => {
            let a: Value = match value {
                Value::String(s) => serde_json::from_str(s).map_err(|_| {
                    r.err(
                        StatusCode::BAD_REQUEST,
                        "The atlas_doc_format body value must be a JSON string of an ADF document",
                    )
                })?,
                _ => {
                    return Err(r.err(
                        StatusCode::BAD_REQUEST,
                        "The atlas_doc_format body value must be a JSON string",
                    ));
                }
            };
            Ok((adf::to_storage(&a), a))
        }
        other => Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("Unsupported representation {other}"),
        )),
    }
}

fn create_content(site: &mut Site, r: &Req, kind: PageKind) -> R {
    let b = r.json()?;
    let space_id = b["spaceId"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .or(b["spaceId"].as_u64())
        .filter(|s| site.spaces.contains_key(s));
    let Some(space_id) = space_id else {
        return Err(r.err(StatusCode::BAD_REQUEST, "A valid spaceId is required"));
    };
    let target = match kind {
        PageKind::Page => "page",
        PageKind::BlogPost => "blogpost",
    };
    if !site.may_read_space(&r.me, space_id) {
        return Err(r.err(StatusCode::BAD_REQUEST, "A valid spaceId is required"));
    }
    if !site.space_allows(&r.me, space_id, "create", target) {
        return Err(r.err(
            StatusCode::FORBIDDEN,
            &format!("You do not have permission to create a {target} in this space"),
        ));
    }
    let title = b["title"].as_str().unwrap_or("").trim().to_string();
    if title.is_empty() {
        return Err(r.err(StatusCode::BAD_REQUEST, "Title is required"));
    }
    if site
        .pages
        .values()
        .any(|p| p.space_id == space_id && p.kind == kind && p.title == title)
    {
        return Err(r.err(StatusCode::BAD_REQUEST, "A page with this title already exists: A page already exists with the same TITLE in this space"));
    }
    let (storage, adf_doc) = read_body(site, r, &b)?;
    let mut parent = None;
    if kind == PageKind::Page {
        parent = match b["parentId"].as_str().and_then(|s| s.parse::<u64>().ok()) {
            Some(p)
                if site.pages.get(&p).is_some_and(|x| {
                    x.kind == PageKind::Page
                        && x.space_id == space_id
                        && site.may_read_page(&r.me, p)
                }) =>
            {
                Some(p)
            }
            Some(_) => {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    "The parent page was not found in that space",
                ));
            }
            None if r.q_bool("root-level") => None,
            None => site.spaces[&space_id].homepage_id,
        };
    }
    let id = site.alloc_id();
    let now = Utc::now();
    // A new page comes after its siblings.
    let position = site
        .pages
        .values()
        .filter(|p| p.parent_id == parent && p.space_id == space_id && p.kind == kind)
        .map(|p| p.position + 1)
        .max()
        .unwrap_or(0);
    site.pages.insert(
        id,
        Page {
            id,
            kind,
            space_id,
            parent_id: parent,
            position,
            title,
            author: r.me.clone(),
            created: now,
            version: CVersion {
                number: 1,
                author: r.me.clone(),
                created: now,
                message: b["version"]["message"].as_str().unwrap_or("").into(),
            },
            storage,
            adf: adf_doc,
            labels: vec![],
            properties: vec![],
            // `private`: only the creator may read and edit it, from its first moment.
            restrictions: if r.q_bool("private") {
                let me = Restriction {
                    users: vec![r.me.clone()],
                    groups: vec![],
                };
                Restrictions {
                    read: me.clone(),
                    update: me,
                }
            } else {
                Restrictions::default()
            },
        },
    );
    if kind == PageKind::Page && site.spaces[&space_id].homepage_id.is_none() {
        site.spaces.get_mut(&space_id).unwrap().homepage_id = Some(id);
    }
    Ok(ok(page_json(site, &site.pages[&id], r, true)))
}

pub fn page_create(site: &mut Site, r: &Req) -> R {
    create_content(site, r, PageKind::Page)
}
pub fn blogpost_create(site: &mut Site, r: &Req) -> R {
    create_content(site, r, PageKind::BlogPost)
}

pub fn page_update(site: &mut Site, r: &Req) -> R {
    let id = container(site, r, "id", PageKind::Page)?.id;
    may_edit(site, r, id)?;
    let b = r.json()?;
    let n = b["version"]["number"]
        .as_u64()
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "Version number is required"))?;
    let cur = site.pages[&id].version.number;
    if n != cur + 1 {
        return Err(r.err(StatusCode::CONFLICT, &format!("Version must be incremented when updating a page. Current Version: [{cur}]. Provided version: [{n}]")));
    }
    let (storage, adf_doc) = read_body(site, r, &b)?;
    let title = b["title"].as_str().unwrap_or("").trim().to_string();
    let parent = b["parentId"].as_str().and_then(|s| s.parse::<u64>().ok());
    let p = site.pages.get_mut(&id).unwrap();
    if !title.is_empty() {
        p.title = title;
    }
    if parent.is_some() {
        p.parent_id = parent;
    }
    p.storage = storage;
    p.adf = adf_doc;
    p.version = CVersion {
        number: n,
        author: r.me.clone(),
        created: Utc::now(),
        message: b["version"]["message"].as_str().unwrap_or("").into(),
    };
    Ok(ok(page_json(site, &site.pages[&id], r, true)))
}

pub fn page_delete(site: &mut Site, r: &Req) -> R {
    let id = container(site, r, "id", PageKind::Page)?.id;
    may_edit(site, r, id)?;
    site.remove_page(id);
    Ok(no_content())
}

pub fn footer_comment_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let num = |k: &str| b[k].as_str().and_then(|s| s.parse::<u64>().ok());
    let parent_comment = num("parentCommentId");
    let container = num("pageId")
        .or(num("blogPostId"))
        .or_else(|| {
            parent_comment
                .and_then(|c| site.ccomments.get(&c))
                .map(|c| c.container)
        })
        .filter(|c| site.may_read_page(&r.me, *c))
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "One of pageId, blogPostId or parentCommentId is required",
            )
        })?;
    let (storage, adf_doc) = read_body(site, r, &b)?;
    let id = site.alloc_id();
    let c = CComment {
        id,
        kind: CommentKind::Footer,
        container,
        parent_comment,
        author: r.me.clone(),
        created: Utc::now(),
        version: 1,
        storage,
        adf: adf_doc,
        resolved: false,
        inline_ref: String::new(),
        inline_text: String::new(),
    };
    let mut v = comment_json(site, &c, r);
    site.ccomments.insert(id, c);
    v["_links"]["base"] = json!(format!("{}/wiki", r.base));
    Ok(created(v))
}

pub fn inline_comment_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let num = |k: &str| b[k].as_str().and_then(|s| s.parse::<u64>().ok());
    let container = num("pageId")
        .or(num("blogPostId"))
        .filter(|c| site.may_read_page(&r.me, *c))
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "pageId or blogPostId of existing content is required",
            )
        })?;
    let sel = b["inlineCommentProperties"]["textSelection"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if sel.is_empty() {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "inlineCommentProperties.textSelection is required",
        ));
    }
    let (storage, adf_doc) = read_body(site, r, &b)?;
    let id = site.alloc_id();
    let c = CComment {
        id,
        kind: CommentKind::Inline,
        container,
        parent_comment: None,
        author: r.me.clone(),
        created: Utc::now(),
        version: 1,
        storage,
        adf: adf_doc,
        resolved: false,
        inline_ref: blake3::hash(format!("{id}").as_bytes()).to_hex()[..32].to_string(),
        inline_text: sel,
    };
    let mut v = comment_json(site, &c, r);
    site.ccomments.insert(id, c);
    v["_links"]["base"] = json!(format!("{}/wiki", r.base));
    Ok(created(v))
}

pub fn inline_comment_update(site: &mut Site, r: &Req) -> R {
    let id = id_param(r, "comment-id")?;
    let b = r.json()?;
    let cur = site
        .ccomments
        .get(&id)
        .filter(|c| c.kind == CommentKind::Inline && site.may_read_page(&r.me, c.container))
        .map(|c| c.version)
        .ok_or_else(|| r.not_found("Inline comment not found"))?;
    let n = b["version"]["number"]
        .as_u64()
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "Version number is required"))?;
    if n != cur + 1 {
        return Err(r.err(
            StatusCode::CONFLICT,
            &format!(
                "Version must be incremented. Current version: [{cur}]. Provided version: [{n}]"
            ),
        ));
    }
    let body = if b["body"].is_null() {
        None
    } else {
        Some(read_body(site, r, &b)?)
    };
    let c = site.ccomments.get_mut(&id).unwrap();
    c.version = n;
    if let Some((storage, adf_doc)) = body {
        c.storage = storage;
        c.adf = adf_doc;
    }
    if let Some(res) = b["resolved"].as_bool() {
        c.resolved = res;
    }
    let c = c.clone();
    let mut v = comment_json(site, &c, r);
    v["_links"]["base"] = json!(format!("{}/wiki", r.base));
    Ok(ok(v))
}

fn property_create(site: &mut Site, r: &Req, name: &str, kind: PageKind) -> R {
    let pid = container(site, r, name, kind)?.id;
    may_edit(site, r, pid)?;
    let b = r.json()?;
    let key = b["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "key is required"))?
        .to_string();
    if site.pages[&pid].properties.iter().any(|p| p.key == key) {
        return Err(r.err(
            StatusCode::CONFLICT,
            "A property with this key already exists",
        ));
    }
    let id = site.alloc_id();
    let prop = CProperty {
        id,
        key,
        value: b["value"].clone(),
        version: 1,
    };
    let v = prop_json(&prop);
    site.pages.get_mut(&pid).unwrap().properties.push(prop);
    Ok(ok(v))
}
/// v2 `POST /spaces/{space-id}/properties`: needs the space's `administer` permission; a key
/// the space has is a 409.
pub fn space_property_create(site: &mut Site, r: &Req) -> R {
    let sid = super::read::space_of_param(site, r, "space-id")?;
    if !site.space_allows(&r.me, sid, "administer", "space") {
        return Err(r.err(
            StatusCode::FORBIDDEN,
            "You need the 'Admin' permission of the space to change its properties",
        ));
    }
    let b = r.json()?;
    let key = b["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "key is required"))?
        .to_string();
    if site.spaces[&sid].properties.iter().any(|p| p.key == key) {
        return Err(r.err(
            StatusCode::CONFLICT,
            "A property with this key already exists",
        ));
    }
    let prop = CProperty {
        id: site.alloc_id(),
        key,
        value: b["value"].clone(),
        version: 1,
    };
    let v = prop_json(&prop);
    site.spaces.get_mut(&sid).unwrap().properties.push(prop);
    Ok(created(v))
}

pub fn page_property_create(site: &mut Site, r: &Req) -> R {
    property_create(site, r, "page-id", PageKind::Page)
}
pub fn blog_property_create(site: &mut Site, r: &Req) -> R {
    property_create(site, r, "blogpost-id", PageKind::BlogPost)
}
