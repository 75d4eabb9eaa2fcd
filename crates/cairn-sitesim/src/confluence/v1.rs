//! The v1 operations v2 lacks: attachments (list, upload, download), adding labels, creating a
//! space, content restrictions (read and replace), and looking up a user, the caller or a group.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use crate::http::*;
use crate::jira::serve_blob;
use crate::model::*;

use super::R;
use super::read::{id_param, may_edit};
use super::render::label_id;

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
        .filter(|id| site.may_read_page(&r.me, *id))
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
    may_edit(site, r, id)?;
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
    may_edit(site, r, id)?;
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
            // Confluence gives the creator of a space every permission in it.
            permissions: crate::generate::confluence::WRITE_ALL
                .iter()
                .enumerate()
                .map(|(n, (key, target))| SpacePermission {
                    id: id * 1000 + n as u64,
                    principal: Principal::User(r.me.clone()),
                    key: key.to_string(),
                    target: target.to_string(),
                })
                .collect(),
            labels: vec![],
            properties: vec![],
            archived: false,
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
            restrictions: Restrictions::default(),
        },
    );
    site.spaces.get_mut(&id).unwrap().homepage_id = Some(hid);
    Ok(ok(v1_space(site, &site.spaces[&id], r)))
}

/// A space in v1's `Space` shape.
fn v1_space(site: &Site, s: &Space, r: &Req) -> Value {
    let home = s.homepage_id.and_then(|h| site.pages.get(&h));
    json!({
        "id": s.id, "key": s.key, "name": s.name,
        "type": if s.personal { "personal" } else { "global" },
        "status": if s.archived { "archived" } else { "current" },
        "description": {"plain": {"value": s.description, "representation": "plain", "embeddedContent": [], "webresource": null, "mediaToken": null, "_expandable": {}, "_links": {}}},
        "homepage": home.map(|h| json!({"id": h.id.to_string(), "type": "page", "status": "current", "title": h.title, "_expandable": {}, "_links": {}})),
        "_expandable": {}, "_links": {"webui": format!("/spaces/{}", s.key), "self": format!("{}/wiki/rest/api/space/{}", r.base, s.key), "base": format!("{}/wiki", r.base), "context": "/wiki"},
    })
}

/// v1 `PUT /space/{spaceKey}`: changes the name, the plain description and the status
/// (`current` or `archived`); needs the space's `administer` permission.
pub fn v1_space_update(site: &mut Site, r: &Req) -> R {
    let id = administered_space(site, r)?;
    let b = r.json()?;
    let archived = match b["status"].as_str() {
        None => None,
        Some("current") => Some(false),
        Some("archived") => Some(true),
        Some(other) => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("Invalid space status {other}: current or archived"),
            ));
        }
    };
    let name = match b.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if !n.trim().is_empty() => Some(n.clone()),
        Some(_) => {
            return Err(r.err(StatusCode::BAD_REQUEST, "A space name cannot be empty"));
        }
    };
    let space = site.spaces.get_mut(&id).unwrap();
    if let Some(a) = archived {
        space.archived = a;
    }
    if let Some(n) = name {
        space.name = n;
    }
    if let Some(d) = b["description"]["plain"]["value"].as_str() {
        space.description = d.to_string();
    }
    Ok(ok(v1_space(site, &site.spaces[&id], r)))
}

/// v1 `POST /space/{spaceKey}/label`: adds labels (`[{prefix, name}]`) to the space itself;
/// one it has already is kept once. Needs the space's `administer` permission.
pub fn v1_space_labels_add(site: &mut Site, r: &Req) -> R {
    let id = administered_space(site, r)?;
    let b = r.json()?;
    let items: Vec<Value> = match b {
        Value::Array(a) => a,
        Value::Object(_) => vec![b],
        _ => return Err(r.err(StatusCode::BAD_REQUEST, "Expected a list of labels")),
    };
    let mut names = Vec::new();
    for l in &items {
        let name = l["name"].as_str().unwrap_or("").trim().to_lowercase();
        if name.is_empty() || name.contains(' ') {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "Label names cannot be empty or contain spaces",
            ));
        }
        names.push(name);
    }
    let space = site.spaces.get_mut(&id).unwrap();
    for name in names {
        if !space.labels.contains(&name) {
            space.labels.push(name);
        }
    }
    space.labels.sort();
    let results: Vec<Value> = space
        .labels
        .iter()
        .map(|l| json!({"prefix": "global", "name": l, "id": label_id(l), "label": l}))
        .collect();
    let n = results.len();
    Ok(ok(
        json!({"results": results, "start": 0, "limit": n, "size": n, "_links": {}}),
    ))
}

