//! Issue writes: create, edit, delete, transitions, and what hangs on an issue (comments,
//! worklogs, links, remote links, watchers, properties, attachments).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::http::*;
use crate::model::*;

use super::R;
use super::edit::{apply_fields, by_id_or_name, record_change};
use super::issue_bean::{Caps, issue_bean};
use super::read::issue;
use super::render::{attachment_json, comment_json, status_json, worklog_json};

pub fn issue_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let Some(fields) = b["fields"].as_object() else {
        return Err(jira_field_errors(
            json!({"project": "Specify a valid project ID or key"}),
        ));
    };
    let pref = fields.get("project").cloned().unwrap_or(Value::Null);
    let pid = pref["key"]
        .as_str()
        .or(pref["id"].as_str())
        .map(String::from)
        .or_else(|| pref["id"].as_u64().map(|n| n.to_string()));
    let Some(project) = pid.and_then(|p| site.project_by_ref(&p)).cloned() else {
        return Err(jira_field_errors(
            json!({"project": "Specify a valid project ID or key"}),
        ));
    };
    if !fields.contains_key("issuetype") {
        return Err(jira_field_errors(
            json!({"issuetype": "Specify an issue type"}),
        ));
    }
    if !fields.contains_key("summary") {
        return Err(jira_field_errors(
            json!({"summary": "You must specify a summary of the issue."}),
        ));
    }
    let now = Utc::now();
    // No auto-watch by the creating account (the blank issue has no watchers): a restore must be
    // able to reproduce watchers.
    let mut issue = Issue::blank(project.id, &r.me, now);
    apply_fields(site, &mut issue, fields, true, &r.me)
        .map_err(|e| jira_field_errors(Value::Object(e)))?;
    // The project's issue type scheme decides the types; its workflow the first status.
    if !site
        .flows
        .issue_type_scheme_of(project.id)
        .issue_types
        .contains(&issue.issuetype)
    {
        return Err(jira_field_errors(
            json!({"issuetype": "The issue type selected is invalid."}),
        ));
    }
    issue.status = site
        .flows
        .workflow_of(project.id, &issue.issuetype)
        .initial_status()
        .to_string();
    if issue.issuetype == SUBTASK_TYPE && issue.parent.is_none() {
        return Err(jira_field_errors(
            json!({"parent": "Given parent work item does not belong to appropriate hierarchy."}),
        ));
    }
    issue.id = site.alloc_id();
    let p = site.projects.get_mut(&project.id).unwrap();
    p.issue_counter += 1;
    issue.number = p.issue_counter;
    issue.key = format!("{}-{}", p.key, issue.number);
    let (id, key) = (issue.id, issue.key.clone());
    site.issue_keys.insert(key.clone(), id);
    site.issues.insert(id, issue);
    Ok(created(
        json!({"id": id.to_string(), "key": key, "self": format!("{}/rest/api/3/issue/{id}", r.base)}),
    ))
}

pub fn issue_edit(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let b = r.json()?;
    let mut issue = site.issues[&id].clone();
    let before = issue.clone();
    if let Some(fields) = b["fields"].as_object() {
        apply_fields(site, &mut issue, fields, false, &r.me)
            .map_err(|e| jira_field_errors(Value::Object(e)))?;
    }
    if let Some(update) = b["update"].as_object() {
        for (k, ops) in update {
            for op in ops.as_array().cloned().unwrap_or_default() {
                if k == "labels" {
                    if let Some(l) = op["add"].as_str()
                        && !issue.labels.iter().any(|x| x == l)
                    {
                        issue.labels.push(l.into());
                    }
                    if let Some(l) = op["remove"].as_str() {
                        issue.labels.retain(|x| x != l);
                    }
                    if let Some(a) = op["set"].as_array() {
                        issue.labels = a
                            .iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect();
                    }
                } else if let Some(v) = op.get("set") {
                    let mut m = Map::new();
                    m.insert(k.clone(), v.clone());
                    apply_fields(site, &mut issue, &m, false, &r.me)
                        .map_err(|e| jira_field_errors(Value::Object(e)))?;
                }
            }
        }
    }
    issue.updated = Utc::now();
    record_change(site, &mut issue, &before, &r.me);
    site.issues.insert(id, issue);
    if r.q_bool("returnIssue") {
        let i = &site.issues[&id];
        return Ok(ok(issue_bean(
            site,
            &r.base,
            i,
            &["*all".into()],
            &[],
            Caps::ISSUE,
        )));
    }
    Ok(no_content())
}

pub fn issue_delete(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    if site
        .issues
        .values()
        .any(|i| i.parent == Some(id) && i.issuetype == SUBTASK_TYPE)
        && !r.q_bool("deleteSubtasks")
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The issue has subtasks. Set deleteSubtasks=true to delete them.",
        ));
    }
    let subs: Vec<u64> = site
        .issues
        .values()
        .filter(|i| i.parent == Some(id) && i.issuetype == SUBTASK_TYPE)
        .map(|i| i.id)
        .collect();
    for s in subs {
        site.remove_issue(s);
    }
    site.remove_issue(id);
    Ok(no_content())
}

