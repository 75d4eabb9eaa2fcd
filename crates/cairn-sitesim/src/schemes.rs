//! Workflows and schemes: a backup keeps them as documents (a restore does not write them). A
//! generated site has the defaults of a new company-managed Jira: one workflow over every
//! status (a global transition into each, the same ids `/transitions` offers), and one default
//! workflow scheme and issue type scheme (permission schemes: `jira/permissions.rs`).

use axum::response::Response;
use serde_json::{Value, json};

use crate::http::*;
use crate::model::Site;

type R = Result<Response, Response>;

const WORKFLOW: &str = "Software Simplified Workflow for Project";

fn category(c: u32) -> &'static str {
    match c {
        2 => "TODO",
        4 => "IN_PROGRESS",
        _ => "DONE",
    }
}

pub fn workflows_search(site: &Site, r: &Req) -> R {
    let statuses: Vec<Value> = site
        .statuses
        .iter()
        .map(|s| json!({"id": s.id, "name": s.name, "description": "", "statusCategory": category(s.category), "statusReference": s.id, "scope": {"type": "GLOBAL"}}))
        .collect();
    let transitions: Vec<Value> = site
        .statuses
        .iter()
        .map(|s| json!({"id": format!("1{}", s.id), "name": format!("Move to {}", s.name), "description": "", "type": "GLOBAL", "toStatusReference": s.id, "links": [], "actions": [], "validators": [], "triggers": [], "properties": {}}))
        .collect();
    let workflow = json!({
        "id": "a1b2c3d4-0000-4000-8000-000000000001", "name": WORKFLOW, "description": "",
        "scope": {"type": "GLOBAL"}, "isEditable": true, "version": {"id": "a1b2c3d4-0000-4000-8000-000000000002", "versionNumber": 1},
        "statuses": site.statuses.iter().map(|s| json!({"statusReference": s.id, "deprecated": false, "properties": {}})).collect::<Vec<_>>(),
        "transitions": transitions,
    });
    let mut v = page_bean(r, vec![workflow], 50, 200)?;
    v["statuses"] = Value::Array(statuses);
    Ok(ok(v))
}

pub fn workflow_schemes(site: &Site, r: &Req) -> R {
    let scheme = json!({
        "id": 10000, "name": "Default Workflow Scheme", "description": "The default workflow scheme.",
        "defaultWorkflow": WORKFLOW, "issueTypeMappings": {},
        "self": format!("{}/rest/api/3/workflowscheme/10000", r.base),
        "issueTypes": site.issue_types.iter().map(|t| (t.id.clone(), json!({"id": t.id, "name": t.name}))).collect::<serde_json::Map<_, _>>(),
    });
    Ok(ok(page_bean(r, vec![scheme], 50, 50)?))
}

pub fn issue_type_schemes(site: &Site, r: &Req) -> R {
    let scheme = json!({
        "id": "10000", "name": "Default Issue Type Scheme", "description": "Default issue type scheme is the list of global issue types.",
        "isDefault": true, "defaultIssueTypeId": site.issue_types.first().map(|t| t.id.clone()),
    });
    Ok(ok(page_bean(r, vec![scheme], 50, 50)?))
}
