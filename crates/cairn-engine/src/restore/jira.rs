//! Jira: users (mapped), projects with components and versions, boards and sprints, issues
//! (parents first, with status, comments, worklogs, remote links, watchers, properties and
//! attachments), then issue links.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use cairn_connectors::{Jira, Site};
use cairn_control::jobs::EngineError;
use cairn_store::Selection;
use futures::TryStreamExt;
use serde_json::{Map, Value, json};

use super::RestoreRun;
use crate::json::{id_str, items, text};
use crate::site::{SiteRole::Destination, site_error};
use crate::{layout, origin};

/// What the restore needs to know of the destination.
struct Dest {
    jira: Jira,
    /// Account ids of the destination's directory.
    accounts: HashSet<String>,
    /// The restoring account: lead of a project whose lead is unknown to the destination.
    me: String,
    /// Source custom field id → (destination id, schema), matched by name.
    fields: HashMap<String, (String, Value)>,
}

pub(super) async fn restore(
    run: &mut RestoreRun<'_>,
    site: &Site,
    only: Option<&[String]>,
) -> Result<(), EngineError> {
    let (dest, by_email) = destination(run, site).await?;
    if run.selected(Selection::Users) && !run.map.phase_done("users") {
        map_users(run, &dest, &by_email).await?;
        run.map.finish_phase("users", run.ctx).await?;
    }

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
    boards(run, &dest, &restored).await?;

    let mut links: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for key in &restored {
        issues(run, &dest, key, &mut links).await?;
    }
    issue_links(run, &dest, links, &HashMap::new()).await?;
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
    let (dest, _) = destination(run, site).await?;
    let mut by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        let project = key.rsplit_once('-').map_or(key.as_str(), |(p, _)| p);
        by_project
            .entry(project.to_string())
            .or_default()
            .push(key.clone());
    }
    let mut links: BTreeMap<String, (String, String, String)> = BTreeMap::new();
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
        for r in &chosen {
            issue(run, &dest, project, r, &mut orphans).await?;
        }
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