/// A user in v1's `User` shape.
fn v1_user(u: &User) -> Value {
    json!({
        "type": "known", "accountId": u.account_id, "accountType": "atlassian", "email": u.email,
        "publicName": u.display_name, "displayName": u.display_name, "isExternalCollaborator": false,
        "_expandable": {}, "_links": {},
    })
}

fn v1_group(g: &Group) -> Value {
    json!({"type": "group", "name": g.name, "id": g.id, "_links": {}})
}

/// `GET /wiki/rest/api/user?accountId=`: 404 for an account the site does not know.
pub fn v1_user_get(site: &Site, r: &Req) -> R {
    let id = r
        .q("accountId")
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "accountId is required"))?;
    site.user(id)
        .map(|u| ok(v1_user(u)))
        .ok_or_else(|| r.not_found(&format!("No user found with accountId: {id}")))
}

/// `GET /wiki/rest/api/user/current`.
pub fn v1_user_current(site: &Site, r: &Req) -> R {
    site.user(&r.me)
        .map(|u| ok(v1_user(u)))
        .ok_or_else(|| r.not_found("No current user"))
}

/// `GET /wiki/rest/api/group/by-name?name=`: 404 for a group the site does not have.
pub fn v1_group_by_name(site: &Site, r: &Req) -> R {
    let name = r
        .q("name")
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "name is required"))?;
    site.groups
        .iter()
        .find(|g| g.name == name)
        .map(|g| ok(v1_group(g)))
        .ok_or_else(|| r.not_found(&format!("No group found with name: {name}")))
}

/// One operation's restriction as v1 gives it (`ContentRestriction`): its users and groups
/// listed when asked for, else named in `_expandable`.
fn restriction_entry(site: &Site, op: &str, x: &Restriction, users: bool, groups: bool) -> Value {
    let mut restrictions = serde_json::Map::new();
    let mut expandable = serde_json::Map::new();
    if users {
        let list: Vec<Value> = x
            .users
            .iter()
            .filter_map(|u| site.user(u))
            .map(v1_user)
            .collect();
        let n = list.len();
        restrictions.insert(
            "user".into(),
            json!({"results": list, "start": 0, "limit": n.max(1), "size": n}),
        );
    } else {
        expandable.insert("user".into(), json!(""));
    }
    if groups {
        let list: Vec<Value> = x
            .groups
            .iter()
            .filter_map(|g| site.groups.iter().find(|x| &x.name == g))
            .map(v1_group)
            .collect();
        let n = list.len();
        restrictions.insert(
            "group".into(),
            json!({"results": list, "start": 0, "limit": n.max(1), "size": n}),
        );
    } else {
        expandable.insert("group".into(), json!(""));
    }
    restrictions.insert("_expandable".into(), Value::Object(expandable));
    json!({"operation": op, "restrictions": restrictions, "_expandable": {"content": ""}, "_links": {}})
}

/// The `expand` values asked for, comma lists split.
fn expansions(r: &Req) -> Vec<&str> {
    r.q_all("expand")
}

/// The restrictions of a page or blog post, one entry per operation (`read`, `update`), users
/// and groups given when `expand` asks for them.
fn restrictions_json(site: &Site, p: &Page, r: &Req) -> Value {
    let expand = expansions(r);
    let (users, groups) = (
        expand.contains(&"restrictions.user"),
        expand.contains(&"restrictions.group"),
    );
    let results = vec![
        restriction_entry(site, "read", &p.restrictions.read, users, groups),
        restriction_entry(site, "update", &p.restrictions.update, users, groups),
    ];
    let hash = blake3::hash(format!("{:?}", p.restrictions).as_bytes()).to_hex()[..16].to_string();
    json!({"results": results, "start": 0, "limit": 100, "size": 2, "restrictionsHash": hash,
           "_links": {"base": format!("{}/wiki", r.base), "context": "/wiki"}})
}

