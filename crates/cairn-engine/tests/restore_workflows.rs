//! Workflows restored through the API: statuses, workflows, workflow schemes and issue type
//! schemes rebuilt in an empty site and given to the restored projects, each issue moved to
//! its status along the restored workflow; a same-named but different workflow left alone
//! beside a suffixed copy; a restore killed while writing them resumes without duplicates; an
//! app's rule is listed as skipped with its reason.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use cairn_sitesim::Access;
use cairn_store::Product;
use serde_json::{Value, json};
use support::{World, differences, world};

/// Differences between the Jira halves of `src` and `dst` (the Confluence half is not
/// restored here).
fn jira_differences(w: &World) -> Vec<cairn_sitesim::Difference> {
    let mut d = differences(&w.sim, "src", "dst");
    d.retain(|x| x.path.starts_with("/jira"));
    d
}

/// A REST read of one of the stand-in's sites, as a client of Jira would make it.
async fn get(w: &World, site: &str, path: &str) -> Value {
    let account = w.sim.account(Access::ReadWrite);
    let r = reqwest::Client::new()
        .get(format!("{}{path}", w.sim.base_url(site)))
        .basic_auth(&account.email, Some(&account.api_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn send(w: &World, site: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let account = w.sim.account(Access::ReadWrite);
    let r = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", w.sim.base_url(site)))
        .basic_auth(&account.email, Some(&account.api_token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// Every workflow of a site by name: its statuses and its transitions (name, type, from, to),
/// statuses by name.
async fn workflows(w: &World, site: &str) -> BTreeMap<String, Value> {
    let v = get(
        w,
        site,
        "/rest/api/3/workflows/search?expand=values.transitions&maxResults=200",
    )
    .await;
    let names: BTreeMap<&str, &str> = v["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    let name = |id: &Value| names[id.as_str().unwrap()].to_string();
    v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|wf| {
            let statuses: BTreeSet<String> = wf["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| name(&s["statusReference"]))
                .collect();
            let transitions: BTreeSet<String> = wf["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let mut from: Vec<String> = t["links"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| name(&l["fromStatusReference"]))
                        .collect();
                    from.sort();
                    format!(
                        "{} [{}] {from:?} -> {}",
                        t["name"],
                        t["type"],
                        name(&t["toStatusReference"])
                    )
                })
                .collect();
            (
                wf["name"].as_str().unwrap().to_string(),
                json!({"statuses": statuses, "transitions": transitions}),
            )
        })
        .collect()
}

/// Each project's (workflow scheme, issue type scheme), by key, and each scheme's definition
/// by name (workflows by issue type name; issue type names).
async fn schemes(
    w: &World,
    site: &str,
) -> (BTreeMap<String, (String, String)>, BTreeMap<String, Value>) {
    let types: BTreeMap<String, String> = get(w, site, "/rest/api/3/issuetype")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut defs = BTreeMap::new();
    for s in get(w, site, "/rest/api/3/workflowscheme").await["values"]
        .as_array()
        .unwrap()
    {
        let mappings: BTreeMap<String, Value> = s["issueTypeMappings"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(t, wf)| (types[t].clone(), wf.clone()))
            .collect();
        defs.insert(
            s["name"].as_str().unwrap().to_string(),
            json!({"default": s["defaultWorkflow"], "mappings": mappings}),
        );
    }
    let mapping = get(w, site, "/rest/api/3/issuetypescheme/mapping?maxResults=50").await;
    for s in get(w, site, "/rest/api/3/issuetypescheme").await["values"]
        .as_array()
        .unwrap()
    {
        let of: BTreeSet<&String> = mapping["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["issueTypeSchemeId"] == s["id"])
            .map(|m| &types[m["issueTypeId"].as_str().unwrap()])
            .collect();
        defs.insert(
            s["name"].as_str().unwrap().to_string(),
            json!({"issueTypes": of}),
        );
    }
    let mut projects = BTreeMap::new();
    for p in get(w, site, "/rest/api/3/project")
        .await
        .as_array()
        .unwrap()
    {
        let id = p["id"].as_str().unwrap();
        let ws = get(
            w,
            site,
            &format!("/rest/api/3/workflowscheme/project?projectId={id}"),
        )
        .await;
        let its = get(
            w,
            site,
            &format!("/rest/api/3/issuetypescheme/project?projectId={id}"),
        )
        .await;
        projects.insert(
            p["key"].as_str().unwrap().to_string(),
            (
                ws["values"][0]["workflowScheme"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                its["values"][0]["issueTypeScheme"]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
        );
    }
    (projects, defs)
}

async fn completed(w: &World, restore: &str) -> Value {
    let rec = w.restore_record(restore).await;
    assert_eq!(
        rec.status.to_string(),
        "COMPLETED",
        "{}",
        rec.status_message
    );
    let result = w.result(restore).await;
    assert_eq!(result["failed"], json!([]), "{result}");
    result
}

/// Issue key → names of the transitions its workflow allows from its status, in `site`'s own
/// model (`expected`), or as the site's `/transitions` offers them.
async fn transitions(w: &World, site: &str, expected: bool) -> BTreeMap<String, BTreeSet<String>> {
    let keys: Vec<(String, BTreeSet<String>)> = w.sim.with_site(site, |s| {
        s.issues
            .values()
            .map(|i| {
                let flow = s.flows.workflow_of(i.project_id, &i.issuetype);
                let names = flow
                    .available(&i.status)
                    .iter()
                    .map(|t| t.name.clone())
                    .collect();
                (i.key.clone(), names)
            })
            .collect()
    });
    let mut out = BTreeMap::new();
    for (key, names) in keys {
        let names = if expected {
            names
        } else {
            let v = get(w, site, &format!("/rest/api/3/issue/{key}/transitions")).await;
            v["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect()
        };
        out.insert(key, names);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_and_schemes_are_rebuilt_in_an_empty_site_and_issues_follow_them() {
    let w = world(21, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let r = w.start_restore(&jira, "dst", None, None).await;
    w.drain().await;
    let result = completed(&w, &r.id).await;

    // Every issue's status (and the rest of its content) as in the source.
    let d = jira_differences(&w);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );

    // The workflows and schemes, compared by name through the API: the empty site had only the
    // defaults, which the source shares, so nothing needed a suffixed copy.
    let (src_wf, dst_wf) = (workflows(&w, "src").await, workflows(&w, "dst").await);
    assert!(src_wf.len() >= 3, "several workflows: {:?}", src_wf.keys());
    assert_eq!(src_wf, dst_wf);
    let (src_projects, src_defs) = schemes(&w, "src").await;
    let (dst_projects, dst_defs) = schemes(&w, "dst").await;
    assert_eq!(src_projects, dst_projects);
    let used: BTreeSet<&str> = src_projects.values().map(|(a, _)| a.as_str()).collect();
    assert!(
        used.len() >= 3,
        "projects on different workflow schemes: {used:?}"
    );
    assert_eq!(src_defs, dst_defs);

    // Each issue takes exactly the transitions its source workflow allows from its status.
    let allowed = transitions(&w, "src", true).await;
    let offered = transitions(&w, "dst", false).await;
    let by_summary = |site: &str| {
        w.sim.with_site(site, |s| {
            s.issues
                .values()
                .map(|i| (i.key.clone(), i.summary.clone()))
                .collect::<BTreeMap<_, _>>()
        })
    };
    let (src_summary, dst_summary) = (by_summary("src"), by_summary("dst"));
    let src_by_summary: BTreeMap<&String, &String> =
        src_summary.iter().map(|(k, s)| (s, k)).collect();
    let mut compared = 0;
    for (key, names) in &offered {
        let source_key = src_by_summary[&dst_summary[key]];
        assert_eq!(names, &allowed[source_key], "{key} (source {source_key})");
        compared += 1;
    }
    assert_eq!(compared, src_summary.len());
    assert!(
        offered
            .values()
            .any(|n| n.contains("Approve") || n.contains("Start")),
        "directed transitions in use"
    );

    // The app's post function cannot be written: it is listed with its reason.
    let skipped = result["skippedItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rule = skipped
        .iter()
        .find(|s| s["kind"] == "workflowRule")
        .unwrap_or_else(|| panic!("no skipped workflow rule: {result}"));
    assert_eq!(
        rule["sourceId"],
        json!("Cairn Triage Workflow/Approve/connect:remote-workflow-function")
    );
    let reason = rule["reason"].as_str().unwrap();
    assert!(
        reason.contains("com.example.chat-notifier") && reason.contains("installed"),
        "{reason}"
    );
    assert!(
        result["created"]["workflow"].as_u64().unwrap() >= 2,
        "{result}"
    );
    assert!(
        result["created"]["status"].as_u64().unwrap() >= 3,
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_named_different_workflow_is_left_alone_beside_a_suffixed_copy() {
    let w = world(22, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    // The destination has its own "Cairn Triage Workflow": To Do only.
    send(
        &w,
        "dst",
        reqwest::Method::POST,
        "/rest/api/3/workflows/create",
        json!({"scope": {"type": "GLOBAL"},
            "statuses": [{"id": "10000", "name": "To Do", "statusCategory": "TODO", "statusReference": "t"}],
            "workflows": [{"name": "Cairn Triage Workflow", "description": "ours", "statuses": [{"statusReference": "t", "properties": {}}],
                "transitions": [{"id": "1", "name": "Create", "type": "INITIAL", "toStatusReference": "t", "links": []}]}]}),
    )
    .await;
    let own = |v: Value| {
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "Cairn Triage Workflow")
            .cloned()
            .unwrap()
    };
    let path = "/rest/api/3/workflows/search?expand=values.transitions";
    let before = own(get(&w, "dst", path).await);

    let r = w.start_restore(&jira, "dst", None, None).await;
    w.drain().await;
    completed(&w, &r.id).await;

    assert_eq!(
        own(get(&w, "dst", path).await),
        before,
        "the destination's own workflow is untouched"
    );
    let (src_wf, dst_wf) = (workflows(&w, "src").await, workflows(&w, "dst").await);
    assert_eq!(
        dst_wf["Cairn Triage Workflow (restored)"],
        src_wf["Cairn Triage Workflow"]
    );
    assert_ne!(
        dst_wf["Cairn Triage Workflow"],
        src_wf["Cairn Triage Workflow"]
    );
    // The restored scheme uses the copy, and the bugs follow it.
    let (_, defs) = schemes(&w, "dst").await;
    assert_eq!(
        defs["Cairn Bug Tracking Scheme"]["mappings"]["Bug"],
        json!("Cairn Triage Workflow (restored)")
    );
    let d = jira_differences(&w);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_while_writing_workflows_resumes_creating_nothing_twice() {
    let w = world(23, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let defaults = w.sim.with_site("dst", |s| s.flows.workflows.len());
    // Slow answers, so that the kill lands between the workflows' creates.
    let slow: cairn_sitesim::FaultSpec = serde_json::from_value(json!({"latencyMs": 300})).unwrap();
    w.sim.set_faults("dst", slow);
    let r = w.start_restore(&jira, "dst", None, None).await;
    w.kill_job_after(defaults + 1, |w| {
        w.sim.with_site("dst", |s| s.flows.workflows.len())
    })
    .await;
    let (workflows_then, projects_then) = w
        .sim
        .with_site("dst", |s| (s.flows.workflows.len(), s.projects.len()));
    assert!(
        workflows_then > defaults,
        "killed after a workflow was created"
    );
    assert_eq!(
        projects_then, 0,
        "killed before the projects, in the workflow phase"
    );
    w.sim.clear_faults("dst");
    w.drain().await;
    completed(&w, &r.id).await;

    let names = |site: &str| {
        w.sim.with_site(site, |s| {
            (
                s.statuses
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>(),
                s.flows
                    .workflows
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>(),
                s.flows
                    .workflow_schemes
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>(),
                s.flows
                    .issue_type_schemes
                    .iter()
                    .map(|x| x.name.clone())
                    .collect::<Vec<_>>(),
            )
        })
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let (src, dst) = (names("src"), names("dst"));
    assert_eq!(sorted(dst.0), sorted(src.0), "statuses");
    assert_eq!(
        sorted(dst.1),
        sorted(src.1),
        "workflows: none twice, no suffixed copy"
    );
    assert_eq!(sorted(dst.2), sorted(src.2), "workflow schemes");
    assert_eq!(sorted(dst.3), sorted(src.3), "issue type schemes");
    let d = jira_differences(&w);
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}