/// The backed-up issues of a project with these keys, with their sub-tasks, parents first,
/// each with its document. Keys the backup lacks are failed items.
async fn wanted_issues(
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
fn collect_links(doc: &Value, id: &str, links: &mut BTreeMap<String, (String, String, String)>) {
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

impl Dest {
    /// The destination account for a source account, if the destination knows it.
    fn account(&self, run: &RestoreRun<'_>, source: &str) -> Option<String> {
        if let Some(d) = run.map.get("user", source) {
            return Some(d.to_string());
        }
        self.accounts.contains(source).then(|| source.to_string())
    }
}

/// Creates one project with its components and versions; false when it is not restored (its
/// key exists in the destination and is not this restore's, or it could not be created).
async fn project(run: &mut RestoreRun<'_>, dest: &Dest, key: &str) -> Result<bool, EngineError> {
    let Some(doc) = run.doc(&layout::jira_project(key)).await? else {
        return Ok(false);
    };
    let p = doc.get("project").unwrap_or(&doc).clone();
    if run.map.get("project", key).is_none() {
        if run.map.has_failed("project", key) {
            return Ok(false);
        }
        match dest.jira.project(key).await {
            Ok(found) if run.map.is_open("project", key) => {
                // Created by an earlier attempt just before it stopped.
                run.map
                    .insert("project", key, &id_str(&found["id"]).unwrap_or_default());
            }
            Ok(_) => {
                // Rule 8: never write into what exists.
                run.map.skipped("project");
                return Ok(false);
            }
            Err(e) if e.is_not_found() => {
                run.map.open("project", key);
                run.map.save(run.ctx).await?;
                let lead = id_str(&p["lead"]["accountId"])
                    .or_else(|| id_str(&p["leadAccountId"]))
                    .and_then(|a| dest.account(run, &a))
                    .unwrap_or_else(|| dest.me.clone());
                let body = json!({
                    "key": key,
                    "name": p["name"],
                    "description": p["description"].as_str().unwrap_or_default(),
                    "projectTypeKey": p["projectTypeKey"].as_str().unwrap_or("software"),
                    "leadAccountId": lead,
                });
                let created = dest.jira.create_project(&body).await;
                match run.outcome("project", key, created)? {
                    Some(c) => run.map.insert("project", key, &c.id),
                    None => return Ok(false),
                }
                run.map.save(run.ctx).await?;
            }
            Err(e) => return Err(site_error(Destination)(e)),
        }
    }
    if !run.map.is_open("project", key) {
        return Ok(true);
    }
    // Components and versions: by name, any already there were created by this restore.
    let resumed = run.map.resumed();
    let mut have = HashSet::new();
    if resumed {
        let mut s = dest.jira.components(key);
        while let Some(c) = s.try_next().await.map_err(site_error(Destination))? {
            have.insert(format!("component:{}", text(&c, "name")));
        }
        let mut s = dest.jira.versions(key);
        while let Some(v) = s.try_next().await.map_err(site_error(Destination))? {
            have.insert(format!("version:{}", text(&v, "name")));
        }
    }
    for c in items(&p["components"]) {
        let sid = id_str(&c["id"]).unwrap_or_default();
        if run.map.get("component", &sid).is_some()
            || have.contains(&format!("component:{}", text(c, "name")))
        {
            continue;
        }
        let mut body = json!({"project": key, "name": c["name"], "description": c["description"].as_str().unwrap_or_default()});
        if let Some(lead) = id_str(&c["lead"]["accountId"])
            .or_else(|| id_str(&c["leadAccountId"]))
            .and_then(|a| dest.account(run, &a))
        {
            body["leadAccountId"] = json!(lead);
        }
        if let Some(t) = c["assigneeType"].as_str() {
            body["assigneeType"] = json!(t);
        }
        let r = dest.jira.create_component(&body).await;
        if let Some(id) = run.outcome("component", &sid, r)? {
            run.map.insert("component", &sid, &id);
        }
        run.step().await?;
    }
    for v in items(&p["versions"]) {
        let sid = id_str(&v["id"]).unwrap_or_default();
        if run.map.get("version", &sid).is_some()
            || have.contains(&format!("version:{}", text(v, "name")))
        {
            continue;
        }
        let mut body = json!({"project": key, "name": v["name"]});
        for k in [
            "description",
            "released",
            "archived",
            "releaseDate",
            "startDate",
        ] {
            if !v[k].is_null() {
                body[k] = v[k].clone();
            }
        }
        let r = dest.jira.create_version(&body).await;
        if let Some(id) = run.outcome("version", &sid, r)? {
            run.map.insert("version", &sid, &id);
        }
        run.step().await?;
    }
    run.map.close("project", key);
    run.map.save(run.ctx).await?;
    Ok(true)
}

/// Boards of the restored projects, with their sprints (state and dates set after creation).
async fn boards(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    projects: &[String],
) -> Result<(), EngineError> {
    if run.map.phase_done("boards") {
        return Ok(());
    }
    // Boards and sprints an earlier attempt made, by project and name.
    let mut found: HashMap<String, String> = HashMap::new();
    if run.map.resumed() {
        let mut s = dest.jira.boards();
        while let Some(b) = s.try_next().await.map_err(site_error(Destination))? {
            let k = format!(
                "{}/{}",
                text(&b["location"], "projectKey"),
                text(&b, "name")
            );
            found.insert(k, id_str(&b["id"]).unwrap_or_default());
        }
    }
    for path in run.list(&layout::jira_boards_dir()).await? {
        let Some(doc) = run.doc(&path).await? else {
            continue;
        };
        let b = doc.get("board").unwrap_or(&doc);
        let project = text(&b["location"], "projectKey").to_string();
        if !projects.contains(&project) {
            continue;
        }
        let sid = id_str(&b["id"]).unwrap_or_default();
        let board = match run.map.get("board", &sid) {
            Some(d) => d.to_string(),
            None => {
                if let Some(d) = found.get(&format!("{project}/{}", text(b, "name"))) {
                    run.map.insert("board", &sid, d);
                    d.clone()
                } else {
                    let body = json!({"name": b["name"], "type": b["type"], "location": {"type": "project", "projectKeyOrId": project}});
                    let r = dest.jira.create_board(&body).await;
                    let Some(d) = run.outcome("board", &sid, r)? else {
                        continue;
                    };
                    run.map.insert("board", &sid, &d);
                    d
                }
            }
        };
        let mut have = HashMap::new();
        if run.map.resumed() {
            let mut s = dest.jira.sprints(&board);
            while let Some(sp) = s.try_next().await.map_err(site_error(Destination))? {
                have.insert(
                    text(&sp, "name").to_string(),
                    id_str(&sp["id"]).unwrap_or_default(),
                );
            }
        }
        for s in items(&doc["sprints"]) {
            let ssid = id_str(&s["id"]).unwrap_or_default();
            if run.map.get("sprint", &ssid).is_some() {
                continue;
            }
            if let Some(d) = have.get(text(s, "name")) {
                run.map.insert("sprint", &ssid, d);
                continue;
            }
            let origin = board
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(json!(board));
            let mut body = json!({"name": s["name"], "originBoardId": origin});
            if !s["goal"].is_null() {
                body["goal"] = s["goal"].clone();
            }
            let r = dest.jira.create_sprint(&body).await;
            let Some(d) = run.outcome("sprint", &ssid, r)? else {
                continue;
            };
            run.map.insert("sprint", &ssid, &d);
            let state = text(s, "state");
            if state != "future" && !state.is_empty() {
                let mut update = json!({"state": state});
                for k in ["startDate", "endDate"] {
                    if !s[k].is_null() {
                        update[k] = s[k].clone();
                    }
                }
                if let Err(e) = dest.jira.update_sprint(&d, &update).await {
                    run.refused("sprintState", &ssid, e)?;
                }
            }
            run.step().await?;
        }
        run.step().await?;
    }
    run.map.finish_phase("boards", run.ctx).await
}

/// What the first pass over a project's issues keeps of each: enough to order them.
struct IssueRef {
    id: String,
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

/// The issues of one project, in key order with parents before children.
async fn issues(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    key: &str,
    links: &mut BTreeMap<String, (String, String, String)>,
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
        for r in &refs {
            issue(run, dest, key, r, &mut orphans).await?;
        }
        run.map
            .finish_phase(&format!("issues:{key}"), run.ctx)
            .await?;
    }
    Ok(())
}

async fn issue(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    project: &str,
    r: &IssueRef,
    orphans: &mut VecDeque<(String, String)>,
) -> Result<(), EngineError> {
    if run.map.get("issue", &r.id).is_some() && !run.map.is_open("issue", &r.id) {
        return Ok(());
    }
    if run.map.has_failed("issue", &r.id) {
        return Ok(());
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
                run.map.insert("issue", &r.id, &k);
                run.map.open("issue", &r.id);
                (k, true)
            } else {
                let fields = create_fields(run, dest, project, f);
                match dest.jira.create_issue(&fields).await {
                    Ok(c) => {
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
    issue_children(run, dest, &key, &doc, reconcile).await?;
    run.map.close("issue", &r.id);
    run.step().await
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
        if let Some(a) = id_str(&f[k]["accountId"]).and_then(|a| dest.account(run, &a)) {
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

/// A custom field's value as a create takes it: options by value, users by account.
fn custom_value(run: &RestoreRun<'_>, dest: &Dest, schema: &Value, v: &Value) -> Option<Value> {
    let option = |x: &Value| {
        let mut o = json!({"value": x["value"]});
        if !x["child"].is_null() {
            o["child"] = json!({"value": x["child"]["value"]});
        }
        o
    };
    let user = |x: &Value| {
        id_str(&x["accountId"])
            .and_then(|a| dest.account(run, &a))
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

/// Writes that run side by side share this: after [`MAX_RETRYABLE_IN_A_ROW`] retryable
/// failures with no success between them, each stops at its next item.
#[derive(Default)]
struct Failing(std::sync::atomic::AtomicU32);

impl Failing {
    fn stopped(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) >= super::MAX_RETRYABLE_IN_A_ROW
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

/// Status, comments, worklogs, remote links, watchers, properties and attachments of one
/// created issue. With `reconcile`, what the destination already holds is skipped.
async fn issue_children(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    key: &str,
    doc: &Value,
    reconcile: bool,
) -> Result<(), EngineError> {
    let f = &doc["issue"]["fields"];
    let sid = id_str(&doc["issue"]["id"]).unwrap_or_default();
    let jira = &dest.jira;
    let current = if reconcile {
        Some(jira.issue(key).await.map_err(site_error(Destination))?)
    } else {
        None
    };
    let count = |v: Vec<Value>| v.len();

    // Status, through a transition into the status of the same name.
    if let Some(status) = f["status"]["name"].as_str() {
        let now = current
            .as_ref()
            .map(|c| text(&c["fields"]["status"], "name"));
        if now != Some(status) {
            set_status(run, jira, key, &sid, status, f).await?;
        }
    }

    // What the destination already holds (on a resume), so it is not written twice.
    let (comments_there, worklogs_there) = if reconcile {
        (
            count(
                jira.comments(key)
                    .try_collect()
                    .await
                    .map_err(site_error(Destination))?,
            ),
            count(
                jira.worklogs(key)
                    .try_collect()
                    .await
                    .map_err(site_error(Destination))?,
            ),
        )
    } else {
        (0, 0)
    };
    let mut links_there: HashSet<String> = HashSet::new();
    if reconcile {
        let mut s = jira.remote_links(key);
        while let Some(l) = s.try_next().await.map_err(site_error(Destination))? {
            links_there.insert(text(&l["object"], "url").to_string());
        }
    }
    let watching: HashSet<String> = match &current {
        Some(_) => items(&jira.watchers(key).await.map_err(site_error(Destination))?["watchers"])
            .iter()
            .filter_map(|w| id_str(&w["accountId"]))
            .collect(),
        None => HashSet::new(),
    };
    let mut watchers = Vec::new();
    for w in items(&doc["watchers"]["watchers"]) {
        let Some(src) = id_str(&w["accountId"]) else {
            continue;
        };
        match dest.account(run, &src) {
            Some(a) if watching.contains(&a) => {}
            Some(a) => watchers.push((src, a)),
            None => run.map.skipped("watcher"),
        }
    }
    let origin = run.record_origin.then(|| origin::jira_issue(doc));
    // Owned lists: the futures below must not borrow through closures (the engine's futures
    // must be provably `Send`).
    let comments: Vec<Value> = items(&doc["comments"])
        .iter()
        .skip(comments_there)
        .cloned()
        .collect();
    let worklogs: Vec<Value> = items(&doc["worklogs"])
        .iter()
        .skip(worklogs_there)
        .cloned()
        .collect();
    let mut links = Vec::new();
    for l in items(&doc["remoteLinks"]) {
        if !links_there.contains(text(&l["object"], "url")) {
            links.push(l.clone());
        }
    }
    let mut props: Vec<(String, Value, &'static str)> = properties(&doc["properties"])
        .into_iter()
        .map(|(k, v)| (k, v, "issueProperty"))
        .collect();
    if let Some(o) = origin {
        props.push((origin::PROPERTY.to_string(), o, "origin"));
    }

    // Comments, worklogs, remote links, watchers and properties do not depend on one another:
    // each kind is written in its order (comments keep theirs), the kinds side by side. A site
    // that keeps failing stops them all (the issue stays open in the map, so a resumed attempt
    // reconciles it).
    let failing = Failing::default();
    let sid_ref = &sid;
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
        failing.each(links, |l: Value| async move {
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
            props,
            |(k, v, kind): (String, Value, &'static str)| async move {
                // Setting a property again writes the same value: no look-up needed.
                let source = if kind == "origin" {
                    sid_ref.clone()
                } else {
                    format!("{sid_ref}/{k}")
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
    if run.selected(Selection::Attachments) {
        let mut have: Vec<(String, u64)> = current
            .as_ref()
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

/// Issue links, once both ends exist: each end created by this restore, or in `outside` (source
/// id → destination key of an issue this restore did not create).
async fn issue_links(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    links: BTreeMap<String, (String, String, String)>,
    outside: &HashMap<String, String>,
) -> Result<(), EngineError> {
    if run.map.phase_done("links") {
        return Ok(());
    }
    let mut existing: HashMap<String, HashSet<(String, String)>> = HashMap::new();
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
        if run.map.resumed() {
            if !existing.contains_key(&i) {
                let doc = dest.jira.issue(&i).await.map_err(site_error(Destination))?;
                let set = items(&doc["fields"]["issuelinks"])
                    .iter()
                    .filter_map(|l| {
                        Some((
                            text(&l["type"], "name").to_string(),
                            l["outwardIssue"]["key"].as_str()?.to_string(),
                        ))
                    })
                    .collect();
                existing.insert(i.clone(), set);
            }
            if existing[&i].contains(&(ty.clone(), o.clone())) {
                run.map.insert("issueLink", &lid, "");
                continue;
            }
        }
        let r = dest.jira.create_issue_link(&ty, &i, &o).await;
        if let Some(d) = run.outcome("issueLink", &lid, r)? {
            run.map.insert("issueLink", &lid, &d.unwrap_or_default());
        }
        run.step().await?;
    }
    run.map.finish_phase("links", run.ctx).await
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
