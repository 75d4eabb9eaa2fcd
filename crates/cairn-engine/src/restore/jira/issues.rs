//! The issues of a project in key order with parents first (each created, or found again on a
//! resume, then its children written), and the issues a restore of single issues names.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::{Map, Value, json};

use super::children::issue_children;
use super::{Dest, Links};
use crate::json::{id_str, items, text};
use crate::layout;
use crate::restore::{Ledger, RestoreRun, Window};
use crate::site::{SiteRole::Destination, site_error};

/// What the first pass over a project's issues keeps of each: enough to order them.
pub(super) struct IssueRef {
    pub(super) id: String,
    number: u64,
    parent: Option<String>,
    path: String,
}

/// Key order, with an issue whose parent comes later moved to just after its parent. The
/// destination assigns keys in creation order, so issues keep their place in their project
/// (which is how the site stand-in's digest, and people, tell issues apart); unlike a depth-first
/// order, this changes nothing when parents already come first.
fn keys_then_parents(refs: Vec<IssueRef>) -> Vec<IssueRef> {
    let ids: HashSet<String> = refs.iter().map(|r| r.id.clone()).collect();
    let mut waiting: HashMap<String, Vec<IssueRef>> = HashMap::new();
    let mut placed: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        match &r.parent {
            Some(p) if ids.contains(p) && !placed.contains(p) && p != &r.id => {
                waiting.entry(p.clone()).or_default().push(r);
            }
            _ => {
                let mut stack = vec![r];
                while let Some(x) = stack.pop() {
                    placed.insert(x.id.clone());
                    if let Some(children) = waiting.remove(&x.id) {
                        stack.extend(children.into_iter().rev());
                    }
                    out.push(x);
                }
            }
        }
    }
    // Parents in a cycle (not possible in Jira): keep them, in key order.
    let mut rest: Vec<IssueRef> = waiting.into_values().flatten().collect();
    rest.sort_by_key(|r| r.number);
    out.extend(rest);
    out
}

/// The issues of one project, in key order with parents before children: created one after
/// another (the destination numbers a project's issues in creation order, so they keep their
/// order, and a sub-task's parent exists before it), each one's other writes in a task of its
/// own, side by side with the next creates and with other issues' writes.
pub(super) async fn issues(
    run: &mut RestoreRun<'_>,
    dest: &Arc<Dest>,
    key: &str,
    links: &mut Links,
) -> Result<(), EngineError> {
    let mut refs = Vec::new();
    for path in run.list(&layout::jira_issues_dir(key)).await? {
        let Some(doc) = run.doc(&path).await? else {
            continue;
        };
        let i = &doc["issue"];
        let id = id_str(&i["id"]).unwrap_or_else(|| layout::entry_id(&path).to_string());
        collect_links(&doc, &id, links);
        refs.push(issue_ref(i, id, path));
    }
    refs.sort_by_key(|r| r.number);
    let refs = keys_then_parents(refs);

    // Issues an earlier attempt created that the map lost: in creation order.
    let mut orphans = VecDeque::new();
    if run.map.resumed() && !run.map.phase_done(&format!("issues:{key}")) {
        let ours = run.map.destinations("issue");
        let mut s = dest
            .jira
            .issues(&format!("project = {key} ORDER BY id ASC"));
        while let Some(i) = s.try_next().await.map_err(site_error(Destination))? {
            let k = text(&i, "key").to_string();
            if !ours.contains(k.as_str()) {
                orphans.push_back((k, text(&i["fields"], "summary").to_string()));
            }
        }
    }
    if !run.map.phase_done(&format!("issues:{key}")) {
        let mut window = Window::new(run.width);
        for r in &refs {
            issue(run, dest, key, r, &mut orphans, &mut window).await?;
        }
        issues_written(run, &mut window).await?;
        run.map
            .finish_phase(&format!("issues:{key}"), run.ctx)
            .await?;
    }
    Ok(())
}

/// Records each issue whose writes have ended, until none is running.
pub(super) async fn issues_written(
    run: &mut RestoreRun<'_>,
    window: &mut Window<(String, Ledger)>,
) -> Result<(), EngineError> {
    while let Some(done) = window.next().await {
        issue_written(run, done).await?;
    }
    Ok(())
}