/// `GET /content`: the pages (or blog posts, `type=blogpost`) the caller may read, of one space
/// (`spaceKey`) or all, in id order with `start`/`limit` paging (25 by default, at most 200).
/// Besides the id, type, status and title, it gives `version` and `space` (expanded by
/// default, as Confluence does) and, when `expand` names them, each operation's restricted
/// users and groups (`restrictions.read.restrictions.user` and the like).
pub fn v1_contents(site: &Site, r: &Req) -> R {
    let kind = match r.q("type").unwrap_or("page") {
        "page" => PageKind::Page,
        "blogpost" => PageKind::BlogPost,
        other => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("Content type '{other}' is not supported here: use page or blogpost"),
            ));
        }
    };
    if let Some(status) = r.q("status")
        && !status.split(',').any(|s| s == "current" || s == "any")
    {
        // Only current content is kept by the stand-in.
        return Ok(ok(v1_page(r, vec![], 25, 200)?));
    }
    let space = match r.q("spaceKey") {
        Some(key) => match site.spaces.values().find(|s| s.key == key) {
            Some(s) if site.may_read_space(&r.me, s.id) => Some(s.id),
            // Confluence answers an unknown or closed space with an empty list.
            _ => return Ok(ok(v1_page(r, vec![], 25, 200)?)),
        },
        None => None,
    };
    let expand = expansions(r);
    let asked = |op: &str, what: &str| {
        expand.contains(&format!("restrictions.{op}.restrictions.{what}").as_str())
    };
    let items: Vec<Value> = site
        .pages
        .values()
        .filter(|p| p.kind == kind && space.is_none_or(|s| p.space_id == s))
        .filter(|p| site.may_read_page(&r.me, p.id))
        .map(|p| {
            let sp = site.spaces.get(&p.space_id);
            let key = sp.map(|s| s.key.clone()).unwrap_or_default();
            let space = json!({
                "id": p.space_id, "key": key, "name": sp.map(|s| s.name.clone()).unwrap_or_default(),
                "type": if sp.is_some_and(|s| s.personal) { "personal" } else { "global" },
                "status": "current", "_expandable": {},
                "_links": {"webui": format!("/spaces/{key}"), "self": format!("{}/wiki/rest/api/space/{key}", r.base)},
            });
            let mut v = json!({
                "id": p.id.to_string(),
                "type": if kind == PageKind::Page { "page" } else { "blogpost" },
                "status": "current",
                "title": p.title,
                "space": space,
                "version": {"number": p.version.number, "when": conf_ts(&p.version.created), "minorEdit": false,
                            "message": p.version.message,
                            "by": {"type": "known", "accountId": p.version.author}, "_expandable": {}, "_links": {}},
                "_expandable": {"restrictions": format!("/rest/api/content/{}/restriction/byOperation", p.id)},
                "_links": {"webui": format!("/spaces/{key}/pages/{}", p.id), "self": format!("{}/wiki/rest/api/content/{}", r.base, p.id)},
            });
            let mut restrictions = serde_json::Map::new();
            let mut expandable = serde_json::Map::new();
            for (op, x) in [("read", &p.restrictions.read), ("update", &p.restrictions.update)] {
                let (users, groups) = (asked(op, "user"), asked(op, "group"));
                if users || groups || expand.contains(&format!("restrictions.{op}").as_str()) {
                    restrictions.insert(op.into(), restriction_entry(site, op, x, users, groups));
                } else {
                    expandable.insert(op.into(), json!(""));
                }
            }
            if !restrictions.is_empty() {
                restrictions.insert("_expandable".into(), Value::Object(expandable));
                restrictions.insert("_links".into(), json!({}));
                v["restrictions"] = Value::Object(restrictions);
                v["_expandable"] = json!({});
            }
            v
        })
        .collect();
    Ok(ok(v1_page(r, items, 25, 200)?))
}

pub fn v1_restrictions(site: &Site, r: &Req) -> R {
    let id = v1_container(site, r)?;
    Ok(ok(restrictions_json(site, &site.pages[&id], r)))
}

