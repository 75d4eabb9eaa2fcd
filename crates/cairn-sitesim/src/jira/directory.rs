//! The site and its directory: server info, the caller, issue types, fields and their options,
//! statuses, priorities, resolutions, link types, roles, users and groups; and the directory
//! writes a restore may need for its setup.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::http::*;
use crate::model::*;

use super::R;
use super::render::{
    fields_list, issuetype_json, link_type_json, priority_json, project_category_json,
    resolution_json, status_json, user_details, user_full,
};

pub fn tenant_info(site: &Site, _r: &Req) -> R {
    Ok(ok(json!({"cloudId": site.cloud_id})))
}

pub fn server_info(site: &Site, r: &Req) -> R {
    Ok(ok(json!({
        "baseUrl": r.base, "displayUrl": r.base, "displayUrlConfluence": format!("{}/wiki", r.base),
        "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
        "buildNumber": 100_287, "buildDate": "2025-11-01T00:00:00.000+0000",
        "serverTime": jira_ts(&Utc::now()), "scmInfo": "sim", "serverTitle": format!("{} (cairn-sitesim)", site.name),
    })))
}

pub fn myself(site: &Site, r: &Req) -> R {
    let mut v = user_full(site, &r.base, &r.me);
    v["groups"] = json!({"size": 0, "items": []});
    v["applicationRoles"] = json!({"size": 0, "items": []});
    v["expand"] = json!("groups,applicationRoles");
    Ok(ok(v))
}
pub fn issuetypes(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.issue_types
            .iter()
            .map(|t| issuetype_json(&r.base, t))
            .collect(),
    )))
}

pub fn fields(site: &Site, _r: &Req) -> R {
    Ok(ok(Value::Array(fields_list(site))))
}

pub fn statuses(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.statuses
            .iter()
            .map(|s| status_json(&r.base, s))
            .collect(),
    )))
}

pub fn priorities(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.priorities
            .iter()
            .map(|p| priority_json(&r.base, p))
            .collect(),
    )))
}

pub fn resolutions(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.resolutions
            .iter()
            .map(|x| resolution_json(&r.base, x))
            .collect(),
    )))
}

/// `GET /resolution/search`: the current, paged list (PageBean of `ResolutionJsonBean`), with
/// `id` filters; `onlyDefault` gives none, as the site has no default resolution.
pub fn resolution_search(site: &Site, r: &Req) -> R {
    let ids: Vec<&str> = r.q_all("id");
    let only_default = r.q("onlyDefault") == Some("true");
    let items = site
        .resolutions
        .iter()
        .filter(|x| !only_default && (ids.is_empty() || ids.contains(&x.id.as_str())))
        .map(|x| {
            let mut v = resolution_json(&r.base, x);
            v["default"] = json!(false);
            v
        })
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn project_categories(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.project_categories
            .iter()
            .map(|c| project_category_json(&r.base, c))
            .collect(),
    )))
}

pub fn project_category(site: &Site, r: &Req) -> R {
    let c = site
        .project_categories
        .iter()
        .find(|c| c.id == r.p("id"))
        .ok_or_else(|| {
            r.not_found(&format!(
                "No project category with the id {} was found.",
                r.p("id")
            ))
        })?;
    Ok(ok(project_category_json(&r.base, c)))
}

pub fn link_types(site: &Site, r: &Req) -> R {
    Ok(ok(
        json!({"issueLinkTypes": site.link_types.iter().map(|t| link_type_json(&r.base, t)).collect::<Vec<_>>()}),
    ))
}

pub fn roles(site: &Site, r: &Req) -> R {
    Ok(ok(Value::Array(
        site.roles
            .iter()
            .map(|x| json!({"self": format!("{}/rest/api/3/role/{}", r.base, x.id), "name": x.name, "id": x.id.parse::<u64>().unwrap_or(0), "description": x.description}))
            .collect(),
    )))
}

pub fn users_search(site: &Site, r: &Req) -> R {
    let items = site
        .users
        .iter()
        .map(|u| user_full(site, &r.base, &u.account_id))
        .collect();
    Ok(ok(slice(r, items, 50, 1000)?))
}

