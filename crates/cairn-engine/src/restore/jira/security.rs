//! Who may see and do what, restored before the projects (phase `access`): project categories,
//! permission schemes with their grants, issue security schemes with their levels and members;
//! then, per project, its schemes, category, default assignee and URL on create
//! ([`project_body`]) and its role actors ([`role_actors`]); per issue, its security level
//! ([`issue_level`]).
//!
//! - A scheme is matched by name: the destination's scheme of the same name is used when its
//!   definition is the same (grants, or levels with their members, compared by permission and
//!   holder: groups by name, roles by name, users by account). When it differs, a copy named
//!   `"<name> (restored)"` is created (or used, if it has the same definition): the
//!   destination's own schemes are never edited.
//! - Holders are mapped: groups by name, project roles by name, users through the user map. A
//!   holder the destination cannot resolve is left out of the scheme it is in and reported
//!   (`result.skippedItems`, kinds `permissionGrant` and `securityLevelMember`).
//! - Every source → destination id (`permissionScheme`, `issueSecurityScheme`,
//!   `securityLevel`, `projectCategory`, `role`) goes into the id map. A scheme being created
//!   is marked open first, so a resumed restore that finds it (same name, same definition)
//!   counts it once and creates nothing twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cairn_control::jobs::EngineError;
use futures::TryStreamExt;
use serde_json::{Map, Value, json};

use super::Dest;
use crate::json::{id_str, items, text};
use crate::layout;
use crate::restore::RestoreRun;
use crate::site::{SiteRole::Destination, site_error};

/// The suffix of a copy made because the destination has a different scheme of the same name.
pub(crate) const RESTORED_SUFFIX: &str = " (restored)";

/// A holder as a comparable key (`type` or `type:name`) and the body the destination takes.
type Mapped = (String, Value);

/// How the destination names holders: roles by id and name, groups by name.
struct Names {
    /// Source role id → role name (from the backup's `roles`).
    source_roles: HashMap<String, String>,
    /// Destination role name → id, and id → name.
    roles: HashMap<String, String>,
    role_names: HashMap<String, String>,
    groups: BTreeSet<String>,
}

impl Names {
    /// A destination holder's key.
    fn key_of_destination(&self, h: &Value) -> String {
        let ty = text(h, "type");
        let param = h["parameter"]
            .as_str()
            .map(String::from)
            .or_else(|| id_str(&h["parameter"]))
            .or_else(|| id_str(&h["value"]))
            .unwrap_or_default();
        match ty {
            "projectRole" => format!(
                "projectRole:{}",
                self.role_names.get(&param).cloned().unwrap_or(param)
            ),
            "group" | "user" => format!("{ty}:{param}"),
            "applicationRole" if !param.is_empty() => format!("applicationRole:{param}"),
            other => other.to_string(),
        }
    }

