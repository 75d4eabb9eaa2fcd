//! An issue and what hangs on it, read: change logs, comments, worklogs, remote links,
//! watchers, properties, links and attachments (served with `Range`).

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::content;
use crate::http::*;
use crate::model::*;

use super::R;
use super::issue_bean::{Caps, issue_bean};
use super::render::{
    comment_json, history_json, link_json, remote_link_json, user_details, user_full, worklog_json,
};

pub(super) fn issue<'a>(site: &'a Site, r: &Req) -> Result<&'a Issue, Response> {
    site.issue_by_ref(r.p("issueIdOrKey"))
        .ok_or_else(|| r.not_found("Issue does not exist or you do not have permission to see it."))
}

pub fn issue_get(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let mut fields: Vec<String> = r.q_all("fields").into_iter().map(String::from).collect();
    if fields.is_empty() {
        fields.push("*all".into());
    }
    Ok(ok(issue_bean(
        site,
        &r.base,
        i,
        &fields,
        &r.q_all("expand"),
        Caps::ISSUE,
    )))
}

pub fn changelog(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let items = i
        .histories
        .iter()
        .map(|h| history_json(site, &r.base, h))
        .collect();
    Ok(ok(page_bean(r, items, 100, 100)?))
}

pub fn changelog_bulk(site: &Site, r: &Req) -> R {
    let b = r.json()?;
    let refs: Vec<&str> = b["issueIdsOrKeys"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if refs.is_empty() || refs.len() > 1000 {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "issueIdsOrKeys must hold between 1 and 1000 issues.",
        ));
    }
    let field_ids: Vec<&str> = b["fieldIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let max = b["maxResults"].as_u64().unwrap_or(1000).clamp(1, 10_000) as usize;
    let start = match b["nextPageToken"].as_str() {
        None => 0,
        Some(t) => decode_cursor(t).ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "The provided next page token is invalid.",
            )
        })?,
    };
    let mut flat: Vec<(&Issue, &History)> = vec![];
    for rf in refs {
        if let Some(i) = site.issue_by_ref(rf) {
            for h in &i.histories {
                if field_ids.is_empty()
                    || h.items
                        .iter()
                        .any(|x| field_ids.contains(&x.field_id.as_str()))
                {
                    flat.push((i, h));
                }
            }
        }
    }
    let total = flat.len();
    let mut groups: Vec<(u64, Vec<Value>)> = vec![];
    for (i, h) in flat.iter().skip(start).take(max) {
        match groups.last_mut() {
            Some((id, v)) if *id == i.id => v.push(history_json(site, &r.base, h)),
            _ => groups.push((i.id, vec![history_json(site, &r.base, h)])),
        }
    }
    let mut v = json!({"issueChangeLogs": groups.into_iter().map(|(id, h)| json!({"issueId": id.to_string(), "changeHistories": h})).collect::<Vec<_>>()});
    if start + max < total {
        v["nextPageToken"] = json!(encode_cursor(start + max));
    }
    Ok(ok(v))
}

pub fn comments(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let mut cs: Vec<&Comment> = i.comments.iter().collect();
    if r.q("orderBy").is_some_and(|o| o.starts_with('-')) {
        cs.reverse();
    }
    let items = cs
        .into_iter()
        .map(|c| comment_json(site, &r.base, i, c))
        .collect();
    Ok(ok(envelope(r, "comments", items, 5000, 5000)?))
}

pub fn comment_get(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let c = i
        .comments
        .iter()
        .find(|c| c.id.to_string() == r.p("id"))
        .ok_or_else(|| r.not_found("Can not find a comment for the id."))?;
    Ok(ok(comment_json(site, &r.base, i, c)))
}

pub fn worklogs(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let items = i
        .worklogs
        .iter()
        .map(|w| worklog_json(site, &r.base, i, w))
        .collect();
    Ok(ok(envelope(r, "worklogs", items, 5000, 5000)?))
}

/// Without `globalId`: every remote link, an array. With it: that one link, an object (or 404),
/// as the reference's description says ("the record with that global ID is returned").
pub fn remote_links(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    match r.q("globalId") {
        Some(g) => i
            .remote_links
            .iter()
            .find(|l| l.global_id.as_deref() == Some(g))
            .map(|l| ok(remote_link_json(&r.base, i, l)))
            .ok_or_else(|| r.not_found("No remote link with this global ID exists on the issue.")),
        None => Ok(ok(Value::Array(
            i.remote_links
                .iter()
                .map(|l| remote_link_json(&r.base, i, l))
                .collect(),
        ))),
    }
}

