//! What hangs off a created issue: its status, comments, worklogs, remote links, watchers,
//! properties and attachments.

use std::collections::HashSet;

use cairn_connectors::Jira;
use cairn_control::jobs::EngineError;
use cairn_store::Selection;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::Dest;
use crate::json::{id_str, items, text};
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};
use crate::{layout, origin};

/// Status, comments, worklogs, remote links, watchers, properties and attachments of one
/// created issue. With `reconcile`, what the destination already holds is skipped.
pub(super) async fn issue_children(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    key: &str,
    doc: &Value,
    reconcile: bool,
) -> Result<(), EngineError> {
    let f = &doc["issue"]["fields"];
    let sid = id_str(&doc["issue"]["id"]).unwrap_or_default();
    run.map.children_of("issue", &sid, reconcile);
    let jira = &dest.jira;
    let current = if reconcile {
        Some(jira.issue(key).await.map_err(site_error(Destination))?)
    } else {
        None
    };

    // Status, through a transition into the status of the same name.
    if let Some(status) = f["status"]["name"].as_str() {
        let now = current
            .as_ref()
            .map(|c| text(&c["fields"]["status"], "name"));
        if now != Some(status) {
            set_status(run, jira, key, &sid, status, f).await?;
        }
    }

    let present = if reconcile {
        Present::read(jira, key).await?
    } else {
        Present::default()
    };
    let pending = Pending::of(run, dest, doc, &present);
    write_side_by_side(run, jira, key, &sid, pending).await?;
    if run.selected(Selection::Attachments) {
        attachments(run, jira, key, f, current.as_ref()).await?;
    }
    Ok(())
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

/// The children of an issue still to write. Owned lists: the futures that write them must not
/// borrow through closures (the engine's futures must be provably `Send`).
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
    fn of(run: &mut RestoreRun<'_>, dest: &Dest, doc: &Value, present: &Present) -> Pending {
        let mut watchers = Vec::new();
        for w in items(&doc["watchers"]["watchers"]) {
            let Some(src) = id_str(&w["accountId"]) else {
                continue;
            };
            match dest.account(run, &src) {
                Some(a) if present.watchers.contains(&a) => run.map.created("watcher"),
                Some(a) => watchers.push((src, a)),
                None => run.map.skipped("watcher"),
            }
        }
        let origin = run.record_origin.then(|| origin::jira_issue(doc));
        // What an earlier attempt wrote is counted as it is found.
        let comments: Vec<Value> = items(&doc["comments"])
            .iter()
            .skip(present.comments)
            .cloned()
            .collect();
        for _ in 0..items(&doc["comments"]).len().min(present.comments) {
            run.map.created("comment");
        }
        let worklogs: Vec<Value> = items(&doc["worklogs"])
            .iter()
            .skip(present.worklogs)
            .cloned()
            .collect();
        for _ in 0..items(&doc["worklogs"]).len().min(present.worklogs) {
            run.map.created("worklog");
        }
        let mut remote_links = Vec::new();
        for l in items(&doc["remoteLinks"]) {
            if !present.remote_links.contains(text(&l["object"], "url")) {
                remote_links.push(l.clone());
            } else {
                run.map.created("remoteLink");
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

/// Comments, worklogs, remote links, watchers and properties do not depend on one another:
/// each kind is written in its order (comments keep theirs), the kinds side by side. A site
/// that keeps failing stops them all (the issue stays open in the map, so a resumed attempt
/// reconciles it).
async fn write_side_by_side(
    run: &mut RestoreRun<'_>,
    jira: &Jira,
    key: &str,
    sid: &str,
    pending: Pending,
) -> Result<(), EngineError> {
    let Pending {
        comments,
        worklogs,
        remote_links,
        watchers,
        properties,
    } = pending;
    let failing = Failing::default();
    let (written_comments, written_worklogs, written_links, watched, written_props) = futures::join!(
        failing.each(comments, |c: Value| async move {
            let mut body = json!({"body": c["body"]});
            if !c["visibility"].is_null() {
                body["visibility"] = c["visibility"].clone();
            }
            let id = id_str(&c["id"]).unwrap_or_default();
            ("comment", id, jira.add_comment(key, &body).await.map(drop))
        }),
        failing.each(worklogs, |w: Value| async move {
            let mut body =
                json!({"started": w["started"], "timeSpentSeconds": w["timeSpentSeconds"]});
            if !w["comment"].is_null() {
                body["comment"] = w["comment"].clone();
            }
            let id = id_str(&w["id"]).unwrap_or_default();
            ("worklog", id, jira.add_worklog(key, &body).await.map(drop))
        }),
        failing.each(remote_links, |l: Value| async move {
            let mut body = json!({"object": l["object"]});
            for k in ["globalId", "application", "relationship"] {
                if !l[k].is_null() {
                    body[k] = l[k].clone();
                }
            }
            let id = id_str(&l["id"]).unwrap_or_default();
            let r = jira.create_remote_link(key, &body).await.map(drop);
            ("remoteLink", id, r)
        }),
        failing.each(watchers, |(src, account): (String, String)| async move {
            let r = jira.add_watcher(key, &account).await;
            ("watcher", src, r)
        }),
        failing.each(
            properties,
            |(k, v, kind): (String, Value, &'static str)| async move {
                // Setting a property again writes the same value: no look-up needed.
                let source = if kind == "origin" {
                    sid.to_string()
                } else {
                    format!("{sid}/{k}")
                };
                (kind, source, jira.set_property(key, &k, &v).await)
            }
        ),
    );
    for (kind, source, result) in written_comments
        .into_iter()
        .chain(written_worklogs)
        .chain(written_links)
        .chain(watched)
        .chain(written_props)
    {
        run.outcome(kind, &source, result)?;
    }
    if failing.stopped() {
        return Err(EngineError::Retryable(
            "the destination keeps failing".into(),
        ));
    }
    Ok(())
}

/// The issue's attachments, streamed from the vault; on a resume (`current`, the issue as the
/// destination has it), one with the same name and size is there already.
async fn attachments(
    run: &mut RestoreRun<'_>,
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
            run.map.created("attachment");
            continue;
        }
        match run
            .upload(&layout::jira_attachment(&aid), name, text(a, "mimeType"))
            .await?
        {
            Some(up) => {
                let r = jira.upload_attachment(key, up).await;
                run.outcome("attachment", &aid, r)?;
            }
            None => run.map.failed(
                "attachment",
                &aid,
                "not in the backup (it could not be read when the backup ran)",
            ),
        }
    }
    Ok(())
}

/// Writes that run side by side share this: after [`MAX_RETRYABLE_IN_A_ROW`](crate::restore::MAX_RETRYABLE_IN_A_ROW) retryable
/// failures with no success between them, each stops at its next item.
#[derive(Default)]
struct Failing(std::sync::atomic::AtomicU32);

impl Failing {
    fn stopped(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) >= crate::restore::MAX_RETRYABLE_IN_A_ROW
    }

    /// Runs `write` for each item in order, until the site is found failing; returns what each
    /// write gave (kind, source id, result).
    async fn each<I, F, Fut>(
        &self,
        items: I,
        write: F,
    ) -> Vec<(&'static str, String, cairn_connectors::Result<()>)>
    where
        I: IntoIterator,
        F: Fn(I::Item) -> Fut,
        Fut: std::future::Future<Output = (&'static str, String, cairn_connectors::Result<()>)>,
    {
        use std::sync::atomic::Ordering;
        let mut out = Vec::new();
        for item in items {
            if self.stopped() {
                break;
            }
            let (kind, source, result) = write(item).await;
            match &result {
                Ok(()) => self.0.store(0, Ordering::SeqCst),
                Err(e) if e.is_retryable() => {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {}
            }
            out.push((kind, source, result));
        }
        out
    }
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

async fn set_status(
    run: &mut RestoreRun<'_>,
    jira: &Jira,
    key: &str,
    sid: &str,
    status: &str,
    f: &Value,
) -> Result<(), EngineError> {
    let transitions = match jira.transitions(key).await {
        Ok(t) => t,
        Err(e) => return run.refused("status", sid, e),
    };
    let Some(t) = transitions
        .iter()
        .find(|t| text(&t["to"], "name") == status)
    else {
        // No way there, unless the issue is there already.
        let now = jira.issue(key).await.map_err(site_error(Destination))?;
        if text(&now["fields"]["status"], "name") != status {
            run.map.failed(
                "status",
                sid,
                format!("no transition into \"{status}\" in the destination's workflow"),
            );
        }
        return Ok(());
    };
    let mut body = json!({"transition": {"id": t["id"]}});
    if let Some(res) = f["resolution"]["name"].as_str() {
        body["fields"] = json!({"resolution": {"name": res}});
    }
    let mut r = jira.transition(key, &body).await;
    if r.as_ref().is_err_and(|e| !e.is_retryable()) && body.get("fields").is_some() {
        // The transition's screen may not take a resolution: move the status at least.
        body.as_object_mut().map(|m| m.remove("fields"));
        r = jira.transition(key, &body).await;
    }
    if let Err(e) = r {
        run.refused("status", sid, e)?;
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
