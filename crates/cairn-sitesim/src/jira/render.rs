//! The JSON shapes of Jira's entities (users, projects, fields, an issue's children), shared by
//! the reads and the writes.

use serde_json::{Map, Value, json};

use crate::model::*;

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

pub(super) fn issuetype_json(base: &str, t: &IssueType) -> Value {
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

pub(super) fn status_json(base: &str, s: &Status) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/status/{}", s.id),
        "description": "", "iconUrl": format!("{base}/images/icons/status_generic.gif"),
        "name": s.name, "id": s.id, "statusCategory": category(base, s.category),
    })
}

pub(super) fn priority_json(base: &str, p: &Named) -> Value {
    json!({"self": format!("{base}/rest/api/3/priority/{}", p.id), "statusColor": "#ff8b00", "description": p.description,
           "iconUrl": format!("{base}/images/icons/priorities/{}.svg", p.name.to_lowercase()), "name": p.name, "id": p.id})
}

pub(super) fn project_category_json(base: &str, c: &Named) -> Value {
    json!({"self": format!("{base}/rest/api/3/projectCategory/{}", c.id), "id": c.id, "name": c.name, "description": c.description})
}

pub(super) fn resolution_json(base: &str, r: &Named) -> Value {
    json!({"self": format!("{base}/rest/api/3/resolution/{}", r.id), "id": r.id, "description": r.description, "name": r.name})
}

pub(super) fn link_type_json(base: &str, t: &LinkType) -> Value {
    json!({"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward, "self": format!("{base}/rest/api/3/issueLinkType/{}", t.id)})
}

pub(super) fn component_json(base: &str, p: &Project, c: &Component, site: &Site) -> Value {
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

pub(super) fn version_json(base: &str, p: &Project, v: &Version) -> Value {
    let mut j = json!({
        "self": format!("{base}/rest/api/3/version/{}", v.id), "id": v.id, "description": v.description,
        "name": v.name, "archived": v.archived, "released": v.released, "projectId": p.id,
    });
    if let Some(d) = &v.release_date {
        j["releaseDate"] = json!(d);
    }
    j
}

pub(super) fn project_json(
    site: &Site,
    base: &str,
    p: &Project,
    full: bool,
    expand: &[&str],
) -> Value {
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
    if let Some(c) = p
        .category
        .as_ref()
        .and_then(|c| site.project_categories.iter().find(|x| &x.id == c))
    {
        v["projectCategory"] = project_category_json(base, c);
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
        super::permissions::add_settings(site, p, &mut v);
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

pub(super) fn fields_list(site: &Site) -> Vec<Value> {
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
    out.push(sprint_field_json());
    out
}

/// The agile Sprint field that issues carry (Jira Software's, not one of the site's own custom
/// fields): listed by `/field` with one global context and no options, as on Jira Cloud.
pub const SPRINT_FIELD: &str = "customfield_10020";
pub(super) const SPRINT_CONTEXT: &str = "20020";

fn sprint_field_json() -> Value {
    json!({"id": SPRINT_FIELD, "key": SPRINT_FIELD, "name": "Sprint", "custom": true,
        "orderable": true, "navigable": true, "searchable": true, "clauseNames": ["cf[10020]", "Sprint"],
        "schema": {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint", "customId": 10020}})
}

pub(super) fn custom_field_json(f: &CustomField) -> Value {
    json!({"id": f.id, "key": f.id, "name": f.name, "custom": true, "orderable": true, "navigable": true,
        "searchable": true, "clauseNames": [format!("cf[{}]", f.numeric_id), f.name], "schema": field_schema(f)})
}

pub(super) fn linked_issue(site: &Site, base: &str, id: u64) -> Value {
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

pub(super) fn link_json(site: &Site, base: &str, l: &IssueLink, from: Option<u64>) -> Value {
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

pub(super) fn comment_json(site: &Site, base: &str, issue: &Issue, c: &Comment) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/issue/{}/comment/{}", issue.id, c.id), "id": c.id.to_string(),
        "author": user_details(site, base, &c.author), "body": c.body,
        "updateAuthor": user_details(site, base, &c.author),
        "created": jira_ts(&c.created), "updated": jira_ts(&c.updated), "jsdPublic": true,
    })
}

pub(super) fn worklog_json(site: &Site, base: &str, issue: &Issue, w: &Worklog) -> Value {
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

pub(super) fn history_json(site: &Site, base: &str, h: &History) -> Value {
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

pub(super) fn remote_link_json(base: &str, issue: &Issue, r: &RemoteLink) -> Value {
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
