//! The JSON shapes of Confluence's v2 entities: spaces, pages and blog posts, bodies, labels,
//! properties, comments, attachments.

use serde_json::{Value, json};

use crate::http::*;
use crate::model::*;

pub(super) fn space_json(s: &Space, r: &Req) -> Value {
    let mut v = json!({
        "id": s.id.to_string(), "key": s.key, "name": s.name,
        "type": if s.personal { "personal" } else { "global" },
        "status": if s.archived { "archived" } else { "current" },
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

pub(super) fn page_json(site: &Site, p: &Page, r: &Req, single: bool) -> Value {
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
        // Each `include-*` list holds at most INCLUDE_LIMIT entries; past that `meta.hasMore`,
        // a `meta.cursor` and `_links.self` (the list's own route) say where the rest is.
        if r.q_bool("include-labels") {
            let all: Vec<Value> = p.labels.iter().map(|l| label_json(l)).collect();
            v["labels"] = included(all, &format!("/wiki/api/v2/{kind}/{}/labels", p.id));
        }
        if r.q_bool("include-properties") {
            let all: Vec<Value> = p.properties.iter().map(prop_json).collect();
            v["properties"] = included(all, &format!("/wiki/api/v2/{kind}/{}/properties", p.id));
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

pub(super) fn label_id(l: &str) -> String {
    // Stable id from the name (labels are global in Confluence).
    let h = blake3::hash(l.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
        .rem_euclid(1 << 40)
        .to_string()
}

/// How many entries an `include-*` parameter of `GET /pages/{id}` (or a blog post's) returns.
pub const INCLUDE_LIMIT: usize = 50;

/// An `include-*` list: the first [`INCLUDE_LIMIT`] entries in the list route's default order,
/// with `meta.hasMore` and, past the cut, the cursor and route for the rest.
fn included(mut all: Vec<Value>, route: &str) -> Value {
    let more = all.len() > INCLUDE_LIMIT;
    all.truncate(INCLUDE_LIMIT);
    if more {
        json!({"results": all, "meta": {"hasMore": true, "cursor": encode_cursor(INCLUDE_LIMIT)}, "_links": {"self": route}})
    } else {
        json!({"results": all, "meta": {"hasMore": false}})
    }
}

pub(super) fn label_json(l: &str) -> Value {
    json!({"id": label_id(l), "name": l, "prefix": "global"})
}

pub(super) fn prop_json(p: &CProperty) -> Value {
    json!({"id": p.id.to_string(), "key": p.key, "value": p.value, "version": {"number": p.version, "createdAt": "2025-01-01T00:00:00.000Z", "message": "", "minorEdit": false, "authorId": ""}})
}

pub(super) fn comment_json(site: &Site, c: &CComment, r: &Req) -> Value {
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

pub(super) fn attachment_json(site: &Site, a: &CAttachment) -> Value {
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