/// An issue's writes have ended: what they wrote is counted and the issue closed, in one step
/// (a checkpoint never holds a closed issue without its children, nor an issue's children
/// without it being closed).
async fn issue_written(
    run: &mut RestoreRun<'_>,
    done: Result<(String, Ledger), EngineError>,
) -> Result<(), EngineError> {
    let (sid, ledger) = done?;
    run.apply(ledger);
    run.map.close("issue", &sid);
    run.step().await
}

/// Creates one issue (or takes the one an earlier attempt created), then starts the task that
/// writes its status and children, once the window has room.
pub(super) async fn issue(
    run: &mut RestoreRun<'_>,
    dest: &Arc<Dest>,
    project: &str,
    r: &IssueRef,
    orphans: &mut VecDeque<(String, String)>,
    window: &mut Window<(String, Ledger)>,
) -> Result<(), EngineError> {
    if run.map.get("issue", &r.id).is_some() && !run.map.is_open("issue", &r.id) {
        return Ok(());
    }
    if run.map.has_failed("issue", &r.id) {
        return Ok(());
    }
    // Record what has ended, and wait for room, before creating: the create's turn comes
    // within the site's bound with the writes in flight.
    while let Some(done) = window.ended() {
        issue_written(run, done).await?;
    }
    while window.is_full() {
        if let Some(done) = window.next().await {
            issue_written(run, done).await?;
        }
    }
    let Some(doc) = run.doc(&r.path).await? else {
        return Ok(());
    };
    let f = &doc["issue"]["fields"];
    let summary = text(f, "summary");
    let (key, reconcile) = match run.map.get("issue", &r.id) {
        Some(k) => (k.to_string(), true),
        None => {
            if orphans.front().is_some_and(|(_, s)| s == summary) {
                let (k, _) = orphans.pop_front().unwrap_or_default();
                // Created by an earlier attempt after its last save: not counted yet.
                run.map.created("issue");
                run.map.insert("issue", &r.id, &k);
                run.map.open("issue", &r.id);
                (k, true)
            } else {
                let mut fields = create_fields(run, dest, project, f);
                run.tasks.check()?;
                let mut created = dest.jira.create_issue(&fields).await;
                // Values the destination refuses (a field its context does not give this
                // project or type): the issue without them, each left out with Jira's reason.
                if let Err(e) = &created {
                    let refused = super::fields::without_refused_values(&mut fields, e);
                    for (field, why) in &refused {
                        let item = format!("{}:{field}", r.id);
                        run.map.skipped_because("fieldValue", &item, why.clone());
                    }
                    if !refused.is_empty() {
                        created = dest.jira.create_issue(&fields).await;
                    }
                }
                match created {
                    Ok(c) => {
                        run.tasks.health.ok();
                        run.map.created("issue");
                        run.map.insert("issue", &r.id, &c.key);
                        run.map.open("issue", &r.id);
                        (c.key, false)
                    }
                    Err(e) if e.is_retryable() => {
                        // The site may have created it before failing: look before retrying.
                        match newest_orphan(run, dest, project, summary).await? {
                            Some(k) => {
                                run.map.created("issue");
                                run.map.insert("issue", &r.id, &k);
                                run.map.open("issue", &r.id);
                                (k, true)
                            }
                            None => {
                                run.refused("issue", &r.id, e)?;
                                return run.step().await;
                            }
                        }
                    }
                    Err(e) => {
                        run.refused("issue", &r.id, e)?;
                        return run.step().await;
                    }
                }
            }
        }
    };
    run.map.children_of("issue", &r.id, reconcile);
    let (tasks, dest, sid) = (run.tasks.clone(), dest.clone(), r.id.clone());
    window.spawn(async move {
        let ledger = issue_children(tasks, dest, key, doc, reconcile).await?;
        Ok((sid, ledger))
    });
    Ok(())
}

