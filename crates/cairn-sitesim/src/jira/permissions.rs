//! Who may see and do what: permission schemes with their grants, issue security schemes with
//! their levels and members, a project's schemes, settings and role actors (read and written),
//! and [`gate`], the check every Jira route goes through before its handler (hidden issues are
//! 404, operations the project's scheme does not grant are 403). The model and the checks
//! themselves are in `crate::permission`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::http::*;
use crate::model::{Named, Project, Site};
use crate::permission::*;
use crate::routes::Route;

use super::R;
use super::render::{project_category_json, project_json};

// ------------------------------------------------------------------ JSON shapes

/// A grant; the reference's `PermissionHolder` has no room for the expanded group, role or
/// user, so `expand` adds nothing to a holder beyond its `type`, `parameter` and `value`.
fn grant_json(site: &Site, base: &str, scheme: u64, g: &Grant) -> Value {
    let holder = g.holder.to_json(site);
    json!({
        "id": g.id, "self": format!("{base}/rest/api/3/permissionscheme/{scheme}/permission/{}", g.id),
        "holder": holder, "permission": g.permission,
    })
}

fn scheme_json(site: &Site, base: &str, s: &PermissionScheme, expand: &[&str]) -> Value {
    let mut v = json!({
        "expand": "permissions,user,group,projectRole,field,all",
        "id": s.id, "self": format!("{base}/rest/api/3/permissionscheme/{}", s.id),
        "name": s.name, "description": s.description,
    });
    if expand.contains(&"permissions") || expand.contains(&"all") {
        v["permissions"] = s
            .grants
            .iter()
            .map(|g| grant_json(site, base, s.id, g))
            .collect();
    }
    v
}

fn level_json(base: &str, scheme: &SecurityScheme, l: &SecurityLevel) -> Value {
    json!({
        "self": format!("{base}/rest/api/3/securitylevel/{}", l.id), "id": l.id.to_string(),
        "description": l.description, "name": l.name,
        "isDefault": scheme.default_level == Some(l.id), "issueSecuritySchemeId": scheme.id.to_string(),
    })
}

fn security_scheme_json(base: &str, s: &SecurityScheme) -> Value {
    let mut v = json!({
        "self": format!("{base}/rest/api/3/issuesecurityschemes/{}", s.id), "id": s.id,
        "name": s.name, "description": s.description,
        "levels": s.levels.iter().map(|l| level_json(base, s, l)).collect::<Vec<_>>(),
    });
    if let Some(d) = s.default_level {
        v["defaultSecurityLevelId"] = json!(d);
    }
    v
}

/// An issue's `security` field: its level, or null in a project with a security scheme; absent
/// otherwise (Jira shows the field only where a scheme applies).
pub(super) fn security_field(
    site: &Site,
    base: &str,
    issue: &crate::model::Issue,
) -> Option<Value> {
    let level = issue
        .security
        .as_deref()
        .and_then(|l| l.parse().ok())
        .and_then(|l| site.permissions.level(l));
    match level {
        Some((s, l)) => {
            let mut v = level_json(base, s, l);
            if let Value::Object(m) = &mut v {
                m.remove("isDefault");
                m.remove("issueSecuritySchemeId");
            }
            Some(v)
        }
        None => site
            .permissions
            .settings(issue.project_id)
            .security_scheme
            .map(|_| Value::Null),
    }
}

/// The security level `v` (`{"id"}` or `{"name"}`) names in the project's scheme; `Err` is
/// the field error Jira gives.
pub(super) fn security_level_for(
    site: &Site,
    project: u64,
    v: &Value,
) -> Result<Option<String>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let scheme = site
        .permissions
        .settings(project)
        .security_scheme
        .and_then(|s| site.permissions.security_scheme(s));
    let id = v["id"]
        .as_str()
        .map(String::from)
        .or_else(|| v["id"].as_u64().map(|n| n.to_string()));
    scheme
        .and_then(|s| {
            s.levels.iter().find(|l| match &id {
                Some(id) => &l.id.to_string() == id,
                None => v["name"].as_str() == Some(l.name.as_str()),
            })
        })
        .map(|l| Some(l.id.to_string()))
        .ok_or_else(|| "Security level: Specify a valid value for security level.".to_string())
}

