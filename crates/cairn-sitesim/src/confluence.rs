//! Confluence Cloud REST v2 (reads, page/blog post/comment/property writes) and the v1
//! operations v2 lacks (attachment upload and download, adding labels, creating a space).

use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use crate::adf;
use crate::http::*;
use crate::jira::serve_blob;
use crate::model::*;

type R = Result<Response, Response>;

fn space_json(s: &Space, r: &Req) -> Value {
    let mut v = json!({
        "id": s.id.to_string(), "key": s.key, "name": s.name,
        "type": if s.personal { "personal" } else { "global" }, "status": "current",
        "authorId": s.author, "createdAt": conf_ts(&s.created),
        "homepageId": s.homepage_id.map(|h| h.to_string()),
        "_links": {"webui": format!("/spaces/{}", s.key)},
    });
    if let Some(fmt) = r.q("description-format") {
        v["description"] = json!({fmt: {"representation": fmt, "value": s.description}});
    }
    v
}

fn version_json(v: &CVersion) -> Value {
    json!({"createdAt": conf_ts(&v.created), "message": v.message, "number": v.number, "minorEdit": false, "authorId": v.author})
}

fn body_json(storage: &str, adf_doc: &Value, fmt: Option<&str>) -> Value {
    match fmt {
        Some("storage") => json!({"storage": {"representation": "storage", "value": storage}}),
        Some("atlas_doc_format") => {
            json!({"atlas_doc_format": {"representation": "atlas_doc_format", "value": serde_json::to_string(adf_doc).unwrap_or_default()}})
        }
        _ => json!({}),
    }
}

fn page_json(site: &Site, p: &Page, r: &Req, single: bool) -> Value {
    let fmt = r.q("body-format");
    let (kind, ui) = match p.kind {
        PageKind::Page => ("pages", "pages"),
        PageKind::BlogPost => ("blogposts", "blog"),
    };
    let space_key = site
        .spaces
        .get(&p.space_id)
        .map(|s| s.key.clone())
        .unwrap_or_default();
    let mut v = json!({
        "id": p.id.to_string(), "status": "current", "title": p.title, "spaceId": p.space_id.to_string(),
    });
    if p.kind == PageKind::Page {
        v["parentId"] = p
            .parent_id
            .map(|x| json!(x.to_string()))
            .unwrap_or(Value::Null);
        v["parentType"] = if p.parent_id.is_some() {
            json!("page")
        } else {
            Value::Null
        };
        v["position"] = json!(p.position);
        v["ownerId"] = json!(p.author);
        v["lastOwnerId"] = Value::Null;
    }
    v["authorId"] = json!(p.author);
    v["createdAt"] = json!(conf_ts(&p.created));
    v["version"] = version_json(&p.version);
    v["body"] = body_json(&p.storage, &p.adf, fmt);
    v["_links"] = json!({"webui": format!("/spaces/{space_key}/{ui}/{}", p.id), "editui": format!("/{kind}/resumedraft.action?draftId={}", p.id), "tinyui": format!("/x/{}", p.id)});
    if single {
        if v["parentType"].is_null()
            && let Some(m) = v.as_object_mut()
        {
            m.remove("parentType");
            m.remove("parentId");
        }
        if r.q_bool("include-labels") {
            v["labels"] = json!({"results": p.labels.iter().map(|l| label_json(l)).collect::<Vec<_>>(), "meta": {"hasMore": false}});
        }
        if r.q_bool("include-properties") {
            v["properties"] = json!({"results": p.properties.iter().map(prop_json).collect::<Vec<_>>(), "meta": {"hasMore": false}});
        }
        v["_links"]["base"] = json!(format!("{}/wiki", r.base));
    } else if v["parentType"].is_null()
        && let Some(m) = v.as_object_mut()
    {
        m.remove("parentType");
        m.remove("parentId");
    }
    v
}

