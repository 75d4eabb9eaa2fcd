//! Jira: users (mapped), statuses, workflows and schemes (`workflows.rs`), projects with
//! components and versions (given their schemes), boards and sprints, issues
//! (parents first, with status, comments, worklogs, remote links, watchers, properties and
//! attachments), then issue links.
//!
//! This file holds the two restores (a whole product or projects, and single issues), what
//! they learn of the destination, and the issue links; `fields.rs` the custom fields with
//! their contexts, options and default values; `project.rs` the projects and boards,
//! `issues.rs` the issues, `children.rs` what hangs off each issue.

mod children;
mod fields;
mod issues;
mod project;
mod security;
mod workflows;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use cairn_connectors::{Jira, Site};
use cairn_control::jobs::EngineError;
use cairn_store::Selection;
use futures::TryStreamExt;
use serde_json::Value;

use super::{Ledger, RestoreRun, Tasks, Window};
use crate::json::{id_str, items, text};
use crate::layout;
use crate::site::{SiteRole::Destination, site_error};
use issues::{collect_links, issue, issues, issues_written, wanted_issues};
use project::{boards, project};

/// Issue links by link id: (type, inward issue id, outward issue id).
type Links = BTreeMap<String, (String, String, String)>;

/// What the restore needs to know of the destination.
struct Dest {
    jira: Jira,
    /// Account ids of the destination's directory.
    accounts: HashSet<String>,
    /// The restoring account: lead of a project whose lead is unknown to the destination.
    me: String,
    /// Source custom field id → (destination id, schema), matched by name.
    fields: HashMap<String, (String, Value)>,
    /// Source account → destination account matched by email (`USERS`).
    users: BTreeMap<String, String>,
    /// The source's workflows as paths of transitions, by project and issue type.
    paths: workflows::Paths,
}

impl Dest {
    /// The destination account for a source account, if the destination knows it.
    fn account(&self, source: &str) -> Option<String> {
        if let Some(d) = self.users.get(source) {
            return Some(d.clone());
        }
        self.accounts.contains(source).then(|| source.to_string())
    }
}

pub(super) async fn restore(
    run: &mut RestoreRun<'_>,
    site: &Site,
    only: Option<&[String]>,
) -> Result<(), EngineError> {
    let (mut dest, by_email) = destination(run, site).await?;
    if run.selected(Selection::Users) && !run.map.phase_done("users") {
        map_users(run, &dest, &by_email).await?;
        run.map.finish_phase("users", run.ctx).await?;
    }
    dest.users = run.map.all("user");
    fields::fields(run, &mut dest).await?;
    workflows::restore(run, &mut dest, only).await?;
    let dest = Arc::new(dest);
    security::configure(run, &dest).await?;

    let mut projects = Vec::new();
    for dir in run.list(&layout::jira_projects_dir()).await? {
        let key = layout::entry_id(&dir).to_string();
        if only.is_none_or(|keys| keys.contains(&key)) {
            projects.push(key);
        }
    }
    let mut restored = Vec::new();
    for key in &projects {
        if project(run, &dest, key).await? {
            restored.push(key.clone());
        }
    }
    workflows::assign(run, &dest, &restored).await?;
    boards(run, &dest, &restored).await?;
    fields::contexts(run, &dest, &restored).await?;

    let mut links = Links::new();
    for key in &restored {
        issues(run, &dest, key, &mut links).await?;
    }
    issue_links(run, &dest, links, &HashMap::new()).await?;
    security::leave_levels(run, &dest).await?;
    security::assign_restored_schemes(run, &dest, &restored).await?;
    Ok(())
}

/// The destination as a restore needs it, and its accounts by email (lower case).
async fn destination(
    run: &RestoreRun<'_>,
    site: &Site,
) -> Result<(Dest, HashMap<String, String>), EngineError> {
    let jira = site.jira();
    let me = jira.myself().await.map_err(site_error(Destination))?;
    let mut dest = Dest {
        accounts: HashSet::new(),
        me: text(&me, "accountId").to_string(),
        fields: HashMap::new(),
        users: BTreeMap::new(),
        paths: Default::default(),
        jira,
    };
    let mut by_email = HashMap::new();
    let mut users = dest.jira.users();
    while let Some(u) = users.try_next().await.map_err(site_error(Destination))? {
        if let Some(id) = id_str(&u["accountId"]) {
            if let Some(mail) = u["emailAddress"].as_str() {
                by_email.insert(mail.to_lowercase(), id.clone());
            }
            dest.accounts.insert(id);
        }
    }
    dest.fields = field_map(run, &dest.jira).await?;
    Ok((dest, by_email))
}

