//! Statuses, workflows, workflow schemes and issue type schemes, restored before the projects
//! that use them, and the paths of transitions that bring each issue to its status.
//!
//! Only what the restored projects use is written, each item matched in the destination first:
//! - a status of the same name and category is reused, else created (a same-named status of
//!   another category: a copy named `"<name> (restored)"`);
//! - a workflow, workflow scheme or issue type scheme of the same name and the same definition
//!   (statuses and transitions by name; mappings and issue types by name) is reused; a
//!   same-named one that differs is left as it is and a copy named `"<name> (restored)"` is
//!   created (or reused, when an earlier restore made the same one);
//! - rules the API cannot write (an app's conditions, validators and post functions: a site
//!   accepts them only with the app installed) are left out of the created workflow and listed
//!   in `result.skippedItems` (kind `workflowRule`);
//! - issue types are not created: a scheme's issue type without a same-named one in the
//!   destination is left out (`skippedItems`, kind `issueType`).
//!
//! Every source id is recorded in the id map (`status`, `workflow`, `workflowScheme`,
//! `issueTypeScheme`). The lookup by name and definition comes first, so a resumed restore finds
//! what an earlier attempt created instead of creating it twice. Once the projects exist,
//! [`assign`] gives each its restored schemes (Jira allows it while the project has no issues).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use cairn_connectors::Jira;
use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::{Value, json};

use super::Dest;
use crate::json::{id_str, items, text};
use crate::layout;
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};

/// The suffix of a copy made because the destination has a different item of the same name.
pub(crate) const RESTORED_SUFFIX: &str = " (restored)";

/// One workflow's transitions by status name, for finding paths.
#[derive(Clone, Debug, Default)]
pub(super) struct Graph {
    /// The status a new issue starts in.
    pub initial: Option<String>,
    /// (transition name, statuses it leaves from — `None` for a global one —, target status).
    edges: Vec<(String, Option<Vec<String>>, String)>,
}

impl Graph {
    /// The shortest list of (transition name, status reached) from `from` to `to`.
    pub fn path(&self, from: &str, to: &str) -> Option<Vec<(String, String)>> {
        let mut back: HashMap<&str, (&str, &str)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(at) = queue.pop_front() {
            if at == to {
                let mut path = vec![];
                let mut cur = at;
                while let Some((prev, name)) = back.get(cur) {
                    path.push((name.to_string(), cur.to_string()));
                    cur = prev;
                }
                path.reverse();
                return Some(path);
            }
            for (name, sources, target) in &self.edges {
                let leaves = match sources {
                    None => target != at,
                    Some(s) => s.iter().any(|s| s == at),
                };
                if leaves && seen.insert(target.as_str()) {
                    back.insert(target.as_str(), (at, name.as_str()));
                    queue.push_back(target.as_str());
                }
            }
        }
        None
    }
}

/// The source workflow of each (project key, issue type id), as status-name graphs.
#[derive(Debug, Default)]
pub(super) struct Paths(HashMap<(String, String), Graph>);

impl Paths {
    pub fn graph(&self, project: &str, issue_type: &str) -> Option<&Graph> {
        self.0.get(&(project.to_string(), issue_type.to_string()))
    }
}

/// What the backup holds of the source's workflows and schemes.
#[derive(Default)]
struct Source {
    /// Status id → (name, category `TODO`/`IN_PROGRESS`/`DONE`).
    statuses: HashMap<String, (String, String)>,
    workflows: Vec<Value>,
    workflow_schemes: Vec<Value>,
    issue_type_schemes: Vec<Value>,
    /// Issue type scheme id → issue type ids.
    scheme_types: HashMap<String, Vec<String>>,
    /// Issue type id → name.
    issue_types: HashMap<String, String>,
    /// Project key → (workflow scheme id, issue type scheme id).
    projects: HashMap<String, (Option<String>, Option<String>)>,
}

fn category_of_key(key: &str) -> &'static str {
    match key {
        "new" => "TODO",
        "indeterminate" => "IN_PROGRESS",
        _ => "DONE",
    }
}

