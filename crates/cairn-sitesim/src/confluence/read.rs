//! v2 reads: spaces, pages and blog posts (filtered, sorted, cursor-paged), children, comments,
//! attachments, labels, properties.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::http::*;
use crate::model::*;

use super::R;
use super::render::{attachment_json, comment_json, label_json, page_json, prop_json, space_json};

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
        .filter(|p| site.may_read_page(&r.me, p.id))
        .collect();
    sort_pages(r, &mut ps);
    Ok(v2_page_of(r, ps, |p| page_json(site, p, r, false)))
}

pub(super) fn id_param(r: &Req, name: &str) -> Result<u64, Response> {
    r.p(name)
        .trim_start_matches("att")
        .parse::<u64>()
        .map_err(|_| r.err(StatusCode::BAD_REQUEST, &format!("Invalid {name}")))
}

fn space_of(site: &Site, r: &Req) -> Result<u64, Response> {
    space_of_param(site, r, "id")
}

/// The space named by the path parameter `name`, if the caller may read it (else 404).
pub(super) fn space_of_param(site: &Site, r: &Req, name: &str) -> Result<u64, Response> {
    let id = id_param(r, name)?;
    (site.spaces.contains_key(&id) && site.may_read_space(&r.me, id))
        .then_some(id)
        .ok_or_else(|| r.not_found("Space not found"))
}

/// 403 unless the caller may edit the page or blog post (its update restriction).
pub(super) fn may_edit(site: &Site, r: &Req, id: u64) -> Result<(), Response> {
    if site.may_update_page(&r.me, id) {
        return Ok(());
    }
    Err(r.err(
        StatusCode::FORBIDDEN,
        "You do not have permission to edit this content (it is restricted).",
    ))
}

pub(super) fn container<'a>(
    site: &'a Site,
    r: &Req,
    name: &str,
    kind: PageKind,
) -> Result<&'a Page, Response> {
    let id = id_param(r, name)?;
    // Content the caller may not read is not found, as Confluence answers.
    site.pages
        .get(&id)
        .filter(|p| p.kind == kind && site.may_read_page(&r.me, p.id))
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
    let status = r.q("status");
    let items = site
        .spaces
        .values()
        .filter(|s| status.is_none_or(|st| (st == "archived") == s.archived))
        .filter(|s| ids.is_empty() || ids.contains(&s.id.to_string().as_str()))
        .filter(|s| keys.is_empty() || keys.contains(&s.key.as_str()))
        .filter(|s| ty.is_none_or(|t| (t == "personal") == s.personal))
        .filter(|s| site.may_read_space(&r.me, s.id))
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

/// A space's own labels (v2), `prefix` filtering as for pages.
pub fn space_labels(site: &Site, r: &Req) -> R {
    let id = space_of(site, r)?;
    let prefix = r.q("prefix");
    Ok(v2_page(
        r,
        site.spaces[&id]
            .labels
            .iter()
            .map(|l| label_json(l))
            .filter(|l| prefix.is_none_or(|p| l["prefix"] == p))
            .collect(),
    ))
}

/// A space's properties (v2), `key` filtering.
pub fn space_properties(site: &Site, r: &Req) -> R {
    let id = space_of_param(site, r, "space-id")?;
    let key = r.q("key");
    Ok(v2_page(
        r,
        site.spaces[&id]
            .properties
            .iter()
            .filter(|x| key.is_none_or(|k| k == x.key))
            .map(prop_json)
            .collect(),
    ))
}

/// A space's permissions (v2 `SpacePermissionAssignment`): principals by account id, group id,
/// or `anonymous` as a user (the v1 convention; the v2 reference names no other type for it).
pub fn space_permissions(site: &Site, r: &Req) -> R {
    let id = space_of(site, r)?;
    let items = site.spaces[&id]
        .permissions
        .iter()
        .map(|p| {
            let (ty, pid) = match &p.principal {
                Principal::User(u) => ("user", u.clone()),
                Principal::Anonymous => ("user", "anonymous".to_string()),
                Principal::Group(g) => (
                    "group",
                    site.groups
                        .iter()
                        .find(|x| &x.name == g)
                        .map(|x| x.id.clone())
                        .unwrap_or_default(),
                ),
            };
            json!({"id": p.id.to_string(), "principal": {"type": ty, "id": pid},
                   "operation": {"key": p.key, "targetType": p.target}})
        })
        .collect();
    Ok(v2_page(r, items))
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
        .filter(|c| c.parent_id == Some(p.id) && site.may_read_page(&r.me, c.id))
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
    if !site
        .ccomments
        .get(&id)
        .is_some_and(|c| site.may_read_page(&r.me, c.container))
    {
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
        .filter(|a| site.may_read_page(&r.me, a.container))
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
