//! Jira Cloud platform REST v3 and Jira Software agile handlers.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::content;
use crate::http::*;
use crate::jql;
use crate::model::*;

type R = Result<Response, Response>;

fn tz() -> &'static str {
    "Etc/UTC"
}

pub fn avatars(base: &str, kind: &str, id: &str) -> Value {
    json!({
        "16x16": format!("{base}/secure/{kind}avatar?size=xsmall&avatarId={id}"),
        "24x24": format!("{base}/secure/{kind}avatar?size=small&avatarId={id}"),
        "32x32": format!("{base}/secure/{kind}avatar?size=medium&avatarId={id}"),
        "48x48": format!("{base}/secure/{kind}avatar?avatarId={id}"),
    })
}

pub fn user_details(site: &Site, base: &str, account_id: &str) -> Value {
    let u = site.user(account_id);
    json!({
        "self": format!("{base}/rest/api/3/user?accountId={account_id}"),
        "accountId": account_id,
        "emailAddress": u.map(|u| u.email.clone()).unwrap_or_default(),
        "avatarUrls": avatars(base, "user", account_id),
        "displayName": u.map(|u| u.display_name.clone()).unwrap_or_else(|| "Former user".into()),
        "active": u.is_some_and(|u| u.active),
        "timeZone": tz(),
        "accountType": "atlassian",
    })
}

pub fn user_full(site: &Site, base: &str, account_id: &str) -> Value {
    let mut v = user_details(site, base, account_id);
    v["locale"] = json!("en_US");
    v
}

fn issuetype_json(base: &str, t: &IssueType) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/issuetype/{}", t.id),
        "id": t.id, "description": t.description,
        "iconUrl": format!("{base}/images/icons/issuetypes/{}.svg", t.name.to_lowercase()),
        "name": t.name, "subtask": t.subtask, "hierarchyLevel": t.hierarchy_level,
    })
}

fn category(base: &str, c: u32) -> Value {
    let (key, name, color) = match c {
        2 => ("new", "To Do", "blue-gray"),
        4 => ("indeterminate", "In Progress", "yellow"),
        _ => ("done", "Done", "green"),
    };
    json!({"self": format!("{base}/rest/api/3/statuscategory/{c}"), "id": c, "key": key, "colorName": color, "name": name})
}

fn status_json(base: &str, s: &Status) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/status/{}", s.id),
        "description": "", "iconUrl": format!("{base}/images/icons/status_generic.gif"),
        "name": s.name, "id": s.id, "statusCategory": category(base, s.category),
    })
}

fn priority_json(base: &str, p: &Named) -> Value {
    json!({"self": format!("{base}/rest/api/3/priority/{}", p.id), "statusColor": "#ff8b00", "description": p.description,
           "iconUrl": format!("{base}/images/icons/priorities/{}.svg", p.name.to_lowercase()), "name": p.name, "id": p.id})
}

fn resolution_json(base: &str, r: &Named) -> Value {
    json!({"self": format!("{base}/rest/api/3/resolution/{}", r.id), "id": r.id, "description": r.description, "name": r.name})
}

fn link_type_json(base: &str, t: &LinkType) -> Value {
    json!({"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward, "self": format!("{base}/rest/api/3/issueLinkType/{}", t.id)})
}

fn component_json(base: &str, p: &Project, c: &Component, site: &Site) -> Value {
    let mut v = json!({
        "self": format!("{base}/rest/api/3/component/{}", c.id), "id": c.id, "name": c.name,
        "description": c.description, "assigneeType": "PROJECT_DEFAULT", "realAssigneeType": "PROJECT_DEFAULT",
        "isAssigneeTypeValid": false, "project": p.key, "projectId": p.id,
    });
    if let Some(l) = &c.lead {
        v["lead"] = user_full(site, base, l);
    }
    v
}

fn version_json(base: &str, p: &Project, v: &Version) -> Value {
    let mut j = json!({
        "self": format!("{base}/rest/api/3/version/{}", v.id), "id": v.id, "description": v.description,
        "name": v.name, "archived": v.archived, "released": v.released, "projectId": p.id,
    });
    if let Some(d) = &v.release_date {
        j["releaseDate"] = json!(d);
    }
    j
}

fn project_json(site: &Site, base: &str, p: &Project, full: bool, expand: &[&str]) -> Value {
    let mut v = json!({
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "self": format!("{base}/rest/api/3/project/{}", p.id),
        "id": p.id.to_string(), "key": p.key, "name": p.name,
        "avatarUrls": avatars(base, "project", &p.id.to_string()),
        "projectTypeKey": p.type_key, "simplified": false, "style": "classic", "isPrivate": false,
        "properties": {},
    });
    if full || expand.contains(&"description") {
        v["description"] = json!(p.description);
    }
    if full || expand.contains(&"lead") {
        v["lead"] = user_full(site, base, &p.lead);
    }
    if full || expand.contains(&"issueTypes") {
        v["issueTypes"] = Value::Array(
            site.issue_types
                .iter()
                .map(|t| issuetype_json(base, t))
                .collect(),
        );
    }
    if full {
        v["components"] = Value::Array(
            p.components
                .iter()
                .map(|c| component_json(base, p, c, site))
                .collect(),
        );
        v["versions"] = Value::Array(
            p.versions
                .iter()
                .map(|x| version_json(base, p, x))
                .collect(),
        );
        v["assigneeType"] = json!("UNASSIGNED");
        let roles: Map<String, Value> = site
            .roles
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    json!(format!("{base}/rest/api/3/project/{}/role/{}", p.id, r.id)),
                )
            })
            .collect();
        v["roles"] = Value::Object(roles);
    }
    v
}

fn field_schema(f: &CustomField) -> Value {
    let (ty, items) = f.kind.schema_type();
    let mut s = json!({"type": ty, "custom": f.kind.type_key(), "customId": f.numeric_id});
    if let Some(i) = items {
        s["items"] = json!(i);
    }
    s
}

const SYSTEM_FIELDS: &[(&str, &str, &str, Option<&str>)] = &[
    ("summary", "Summary", "string", None),
    ("description", "Description", "string", None),
    ("issuetype", "Issue Type", "issuetype", None),
    ("project", "Project", "project", None),
    ("status", "Status", "status", None),
    ("priority", "Priority", "priority", None),
    ("resolution", "Resolution", "resolution", None),
    ("resolutiondate", "Resolved", "datetime", None),
    ("assignee", "Assignee", "user", None),
    ("reporter", "Reporter", "user", None),
    ("creator", "Creator", "user", None),
    ("created", "Created", "datetime", None),
    ("updated", "Updated", "datetime", None),
    ("labels", "Labels", "array", Some("string")),
    ("components", "Components", "array", Some("component")),
    ("fixVersions", "Fix versions", "array", Some("version")),
    ("parent", "Parent", "issuelink", None),
    ("subtasks", "Sub-tasks", "array", Some("issuelinks")),
    ("issuelinks", "Linked Issues", "array", Some("issuelinks")),
    ("comment", "Comment", "comments-page", None),
    ("worklog", "Log Work", "array", Some("worklog")),
    ("attachment", "Attachment", "array", Some("attachment")),
    ("watches", "Watchers", "watches", None),
];