impl Source {
    async fn read(run: &RestoreRun<'_>) -> Result<Source, EngineError> {
        let doc = |name: &'static str| async move {
            Ok::<_, EngineError>(
                run.doc(&layout::jira_config(name))
                    .await?
                    .unwrap_or_default(),
            )
        };
        let mut s = Source::default();
        for st in items(&doc("statuses").await?) {
            if let Some(id) = id_str(&st["id"]) {
                let c = category_of_key(text(&st["statusCategory"], "key"));
                s.statuses
                    .insert(id, (text(st, "name").to_string(), c.to_string()));
            }
        }
        for st in items(&doc("workflowstatuses").await?) {
            if let Some(id) = id_str(&st["id"]) {
                let c = text(st, "statusCategory").to_string();
                s.statuses.insert(id, (text(st, "name").to_string(), c));
            }
        }
        s.workflows = items(&doc("workflows").await?).to_vec();
        s.workflow_schemes = items(&doc("workflowschemes").await?).to_vec();
        s.issue_type_schemes = items(&doc("issuetypeschemes").await?).to_vec();
        for m in items(&doc("issuetypeschememappings").await?) {
            if let (Some(scheme), Some(t)) =
                (id_str(&m["issueTypeSchemeId"]), id_str(&m["issueTypeId"]))
            {
                s.scheme_types.entry(scheme).or_default().push(t);
            }
        }
        for t in items(&doc("issuetypes").await?) {
            if let Some(id) = id_str(&t["id"]) {
                s.issue_types.insert(id, text(t, "name").to_string());
            }
        }
        for p in items(&doc("projectschemes").await?) {
            s.projects.insert(
                text(p, "projectKey").to_string(),
                (
                    id_str(&p["workflowScheme"]["id"]),
                    id_str(&p["issueTypeScheme"]["id"]),
                ),
            );
        }
        Ok(s)
    }
    fn status_name(&self, id: &str) -> String {
        self.statuses
            .get(id)
            .map(|s| s.0.clone())
            .unwrap_or_default()
    }
    fn workflow(&self, name: &str) -> Option<&Value> {
        self.workflows.iter().find(|w| text(w, "name") == name)
    }
    fn workflow_scheme(&self, id: &str) -> Option<&Value> {
        self.workflow_schemes
            .iter()
            .find(|w| id_str(&w["id"]).as_deref() == Some(id))
    }
    /// Issue type id → workflow name, and the default workflow name, of a workflow scheme.
    fn scheme_workflows(scheme: &Value) -> (String, Vec<(String, String)>) {
        let default = text(scheme, "defaultWorkflow").to_string();
        let mut m: Vec<(String, String)> = scheme["issueTypeMappings"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(t, w)| Some((t.clone(), w.as_str()?.to_string())))
            .collect();
        m.sort();
        (default, m)
    }
    /// The graph of a workflow document, statuses named by `name`.
    fn graph(w: &Value, name: impl Fn(&str) -> String) -> Graph {
        let mut g = Graph::default();
        for t in items(&w["transitions"]) {
            let to = name(text(t, "toStatusReference"));
            match text(t, "type") {
                "INITIAL" => g.initial = Some(to),
                "GLOBAL" => g.edges.push((text(t, "name").to_string(), None, to)),
                _ => {
                    let from = items(&t["links"])
                        .iter()
                        .map(|l| name(text(l, "fromStatusReference")))
                        .collect();
                    g.edges.push((text(t, "name").to_string(), Some(from), to));
                }
            }
        }
        g
    }
}

/// A workflow's definition by names: its statuses and its transitions (name, type, from, to).
fn definition(w: &Value, name: impl Fn(&str) -> String) -> (BTreeSet<String>, BTreeSet<String>) {
    let statuses = items(&w["statuses"])
        .iter()
        .map(|s| name(text(s, "statusReference")))
        .collect();
    let transitions = items(&w["transitions"])
        .iter()
        .map(|t| {
            let mut from: Vec<String> = items(&t["links"])
                .iter()
                .map(|l| name(text(l, "fromStatusReference")))
                .collect();
            from.sort();
            format!(
                "{}|{}|{}|{}",
                text(t, "name"),
                text(t, "type"),
                from.join(","),
                name(text(t, "toStatusReference"))
            )
        })
        .collect();
    (statuses, transitions)
}