pub fn watchers(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    Ok(ok(json!({
        "self": format!("{}/rest/api/3/issue/{}/watchers", r.base, i.key), "isWatching": i.watchers.contains(&r.me),
        "watchCount": i.watchers.len(),
        "watchers": i.watchers.iter().map(|w| user_details(site, &r.base, w)).collect::<Vec<_>>(),
    })))
}

pub fn property_keys(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    Ok(ok(
        json!({"keys": i.properties.keys().map(|k| json!({"self": format!("{}/rest/api/3/issue/{}/properties/{k}", r.base, i.id), "key": k})).collect::<Vec<_>>()}),
    ))
}

pub fn property_get(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let v = i.properties.get(r.p("propertyKey")).ok_or_else(|| {
        r.not_found(&format!(
            "The property with key '{}' does not exist.",
            r.p("propertyKey")
        ))
    })?;
    Ok(ok(json!({"key": r.p("propertyKey"), "value": v})))
}

pub fn issue_link_get(site: &Site, r: &Req) -> R {
    let l = r
        .p("linkId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.links.get(&id))
        .ok_or_else(|| r.not_found("No issue link with id exists."))?;
    Ok(ok(link_json(site, &r.base, l, None)))
}

pub fn attachment_meta(site: &Site, r: &Req) -> R {
    let a = r
        .p("id")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.attachments.get(&id))
        .ok_or_else(|| r.not_found("The attachment with id does not exist."))?;
    Ok(ok(json!({
        "id": a.id, "self": format!("{}/rest/api/3/attachment/{}", r.base, a.id), "filename": a.filename,
        "author": user_full(site, &r.base, &a.author), "created": jira_ts(&a.created), "size": a.blob.size(),
        "mimeType": a.mime, "properties": {}, "content": format!("{}/rest/api/3/attachment/content/{}", r.base, a.id),
    })))
}

pub fn attachment_settings(site: &Site, _r: &Req) -> R {
    Ok(ok(
        json!({"enabled": true, "uploadLimit": site.upload_limit}),
    ))
}

/// Serve a blob with `Range` support.
pub fn serve_blob(r: &Req, blob: &Blob, mime: &str, filename: &str) -> R {
    let size = blob.size();
    let (status, start, end) = match r.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => (StatusCode::OK, 0, size),
        Some(range) => {
            let spec = range.trim().strip_prefix("bytes=").unwrap_or("");
            let (a, b) = spec.split_once('-').unwrap_or(("", ""));
            let (s, e) = match (a.trim().parse::<u64>().ok(), b.trim().parse::<u64>().ok()) {
                (Some(s), Some(e)) => (s, (e + 1).min(size)),
                (Some(s), None) => (s, size),
                (None, Some(n)) => (size.saturating_sub(n), size),
                _ => (u64::MAX, 0),
            };
            if s >= size || s >= e {
                let mut resp = r.err(StatusCode::RANGE_NOT_SATISFIABLE, "Range not satisfiable");
                resp.headers_mut().insert(
                    header::CONTENT_RANGE,
                    format!("bytes */{size}").parse().unwrap(),
                );
                return Err(resp);
            }
            (StatusCode::PARTIAL_CONTENT, s, e)
        }
    };
    let mut headers = vec![
        (header::CONTENT_TYPE, mime.to_string()),
        (header::CONTENT_LENGTH, (end - start).to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", filename.replace('"', "")),
        ),
    ];
    if status == StatusCode::PARTIAL_CONTENT {
        headers.push((
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", end - 1),
        ));
    }
    Ok(body_response(
        status,
        headers,
        Body::from_stream(content::stream(blob.clone(), start, end)),
    ))
}

pub fn attachment_content(site: &Site, r: &Req) -> R {
    let a = r
        .p("id")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.attachments.get(&id))
        .ok_or_else(|| r.not_found("The attachment with id does not exist."))?;
    if r.q("redirect")
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    {
        // Atlassian redirects to its media service; the stand-in redirects to itself.
        let loc = format!(
            "{}/rest/api/3/attachment/content/{}?redirect=false",
            r.base, a.id
        );
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, loc)]).into_response());
    }
    serve_blob(r, &a.blob, &a.mime, &a.filename)
}