fn fields_list(site: &Site) -> Vec<Value> {
    let mut out: Vec<Value> = SYSTEM_FIELDS
        .iter()
        .map(|(id, name, ty, items)| {
            let mut schema = json!({"type": ty, "system": id});
            if let Some(i) = items {
                schema["items"] = json!(i);
            }
            json!({"id": id, "key": id, "name": name, "custom": false, "orderable": true, "navigable": true,
                   "searchable": true, "clauseNames": [id], "schema": schema})
        })
        .collect();
    out.extend(site.custom_fields.iter().map(custom_field_json));
    out
}

fn custom_field_json(f: &CustomField) -> Value {
    json!({"id": f.id, "key": f.id, "name": f.name, "custom": true, "orderable": true, "navigable": true,
        "searchable": true, "clauseNames": [format!("cf[{}]", f.numeric_id), f.name], "schema": field_schema(f)})
}

fn linked_issue(site: &Site, base: &str, id: u64) -> Value {
    let Some(i) = site.issues.get(&id) else {
        return json!({"id": id.to_string()});
    };
    let mut fields = json!({"summary": i.summary});
    if let Some(s) = site.statuses.iter().find(|s| s.id == i.status) {
        fields["status"] = status_json(base, s);
    }
    if let Some(p) = site.priorities.iter().find(|p| p.id == i.priority) {
        fields["priority"] = priority_json(base, p);
    }
    if let Some(t) = site.issue_types.iter().find(|t| t.id == i.issuetype) {
        fields["issuetype"] = issuetype_json(base, t);
    }
    json!({"id": i.id.to_string(), "key": i.key, "self": format!("{base}/rest/api/3/issue/{}", i.id), "fields": fields})
}

fn link_json(site: &Site, base: &str, l: &IssueLink, from: Option<u64>) -> Value {
    let t = site.link_types.iter().find(|t| t.id == l.type_id);
    let mut v = json!({"id": l.id.to_string(), "self": format!("{base}/rest/api/3/issueLink/{}", l.id),
                       "type": t.map(|t| link_type_json(base, t)).unwrap_or(Value::Null)});
    match from {
        Some(f) if f == l.outward => v["inwardIssue"] = linked_issue(site, base, l.inward),
        Some(_) => v["outwardIssue"] = linked_issue(site, base, l.outward),
        None => {
            v["inwardIssue"] = linked_issue(site, base, l.inward);
            v["outwardIssue"] = linked_issue(site, base, l.outward);
        }
    }
    v
}

fn hm(secs: u64) -> String {
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

fn comment_json(site: &Site, base: &str, issue: &Issue, c: &Comment) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/issue/{}/comment/{}", issue.id, c.id), "id": c.id.to_string(),
        "author": user_details(site, base, &c.author), "body": c.body,
        "updateAuthor": user_details(site, base, &c.author),
        "created": jira_ts(&c.created), "updated": jira_ts(&c.updated), "jsdPublic": true,
    })
}

fn worklog_json(site: &Site, base: &str, issue: &Issue, w: &Worklog) -> Value {
    let mut v = json!({
        "self": format!("{base}/rest/api/3/issue/{}/worklog/{}", issue.id, w.id),
        "author": user_details(site, base, &w.author), "updateAuthor": user_details(site, base, &w.author),
        "created": jira_ts(&w.created), "updated": jira_ts(&w.updated), "started": jira_ts(&w.started),
        "timeSpent": hm(w.time_spent_seconds), "timeSpentSeconds": w.time_spent_seconds,
        "id": w.id.to_string(), "issueId": issue.id.to_string(),
    });
    if let Some(c) = &w.comment {
        v["comment"] = c.clone();
    }
    v
}

fn history_json(site: &Site, base: &str, h: &History) -> Value {
    let items: Vec<Value> = h
        .items
        .iter()
        .map(|i| {
            // Atlassian's schema types these as strings: absent values are left out.
            let mut m = Map::new();
            m.insert("field".into(), json!(i.field));
            m.insert("fieldtype".into(), json!("jira"));
            m.insert("fieldId".into(), json!(i.field_id));
            for (k, v) in [
                ("from", &i.from),
                ("fromString", &i.from_string),
                ("to", &i.to),
                ("toString", &i.to_string),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), json!(v));
                }
            }
            Value::Object(m)
        })
        .collect();
    json!({"id": h.id.to_string(), "author": user_details(site, base, &h.author), "created": jira_ts(&h.created), "items": items})
}

pub fn attachment_json(site: &Site, base: &str, a: &Attachment) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/attachment/{}", a.id), "id": a.id.to_string(), "filename": a.filename,
        "author": user_details(site, base, &a.author), "created": jira_ts(&a.created), "size": a.blob.size(),
        "mimeType": a.mime, "content": format!("{base}/rest/api/3/attachment/content/{}", a.id),
    })
}

fn remote_link_json(base: &str, issue: &Issue, r: &RemoteLink) -> Value {
    let mut v = json!({
        "id": r.id, "self": format!("{base}/rest/api/3/issue/{}/remotelink/{}", issue.id, r.id),
        "application": {},
        "object": {"url": r.url, "title": r.title, "icon": {}, "status": {"icon": {}}},
    });
    if let Some(g) = &r.global_id {
        v["globalId"] = json!(g);
    }
    if let Some(rel) = &r.relationship {
        v["relationship"] = json!(rel);
    }
    v
}