pub fn user_get(site: &Site, r: &Req) -> R {
    let id = r.q("accountId").unwrap_or("");
    if site.user(id).is_none() {
        return Err(
            r.not_found("Specified user does not exist or you do not have required permissions")
        );
    }
    Ok(ok(user_full(site, &r.base, id)))
}

pub fn group_bulk(site: &Site, r: &Req) -> R {
    let names = r.q_all("groupName");
    let ids = r.q_all("groupId");
    let items = site
        .groups
        .iter()
        .filter(|g| names.is_empty() || names.contains(&g.name.as_str()))
        .filter(|g| ids.is_empty() || ids.contains(&g.id.as_str()))
        .map(|g| json!({"name": g.name, "groupId": g.id}))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn group_member(site: &Site, r: &Req) -> R {
    let g = site
        .groups
        .iter()
        .find(|g| {
            Some(g.name.as_str()) == r.q("groupname") || Some(g.id.as_str()) == r.q("groupId")
        })
        .ok_or_else(|| r.not_found("Specified group does not exist."))?;
    let inactive = r.q_bool("includeInactiveUsers");
    let items = g
        .members
        .iter()
        .filter(|m| inactive || site.user(m).is_some_and(|u| u.active))
        .map(|m| user_details(site, &r.base, m))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}
// ------------------------------------------------- directory writes (a restore's setup)

fn group_json(base: &str, g: &Group) -> Value {
    json!({
        "name": g.name, "groupId": g.id, "self": format!("{base}/rest/api/3/group?groupId={}", g.id),
        "users": {"size": g.members.len(), "items": [], "max-results": 50, "start-index": 0, "end-index": 0},
        "expand": "users",
    })
}

/// `POST /group`.
pub fn group_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or("").trim().to_string();
    if name.is_empty() {
        return Err(r.err(StatusCode::BAD_REQUEST, "You must specify a group name."));
    }
    if site
        .groups
        .iter()
        .any(|g| g.name.eq_ignore_ascii_case(&name))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("A group with the name '{name}' already exists."),
        ));
    }
    let g = Group {
        id: uuid_like(&format!("{}:group:{name}", site.cloud_id)),
        name,
        members: vec![],
    };
    let v = group_json(&r.base, &g);
    site.groups.push(g);
    Ok(created(v))
}

/// `POST /group/user?groupname=|groupId=` with `{"accountId"}`.
pub fn group_user_add(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let account = b["accountId"].as_str().unwrap_or("").to_string();
    if site.user(&account).is_none() {
        return Err(jira_field_errors(
            json!({"accountId": "The user does not exist."}),
        ));
    }
    let g = site
        .groups
        .iter_mut()
        .find(|g| {
            Some(g.name.as_str()) == r.q("groupname") || Some(g.id.as_str()) == r.q("groupId")
        })
        .ok_or_else(|| r.not_found("Specified group does not exist."))?;
    if g.members.contains(&account) {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("Cannot add user. User is already a member of '{}'.", g.name),
        ));
    }
    g.members.push(account);
    Ok(created(group_json(&r.base, g)))
}

/// `POST /issueLinkType`.
pub fn link_type_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let field = |k: &str| b[k].as_str().unwrap_or("").trim().to_string();
    let (name, inward, outward) = (field("name"), field("inward"), field("outward"));
    let mut errs = Map::new();
    for (k, v) in [("name", &name), ("inward", &inward), ("outward", &outward)] {
        if v.is_empty() {
            errs.insert(
                k.into(),
                json!(format!("The issue link type {k} is required.")),
            );
        }
    }
    if !errs.is_empty() {
        return Err(jira_field_errors(Value::Object(errs)));
    }
    if site
        .link_types
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(&name))
    {
        return Err(r.err(
            StatusCode::BAD_REQUEST,
            &format!("The issue link type '{name}' already exists."),
        ));
    }
    let id = site
        .link_types
        .iter()
        .filter_map(|t| t.id.parse::<u64>().ok())
        .max()
        .unwrap_or(9_999)
        + 1;
    let t = LinkType {
        id: id.to_string(),
        name,
        inward,
        outward,
    };
    let v = link_type_json(&r.base, &t);
    site.link_types.push(t);
    Ok(created(v))
}