// ------------------------------------------------------------------ permission schemes

pub fn permission_schemes(site: &Site, r: &Req) -> R {
    let expand = r.q_all("expand");
    let list: Vec<Value> = site
        .permissions
        .schemes
        .iter()
        .map(|s| scheme_json(site, &r.base, s, &expand))
        .collect();
    Ok(ok(json!({"permissionSchemes": list})))
}

fn scheme_by_id<'a>(site: &'a Site, r: &Req) -> Result<&'a PermissionScheme, Response> {
    r.p("schemeId")
        .parse()
        .ok()
        .and_then(|id| site.permissions.scheme(id))
        .ok_or_else(|| r.not_found("The permission scheme does not exist."))
}

pub fn permission_scheme_get(site: &Site, r: &Req) -> R {
    let s = scheme_by_id(site, r)?;
    Ok(ok(scheme_json(site, &r.base, s, &r.q_all("expand"))))
}

/// `DELETE /permissionscheme/{schemeId}`: 204; the projects that used it fall back to the
/// default scheme, which cannot itself be deleted.
pub fn permission_scheme_delete(site: &mut Site, r: &Req) -> R {
    let id = scheme_by_id(site, r)?.id;
    if id == DEFAULT_PERMISSION_SCHEME {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "The default permission scheme cannot be deleted.",
        ));
    }
    site.permissions.schemes.retain(|s| s.id != id);
    for settings in site.permissions.projects.values_mut() {
        if settings.permission_scheme == id {
            settings.permission_scheme = DEFAULT_PERMISSION_SCHEME;
        }
    }
    Ok(no_content())
}

pub fn permission_scheme_grants(site: &Site, r: &Req) -> R {
    let s = scheme_by_id(site, r)?;
    let grants: Vec<Value> = s
        .grants
        .iter()
        .map(|g| grant_json(site, &r.base, s.id, g))
        .collect();
    Ok(ok(
        json!({"permissions": grants, "expand": "user,group,permissions,projectRole,field,all"}),
    ))
}

/// `POST /permissionscheme`: a new scheme with its grants (`permissions`); names are unique.
pub fn permission_scheme_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() {
        return Err(jira_field_errors(
            json!({"name": "The name of the permission scheme must not be empty."}),
        ));
    }
    if site.permissions.schemes.iter().any(|s| s.name == name) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("A permission scheme with the name '{name}' already exists."),
        ));
    }
    let mut grants = vec![];
    for g in b["permissions"].as_array().into_iter().flatten() {
        let permission = g["permission"].as_str().unwrap_or("").to_string();
        if !PERMISSION_KEYS.contains(&permission.as_str()) {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("The permission '{permission}' is not valid."),
            ));
        }
        let holder = Holder::from_json(site, &g["holder"])
            .map_err(|e| r.err(StatusCode::BAD_REQUEST, &e))?;
        grants.push((permission, holder));
    }
    let id = site.alloc_id();
    let grants = grants
        .into_iter()
        .map(|(permission, holder)| Grant {
            id: site.alloc_id(),
            permission,
            holder,
        })
        .collect();
    let scheme = PermissionScheme {
        id,
        name,
        description: b["description"].as_str().unwrap_or("").into(),
        grants,
    };
    let v = scheme_json(site, &r.base, &scheme, &["permissions"]);
    site.permissions.schemes.push(scheme);
    Ok(created(v))
}

fn project_of<'a>(site: &'a Site, r: &Req) -> Result<&'a Project, Response> {
    let key = r
        .params
        .get("projectKeyOrId")
        .or(r.params.get("projectIdOrKey"))
        .cloned()
        .unwrap_or_default();
    site.project_by_ref(&key)
        .ok_or_else(|| r.not_found(&format!("No project could be found with key '{key}'.")))
}