/// All fields of an issue in REST shape, in a stable order.
fn all_fields(
    site: &Site,
    base: &str,
    i: &Issue,
    want: &dyn Fn(&str) -> bool,
) -> Vec<(String, Value)> {
    let p = site.projects.get(&i.project_id);
    let mut f: Vec<(String, Value)> = vec![];
    let mut put = |k: &str, v: Value| f.push((k.to_string(), v));
    if want("summary") {
        put("summary", json!(i.summary));
    }
    if want("description") {
        put("description", i.description.clone().unwrap_or(Value::Null));
    }
    if want("issuetype") {
        put(
            "issuetype",
            site.issue_types
                .iter()
                .find(|t| t.id == i.issuetype)
                .map(|t| issuetype_json(base, t))
                .unwrap_or(Value::Null),
        );
    }
    if want("project") {
        put(
            "project",
            p.map(|p| project_json(site, base, p, false, &[]))
                .unwrap_or(Value::Null),
        );
    }
    if want("status") {
        put(
            "status",
            site.statuses
                .iter()
                .find(|s| s.id == i.status)
                .map(|s| status_json(base, s))
                .unwrap_or(Value::Null),
        );
    }
    if want("priority") {
        put(
            "priority",
            site.priorities
                .iter()
                .find(|x| x.id == i.priority)
                .map(|x| priority_json(base, x))
                .unwrap_or(Value::Null),
        );
    }
    let res = i
        .resolution
        .as_ref()
        .and_then(|r| site.resolutions.iter().find(|x| &x.id == r));
    if want("resolution") {
        put(
            "resolution",
            res.map(|r| resolution_json(base, r)).unwrap_or(Value::Null),
        );
    }
    if want("resolutiondate") {
        put(
            "resolutiondate",
            if res.is_some() {
                json!(jira_ts(&i.updated))
            } else {
                Value::Null
            },
        );
    }
    if want("assignee") {
        put(
            "assignee",
            i.assignee
                .as_ref()
                .map(|a| user_details(site, base, a))
                .unwrap_or(Value::Null),
        );
    }
    if want("reporter") {
        put("reporter", user_details(site, base, &i.reporter));
    }
    if want("creator") {
        put("creator", user_details(site, base, &i.creator));
    }
    if want("created") {
        put("created", json!(jira_ts(&i.created)));
    }
    if want("updated") {
        put("updated", json!(jira_ts(&i.updated)));
    }
    if want("labels") {
        put("labels", json!(i.labels));
    }
    let comps: Vec<Value> = if want("components") {
        p
        .map(|p| p.components.iter().filter(|c| i.components.contains(&c.id)).map(|c| json!({"self": format!("{base}/rest/api/3/component/{}", c.id), "id": c.id, "name": c.name})).collect())
        .unwrap_or_default()
    } else {
        vec![]
    };
    if want("components") {
        put("components", Value::Array(comps));
    }
    let vers: Vec<Value> = if want("fixVersions") {
        p.map(|p| {
            p.versions
                .iter()
                .filter(|v| i.fix_versions.contains(&v.id))
                .map(|v| version_json(base, p, v))
                .collect()
        })
        .unwrap_or_default()
    } else {
        vec![]
    };
    if want("fixVersions") {
        put("fixVersions", Value::Array(vers));
    }
    if let Some(parent) = i.parent.filter(|_| want("parent")) {
        put("parent", linked_issue(site, base, parent));
    }
    let subtasks: Vec<Value> = if want("subtasks") {
        site.issues
            .values()
            .filter(|s| s.parent == Some(i.id) && s.issuetype == SUBTASK_TYPE)
            .map(|s| linked_issue(site, base, s.id))
            .collect()
    } else {
        vec![]
    };
    if want("subtasks") {
        put("subtasks", Value::Array(subtasks));
    }
    let links: Vec<Value> = if want("issuelinks") {
        site.links
            .values()
            .filter(|l| l.inward == i.id || l.outward == i.id)
            .map(|l| link_json(site, base, l, Some(i.id)))
            .collect()
    } else {
        vec![]
    };
    if want("issuelinks") {
        put("issuelinks", Value::Array(links));
    }
    let comments: Vec<Value> = if want("comment") {
        i.comments
            .iter()
            .map(|c| comment_json(site, base, i, c))
            .collect()
    } else {
        vec![]
    };
    let n = comments.len();
    if want("comment") {
        put(
            "comment",
            json!({"comments": comments, "self": format!("{base}/rest/api/3/issue/{}/comment", i.id), "maxResults": n, "total": n, "startAt": 0}),
        );
    }
    let wl: Vec<Value> = if want("worklog") {
        i.worklogs
            .iter()
            .take(20)
            .map(|w| worklog_json(site, base, i, w))
            .collect()
    } else {
        vec![]
    };
    if want("worklog") {
        put(
            "worklog",
            json!({"startAt": 0, "maxResults": 20, "total": i.worklogs.len(), "worklogs": wl}),
        );
    }
    let atts: Vec<Value> = if want("attachment") {
        site.attachments
            .values()
            .filter(|a| a.issue_id == i.id)
            .map(|a| attachment_json(site, base, a))
            .collect()
    } else {
        vec![]
    };
    if want("attachment") {
        put("attachment", Value::Array(atts));
    }
    if want("watches") {
        put(
            "watches",
            json!({"self": format!("{base}/rest/api/3/issue/{}/watchers", i.key), "watchCount": i.watchers.len(), "isWatching": false}),
        );
    }
    for cf in &site.custom_fields {
        if !want(&cf.id) {
            continue;
        }
        let v = match (cf.kind, i.custom.get(&cf.id)) {
            (_, None) => Value::Null,
            (CfKind::Select, Some(v)) => json!({"self": format!("{base}/rest/api/3/customFieldOption/{}", v["id"].as_str().unwrap_or("")), "value": v["value"], "id": v["id"]}),
            (CfKind::MultiSelect, Some(Value::Array(a))) => Value::Array(a.iter().map(|v| json!({"self": format!("{base}/rest/api/3/customFieldOption/{}", v["id"].as_str().unwrap_or("")), "value": v["value"], "id": v["id"]})).collect()),
            (CfKind::User, Some(Value::String(a))) => user_details(site, base, a),
            (_, Some(v)) => v.clone(),
        };
        put(&cf.id, v);
    }
    let sprint = i.sprint.and_then(|s| site.sprints.get(&s)).map(|s| json!([{"id": s.id, "name": s.name, "state": s.state, "boardId": s.board_id, "goal": s.goal}]));
    if want("customfield_10020") {
        put("customfield_10020", sprint.unwrap_or(Value::Null));
    }
    f
}

/// Which fields a `fields` parameter asks for (`*all`, `*navigable`, names, `-name`).
fn field_filter(wanted: &[String]) -> impl Fn(&str) -> bool + '_ {
    move |k: &str| {
        let mut include_all = false;
        let mut navigable = false;
        let mut named = false;
        for w in wanted {
            match w.as_str() {
                "*all" => include_all = true,
                "*navigable" => navigable = true,
                x if x.starts_with('-') => {
                    if &x[1..] == k {
                        return false;
                    }
                }
                x => named |= x == k,
            }
        }
        include_all || named || (navigable && k != "comment" && k != "worklog")
    }
}

fn issue_bean(site: &Site, base: &str, i: &Issue, fields: &[String], expand: &[&str]) -> Value {
    let mut v = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": i.id.to_string(), "self": format!("{base}/rest/api/3/issue/{}", i.id), "key": i.key,
    });
    let wants_only_id = fields.iter().all(|f| f == "id" || f == "key");
    if !wants_only_id {
        let want = field_filter(fields);
        let sel: Map<String, Value> = all_fields(site, base, i, &want).into_iter().collect();
        if expand.contains(&"names") {
            let names: Map<String, Value> = fields_list(site)
                .into_iter()
                .filter(|f| sel.contains_key(f["id"].as_str().unwrap_or("")))
                .map(|f| {
                    (
                        f["id"].as_str().unwrap_or("").to_string(),
                        f["name"].clone(),
                    )
                })
                .collect();
            v["names"] = Value::Object(names);
        }
        v["fields"] = Value::Object(sel);
    } else if fields.iter().any(|f| f == "key") {
        v["fields"] = json!({});
    }
    if expand.contains(&"changelog") {
        let h: Vec<Value> = i
            .histories
            .iter()
            .map(|h| history_json(site, base, h))
            .collect();
        v["changelog"] =
            json!({"startAt": 0, "maxResults": h.len(), "total": h.len(), "histories": h});
    }
    if expand.contains(&"renderedFields") {
        v["renderedFields"] = json!({});
    }
    v
}

// ======================================================================= handlers

pub fn tenant_info(site: &Site, _r: &Req) -> R {
    Ok(ok(json!({"cloudId": site.cloud_id})))
}

pub fn server_info(site: &Site, r: &Req) -> R {
    Ok(ok(json!({
        "baseUrl": r.base, "displayUrl": r.base, "displayUrlConfluence": format!("{}/wiki", r.base),
        "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
        "buildNumber": 100_287, "buildDate": "2025-11-01T00:00:00.000+0000",
        "serverTime": jira_ts(&Utc::now()), "scmInfo": "sim", "serverTitle": format!("{} (cairn-sitesim)", site.name),
    })))
}

pub fn myself(site: &Site, r: &Req) -> R {
    let mut v = user_full(site, &r.base, &r.me);
    v["groups"] = json!({"size": 0, "items": []});
    v["applicationRoles"] = json!({"size": 0, "items": []});
    v["expand"] = json!("groups,applicationRoles");
    Ok(ok(v))
}

