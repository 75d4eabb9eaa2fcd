//! Statuses, workflows, workflow schemes and issue type schemes over the v3 API, read and
//! write (the data and its rules are in `workflows.rs`). Creating validates as Jira does:
//! duplicate names and unknown references are refused with 400, app rules (`connect:`,
//! `forge:`) with 400 as no app is installed; a scheme is assigned to a project only while the
//! project has no issues (workflow schemes) or none of another issue type (issue type schemes),
//! and the assignment answers 204 at once (Jira's reference operation does too). Permission
//! schemes: `jira/permissions.rs`.

use std::collections::{BTreeMap, HashSet};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::http::*;
use crate::model::{Site, Status, uuid_like};
use crate::workflows::*;

type R = Result<Response, Response>;

fn category(c: u32) -> &'static str {
    match c {
        2 => "TODO",
        4 => "IN_PROGRESS",
        _ => "DONE",
    }
}

fn category_number(c: &str) -> Option<u32> {
    match c {
        "TODO" => Some(2),
        "IN_PROGRESS" => Some(4),
        "DONE" => Some(3),
        _ => None,
    }
}

fn bad(r: &Req, msg: &str) -> Response {
    r.err(StatusCode::BAD_REQUEST, msg)
}

fn status_json(s: &Status) -> Value {
    json!({"id": s.id, "name": s.name, "description": "", "statusCategory": category(s.category), "scope": {"type": "GLOBAL"}})
}

fn workflow_status_json(s: &Status) -> Value {
    let mut v = status_json(s);
    v["statusReference"] = json!(s.id);
    v
}

fn rules_json(rules: &[Rule]) -> Value {
    Value::Array(rules.iter().map(Rule::json).collect())
}

fn transition_json(t: &Transition) -> Value {
    let mut v = json!({
        "id": t.id, "name": t.name, "description": t.description, "type": t.kind.as_str(),
        "toStatusReference": t.to,
        "links": t.from.iter().map(|f| json!({"fromStatusReference": f, "fromPort": 0, "toPort": 0})).collect::<Vec<_>>(),
        "actions": rules_json(&t.actions), "validators": rules_json(&t.validators), "triggers": [], "properties": {},
    });
    if !t.conditions.is_empty() {
        v["conditions"] = json!({"operation": "ALL", "conditions": rules_json(&t.conditions), "conditionGroups": []});
    }
    if let Some(screen) = &t.screen {
        v["transitionScreen"] =
            json!({"ruleKey": "system:transition-screen", "parameters": {"screenId": screen}});
    }
    v
}

fn workflow_json(w: &Workflow, with_transitions: bool) -> Value {
    let mut v = json!({
        "id": w.id, "name": w.name, "description": w.description,
        "scope": {"type": "GLOBAL"}, "isEditable": true,
        "version": {"id": uuid_like(&format!("{}/{}", w.id, w.version)), "versionNumber": w.version},
        "statuses": w.statuses.iter().map(|s| json!({"statusReference": s, "deprecated": false, "properties": {}})).collect::<Vec<_>>(),
    });
    if with_transitions {
        v["transitions"] = Value::Array(w.transitions.iter().map(transition_json).collect());
    }
    v
}

pub fn statuses_search(site: &Site, r: &Req) -> R {
    let text = r.q("searchString").unwrap_or_default().to_lowercase();
    let cat = r.q("statusCategory").and_then(category_number);
    let items = site
        .statuses
        .iter()
        .filter(|s| s.name.to_lowercase().contains(&text) && cat.is_none_or(|c| c == s.category))
        .map(status_json)
        .collect();
    Ok(ok(page_bean(r, items, 200, 200)?))
}

/// The statuses named in the body's `statuses`, checked as Jira does (name and category; names
/// unique, ignoring case): their (name, category).
fn new_statuses(site: &Site, r: &Req, list: &Value) -> Result<Vec<(String, u32)>, Response> {
    let mut out: Vec<(String, u32)> = vec![];
    for s in list.as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or_default().trim().to_string();
        if name.is_empty() {
            return Err(bad(r, "A status name is required."));
        }
        let Some(c) = s["statusCategory"].as_str().and_then(category_number) else {
            return Err(bad(
                r,
                &format!("The status category of '{name}' is not valid."),
            ));
        };
        let lower = name.to_lowercase();
        if site.statuses.iter().any(|x| x.name.to_lowercase() == lower)
            || out.iter().any(|(n, _)| n.to_lowercase() == lower)
        {
            return Err(bad(
                r,
                &format!("A status with the name '{name}' already exists."),
            ));
        }
        out.push((name, c));
    }
    Ok(out)
}