pub fn project_permission_scheme(site: &Site, r: &Req) -> R {
    let p = project_of(site, r)?;
    let id = site.permissions.settings(p.id).permission_scheme;
    let s = site
        .permissions
        .scheme(id)
        .ok_or_else(|| r.not_found("The permission scheme does not exist."))?;
    Ok(ok(scheme_json(site, &r.base, s, &r.q_all("expand"))))
}

pub fn project_permission_scheme_assign(site: &mut Site, r: &Req) -> R {
    let pid = project_of(site, r)?.id;
    let b = r.json()?;
    let id = b["id"]
        .as_u64()
        .filter(|id| site.permissions.scheme(*id).is_some())
        .ok_or_else(|| r.not_found("The permission scheme does not exist."))?;
    site.permissions
        .projects
        .entry(pid)
        .or_default()
        .permission_scheme = id;
    let s = site.permissions.scheme(id).unwrap();
    Ok(ok(scheme_json(site, &r.base, s, &r.q_all("expand"))))
}

// ------------------------------------------------------------ issue security schemes

pub fn security_schemes(site: &Site, r: &Req) -> R {
    let list: Vec<Value> = site
        .permissions
        .security_schemes
        .iter()
        .map(|s| security_scheme_json(&r.base, s))
        .collect();
    Ok(ok(json!({"issueSecuritySchemes": list})))
}

fn security_scheme_by<'a>(
    site: &'a Site,
    r: &Req,
    param: &str,
) -> Result<&'a SecurityScheme, Response> {
    r.p(param)
        .parse()
        .ok()
        .and_then(|id| site.permissions.security_scheme(id))
        .ok_or_else(|| r.not_found("The issue security scheme does not exist."))
}

pub fn security_scheme_get(site: &Site, r: &Req) -> R {
    let s = security_scheme_by(site, r, "id")?;
    Ok(ok(security_scheme_json(&r.base, s)))
}

/// `GET /issuesecurityschemes/{id}/members`: every level's members (PageBean), or those of the
/// levels named by `issueSecurityLevelId`.
pub fn security_scheme_members(site: &Site, r: &Req) -> R {
    let s = security_scheme_by(site, r, "issueSecuritySchemeId")?;
    let only = r.q_all("issueSecurityLevelId");
    let mut items = vec![];
    for l in &s.levels {
        if !only.is_empty() && !only.contains(&l.id.to_string().as_str()) {
            continue;
        }
        for (id, h) in &l.members {
            let holder = h.to_json(site);
            items.push(json!({"id": id, "issueSecurityLevelId": l.id, "holder": holder}));
        }
    }
    Ok(ok(page_bean(r, items, 50, 50)?))
}

/// The level `{levelId}` of the scheme `{schemeId}`, to change it.
fn level_mut<'a>(site: &'a mut Site, r: &Req) -> Result<&'a mut SecurityLevel, Response> {
    let (scheme, level) = (
        r.p("schemeId").parse::<u64>(),
        r.p("levelId").parse::<u64>(),
    );
    site.permissions
        .security_schemes
        .iter_mut()
        .find(|s| scheme.as_ref().is_ok_and(|id| *id == s.id))
        .and_then(|s| {
            s.levels
                .iter_mut()
                .find(|l| level.as_ref().is_ok_and(|id| *id == l.id))
        })
        .ok_or_else(|| r.not_found("The issue security level does not exist."))
}

/// `PUT /issuesecurityschemes/{schemeId}/level/{levelId}/member`: adds members to a level.
pub fn security_level_members_add(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let mut holders = vec![];
    for m in b["members"].as_array().into_iter().flatten() {
        holders.push(Holder::from_json(site, m).map_err(|e| r.err(StatusCode::BAD_REQUEST, &e))?);
    }
    if holders.is_empty() {
        return Err(r.err(StatusCode::BAD_REQUEST, "Specify at least one member."));
    }
    let ids: Vec<u64> = holders.iter().map(|_| site.alloc_id()).collect();
    let level = level_mut(site, r)?;
    for holder in &holders {
        if level.members.iter().any(|(_, h)| h == holder) {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                "The member is already a member of the issue security level.",
            ));
        }
    }
    level.members.extend(ids.into_iter().zip(holders));
    Ok(no_content())
}