pub fn project_search(site: &Site, r: &Req) -> R {
    let expand: Vec<&str> = r.q_all("expand");
    let keys: Vec<&str> = r.q_all("keys");
    let ids: Vec<&str> = r.q_all("id");
    let query = r.q("query").map(|q| q.to_lowercase());
    let mut ps: Vec<&Project> = site
        .projects
        .values()
        .filter(|p| keys.is_empty() || keys.iter().any(|k| k.eq_ignore_ascii_case(&p.key)))
        .filter(|p| ids.is_empty() || ids.contains(&p.id.to_string().as_str()))
        .filter(|p| {
            query.as_ref().is_none_or(|q| {
                p.key.to_lowercase().contains(q) || p.name.to_lowercase().contains(q)
            })
        })
        .collect();
    match r.q("orderBy").unwrap_or("key") {
        "name" | "+name" => ps.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        "-name" => ps.sort_by(|a, b| b.name.cmp(&a.name).then(a.id.cmp(&b.id))),
        "-key" => ps.sort_by(|a, b| b.key.cmp(&a.key)),
        _ => ps.sort_by(|a, b| a.key.cmp(&b.key)),
    }
    let items = ps
        .into_iter()
        .map(|p| project_json(site, &r.base, p, false, &expand))
        .collect();
    Ok(ok(page_bean(r, items, 50, 100)?))
}

pub fn project_all(site: &Site, r: &Req) -> R {
    let expand: Vec<&str> = r.q_all("expand");
    Ok(ok(Value::Array(
        site.projects
            .values()
            .map(|p| project_json(site, &r.base, p, false, &expand))
            .collect(),
    )))
}

fn project<'a>(site: &'a Site, r: &Req) -> Result<&'a Project, Response> {
    site.project_by_ref(r.p("projectIdOrKey")).ok_or_else(|| {
        r.not_found(&format!(
            "No project could be found with key '{}'.",
            r.p("projectIdOrKey")
        ))
    })
}

pub fn project_get(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    Ok(ok(project_json(site, &r.base, p, true, &r.q_all("expand"))))
}

pub fn project_components(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    Ok(ok(Value::Array(
        p.components
            .iter()
            .map(|c| component_json(&r.base, p, c, site))
            .collect(),
    )))
}

pub fn project_version_page(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    let items = p
        .versions
        .iter()
        .map(|v| version_json(&r.base, p, v))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn project_versions(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    Ok(ok(Value::Array(
        p.versions
            .iter()
            .map(|v| version_json(&r.base, p, v))
            .collect(),
    )))
}

pub fn project_roles(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    let m: Map<String, Value> = site
        .roles
        .iter()
        .map(|x| {
            (
                x.name.clone(),
                json!(format!(
                    "{}/rest/api/3/project/{}/role/{}",
                    r.base, p.id, x.id
                )),
            )
        })
        .collect();
    Ok(ok(Value::Object(m)))
}

pub fn project_role(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    let id: u64 = r
        .p("id")
        .parse()
        .map_err(|_| r.not_found("No project role with that id."))?;
    let role = site
        .roles
        .iter()
        .find(|x| x.id == id.to_string())
        .ok_or_else(|| r.not_found("No project role with that id."))?;
    let actors: Vec<Value> = p
        .role_actors
        .get(&id)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, a)| {
            let u = site.user(a);
            json!({"id": n as u64 + 1, "displayName": u.map(|u| u.display_name.clone()).unwrap_or_default(), "type": "atlassian-user-role-actor", "actorUser": {"accountId": a}})
        })
        .collect();
    Ok(ok(
        json!({"self": format!("{}/rest/api/3/project/{}/role/{}", r.base, p.id, id), "name": role.name, "id": id, "description": role.description, "actors": actors}),
    ))
}

pub fn issuetypes(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.issue_types
            .iter()
            .map(|t| issuetype_json(&r.base, t))
            .collect(),
    )))
}

pub fn fields(site: &Site, _r: &Req) -> R {
    Ok(ok(Value::Array(fields_list(site))))
}

pub fn field_contexts(site: &Site, r: &Req) -> R {
    let f = site
        .field(r.p("fieldId"))
        .ok_or_else(|| r.not_found("The custom field was not found."))?;
    let items = vec![
        json!({"id": f.context_id, "name": format!("Default Configuration Scheme for {}", f.name), "description": "", "isGlobalContext": true, "isAnyIssueType": true}),
    ];
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn field_options(site: &Site, r: &Req) -> R {
    let f = site
        .field(r.p("fieldId"))
        .ok_or_else(|| r.not_found("The custom field was not found."))?;
    if f.context_id != r.p("contextId") {
        return Err(r.not_found("The context was not found."));
    }
    if f.options.is_empty() && !matches!(f.kind, CfKind::Select | CfKind::MultiSelect) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The custom field doesn't support options.",
        ));
    }
    let items = f
        .options
        .iter()
        .map(|(id, v)| json!({"id": id, "value": v, "disabled": false}))
        .collect();
    Ok(ok(page_bean(r, items, 100, 100)?))
}

pub fn statuses(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.statuses
            .iter()
            .map(|s| status_json(&r.base, s))
            .collect(),
    )))
}

pub fn priorities(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.priorities
            .iter()
            .map(|p| priority_json(&r.base, p))
            .collect(),
    )))
}

pub fn resolutions(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.resolutions
            .iter()
            .map(|x| resolution_json(&r.base, x))
            .collect(),
    )))
}

pub fn link_types(site: &Site, r: &Req) -> R {
    Ok(ok(
        json!({"issueLinkTypes": site.link_types.iter().map(|t| link_type_json(&r.base, t)).collect::<Vec<_>>()}),
    ))
}

pub fn roles(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.roles
            .iter()
            .map(|x| json!({"self": format!("{}/rest/api/3/role/{}", r.base, x.id), "name": x.name, "id": x.id.parse::<u64>().unwrap_or(0), "description": x.description}))
            .collect(),
    )))
}

pub fn users_search(site: &Site, r: &Req) -> R {
    let items = site
        .users
        .iter()
        .map(|u| user_full(site, &r.base, &u.account_id))
        .collect();
    Ok(ok(slice(r, items, 50, 1000)?))
}

pub fn user_get(site: &Site, r: &Req) -> R {
    let id = r.q("accountId").unwrap_or("");
    if site.user(id).is_none() {
        return Err(
            r.not_found("Specified user does not exist or you do not have required permissions")
        );
    }
    Ok(ok(user_full(site, &r.base, id)))
}

