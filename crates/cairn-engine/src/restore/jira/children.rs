//! What hangs off a created issue: its status, comments, worklogs, attachments, watchers,
//! properties and remote links, written by a task of the issue's own.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_connectors::Jira;
use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::Dest;
use crate::json::{id_str, items, text};
use crate::restore::{Ledger, Tasks};
use crate::site::{SiteRole::Destination, site_error};
use crate::{layout, origin};

/// Status, comments, worklogs, attachments, watchers, properties and remote links of one
/// created issue, one write after another (a site limits the writes to one issue), in a task
/// of its own: what it writes goes into the returned [`Ledger`]. With `reconcile`, what the
/// destination already holds is skipped (and counted, as an earlier attempt wrote it).
pub(super) async fn issue_children(
    tasks: Tasks,
    dest: Arc<Dest>,
    key: String,
    doc: Value,
    reconcile: bool,
) -> Result<Ledger, EngineError> {
    let mut ledger = Ledger::default();
    let l = &mut ledger;
    let key = key.as_str();
    let f = &doc["issue"]["fields"];
    let sid = id_str(&doc["issue"]["id"]).unwrap_or_default();
    let jira = &dest.jira;
    let current = if reconcile {
        Some(jira.issue(key).await.map_err(site_error(Destination))?)
    } else {
        None
    };

    // Status, along the source workflow's transitions (by name), or else through a transition
    // into the status of the same name.
    if let Some(status) = f["status"]["name"].as_str() {
        let now = current
            .as_ref()
            .map(|c| text(&c["fields"]["status"], "name").to_string());
        let graph = dest
            .paths
            .graph(text(&f["project"], "key"), text(&f["issuetype"], "id"));
        if now.as_deref() != Some(status) {
            set_status(&tasks, l, jira, key, &sid, status, f, graph, now).await?;
        }
    }

    let present = if reconcile {
        Present::read(jira, key).await?
    } else {
        Present::default()
    };
    let pending = Pending::of(&tasks, l, &dest, &doc, &present);
    for c in pending.comments {
        let mut body = json!({"body": c["body"]});
        if !c["visibility"].is_null() {
            body["visibility"] = c["visibility"].clone();
        }
        let id = id_str(&c["id"]).unwrap_or_default();
        tasks.check()?;
        let r = jira.add_comment(key, &body).await.map(drop);
        tasks.outcome(l, "comment", &id, r)?;
    }
    for w in pending.worklogs {
        let mut body = json!({"started": w["started"], "timeSpentSeconds": w["timeSpentSeconds"]});
        if !w["comment"].is_null() {
            body["comment"] = w["comment"].clone();
        }
        let id = id_str(&w["id"]).unwrap_or_default();
        tasks.check()?;
        let r = jira.add_worklog(key, &body).await.map(drop);
        tasks.outcome(l, "worklog", &id, r)?;
    }
    if tasks.attachments() {
        attachments(&tasks, l, jira, key, f, current.as_ref()).await?;
    }
    for (src, account) in pending.watchers {
        tasks.check()?;
        let r = jira.add_watcher(key, &account).await;
        tasks.outcome(l, "watcher", &src, r)?;
    }
    for (k, v, kind) in pending.properties {
        // Setting a property again writes the same value: no look-up needed.
        let source = if kind == "origin" {
            sid.clone()
        } else {
            format!("{sid}/{k}")
        };
        tasks.check()?;
        let r = jira.set_property(key, &k, &v).await;
        tasks.outcome(l, kind, &source, r)?;
    }
    for link in pending.remote_links {
        let mut body = json!({"object": link["object"]});
        for k in ["globalId", "application", "relationship"] {
            if !link[k].is_null() {
                body[k] = link[k].clone();
            }
        }
        let id = id_str(&link["id"]).unwrap_or_default();
        tasks.check()?;
        let r = jira.create_remote_link(key, &body).await.map(drop);
        tasks.outcome(l, "remoteLink", &id, r)?;
    }
    Ok(ledger)
}