/// `DELETE /issuesecurityschemes/{schemeId}/level/{levelId}/member/{memberId}`.
pub fn security_level_member_remove(site: &mut Site, r: &Req) -> R {
    let member = r.p("memberId").parse::<u64>().ok();
    let level = level_mut(site, r)?;
    let before = level.members.len();
    level.members.retain(|(id, _)| Some(*id) != member);
    if level.members.len() == before {
        return Err(r.not_found("The issue security level member does not exist."));
    }
    Ok(no_content())
}

/// `POST /issuesecurityschemes`: a scheme with its levels and their members.
pub fn security_scheme_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() || name.len() > 60 {
        return Err(jira_field_errors(
            json!({"name": "The name must be between 1 and 60 characters."}),
        ));
    }
    if site
        .permissions
        .security_schemes
        .iter()
        .any(|s| s.name == name)
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("An issue security scheme with the name '{name}' already exists."),
        ));
    }
    let mut levels = vec![];
    for l in b["levels"].as_array().into_iter().flatten() {
        let lname = l["name"].as_str().unwrap_or("").trim().to_string();
        if lname.is_empty() {
            return Err(r.err(StatusCode::BAD_REQUEST, "A security level needs a name."));
        }
        let mut members = vec![];
        for m in l["members"].as_array().into_iter().flatten() {
            members
                .push(Holder::from_json(site, m).map_err(|e| r.err(StatusCode::BAD_REQUEST, &e))?);
        }
        levels.push((
            lname,
            l["description"].as_str().unwrap_or("").to_string(),
            l["isDefault"].as_bool().unwrap_or(false),
            members,
        ));
    }
    let id = site.alloc_id();
    let mut scheme = SecurityScheme {
        id,
        name,
        description: b["description"].as_str().unwrap_or("").into(),
        default_level: None,
        levels: vec![],
    };
    for (name, description, default, members) in levels {
        let lid = site.alloc_id();
        if default {
            scheme.default_level = Some(lid);
        }
        let members = members.into_iter().map(|h| (site.alloc_id(), h)).collect();
        scheme.levels.push(SecurityLevel {
            id: lid,
            name,
            description,
            members,
        });
    }
    site.permissions.security_schemes.push(scheme);
    Ok(created(json!({"id": id.to_string()})))
}

pub fn project_security_scheme(site: &Site, r: &Req) -> R {
    let p = project_of(site, r)?;
    let s = site
        .permissions
        .settings(p.id)
        .security_scheme
        .and_then(|s| site.permissions.security_scheme(s))
        .ok_or_else(|| r.not_found("No issue security scheme is associated with the project."))?;
    Ok(ok(security_scheme_json(&r.base, s)))
}

// ------------------------------------------------------------------ project settings