/// The newest issue of a project if this restore does not know it and it has this summary.
async fn newest_orphan(
    run: &RestoreRun<'_>,
    dest: &Dest,
    project: &str,
    summary: &str,
) -> Result<Option<String>, EngineError> {
    let mut s = dest
        .jira
        .issues(&format!("project = {project} ORDER BY id DESC"));
    let Ok(Some(i)) = s.try_next().await else {
        return Ok(None);
    };
    let k = text(&i, "key");
    Ok(
        (text(&i["fields"], "summary") == summary && !run.map.destinations("issue").contains(k))
            .then(|| k.to_string()),
    )
}

/// The `fields` of a create: system fields by name, custom fields mapped by name and their
/// options by value, accounts the destination knows, the parent and sprint mapped.
fn create_fields(run: &RestoreRun<'_>, dest: &Dest, project: &str, f: &Value) -> Value {
    let mut out = Map::new();
    out.insert("project".into(), json!({"key": project}));
    out.insert("summary".into(), f["summary"].clone());
    out.insert("issuetype".into(), json!({"name": f["issuetype"]["name"]}));
    for k in ["description", "environment", "duedate"] {
        if !f[k].is_null() {
            out.insert(k.into(), f[k].clone());
        }
    }
    if let Some(p) = f["priority"]["name"].as_str() {
        out.insert("priority".into(), json!({"name": p}));
    }
    for k in ["assignee", "reporter"] {
        if let Some(a) = id_str(&f[k]["accountId"]).and_then(|a| dest.account(&a)) {
            out.insert(k.into(), json!({"accountId": a}));
        }
    }
    if !items(&f["labels"]).is_empty() {
        out.insert("labels".into(), f["labels"].clone());
    }
    for k in ["components", "fixVersions", "versions"] {
        let names: Vec<Value> = items(&f[k])
            .iter()
            .map(|x| json!({"name": x["name"]}))
            .collect();
        if !names.is_empty() {
            out.insert(k.into(), Value::Array(names));
        }
    }
    if let Some(p) = id_str(&f["parent"]["id"]).and_then(|p| run.map.get("issue", &p)) {
        out.insert("parent".into(), json!({"key": p}));
    }
    if let Value::Object(m) = f {
        for (k, v) in m {
            if !k.starts_with("customfield_") || v.is_null() {
                continue;
            }
            if let Some(sprint) = sprint_of(v) {
                if let Some(d) = run.map.get("sprint", &sprint) {
                    let id = dest.fields.get(k).map(|(id, _)| id.as_str()).unwrap_or(k);
                    out.insert(
                        id.into(),
                        d.parse::<u64>().map(Value::from).unwrap_or(json!(d)),
                    );
                }
                continue;
            }
            let Some((id, schema)) = dest.fields.get(k) else {
                continue;
            };
            if let Some(v) = custom_value(run, dest, schema, v) {
                out.insert(id.clone(), v);
            }
        }
    }
    Value::Object(out)
}

/// The sprint (the last one) of a Sprint field's value: sprints carry a `boardId`.
fn sprint_of(v: &Value) -> Option<String> {
    let last = items(v).last()?;
    (last.get("boardId").is_some() && last.get("state").is_some())
        .then(|| id_str(&last["id"]))
        .flatten()
}

/// A custom field's value as a create takes it: options by their restored id (by value when
/// the map lacks it: an option of a field the destination had), users by account, the rest as
/// it was.
fn custom_value(run: &RestoreRun<'_>, dest: &Dest, schema: &Value, v: &Value) -> Option<Value> {
    let one = |x: &Value| match id_str(&x["id"]).and_then(|id| run.map.get("fieldOption", &id)) {
        Some(d) => json!({"id": d}),
        None => json!({"value": x["value"]}),
    };
    let option = |x: &Value| {
        let mut o = one(x);
        if !x["child"].is_null() {
            o["child"] = one(&x["child"]);
        }
        o
    };
    let user = |x: &Value| {
        id_str(&x["accountId"])
            .and_then(|a| dest.account(&a))
            .map(|a| json!({"accountId": a}))
    };
    match (text(schema, "type"), text(schema, "items")) {
        ("option" | "option-with-child", _) => Some(option(v)),
        ("array", "option") => Some(Value::Array(items(v).iter().map(option).collect())),
        ("user", _) => user(v),
        ("array", "user") => Some(Value::Array(items(v).iter().filter_map(user).collect())),
        _ => Some(v.clone()),
    }
}