fn add_status(site: &mut Site, name: String, category: u32) -> Status {
    let id = next_numeric_id(site.statuses.iter().map(|s| s.id.as_str()), 10_000).to_string();
    let s = Status { id, name, category };
    site.statuses.push(s.clone());
    s
}

fn global_scope(r: &Req, scope: &Value) -> Result<(), Response> {
    match scope["type"].as_str() {
        None | Some("GLOBAL") => Ok(()),
        // Project-scoped statuses and workflows are team-managed projects'; the stand-in's
        // projects are company-managed.
        Some(_) => Err(bad(
            r,
            "Only the GLOBAL scope is supported for company-managed projects.",
        )),
    }
}

pub fn statuses_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    global_scope(r, &b["scope"])?;
    let wanted = new_statuses(site, r, &b["statuses"])?;
    let made: Vec<Value> = wanted
        .into_iter()
        .map(|(name, c)| status_json(&add_status(site, name, c)))
        .collect();
    Ok(ok(Value::Array(made)))
}

pub fn workflows_search(site: &Site, r: &Req) -> R {
    let text = r.q("queryString").unwrap_or_default().to_lowercase();
    let with_transitions = r.q_all("expand").contains(&"values.transitions");
    let projects: Vec<u64> = site.projects.keys().copied().collect();
    let active = r.q("isActive").map(|v| v.eq_ignore_ascii_case("true"));
    let chosen: Vec<&Workflow> = site
        .flows
        .workflows
        .iter()
        .filter(|w| w.name.to_lowercase().contains(&text))
        .filter(|w| {
            active.is_none_or(|a| {
                site.flows
                    .workflow_in_use(&w.name, projects.iter().copied())
                    == a
            })
        })
        .collect();
    let mut v = page_bean(
        r,
        chosen
            .iter()
            .map(|w| workflow_json(w, with_transitions))
            .collect(),
        50,
        200,
    )?;
    // The statuses the page's workflows use.
    let page: HashSet<&str> = v["values"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["statuses"].as_array().into_iter().flatten())
        .filter_map(|s| s["statusReference"].as_str())
        .collect();
    v["statuses"] = site
        .statuses
        .iter()
        .filter(|s| page.contains(s.id.as_str()))
        .map(workflow_status_json)
        .collect();
    Ok(ok(v))
}

fn rules(r: &Req, v: &Value, what: &str) -> Result<Vec<Rule>, Response> {
    let mut out = vec![];
    for x in v.as_array().into_iter().flatten() {
        let rule = Rule {
            id: x["id"].as_str().unwrap_or_default().to_string(),
            rule_key: x["ruleKey"].as_str().unwrap_or_default().to_string(),
            parameters: if x["parameters"].is_object() {
                x["parameters"].clone()
            } else {
                json!({})
            },
        };
        if rule.rule_key.is_empty() {
            return Err(bad(r, &format!("A {what} rule needs a ruleKey.")));
        }
        if !rule.is_system() {
            return Err(bad(
                r,
                &format!(
                    "The {what} rule '{}' belongs to an app that is not installed on this site.",
                    rule.rule_key
                ),
            ));
        }
        out.push(rule);
    }
    Ok(out)
}