/// What the destination already holds of an issue's children (on a resume), so that nothing
/// is written twice: comments and worklogs are counted (the first ones are skipped), remote
/// links known by URL and watchers by account.
#[derive(Default)]
struct Present {
    comments: usize,
    worklogs: usize,
    remote_links: HashSet<String>,
    watchers: HashSet<String>,
}

impl Present {
    async fn read(jira: &Jira, key: &str) -> Result<Present, EngineError> {
        let count = |v: Vec<Value>| v.len();
        let comments = count(
            jira.comments(key)
                .try_collect()
                .await
                .map_err(site_error(Destination))?,
        );
        let worklogs = count(
            jira.worklogs(key)
                .try_collect()
                .await
                .map_err(site_error(Destination))?,
        );
        let mut remote_links = HashSet::new();
        let mut s = jira.remote_links(key);
        while let Some(l) = s.try_next().await.map_err(site_error(Destination))? {
            remote_links.insert(text(&l["object"], "url").to_string());
        }
        let watchers =
            items(&jira.watchers(key).await.map_err(site_error(Destination))?["watchers"])
                .iter()
                .filter_map(|w| id_str(&w["accountId"]))
                .collect();
        Ok(Present {
            comments,
            worklogs,
            remote_links,
            watchers,
        })
    }
}