/// The backed-up issues of a project with these keys, with their sub-tasks, parents first,
/// each with its document. Keys the backup lacks are failed items.
pub(super) async fn wanted_issues(
    run: &mut RestoreRun<'_>,
    project: &str,
    wanted: &[String],
) -> Result<Vec<(IssueRef, Value)>, EngineError> {
    let mut found: HashMap<String, (String, String)> = HashMap::new();
    let mut unknown = Vec::new();
    for (path, attrs) in run.entries(&layout::jira_issues_dir(project)).await? {
        let id = layout::entry_id(&path).to_string();
        match attrs.get(layout::attr::KEY) {
            Some(k) if wanted.contains(k) => {
                found.insert(k.clone(), (id, path));
            }
            Some(_) => {}
            // Written before issues carried their key: read it.
            None => unknown.push((id, path)),
        }
    }
    for (id, path) in unknown {
        if found.len() == wanted.len() {
            break;
        }
        if let Some(doc) = run.doc(&path).await? {
            let k = text(&doc["issue"], "key");
            if wanted.iter().any(|w| w == k) {
                found.insert(k.to_string(), (id, path));
            }
        }
    }
    let mut refs = Vec::new();
    let mut docs = HashMap::new();
    let mut seen = HashSet::new();
    for k in wanted {
        let Some((id, path)) = found.get(k).cloned() else {
            run.map.failed("issue", k, "not in this backup");
            continue;
        };
        let mut queue = vec![(id, path)];
        while let Some((id, path)) = queue.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(doc) = run.doc(&path).await? else {
                continue;
            };
            let i = &doc["issue"];
            for sub in items(&i["fields"]["subtasks"]) {
                if let Some(sid) = id_str(&sub["id"]) {
                    let spath = layout::jira_issue(project, &sid);
                    queue.push((sid, spath));
                }
            }
            refs.push(issue_ref(i, id.clone(), path));
            docs.insert(id, doc);
        }
    }
    refs.sort_by_key(|r| r.number);
    Ok(keys_then_parents(refs)
        .into_iter()
        .filter_map(|r| docs.remove(&r.id).map(|d| (r, d)))
        .collect())
}

/// An issue's links seen from it, by link id: (type, inward id, outward id).
pub(super) fn collect_links(doc: &Value, id: &str, links: &mut Links) {
    for l in items(&doc["issue"]["fields"]["issuelinks"]) {
        let Some(lid) = id_str(&l["id"]) else {
            continue;
        };
        let ty = text(&l["type"], "name").to_string();
        // Seen from its inward issue, a link names the outward one, and the other way round.
        if let Some(out) = id_str(&l["outwardIssue"]["id"]) {
            links.insert(lid, (ty, id.to_string(), out));
        } else if let Some(inward) = id_str(&l["inwardIssue"]["id"]) {
            links.insert(lid, (ty, inward, id.to_string()));
        }
    }
}

fn issue_ref(i: &Value, id: String, path: String) -> IssueRef {
    IssueRef {
        number: text(i, "key")
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX),
        parent: id_str(&i["fields"]["parent"]["id"]),
        id,
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_keep_key_order_unless_a_parent_comes_later() {
        let r = |id: &str, number: u64, parent: Option<&str>| IssueRef {
            id: id.into(),
            number,
            parent: parent.map(String::from),
            path: String::new(),
        };
        let out = keys_then_parents(vec![
            r("a", 1, None),
            r("b", 2, None),
            r("c", 3, Some("a")),
            r("d", 4, Some("e")),
            r("f", 5, None),
            r("e", 6, None),
            r("g", 7, Some("d")),
        ]);
        let ids: Vec<&str> = out.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "f", "e", "d", "g"]);
    }

    #[test]
    fn a_sprint_field_is_told_by_its_board() {
        assert_eq!(
            sprint_of(
                &json!([{"id": 3, "boardId": 1, "state": "closed"}, {"id": 5, "boardId": 1, "state": "active"}])
            ),
            Some("5".into())
        );
        assert_eq!(sprint_of(&json!(["a", "b"])), None);
        assert_eq!(sprint_of(&json!({"value": "x"})), None);
    }
}
