//! An issue in REST shape: its fields in a stable order, filtered by a `fields` parameter.

use serde_json::{Map, Value, json};

use crate::model::*;

use super::render::{
    SPRINT_FIELD, attachment_json, comment_json, fields_list, history_json, issuetype_json,
    link_json, linked_issue, priority_json, project_json, resolution_json, status_json,
    user_details, version_json, worklog_json,
};

/// How much of an issue's lists one issue answer carries: Jira Cloud truncates the `comment` and
/// `worklog` fields and the `changelog` expand, says so in their `total`, and a client reads the
/// rest from the lists' own endpoints.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Comments in the `comment` field.
    pub comments: usize,
    /// Worklogs in the `worklog` field.
    pub worklogs: usize,
    /// Histories in `changelog` (`expand=changelog`), the most recent ones.
    pub histories: usize,
}

impl Caps {
    /// An issue in the enhanced search (`/search/jql`).
    ///
    /// - `changelog`: 40 histories. Atlassian's own tracker states the enhanced search "no
    ///   longer" returns more than 40 changelog entries per issue and points to
    ///   `GET /issue/{key}/changelog` for the rest (JRACLOUD-96459, "Enhanced search: return all
    ///   changelog records"); clients migrating to it observed the same (faros-ai/airbyte-connectors
    ///   PR 2003, "changelog being limited to 40 items in new API").
    /// - `worklog`: 20, Jira's long-standing cap of the field (the issue answer's `worklog` says
    ///   `maxResults: 20` with the real `total`).
    /// - `comment`: 20, an assumption (see the README): nothing authoritative states the search's
    ///   cap; the single issue answer was observed cutting at 100 (atlassian/atlassian-mcp-server
    ///   issue 230, "100 of 120 comments"), and the stand-in cuts earlier so that a client that
    ///   trusts the field without checking `total` fails here first.
    pub const SEARCH: Caps = Caps {
        comments: 20,
        worklogs: 20,
        histories: 40,
    };
    /// A single issue (`GET /issue/{key}`): comments cut at 100 (observed, see above), worklogs
    /// at 20, the change log expand at 100 (its documented "recent updates", observed cut at
    /// 100: airbytehq/airbyte issue 33040, pycontribs/jira issue 911).
    pub const ISSUE: Caps = Caps {
        comments: 100,
        worklogs: 20,
        histories: 100,
    };
}

/// All fields of an issue in REST shape, in a stable order.
fn all_fields(
    site: &Site,
    base: &str,
    i: &Issue,
    want: &dyn Fn(&str) -> bool,
    caps: Caps,
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
    // The first `caps.comments` comments, with the real `total`.
    let comments: Vec<Value> = if want("comment") {
        i.comments
            .iter()
            .take(caps.comments)
            .map(|c| comment_json(site, base, i, c))
            .collect()
    } else {
        vec![]
    };
    let n = comments.len();
    if want("comment") {
        put(
            "comment",
            json!({"comments": comments, "self": format!("{base}/rest/api/3/issue/{}/comment", i.id), "maxResults": n, "total": i.comments.len(), "startAt": 0}),
        );
    }
    let wl: Vec<Value> = if want("worklog") {
        i.worklogs
            .iter()
            .take(caps.worklogs)
            .map(|w| worklog_json(site, base, i, w))
            .collect()
    } else {
        vec![]
    };
    if want("worklog") {
        put(
            "worklog",
            json!({"startAt": 0, "maxResults": caps.worklogs, "total": i.worklogs.len(), "worklogs": wl}),
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
        let v = match i.custom.get(&cf.id) {
            None => Value::Null,
            Some(v) => super::fields::value_json(site, base, cf, v),
        };
        put(&cf.id, v);
    }
    let sprint = i.sprint.and_then(|s| site.sprints.get(&s)).map(|s| json!([{"id": s.id, "name": s.name, "state": s.state, "boardId": s.board_id, "goal": s.goal}]));
    if want(SPRINT_FIELD) {
        put(SPRINT_FIELD, sprint.unwrap_or(Value::Null));
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

pub(super) fn issue_bean(
    site: &Site,
    base: &str,
    i: &Issue,
    fields: &[String],
    expand: &[&str],
    caps: Caps,
) -> Value {
    let mut v = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": i.id.to_string(), "self": format!("{base}/rest/api/3/issue/{}", i.id), "key": i.key,
    });
    let wants_only_id = fields.iter().all(|f| f == "id" || f == "key");
    if !wants_only_id {
        let want = field_filter(fields);
        let sel: Map<String, Value> = all_fields(site, base, i, &want, caps).into_iter().collect();
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
        // "A list of recent updates to an issue, sorted by date, starting from the most
        // recent": the newest `caps.histories`, newest first, with the real `total`.
        let h: Vec<Value> = i
            .histories
            .iter()
            .rev()
            .take(caps.histories)
            .map(|h| history_json(site, base, h))
            .collect();
        v["changelog"] = json!({"startAt": 0, "maxResults": h.len(), "total": i.histories.len(), "histories": h});
    }
    if expand.contains(&"renderedFields") {
        v["renderedFields"] = json!({});
    }
    v
}