fn label_id(l: &str) -> String {
    // Stable id from the name (labels are global in Confluence).
    let h = blake3::hash(l.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
        .rem_euclid(1 << 40)
        .to_string()
}

fn label_json(l: &str) -> Value {
    json!({"id": label_id(l), "name": l, "prefix": "global"})
}

fn prop_json(p: &CProperty) -> Value {
    json!({"id": p.id.to_string(), "key": p.key, "value": p.value, "version": {"number": p.version, "createdAt": "2025-01-01T00:00:00.000Z", "message": "", "minorEdit": false, "authorId": ""}})
}

fn comment_json(site: &Site, c: &CComment, r: &Req) -> Value {
    let container = site.pages.get(&c.container);
    let title = container
        .map(|p| format!("Re: {}", p.title))
        .unwrap_or_default();
    let mut v = json!({"id": c.id.to_string(), "status": "current", "title": title});
    match container.map(|p| p.kind) {
        Some(PageKind::BlogPost) => v["blogPostId"] = json!(c.container.to_string()),
        _ => v["pageId"] = json!(c.container.to_string()),
    }
    if let Some(pc) = c.parent_comment {
        v["parentCommentId"] = json!(pc.to_string());
    }
    v["version"] = json!({"createdAt": conf_ts(&c.created), "message": "", "number": c.version, "minorEdit": false, "authorId": c.author});
    v["body"] = body_json(&c.storage, &c.adf, r.q("body-format"));
    if c.kind == CommentKind::Inline {
        v["resolutionStatus"] = json!(if c.resolved { "resolved" } else { "open" });
        v["properties"] =
            json!({"inlineMarkerRef": c.inline_ref, "inlineOriginalSelection": c.inline_text});
    }
    v["_links"] = json!({"webui": format!("/pages/viewpage.action?pageId={}&focusedCommentId={}", c.container, c.id)});
    v
}

fn attachment_json(site: &Site, a: &CAttachment) -> Value {
    let container = site.pages.get(&a.container);
    let download = format!(
        "/rest/api/content/{}/child/attachment/att{}/download",
        a.container, a.id
    );
    let mut v = json!({
        "id": format!("att{}", a.id), "status": "current", "title": a.title, "createdAt": conf_ts(&a.created),
    });
    match container.map(|p| p.kind) {
        Some(PageKind::BlogPost) => v["blogPostId"] = json!(a.container.to_string()),
        _ => v["pageId"] = json!(a.container.to_string()),
    }
    v["mediaType"] = json!(a.media_type);
    v["mediaTypeDescription"] = json!(a.media_type);
    v["comment"] = json!(a.comment);
    v["fileId"] = json!(a.file_id);
    v["fileSize"] = json!(a.blob.size());
    v["webuiLink"] = json!(format!(
        "/pages/viewpageattachments.action?pageId={}&preview={}",
        a.container, a.title
    ));
    v["downloadLink"] = json!(download);
    v["version"] = json!({"createdAt": conf_ts(&a.created), "message": "", "number": a.version, "minorEdit": false, "authorId": a.author});
    v["_links"] = json!({"webui": v["webuiLink"].clone(), "download": download});
    v
}

fn sort_pages(r: &Req, ps: &mut [&Page]) {
    match r.q("sort").unwrap_or("id") {
        "-id" => ps.sort_by_key(|p| std::cmp::Reverse(p.id)),
        "title" => ps.sort_by(|a, b| a.title.cmp(&b.title).then(a.id.cmp(&b.id))),
        "-title" => ps.sort_by(|a, b| b.title.cmp(&a.title).then(a.id.cmp(&b.id))),
        "created-date" => ps.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id))),
        "-created-date" => ps.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id))),
        // The modification time is the current version's date.
        "modified-date" => {
            ps.sort_by(|a, b| (a.version.created.cmp(&b.version.created)).then(a.id.cmp(&b.id)))
        }
        "-modified-date" => {
            ps.sort_by(|a, b| (b.version.created.cmp(&a.version.created)).then(b.id.cmp(&a.id)))
        }
        _ => ps.sort_by_key(|p| p.id),
    }
}

fn status_ok(r: &Req) -> bool {
    let st = r.q_all("status");
    st.is_empty() || st.contains(&"current")
}

fn body_format_ok(r: &Req) -> Result<(), Response> {
    match r.q("body-format") {
        None | Some("storage") | Some("atlas_doc_format") => Ok(()),
        Some(f) => Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("Unsupported body-format {f}"),
        )),
    }
}