/// Replaces every restriction of the page or blog post with those given (an operation not
/// given is left unrestricted). Needs edit permission; an unknown account or group is a 400,
/// and nothing changes.
pub fn v1_restrictions_update(site: &mut Site, r: &Req) -> R {
    let id = v1_container(site, r)?;
    may_edit(site, r, id)?;
    let b = r.json()?;
    let entries: Vec<Value> = match b {
        Value::Array(a) => a,
        Value::Object(ref o) if o.contains_key("results") => {
            b["results"].as_array().cloned().unwrap_or_default()
        }
        _ => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "Expected a list of content restrictions",
            ));
        }
    };
    let mut new = Restrictions::default();
    for e in &entries {
        let target = match e["operation"].as_str() {
            Some("read") => &mut new.read,
            Some("update") => &mut new.update,
            Some(other) => {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    &format!("Restrictions of operation {other} are not supported"),
                ));
            }
            None => return Err(r.err(StatusCode::BAD_REQUEST, "operation is required")),
        };
        let users = match &e["restrictions"]["user"] {
            Value::Array(a) => a.clone(),
            Value::Object(_) => e["restrictions"]["user"]["results"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            _ => vec![],
        };
        for u in users {
            let account = u["accountId"].as_str().unwrap_or_default();
            if site.user(account).is_none() {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    &format!("No user found with accountId: {account}"),
                ));
            }
            if !target.users.iter().any(|x| x == account) {
                target.users.push(account.to_string());
            }
        }
        for g in e["restrictions"]["group"].as_array().into_iter().flatten() {
            let name = g["name"].as_str().unwrap_or_default();
            if !site.groups.iter().any(|x| x.name == name) {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    &format!("No group found with name: {name}"),
                ));
            }
            if !target.groups.iter().any(|x| x == name) {
                target.groups.push(name.to_string());
            }
        }
    }
    site.pages.get_mut(&id).unwrap().restrictions = new;
    Ok(ok(restrictions_json(site, &site.pages[&id], r)))
}

/// `PUT /content/{pageId}/move/{position}/{targetId}`: `append` makes the page the target's last
/// child; `before` and `after` put it beside the target, under the target's parent, and number
/// that parent's children again in their new order. A page cannot go under itself or its own
/// descendants (400).
pub fn v1_page_move(site: &mut Site, r: &Req) -> R {
    let page = r
        .p("pageId")
        .parse::<u64>()
        .ok()
        .filter(|id| {
            site.pages
                .get(id)
                .is_some_and(|p| p.kind == PageKind::Page && site.may_read_page(&r.me, *id))
        })
        .ok_or_else(|| r.not_found(&format!("No content found with id: {}", r.p("pageId"))))?;
    may_edit(site, r, page)?;
    let target = r
        .p("targetId")
        .parse::<u64>()
        .ok()
        .filter(|id| {
            site.pages
                .get(id)
                .is_some_and(|p| p.kind == PageKind::Page && site.may_read_page(&r.me, *id))
        })
        .ok_or_else(|| r.not_found(&format!("No content found with id: {}", r.p("targetId"))))?;
    let position = r.p("position");
    let parent = match position {
        "append" => Some(target),
        "before" | "after" => site.pages[&target].parent_id,
        other => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("Invalid position {other}: before, after or append"),
            ));
        }
    };
    // The new parent may not be the page or one of its descendants.
    let mut at = parent;
    while let Some(a) = at {
        if a == page || target == page {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "A page cannot be moved under itself or its descendants",
            ));
        }
        at = site.pages.get(&a).and_then(|p| p.parent_id);
    }
    let space = site.pages[&target].space_id;
    let mut siblings: Vec<(i64, u64)> = site
        .pages
        .values()
        .filter(|p| {
            p.kind == PageKind::Page && p.space_id == space && p.parent_id == parent && p.id != page
        })
        .map(|p| (p.position, p.id))
        .collect();
    siblings.sort();
    let mut order: Vec<u64> = siblings.into_iter().map(|(_, id)| id).collect();
    let at = match position {
        "append" => order.len(),
        _ => {
            let t = order
                .iter()
                .position(|&id| id == target)
                .unwrap_or(order.len());
            if position == "after" { t + 1 } else { t }
        }
    };
    order.insert(at, page);
    {
        let p = site.pages.get_mut(&page).unwrap();
        p.parent_id = parent;
        p.space_id = space;
    }
    for (n, id) in order.into_iter().enumerate() {
        site.pages.get_mut(&id).unwrap().position = n as i64;
    }
    Ok(ok(json!({"pageId": page.to_string()})))
}

