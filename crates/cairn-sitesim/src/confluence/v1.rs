//! The v1 operations v2 lacks: attachments (list, upload, download), adding labels, creating a
//! space.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use crate::http::*;
use crate::jira::serve_blob;
use crate::model::*;

use super::R;
use super::read::id_param;
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