pub fn group_bulk(site: &Site, r: &Req) -> R {
    let names = r.q_all("groupName");
    let ids = r.q_all("groupId");
    let items = site
        .groups
        .iter()
        .filter(|g| names.is_empty() || names.contains(&g.name.as_str()))
        .filter(|g| ids.is_empty() || ids.contains(&g.id.as_str()))
        .map(|g| json!({"name": g.name, "groupId": g.id}))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn group_member(site: &Site, r: &Req) -> R {
    let g = site
        .groups
        .iter()
        .find(|g| {
            Some(g.name.as_str()) == r.q("groupname") || Some(g.id.as_str()) == r.q("groupId")
        })
        .ok_or_else(|| r.not_found("Specified group does not exist."))?;
    let inactive = r.q_bool("includeInactiveUsers");
    let items = g
        .members
        .iter()
        .filter(|m| inactive || site.user(m).is_some_and(|u| u.active))
        .map(|m| user_details(site, &r.base, m))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

/// jql, nextPageToken, maxResults, fields, expand
type SearchParams = (
    String,
    Option<String>,
    Option<usize>,
    Vec<String>,
    Vec<String>,
);

fn search_params(r: &Req) -> Result<SearchParams, Response> {
    if r.method == http::Method::POST {
        let b = r.json()?;
        let fields: Vec<String> = b["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let expand: Vec<String> = match &b["expand"] {
            Value::String(s) => s.split(',').map(|x| x.trim().to_string()).collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        Ok((
            b["jql"].as_str().unwrap_or("").to_string(),
            b["nextPageToken"].as_str().map(String::from),
            b["maxResults"].as_u64().map(|m| m as usize),
            fields,
            expand,
        ))
    } else {
        Ok((
            r.q("jql").unwrap_or("").to_string(),
            r.q("nextPageToken").map(String::from),
            r.q("maxResults")
                .map(|_| r.q_num("maxResults", 50))
                .transpose()?,
            r.q_all("fields").into_iter().map(String::from).collect(),
            r.q_all("expand").into_iter().map(String::from).collect(),
        ))
    }
}

/// Parse `jql_text` and check it as Jira does (bounded; projects and keys exist).
fn parse_jql(site: &Site, r: &Req, jql_text: &str) -> Result<jql::Query, Response> {
    let q = jql::parse(jql_text).map_err(|e| r.err(StatusCode::BAD_REQUEST, &e))?;
    if !q.bounded() {
        return Err(r.err(StatusCode::BAD_REQUEST, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."));
    }
    if let Some(e) = q.unknown_value(site) {
        return Err(r.err(StatusCode::BAD_REQUEST, &e));
    }
    Ok(q)
}

/// The `nextPageToken` of a search: the query's hash and the last sort key served, so the next
/// page starts right after it (search-after, not a position: changes between pages neither
/// repeat nor skip the issues that stay).
#[derive(serde::Serialize, serde::Deserialize)]
struct PageToken {
    q: String,
    after: jql::SortKey,
}

fn jql_hash(s: &str) -> String {
    blake3::hash(s.as_bytes()).to_hex()[..12].to_string()
}

pub fn search_jql(site: &Site, r: &Req) -> R {
    let (jql_text, token, max, fields, expand) = search_params(r)?;
    let q = parse_jql(site, r, &jql_text)?;
    let hits = site.search_cache.get_or_run(&jql_text, || q.run(site));
    let start = match token {
        None => 0,
        Some(t) => {
            let after = unb64(&t)
                .and_then(|s| serde_json::from_str::<PageToken>(&s).ok())
                .filter(|t| t.q == jql_hash(&jql_text))
                .ok_or_else(|| {
                    r.err(
                        StatusCode::BAD_REQUEST,
                        "The provided next page token is invalid or expired.",
                    )
                })?
                .after;
            hits.partition_point(|(k, _)| q.cmp_keys(k, &after) != std::cmp::Ordering::Greater)
        }
    };
    let only_ids = fields.iter().all(|f| f == "id" || f == "key");
    let cap = if only_ids { 5000 } else { 100 };
    let max = max.unwrap_or(50).clamp(1, cap);
    let expand: Vec<&str> = expand.iter().map(String::as_str).collect();
    let page = &hits[start.min(hits.len())..(start + max).min(hits.len())];
    let issues: Vec<Value> = page
        .iter()
        .filter_map(|(_, id)| site.issues.get(id))
        .map(|i| issue_bean(site, &r.base, i, &fields, &expand))
        .collect();
    let is_last = start + page.len() >= hits.len();
    let mut v = json!({"issues": issues, "isLast": is_last});
    if let (false, Some((last, _))) = (is_last, page.last()) {
        use base64::Engine;
        let t = PageToken {
            q: jql_hash(&jql_text),
            after: last.clone(),
        };
        v["nextPageToken"] = json!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_string(&t).unwrap_or_default())
        );
    }
    Ok(ok(v))
}

pub fn approximate_count(site: &Site, r: &Req) -> R {
    let b = r.json()?;
    let jql_text = b["jql"].as_str().unwrap_or("");
    let q = parse_jql(site, r, jql_text)?;
    let n = site.search_cache.get_or_run(jql_text, || q.run(site)).len();
    Ok(ok(json!({"count": n})))
}

fn issue<'a>(site: &'a Site, r: &Req) -> Result<&'a Issue, Response> {
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

// ------------------------------------------------------------------- agile

fn board_json(site: &Site, base: &str, b: &Board) -> Value {
    let p = site.projects.get(&b.project_id);
    json!({
        "id": b.id, "self": format!("{base}/rest/agile/1.0/board/{}", b.id), "name": b.name, "type": b.kind,
        "location": {"projectId": b.project_id, "projectKey": p.map(|p| p.key.clone()), "projectName": p.map(|p| p.name.clone()),
                     "displayName": p.map(|p| format!("{} ({})", p.name, p.key)), "projectTypeKey": "software", "name": p.map(|p| format!("{} ({})", p.name, p.key))},
    })
}

fn sprint_json(base: &str, s: &Sprint) -> Value {
    let mut v = json!({"id": s.id, "self": format!("{base}/rest/agile/1.0/sprint/{}", s.id), "state": s.state, "name": s.name, "originBoardId": s.board_id, "goal": s.goal});
    if let (Some(a), Some(b)) = (s.start, s.end) {
        v["startDate"] = json!(conf_ts(&a));
        v["endDate"] = json!(conf_ts(&b));
        if s.state == "closed" {
            v["completeDate"] = json!(conf_ts(&b));
        }
    }
    v
}

pub fn boards(site: &Site, r: &Req) -> R {
    let pk = r.q("projectKeyOrId");
    let items: Vec<Value> = site
        .boards
        .values()
        .filter(|b| {
            pk.is_none_or(|k| {
                site.projects
                    .get(&b.project_id)
                    .is_some_and(|p| p.key.eq_ignore_ascii_case(k) || p.id.to_string() == k)
            })
        })
        .filter(|b| r.q("type").is_none_or(|t| t == b.kind))
        .map(|b| board_json(site, &r.base, b))
        .collect();
    let mut v = page_bean(r, items, 50, 50)?;
    if let Value::Object(m) = &mut v {
        m.remove("self");
        m.remove("nextPage");
    }
    Ok(ok(v))
}

pub fn board_get(site: &Site, r: &Req) -> R {
    let b = r
        .p("boardId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.boards.get(&id))
        .ok_or_else(|| {
            r.not_found("Board does not exist or you do not have permission to see it.")
        })?;
    Ok(ok(board_json(site, &r.base, b)))
}

pub fn board_sprints(site: &Site, r: &Req) -> R {
    let b = r
        .p("boardId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.boards.get(&id))
        .ok_or_else(|| {
            r.not_found("Board does not exist or you do not have permission to see it.")
        })?;
    if b.kind != "scrum" {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The board does not support sprints",
        ));
    }
    let states = r.q_all("state");
    let items: Vec<Value> = site
        .sprints
        .values()
        .filter(|s| s.board_id == b.id && (states.is_empty() || states.contains(&s.state.as_str())))
        .map(|s| sprint_json(&r.base, s))
        .collect();
    let mut v = page_bean(r, items, 50, 50)?;
    if let Value::Object(m) = &mut v {
        m.remove("self");
        m.remove("nextPage");
    }
    Ok(ok(v))
}

pub fn sprint_get(site: &Site, r: &Req) -> R {
    let s = r
        .p("sprintId")
        .parse::<u64>()
        .ok()
        .and_then(|id| site.sprints.get(&id))
        .ok_or_else(|| r.not_found("Sprint does not exist."))?;
    Ok(ok(sprint_json(&r.base, s)))
}

// ================================================================== writes

fn user_ref(site: &Site, v: &Value) -> Option<Option<String>> {
    if v.is_null() {
        return Some(None);
    }
    let id = v["accountId"].as_str().or(v.as_str())?;
    site.user(id).map(|_| Some(id.to_string()))
}

fn by_id_or_name<'a, T>(
    items: &'a [T],
    v: &Value,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> &str,
) -> Option<&'a T> {
    if let Some(i) = v["id"]
        .as_str()
        .map(String::from)
        .or_else(|| v["id"].as_u64().map(|n| n.to_string()))
    {
        return items.iter().find(|t| id(t) == i);
    }
    let n = v["name"].as_str()?;
    items.iter().find(|t| name(t).eq_ignore_ascii_case(n))
}

