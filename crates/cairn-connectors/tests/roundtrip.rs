//! The connectors are enough for a restore: a small generated site is read with the read side
//! only (as a backup stores it) and written with the write side only into an empty site, and
//! the stand-in's digest finds the two equal (apart from the personal space, which no API
//! creates). This is the engine's job in miniature, so the API shape is proven before the
//! engine is built on it.

mod support;

use std::collections::HashMap;

use bytes::Bytes;
use cairn_connectors::jira::Jira;
use cairn_connectors::{ContentKind, Upload, parents_first};
use cairn_sitesim::{Counts, Scale, SiteSpec};
use futures::TryStreamExt;
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A custom field's value as read, in the shape a create takes.
fn writable(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("accountId") => json!({"accountId": m["accountId"]}),
        Value::Object(m) if m.contains_key("value") && m.contains_key("id") => {
            let mut o = json!({"value": m["value"]});
            if let Some(child) = m.get("child") {
                o["child"] = json!({"value": child["value"]});
            }
            o
        }
        Value::Array(a) if a.iter().all(|x| x.get("value").is_some()) => {
            Value::Array(a.iter().map(writable).collect())
        }
        other => other.clone(),
    }
}

/// Statuses, workflows (with Jira's own rules: the destination has no apps) and schemes the
/// destination lacks, read from the source and written with the write side: scheme name →
/// destination id.
async fn copy_workflows(sj: &Jira, dj: &Jira) -> HashMap<String, String> {
    let src_statuses: Vec<Value> = sj.workflow_statuses().try_collect().await.unwrap();
    let dst_statuses: Vec<Value> = dj.workflow_statuses().try_collect().await.unwrap();
    let missing: Vec<Value> = src_statuses
        .iter()
        .filter(|x| !dst_statuses.iter().any(|d| d["name"] == x["name"]))
        .map(|x| json!({"name": x["name"], "statusCategory": x["statusCategory"]}))
        .collect();
    dj.create_statuses(&missing).await.unwrap();
    let dst_statuses: Vec<Value> = dj.workflow_statuses().try_collect().await.unwrap();
    let dst_status = |src_id: &Value| {
        let name = &src_statuses.iter().find(|x| &x["id"] == src_id).unwrap()["name"];
        dst_statuses
            .iter()
            .find(|d| &d["name"] == name)
            .unwrap()
            .clone()
    };
    let system = |rules: &Value| {
        Value::Array(
            rules
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["ruleKey"].as_str().unwrap().starts_with("system:"))
                .cloned()
                .collect(),
        )
    };
    let dst_workflows: Vec<Value> = dj.workflows().try_collect().await.unwrap();
    for w in sj.workflows().try_collect::<Vec<Value>>().await.unwrap() {
        if dst_workflows.iter().any(|d| d["name"] == w["name"]) {
            continue;
        }
        let statuses: Vec<Value> = w["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|st| {
                let d = dst_status(&st["statusReference"]);
                json!({"id": d["id"], "name": d["name"], "statusCategory": d["statusCategory"], "statusReference": st["statusReference"]})
            })
            .collect();
        let mut transitions = w["transitions"].clone();
        for t in transitions.as_array_mut().unwrap() {
            t["actions"] = system(&t["actions"]);
            t["validators"] = system(&t["validators"]);
            if t["conditions"].is_object() {
                t["conditions"]["conditions"] = system(&t["conditions"]["conditions"]);
            }
        }
        dj.create_workflows(&json!({"scope": {"type": "GLOBAL"}, "statuses": statuses,
            "workflows": [{"name": w["name"], "description": w["description"], "statuses": w["statuses"], "transitions": transitions}]}))
            .await
            .unwrap();
    }
    let mut ids = HashMap::new();
    let dst_schemes: Vec<Value> = dj.workflow_schemes().try_collect().await.unwrap();
    for sc in sj
        .workflow_schemes()
        .try_collect::<Vec<Value>>()
        .await
        .unwrap()
    {
        let id = match dst_schemes.iter().find(|d| d["name"] == sc["name"]) {
            Some(d) => s(&d["id"]),
            None => dj
                .create_workflow_scheme(&json!({"name": sc["name"], "description": sc["description"], "defaultWorkflow": sc["defaultWorkflow"], "issueTypeMappings": sc["issueTypeMappings"]}))
                .await
                .unwrap(),
        };
        ids.insert(s(&sc["name"]), id);
    }
    let mappings: Vec<Value> = sj.issue_type_scheme_mappings().try_collect().await.unwrap();
    let dst_schemes: Vec<Value> = dj.issue_type_schemes().try_collect().await.unwrap();
    for sc in sj
        .issue_type_schemes()
        .try_collect::<Vec<Value>>()
        .await
        .unwrap()
    {
        let types: Vec<Value> = mappings
            .iter()
            .filter(|m| m["issueTypeSchemeId"] == sc["id"])
            .map(|m| m["issueTypeId"].clone())
            .collect();
        let id = match dst_schemes.iter().find(|d| d["name"] == sc["name"]) {
            Some(d) => s(&d["id"]),
            None => dj
                .create_issue_type_scheme(&json!({"name": sc["name"], "description": sc["description"], "defaultIssueTypeId": sc["defaultIssueTypeId"], "issueTypeIds": types}))
                .await
                .unwrap(),
        };
        ids.insert(s(&sc["name"]), id);
    }
    ids
}