/// One workflow of a create request, its status references resolved to status ids.
fn workflow_from(
    r: &Req,
    w: &Value,
    refs: &BTreeMap<String, String>,
) -> Result<Workflow, Response> {
    let name = w["name"].as_str().unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(bad(r, "A workflow name is required."));
    }
    let status = |reference: &str| {
        refs.get(reference).cloned().ok_or_else(|| {
            bad(r, &format!("The status reference '{reference}' of workflow '{name}' is not among the request's statuses."))
        })
    };
    let mut statuses = vec![];
    for s in w["statuses"].as_array().into_iter().flatten() {
        statuses.push(status(s["statusReference"].as_str().unwrap_or_default())?);
    }
    let mut transitions: Vec<Transition> = vec![];
    for t in w["transitions"].as_array().into_iter().flatten() {
        let tname = t["name"].as_str().unwrap_or_default().to_string();
        let Some(kind) = t["type"].as_str().and_then(TransitionKind::parse) else {
            return Err(bad(
                r,
                &format!(
                    "Transition '{tname}' of workflow '{name}' needs a type: INITIAL, GLOBAL or DIRECTED."
                ),
            ));
        };
        let in_workflow = |id: String| {
            if statuses.contains(&id) {
                Ok(id)
            } else {
                Err(bad(
                    r,
                    &format!(
                        "Transition '{tname}' of workflow '{name}' uses a status the workflow does not have."
                    ),
                ))
            }
        };
        let to = in_workflow(status(t["toStatusReference"].as_str().unwrap_or_default())?)?;
        let mut from = vec![];
        for l in t["links"].as_array().into_iter().flatten() {
            if let Some(f) = l["fromStatusReference"].as_str() {
                from.push(in_workflow(status(f)?)?);
            }
        }
        if kind == TransitionKind::Directed && from.is_empty() {
            return Err(bad(
                r,
                &format!(
                    "Directed transition '{tname}' of workflow '{name}' needs a status to leave from."
                ),
            ));
        }
        let id = match t["id"].as_str() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => (transitions.len() * 10 + 1).to_string(),
        };
        if tname.is_empty() || transitions.iter().any(|x| x.id == id) {
            return Err(bad(
                r,
                &format!(
                    "Every transition of workflow '{name}' needs a name and an id of its own."
                ),
            ));
        }
        let screen = t["transitionScreen"]["parameters"]["screenId"]
            .as_str()
            .map(String::from)
            .or_else(|| {
                t["transitionScreen"]["parameters"]["screenId"]
                    .as_u64()
                    .map(|n| n.to_string())
            });
        let mut conditions = rules(r, &t["conditions"]["conditions"], "condition")?;
        for g in t["conditions"]["conditionGroups"]
            .as_array()
            .into_iter()
            .flatten()
        {
            conditions.extend(rules(r, &g["conditions"], "condition")?);
        }
        transitions.push(Transition {
            id,
            name: tname,
            description: t["description"].as_str().unwrap_or_default().to_string(),
            kind,
            from,
            to,
            screen,
            conditions,
            validators: rules(r, &t["validators"], "validator")?,
            actions: rules(r, &t["actions"], "post function")?,
        });
    }
    if transitions
        .iter()
        .filter(|t| t.kind == TransitionKind::Initial)
        .count()
        != 1
    {
        return Err(bad(
            r,
            &format!("Workflow '{name}' needs exactly one initial transition."),
        ));
    }
    Ok(Workflow {
        id: uuid_like(&format!("workflow/{name}")),
        description: w["description"].as_str().unwrap_or_default().to_string(),
        name,
        statuses,
        transitions,
        version: 1,
    })
}

/// `POST /workflows/create`: the request's statuses (an `id` names an existing status; without
/// one the status is created) and its workflows, all checked before anything is written.
pub fn workflows_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    global_scope(r, &b["scope"])?;
    let mut refs = BTreeMap::new();
    let mut to_create = vec![];
    for s in b["statuses"].as_array().into_iter().flatten() {
        let reference = s["statusReference"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reference.is_empty() {
            return Err(bad(r, "Every status needs a statusReference."));
        }
        match s["id"].as_str().filter(|i| !i.is_empty()) {
            Some(id) => {
                if !site.statuses.iter().any(|x| x.id == id) {
                    return Err(bad(r, &format!("The status {id} does not exist.")));
                }
                refs.insert(reference, id.to_string());
            }
            None => to_create.push((reference, s.clone())),
        }
    }
    let list = Value::Array(to_create.iter().map(|(_, s)| s.clone()).collect());
    let new = new_statuses(site, r, &list)?;
    // Statuses to be created get placeholder ids until the workflows are known to be valid.
    for (i, (reference, _)) in to_create.iter().enumerate() {
        refs.insert(reference.clone(), format!("new:{i}"));
    }
    let mut workflows = vec![];
    for w in b["workflows"].as_array().into_iter().flatten() {
        let wf = workflow_from(r, w, &refs)?;
        if site.flows.workflow(&wf.name).is_some()
            || workflows.iter().any(|x: &Workflow| x.name == wf.name)
        {
            return Err(bad(
                r,
                &format!("A workflow with the name '{}' already exists.", wf.name),
            ));
        }
        workflows.push(wf);
    }
    let mut made = vec![];
    let mut real = BTreeMap::new();
    for (i, (name, c)) in new.into_iter().enumerate() {
        let s = add_status(site, name, c);
        real.insert(format!("new:{i}"), s.id.clone());
        made.push(s);
    }
    let fix = |id: &mut String| {
        if let Some(x) = real.get(id.as_str()) {
            *id = x.clone();
        }
    };
    let mut out = vec![];
    for mut w in workflows {
        w.statuses.iter_mut().for_each(fix);
        for t in &mut w.transitions {
            fix(&mut t.to);
            t.from.iter_mut().for_each(fix);
        }
        out.push(workflow_json(&w, true));
        site.flows.workflows.push(w);
    }
    let statuses: Vec<Value> = refs
        .iter()
        .filter_map(|(reference, id)| {
            let id = real.get(id).unwrap_or(id);
            let s = site.statuses.iter().find(|s| &s.id == id)?;
            let mut v = workflow_status_json(s);
            v["statusReference"] = json!(reference);
            Some(v)
        })
        .collect();
    Ok(ok(json!({"statuses": statuses, "workflows": out})))
}