/// `GET /wiki/rest/api/group/by-id?id=`: 404 for a group the site does not have.
pub fn v1_group_by_id(site: &Site, r: &Req) -> R {
    let id = r
        .q("id")
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "id is required"))?;
    site.groups
        .iter()
        .find(|g| g.id == id)
        .map(|g| ok(v1_group(g)))
        .ok_or_else(|| r.not_found(&format!("No group found with id: {id}")))
}

/// The space of `spaceKey` that the caller administers: 404 when it does not see it, 403 when
/// it may not administer it.
fn administered_space(site: &Site, r: &Req) -> Result<u64, Response> {
    let key = r.p("spaceKey");
    let id = site
        .spaces
        .values()
        .find(|s| s.key == key && site.may_read_space(&r.me, s.id))
        .map(|s| s.id)
        .ok_or_else(|| r.not_found(&format!("No space with key : {key}")))?;
    if !site.space_allows(&r.me, id, "administer", "space") {
        return Err(r.err(
            StatusCode::FORBIDDEN,
            "You need the 'Admin' permission of the space to change its permissions",
        ));
    }
    Ok(id)
}

/// Which targets each operation of a space permission may have (the reference's table).
fn valid_operation(key: &str, target: &str) -> bool {
    matches!(
        (key, target),
        ("create", "page" | "blogpost" | "comment" | "attachment")
            | (
                "delete",
                "page" | "blogpost" | "comment" | "attachment" | "space"
            )
            | (
                "read" | "export" | "administer" | "restrict_content",
                "space"
            )
            | ("archive", "page")
    )
}

/// `POST /space/{spaceKey}/permission`: one permission for a user (`anonymous` for everyone)
/// or a group (by name or id). An unknown account or group, an operation the table does not
/// allow, or a permission the space has already are 400.
pub fn v1_space_permission_add(site: &mut Site, r: &Req) -> R {
    let sid = administered_space(site, r)?;
    let b = r.json()?;
    let (key, target) = (
        b["operation"]["key"].as_str().unwrap_or_default(),
        b["operation"]["target"].as_str().unwrap_or_default(),
    );
    if !valid_operation(key, target) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("Invalid operation {key} on {target}"),
        ));
    }
    let ident = b["subject"]["identifier"].as_str().unwrap_or_default();
    let principal = match b["subject"]["type"].as_str() {
        Some("user") if ident == "anonymous" => Principal::Anonymous,
        Some("user") if site.user(ident).is_some() => Principal::User(ident.to_string()),
        Some("group") => match site
            .groups
            .iter()
            .find(|g| g.name == ident || g.id == ident)
        {
            Some(g) => Principal::Group(g.name.clone()),
            None => {
                return Err(r.err(
                    StatusCode::BAD_REQUEST,
                    &format!("No group found with name or id: {ident}"),
                ));
            }
        },
        Some("user") => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("No user found with accountId: {ident}"),
            ));
        }
        _ => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "subject.type must be user or group",
            ));
        }
    };
    let space = &site.spaces[&sid];
    if space
        .permissions
        .iter()
        .any(|p| p.principal == principal && p.key == key && p.target == target)
    {
        return Err(r.err(StatusCode::BAD_REQUEST, "Permission already exists"));
    }
    let id = site.alloc_id();
    site.spaces
        .get_mut(&sid)
        .unwrap()
        .permissions
        .push(SpacePermission {
            id,
            principal,
            key: key.into(),
            target: target.into(),
        });
    Ok(ok(json!({
        "id": id, "subject": {"type": b["subject"]["type"], "identifier": ident},
        "operation": {"key": key, "target": target}, "_links": {},
    })))
}

/// `DELETE /space/{spaceKey}/permission/{id}`; removing a read permission removes every
/// permission of that user or group in the space, as Confluence does.
pub fn v1_space_permission_remove(site: &mut Site, r: &Req) -> R {
    let sid = administered_space(site, r)?;
    let id = r
        .p("id")
        .parse::<u64>()
        .map_err(|_| r.err(StatusCode::BAD_REQUEST, "Invalid id"))?;
    let space = site.spaces.get_mut(&sid).unwrap();
    let Some(p) = space.permissions.iter().find(|p| p.id == id).cloned() else {
        return Err(r.not_found(&format!("No space permission with id {id}")));
    };
    space.permissions.retain(|x| {
        x.id != id && !(p.key == "read" && p.target == "space" && x.principal == p.principal)
    });
    Ok(no_content())
}