/// `PUT /project/{projectIdOrKey}`: name, description, lead, URL, default assignee, category and
/// the permission, notification and issue security schemes. (Jira refuses to change the
/// security scheme of a project whose issues use levels this way; the stand-in does too.)
pub fn project_update(site: &mut Site, r: &Req) -> R {
    let pid = project_of(site, r)?.id;
    let b = r.json()?;
    let mut errs = Map::new();
    let mut settings = site.permissions.settings(pid);
    let mut project = site.projects[&pid].clone();
    if let Some(n) = b["name"].as_str() {
        if site.projects.values().any(|p| p.name == n && p.id != pid) {
            errs.insert(
                "projectName".into(),
                json!("A project with that name already exists."),
            );
        }
        project.name = n.into();
    }
    if let Some(d) = b["description"].as_str() {
        project.description = d.into();
    }
    if let Some(l) = b["leadAccountId"].as_str() {
        match site.user(l) {
            Some(_) => project.lead = l.into(),
            None => {
                errs.insert(
                    "projectLead".into(),
                    json!("You must specify a valid project lead."),
                );
            }
        }
    }
    if let Some(u) = b["url"].as_str() {
        settings.url = u.into();
    }
    match b["assigneeType"].as_str() {
        Some(t @ ("PROJECT_LEAD" | "UNASSIGNED")) => settings.assignee_type = t.into(),
        Some(_) => {
            errs.insert(
                "assigneeType".into(),
                json!("The default assignee is not valid."),
            );
        }
        None => {}
    }
    if !b["categoryId"].is_null() {
        let id = b["categoryId"].as_u64().map(|n| n.to_string());
        match id.filter(|id| site.project_categories.iter().any(|c| &c.id == id)) {
            Some(c) => project.category = Some(c),
            None => {
                errs.insert(
                    "projectCategory".into(),
                    json!("The project category does not exist."),
                );
            }
        }
    }
    if let Some(id) = b["permissionScheme"].as_u64() {
        match site.permissions.scheme(id) {
            Some(_) => settings.permission_scheme = id,
            None => {
                errs.insert(
                    "permissionScheme".into(),
                    json!("The permission scheme does not exist."),
                );
            }
        }
    }
    if let Some(id) = b["issueSecurityScheme"].as_u64() {
        let in_use = site
            .issues
            .values()
            .any(|i| i.project_id == pid && i.security.is_some());
        if site.permissions.security_scheme(id).is_none() {
            errs.insert(
                "issueSecurityScheme".into(),
                json!("The issue security scheme does not exist."),
            );
        } else if in_use && settings.security_scheme != Some(id) {
            errs.insert("issueSecurityScheme".into(), json!("The project's issues use security levels: associate the scheme with PUT /issuesecurityschemes/project."));
        } else {
            settings.security_scheme = Some(id);
        }
    }
    if !errs.is_empty() {
        return Err(jira_field_errors(Value::Object(errs)));
    }
    site.projects.insert(pid, project);
    site.permissions.projects.insert(pid, settings);
    let p = &site.projects[&pid];
    Ok(ok(project_json(site, &r.base, p, true, &[])))
}

/// The settings `project_json` adds to a full project: `assigneeType` and `url`.
pub(super) fn add_settings(site: &Site, p: &Project, v: &mut Value) {
    let s = site.permissions.settings(p.id);
    v["assigneeType"] = json!(s.assignee_type);
    if !s.url.is_empty() {
        v["url"] = json!(s.url);
    }
}

/// What `POST /project` takes beyond the project itself: schemes, URL and default assignee.
/// Checked before the project is made; applied with [`apply_create_settings`].
pub(super) fn create_settings(
    site: &Site,
    b: &Value,
    errs: &mut Map<String, Value>,
) -> ProjectSettings {
    let mut s = ProjectSettings::default();
    if let Some(id) = b["permissionScheme"].as_u64() {
        match site.permissions.scheme(id) {
            Some(_) => s.permission_scheme = id,
            None => {
                errs.insert(
                    "permissionScheme".into(),
                    json!("The permission scheme does not exist."),
                );
            }
        }
    }
    if let Some(id) = b["issueSecurityScheme"].as_u64() {
        match site.permissions.security_scheme(id) {
            Some(_) => s.security_scheme = Some(id),
            None => {
                errs.insert(
                    "issueSecurityScheme".into(),
                    json!("The issue security scheme does not exist."),
                );
            }
        }
    }
    match b["assigneeType"].as_str() {
        Some(t @ ("PROJECT_LEAD" | "UNASSIGNED")) => s.assignee_type = t.into(),
        Some(_) => {
            errs.insert(
                "assigneeType".into(),
                json!("The default assignee is not valid."),
            );
        }
        None => {}
    }
    if let Some(u) = b["url"].as_str() {
        s.url = u.into();
    }
    s
}

// -------------------------------------------------------------------- role actors