/// Single issues (`issueKeys`), each with its sub-tasks, into the projects of the same keys,
/// which must exist in the destination; then the links among them, and (into the site they
/// were backed up from) the links to issues that are still there.
///
/// - Into the site they came from, an issue whose key still resolves is skipped (rule 8).
/// - Components and versions are matched by name in the destination project. Sprint
///   membership is not restored (sprints are restored with whole projects only).
/// - Users are not mapped by email here: accounts the destination knows are kept, others are
///   dropped from the issue.
/// - A restore that resumes after a kill takes the issues its earlier attempt created (issues
///   of the project created since the restore began, with the same summary) instead of
///   creating them again.
pub(super) async fn restore_issues(
    run: &mut RestoreRun<'_>,
    site: &Site,
    keys: &[String],
    same_site: bool,
    started: chrono::DateTime<chrono::Utc>,
) -> Result<(), EngineError> {
    let (mut dest, _) = destination(run, site).await?;
    dest.paths = workflows::paths(run).await?;
    let dest = Arc::new(dest);
    let mut by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        let project = key.rsplit_once('-').map_or(key.as_str(), |(p, _)| p);
        by_project
            .entry(project.to_string())
            .or_default()
            .push(key.clone());
    }
    let mut links = Links::new();
    let mut outside: HashMap<String, String> = HashMap::new();
    for (project, wanted) in &by_project {
        let phase = format!("items:{project}");
        if run.map.phase_done(&phase) {
            continue;
        }
        let Some(source) = run.doc(&layout::jira_project(project)).await? else {
            for k in wanted {
                run.map.failed("issue", k, "not in this backup");
            }
            continue;
        };
        match dest.jira.project(project).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                for k in wanted {
                    run.map.failed(
                        "issue",
                        k,
                        format!(
                            "the destination has no project {project}: restore the project with projectKeys"
                        ),
                    );
                }
                continue;
            }
            Err(e) => return Err(site_error(Destination)(e)),
        }
        map_by_name(run, &dest, project, &source).await?;
        let mut chosen = Vec::new();
        let mut summaries = HashSet::new();
        for (r, doc) in wanted_issues(run, project, wanted).await? {
            let key = text(&doc["issue"], "key").to_string();
            if same_site && run.map.get("issue", &r.id).is_none() {
                match dest.jira.issue(&key).await {
                    Ok(_) => {
                        // Rule 8: it is still there.
                        run.map.skipped("issue");
                        continue;
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(site_error(Destination)(e)),
                }
            }
            collect_links(&doc, &r.id, &mut links);
            summaries.insert(text(&doc["issue"]["fields"], "summary").to_string());
            chosen.push(r);
        }
        // Issues an earlier attempt created, oldest first, kept only if this restore names
        // their summary.
        let mut orphans = VecDeque::new();
        if run.map.resumed() {
            let since = (started - chrono::TimeDelta::minutes(2)).format("%Y/%m/%d %H:%M");
            let ours = run.map.destinations("issue");
            let mut s = dest.jira.issues(&format!(
                "project = {project} AND created >= \"{since}\" ORDER BY id ASC"
            ));
            while let Some(i) = s.try_next().await.map_err(site_error(Destination))? {
                let (k, summary) = (text(&i, "key"), text(&i["fields"], "summary"));
                if !ours.contains(k) && summaries.contains(summary) {
                    orphans.push_back((k.to_string(), summary.to_string()));
                }
            }
        }
        let mut window = Window::new(run.width);
        for r in &chosen {
            issue(run, &dest, project, r, &mut orphans, &mut window).await?;
        }
        issues_written(run, &mut window).await?;
        run.map.finish_phase(&phase, run.ctx).await?;
    }
    // Into the same site, a link's other end may still be there: same id.
    if same_site {
        for (inward, outward) in links.values().map(|(_, i, o)| (i, o)) {
            for end in [inward, outward] {
                if run.map.get("issue", end).is_some() || outside.contains_key(end.as_str()) {
                    continue;
                }
                match dest.jira.issue(end).await {
                    Ok(found) => {
                        outside.insert(end.clone(), text(&found, "key").to_string());
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(site_error(Destination)(e)),
                }
            }
        }
    }
    issue_links(run, &dest, links, &outside).await
}

/// Source components and versions of a project → the destination's of the same name.
async fn map_by_name(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    project: &str,
    source: &Value,
) -> Result<(), EngineError> {
    let p = source.get("project").unwrap_or(source);
    let mut names = HashMap::new();
    let mut s = dest.jira.components(project);
    while let Some(c) = s.try_next().await.map_err(site_error(Destination))? {
        if let Some(id) = id_str(&c["id"]) {
            names.insert(("component", text(&c, "name").to_string()), id);
        }
    }
    let mut s = dest.jira.versions(project);
    while let Some(v) = s.try_next().await.map_err(site_error(Destination))? {
        if let Some(id) = id_str(&v["id"]) {
            names.insert(("version", text(&v, "name").to_string()), id);
        }
    }
    for (kind, list) in [("component", &p["components"]), ("version", &p["versions"])] {
        for x in items(list) {
            if let (Some(sid), Some(did)) = (
                id_str(&x["id"]),
                names.get(&(kind, text(x, "name").to_string())),
            ) {
                run.map.insert(kind, &sid, did);
            }
        }
    }
    Ok(())
}