/// The transitions the issue's workflow allows from its status (directed ones leaving it,
/// global ones into another status).
pub fn transitions(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let flow = site.flows.workflow_of(i.project_id, &i.issuetype);
    let ts: Vec<Value> = flow
        .available(&i.status)
        .into_iter()
        .filter_map(|t| {
            let to = site.statuses.iter().find(|s| s.id == t.to)?;
            Some(json!({"id": t.id, "name": t.name, "to": status_json(&r.base, to), "hasScreen": t.screen.is_some(),
                "isGlobal": t.kind == crate::workflows::TransitionKind::Global, "isInitial": false, "isAvailable": true,
                "isConditional": !t.conditions.is_empty()}))
        })
        .collect();
    Ok(ok(json!({"expand": "transitions", "transitions": ts})))
}

pub fn transition_do(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let b = r.json()?;
    let tid = b["transition"]["id"]
        .as_str()
        .map(String::from)
        .or_else(|| b["transition"]["id"].as_u64().map(|n| n.to_string()))
        .unwrap_or_default();
    // Only a transition the issue's workflow allows from its current status.
    let current = &site.issues[&id];
    let status = site
        .flows
        .workflow_of(current.project_id, &current.issuetype)
        .available(&current.status)
        .into_iter()
        .find(|t| t.id == tid)
        .and_then(|t| site.statuses.iter().find(|x| x.id == t.to))
        .cloned()
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                &format!("Transition id '{tid}' is not valid for this issue."),
            )
        })?;
    let mut issue = site.issues[&id].clone();
    let before = issue.clone();
    issue.status = status.id.clone();
    if status.category == 3 && issue.resolution.is_none() {
        issue.resolution = Some(site.resolutions[0].id.clone());
    }
    if status.category != 3 {
        issue.resolution = None;
    }
    if let Some(fields) = b["fields"].as_object() {
        apply_fields(site, &mut issue, fields, false, &r.me)
            .map_err(|e| jira_field_errors(Value::Object(e)))?;
    }
    issue.updated = Utc::now();
    record_change(site, &mut issue, &before, &r.me);
    site.issues.insert(id, issue);
    Ok(no_content())
}

fn adf_body(_r: &Req, v: &Value, field: &str) -> Result<Value, Response> {
    if v.is_object() && v["type"] == "doc" {
        Ok(v.clone())
    } else {
        Err(jira_field_errors(
            json!({field: "Operation value must be an Atlassian Document (see the Atlassian Document Format)"}),
        ))
    }
}

pub fn comment_add(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let b = r.json()?;
    let body = adf_body(r, &b["body"], "comment")?;
    let cid = site.alloc_id();
    let now = Utc::now();
    let c = Comment {
        id: cid,
        author: r.me.clone(),
        body,
        created: now,
        updated: now,
    };
    let issue = site.issues.get_mut(&id).unwrap();
    issue.comments.push(c.clone());
    issue.updated = now;
    let issue = &site.issues[&id];
    Ok(created(comment_json(site, &r.base, issue, &c)))
}

fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0;
    for part in s.split_whitespace() {
        let (n, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit())?);
        let n: u64 = n.parse().ok()?;
        total += n * match unit {
            "w" => 5 * 8 * 3600,
            "d" => 8 * 3600,
            "h" => 3600,
            "m" => 60,
            _ => return None,
        };
    }
    Some(total)
}

pub fn worklog_add(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let b = r.json()?;
    let secs = b["timeSpentSeconds"]
        .as_u64()
        .or_else(|| b["timeSpent"].as_str().and_then(parse_duration))
        .filter(|s| *s > 0);
    let Some(secs) = secs else {
        return Err(jira_field_errors(
            json!({"timeLogged": "You must indicate the time spent working."}),
        ));
    };
    let comment = if b["comment"].is_null() {
        None
    } else {
        Some(adf_body(r, &b["comment"], "comment")?)
    };
    let now = Utc::now();
    let started = match b["started"].as_str() {
        None => now,
        Some(s) => chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z")
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| jira_field_errors(json!({"started": "Could not parse the date."})))?,
    };
    let wid = site.alloc_id();
    let w = Worklog {
        id: wid,
        author: r.me.clone(),
        comment,
        started,
        time_spent_seconds: secs,
        created: now,
        updated: now,
    };
    let issue = site.issues.get_mut(&id).unwrap();
    issue.worklogs.push(w.clone());
    issue.updated = now;
    let issue = &site.issues[&id];
    Ok(created(worklog_json(site, &r.base, issue, &w)))
}

