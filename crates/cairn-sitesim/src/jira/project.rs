//! Projects, their components, versions and roles: read and created.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::http::*;
use crate::model::*;

use super::R;
use super::render::{component_json, project_json, version_json};

pub fn project_search(site: &Site, r: &Req) -> R {
    let expand: Vec<&str> = r.q_all("expand");
    let keys: Vec<&str> = r.q_all("keys");
    let ids: Vec<&str> = r.q_all("id");
    let query = r.q("query").map(|q| q.to_lowercase());
    let mut ps: Vec<&Project> = site
        .projects
        .values()
        .filter(|p| keys.is_empty() || keys.iter().any(|k| k.eq_ignore_ascii_case(&p.key)))
        .filter(|p| ids.is_empty() || ids.contains(&p.id.to_string().as_str()))
        .filter(|p| super::permissions::browses(site, r, p))
        .filter(|p| {
            query.as_ref().is_none_or(|q| {
                p.key.to_lowercase().contains(q) || p.name.to_lowercase().contains(q)
            })
        })
        .collect();
    match r.q("orderBy").unwrap_or("key") {
        "name" | "+name" => ps.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        "-name" => ps.sort_by(|a, b| b.name.cmp(&a.name).then(a.id.cmp(&b.id))),
        "-key" => ps.sort_by(|a, b| b.key.cmp(&a.key)),
        _ => ps.sort_by(|a, b| a.key.cmp(&b.key)),
    }
    let items = ps
        .into_iter()
        .map(|p| project_json(site, &r.base, p, false, &expand))
        .collect();
    Ok(ok(page_bean(r, items, 50, 100)?))
}

pub fn project_all(site: &Site, r: &Req) -> R {
    let expand: Vec<&str> = r.q_all("expand");
    Ok(ok(Value::Array(
        site.projects
            .values()
            .filter(|p| super::permissions::browses(site, r, p))
            .map(|p| project_json(site, &r.base, p, false, &expand))
            .collect(),
    )))
}

fn project<'a>(site: &'a Site, r: &Req) -> Result<&'a Project, Response> {
    site.project_by_ref(r.p("projectIdOrKey")).ok_or_else(|| {
        r.not_found(&format!(
            "No project could be found with key '{}'.",
            r.p("projectIdOrKey")
        ))
    })
}

pub fn project_get(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    Ok(ok(project_json(site, &r.base, p, true, &r.q_all("expand"))))
}

pub fn project_components(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    Ok(ok(Value::Array(
        p.components
            .iter()
            .map(|c| component_json(&r.base, p, c, site))
            .collect(),
    )))
}