/// Source custom field ids → destination fields of the same name.
async fn field_map(
    run: &RestoreRun<'_>,
    jira: &Jira,
) -> Result<HashMap<String, (String, Value)>, EngineError> {
    let mut by_name = HashMap::new();
    let mut fields = jira.fields();
    while let Some(f) = fields.try_next().await.map_err(site_error(Destination))? {
        if let Some(id) = id_str(&f["id"]) {
            by_name.insert(text(&f, "name").to_string(), (id, f["schema"].clone()));
        }
    }
    let mut out = HashMap::new();
    let source = run
        .doc(&layout::jira_config("fields"))
        .await?
        .unwrap_or_default();
    for f in items(&source) {
        if let (Some(id), Some(dest)) = (id_str(&f["id"]), by_name.get(text(f, "name"))) {
            out.insert(id, dest.clone());
        }
    }
    Ok(out)
}

/// Users cannot be created through the API: each backed-up user is matched in the destination
/// by account id, else by email; the others are counted as skipped (`unmatchedUser`) and
/// references to them are dropped. Groups cannot be created either (`group` skipped).
async fn map_users(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    by_email: &HashMap<String, String>,
) -> Result<(), EngineError> {
    for path in run.list(&layout::jira_users_dir()).await? {
        let Some(u) = run.doc(&path).await? else {
            continue;
        };
        let Some(id) = id_str(&u["accountId"]) else {
            continue;
        };
        let mail = text(&u, "emailAddress").to_lowercase();
        if dest.accounts.contains(&id) {
            run.map.skipped("user");
        } else if let Some(other) = by_email.get(&mail).filter(|_| !mail.is_empty()) {
            run.map.insert("user", &id, other);
            run.map.skipped("user");
        } else {
            run.map.skipped("unmatchedUser");
        }
    }
    for _ in run.list(&layout::jira_groups_dir()).await? {
        run.map.skipped("group");
    }
    Ok(())
}

/// Issue links, once both ends exist: each end created by this restore, or in `outside` (source
/// id → destination key of an issue this restore did not create). The links of one inward
/// issue are written one after another (writes to one issue are spaced), different issues'
/// side by side.
async fn issue_links(
    run: &mut RestoreRun<'_>,
    dest: &Arc<Dest>,
    links: Links,
    outside: &HashMap<String, String>,
) -> Result<(), EngineError> {
    if run.map.phase_done("links") {
        return Ok(());
    }
    // By inward issue (destination key): (link id, type, outward key).
    let mut by_issue: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for (lid, (ty, inward, outward)) in links {
        if run.map.get("issueLink", &lid).is_some() || run.map.has_failed("issueLink", &lid) {
            continue;
        }
        let end = |source: &str| {
            run.map
                .get("issue", source)
                .or_else(|| outside.get(source).map(String::as_str))
                .map(String::from)
        };
        let (Some(i), Some(o)) = (end(&inward), end(&outward)) else {
            // The other end is not part of this restore.
            run.map.skipped("issueLink");
            continue;
        };
        by_issue.entry(i).or_default().push((lid, ty, o));
    }
    let resumed = run.map.resumed();
    let mut window = Window::new(run.width);
    for (inward, links) in by_issue {
        while window.is_full() {
            if let Some(done) = window.next().await {
                links_written(run, done).await?;
            }
        }
        let (tasks, dest) = (run.tasks.clone(), dest.clone());
        window.spawn(links_of(tasks, dest, inward, links, resumed));
    }
    while let Some(done) = window.next().await {
        links_written(run, done).await?;
    }
    run.map.finish_phase("links", run.ctx).await
}

async fn links_written(
    run: &mut RestoreRun<'_>,
    done: Result<Ledger, EngineError>,
) -> Result<(), EngineError> {
    run.apply(done?);
    run.step().await
}

/// The links of one inward issue. On a resume, a link the issue has already (same type, same
/// outward issue) was written by an earlier attempt.
async fn links_of(
    tasks: Tasks,
    dest: Arc<Dest>,
    inward: String,
    links: Vec<(String, String, String)>,
    resumed: bool,
) -> Result<Ledger, EngineError> {
    let mut ledger = Ledger::default();
    let mut existing = HashSet::new();
    if resumed {
        let doc = dest
            .jira
            .issue(&inward)
            .await
            .map_err(site_error(Destination))?;
        existing = items(&doc["fields"]["issuelinks"])
            .iter()
            .filter_map(|l| {
                Some((
                    text(&l["type"], "name").to_string(),
                    l["outwardIssue"]["key"].as_str()?.to_string(),
                ))
            })
            .collect();
    }
    for (lid, ty, outward) in links {
        if existing.contains(&(ty.clone(), outward.clone())) {
            ledger.insert("issueLink", &lid, "");
            ledger.created("issueLink");
            continue;
        }
        tasks.check()?;
        let r = dest.jira.create_issue_link(&ty, &inward, &outward).await;
        if let Some(d) = tasks.outcome(&mut ledger, "issueLink", &lid, r)? {
            ledger.insert("issueLink", &lid, &d.unwrap_or_default());
        }
    }
    Ok(ledger)
}