/// The paths of the source's workflows, by project and issue type (from the backup alone).
pub(super) async fn paths(run: &RestoreRun<'_>) -> Result<Paths, EngineError> {
    let src = Source::read(run).await?;
    let mut out = HashMap::new();
    for (key, (scheme, _)) in &src.projects {
        let Some(scheme) = scheme.as_deref().and_then(|s| src.workflow_scheme(s)) else {
            continue;
        };
        let (default, mappings) = Source::scheme_workflows(scheme);
        for t in src.issue_types.keys() {
            let name = mappings
                .iter()
                .find(|(x, _)| x == t)
                .map_or(&default, |(_, w)| w);
            if let Some(w) = src.workflow(name) {
                let g = Source::graph(w, |id| src.status_name(id));
                out.insert((key.clone(), t.clone()), g);
            }
        }
    }
    Ok(Paths(out))
}

/// The destination's configuration as the matching needs it.
struct Found {
    /// Status name → (id, category).
    statuses: HashMap<String, (String, String)>,
    /// Workflow name → document (with transitions).
    workflows: HashMap<String, Value>,
    /// Workflow scheme name → document.
    workflow_schemes: HashMap<String, Value>,
    /// Issue type scheme name → (id, issue type ids, default issue type id).
    issue_type_schemes: HashMap<String, (String, BTreeSet<String>, Option<String>)>,
    /// Issue type name → id.
    issue_types: HashMap<String, String>,
}

async fn all(docs: cairn_connectors::Docs) -> Result<Vec<Value>, EngineError> {
    docs.try_collect().await.map_err(site_error(Destination))
}

impl Found {
    async fn read(jira: &Jira) -> Result<Found, EngineError> {
        let (statuses, workflows, workflow_schemes, schemes, mappings, types) = futures::try_join!(
            all(jira.workflow_statuses()),
            all(jira.workflows()),
            all(jira.workflow_schemes()),
            all(jira.issue_type_schemes()),
            all(jira.issue_type_scheme_mappings()),
            all(jira.issue_types()),
        )?;
        let mut scheme_types: HashMap<String, BTreeSet<String>> = HashMap::new();
        for m in &mappings {
            if let (Some(s), Some(t)) = (id_str(&m["issueTypeSchemeId"]), id_str(&m["issueTypeId"]))
            {
                scheme_types.entry(s).or_default().insert(t);
            }
        }
        Ok(Found {
            statuses: statuses
                .iter()
                .filter_map(|s| {
                    Some((
                        text(s, "name").to_string(),
                        (id_str(&s["id"])?, text(s, "statusCategory").to_string()),
                    ))
                })
                .collect(),
            workflows: workflows
                .into_iter()
                .map(|w| (text(&w, "name").to_string(), w))
                .collect(),
            workflow_schemes: workflow_schemes
                .into_iter()
                .map(|w| (text(&w, "name").to_string(), w))
                .collect(),
            issue_type_schemes: schemes
                .iter()
                .filter_map(|s| {
                    let id = id_str(&s["id"])?;
                    let types = scheme_types.remove(&id).unwrap_or_default();
                    Some((
                        text(s, "name").to_string(),
                        (id, types, id_str(&s["defaultIssueTypeId"])),
                    ))
                })
                .collect(),
            issue_types: types
                .iter()
                .filter_map(|t| Some((text(t, "name").to_string(), id_str(&t["id"])?)))
                .collect(),
        })
    }
    fn status_name(&self, id: &str) -> String {
        self.statuses
            .iter()
            .find(|(_, (i, _))| i == id)
            .map(|(n, _)| n.clone())
            .unwrap_or_default()
    }
}