fn role_of(site: &Site, r: &Req) -> Result<(u64, Named), Response> {
    let id: u64 = r
        .p("id")
        .parse()
        .map_err(|_| r.not_found("No project role with that id."))?;
    let role = site
        .roles
        .iter()
        .find(|x| x.id == id.to_string())
        .cloned()
        .ok_or_else(|| r.not_found("No project role with that id."))?;
    Ok((id, role))
}

/// The accounts a role-actors body names (`user`, or `categorisedActors` of
/// `atlassian-user-role-actor`); groups are refused (the stand-in keeps user actors only).
fn actor_accounts(
    site: &Site,
    r: &Req,
    users: &Value,
    groups: &[&Value],
) -> Result<Vec<String>, Response> {
    if groups
        .iter()
        .any(|g| g.as_array().is_some_and(|a| !a.is_empty()))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            "Group role actors are not supported by cairn-sitesim.",
        ));
    }
    let mut out = vec![];
    for a in users.as_array().into_iter().flatten() {
        let id = a.as_str().unwrap_or("");
        if site.user(id).is_none() {
            return Err(r.err(
                StatusCode::BAD_REQUEST,
                &format!("The user with account ID '{id}' does not exist."),
            ));
        }
        if !out.iter().any(|x| x == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// `PUT /project/{projectIdOrKey}/role/{id}`: the role's actors become those given.
pub fn project_role_set(site: &mut Site, r: &Req) -> R {
    let pid = project_of(site, r)?.id;
    let (id, _) = role_of(site, r)?;
    let b = r.json()?;
    let c = &b["categorisedActors"];
    let users = actor_accounts(
        site,
        r,
        &c["atlassian-user-role-actor"],
        &[
            &c["atlassian-group-role-actor"],
            &c["atlassian-group-role-actor-id"],
        ],
    )?;
    site.projects
        .get_mut(&pid)
        .unwrap()
        .role_actors
        .insert(id, users);
    super::project_role(site, r)
}

/// `POST /project/{projectIdOrKey}/role/{id}`: adds actors (users) to the role.
pub fn project_role_add(site: &mut Site, r: &Req) -> R {
    let pid = project_of(site, r)?.id;
    let (id, _) = role_of(site, r)?;
    let b = r.json()?;
    let users = actor_accounts(site, r, &b["user"], &[&b["group"], &b["groupId"]])?;
    let actors = site
        .projects
        .get_mut(&pid)
        .unwrap()
        .role_actors
        .entry(id)
        .or_default();
    for u in users {
        if !actors.contains(&u) {
            actors.push(u);
        }
    }
    super::project_role(site, r)
}

/// `POST /projectCategory`: names are unique.
pub fn project_category_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() {
        return Err(jira_field_errors(json!({"name": "Please specify a name."})));
    }
    if site.project_categories.iter().any(|c| c.name == name) {
        return Err(jira_field_errors(
            json!({"name": "The project category name already exists."}),
        ));
    }
    let c = Named {
        id: site.alloc_id().to_string(),
        name,
        description: b["description"].as_str().unwrap_or("").into(),
    };
    site.project_categories.push(c.clone());
    Ok(created(project_category_json(&r.base, &c)))
}

// ------------------------------------------------------------------------ the gate

/// The permission a write to an issue needs, by route.
fn issue_write_permission(route: &Route) -> Option<&'static str> {
    let p = route.path;
    Some(match (route.method.as_str(), p) {
        ("PUT", "/rest/api/3/issue/{issueIdOrKey}") => "EDIT_ISSUES",
        ("DELETE", _) => "DELETE_ISSUES",
        (_, _) if p.ends_with("/transitions") => "TRANSITION_ISSUES",
        (_, _) if p.ends_with("/comment") => "ADD_COMMENTS",
        (_, _) if p.ends_with("/worklog") => "WORK_ON_ISSUES",
        (_, _) if p.ends_with("/attachments") => "CREATE_ATTACHMENTS",
        (_, _) if p.ends_with("/remotelink") => "LINK_ISSUES",
        (_, _) if p.ends_with("/watchers") => "MANAGE_WATCHERS",
        (_, _) if p.contains("/properties/") => "EDIT_ISSUES",
        _ => return None,
    })
}