pub fn issue_link_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let t = by_id_or_name(&site.link_types, &b["type"], |t| &t.id, |t| &t.name)
        .cloned()
        .ok_or_else(|| r.not_found("No issue link type with name or id exists."))?;
    let f = |v: &Value| {
        v["key"]
            .as_str()
            .or(v["id"].as_str())
            .and_then(|x| site.issue_id(x))
    };
    let (Some(inward), Some(outward)) = (f(&b["inwardIssue"]), f(&b["outwardIssue"])) else {
        return Err(r.not_found("Issue does not exist or you do not have permission to see it."));
    };
    if let Some(l) = site
        .links
        .values()
        .find(|l| l.inward == inward && l.outward == outward && l.type_id == t.id)
    {
        let loc = format!("{}/rest/api/3/issueLink/{}", r.base, l.id);
        return Ok((StatusCode::CREATED, [(header::LOCATION, loc)]).into_response());
    }
    let id = site.alloc_id();
    site.links.insert(
        id,
        IssueLink {
            id,
            type_id: t.id,
            inward,
            outward,
        },
    );
    if let Some(c) = b["comment"]["body"].as_object() {
        let cid = site.alloc_id();
        let now = Utc::now();
        site.issues
            .get_mut(&inward)
            .unwrap()
            .comments
            .push(Comment {
                id: cid,
                author: r.me.clone(),
                body: Value::Object(c.clone()),
                created: now,
                updated: now,
            });
    }
    let loc = format!("{}/rest/api/3/issueLink/{id}", r.base);
    Ok((StatusCode::CREATED, [(header::LOCATION, loc)]).into_response())
}

pub fn remote_link_create(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let b = r.json()?;
    let (Some(url), Some(title)) = (b["object"]["url"].as_str(), b["object"]["title"].as_str())
    else {
        return Err(jira_field_errors(
            json!({"object": "object.url and object.title are required"}),
        ));
    };
    let global = b["globalId"].as_str().map(String::from);
    let key = site.issues[&id].key.clone();
    let existing = global.as_ref().and_then(|g| {
        site.issues[&id]
            .remote_links
            .iter()
            .position(|l| l.global_id.as_ref() == Some(g))
    });
    let (lid, status) = match existing {
        Some(pos) => (site.issues[&id].remote_links[pos].id, StatusCode::OK),
        None => (site.alloc_id(), StatusCode::CREATED),
    };
    let link = RemoteLink {
        id: lid,
        global_id: global,
        url: url.into(),
        title: title.into(),
        relationship: b["relationship"].as_str().map(String::from),
    };
    let history = match existing {
        Some(_) => None,
        None => Some(site.alloc_id()),
    };
    let issue = site.issues.get_mut(&id).unwrap();
    // A new link is recorded in the change log (`RemoteIssueLink`), as Jira does.
    if let Some(hid) = history {
        issue.histories.push(History {
            id: hid,
            author: r.me.clone(),
            created: Utc::now(),
            items: vec![link.added()],
        });
    }
    match existing {
        Some(pos) => issue.remote_links[pos] = link,
        None => issue.remote_links.push(link),
    }
    Ok(json_resp(
        status,
        &json!({"id": lid, "self": format!("{}/rest/api/3/issue/{key}/remotelink/{lid}", r.base)}),
    ))
}

pub fn watcher_add(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let who = match r.json()? {
        Value::String(s) => s,
        Value::Null => r.me.clone(),
        _ => {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "The body must be a JSON string holding an accountId.",
            ));
        }
    };
    if site.user(&who).is_none() {
        return Err(r.err(StatusCode::BAD_REQUEST, "The user does not exist."));
    }
    let issue = site.issues.get_mut(&id).unwrap();
    if !issue.watchers.contains(&who) {
        issue.watchers.push(who);
        issue.watchers.sort();
    }
    Ok(no_content())
}

pub fn property_set(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let v = r.json()?;
    let key = r.p("propertyKey").to_string();
    if key.len() > 255 {
        return Err(r.err(StatusCode::BAD_REQUEST, "The property key is too long."));
    }
    let existed = site
        .issues
        .get_mut(&id)
        .unwrap()
        .properties
        .insert(key, v)
        .is_some();
    Ok(json_resp(
        if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &json!({}),
    ))
}

pub fn attachment_upload(site: &mut Site, r: &Req) -> R {
    let id = site.issue_id(r.p("issueIdOrKey")).ok_or_else(|| {
        r.not_found("Issue does not exist or you do not have permission to see it.")
    })?;
    let mut out = vec![];
    let now = Utc::now();
    for part in r.parts.iter().filter(|p| p.name == "file") {
        let aid = site.alloc_id();
        let a = Attachment {
            id: aid,
            issue_id: id,
            filename: part.filename.clone().unwrap_or_else(|| "file".into()),
            mime: part
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            author: r.me.clone(),
            created: now,
            blob: part.blob.clone(),
        };
        out.push(attachment_json(site, &r.base, &a));
        site.attachments.insert(aid, a);
    }
    if out.is_empty() {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "No file part named 'file' in the request.",
        ));
    }
    site.issues.get_mut(&id).unwrap().updated = now;
    Ok(ok(Value::Array(out)))
}
