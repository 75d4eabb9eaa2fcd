//! Copy a small generated site into an empty one through the public API only (what a restore
//! does), then check the digest says they are equal: the write operations are complete enough
//! and the digest ignores exactly what a restore cannot preserve.

mod support;

use std::collections::HashMap;

use cairn_sitesim::model::{CfKind, CommentKind, PageKind, Site};
use cairn_sitesim::workflows::Workflow;
use cairn_sitesim::{Counts, Scale, Sim, SimConfig, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};
use support::T;

async fn ok(t: &T, m: Method, path: &str, body: Value) -> Value {
    let (st, v) = t.send("dst", m.clone(), path, Some(body.clone())).await;
    assert!((200..300).contains(&st), "{m} {path} {body} -> {st} {v}");
    v
}

async fn upload(t: &T, path: &str, name: &str, mime: &str, bytes: Vec<u8>) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(mime)
            .unwrap(),
    );
    let r = t
        .auth(
            t.http.post(t.url("dst", path)),
            cairn_sitesim::Access::ReadWrite,
        )
        .header("X-Atlassian-Token", "no-check")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
}

async fn bytes(t: &T, path: &str) -> Vec<u8> {
    let r = t
        .auth(
            t.http.get(t.url("src", path)),
            cairn_sitesim::Access::ReadWrite,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.unwrap().to_vec()
}

/// The shortest list of transition ids from `flow`'s initial status to `status`.
fn path_to(flow: &Workflow, status: &str) -> Vec<String> {
    let mut paths: HashMap<String, Vec<String>> =
        HashMap::from([(flow.initial_status().to_string(), vec![])]);
    let mut queue = std::collections::VecDeque::from([flow.initial_status().to_string()]);
    while let Some(at) = queue.pop_front() {
        if at == status {
            return paths[&at].clone();
        }
        for tr in flow.available(&at) {
            if !paths.contains_key(&tr.to) {
                let mut p = paths[&at].clone();
                p.push(tr.id.clone());
                paths.insert(tr.to.clone(), p);
                queue.push_back(tr.to.clone());
            }
        }
    }
    panic!("status {status} unreachable in {}", flow.name)
}

/// Statuses, workflows (without app rules, which the empty site refuses), workflow schemes and
/// issue type schemes the empty site lacks, created through the API: scheme name → its id in
/// the copy.
async fn copy_workflows(t: &T, src: &Site) -> HashMap<String, String> {
    let (_, dst_statuses) = t
        .send("dst", Method::GET, "/rest/api/3/statuses/search", None)
        .await;
    let known: Vec<&str> = dst_statuses["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let category = |c: u32| ["", "", "TODO", "DONE", "IN_PROGRESS"][c as usize];
    let missing: Vec<Value> = src
        .statuses
        .iter()
        .filter(|s| !known.contains(&s.name.as_str()))
        .map(|s| json!({"name": s.name, "statusCategory": category(s.category)}))
        .collect();
    ok(
        t,
        Method::POST,
        "/rest/api/3/statuses",
        json!({"scope": {"type": "GLOBAL"}, "statuses": missing}),
    )
    .await;
    let (_, all) = t
        .send("dst", Method::GET, "/rest/api/3/statuses/search", None)
        .await;
    let dst_id = |src_id: &str| {
        let name = &src.statuses.iter().find(|s| s.id == src_id).unwrap().name;
        all["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| &s["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    let rules = |rs: &[cairn_sitesim::workflows::Rule]| {
        rs.iter()
            .filter(|r| r.is_system())
            .map(|r| json!({"ruleKey": r.rule_key, "parameters": r.parameters}))
            .collect::<Vec<_>>()
    };
    for w in src.flows.workflows.iter().skip(1) {
        let statuses: Vec<Value> = w.statuses.iter().map(|s| {
            let st = src.statuses.iter().find(|x| &x.id == s).unwrap();
            json!({"id": dst_id(s), "name": st.name, "statusCategory": category(st.category), "statusReference": s})
        }).collect();
        let transitions: Vec<Value> = w.transitions.iter().map(|tr| {
            let mut v = json!({"id": tr.id, "name": tr.name, "type": tr.kind.as_str(), "toStatusReference": tr.to,
                "links": tr.from.iter().map(|f| json!({"fromStatusReference": f})).collect::<Vec<_>>(),
                "actions": rules(&tr.actions), "validators": rules(&tr.validators),
                "conditions": {"operation": "ALL", "conditions": rules(&tr.conditions)}});
            if let Some(screen) = &tr.screen {
                v["transitionScreen"] = json!({"ruleKey": "system:transition-screen", "parameters": {"screenId": screen}});
            }
            v
        }).collect();
        let layout: Vec<Value> = w
            .statuses
            .iter()
            .map(|s| json!({"statusReference": s, "properties": {}}))
            .collect();
        ok(t, Method::POST, "/rest/api/3/workflows/create", json!({"scope": {"type": "GLOBAL"}, "statuses": statuses,
            "workflows": [{"name": w.name, "description": w.description, "statuses": layout, "transitions": transitions}]})).await;
    }
    let mut ids = HashMap::new();
    for (i, s) in src.flows.workflow_schemes.iter().enumerate() {
        let id = if i == 0 {
            s.id.to_string()
        } else {
            let made = ok(t, Method::POST, "/rest/api/3/workflowscheme", json!({"name": s.name, "description": s.description, "defaultWorkflow": s.default_workflow, "issueTypeMappings": s.mappings})).await;
            made["id"].to_string()
        };
        ids.insert(s.name.clone(), id);
    }
    for (i, s) in src.flows.issue_type_schemes.iter().enumerate() {
        let id = if i == 0 {
            s.id.clone()
        } else {
            let made = ok(t, Method::POST, "/rest/api/3/issuetypescheme", json!({"name": s.name, "description": s.description, "defaultIssueTypeId": s.default_issue_type, "issueTypeIds": s.issue_types})).await;
            made["issueTypeSchemeId"].as_str().unwrap().to_string()
        };
        ids.insert(s.name.clone(), id);
    }
    ids
}

/// The source's custom fields in the destination (those it lacks created, with their
/// contexts, options and default values): source field id -> destination field id.
async fn copy_custom_fields(
    t: &T,
    src: &cairn_sitesim::model::Site,
    projects: &HashMap<u64, String>,
) -> HashMap<String, String> {
    let (_, have) = t.send("dst", Method::GET, "/rest/api/3/field", None).await;
    let mut map = HashMap::new();
    for f in &src.custom_fields {
        if let Some(d) = have
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == f.name.as_str())
        {
            map.insert(f.id.clone(), d["id"].as_str().unwrap().to_string());
            continue;
        }
        let nf = ok(
            t,
            Method::POST,
            "/rest/api/3/field",
            json!({"name": f.name, "type": f.kind.type_key()}),
        )
        .await;
        let fid = nf["id"].as_str().unwrap().to_string();
        map.insert(f.id.clone(), fid.clone());
        // Jira gives a new field a global context; the source's contexts replace it.
        let (_, made) = t
            .send(
                "dst",
                Method::GET,
                &format!("/rest/api/3/field/{fid}/context"),
                None,
            )
            .await;
        for c in made["values"].as_array().unwrap() {
            let path = format!(
                "/rest/api/3/field/{fid}/context/{}",
                c["id"].as_str().unwrap()
            );
            let (st, _) = t.send("dst", Method::DELETE, &path, None).await;
            assert_eq!(st, 204, "{path}");
        }
        for c in &f.contexts {
            let body = json!({
                "name": c.name, "description": c.description,
                "projectIds": c.project_ids.iter().map(|p| &projects[p]).collect::<Vec<_>>(),
                "issueTypeIds": c.issue_type_ids,
            });
            let nc = ok(
                t,
                Method::POST,
                &format!("/rest/api/3/field/{fid}/context"),
                body,
            )
            .await;
            let cid = nc["id"].as_str().unwrap().to_string();
            let mut options: HashMap<String, String> = HashMap::new();
            // Parents, then children under their new parents.
            for children in [false, true] {
                let batch: Vec<&cairn_sitesim::model::FieldOption> = c
                    .options
                    .iter()
                    .filter(|o| o.parent.is_some() == children)
                    .collect();
                if batch.is_empty() {
                    continue;
                }
                let body = json!({"options": batch.iter().map(|o| {
                    let mut x = json!({"value": o.value, "disabled": o.disabled});
                    if let Some(p) = &o.parent {
                        x["optionId"] = json!(options[p]);
                    }
                    x
                }).collect::<Vec<_>>()});
                let made = ok(
                    t,
                    Method::POST,
                    &format!("/rest/api/3/field/{fid}/context/{cid}/option"),
                    body,
                )
                .await;
                for (o, n) in batch.iter().zip(made["options"].as_array().unwrap()) {
                    options.insert(o.id.clone(), n["id"].as_str().unwrap().to_string());
                }
            }
            if let Some(d) = &c.default {
                let mut d = d.clone();
                d["contextId"] = json!(cid);
                for k in ["optionId", "cascadingOptionId"] {
                    if let Some(o) = d[k].as_str() {
                        d[k] = json!(options[o]);
                    }
                }
                if let Some(ids) = d["optionIds"].as_array() {
                    d["optionIds"] = json!(
                        ids.iter()
                            .map(|o| &options[o.as_str().unwrap()])
                            .collect::<Vec<_>>()
                    );
                }
                ok(
                    t,
                    Method::PUT,
                    &format!("/rest/api/3/field/{fid}/context/defaultValue"),
                    json!({"defaultValues": [d]}),
                )
                .await;
            }
        }
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_copy_into_an_empty_site_is_equal_by_digest() {
    let mut counts = Scale::Small.counts();
    counts = Counts {
        projects: 2,
        issues: 40,
        spaces: 1,
        pages: 12,
        blogposts: 2,
        attachment_percent: 60,
        attachment_max: 200_000,
        ..counts
    };
    let sim = Sim::start(SimConfig {
        seed: 3,
        counts: Some(counts),
        sites: vec![SiteSpec::new("src"), SiteSpec::empty("dst")],
        ..Default::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let t = T { sim, http };
    let src = t.sim.with_site("src", |s| s.clone());
    assert!(!t.sim.diff("src", "dst").is_empty());

    // ------------------------------------------------------------------ Jira
    let schemes = copy_workflows(&t, &src).await;
    let mut sprint_map: HashMap<u64, u64> = HashMap::new();
    let mut issue_map: HashMap<u64, String> = HashMap::new();
    // Projects first: custom field contexts name them.
    let mut project_map: HashMap<u64, String> = HashMap::new();
    for p in src.projects.values() {
        let np = ok(&t, Method::POST, "/rest/api/3/project", json!({"key": p.key, "name": p.name, "description": p.description, "leadAccountId": p.lead, "projectTypeKey": p.type_key})).await;
        let (workflow_scheme, issue_type_scheme) = (
            &schemes[&src.flows.workflow_scheme_of(p.id).name],
            &schemes[&src.flows.issue_type_scheme_of(p.id).name],
        );
        ok(
            &t,
            Method::PUT,
            "/rest/api/3/workflowscheme/project",
            json!({"projectId": np["id"].to_string(), "workflowSchemeId": workflow_scheme}),
        )
        .await;
        ok(
            &t,
            Method::PUT,
            "/rest/api/3/issuetypescheme/project",
            json!({"projectId": np["id"].to_string(), "issueTypeSchemeId": issue_type_scheme}),
        )
        .await;
        let id = np["id"].as_u64().map(|n| n.to_string());
        project_map.insert(
            p.id,
            id.or_else(|| np["id"].as_str().map(String::from)).unwrap(),
        );
    }
    let field_map = copy_custom_fields(&t, &src, &project_map).await;
    for p in src.projects.values() {
        for c in &p.components {
            ok(&t, Method::POST, "/rest/api/3/component", json!({"project": p.key, "name": c.name, "description": c.description, "leadAccountId": c.lead})).await;
        }
        for v in &p.versions {
            ok(&t, Method::POST, "/rest/api/3/version", json!({"project": p.key, "name": v.name, "description": v.description, "released": v.released, "archived": v.archived, "releaseDate": v.release_date})).await;
        }
        for b in src.boards.values().filter(|b| b.project_id == p.id) {
            let nb = ok(&t, Method::POST, "/rest/agile/1.0/board", json!({"name": b.name, "type": b.kind, "location": {"type": "project", "projectKeyOrId": p.key}})).await;
            for s in src.sprints.values().filter(|s| s.board_id == b.id) {
                let ns = ok(
                    &t,
                    Method::POST,
                    "/rest/agile/1.0/sprint",
                    json!({"name": s.name, "originBoardId": nb["id"], "goal": s.goal}),
                )
                .await;
                let id = ns["id"].as_u64().unwrap();
                let fmt = |x: Option<chrono::DateTime<chrono::Utc>>| x.map(|d| d.to_rfc3339());
                ok(
                    &t,
                    Method::POST,
                    &format!("/rest/agile/1.0/sprint/{id}"),
                    json!({"state": s.state, "startDate": fmt(s.start), "endDate": fmt(s.end)}),
                )
                .await;
                sprint_map.insert(s.id, id);
            }
        }
        let mut issues: Vec<_> = src
            .issues
            .values()
            .filter(|i| i.project_id == p.id)
            .collect();
        issues.sort_by_key(|i| i.number);
        for i in issues {
            let name = |list: &[cairn_sitesim::model::Named], id: &str| {
                list.iter().find(|x| x.id == id).unwrap().name.clone()
            };
            let mut fields = json!({
                "project": {"key": p.key},
                "issuetype": {"id": i.issuetype},
                "summary": i.summary,
                "description": i.description,
                "priority": {"name": name(&src.priorities, &i.priority)},
                "reporter": {"accountId": i.reporter},
                "assignee": i.assignee.as_ref().map(|a| json!({"accountId": a})),
                "labels": i.labels,
                "components": p.components.iter().filter(|c| i.components.contains(&c.id)).map(|c| json!({"name": c.name})).collect::<Vec<_>>(),
                "fixVersions": p.versions.iter().filter(|v| i.fix_versions.contains(&v.id)).map(|v| json!({"name": v.name})).collect::<Vec<_>>(),
            });
            if let Some(parent) = i.parent {
                fields["parent"] = json!({"key": issue_map[&parent]});
            }
            if let Some(s) = i.sprint {
                fields["customfield_10020"] = json!(sprint_map[&s]);
            }
            for (fid, v) in &i.custom {
                let f = src.field(fid).unwrap();
                let by_value = |x: &Value| {
                    let mut o = json!({"value": x["value"]});
                    if x["child"].is_object() {
                        o["child"] = json!({"value": x["child"]["value"]});
                    }
                    o
                };
                let values = |v: &Value, each: &dyn Fn(&Value) -> Value| {
                    json!(v.as_array().unwrap().iter().map(each).collect::<Vec<_>>())
                };
                fields[&field_map[fid]] = match f.kind {
                    CfKind::Select | CfKind::Cascading => by_value(v),
                    CfKind::MultiSelect => values(v, &by_value),
                    CfKind::User => json!({"accountId": v}),
                    CfKind::MultiUser => values(v, &|a| json!({"accountId": a})),
                    _ => v.clone(),
                };
            }
            let created = ok(
                &t,
                Method::POST,
                "/rest/api/3/issue",
                json!({"fields": fields}),
            )
            .await;
            let key = created["key"].as_str().unwrap().to_string();
            assert_eq!(
                key, i.key,
                "keys follow creation order when nothing was deleted"
            );
            issue_map.insert(i.id, key.clone());
            // Into its status along the workflow's transitions (the copy keeps their ids).
            let flow = src.flows.workflow_of(p.id, &i.issuetype);
            let path = path_to(flow, &i.status);
            for (n, tid) in path.iter().enumerate() {
                let mut body = json!({"transition": {"id": tid}});
                if let Some(r) = i.resolution.as_ref().filter(|_| n + 1 == path.len()) {
                    body["fields"] = json!({"resolution": {"id": r}});
                }
                ok(
                    &t,
                    Method::POST,
                    &format!("/rest/api/3/issue/{key}/transitions"),
                    body,
                )
                .await;
            }
            for c in &i.comments {
                ok(
                    &t,
                    Method::POST,
                    &format!("/rest/api/3/issue/{key}/comment"),
                    json!({"body": c.body}),
                )
                .await;
            }
            for w in &i.worklogs {
                ok(&t, Method::POST, &format!("/rest/api/3/issue/{key}/worklog"), json!({"timeSpentSeconds": w.time_spent_seconds, "started": cairn_sitesim::model::jira_ts(&w.started), "comment": w.comment})).await;
            }
            for r in &i.remote_links {
                ok(&t, Method::POST, &format!("/rest/api/3/issue/{key}/remotelink"), json!({"globalId": r.global_id, "relationship": r.relationship, "object": {"url": r.url, "title": r.title}})).await;
            }
            for w in &i.watchers {
                ok(
                    &t,
                    Method::POST,
                    &format!("/rest/api/3/issue/{key}/watchers"),
                    json!(w),
                )
                .await;
            }
            for (k, v) in &i.properties {
                ok(
                    &t,
                    Method::PUT,
                    &format!("/rest/api/3/issue/{key}/properties/{k}"),
                    v.clone(),
                )
                .await;
            }
            for a in src.attachments.values().filter(|a| a.issue_id == i.id) {
                let data = bytes(
                    &t,
                    &format!("/rest/api/3/attachment/content/{}?redirect=false", a.id),
                )
                .await;
                upload(
                    &t,
                    &format!("/rest/api/3/issue/{key}/attachments"),
                    &a.filename,
                    &a.mime,
                    data,
                )
                .await;
            }
        }
    }
    for l in src.links.values() {
        let ty = src.link_types.iter().find(|x| x.id == l.type_id).unwrap();
        ok(&t, Method::POST, "/rest/api/3/issueLink", json!({"type": {"name": ty.name}, "inwardIssue": {"key": issue_map[&l.inward]}, "outwardIssue": {"key": issue_map[&l.outward]}})).await;
    }

    // ------------------------------------------------------------- Confluence
    for s in src.spaces.values().filter(|s| !s.personal) {
        let ns = ok(&t, Method::POST, "/wiki/rest/api/space", json!({"key": s.key, "name": s.name, "description": {"plain": {"value": s.description, "representation": "plain"}}})).await;
        let space_id = ns["id"].to_string();
        let home_id = ns["homepage"]["id"].as_str().unwrap().to_string();
        // The space's own labels, properties and status.
        let labels: Vec<Value> = s
            .labels
            .iter()
            .map(|l| json!({"prefix": "global", "name": l}))
            .collect();
        if !labels.is_empty() {
            ok(
                &t,
                Method::POST,
                &format!("/wiki/rest/api/space/{}/label", s.key),
                json!(labels),
            )
            .await;
        }
        for p in &s.properties {
            ok(
                &t,
                Method::POST,
                &format!("/wiki/api/v2/spaces/{}/properties", ns["id"]),
                json!({"key": p.key, "value": p.value}),
            )
            .await;
        }
        if s.archived {
            ok(
                &t,
                Method::PUT,
                &format!("/wiki/rest/api/space/{}", s.key),
                json!({"name": s.name, "status": "archived"}),
            )
            .await;
        }
        let mut page_map: HashMap<u64, String> = HashMap::new();
        // pages in creation order (parents first), the homepage into the space's own homepage
        for p in src.pages.values().filter(|p| p.space_id == s.id) {
            let body = json!({"representation": "storage", "value": p.storage});
            let new_id = if Some(p.id) == s.homepage_id {
                ok(&t, Method::PUT, &format!("/wiki/api/v2/pages/{home_id}"), json!({"id": home_id, "status": "current", "title": p.title, "body": body, "version": {"number": 2}})).await;
                home_id.clone()
            } else {
                let path = if p.kind == PageKind::Page {
                    "/wiki/api/v2/pages"
                } else {
                    "/wiki/api/v2/blogposts"
                };
                let mut req = json!({"spaceId": space_id, "status": "current", "title": p.title, "body": body});
                if let Some(parent) = p.parent_id {
                    req["parentId"] = json!(page_map[&parent]);
                }
                ok(&t, Method::POST, path, req).await["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            page_map.insert(p.id, new_id.clone());
            if !p.labels.is_empty() {
                ok(
                    &t,
                    Method::POST,
                    &format!("/wiki/rest/api/content/{new_id}/label"),
                    json!(
                        p.labels
                            .iter()
                            .map(|l| json!({"prefix": "global", "name": l}))
                            .collect::<Vec<_>>()
                    ),
                )
                .await;
            }
            for prop in &p.properties {
                let kind = if p.kind == PageKind::Page {
                    "pages"
                } else {
                    "blogposts"
                };
                ok(
                    &t,
                    Method::POST,
                    &format!("/wiki/api/v2/{kind}/{new_id}/properties"),
                    json!({"key": prop.key, "value": prop.value}),
                )
                .await;
            }
            for a in src.cattachments.values().filter(|a| a.container == p.id) {
                let data = bytes(
                    &t,
                    &format!(
                        "/wiki/rest/api/content/{}/child/attachment/att{}/download",
                        p.id, a.id
                    ),
                )
                .await;
                upload(
                    &t,
                    &format!("/wiki/rest/api/content/{new_id}/child/attachment"),
                    &a.title,
                    &a.media_type,
                    data,
                )
                .await;
            }
            let container_key = if p.kind == PageKind::Page {
                "pageId"
            } else {
                "blogPostId"
            };
            let mut comment_map: HashMap<u64, String> = HashMap::new();
            for c in src.ccomments.values().filter(|c| c.container == p.id) {
                let body = json!({"representation": "storage", "value": c.storage});
                match c.kind {
                    CommentKind::Footer => {
                        let mut req = json!({"body": body});
                        match c.parent_comment {
                            Some(pc) => req["parentCommentId"] = json!(comment_map[&pc]),
                            None => req[container_key] = json!(new_id),
                        }
                        let nc = ok(&t, Method::POST, "/wiki/api/v2/footer-comments", req).await;
                        comment_map.insert(c.id, nc["id"].as_str().unwrap().to_string());
                    }
                    CommentKind::Inline => {
                        let nc = ok(&t, Method::POST, "/wiki/api/v2/inline-comments", json!({container_key: new_id, "body": body, "inlineCommentProperties": {"textSelection": c.inline_text, "textSelectionMatchCount": 1, "textSelectionMatchIndex": 0}})).await;
                        if c.resolved {
                            let id = nc["id"].as_str().unwrap();
                            ok(
                                &t,
                                Method::PUT,
                                &format!("/wiki/api/v2/inline-comments/{id}"),
                                json!({"version": {"number": 2}, "resolved": true}),
                            )
                            .await;
                        }
                    }
                }
            }
        }
    }

    let diff = t.sim.diff("src", "dst");
    let unexpected: Vec<_> = diff
        .iter()
        .filter(|d| !d.path.starts_with("/confluence/spaces/~"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} differences after an API copy, first ones: {:#?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
    assert!(
        diff.iter()
            .any(|d| d.path.starts_with("/confluence/spaces/~")),
        "the personal space is the one known difference"
    );
    t.sim.shutdown().await;
}
