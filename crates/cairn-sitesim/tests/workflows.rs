//! Workflows: the transitions an issue may take, and how statuses, workflows and schemes are
//! written.

mod support;

use cairn_sitesim::{Scale, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};

/// An issue takes only the transitions its workflow defines from its status: `/transitions`
/// lists exactly those, and any other is refused with 400 as Jira does.
#[tokio::test]
async fn transitions_follow_the_issues_workflow() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    // A bug in a project on the generated bug-tracking scheme follows the triage workflow.
    let (project, flow) = t.sim.with_site("s", |s| {
        let scheme = s
            .flows
            .workflow_schemes
            .iter()
            .find(|w| w.name == "Cairn Bug Tracking Scheme")
            .unwrap()
            .id;
        let project = *s
            .flows
            .project_workflow_scheme
            .iter()
            .find(|(_, w)| **w == scheme)
            .unwrap()
            .0;
        (project, s.flows.workflow_of(project, "10003").clone())
    });
    assert_eq!(flow.name, "Cairn Triage Workflow");
    // A new bug starts in the workflow's initial status.
    let (st, created) = t
        .send("s", Method::POST, "/rest/api/3/issue", Some(json!({"fields": {"project": {"id": project.to_string()}, "issuetype": {"id": "10003"}, "summary": "A bug"}})))
        .await;
    assert_eq!(st, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let (_, _, issue) = t
        .get("s", &format!("/rest/api/3/issue/{key}?fields=status"))
        .await;
    assert_eq!(issue["fields"]["status"]["name"], json!("Triage"));
    let path = format!("/rest/api/3/issue/{key}/transitions");
    let (st, _, v) = t.get("s", &path).await;
    assert_eq!(st, 200);
    let offered: Vec<(&str, &str)> = v["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap(),
                x["to"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(offered, [("Accept", "In Progress"), ("Reject", "Closed")]);
    assert_eq!(v["transitions"][1]["hasScreen"], json!(true));
    // "Approve" (In Review → Done) is the workflow's, but not from Triage; "110002" is the
    // default workflow's global transition into Done.
    for tid in ["51", "110002", "999"] {
        let (st, v) = t
            .send(
                "s",
                Method::POST,
                &path,
                Some(json!({"transition": {"id": tid}})),
            )
            .await;
        assert_eq!(st, 400, "{tid}: {v}");
        assert_eq!(
            v["errorMessages"][0],
            json!(format!(
                "Transition id '{tid}' is not valid for this issue."
            ))
        );
    }
    // Along the workflow: Accept, Send to review, Approve.
    for tid in ["11", "31", "51"] {
        let (st, v) = t
            .send(
                "s",
                Method::POST,
                &path,
                Some(json!({"transition": {"id": tid}})),
            )
            .await;
        assert_eq!(st, 204, "{tid}: {v}");
    }
    let (_, _, issue) = t
        .get(
            "s",
            &format!("/rest/api/3/issue/{key}?fields=status,resolution"),
        )
        .await;
    assert_eq!(issue["fields"]["status"]["name"], json!("Done"));
    let (_, _, v) = t.get("s", &path).await;
    assert_eq!(
        v["transitions"].as_array().unwrap().len(),
        1,
        "only Reopen from Done: {v}"
    );
    assert_eq!(v["transitions"][0]["name"], json!("Reopen"));
    t.sim.shutdown().await;
}

/// Creating statuses, workflows and schemes is checked as Jira does; a workflow scheme is
/// assigned only to a project without issues.
#[tokio::test]
async fn workflow_writes_are_validated() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let post = |path: &'static str, body: Value| t.send("s", Method::POST, path, Some(body));
    let (st, v) = post("/rest/api/3/statuses", json!({"scope": {"type": "GLOBAL"}, "statuses": [{"name": "triage", "statusCategory": "TODO"}]})).await;
    assert_eq!(st, 400, "a status name is unique, whatever its case: {v}");
    let workflow = |name: &str, to: &str, rule: &str| {
        json!({"scope": {"type": "GLOBAL"},
            "statuses": [{"id": "10000", "name": "To Do", "statusCategory": "TODO", "statusReference": "s1"}],
            "workflows": [{"name": name, "statuses": [{"statusReference": "s1", "properties": {}}],
                "transitions": [{"id": "1", "name": "Create", "type": "INITIAL", "toStatusReference": to, "links": [],
                                 "actions": [{"ruleKey": rule, "parameters": {}}]}]}]})
    };
    let (st, v) = post(
        "/rest/api/3/workflows/create",
        workflow("Cairn Triage Workflow", "s1", "system:update-field"),
    )
    .await;
    assert_eq!(st, 400, "duplicate name: {v}");
    let (st, v) = post(
        "/rest/api/3/workflows/create",
        workflow("New", "elsewhere", "system:update-field"),
    )
    .await;
    assert_eq!(st, 400, "unknown status reference: {v}");
    let (st, v) = post(
        "/rest/api/3/workflows/create",
        workflow("New", "s1", "connect:remote-workflow-function"),
    )
    .await;
    assert_eq!(st, 400, "an app's rule without the app: {v}");
    assert!(
        v["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("connect:remote-workflow-function")
    );
    let (st, v) = post(
        "/rest/api/3/workflows/create",
        workflow("New", "s1", "system:update-field"),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["workflows"][0]["name"], json!("New"));
    let (st, v) = post(
        "/rest/api/3/workflowscheme",
        json!({"name": "Uses nothing known", "defaultWorkflow": "Missing"}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let (st, scheme) = post(
        "/rest/api/3/workflowscheme",
        json!({"name": "New scheme", "defaultWorkflow": "New"}),
    )
    .await;
    assert_eq!(st, 201, "{scheme}");
    let project = t.sim.with_site("s", |s| *s.projects.keys().next().unwrap());
    let (st, v) = t
        .send("s", Method::PUT, "/rest/api/3/workflowscheme/project", Some(json!({"projectId": project.to_string(), "workflowSchemeId": scheme["id"].to_string()})))
        .await;
    assert_eq!(st, 400, "the project has issues: {v}");
    let (_, _, v) = t
        .get(
            "s",
            &format!("/rest/api/3/workflowscheme/project?projectId={project}"),
        )
        .await;
    assert_ne!(
        v["values"][0]["workflowScheme"]["name"],
        json!("New scheme")
    );
    t.sim.shutdown().await;
}