fn workflow_scheme_json(site: &Site, base: &str, s: &WorkflowScheme) -> Value {
    json!({
        "id": s.id, "name": s.name, "description": s.description,
        "defaultWorkflow": s.default_workflow,
        "issueTypeMappings": s.mappings.iter().map(|(t, w)| (t.clone(), json!(w))).collect::<Map<_, _>>(),
        "self": format!("{base}/rest/api/3/workflowscheme/{}", s.id),
        "issueTypes": site.issue_types.iter().map(|t| (t.id.clone(), json!({"id": t.id, "name": t.name}))).collect::<Map<_, _>>(),
    })
}

pub fn workflow_schemes(site: &Site, r: &Req) -> R {
    let items = site
        .flows
        .workflow_schemes
        .iter()
        .map(|s| workflow_scheme_json(site, &r.base, s))
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn workflow_scheme_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(bad(r, "The workflow scheme name must not be empty."));
    }
    if site
        .flows
        .workflow_schemes
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(&name))
    {
        return Err(bad(
            r,
            &format!("A workflow scheme with the name '{name}' already exists."),
        ));
    }
    let default_workflow = b["defaultWorkflow"]
        .as_str()
        .unwrap_or(DEFAULT_WORKFLOW)
        .to_string();
    let known = |w: &str| site.flows.workflow(w).is_some();
    if !known(&default_workflow) {
        return Err(bad(
            r,
            &format!("The workflow '{default_workflow}' does not exist."),
        ));
    }
    let mut mappings = BTreeMap::new();
    for (t, w) in b["issueTypeMappings"].as_object().into_iter().flatten() {
        let w = w.as_str().unwrap_or_default();
        if !site.issue_types.iter().any(|x| &x.id == t) {
            return Err(bad(r, &format!("The issue type {t} does not exist.")));
        }
        if !known(w) {
            return Err(bad(r, &format!("The workflow '{w}' does not exist.")));
        }
        mappings.insert(t.clone(), w.to_string());
    }
    let id = next_numeric_id(
        site.flows
            .workflow_schemes
            .iter()
            .map(|s| s.id.to_string())
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
        10_000,
    );
    let scheme = WorkflowScheme {
        id,
        name,
        description: b["description"].as_str().unwrap_or_default().to_string(),
        default_workflow,
        mappings,
    };
    let v = workflow_scheme_json(site, &r.base, &scheme);
    site.flows.workflow_schemes.push(scheme);
    Ok(created(v))
}

/// The projects named by `projectId` (repeated or comma-separated) that exist.
fn projects_asked(site: &Site, r: &Req) -> Result<Vec<u64>, Response> {
    let asked: Vec<u64> = r
        .q_all("projectId")
        .iter()
        .filter_map(|p| p.parse().ok())
        .filter(|p| site.projects.contains_key(p))
        .collect();
    if r.q_all("projectId").is_empty() {
        return Err(bad(r, "projectId is required."));
    }
    Ok(asked)
}

pub fn workflow_scheme_projects(site: &Site, r: &Req) -> R {
    let mut by_scheme: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for p in projects_asked(site, r)? {
        let s = site.flows.workflow_scheme_of(p);
        by_scheme.entry(s.id).or_default().push(p.to_string());
    }
    let values: Vec<Value> = by_scheme
        .into_iter()
        .map(|(id, projects)| {
            let s = site.flows.workflow_schemes.iter().find(|s| s.id == id).unwrap();
            json!({"projectIds": projects, "workflowScheme": workflow_scheme_json(site, &r.base, s)})
        })
        .collect();
    Ok(ok(json!({"values": values})))
}

fn id_of(v: &Value) -> Option<String> {
    v.as_str()
        .map(String::from)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
}

fn project_of(site: &Site, r: &Req, v: &Value) -> Result<u64, Response> {
    id_of(v)
        .and_then(|p| p.parse::<u64>().ok())
        .filter(|p| site.projects.contains_key(p))
        .ok_or_else(|| r.not_found("The project was not found."))
}