/// Which name to use for an item: the source's own when the destination has none of that name
/// or the same definition under it; else the suffixed name. `Ok(Some(name))`: reuse what the
/// destination has under `name`; `Ok(None)`-like: create under the returned name.
enum Choice {
    Reuse(String),
    Create(String),
}

fn choose(name: &str, same: impl Fn(&str) -> Option<bool>) -> Result<Choice, String> {
    match same(name) {
        None => return Ok(Choice::Create(name.to_string())),
        Some(true) => return Ok(Choice::Reuse(name.to_string())),
        Some(false) => {}
    }
    let copy = format!("{name}{RESTORED_SUFFIX}");
    match same(&copy) {
        None => Ok(Choice::Create(copy)),
        Some(true) => Ok(Choice::Reuse(copy)),
        Some(false) => Err(format!(
            "the destination has a different \"{name}\" and a different \"{copy}\""
        )),
    }
}

/// Statuses, workflows and schemes the projects being restored use (keys in `projects`), into
/// the destination; `dest.paths` gets the source workflows' paths.
pub(super) async fn restore(
    run: &mut RestoreRun<'_>,
    dest: &mut Dest,
    only: Option<&[String]>,
) -> Result<(), EngineError> {
    dest.paths = paths(run).await?;
    if run.map.phase_done("workflows") {
        return Ok(());
    }
    let src = Source::read(run).await?;
    let mut projects = vec![];
    for dir in run.list(&layout::jira_projects_dir()).await? {
        let key = layout::entry_id(&dir).to_string();
        if only.is_none_or(|keys| keys.contains(&key)) && src.projects.contains_key(&key) {
            projects.push(key);
        }
    }
    if projects.is_empty() {
        return run.map.finish_phase("workflows", run.ctx).await;
    }
    let jira = &dest.jira;
    let mut found = Found::read(jira).await?;

    // What the projects use.
    let mut schemes: BTreeSet<String> = BTreeSet::new();
    let mut type_schemes: BTreeSet<String> = BTreeSet::new();
    for key in &projects {
        let (w, t) = &src.projects[key];
        schemes.extend(w.clone());
        type_schemes.extend(t.clone());
    }
    let mut workflow_names: BTreeSet<String> = BTreeSet::new();
    for s in &schemes {
        if let Some(scheme) = src.workflow_scheme(s) {
            let (default, mappings) = Source::scheme_workflows(scheme);
            workflow_names.insert(default);
            workflow_names.extend(mappings.into_iter().map(|(_, w)| w));
        }
    }
    let workflows: Vec<&Value> = workflow_names
        .iter()
        .filter_map(|n| src.workflow(n))
        .collect();
    let mut status_ids: BTreeSet<String> = BTreeSet::new();
    for w in &workflows {
        for s in items(&w["statuses"]) {
            status_ids.insert(text(s, "statusReference").to_string());
        }
    }

    // Statuses.
    let mut status_dest: HashMap<String, String> = HashMap::new(); // source id → destination name
    let mut to_create: Vec<(String, String, String)> = vec![]; // (source id, name, category)
    for id in &status_ids {
        let Some((name, category)) = src.statuses.get(id) else {
            continue;
        };
        let same = |n: &str| found.statuses.get(n).map(|(_, c)| c == category);
        match choose(name, same) {
            Ok(Choice::Reuse(n)) => {
                run.map.insert("status", id, &found.statuses[&n].0);
                status_dest.insert(id.clone(), n);
            }
            Ok(Choice::Create(n)) => to_create.push((id.clone(), n, category.clone())),
            Err(why) => run.map.failed("status", id, why),
        }
    }
    if !to_create.is_empty() {
        let body: Vec<Value> = to_create
            .iter()
            .map(|(_, n, c)| json!({"name": n, "statusCategory": c, "description": ""}))
            .collect();
        run.tasks.check()?;
        let made = jira.create_statuses(&body).await;
        match made {
            Ok(made) => {
                for s in &made {
                    if let Some(id) = id_str(&s["id"]) {
                        found.statuses.insert(
                            text(s, "name").to_string(),
                            (id, text(s, "statusCategory").to_string()),
                        );
                    }
                }
                for (sid, n, _) in &to_create {
                    if let Some((did, _)) = found.statuses.get(n) {
                        run.map.insert("status", sid, did);
                        run.map.created("status");
                        status_dest.insert(sid.clone(), n.clone());
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                run.refused("status", &to_create[0].0, e)?;
                for (sid, _, _) in &to_create[1..] {
                    run.map.failed("status", sid, message.clone());
                }
            }
        }
    }

    // Workflows.
    let dest_name = |id: &str| {
        status_dest
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("?{id}"))
    };
    let mut workflow_dest: HashMap<String, String> = HashMap::new(); // source name → destination name
    for w in workflows {
        let (name, sid) = (text(w, "name"), text(w, "id"));
        let wanted = definition(w, dest_name);
        let same = |n: &str| {
            found
                .workflows
                .get(n)
                .map(|d| definition(d, |id| found.status_name(id)) == wanted)
        };
        match choose(name, same) {
            Ok(Choice::Reuse(n)) => {
                run.map
                    .insert("workflow", sid, text(&found.workflows[&n], "id"));
                workflow_dest.insert(name.to_string(), n);
            }
            Ok(Choice::Create(n)) => {
                let Some(body) = workflow_body(run, w, &n, &status_dest, &found) else {
                    run.map
                        .failed("workflow", sid, "a status it uses could not be restored");
                    continue;
                };
                run.tasks.check()?;
                let made = jira.create_workflows(&body).await;
                if let Some(made) = run.outcome("workflow", sid, made)? {
                    let did = made
                        .first()
                        .map(|d| text(d, "id").to_string())
                        .unwrap_or_default();
                    run.map.insert("workflow", sid, &did);
                    workflow_dest.insert(name.to_string(), n);
                }
            }
            Err(why) => run.map.failed("workflow", sid, why),
        }
    }

    // Workflow schemes.
    let type_name = |id: &str| src.issue_types.get(id).cloned().unwrap_or_default();
    for sid in &schemes {
        let Some(scheme) = src.workflow_scheme(sid) else {
            continue;
        };
        let (default, mappings) = Source::scheme_workflows(scheme);
        let Some(default) = workflow_dest.get(&default) else {
            run.map.failed(
                "workflowScheme",
                sid,
                "its default workflow could not be restored",
            );
            continue;
        };
        let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
        let mut body_mappings = serde_json::Map::new();
        for (t, w) in &mappings {
            let (Some(dt), Some(dw)) = (found.issue_types.get(&type_name(t)), workflow_dest.get(w))
            else {
                run.map.skipped_because(
                    "issueType",
                    t,
                    "no issue type of that name in the destination (issue types are not created)",
                );
                continue;
            };
            wanted.insert((type_name(t), dw.clone()));
            body_mappings.insert(dt.clone(), json!(dw));
        }
        let dest_types: HashMap<&String, &String> =
            found.issue_types.iter().map(|(n, i)| (i, n)).collect();
        let same = |n: &str| {
            found.workflow_schemes.get(n).map(|d| {
                let (dd, dm) = Source::scheme_workflows(d);
                let dm: BTreeSet<(String, String)> = dm
                    .into_iter()
                    .map(|(t, w)| (dest_types.get(&t).map(|x| x.to_string()).unwrap_or(t), w))
                    .collect();
                &dd == default && dm == wanted
            })
        };
        let name = text(scheme, "name");
        match choose(name, same) {
            Ok(Choice::Reuse(n)) => {
                let did = id_str(&found.workflow_schemes[&n]["id"]).unwrap_or_default();
                run.map.insert("workflowScheme", sid, &did);
            }
            Ok(Choice::Create(n)) => {
                let body = json!({"name": n, "description": text(scheme, "description"), "defaultWorkflow": default, "issueTypeMappings": body_mappings});
                run.tasks.check()?;
                let made = jira.create_workflow_scheme(&body).await;
                if let Some(did) = run.outcome("workflowScheme", sid, made)? {
                    run.map.insert("workflowScheme", sid, &did);
                }
            }
            Err(why) => run.map.failed("workflowScheme", sid, why),
        }
    }

    // Issue type schemes.
    for sid in &type_schemes {
        let Some(scheme) = src
            .issue_type_schemes
            .iter()
            .find(|s| id_str(&s["id"]).as_deref() == Some(sid))
        else {
            continue;
        };
        let mut ids = vec![];
        for t in src.scheme_types.get(sid).into_iter().flatten() {
            match found.issue_types.get(&type_name(t)) {
                Some(d) => ids.push(d.clone()),
                None => run.map.skipped_because(
                    "issueType",
                    t,
                    "no issue type of that name in the destination (issue types are not created)",
                ),
            }
        }
        let default = id_str(&scheme["defaultIssueTypeId"])
            .and_then(|t| found.issue_types.get(&type_name(&t)).cloned());
        let wanted: BTreeSet<String> = ids.iter().cloned().collect();
        let same = |n: &str| {
            found
                .issue_type_schemes
                .get(n)
                .map(|(_, types, d)| types == &wanted && d == &default)
        };
        let name = text(scheme, "name");
        match choose(name, same) {
            Ok(Choice::Reuse(n)) => {
                let did = found.issue_type_schemes[&n].0.clone();
                run.map.insert("issueTypeScheme", sid, &did);
            }
            Ok(Choice::Create(n)) => {
                let body = json!({"name": n, "description": text(scheme, "description"), "defaultIssueTypeId": default, "issueTypeIds": ids});
                run.tasks.check()?;
                let made = jira.create_issue_type_scheme(&body).await;
                if let Some(did) = run.outcome("issueTypeScheme", sid, made)? {
                    run.map.insert("issueTypeScheme", sid, &did);
                }
            }
            Err(why) => run.map.failed("issueTypeScheme", sid, why),
        }
    }
    run.map.finish_phase("workflows", run.ctx).await
}

/// Rules a site accepts from the API: Jira's own (`system:`); an app's need the app.
fn writable(rule: &Value) -> bool {
    text(rule, "ruleKey").starts_with("system:")
}

/// The `POST /workflows/create` body of a source workflow under `name`: its statuses by their
/// destination ids, its transitions with the rules the API can write; the others are listed as
/// skipped. `None` when one of its statuses has no destination status.
fn workflow_body(
    run: &mut RestoreRun<'_>,
    w: &Value,
    name: &str,
    status_dest: &HashMap<String, String>,
    found: &Found,
) -> Option<Value> {
    let mut statuses = vec![];
    let mut layout = vec![];
    for s in items(&w["statuses"]) {
        let reference = text(s, "statusReference");
        let dname = status_dest.get(reference)?;
        let (id, category) = found.statuses.get(dname)?;
        statuses.push(json!({"id": id, "name": dname, "statusCategory": category, "statusReference": reference}));
        layout.push(json!({"statusReference": reference, "properties": s["properties"].as_object().cloned().unwrap_or_default()}));
    }
    let mut transitions = vec![];
    for t in items(&w["transitions"]) {
        let mut skip = |rule: &Value, what: &str| {
            let source = format!(
                "{}/{}/{}",
                text(w, "name"),
                text(t, "name"),
                text(rule, "ruleKey")
            );
            let app = text(&rule["parameters"], "appKey");
            let owner = if app.is_empty() {
                String::new()
            } else {
                format!(" of the app {app}")
            };
            run.map.skipped_because(
                "workflowRule",
                &source,
                format!("{what}{owner} on transition \"{}\": a site accepts an app's workflow rules only with the app installed", text(t, "name")),
            );
        };
        let mut keep = |list: &Value, what: &str| -> Vec<Value> {
            items(list)
                .iter()
                .filter(|r| {
                    let ok = writable(r);
                    if !ok {
                        skip(r, what);
                    }
                    ok
                })
                .map(|r| json!({"ruleKey": r["ruleKey"], "parameters": r["parameters"]}))
                .collect()
        };
        let mut v = json!({
            "id": t["id"], "name": t["name"], "description": text(t, "description"), "type": t["type"],
            "toStatusReference": t["toStatusReference"],
            "links": items(&t["links"]).iter().map(|l| json!({"fromStatusReference": l["fromStatusReference"], "fromPort": l["fromPort"], "toPort": l["toPort"]})).collect::<Vec<_>>(),
            "actions": keep(&t["actions"], "post function"),
            "validators": keep(&t["validators"], "validator"),
            "triggers": [], "properties": t["properties"].as_object().cloned().unwrap_or_default(),
        });
        if t["conditions"].is_object() {
            v["conditions"] = conditions(&t["conditions"], &mut keep);
        }
        if t["transitionScreen"].is_object() {
            v["transitionScreen"] = t["transitionScreen"].clone();
        }
        transitions.push(v);
    }
    Some(json!({
        "scope": {"type": "GLOBAL"},
        "statuses": statuses,
        "workflows": [{"name": name, "description": text(w, "description"), "statuses": layout, "transitions": transitions}],
    }))
}

/// A condition group with only the writable conditions, nested groups alike.
fn conditions(group: &Value, keep: &mut impl FnMut(&Value, &str) -> Vec<Value>) -> Value {
    let nested: Vec<Value> = items(&group["conditionGroups"])
        .iter()
        .map(|g| conditions(g, keep))
        .collect();
    json!({
        "operation": group["operation"].as_str().unwrap_or("ALL"),
        "conditions": keep(&group["conditions"], "condition"),
        "conditionGroups": nested,
    })
}

/// Gives each restored project (keys in `restored`) its restored workflow scheme and issue
/// type scheme, before its issues.
pub(super) async fn assign(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    restored: &[String],
) -> Result<(), EngineError> {
    if run.map.phase_done("schemes") {
        return Ok(());
    }
    let src = Source::read(run).await?;
    for key in restored {
        let (Some(project), Some((workflow_scheme, issue_type_scheme))) = (
            run.map.get("project", key).map(String::from),
            src.projects.get(key),
        ) else {
            continue;
        };
        if let Some(d) = workflow_scheme
            .as_deref()
            .and_then(|s| run.map.get("workflowScheme", s))
        {
            let d = d.to_string();
            run.tasks.check()?;
            if let Err(e) = dest.jira.assign_workflow_scheme(&project, &d).await {
                run.refused("projectWorkflowScheme", key, e)?;
            }
        }
        if let Some(d) = issue_type_scheme
            .as_deref()
            .and_then(|s| run.map.get("issueTypeScheme", s))
        {
            let d = d.to_string();
            run.tasks.check()?;
            if let Err(e) = dest.jira.assign_issue_type_scheme(&project, &d).await {
                run.refused("projectIssueTypeScheme", key, e)?;
            }
        }
    }
    run.map.finish_phase("schemes", run.ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shortest_and_follow_directions() {
        let g = Graph {
            initial: Some("Triage".into()),
            edges: vec![
                (
                    "Accept".into(),
                    Some(vec!["Triage".into()]),
                    "In Progress".into(),
                ),
                (
                    "Review".into(),
                    Some(vec!["In Progress".into()]),
                    "In Review".into(),
                ),
                (
                    "Approve".into(),
                    Some(vec!["In Review".into()]),
                    "Done".into(),
                ),
                ("Reopen".into(), Some(vec!["Done".into()]), "Triage".into()),
                ("Back".into(), None, "Triage".into()),
            ],
        };
        let names = |p: Vec<(String, String)>| p.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names(g.path("Triage", "Done").unwrap()),
            ["Accept", "Review", "Approve"]
        );
        assert_eq!(names(g.path("In Review", "Triage").unwrap()), ["Back"]);
        assert_eq!(g.path("Triage", "Triage").unwrap(), vec![]);
        assert!(g.path("Triage", "Nowhere").is_none());
    }
}