fn list_pages(site: &Site, r: &Req, kind: PageKind, space: Option<u64>) -> R {
    body_format_ok(r)?;
    let ids = r.q_all("id");
    let spaces = r.q_all("space-id");
    let title = r.q("title");
    let current = status_ok(r);
    let root_only = r.q("depth") == Some("root");
    let mut ps: Vec<&Page> = site
        .pages
        .values()
        .filter(|p| p.kind == kind && current)
        .filter(|p| space.is_none_or(|s| p.space_id == s))
        .filter(|p| ids.is_empty() || ids.contains(&p.id.to_string().as_str()))
        .filter(|p| spaces.is_empty() || spaces.contains(&p.space_id.to_string().as_str()))
        .filter(|p| title.is_none_or(|t| p.title == t))
        .filter(|p| !root_only || p.parent_id.is_none())
        .collect();
    sort_pages(r, &mut ps);
    Ok(v2_page_of(r, ps, |p| page_json(site, p, r, false)))
}

fn id_param(r: &Req, name: &str) -> Result<u64, Response> {
    r.p(name)
        .trim_start_matches("att")
        .parse::<u64>()
        .map_err(|_| r.err(StatusCode::BAD_REQUEST, &format!("Invalid {name}")))
}

fn space_of(site: &Site, r: &Req) -> Result<u64, Response> {
    let id = id_param(r, "id")?;
    site.spaces
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| r.not_found("Space not found"))
}

fn container<'a>(
    site: &'a Site,
    r: &Req,
    name: &str,
    kind: PageKind,
) -> Result<&'a Page, Response> {
    let id = id_param(r, name)?;
    site.pages
        .get(&id)
        .filter(|p| p.kind == kind)
        .ok_or_else(|| {
            r.not_found(if kind == PageKind::Page {
                "Page not found"
            } else {
                "Blog post not found"
            })
        })
}

pub fn spaces(site: &Site, r: &Req) -> R {
    let ids = r.q_all("ids");
    let keys = r.q_all("keys");
    let ty = r.q("type");
    let items = site
        .spaces
        .values()
        .filter(|s| ids.is_empty() || ids.contains(&s.id.to_string().as_str()))
        .filter(|s| keys.is_empty() || keys.contains(&s.key.as_str()))
        .filter(|s| ty.is_none_or(|t| (t == "personal") == s.personal))
        .map(|s| space_json(s, r))
        .collect();
    Ok(v2_page(r, items))
}

pub fn space_get(site: &Site, r: &Req) -> R {
    let id = space_of(site, r)?;
    let mut v = space_json(&site.spaces[&id], r);
    v["_links"]["base"] = json!(format!("{}/wiki", r.base));
    Ok(ok(v))
}

pub fn pages(site: &Site, r: &Req) -> R {
    list_pages(site, r, PageKind::Page, None)
}
pub fn space_pages(site: &Site, r: &Req) -> R {
    let s = space_of(site, r)?;
    list_pages(site, r, PageKind::Page, Some(s))
}
pub fn blogposts(site: &Site, r: &Req) -> R {
    list_pages(site, r, PageKind::BlogPost, None)
}
pub fn space_blogposts(site: &Site, r: &Req) -> R {
    let s = space_of(site, r)?;
    list_pages(site, r, PageKind::BlogPost, Some(s))
}

pub fn page_get(site: &Site, r: &Req) -> R {
    body_format_ok(r)?;
    Ok(ok(page_json(
        site,
        container(site, r, "id", PageKind::Page)?,
        r,
        true,
    )))
}
pub fn blogpost_get(site: &Site, r: &Req) -> R {
    body_format_ok(r)?;
    Ok(ok(page_json(
        site,
        container(site, r, "id", PageKind::BlogPost)?,
        r,
        true,
    )))
}

pub fn page_children(site: &Site, r: &Req) -> R {
    let p = container(site, r, "id", PageKind::Page)?;
    let mut kids: Vec<&Page> = site
        .pages
        .values()
        .filter(|c| c.parent_id == Some(p.id))
        .collect();
    kids.sort_by_key(|c| (c.position, c.id));
    let items = kids.into_iter().map(|c| json!({"id": c.id.to_string(), "status": "current", "title": c.title, "spaceId": c.space_id.to_string(), "childPosition": c.position})).collect();
    Ok(v2_page(r, items))
}