/// The source's custom fields the destination lacks, created with their contexts (scoped to
/// the new projects), options (cascading children under their parents) and default values:
/// source field id -> destination field id.
async fn copy_custom_fields(
    sj: &cairn_connectors::Jira,
    dj: &cairn_connectors::Jira,
    projects: &HashMap<String, String>,
) -> HashMap<String, String> {
    let have: Vec<Value> = dj.fields().try_collect().await.unwrap();
    let mut ids = HashMap::new();
    for f in sj.custom_fields().try_collect::<Vec<_>>().await.unwrap() {
        if let Some(d) = have.iter().find(|d| d["name"] == f["name"]) {
            ids.insert(s(&f["id"]), s(&d["id"]));
            continue;
        }
        let made = dj
            .create_field(&json!({"name": f["name"], "type": f["schema"]["custom"]}))
            .await
            .unwrap();
        let fid = s(&made["id"]);
        ids.insert(s(&f["id"]), fid.clone());
        // The context Jira makes with a new field gives way to the source's.
        for c in dj
            .field_contexts(&fid)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
        {
            dj.delete_field_context(&fid, &s(&c["id"])).await.unwrap();
        }
        for c in f["contexts"].as_array().unwrap() {
            let mapped = |k: &str, map: &dyn Fn(String) -> String| -> Vec<String> {
                c[k].as_array().unwrap().iter().map(|x| map(s(x))).collect()
            };
            let body = json!({
                "name": c["name"], "description": c["description"],
                "projectIds": mapped("projectIds", &|p| projects[&p].clone()),
                "issueTypeIds": mapped("issueTypeIds", &|t| t),
            });
            let cid = dj.create_field_context(&fid, &body).await.unwrap();
            let mut options: HashMap<String, String> = HashMap::new();
            for children in [false, true] {
                let batch: Vec<&Value> = c["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|o| o["optionId"].is_null() != children)
                    .collect();
                let bodies: Vec<Value> = batch
                    .iter()
                    .map(|o| match o["optionId"].as_str() {
                        Some(p) => json!({"value": o["value"], "optionId": options[p]}),
                        None => json!({"value": o["value"]}),
                    })
                    .collect();
                if bodies.is_empty() {
                    continue;
                }
                let made = dj.create_field_options(&fid, &cid, &bodies).await.unwrap();
                for (o, m) in batch.iter().zip(&made) {
                    options.insert(s(&o["id"]), s(&m["id"]));
                }
            }
            if let Some(d) = c["defaultValue"].as_object() {
                let mut d = Value::Object(d.clone());
                d["contextId"] = json!(cid);
                for k in ["optionId", "cascadingOptionId"] {
                    if let Some(o) = d[k].as_str() {
                        d[k] = json!(options[o]);
                    }
                }
                if let Some(list) = d["optionIds"].as_array() {
                    let mapped: Vec<&String> = list.iter().map(|o| &options[&s(o)]).collect();
                    d["optionIds"] = json!(mapped);
                }
                dj.set_field_defaults(&fid, &[d]).await.unwrap();
            }
        }
    }
    ids
}

/// The ids of the shortest list of `workflow`'s transitions from its initial status to `to`.
fn path_to(workflow: &Value, to: &Value) -> Vec<Value> {
    let transitions = workflow["transitions"].as_array().unwrap();
    let initial =
        transitions.iter().find(|t| t["type"] == "INITIAL").unwrap()["toStatusReference"].clone();
    let mut paths: HashMap<String, Vec<Value>> = HashMap::from([(s(&initial), vec![])]);
    let mut queue = std::collections::VecDeque::from([s(&initial)]);
    while let Some(at) = queue.pop_front() {
        if at == s(to) {
            return paths[&at].clone();
        }
        for t in transitions {
            let target = s(&t["toStatusReference"]);
            let leaves = match t["type"].as_str().unwrap() {
                "GLOBAL" => target != at,
                "DIRECTED" => t["links"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| s(&l["fromStatusReference"]) == at),
                _ => false,
            };
            if leaves && !paths.contains_key(&target) {
                let mut p = paths[&at].clone();
                p.push(t["id"].clone());
                paths.insert(target.clone(), p);
                queue.push_back(target);
            }
        }
    }
    panic!("{to} unreachable in {}", workflow["name"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_then_write_reproduces_the_site() {
    let counts = Counts {
        projects: 2,
        issues: 40,
        spaces: 1,
        pages: 12,
        blogposts: 2,
        attachment_percent: 60,
        attachment_max: 200_000,
        ..Scale::Small.counts()
    };
    let sim = support::start_with(counts, vec![SiteSpec::new("src"), SiteSpec::empty("dst")]).await;
    let src = support::site(&sim, "src", support::quick());
    let dst = support::site(&sim, "dst", support::quick());
    let (sj, dj) = (src.jira(), dst.jira());

    // ------------------------------------------------------------------ Jira
    let custom: Vec<String> = sj
        .custom_fields()
        .map_ok(|f| s(&f["id"]))
        .try_collect()
        .await
        .unwrap();
    let mut sprint_map: HashMap<String, Value> = HashMap::new();
    let mut key_map: HashMap<String, String> = HashMap::new();
    let mut links = vec![];
    let projects: Vec<Value> = sj.projects().try_collect().await.unwrap();
    let scheme_ids = copy_workflows(&sj, &dj).await;
    let src_project_ids: Vec<String> = projects.iter().map(|p| s(&p["id"])).collect();
    let src_workflow_schemes: HashMap<String, Value> = sj
        .workflow_schemes_of(&src_project_ids)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let src_type_schemes: HashMap<String, Value> = sj
        .issue_type_schemes_of(&src_project_ids)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let src_workflows: Vec<Value> = sj.workflows().try_collect().await.unwrap();
    let mut workflow_scheme_of: HashMap<String, Value> = HashMap::new();
    let mut project_ids: HashMap<String, String> = HashMap::new();
    for p in &projects {
        let key = s(&p["key"]);
        let created = dj.create_project(&json!({"key": key, "name": p["name"], "description": p["description"], "leadAccountId": p["lead"]["accountId"], "projectTypeKey": p["projectTypeKey"]}))
            .await
            .unwrap();
        let ws = &src_workflow_schemes[&s(&p["id"])];
        let its = &src_type_schemes[&s(&p["id"])];
        dj.assign_workflow_scheme(&created.id, &scheme_ids[&s(&ws["name"])])
            .await
            .unwrap();
        dj.assign_issue_type_scheme(&created.id, &scheme_ids[&s(&its["name"])])
            .await
            .unwrap();
        workflow_scheme_of.insert(key.clone(), ws.clone());
        project_ids.insert(s(&p["id"]), created.id);
        for c in sj.components(&key).try_collect::<Vec<_>>().await.unwrap() {
            dj.create_component(&json!({"project": key, "name": c["name"], "description": c["description"], "leadAccountId": c["lead"]["accountId"]}))
                .await
                .unwrap();
        }
        for v in sj.versions(&key).try_collect::<Vec<_>>().await.unwrap() {
            dj.create_version(&json!({"project": key, "name": v["name"], "description": v["description"], "released": v["released"], "archived": v["archived"], "releaseDate": v["releaseDate"]}))
                .await
                .unwrap();
        }
    }
    let field_ids = copy_custom_fields(&sj, &dj, &project_ids).await;
    for b in sj.boards().try_collect::<Vec<_>>().await.unwrap() {
        let nb = dj
            .create_board(&json!({"name": b["name"], "type": b["type"], "location": {"type": "project", "projectKeyOrId": b["location"]["projectKey"]}}))
            .await
            .unwrap();
        for sp in sj
            .sprints(&s(&b["id"]))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
        {
            let ns = dj
                .create_sprint(&json!({"name": sp["name"], "originBoardId": nb.parse::<u64>().unwrap(), "goal": sp["goal"]}))
                .await
                .unwrap();
            dj.update_sprint(&ns, &json!({"state": sp["state"], "startDate": sp["startDate"], "endDate": sp["endDate"]}))
                .await
                .unwrap();
            sprint_map.insert(s(&sp["id"]), json!(ns.parse::<u64>().unwrap()));
        }
    }
    let keys: Vec<&str> = projects
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    let issues: Vec<Value> = sj
        .issues(&cairn_connectors::jira::jql_for(&keys, None))
        .try_collect()
        .await
        .unwrap();
    let issues = parents_first(
        issues,
        |i| i["key"].as_str().map(String::from),
        |i| i["fields"]["parent"]["key"].as_str().map(String::from),
    );
    for i in &issues {
        let f = &i["fields"];
        let names = |v: &Value| -> Vec<Value> {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|x| json!({"name": x["name"]}))
                .collect()
        };
        let mut fields = json!({
            "project": {"key": f["project"]["key"]}, "issuetype": {"id": f["issuetype"]["id"]},
            "summary": f["summary"], "description": f["description"], "priority": {"name": f["priority"]["name"]},
            "reporter": {"accountId": f["reporter"]["accountId"]}, "labels": f["labels"],
            "components": names(&f["components"]), "fixVersions": names(&f["fixVersions"]),
        });
        if !f["assignee"].is_null() {
            fields["assignee"] = json!({"accountId": f["assignee"]["accountId"]});
        }
        if let Some(parent) = f["parent"]["key"].as_str() {
            fields["parent"] = json!({"key": key_map[parent]});
        }
        if let Some(sprint) = f["customfield_10020"].as_array().and_then(|a| a.first()) {
            fields["customfield_10020"] = sprint_map[&s(&sprint["id"])].clone();
        }
        for cf in custom.iter().filter(|c| *c != "customfield_10020") {
            if !f[cf].is_null() {
                fields[&field_ids[cf]] = writable(&f[cf]);
            }
        }
        let created = dj.create_issue(&fields).await.unwrap();
        let key = created.key.clone();
        key_map.insert(s(&i["key"]), key.clone());
        // Into its status along its workflow (the copy keeps the transitions' ids).
        let scheme = &workflow_scheme_of[&s(&f["project"]["key"])];
        let name = scheme["issueTypeMappings"][s(&f["issuetype"]["id"])]
            .as_str()
            .unwrap_or_else(|| scheme["defaultWorkflow"].as_str().unwrap());
        let workflow = src_workflows.iter().find(|w| w["name"] == name).unwrap();
        let path = path_to(workflow, &f["status"]["id"]);
        for (n, tid) in path.iter().enumerate() {
            let mut body = json!({"transition": {"id": tid}});
            if !f["resolution"].is_null() && n + 1 == path.len() {
                body["fields"] = json!({"resolution": {"id": f["resolution"]["id"]}});
            }
            dj.transition(&key, &body).await.unwrap();
        }
        let d = sj.issue_details(&s(&i["key"])).await.unwrap();
        for c in &d.comments {
            dj.add_comment(&key, c).await.unwrap();
        }
        for w in &d.worklogs {
            dj.add_worklog(&key, w).await.unwrap();
        }
        for r in &d.remote_links {
            dj.create_remote_link(&key, r).await.unwrap();
        }
        for w in d.watchers["watchers"].as_array().into_iter().flatten() {
            dj.add_watcher(&key, w["accountId"].as_str().unwrap())
                .await
                .unwrap();
        }
        for (k, v) in &d.properties {
            dj.set_property(&key, k, v).await.unwrap();
        }
        for a in f["attachment"].as_array().into_iter().flatten() {
            let data =
                support::bytes_of(sj.attachment_content(&s(&a["id"]), 0).await.unwrap()).await;
            let up = Upload::from_bytes(
                a["filename"].as_str().unwrap(),
                a["mimeType"].as_str().unwrap(),
                Bytes::from(data),
            );
            dj.upload_attachment(&key, up).await.unwrap();
        }
        for l in f["issuelinks"].as_array().into_iter().flatten() {
            if let Some(out) = l["outwardIssue"]["key"].as_str() {
                links.push((s(&l["type"]["name"]), s(&i["key"]), out.to_string()));
            }
        }
    }
    for (ty, inward, outward) in &links {
        dj.create_issue_link(ty, &key_map[inward], &key_map[outward])
            .await
            .unwrap();
    }

    // ------------------------------------------------------------- Confluence
    let (sc, dc) = (src.confluence(), dst.confluence());
    for space in sc.spaces(false).try_collect::<Vec<_>>().await.unwrap() {
        let created = dc
            .create_space(
                space["key"].as_str().unwrap(),
                space["name"].as_str().unwrap(),
                &s(&space["description"]["plain"]["value"]),
            )
            .await
            .unwrap();
        let home = created.homepage_id.unwrap();
        let space_key = space["key"].as_str().unwrap();
        let labels: Vec<String> = sc
            .space_labels(&s(&space["id"]))
            .map_ok(|l| s(&l["name"]))
            .try_collect()
            .await
            .unwrap();
        if !labels.is_empty() {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            dc.add_space_labels(space_key, &refs).await.unwrap();
        }
        for p in sc
            .space_properties(&s(&space["id"]))
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
        {
            dc.create_space_property(&created.id, p["key"].as_str().unwrap(), &p["value"])
                .await
                .unwrap();
        }
        let mut ids: HashMap<String, String> = HashMap::new();
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            let docs: Vec<Value> = sc
                .contents(kind, &s(&space["id"]))
                .try_collect()
                .await
                .unwrap();
            let docs = parents_first(
                docs,
                |d| d["id"].as_str().map(String::from),
                |d| d["parentId"].as_str().map(String::from),
            );
            for d in docs {
                let sid = s(&d["id"]);
                let body =
                    json!({"representation": "storage", "value": d["body"]["storage"]["value"]});
                let title = d["title"].as_str().unwrap();
                let new = if sid == s(&space["homepageId"]) {
                    dc.update_page(&home, title, &body, 2).await.unwrap();
                    home.clone()
                } else {
                    let parent = d["parentId"].as_str().map(|p| ids[p].clone());
                    dc.create_content(kind, &created.id, parent.as_deref(), title, &body)
                        .await
                        .unwrap()
                };
                ids.insert(sid.clone(), new.clone());
                let labels: Vec<String> = sc
                    .labels(kind, &sid)
                    .map_ok(|l| s(&l["name"]))
                    .try_collect()
                    .await
                    .unwrap();
                if !labels.is_empty() {
                    let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
                    dc.add_labels(&new, &refs).await.unwrap();
                }
                for p in sc
                    .properties(kind, &sid)
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
                {
                    dc.create_property(kind, &new, p["key"].as_str().unwrap(), &p["value"])
                        .await
                        .unwrap();
                }
                for a in sc
                    .attachments(kind, &sid)
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
                {
                    let data = support::bytes_of(
                        sc.attachment_content(&sid, &s(&a["id"]), 0).await.unwrap(),
                    )
                    .await;
                    let up = Upload::from_bytes(
                        a["title"].as_str().unwrap(),
                        a["mediaType"].as_str().unwrap(),
                        Bytes::from(data),
                    );
                    dc.upload_attachment(&new, up).await.unwrap();
                }
                let mut comment_ids: HashMap<String, String> = HashMap::new();
                for c in sc
                    .comments(kind, &sid)
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
                {
                    let body = json!({"representation": "storage", "value": c["body"]["storage"]["value"]});
                    if c.get("resolutionStatus").is_some() {
                        let selection = s(&c["properties"]["inlineOriginalSelection"]);
                        let nc = dc
                            .create_inline_comment(kind, &new, &selection, &body)
                            .await
                            .unwrap();
                        if c["resolutionStatus"] == "resolved" {
                            dc.resolve_inline_comment(&nc, 2).await.unwrap();
                        }
                    } else {
                        let parent = c["parentCommentId"]
                            .as_str()
                            .map(|p| comment_ids[p].clone());
                        let nc = dc
                            .create_footer_comment(kind, &new, parent.as_deref(), &body)
                            .await
                            .unwrap();
                        comment_ids.insert(s(&c["id"]), nc);
                    }
                }
            }
        }
        if space["status"] == "archived" {
            dc.set_space_status(space_key, space["name"].as_str().unwrap(), "archived")
                .await
                .unwrap();
        }
    }

    let diff = sim.diff("src", "dst");
    let unexpected: Vec<_> = diff
        .iter()
        .filter(|d| !d.path.starts_with("/confluence/spaces/~"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} differences, first ones: {:#?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(8)]
    );
    assert!(
        !diff.is_empty(),
        "the personal space is the one known difference"
    );
    sim.shutdown().await;
}