fn forbidden(r: &Req, permission: &str) -> Response {
    r.err(
        StatusCode::FORBIDDEN,
        &format!("You do not have permission to perform this operation ({permission})."),
    )
}

const HIDDEN: &str = "Issue does not exist or you do not have permission to see it.";

/// Jira's checks before an operation, for the calling account: an issue it may not see is 404
/// (as if it did not exist), a project it may not browse too, and a write the project's
/// permission scheme does not grant it is 403. Search results and project listings are
/// filtered by their handlers ([`Viewer`]).
pub fn gate(site: &Site, route: &Route, r: &Req) -> Result<(), Response> {
    if r.api != Api::Jira && r.api != Api::Agile {
        return Ok(());
    }
    let viewer = Viewer::new(site, &r.me);
    if let Some(key) = r.params.get("issueIdOrKey") {
        if let Some(issue) = site.issue_by_ref(key) {
            if !viewer.sees(site, issue) {
                return Err(r.not_found(HIDDEN));
            }
            if route.is_write()
                && let Some(perm) = issue_write_permission(route)
                && let Some(p) = site.projects.get(&issue.project_id)
                && !viewer.may(site, p, Some(issue), perm)
            {
                return Err(forbidden(r, perm));
            }
        }
        return Ok(());
    }
    let project_key = r
        .params
        .get("projectIdOrKey")
        .or(r.params.get("projectKeyOrId"));
    if let Some(p) = project_key.and_then(|k| site.project_by_ref(k))
        && !viewer.browses(site, p)
    {
        return Err(r.not_found(&format!(
            "No project could be found with key '{}'.",
            project_key.map(String::as_str).unwrap_or_default()
        )));
    }
    let attachment = match route.path {
        "/rest/api/3/attachment/{id}" | "/rest/api/3/attachment/content/{id}" => r
            .p("id")
            .parse::<u64>()
            .ok()
            .and_then(|id| site.attachments.get(&id)),
        _ => None,
    };
    if let Some(a) = attachment
        && site
            .issues
            .get(&a.issue_id)
            .is_some_and(|i| !viewer.sees(site, i))
    {
        return Err(r.not_found("The attachment with id does not exist."));
    }
    match (route.method.as_str(), route.path) {
        ("POST", "/rest/api/3/issue") => {
            let b = r.json()?;
            let pref = &b["fields"]["project"];
            let key = pref["key"]
                .as_str()
                .or(pref["id"].as_str())
                .map(String::from)
                .or_else(|| pref["id"].as_u64().map(|n| n.to_string()));
            if let Some(p) = key.and_then(|k| site.project_by_ref(&k)) {
                if !viewer.may(site, p, None, "CREATE_ISSUES") {
                    return Err(forbidden(r, "CREATE_ISSUES"));
                }
                if !b["fields"]["security"].is_null()
                    && !viewer.may(site, p, None, "SET_ISSUE_SECURITY")
                {
                    return Err(forbidden(r, "SET_ISSUE_SECURITY"));
                }
            }
        }
        ("POST", "/rest/api/3/issueLink") => {
            let b = r.json()?;
            for end in ["inwardIssue", "outwardIssue"] {
                let rf = b[end]["key"]
                    .as_str()
                    .or(b[end]["id"].as_str())
                    .unwrap_or("");
                if let Some(i) = site.issue_by_ref(rf) {
                    if !viewer.sees(site, i) {
                        return Err(r.not_found(HIDDEN));
                    }
                    if let Some(p) = site.projects.get(&i.project_id)
                        && !viewer.may(site, p, Some(i), "LINK_ISSUES")
                    {
                        return Err(forbidden(r, "LINK_ISSUES"));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether the calling account sees the project at all (project listings).
pub(super) fn browses(site: &Site, r: &Req, p: &Project) -> bool {
    Viewer::new(site, &r.me).browses(site, p)
}