/// The children of an issue still to write.
struct Pending {
    comments: Vec<Value>,
    worklogs: Vec<Value>,
    remote_links: Vec<Value>,
    /// (source account, destination account).
    watchers: Vec<(String, String)>,
    /// (key, value, kind): the issue's properties, and its origin.
    properties: Vec<(String, Value, &'static str)>,
}

impl Pending {
    /// What of `doc`'s children is not `present` yet. A watcher the destination does not know
    /// is skipped (and counted).
    fn of(tasks: &Tasks, l: &mut Ledger, dest: &Dest, doc: &Value, present: &Present) -> Pending {
        let mut watchers = Vec::new();
        for w in items(&doc["watchers"]["watchers"]) {
            let Some(src) = id_str(&w["accountId"]) else {
                continue;
            };
            match dest.account(&src) {
                Some(a) if present.watchers.contains(&a) => l.created("watcher"),
                Some(a) => watchers.push((src, a)),
                None => l.skipped("watcher"),
            }
        }
        let origin = tasks.record_origin().then(|| origin::jira_issue(doc));
        // What an earlier attempt wrote is counted as it is found.
        let comments: Vec<Value> = items(&doc["comments"])
            .iter()
            .skip(present.comments)
            .cloned()
            .collect();
        for _ in 0..items(&doc["comments"]).len().min(present.comments) {
            l.created("comment");
        }
        let worklogs: Vec<Value> = items(&doc["worklogs"])
            .iter()
            .skip(present.worklogs)
            .cloned()
            .collect();
        for _ in 0..items(&doc["worklogs"]).len().min(present.worklogs) {
            l.created("worklog");
        }
        let mut remote_links = Vec::new();
        for link in items(&doc["remoteLinks"]) {
            if !present.remote_links.contains(text(&link["object"], "url")) {
                remote_links.push(link.clone());
            } else {
                l.created("remoteLink");
            }
        }
        let mut properties: Vec<(String, Value, &'static str)> = properties(&doc["properties"])
            .into_iter()
            .map(|(k, v)| (k, v, "issueProperty"))
            .collect();
        if let Some(o) = origin {
            properties.push((origin::PROPERTY.to_string(), o, "origin"));
        }
        Pending {
            comments,
            worklogs,
            remote_links,
            watchers,
            properties,
        }
    }
}

/// The issue's attachments, streamed from the vault; on a resume (`current`, the issue as the
/// destination has it), one with the same name and size is there already.
async fn attachments(
    tasks: &Tasks,
    l: &mut Ledger,
    jira: &Jira,
    key: &str,
    f: &Value,
    current: Option<&Value>,
) -> Result<(), EngineError> {
    let mut have: Vec<(String, u64)> = current
        .map(|c| {
            items(&c["fields"]["attachment"])
                .iter()
                .map(|a| {
                    (
                        text(a, "filename").to_string(),
                        a["size"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for a in items(&f["attachment"]) {
        let aid = id_str(&a["id"]).unwrap_or_default();
        let name = text(a, "filename");
        let size = a["size"].as_u64().unwrap_or(0);
        if let Some(i) = have.iter().position(|(n, s)| n == name && *s == size) {
            have.swap_remove(i);
            l.created("attachment");
            continue;
        }
        match tasks
            .upload(l, &layout::jira_attachment(&aid), name, text(a, "mimeType"))
            .await?
        {
            Some(up) => {
                tasks.check()?;
                let r = jira.upload_attachment(key, up).await;
                tasks.outcome(l, "attachment", &aid, r)?;
            }
            None => l.failed(
                "attachment",
                &aid,
                "not in the backup (it could not be read when the backup ran)",
            ),
        }
    }
    Ok(())
}

/// `[{key, value}]` or `[[key, value]]`: the issue properties of a backed-up issue.
fn properties(v: &Value) -> Vec<(String, Value)> {
    items(v)
        .iter()
        .filter_map(|p| match p {
            Value::Array(kv) if kv.len() == 2 => Some((kv[0].as_str()?.to_string(), kv[1].clone())),
            Value::Object(_) => Some((p["key"].as_str()?.to_string(), p["value"].clone())),
            _ => None,
        })
        .collect()
}

/// Moves the issue to `status`, one transition at a time: along the shortest path of the source
/// workflow's transitions (`graph`, found by name among those the destination offers), from
/// `now` (else the workflow's first status); without a way along it, through a transition into
/// `status` itself.
#[allow(clippy::too_many_arguments)]
async fn set_status(
    tasks: &Tasks,
    l: &mut Ledger,
    jira: &Jira,
    key: &str,
    sid: &str,
    status: &str,
    f: &Value,
    graph: Option<&super::workflows::Graph>,
    now: Option<String>,
) -> Result<(), EngineError> {
    let mut at = now.or_else(|| graph.and_then(|g| g.initial.clone()));
    // A workflow's path is never longer than its statuses; this bounds a destination that
    // answers unexpectedly.
    for step in 0..32 {
        if at.as_deref() == Some(status) {
            return Ok(());
        }
        let next = match (graph, &at) {
            (Some(g), Some(from)) => g.path(from, status).and_then(|p| p.into_iter().next()),
            _ => None,
        };
        let transitions = match jira.transitions(key).await {
            Ok(t) => t,
            Err(e) => return tasks.refused(l, "status", sid, e),
        };
        let along = next.as_ref().and_then(|(name, to)| {
            transitions
                .iter()
                .find(|t| text(t, "name") == name)
                .map(|t| (t, to.clone()))
        });
        let chosen = along.or_else(|| {
            transitions
                .iter()
                .find(|t| text(&t["to"], "name") == status)
                .map(|t| (t, status.to_string()))
        });
        let Some((t, reached)) = chosen else {
            // No way there, unless the issue is there already.
            if step == 0 {
                let now = jira.issue(key).await.map_err(site_error(Destination))?;
                if text(&now["fields"]["status"], "name") == status {
                    return Ok(());
                }
            }
            l.failed(
                "status",
                sid,
                format!("no transition into \"{status}\" in the destination's workflow"),
            );
            return Ok(());
        };
        let mut body = json!({"transition": {"id": t["id"]}});
        if reached == status
            && let Some(res) = f["resolution"]["name"].as_str()
        {
            body["fields"] = json!({"resolution": {"name": res}});
        }
        tasks.check()?;
        let mut r = jira.transition(key, &body).await;
        if r.as_ref().is_err_and(|e| !e.is_retryable()) && body.get("fields").is_some() {
            // The transition's screen may not take a resolution: move the status at least.
            body.as_object_mut().map(|m| m.remove("fields"));
            r = jira.transition(key, &body).await;
        }
        if let Err(e) = r {
            return tasks.refused(l, "status", sid, e);
        }
        at = Some(reached);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_read_both_shapes() {
        let v = json!([{"key": "a", "value": 1}, ["b", {"x": 2}], 7]);
        assert_eq!(
            properties(&v),
            vec![
                ("a".to_string(), json!(1)),
                ("b".to_string(), json!({"x": 2}))
            ]
        );
    }
}