const READ_ONLY: &[&str] = &[
    "created",
    "updated",
    "creator",
    "status",
    "resolutiondate",
    "subtasks",
    "issuelinks",
    "comment",
    "worklog",
    "attachment",
    "watches",
    "votes",
    "lastViewed",
    "statuscategorychangedate",
];

/// Apply a `fields` object to an issue (create or edit). Errors are Jira's `errors` map.
fn apply_fields(
    site: &Site,
    issue: &mut Issue,
    fields: &Map<String, Value>,
    creating: bool,
) -> Result<(), Map<String, Value>> {
    let mut errs = Map::new();
    let project = site.projects.get(&issue.project_id).cloned();
    for (k, v) in fields {
        if READ_ONLY.contains(&k.as_str()) || (!creating && k == "project") {
            errs.insert(
                k.clone(),
                json!(format!(
                    "Field '{k}' cannot be set. It is not on the appropriate screen, or unknown."
                )),
            );
            continue;
        }
        match k.as_str() {
            "project" => {}
            "summary" => match v.as_str() {
                Some(s) if !s.trim().is_empty() && s.len() <= 255 => issue.summary = s.to_string(),
                _ => {
                    errs.insert(k.clone(), json!("You must specify a summary of the issue."));
                }
            },
            "description" | "environment" => {
                if v.is_null() {
                    issue.description = None;
                } else if v.is_object() && v["type"] == "doc" {
                    issue.description = Some(v.clone());
                } else {
                    errs.insert(k.clone(), json!("Operation value must be an Atlassian Document (see the Atlassian Document Format)"));
                }
            }
            "issuetype" => match by_id_or_name(&site.issue_types, v, |t| &t.id, |t| &t.name) {
                Some(t) => issue.issuetype = t.id.clone(),
                None => {
                    errs.insert(k.clone(), json!("Specify a valid issue type"));
                }
            },
            "priority" => match by_id_or_name(&site.priorities, v, |t| &t.id, |t| &t.name) {
                Some(t) => issue.priority = t.id.clone(),
                None => {
                    errs.insert(k.clone(), json!("Specify a valid priority"));
                }
            },
            "resolution" => {
                if v.is_null() {
                    issue.resolution = None
                } else {
                    match by_id_or_name(&site.resolutions, v, |t| &t.id, |t| &t.name) {
                        Some(t) => issue.resolution = Some(t.id.clone()),
                        None => {
                            errs.insert(k.clone(), json!("Specify a valid resolution"));
                        }
                    }
                }
            }
            "assignee" | "reporter" => match user_ref(site, v) {
                Some(u) if k == "assignee" => issue.assignee = u,
                Some(Some(u)) => issue.reporter = u,
                _ => {
                    errs.insert(k.clone(), json!(format!("Specify a valid value for {k}")));
                }
            },
            "labels" => match v.as_array() {
                Some(a)
                    if a.iter()
                        .all(|l| l.as_str().is_some_and(|s| !s.contains(' '))) =>
                {
                    issue.labels = a
                        .iter()
                        .filter_map(|l| l.as_str().map(String::from))
                        .collect();
                }
                _ => {
                    errs.insert(k.clone(), json!("The label can't contain spaces."));
                }
            },
            "components" | "fixVersions" => {
                let Some(p) = &project else { continue };
                let mut ids = vec![];
                for x in v.as_array().cloned().unwrap_or_default() {
                    let found = if k == "components" {
                        by_id_or_name(&p.components, &x, |c| &c.id, |c| &c.name)
                            .map(|c| c.id.clone())
                    } else {
                        by_id_or_name(&p.versions, &x, |c| &c.id, |c| &c.name).map(|c| c.id.clone())
                    };
                    match found {
                        Some(id) => ids.push(id),
                        None => {
                            errs.insert(
                                k.clone(),
                                json!(format!("{k} with name or id {x} does not exist")),
                            );
                        }
                    }
                }
                if k == "components" {
                    issue.components = ids
                } else {
                    issue.fix_versions = ids
                }
            }
            "parent" => {
                if v.is_null() {
                    issue.parent = None;
                    continue;
                }
                let rf = v["key"]
                    .as_str()
                    .map(String::from)
                    .or_else(|| v["id"].as_str().map(String::from));
                match rf.and_then(|x| site.issue_id(&x)) {
                    Some(p) => issue.parent = Some(p),
                    None => {
                        errs.insert(k.clone(), json!("Could not find issue by id or key."));
                    }
                }
            }
            "customfield_10020" => {
                let sid = v.as_u64().or_else(|| {
                    v.as_array()
                        .and_then(|a| a.first())
                        .and_then(|x| x.as_u64().or(x["id"].as_u64()))
                });
                issue.sprint = sid.filter(|s| site.sprints.contains_key(s));
            }
            cf if cf.starts_with("customfield_") => {
                let Some(f) = site.field(cf) else {
                    errs.insert(k.clone(), json!(format!("Field '{cf}' cannot be set. It is not on the appropriate screen, or unknown.")));
                    continue;
                };
                if v.is_null() {
                    issue.custom.remove(cf);
                    continue;
                }
                let opt = |x: &Value| {
                    by_id_or_name(
                        &f.options,
                        &json!({"id": x["id"], "name": x["value"]}),
                        |o| &o.0,
                        |o| &o.1,
                    )
                    .map(|o| json!({"id": o.0, "value": o.1}))
                };
                let val = match f.kind {
                    CfKind::Number => v.as_f64().map(|n| json!(n)),
                    CfKind::Text => v.as_str().map(|s| json!(s)),
                    CfKind::Date => v
                        .as_str()
                        .filter(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
                        .map(|s| json!(s)),
                    CfKind::TextArea => (v["type"] == "doc").then(|| v.clone()),
                    CfKind::User => v["accountId"]
                        .as_str()
                        .filter(|a| site.user(a).is_some())
                        .map(|a| json!(a)),
                    CfKind::Select => opt(v),
                    CfKind::MultiSelect => v
                        .as_array()
                        .and_then(|a| a.iter().map(opt).collect::<Option<Vec<_>>>())
                        .map(Value::Array),
                };
                match val {
                    Some(x) => {
                        issue.custom.insert(cf.to_string(), x);
                    }
                    None => {
                        errs.insert(
                            k.clone(),
                            json!(format!("Specify a valid value for {}", f.name)),
                        );
                    }
                }
            }
            _ => {
                errs.insert(k.clone(), json!(format!("Field '{k}' cannot be set. It is not on the appropriate screen, or unknown.")));
            }
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

fn record_change(site: &mut Site, issue: &mut Issue, before: &Issue, who: &str) {
    let mut items = vec![];
    if before.summary != issue.summary {
        items.push(ChangeItem {
            field: "summary".into(),
            field_id: "summary".into(),
            from: None,
            from_string: Some(before.summary.clone()),
            to: None,
            to_string: Some(issue.summary.clone()),
        });
    }
    if before.status != issue.status {
        let n = |id: &str| {
            site.statuses
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.name.clone())
        };
        items.push(ChangeItem {
            field: "status".into(),
            field_id: "status".into(),
            from: Some(before.status.clone()),
            from_string: n(&before.status),
            to: Some(issue.status.clone()),
            to_string: n(&issue.status),
        });
    }
    if before.description != issue.description {
        items.push(ChangeItem {
            field: "description".into(),
            field_id: "description".into(),
            from: None,
            from_string: None,
            to: None,
            to_string: None,
        });
    }
    if before.assignee != issue.assignee {
        items.push(ChangeItem {
            field: "assignee".into(),
            field_id: "assignee".into(),
            from: before.assignee.clone(),
            from_string: None,
            to: issue.assignee.clone(),
            to_string: None,
        });
    }
    if before.labels != issue.labels {
        items.push(ChangeItem {
            field: "labels".into(),
            field_id: "labels".into(),
            from: None,
            from_string: Some(before.labels.join(" ")),
            to: None,
            to_string: Some(issue.labels.join(" ")),
        });
    }
    if !items.is_empty() {
        let id = site.alloc_id();
        issue.histories.push(History {
            id,
            author: who.to_string(),
            created: Utc::now(),
            items,
        });
    }
}

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
    let mut issue = Issue {
        status: site.statuses[0].id.clone(),
        ..Issue::blank(project.id, &r.me, now)
    };
    apply_fields(site, &mut issue, fields, true)
        .map_err(|e| jira_field_errors(Value::Object(e)))?;
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
        apply_fields(site, &mut issue, fields, false)
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
                    apply_fields(site, &mut issue, &m, false)
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
        return Ok(ok(issue_bean(site, &r.base, i, &["*all".into()], &[])));
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

pub fn transitions(site: &Site, r: &Req) -> R {
    let i = issue(site, r)?;
    let ts: Vec<Value> = site
        .statuses
        .iter()
        .filter(|s| s.id != i.status)
        .map(|s| json!({"id": format!("1{}", s.id), "name": format!("Move to {}", s.name), "to": status_json(&r.base, s), "hasScreen": false, "isGlobal": true, "isInitial": false, "isAvailable": true, "isConditional": false}))
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
    let status = tid
        .strip_prefix('1')
        .and_then(|s| site.statuses.iter().find(|x| x.id == s))
        .cloned()
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "Transition id is not valid for this issue.",
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
        apply_fields(site, &mut issue, fields, false)
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
    let issue = site.issues.get_mut(&id).unwrap();
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

pub fn project_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let key = b["key"].as_str().unwrap_or("").to_string();
    let mut errs = Map::new();
    let valid = key.len() >= 2
        && key.len() <= 10
        && key.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !valid {
        errs.insert("projectKey".into(), json!("Project keys must start with an uppercase letter, followed by one or more uppercase alphanumeric characters."));
    } else if site.project_by_ref(&key).is_some() {
        errs.insert(
            "projectKey".into(),
            json!(format!("Project '{key}' uses this project key.")),
        );
    }
    let name = b["name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        errs.insert(
            "projectName".into(),
            json!("You must specify a valid project name."),
        );
    } else if site.projects.values().any(|p| p.name == name) {
        errs.insert(
            "projectName".into(),
            json!("A project with that name already exists."),
        );
    }
    let lead = b["leadAccountId"]
        .as_str()
        .filter(|a| site.user(a).is_some())
        .map(String::from);
    if lead.is_none() {
        errs.insert(
            "projectLead".into(),
            json!("You must specify a valid project lead."),
        );
    }
    if !errs.is_empty() {
        return Err(jira_field_errors(Value::Object(errs)));
    }
    let id = site.alloc_id();
    site.projects.insert(
        id,
        Project {
            id,
            key: key.clone(),
            name,
            description: b["description"].as_str().unwrap_or("").into(),
            lead: lead.unwrap(),
            type_key: b["projectTypeKey"].as_str().unwrap_or("software").into(),
            components: vec![],
            versions: vec![],
            issue_counter: 0,
            role_actors: BTreeMap::new(),
        },
    );
    Ok(created(
        json!({"self": format!("{}/rest/api/3/project/{id}", r.base), "id": id, "key": key}),
    ))
}

pub fn component_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let pid = site
        .project_by_ref(b["project"].as_str().unwrap_or(""))
        .map(|p| p.id)
        .ok_or_else(|| jira_field_errors(json!({"project": "The project does not exist."})))?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            jira_field_errors(json!({"name": "The component name specified is invalid."}))
        })?
        .to_string();
    if site.projects[&pid]
        .components
        .iter()
        .any(|c| c.name == name)
    {
        return Err(jira_field_errors(
            json!({"name": "A component with the name already exists in this project."}),
        ));
    }
    let id = site.alloc_id();
    let c = Component {
        id: id.to_string(),
        name,
        description: b["description"].as_str().unwrap_or("").into(),
        lead: b["leadAccountId"].as_str().map(String::from),
    };
    site.projects
        .get_mut(&pid)
        .unwrap()
        .components
        .push(c.clone());
    let p = &site.projects[&pid];
    Ok(created(component_json(&r.base, p, &c, site)))
}