fn comments_of(site: &Site, r: &Req, kind: PageKind, ck: CommentKind) -> R {
    body_format_ok(r)?;
    let p = container(site, r, "id", kind)?;
    let items = site
        .ccomments
        .values()
        .filter(|c| {
            c.container == p.id
                && c.kind == ck
                && (ck == CommentKind::Inline || c.parent_comment.is_none())
        })
        .filter(|c| match r.q("resolution-status") {
            None => true,
            Some(s) => s.split(',').any(|s| (s == "resolved") == c.resolved),
        })
        .map(|c| comment_json(site, c, r))
        .collect();
    Ok(v2_page(r, items))
}

pub fn page_footer_comments(site: &Site, r: &Req) -> R {
    comments_of(site, r, PageKind::Page, CommentKind::Footer)
}
pub fn page_inline_comments(site: &Site, r: &Req) -> R {
    comments_of(site, r, PageKind::Page, CommentKind::Inline)
}
pub fn blog_footer_comments(site: &Site, r: &Req) -> R {
    comments_of(site, r, PageKind::BlogPost, CommentKind::Footer)
}
pub fn blog_inline_comments(site: &Site, r: &Req) -> R {
    comments_of(site, r, PageKind::BlogPost, CommentKind::Inline)
}

pub fn footer_comment_children(site: &Site, r: &Req) -> R {
    body_format_ok(r)?;
    let id = id_param(r, "id")?;
    if !site.ccomments.contains_key(&id) {
        return Err(r.not_found("Comment not found"));
    }
    let items = site
        .ccomments
        .values()
        .filter(|c| c.parent_comment == Some(id))
        .map(|c| comment_json(site, c, r))
        .collect();
    Ok(v2_page(r, items))
}

fn attachments_of(site: &Site, r: &Req, kind: PageKind) -> R {
    let p = container(site, r, "id", kind)?;
    let fname = r.q("filename");
    let items = site
        .cattachments
        .values()
        .filter(|a| a.container == p.id && fname.is_none_or(|f| f == a.title))
        .map(|a| attachment_json(site, a))
        .collect();
    Ok(v2_page(r, items))
}
pub fn page_attachments(site: &Site, r: &Req) -> R {
    attachments_of(site, r, PageKind::Page)
}
pub fn blog_attachments(site: &Site, r: &Req) -> R {
    attachments_of(site, r, PageKind::BlogPost)
}

pub fn attachment_get(site: &Site, r: &Req) -> R {
    let id = id_param(r, "id")?;
    let a = site
        .cattachments
        .get(&id)
        .ok_or_else(|| r.not_found("Attachment not found"))?;
    let mut v = attachment_json(site, a);
    v["_links"]["base"] = json!(format!("{}/wiki", r.base));
    Ok(ok(v))
}

fn labels_of(site: &Site, r: &Req, kind: PageKind) -> R {
    let p = container(site, r, "id", kind)?;
    Ok(v2_page(r, p.labels.iter().map(|l| label_json(l)).collect()))
}
pub fn page_labels(site: &Site, r: &Req) -> R {
    labels_of(site, r, PageKind::Page)
}
pub fn blog_labels(site: &Site, r: &Req) -> R {
    labels_of(site, r, PageKind::BlogPost)
}

fn properties_of(site: &Site, r: &Req, name: &str, kind: PageKind) -> R {
    let p = container(site, r, name, kind)?;
    let key = r.q("key");
    Ok(v2_page(
        r,
        p.properties
            .iter()
            .filter(|x| key.is_none_or(|k| k == x.key))
            .map(prop_json)
            .collect(),
    ))
}
pub fn page_properties(site: &Site, r: &Req) -> R {
    properties_of(site, r, "page-id", PageKind::Page)
}
pub fn blog_properties(site: &Site, r: &Req) -> R {
    properties_of(site, r, "blogpost-id", PageKind::BlogPost)
}

// ------------------------------------------------------------------- writes

