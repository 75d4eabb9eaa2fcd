//! How a `fields` object changes an issue (create, edit, transition) and the change-log entry
//! an edit leaves.

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::model::*;

fn user_ref(site: &Site, v: &Value) -> Option<Option<String>> {
    if v.is_null() {
        return Some(None);
    }
    let id = v["accountId"].as_str().or(v.as_str())?;
    site.user(id).map(|_| Some(id.to_string()))
}

pub(super) fn by_id_or_name<'a, T>(
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
/// Applies `fields` to `issue` as the account `who` writes them.
pub(super) fn apply_fields(
    site: &Site,
    issue: &mut Issue,
    fields: &Map<String, Value>,
    creating: bool,
    who: &str,
) -> Result<(), Map<String, Value>> {
    let mut errs = Map::new();
    let project = site.projects.get(&issue.project_id).cloned();
    // Custom fields last: which of their contexts applies depends on the issue type.
    let (custom, system): (Vec<_>, Vec<_>) = fields
        .iter()
        .partition(|(k, _)| k.starts_with("customfield_"));
    for (k, v) in system.into_iter().chain(custom) {
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
            "security" => match super::permissions::security_level_for(site, issue.project_id, v) {
                Ok(level) => issue.security = level,
                Err(e) => {
                    errs.insert(k.clone(), json!(e));
                }
            },
            super::render::SPRINT_FIELD => {
                let sid = v.as_u64().or_else(|| {
                    v.as_array()
                        .and_then(|a| a.first())
                        .and_then(|x| x.as_u64().or(x["id"].as_u64()))
                });
                issue.sprint = sid.filter(|s| site.sprints.contains_key(s));
            }
            cf if cf.starts_with("customfield_") => {
                let Some(f) = site.field(cf) else {
                    errs.insert(k.clone(), json!(super::fields::not_settable(cf)));
                    continue;
                };
                if v.is_null() {
                    issue.custom.remove(cf);
                    continue;
                }
                // Checked against the context of the issue's project and type (set above:
                // custom fields come last).
                match super::fields::custom_value(site, f, issue.project_id, &issue.issuetype, v) {
                    Ok(x) => {
                        issue.custom.insert(cf.to_string(), x);
                    }
                    Err(m) => {
                        errs.insert(k.clone(), json!(m));
                    }
                }
            }
            _ => {
                errs.insert(k.clone(), json!(format!("Field '{k}' cannot be set. It is not on the appropriate screen, or unknown.")));
            }
        }
    }
    // Jira offers only the levels the writer is a member of (`GET /project/{key}/securitylevel`
    // lists those): an issue cannot be put where its writer would lose sight of it.
    if fields.contains_key("security")
        && let (Some(p), Some(level)) = (project.as_ref(), issue.security.as_deref())
        && !crate::permission::Viewer::new(site, who).in_level(site, p, issue, level)
    {
        errs.insert(
            "security".into(),
            json!("Security level: Specify a valid value for security level."),
        );
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

pub(super) fn record_change(site: &mut Site, issue: &mut Issue, before: &Issue, who: &str) {
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