pub fn version_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let pref = b["projectId"]
        .as_u64()
        .map(|n| n.to_string())
        .or_else(|| b["project"].as_str().map(String::from))
        .unwrap_or_default();
    let pid = site.project_by_ref(&pref).map(|p| p.id).ok_or_else(|| {
        jira_field_errors(json!({"projectId": "Project must be specified to create a version."}))
    })?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| jira_field_errors(json!({"name": "You must specify a valid version name"})))?
        .to_string();
    if site.projects[&pid].versions.iter().any(|v| v.name == name) {
        return Err(jira_field_errors(
            json!({"name": "A version with this name already exists in this project."}),
        ));
    }
    let id = site.alloc_id();
    let v = Version {
        id: id.to_string(),
        name,
        description: b["description"].as_str().unwrap_or("").into(),
        released: b["released"].as_bool().unwrap_or(false),
        archived: b["archived"].as_bool().unwrap_or(false),
        release_date: b["releaseDate"].as_str().map(String::from),
    };
    site.projects
        .get_mut(&pid)
        .unwrap()
        .versions
        .push(v.clone());
    let p = &site.projects[&pid];
    Ok(created(version_json(&r.base, p, &v)))
}

pub fn board_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "name is required"))?
        .to_string();
    let kind = b["type"]
        .as_str()
        .filter(|t| *t == "scrum" || *t == "kanban")
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "type must be scrum or kanban"))?
        .to_string();
    let pref = b["location"]["projectKeyOrId"]
        .as_str()
        .map(String::from)
        .or_else(|| {
            b["location"]["projectKeyOrId"]
                .as_u64()
                .map(|n| n.to_string())
        })
        .unwrap_or_default();
    let pid = site.project_by_ref(&pref).map(|p| p.id).ok_or_else(|| {
        r.err(
            StatusCode::BAD_REQUEST,
            "location.projectKeyOrId must name a project (location.type = project)",
        )
    })?;
    let id = site.alloc_id();
    let board = Board {
        id,
        name,
        kind,
        project_id: pid,
    };
    let v = board_json(site, &r.base, &board);
    site.boards.insert(id, board);
    Ok(created(v))
}