fn read_body(r: &Req, b: &Value) -> Result<(String, Value), Response> {
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
            let a = adf::from_storage(&s);
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
    let (storage, adf_doc) = read_body(r, &b)?;
    let mut parent = None;
    if kind == PageKind::Page {
        parent = match b["parentId"].as_str().and_then(|s| s.parse::<u64>().ok()) {
            Some(p)
                if site
                    .pages
                    .get(&p)
                    .is_some_and(|x| x.kind == PageKind::Page && x.space_id == space_id) =>
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
    let position = site
        .pages
        .values()
        .filter(|p| p.parent_id == parent && p.space_id == space_id)
        .count() as i64;
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
    let b = r.json()?;
    let n = b["version"]["number"]
        .as_u64()
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "Version number is required"))?;
    let cur = site.pages[&id].version.number;
    if n != cur + 1 {
        return Err(r.err(StatusCode::CONFLICT, &format!("Version must be incremented when updating a page. Current Version: [{cur}]. Provided version: [{n}]")));
    }
    let (storage, adf_doc) = read_body(r, &b)?;
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
        .filter(|c| site.pages.contains_key(c))
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "One of pageId, blogPostId or parentCommentId is required",
            )
        })?;
    let (storage, adf_doc) = read_body(r, &b)?;
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
        .filter(|c| site.pages.contains_key(c))
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
    let (storage, adf_doc) = read_body(r, &b)?;
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
        .filter(|c| c.kind == CommentKind::Inline)
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
        Some(read_body(r, &b)?)
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
pub fn page_property_create(site: &mut Site, r: &Req) -> R {
    property_create(site, r, "page-id", PageKind::Page)
}
pub fn blog_property_create(site: &mut Site, r: &Req) -> R {
    property_create(site, r, "blogpost-id", PageKind::BlogPost)
}

// ----------------------------------------------------------------------- v1

fn v1_attachment(site: &Site, a: &CAttachment, r: &Req) -> Value {
    let c = site.pages.get(&a.container);
    json!({
        "id": format!("att{}", a.id), "type": "attachment", "status": "current", "title": a.title,
        "version": {"by": {"type": "known", "accountId": a.author, "accountType": "atlassian", "email": "", "publicName": "", "displayName": "", "isExternalCollaborator": false, "_expandable": {}, "_links": {}},
                    "when": conf_ts(&a.created), "number": a.version, "minorEdit": false, "message": "", "_expandable": {}, "_links": {}},
        "container": {"id": a.container.to_string(), "type": if c.is_some_and(|c| c.kind == PageKind::BlogPost) { "blogpost" } else { "page" }, "status": "current", "title": c.map(|c| c.title.clone()).unwrap_or_default(), "_expandable": {}, "_links": {}},
        "metadata": {"mediaType": a.media_type, "comment": a.comment},
        "extensions": {"mediaType": a.media_type, "fileSize": a.blob.size(), "comment": a.comment, "fileId": a.file_id},
        "_expandable": {},
        "_links": {"webui": format!("/pages/viewpageattachments.action?pageId={}", a.container), "download": format!("/rest/api/content/{}/child/attachment/att{}/download", a.container, a.id), "self": format!("{}/wiki/rest/api/content/att{}", r.base, a.id)},
    })
}

fn v1_container(site: &Site, r: &Req) -> Result<u64, Response> {
    r.p("id")
        .parse::<u64>()
        .ok()
        .filter(|id| site.pages.contains_key(id))
        .ok_or_else(|| r.not_found(&format!("No content found with id: {}", r.p("id"))))
}

pub fn v1_attachments(site: &Site, r: &Req) -> R {
    let id = v1_container(site, r)?;
    let fname = r.q("filename");
    let items = site
        .cattachments
        .values()
        .filter(|a| a.container == id && fname.is_none_or(|f| f == a.title))
        .map(|a| v1_attachment(site, a, r))
        .collect();
    Ok(ok(v1_page(r, items, 50, 200)?))
}

pub fn v1_attachment_upload(site: &mut Site, r: &Req) -> R {
    let id = v1_container(site, r)?;
    let comment = r
        .parts
        .iter()
        .find(|p| p.name == "comment")
        .map(|p| p.text())
        .unwrap_or_default();
    let mut out = vec![];
    for part in r.parts.iter().filter(|p| p.name == "file") {
        let title = part.filename.clone().unwrap_or_else(|| "file".into());
        if site
            .cattachments
            .values()
            .any(|a| a.container == id && a.title == title)
        {
            return Err(r.err(StatusCode::BAD_REQUEST, &format!("Cannot add a new attachment with same file name as an existing attachment: {title}")));
        }
        let aid = site.alloc_id();
        let a = CAttachment {
            id: aid,
            container: id,
            title,
            media_type: part
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            comment: comment.clone(),
            author: r.me.clone(),
            created: Utc::now(),
            version: 1,
            // A media file id: opaque, unique within the site.
            file_id: blake3::hash(format!("{}:{aid}", site.cloud_id).as_bytes()).to_hex()[..32]
                .to_string(),
            blob: part.blob.clone(),
        };
        out.push(v1_attachment(site, &a, r));
        site.cattachments.insert(aid, a);
    }
    if out.is_empty() {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "No file part named 'file' in the request.",
        ));
    }
    let n = out.len();
    Ok(ok(
        json!({"results": out, "start": 0, "limit": n, "size": n, "_links": {"base": format!("{}/wiki", r.base), "context": "/wiki"}}),
    ))
}