pub fn project_version_page(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    let items = p
        .versions
        .iter()
        .map(|v| version_json(&r.base, p, v))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn project_versions(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    Ok(ok(Value::Array(
        p.versions
            .iter()
            .map(|v| version_json(&r.base, p, v))
            .collect(),
    )))
}

pub fn project_roles(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    let m: Map<String, Value> = site
        .roles
        .iter()
        .map(|x| {
            (
                x.name.clone(),
                json!(format!(
                    "{}/rest/api/3/project/{}/role/{}",
                    r.base, p.id, x.id
                )),
            )
        })
        .collect();
    Ok(ok(Value::Object(m)))
}

pub fn project_role(site: &Site, r: &Req) -> R {
    let p = project(site, r)?;
    let id: u64 = r
        .p("id")
        .parse()
        .map_err(|_| r.not_found("No project role with that id."))?;
    let role = site
        .roles
        .iter()
        .find(|x| x.id == id.to_string())
        .ok_or_else(|| r.not_found("No project role with that id."))?;
    let actors: Vec<Value> = p
        .role_actors
        .get(&id)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, a)| {
            let u = site.user(a);
            json!({"id": n as u64 + 1, "displayName": u.map(|u| u.display_name.clone()).unwrap_or_default(), "type": "atlassian-user-role-actor", "actorUser": {"accountId": a}})
        })
        .collect();
    Ok(ok(
        json!({"self": format!("{}/rest/api/3/project/{}/role/{}", r.base, p.id, id), "name": role.name, "id": id, "description": role.description, "actors": actors}),
    ))
}
pub fn project_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let key = b["key"].as_str().unwrap_or("").to_string();
    let mut errs = Map::new();
    let valid = key.len() >= 2
        && key.len() <= 10
        && key.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !valid {
        errs.insert("projectKey".into(), json!("Project keys must start with an uppercase letter, followed by one or more uppercase alphanumeric characters."));
    } else if site.project_by_ref(&key).is_some() {
        errs.insert(
            "projectKey".into(),
            json!(format!("Project '{key}' uses this project key.")),
        );
    }
    let name = b["name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        errs.insert(
            "projectName".into(),
            json!("You must specify a valid project name."),
        );
    } else if site.projects.values().any(|p| p.name == name) {
        errs.insert(
            "projectName".into(),
            json!("A project with that name already exists."),
        );
    }
    let lead = b["leadAccountId"]
        .as_str()
        .filter(|a| site.user(a).is_some())
        .map(String::from);
    if lead.is_none() {
        errs.insert(
            "projectLead".into(),
            json!("You must specify a valid project lead."),
        );
    }
    let category = match &b["categoryId"] {
        Value::Null => None,
        c => {
            let id = c.as_u64().map(|n| n.to_string());
            let found = id.filter(|id| site.project_categories.iter().any(|x| &x.id == id));
            if found.is_none() {
                errs.insert(
                    "projectCategory".into(),
                    json!("The project category does not exist."),
                );
            }
            found
        }
    };
    let settings = super::permissions::create_settings(site, &b, &mut errs);
    if !errs.is_empty() {
        return Err(jira_field_errors(Value::Object(errs)));
    }
    let id = site.alloc_id();
    site.permissions.projects.insert(id, settings);
    site.projects.insert(
        id,
        Project {
            id,
            key: key.clone(),
            name,
            description: b["description"].as_str().unwrap_or("").into(),
            lead: lead.unwrap(),
            type_key: b["projectTypeKey"].as_str().unwrap_or("software").into(),
            components: vec![],
            versions: vec![],
            issue_counter: 0,
            role_actors: BTreeMap::new(),
            category,
        },
    );
    Ok(created(
        json!({"self": format!("{}/rest/api/3/project/{id}", r.base), "id": id, "key": key}),
    ))
}

pub fn component_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let pid = site
        .project_by_ref(b["project"].as_str().unwrap_or(""))
        .map(|p| p.id)
        .ok_or_else(|| jira_field_errors(json!({"project": "The project does not exist."})))?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            jira_field_errors(json!({"name": "The component name specified is invalid."}))
        })?
        .to_string();
    if site.projects[&pid]
        .components
        .iter()
        .any(|c| c.name == name)
    {
        return Err(jira_field_errors(
            json!({"name": "A component with the name already exists in this project."}),
        ));
    }
    let id = site.alloc_id();
    let c = Component {
        id: id.to_string(),
        name,
        description: b["description"].as_str().unwrap_or("").into(),
        lead: b["leadAccountId"].as_str().map(String::from),
    };
    site.projects
        .get_mut(&pid)
        .unwrap()
        .components
        .push(c.clone());
    let p = &site.projects[&pid];
    Ok(created(component_json(&r.base, p, &c, site)))
}

pub fn version_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let pref = b["projectId"]
        .as_u64()
        .map(|n| n.to_string())
        .or_else(|| b["project"].as_str().map(String::from))
        .unwrap_or_default();
    let pid = site.project_by_ref(&pref).map(|p| p.id).ok_or_else(|| {
        jira_field_errors(json!({"projectId": "Project must be specified to create a version."}))
    })?;
    let name = b["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| jira_field_errors(json!({"name": "You must specify a valid version name"})))?
        .to_string();
    if site.projects[&pid].versions.iter().any(|v| v.name == name) {
        return Err(jira_field_errors(
            json!({"name": "A version with this name already exists in this project."}),
        ));
    }
    let id = site.alloc_id();
    let v = Version {
        id: id.to_string(),
        name,
        description: b["description"].as_str().unwrap_or("").into(),
        released: b["released"].as_bool().unwrap_or(false),
        archived: b["archived"].as_bool().unwrap_or(false),
        release_date: b["releaseDate"].as_str().map(String::from),
    };
    site.projects
        .get_mut(&pid)
        .unwrap()
        .versions
        .push(v.clone());
    let p = &site.projects[&pid];
    Ok(created(version_json(&r.base, p, &v)))
}