pub fn sprint_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let board = b["originBoardId"]
        .as_u64()
        .filter(|id| site.boards.get(id).is_some_and(|b| b.kind == "scrum"))
        .ok_or_else(|| {
            r.err(
                StatusCode::BAD_REQUEST,
                "originBoardId must name a scrum board",
            )
        })?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| r.err(StatusCode::BAD_REQUEST, "name is required"))?
        .to_string();
    let ts = |k: &str| {
        b[k].as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    let id = site.alloc_id();
    let s = Sprint {
        id,
        board_id: board,
        name,
        state: "future".into(),
        goal: b["goal"].as_str().unwrap_or("").into(),
        start: ts("startDate"),
        end: ts("endDate"),
    };
    let v = sprint_json(&r.base, &s);
    site.sprints.insert(id, s);
    Ok(created(v))
}

/// Partial update: name, goal, state (`future` -> `active` -> `closed`), startDate, endDate.
pub fn sprint_update(site: &mut Site, r: &Req) -> R {
    let id = r
        .p("sprintId")
        .parse::<u64>()
        .ok()
        .filter(|id| site.sprints.contains_key(id))
        .ok_or_else(|| r.not_found("Sprint does not exist."))?;
    let b = r.json()?;
    let ts = |k: &str| {
        b[k].as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    let s = site.sprints.get_mut(&id).unwrap();
    if let Some(st) = b["state"].as_str() {
        if !["future", "active", "closed"].contains(&st) {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "state must be future, active or closed",
            ));
        }
        s.state = st.to_string();
    }
    if let Some(n) = b["name"].as_str() {
        s.name = n.to_string();
    }
    if let Some(g) = b["goal"].as_str() {
        s.goal = g.to_string();
    }
    if let Some(t) = ts("startDate") {
        s.start = Some(t);
    }
    if let Some(t) = ts("endDate") {
        s.end = Some(t);
    }
    Ok(ok(sprint_json(&r.base, s)))
}

// ------------------------------------------------- directory writes (a restore's setup)

/// `POST /field`: a custom field of one of the supported types, with its default (global)
/// context, as Jira Cloud creates it.
pub fn field_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    let ty = b["type"].as_str().unwrap_or("");
    if name.is_empty() {
        return Err(jira_field_errors(
            json!({"name": "The custom field name is required."}),
        ));
    }
    let kind = [
        CfKind::Number,
        CfKind::Select,
        CfKind::MultiSelect,
        CfKind::TextArea,
        CfKind::Text,
        CfKind::Date,
        CfKind::User,
    ]
    .into_iter()
    .find(|k| k.type_key() == ty)
    .ok_or_else(|| {
        jira_field_errors(json!({"type": format!("The custom field type '{ty}' is not supported by this stand-in.")}))
    })?;
    let n = site
        .custom_fields
        .iter()
        .map(|f| f.numeric_id)
        .max()
        .unwrap_or(10_000)
        + 1;
    let f = CustomField {
        id: format!("customfield_{n}"),
        numeric_id: n,
        name,
        kind,
        context_id: site.alloc_id().to_string(),
        options: vec![],
    };
    let v = custom_field_json(&f);
    site.custom_fields.push(f);
    Ok(created(v))
}

/// `POST /field/{fieldId}/context/{contextId}/option`: options added to the field's context.
pub fn field_options_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let ids: Vec<u64> = (0..b["options"].as_array().map_or(0, Vec::len))
        .map(|_| site.alloc_id())
        .collect();
    let f = site
        .custom_fields
        .iter_mut()
        .find(|f| f.id == r.p("fieldId"))
        .ok_or_else(|| r.not_found("The custom field was not found."))?;
    if f.context_id != r.p("contextId") {
        return Err(r.not_found("The context was not found."));
    }
    if !matches!(f.kind, CfKind::Select | CfKind::MultiSelect) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The custom field doesn't support options.",
        ));
    }
    let values: Vec<String> = b["options"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["value"].as_str().unwrap_or("").trim().to_string())
        .collect();
    if values.is_empty() || values.iter().any(String::is_empty) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "Every option needs a non-empty value.",
        ));
    }
    if let Some(dup) = values
        .iter()
        .enumerate()
        .find(|(i, v)| f.options.iter().any(|(_, o)| o == *v) || values[..*i].contains(v))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("The option '{}' already exists in this context.", dup.1),
        ));
    }
    let mut out = vec![];
    for (id, value) in ids.into_iter().zip(values) {
        out.push(json!({"id": id.to_string(), "value": value, "disabled": false}));
        f.options.push((id.to_string(), value));
    }
    Ok(ok(json!({"options": out})))
}

fn group_json(base: &str, g: &Group) -> Value {
    json!({
        "name": g.name, "groupId": g.id, "self": format!("{base}/rest/api/3/group?groupId={}", g.id),
        "users": {"size": g.members.len(), "items": [], "max-results": 50, "start-index": 0, "end-index": 0},
        "expand": "users",
    })
}

/// `POST /group`.
pub fn group_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() {
        return Err(r.err(StatusCode::BAD_REQUEST, "You must specify a group name."));
    }
    if site
        .groups
        .iter()
        .any(|g| g.name.eq_ignore_ascii_case(&name))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("A group with the name '{name}' already exists."),
        ));
    }
    let g = Group {
        id: uuid_like(&format!("{}:group:{name}", site.cloud_id)),
        name,
        members: vec![],
    };
    let v = group_json(&r.base, &g);
    site.groups.push(g);
    Ok(created(v))
}

/// `POST /group/user?groupname=|groupId=` with `{"accountId"}`.
pub fn group_user_add(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let account = b["accountId"].as_str().unwrap_or("").to_string();
    if site.user(&account).is_none() {
        return Err(jira_field_errors(
            json!({"accountId": "The user does not exist."}),
        ));
    }
    let g = site
        .groups
        .iter_mut()
        .find(|g| {
            Some(g.name.as_str()) == r.q("groupname") || Some(g.id.as_str()) == r.q("groupId")
        })
        .ok_or_else(|| r.not_found("Specified group does not exist."))?;
    if g.members.contains(&account) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("Cannot add user. User is already a member of '{}'.", g.name),
        ));
    }
    g.members.push(account);
    Ok(created(group_json(&r.base, g)))
}

/// `POST /issueLinkType`.
pub fn link_type_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let field = |k: &str| b[k].as_str().unwrap_or("").trim().to_string();
    let (name, inward, outward) = (field("name"), field("inward"), field("outward"));
    let mut errs = Map::new();
    for (k, v) in [("name", &name), ("inward", &inward), ("outward", &outward)] {
        if v.is_empty() {
            errs.insert(
                k.into(),
                json!(format!("The issue link type {k} is required.")),
            );
        }
    }
    if !errs.is_empty() {
        return Err(jira_field_errors(Value::Object(errs)));
    }
    if site
        .link_types
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(&name))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("The issue link type '{name}' already exists."),
        ));
    }
    let id = site
        .link_types
        .iter()
        .filter_map(|t| t.id.parse::<u64>().ok())
        .max()
        .unwrap_or(9_999)
        + 1;
    let t = LinkType {
        id: id.to_string(),
        name,
        inward,
        outward,
    };
    let v = link_type_json(&r.base, &t);
    site.link_types.push(t);
    Ok(created(v))
}