pub fn workflow_scheme_assign(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let project = project_of(site, r, &b["projectId"])?;
    let scheme = match id_of(&b["workflowSchemeId"]) {
        None => DEFAULT_WORKFLOW_SCHEME,
        Some(id) => id
            .parse::<u64>()
            .ok()
            .filter(|id| site.flows.workflow_schemes.iter().any(|s| s.id == *id))
            .ok_or_else(|| r.not_found("The workflow scheme was not found."))?,
    };
    if site.flows.workflow_scheme_of(project).id != scheme
        && site.issues.values().any(|i| i.project_id == project)
    {
        return Err(bad(
            r,
            "A workflow scheme can only be assigned to a project without issues.",
        ));
    }
    site.flows.project_workflow_scheme.insert(project, scheme);
    Ok(no_content())
}

fn issue_type_scheme_json(s: &IssueTypeScheme) -> Value {
    json!({"id": s.id, "name": s.name, "description": s.description, "defaultIssueTypeId": s.default_issue_type, "isDefault": s.is_default})
}

pub fn issue_type_schemes(site: &Site, r: &Req) -> R {
    let ids = r.q_all("id");
    let items = site
        .flows
        .issue_type_schemes
        .iter()
        .filter(|s| ids.is_empty() || ids.contains(&s.id.as_str()))
        .map(issue_type_scheme_json)
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn issue_type_scheme_mapping(site: &Site, r: &Req) -> R {
    let ids = r.q_all("issueTypeSchemeId");
    let items = site
        .flows
        .issue_type_schemes
        .iter()
        .filter(|s| ids.is_empty() || ids.contains(&s.id.as_str()))
        .flat_map(|s| {
            s.issue_types
                .iter()
                .map(|t| json!({"issueTypeSchemeId": s.id, "issueTypeId": t}))
        })
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn issue_type_scheme_create(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let name = b["name"].as_str().unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(bad(r, "The issue type scheme name must not be empty."));
    }
    if site
        .flows
        .issue_type_schemes
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(&name))
    {
        return Err(r.err(
            StatusCode::CONFLICT,
            &format!("An issue type scheme with the name '{name}' already exists."),
        ));
    }
    let mut issue_types = vec![];
    for t in b["issueTypeIds"].as_array().into_iter().flatten() {
        let t = id_of(t).unwrap_or_default();
        if !site.issue_types.iter().any(|x| x.id == t) {
            return Err(bad(r, &format!("The issue type {t} does not exist.")));
        }
        if !issue_types.contains(&t) {
            issue_types.push(t);
        }
    }
    if issue_types.is_empty() {
        return Err(bad(
            r,
            "An issue type scheme needs at least one issue type.",
        ));
    }
    let default_issue_type = id_of(&b["defaultIssueTypeId"]);
    if default_issue_type
        .as_ref()
        .is_some_and(|d| !issue_types.contains(d))
    {
        return Err(bad(
            r,
            "The default issue type must be one of the scheme's issue types.",
        ));
    }
    let id = next_numeric_id(
        site.flows.issue_type_schemes.iter().map(|s| s.id.as_str()),
        10_000,
    )
    .to_string();
    site.flows.issue_type_schemes.push(IssueTypeScheme {
        id: id.clone(),
        name,
        description: b["description"].as_str().unwrap_or_default().to_string(),
        default_issue_type,
        issue_types,
        is_default: false,
    });
    Ok(created(json!({"issueTypeSchemeId": id})))
}

pub fn issue_type_scheme_projects(site: &Site, r: &Req) -> R {
    let mut by_scheme: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in projects_asked(site, r)? {
        let s = site.flows.issue_type_scheme_of(p);
        by_scheme
            .entry(s.id.clone())
            .or_default()
            .push(p.to_string());
    }
    let items = by_scheme
        .into_iter()
        .map(|(id, projects)| {
            let s = site
                .flows
                .issue_type_schemes
                .iter()
                .find(|s| s.id == id)
                .unwrap();
            json!({"issueTypeScheme": issue_type_scheme_json(s), "projectIds": projects})
        })
        .collect();
    Ok(ok(page_bean(r, items, 50, 50)?))
}

pub fn issue_type_scheme_assign(site: &mut Site, r: &Req) -> R {
    let b = r.json()?;
    let project = project_of(site, r, &b["projectId"])?;
    let id = id_of(&b["issueTypeSchemeId"]).unwrap_or_default();
    let Some(scheme) = site.flows.issue_type_schemes.iter().find(|s| s.id == id) else {
        return Err(r.not_found("The issue type scheme was not found."));
    };
    if site
        .issues
        .values()
        .any(|i| i.project_id == project && !scheme.issue_types.contains(&i.issuetype))
    {
        return Err(bad(
            r,
            "The project has issues of types the issue type scheme does not have.",
        ));
    }
    site.flows.project_issue_type_scheme.insert(project, id);
    Ok(no_content())
}