pub fn v1_attachment_download(site: &Site, r: &Req) -> R {
    let cid = v1_container(site, r)?;
    let aid = id_param(r, "attachmentId")?;
    let a = site
        .cattachments
        .get(&aid)
        .filter(|a| a.container == cid)
        .ok_or_else(|| r.not_found("Attachment not found"))?;
    serve_blob(r, &a.blob, &a.media_type, &a.title)
}

pub fn v1_labels_add(site: &mut Site, r: &Req) -> R {
    let id = v1_container(site, r)?;
    let b = r.json()?;
    let items: Vec<Value> = match b {
        Value::Array(a) => a,
        Value::Object(_) => vec![b],
        _ => return Err(r.err(StatusCode::BAD_REQUEST, "Expected a list of labels")),
    };
    let p = site.pages.get_mut(&id).unwrap();
    for l in &items {
        let name = l["name"].as_str().unwrap_or("").trim().to_lowercase();
        if name.is_empty() || name.contains(' ') {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "Label names cannot be empty or contain spaces",
            ));
        }
        if !p.labels.contains(&name) {
            p.labels.push(name);
        }
    }
    p.labels.sort();
    let results: Vec<Value> = p
        .labels
        .iter()
        .map(|l| json!({"prefix": "global", "name": l, "id": label_id(l), "label": l}))
        .collect();
    let n = results.len();
    Ok(ok(
        json!({"results": results, "start": 0, "limit": n, "size": n, "_links": {}}),
    ))
}

pub fn v1_space_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let key = b["key"].as_str().unwrap_or("").to_string();
    let name = b["name"].as_str().unwrap_or("").to_string();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) || name.is_empty() {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "A space key (letters and digits) and a name are required",
        ));
    }
    if site
        .spaces
        .values()
        .any(|s| s.key.eq_ignore_ascii_case(&key))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("A space with key {key} already exists"),
        ));
    }
    let id = site.alloc_id();
    let now = Utc::now();
    let desc = b["description"]["plain"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    site.spaces.insert(
        id,
        Space {
            id,
            key: key.clone(),
            name: name.clone(),
            personal: false,
            author: r.me.clone(),
            created: now,
            homepage_id: None,
            description: desc.clone(),
        },
    );
    // Confluence creates a homepage with every new space.
    let hid = site.alloc_id();
    site.pages.insert(
        hid,
        Page {
            id: hid,
            kind: PageKind::Page,
            space_id: id,
            parent_id: None,
            position: 0,
            title: format!("{name} Home"),
            author: r.me.clone(),
            created: now,
            version: CVersion {
                number: 1,
                author: r.me.clone(),
                created: now,
                message: String::new(),
            },
            storage: String::new(),
            adf: json!({"type": "doc", "version": 1, "content": []}),
            labels: vec![],
            properties: vec![],
        },
    );
    site.spaces.get_mut(&id).unwrap().homepage_id = Some(hid);
    Ok(ok(json!({
        "id": id, "key": key, "name": name, "type": "global", "status": "current",
        "description": {"plain": {"value": desc, "representation": "plain", "embeddedContent": [], "webresource": null, "mediaToken": null, "_expandable": {}, "_links": {}}},
        "homepage": {"id": hid.to_string(), "type": "page", "status": "current", "title": format!("{name} Home"), "_expandable": {}, "_links": {}},
        "_expandable": {}, "_links": {"webui": format!("/spaces/{key}"), "self": format!("{}/wiki/rest/api/space/{key}", r.base), "base": format!("{}/wiki", r.base), "context": "/wiki"},
    })))
}