    /// A source holder mapped into the destination, or why it cannot be.
    fn map_source(&self, dest: &Dest, h: &Value) -> Result<Mapped, String> {
        let ty = text(h, "type");
        let param = h["parameter"]
            .as_str()
            .map(String::from)
            .or_else(|| id_str(&h["parameter"]))
            .or_else(|| id_str(&h["value"]))
            .unwrap_or_default();
        match ty {
            "group" => {
                let name = h["group"]["name"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or(param);
                if self.groups.contains(&name) {
                    Ok((
                        format!("group:{name}"),
                        json!({"type": "group", "parameter": name}),
                    ))
                } else {
                    Err(format!("the destination has no group named {name:?}"))
                }
            }
            "projectRole" => {
                let name = self
                    .source_roles
                    .get(&param)
                    .ok_or(format!("project role {param} is not in the backup"))?;
                let id = self.roles.get(name).ok_or(format!(
                    "the destination has no project role named {name:?}"
                ))?;
                Ok((
                    format!("projectRole:{name}"),
                    json!({"type": "projectRole", "parameter": id}),
                ))
            }
            "user" => match dest.account(&param) {
                Some(a) => Ok((format!("user:{a}"), json!({"type": "user", "parameter": a}))),
                None => Err(format!(
                    "user {param} is not in the destination's directory"
                )),
            },
            "applicationRole" if !param.is_empty() => Ok((
                format!("applicationRole:{param}"),
                json!({"type": "applicationRole", "parameter": param}),
            )),
            t @ ("anyone"
            | "applicationRole"
            | "projectLead"
            | "reporter"
            | "assignee"
            | "reporterWithCreatePermission"
            | "assigneeWithAssignablePermission") => Ok((t.to_string(), json!({"type": t}))),
            // Custom-field holders name fields by id, app holders what only the app knows.
            other => Err(format!("holders of type {other:?} are not restored")),
        }
    }
}

async fn names(run: &mut RestoreRun<'_>, dest: &Dest) -> Result<Names, EngineError> {
    let source_roles = items(
        &run.doc(&layout::jira_config("roles"))
            .await?
            .unwrap_or_default(),
    )
    .iter()
    .filter_map(|r| Some((id_str(&r["id"])?, text(r, "name").to_string())))
    .collect();
    let mut names = Names {
        source_roles,
        roles: HashMap::new(),
        role_names: HashMap::new(),
        groups: BTreeSet::new(),
    };
    let mut roles = dest.jira.roles();
    while let Some(r) = roles.try_next().await.map_err(site_error(Destination))? {
        if let Some(id) = id_str(&r["id"]) {
            names.roles.insert(text(&r, "name").to_string(), id.clone());
            names.role_names.insert(id, text(&r, "name").to_string());
        }
    }
    let mut groups = dest.jira.groups();
    while let Some(g) = groups.try_next().await.map_err(site_error(Destination))? {
        names.groups.insert(text(&g, "name").to_string());
    }
    for (sid, name) in names.source_roles.clone() {
        if let Some(did) = names.roles.get(&name) {
            run.map.insert("role", &sid, did);
        }
    }
    Ok(names)
}

/// The `access` phase: categories, permission schemes, issue security schemes.
pub(super) async fn configure(run: &mut RestoreRun<'_>, dest: &Dest) -> Result<(), EngineError> {
    if run.map.phase_done("access") {
        return Ok(());
    }
    categories(run, dest).await?;
    let Some(access) = run.doc(&layout::jira_config("access")).await? else {
        // A backup made before access was backed up.
        return run.map.finish_phase("access", run.ctx).await;
    };
    let names = names(run, dest).await?;
    permission_schemes(run, dest, &names, &access).await?;
    writing_scheme(run, dest, &access).await?;
    security_schemes(run, dest, &names, &access).await?;
    join_levels(run, dest).await?;
    run.map.finish_phase("access", run.ctx).await
}

/// Jira lets an account put an issue only at a security level it is a member of, and hides the
/// issues of other levels from it. So, like the writing scheme, the restoring account is made a
/// member of every level of the restored security schemes while the restore writes (issues are
/// created at their level, so no one outside the level sees them at any moment), and leaves
/// them at the end ([`leave_levels`]). A level that already names the account keeps it.
///
/// Each membership is recorded as intended (and saved) before it is added, so that a resumed
/// restore tells the ones it added from the level's own.
async fn join_levels(run: &mut RestoreRun<'_>, dest: &Dest) -> Result<(), EngineError> {
    let schemes: BTreeSet<String> = run.map.all("issueSecurityScheme").into_values().collect();
    for scheme in schemes {
        let found = dest
            .jira
            .issue_security_scheme(&scheme)
            .await
            .map_err(site_error(Destination))?;
        for level in items(&found["levels"]) {
            let Some(level) = id_str(&level["id"]) else {
                continue;
            };
            if run.map.get("levelMember", &level).is_some() {
                continue;
            }
            let mine = my_membership(dest, &scheme, &level).await?;
            let intended = run.map.get("levelMemberIntended", &level).is_some();
            let member = match mine {
                // The level's own membership: kept, and not removed at the end.
                Some(_) if !intended => continue,
                Some(member) => member,
                None => {
                    run.map.insert("levelMemberIntended", &level, &scheme);
                    run.map.save(run.ctx).await?;
                    let me = json!({"type": "user", "parameter": dest.me});
                    dest.jira
                        .add_security_level_members(&scheme, &level, &[me])
                        .await
                        .map_err(site_error(Destination))?;
                    my_membership(dest, &scheme, &level).await?.ok_or_else(|| {
                        EngineError::Retryable(format!(
                            "the restoring account was added to security level {level} but is not among its members"
                        ))
                    })?
                }
            };
            run.map
                .insert("levelMember", &level, &format!("{scheme}/{member}"));
            run.map.save(run.ctx).await?;
        }
    }
    Ok(())
}

/// The id of the membership that names the restoring account by itself in a level.
async fn my_membership(
    dest: &Dest,
    scheme: &str,
    level: &str,
) -> Result<Option<String>, EngineError> {
    let members: Vec<Value> = dest
        .jira
        .security_level_members(scheme)
        .try_collect()
        .await
        .map_err(site_error(Destination))?;
    Ok(members
        .iter()
        .find(|m| {
            id_str(&m["issueSecurityLevelId"]).as_deref() == Some(level)
                && text(&m["holder"], "type") == "user"
                && text(&m["holder"], "parameter") == dest.me
        })
        .and_then(|m| id_str(&m["id"])))
}

/// Once every issue is written: the restoring account leaves the levels [`join_levels`] made
/// it a member of. Repeatable: a resumed restore does it again (a membership already gone is
/// not an error).
pub(super) async fn leave_levels(run: &mut RestoreRun<'_>, dest: &Dest) -> Result<(), EngineError> {
    for (level, at) in run.map.all("levelMember") {
        let Some((scheme, member)) = at.split_once('/') else {
            continue;
        };
        match dest
            .jira
            .remove_security_level_member(scheme, &level, member)
            .await
        {
            Err(e) if !e.is_not_found() => return Err(site_error(Destination)(e)),
            _ => {}
        }
    }
    Ok(())
}

/// The permission scheme projects are created under while a restore writes them: every
/// permission the backup's schemes grant, granted to the restoring account. A restored scheme
/// seldom grants that account what a restore does (create issues, set their reporter, add
/// watchers...), and Jira refuses what a project's scheme does not grant; so each project gets
/// its restored scheme only once its content is written ([`assign_restored_schemes`]), and this
/// one is then deleted.
const WRITING_SCHEME: &str = "Cairn: restore in progress";

async fn writing_scheme(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    access: &Value,
) -> Result<(), EngineError> {
    if run.map.get("writingScheme", "permission").is_some() {
        return Ok(());
    }
    let keys: BTreeSet<&str> = items(&access["permissionSchemes"])
        .iter()
        .flat_map(|ps| items(&ps["permissions"]))
        .map(|g| text(g, "permission"))
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    // Left by an attempt that stopped before saving its id: used again.
    let mut s = dest.jira.permission_schemes();
    while let Some(ps) = s.try_next().await.map_err(site_error(Destination))? {
        if text(&ps, "name") == WRITING_SCHEME {
            let id = id_str(&ps["id"]).unwrap_or_default();
            run.map.insert("writingScheme", "permission", &id);
            return run.map.save(run.ctx).await;
        }
    }
    let grants: Vec<Value> = keys
        .iter()
        .map(|k| json!({"permission": k, "holder": {"type": "user", "parameter": dest.me}}))
        .collect();
    let body = json!({
        "name": WRITING_SCHEME,
        "description": "Used by a Cairn restore while it writes its projects; deleted when it ends.",
        "permissions": grants,
    });
    let id = dest
        .jira
        .create_permission_scheme(&body)
        .await
        .map_err(site_error(Destination))?;
    run.map.insert("writingScheme", "permission", &id);
    run.map.save(run.ctx).await
}

/// Once the projects' content is written: each restored project gets its restored permission
/// scheme, and the writing scheme is deleted. Repeatable: a resumed restore does it again.
pub(super) async fn assign_restored_schemes(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    restored: &[String],
) -> Result<(), EngineError> {
    let Some(writing) = run.map.get("writingScheme", "permission").map(String::from) else {
        return Ok(());
    };
    let access = run
        .doc(&layout::jira_config("access"))
        .await?
        .unwrap_or_default();
    for key in restored {
        let Some(d) = id_str(&access["projects"][key]["permissionScheme"]["id"])
            .and_then(|s| run.map.get("permissionScheme", &s))
        else {
            continue;
        };
        let body =
            json!({"permissionScheme": d.parse::<u64>().map(Value::from).unwrap_or(json!(d))});
        dest.jira
            .update_project(key, &body)
            .await
            .map_err(site_error(Destination))?;
    }
    match dest.jira.delete_permission_scheme(&writing).await {
        Err(e) if !e.is_not_found() => Err(site_error(Destination)(e)),
        _ => Ok(()),
    }
}

/// Project categories by name; the missing ones created.
async fn categories(run: &mut RestoreRun<'_>, dest: &Dest) -> Result<(), EngineError> {
    let source = run
        .doc(&layout::jira_config("projectcategories"))
        .await?
        .unwrap_or_default();
    let mut have = HashMap::new();
    let mut s = dest.jira.project_categories();
    while let Some(c) = s.try_next().await.map_err(site_error(Destination))? {
        if let Some(id) = id_str(&c["id"]) {
            have.insert(text(&c, "name").to_string(), id);
        }
    }
    for c in items(&source) {
        let Some(sid) = id_str(&c["id"]) else {
            continue;
        };
        if run.map.get("projectCategory", &sid).is_some() {
            continue;
        }
        if let Some(d) = have.get(text(c, "name")) {
            run.map.insert("projectCategory", &sid, d);
            continue;
        }
        let body = json!({"name": c["name"], "description": c["description"].as_str().unwrap_or_default()});
        let r = dest.jira.create_project_category(&body).await;
        if let Some(d) = run.outcome("projectCategory", &sid, r)? {
            run.map.insert("projectCategory", &sid, &d);
        }
        run.step().await?;
    }
    Ok(())
}

/// The scheme to use for a source scheme named `name` with definition `want`: the
/// destination's of that name if the same, else the suffixed copy if it exists and is the
/// same; `Ok(None)`: create it under the returned name; `Err`: neither can be used.
fn choose<D: PartialEq>(
    name: &str,
    want: &D,
    have: &BTreeMap<String, (String, D)>,
) -> Result<Result<String, String>, String> {
    match have.get(name) {
        Some((id, d)) if d == want => return Ok(Ok(id.clone())),
        None => return Ok(Err(name.to_string())),
        Some(_) => {}
    }
    let copy = format!("{name}{RESTORED_SUFFIX}");
    match have.get(&copy) {
        Some((id, d)) if d == want => Ok(Ok(id.clone())),
        None => Ok(Err(copy)),
        Some(_) => Err(format!(
            "the destination has different schemes named {name:?} and {copy:?}"
        )),
    }
}

/// A found scheme: counted as created when an earlier attempt was creating it.
fn found(run: &mut RestoreRun<'_>, kind: &'static str, sid: &str, did: &str) {
    if run.map.is_open(kind, sid) {
        run.map.created(kind);
        run.map.close(kind, sid);
    }
    run.map.insert(kind, sid, did);
}

async fn permission_schemes(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    names: &Names,
    access: &Value,
) -> Result<(), EngineError> {
    type Grants = BTreeSet<(String, String)>;
    let mut have: BTreeMap<String, (String, Grants)> = BTreeMap::new();
    let mut s = dest.jira.permission_schemes_with_grants();
    while let Some(ps) = s.try_next().await.map_err(site_error(Destination))? {
        let grants = items(&ps["permissions"])
            .iter()
            .map(|g| {
                (
                    text(g, "permission").to_string(),
                    names.key_of_destination(&g["holder"]),
                )
            })
            .collect();
        have.insert(
            text(&ps, "name").to_string(),
            (id_str(&ps["id"]).unwrap_or_default(), grants),
        );
    }
    for ps in items(&access["permissionSchemes"]) {
        let Some(sid) = id_str(&ps["id"]) else {
            continue;
        };
        if run.map.get("permissionScheme", &sid).is_some() {
            continue;
        }
        let mut want = Grants::new();
        let mut body = vec![];
        for g in items(&ps["permissions"]) {
            match names.map_source(dest, &g["holder"]) {
                Ok((key, holder)) => {
                    if want.insert((text(g, "permission").to_string(), key)) {
                        body.push(json!({"permission": g["permission"], "holder": holder}));
                    }
                }
                Err(reason) => run.map.skipped_because(
                    "permissionGrant",
                    &format!("{sid}/{}", id_str(&g["id"]).unwrap_or_default()),
                    format!("{}: {reason}", text(ps, "name")),
                ),
            }
        }
        let name = match choose(text(ps, "name"), &want, &have) {
            Ok(Ok(did)) => {
                found(run, "permissionScheme", &sid, &did);
                continue;
            }
            Ok(Err(name)) => name,
            Err(reason) => {
                run.map.skipped_because("permissionScheme", &sid, reason);
                continue;
            }
        };
        run.map.open("permissionScheme", &sid);
        run.map.save(run.ctx).await?;
        let created = dest
            .jira
            .create_permission_scheme(&json!({"name": name, "description": ps["description"].as_str().unwrap_or_default(), "permissions": body}))
            .await;
        if let Some(did) = run.outcome("permissionScheme", &sid, created)? {
            run.map.insert("permissionScheme", &sid, &did);
        }
        run.map.close("permissionScheme", &sid);
        run.map.save(run.ctx).await?;
    }
    Ok(())
}

async fn security_schemes(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    names: &Names,
    access: &Value,
) -> Result<(), EngineError> {
    /// Level name → member keys.
    type Levels = BTreeMap<String, BTreeSet<String>>;
    let mut have: BTreeMap<String, (String, Levels)> = BTreeMap::new();
    let mut level_ids: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut s = dest.jira.issue_security_schemes();
    while let Some(sc) = s.try_next().await.map_err(site_error(Destination))? {
        let id = id_str(&sc["id"]).unwrap_or_default();
        let members: Vec<Value> = dest
            .jira
            .security_level_members(&id)
            .try_collect()
            .await
            .map_err(site_error(Destination))?;
        let mut levels = Levels::new();
        let mut ids = HashMap::new();
        for l in items(&sc["levels"]) {
            let lid = id_str(&l["id"]).unwrap_or_default();
            let keys = members
                .iter()
                .filter(|m| id_str(&m["issueSecurityLevelId"]).as_ref() == Some(&lid))
                .map(|m| names.key_of_destination(&m["holder"]))
                .collect();
            levels.insert(text(l, "name").to_string(), keys);
            ids.insert(text(l, "name").to_string(), lid);
        }
        level_ids.insert(id.clone(), ids);
        have.insert(text(&sc, "name").to_string(), (id, levels));
    }
    for sc in items(&access["issueSecuritySchemes"]) {
        let Some(sid) = id_str(&sc["id"]) else {
            continue;
        };
        let mut want = Levels::new();
        let mut body_levels = vec![];
        for l in items(&sc["levels"]) {
            let mut keys = BTreeSet::new();
            let mut members = vec![];
            for m in items(&l["members"]) {
                match names.map_source(dest, &m["holder"]) {
                    Ok((key, holder)) => {
                        if keys.insert(key) {
                            members.push(holder);
                        }
                    }
                    Err(reason) => run.map.skipped_because(
                        "securityLevelMember",
                        &format!("{sid}/{}", id_str(&m["id"]).unwrap_or_default()),
                        format!("{} / {}: {reason}", text(sc, "name"), text(l, "name")),
                    ),
                }
            }
            want.insert(text(l, "name").to_string(), keys);
            let default = id_str(&sc["defaultSecurityLevelId"]) == id_str(&l["id"]);
            body_levels.push(json!({"name": l["name"], "description": l["description"].as_str().unwrap_or_default(), "isDefault": default, "members": members}));
        }
        let did = match run.map.get("issueSecurityScheme", &sid) {
            Some(d) => d.to_string(),
            None => match choose(text(sc, "name"), &want, &have) {
                Ok(Ok(did)) => {
                    found(run, "issueSecurityScheme", &sid, &did);
                    did
                }
                Ok(Err(name)) => {
                    run.map.open("issueSecurityScheme", &sid);
                    run.map.save(run.ctx).await?;
                    let created = dest
                        .jira
                        .create_issue_security_scheme(&json!({"name": name, "description": sc["description"].as_str().unwrap_or_default(), "levels": body_levels}))
                        .await;
                    let did = run.outcome("issueSecurityScheme", &sid, created)?;
                    run.map.close("issueSecurityScheme", &sid);
                    let Some(did) = did else { continue };
                    run.map.insert("issueSecurityScheme", &sid, &did);
                    let made = dest
                        .jira
                        .issue_security_scheme(&did)
                        .await
                        .map_err(site_error(Destination))?;
                    let ids = items(&made["levels"])
                        .iter()
                        .filter_map(|l| Some((text(l, "name").to_string(), id_str(&l["id"])?)))
                        .collect();
                    level_ids.insert(did.clone(), ids);
                    did
                }
                Err(reason) => {
                    run.map.skipped_because("issueSecurityScheme", &sid, reason);
                    continue;
                }
            },
        };
        // Levels by name within the scheme used.
        let ids = level_ids.get(&did).cloned().unwrap_or_default();
        for l in items(&sc["levels"]) {
            if let (Some(lsid), Some(ldid)) = (id_str(&l["id"]), ids.get(text(l, "name"))) {
                run.map.insert("securityLevel", &lsid, ldid);
            }
        }
        run.map.save(run.ctx).await?;
    }
    Ok(())
}

/// What a project's create takes beyond its name, key, lead and description: its restored
/// schemes, category, default assignee and URL.
pub(super) async fn project_body(
    run: &RestoreRun<'_>,
    key: &str,
    project: &Value,
    body: &mut Value,
) -> Result<(), EngineError> {
    let number = |s: &str| s.parse::<u64>().map(Value::from).unwrap_or(json!(s));
    if let Some(c) =
        id_str(&project["projectCategory"]["id"]).and_then(|c| run.map.get("projectCategory", &c))
    {
        body["categoryId"] = number(c);
    }
    let access = run
        .doc(&layout::jira_config("access"))
        .await?
        .unwrap_or_default();
    let settings = &access["projects"][key];
    if let Some(d) = id_str(&settings["permissionScheme"]["id"])
        .and_then(|s| run.map.get("permissionScheme", &s))
    {
        // The restored scheme comes once the content is written (`assign_restored_schemes`).
        let writing = run.map.get("writingScheme", "permission");
        body["permissionScheme"] = number(writing.unwrap_or(d));
    }
    if let Some(d) = id_str(&settings["issueSecurityScheme"]["id"])
        .and_then(|s| run.map.get("issueSecurityScheme", &s))
    {
        body["issueSecurityScheme"] = number(d);
    }
    for k in ["assigneeType", "url"] {
        if let Some(v) = settings[k].as_str().filter(|v| !v.is_empty()) {
            body[k] = json!(v);
        }
    }
    Ok(())
}

/// A restored project's role actors (users through the user map; each role set whole, so a
/// resumed restore writes the same again).
pub(super) async fn role_actors(
    run: &mut RestoreRun<'_>,
    dest: &Dest,
    key: &str,
    project: &Value,
) -> Result<(), EngineError> {
    if run.map.get("roleActors", key).is_some() {
        return Ok(());
    }
    for role in items(&project["roles"]) {
        let Some(sid) = id_str(&role["id"]) else {
            continue;
        };
        let Some(did) = run.map.get("role", &sid).map(String::from) else {
            run.map.skipped_because(
                "projectRole",
                &format!("{key}/{sid}"),
                format!(
                    "the destination has no project role named {:?}",
                    text(role, "name")
                ),
            );
            continue;
        };
        let mut accounts = vec![];
        for a in items(&role["actors"]) {
            let source = id_str(&a["actorUser"]["accountId"]);
            match source.as_deref() {
                Some(s) => match dest.account(s) {
                    Some(d) if !accounts.contains(&d) => accounts.push(d),
                    Some(_) => {}
                    None => run.map.skipped_because(
                        "roleActor",
                        &format!("{key}/{sid}/{s}"),
                        "the user is not in the destination's directory",
                    ),
                },
                None => run.map.skipped_because(
                    "roleActor",
                    &format!("{key}/{sid}/{}", text(a, "name")),
                    "group role actors are not restored",
                ),
            }
        }
        let r = dest.jira.set_role_actors(key, &did, &accounts).await;
        let n = accounts.len();
        match r {
            Ok(()) => {
                for _ in 0..n {
                    run.map.created("roleActor");
                }
            }
            Err(e) => run.refused("roleActor", &format!("{key}/{sid}"), e)?,
        }
    }
    run.map.insert("roleActors", key, key);
    Ok(())
}

/// An issue's security level in the destination (`{"id"}`), mapped.
pub(super) fn issue_level(run: &RestoreRun<'_>, fields: &Value, out: &mut Map<String, Value>) {
    if let Some(d) =
        id_str(&fields["security"]["id"]).and_then(|l| run.map.get("securityLevel", &l))
    {
        out.insert("security".into(), json!({"id": d}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have(entries: &[(&str, &str, u32)]) -> BTreeMap<String, (String, u32)> {
        entries
            .iter()
            .map(|(name, id, def)| (name.to_string(), (id.to_string(), *def)))
            .collect()
    }

    #[test]
    fn a_scheme_is_reused_only_with_the_same_name_and_definition() {
        // Nothing of that name: created under its own name.
        assert_eq!(choose("A", &1, &have(&[])), Ok(Err("A".into())));
        // Same name, same definition: the destination's is used.
        assert_eq!(
            choose("A", &1, &have(&[("A", "10", 1)])),
            Ok(Ok("10".into()))
        );
        // Same name, different definition: a suffixed copy.
        assert_eq!(
            choose("A", &1, &have(&[("A", "10", 2)])),
            Ok(Err("A (restored)".into()))
        );
        // The copy already there (an earlier restore, or a resumed one): used.
        assert_eq!(
            choose("A", &1, &have(&[("A", "10", 2), ("A (restored)", "11", 1)])),
            Ok(Ok("11".into()))
        );
        // Both taken by something else: neither is used nor edited.
        assert!(choose("A", &1, &have(&[("A", "10", 2), ("A (restored)", "11", 3)])).is_err());
    }
}
