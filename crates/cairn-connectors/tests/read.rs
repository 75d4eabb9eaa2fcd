//! The read side against a seeded stand-in: a full read finds exactly what the site holds, with
//! every paging style walked to its end, for page sizes 1, 7 and each API's maximum; attachments
//! stream (303, Range); incremental listings find what changed.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use cairn_connectors::jira::jql_for;
use cairn_connectors::{ContentKind, Settings, Site};
use cairn_sitesim::model::{CommentKind, PageKind};
use cairn_sitesim::{SimHandle, SiteSpec};
use futures::TryStreamExt;
use serde_json::Value;

type Counts = BTreeMap<&'static str, u64>;

fn id(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => v["accountId"]
            .as_str()
            .or(v["key"].as_str())
            .unwrap_or_default()
            .to_string(),
    }
}

/// Every id once: a paging bug that repeats or skips shows here or in the counts.
fn once(docs: &[Value], what: &str) -> u64 {
    let ids: BTreeSet<String> = docs.iter().map(id).collect();
    assert_eq!(ids.len(), docs.len(), "{what}: an item came twice");
    docs.len() as u64
}

/// What the site's model says it holds.
fn expected(sim: &SimHandle) -> Counts {
    sim.with_site("s", |s| {
        let mut c = Counts::new();
        c.insert("projects", s.projects.len() as u64);
        c.insert(
            "components",
            s.projects.values().map(|p| p.components.len() as u64).sum(),
        );
        c.insert(
            "versions",
            s.projects.values().map(|p| p.versions.len() as u64).sum(),
        );
        c.insert("project roles", (s.projects.len() * s.roles.len()) as u64);
        c.insert("issue types", s.issue_types.len() as u64);
        // The site's own custom fields and Jira Software's Sprint field.
        c.insert("custom fields", s.custom_fields.len() as u64 + 1);
        let contexts = || s.custom_fields.iter().flat_map(|f| &f.contexts);
        c.insert(
            "field options",
            contexts().map(|c| c.options.len() as u64).sum(),
        );
        // The Sprint field's one context too.
        c.insert("field contexts", contexts().count() as u64 + 1);
        c.insert(
            "field context projects",
            contexts().map(|c| c.project_ids.len() as u64).sum(),
        );
        c.insert(
            "field context issue types",
            contexts().map(|c| c.issue_type_ids.len() as u64).sum(),
        );
        c.insert(
            "field defaults",
            contexts().filter(|c| c.default.is_some()).count() as u64,
        );
        c.insert("statuses", s.statuses.len() as u64);
        c.insert("priorities", s.priorities.len() as u64);
        c.insert("resolutions", s.resolutions.len() as u64);
        c.insert("project categories", s.project_categories.len() as u64);
        c.insert("link types", s.link_types.len() as u64);
        c.insert("roles", s.roles.len() as u64);
        c.insert("issues", s.issues.len() as u64);
        c.insert("links", s.links.len() as u64);
        c.insert(
            "comments",
            s.issues.values().map(|i| i.comments.len() as u64).sum(),
        );
        c.insert(
            "worklogs",
            s.issues.values().map(|i| i.worklogs.len() as u64).sum(),
        );
        c.insert(
            "histories",
            s.issues.values().map(|i| i.histories.len() as u64).sum(),
        );
        c.insert(
            "remote links",
            s.issues.values().map(|i| i.remote_links.len() as u64).sum(),
        );
        c.insert(
            "watchers",
            s.issues.values().map(|i| i.watchers.len() as u64).sum(),
        );
        c.insert(
            "issue properties",
            s.issues.values().map(|i| i.properties.len() as u64).sum(),
        );
        c.insert("attachments", s.attachments.len() as u64);
        c.insert("boards", s.boards.len() as u64);
        c.insert("sprints", s.sprints.len() as u64);
        c.insert("users", s.users.len() as u64);
        c.insert("groups", s.groups.len() as u64);
        c.insert(
            "group members",
            s.groups.iter().map(|g| g.members.len() as u64).sum(),
        );
        c.insert(
            "spaces",
            s.spaces.values().filter(|x| !x.personal).count() as u64,
        );
        c.insert("spaces with personal", s.spaces.len() as u64);
        let nonpersonal = |sp: u64| s.spaces.get(&sp).is_some_and(|x| !x.personal);
        let count = |k: PageKind| {
            s.pages
                .values()
                .filter(|p| p.kind == k && nonpersonal(p.space_id))
                .count() as u64
        };
        c.insert("pages", count(PageKind::Page));
        c.insert("blog posts", count(PageKind::BlogPost));
        let in_scope = |container: u64| {
            s.pages
                .get(&container)
                .is_some_and(|p| nonpersonal(p.space_id))
        };
        let comments = |k: CommentKind| {
            s.ccomments
                .values()
                .filter(|x| x.kind == k && in_scope(x.container))
                .count() as u64
        };
        c.insert("footer comments", comments(CommentKind::Footer));
        c.insert("inline comments", comments(CommentKind::Inline));
        let all = s.pages.values().filter(|p| nonpersonal(p.space_id));
        c.insert("labels", all.clone().map(|p| p.labels.len() as u64).sum());
        c.insert(
            "content properties",
            all.map(|p| p.properties.len() as u64).sum(),
        );
        let atts = s.cattachments.values().filter(|a| in_scope(a.container));
        c.insert("confluence attachments", atts.count() as u64);
        c
    })
}

/// Reads everything a backup reads, through the connectors only, and counts it.
async fn read_all(site: &Site) -> Counts {
    let mut c = Counts::new();
    let j = site.jira();
    let projects: Vec<Value> = j.projects().try_collect().await.unwrap();
    c.insert("projects", once(&projects, "projects"));
    let keys: Vec<String> = projects
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    let (mut comps, mut vers, mut roles) = (0, 0, 0);
    for k in &keys {
        comps += once(
            &j.components(k).try_collect::<Vec<_>>().await.unwrap(),
            "components",
        );
        vers += once(
            &j.versions(k).try_collect::<Vec<_>>().await.unwrap(),
            "versions",
        );
        let r: Vec<Value> = j.project_roles(k).try_collect().await.unwrap();
        assert!(
            r.iter().all(|r| r["actors"].is_array()),
            "roles carry their actors"
        );
        roles += once(&r, "project roles");
    }
    c.insert("components", comps);
    c.insert("versions", vers);
    c.insert("project roles", roles);
    c.insert(
        "issue types",
        once(
            &j.issue_types().try_collect::<Vec<_>>().await.unwrap(),
            "issue types",
        ),
    );
    let cfs: Vec<Value> = j.custom_fields().try_collect().await.unwrap();
    c.insert("custom fields", once(&cfs, "custom fields"));
    let options = cfs
        .iter()
        .flat_map(|f| f["contexts"].as_array().unwrap().iter())
        .map(|ctx| ctx["options"].as_array().unwrap().len() as u64)
        .sum();
    c.insert("field options", options);
    let contexts = || {
        cfs.iter()
            .flat_map(|f| f["contexts"].as_array().unwrap().iter())
    };
    let listed = |k: &str| -> u64 {
        contexts()
            .map(|ctx| ctx[k].as_array().unwrap().len() as u64)
            .sum()
    };
    c.insert("field contexts", contexts().count() as u64);
    c.insert("field context projects", listed("projectIds"));
    c.insert("field context issue types", listed("issueTypeIds"));
    c.insert(
        "field defaults",
        contexts()
            .filter(|ctx| ctx["defaultValue"].is_object())
            .count() as u64,
    );
    c.insert(
        "statuses",
        j.statuses().try_collect::<Vec<_>>().await.unwrap().len() as u64,
    );
    c.insert(
        "priorities",
        j.priorities().try_collect::<Vec<_>>().await.unwrap().len() as u64,
    );
    c.insert(
        "resolutions",
        j.resolutions().try_collect::<Vec<_>>().await.unwrap().len() as u64,
    );
    c.insert(
        "project categories",
        j.project_categories()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len() as u64,
    );
    c.insert(
        "link types",
        j.link_types().try_collect::<Vec<_>>().await.unwrap().len() as u64,
    );
    c.insert(
        "roles",
        j.roles().try_collect::<Vec<_>>().await.unwrap().len() as u64,
    );

    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let issues: Vec<Value> = j.issues(&jql_for(&refs, None)).try_collect().await.unwrap();
    c.insert("issues", once(&issues, "issues"));
    let (mut links, mut atts) = (0, 0);
    let mut details = Counts::new();
    for i in &issues {
        let f = &i["fields"];
        assert!(
            f["summary"].is_string() && f["created"].is_string(),
            "all fields: {i}"
        );
        links += f["issuelinks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l.get("outwardIssue").is_some())
            .count() as u64;
        atts += f["attachment"].as_array().unwrap().len() as u64;
        let d = j.issue_details(i["key"].as_str().unwrap()).await.unwrap();
        *details.entry("comments").or_default() += once(&d.comments, "comments");
        *details.entry("worklogs").or_default() += once(&d.worklogs, "worklogs");
        *details.entry("histories").or_default() += once(&d.changelog, "histories");
        *details.entry("remote links").or_default() += once(&d.remote_links, "remote links");
        *details.entry("watchers").or_default() +=
            d.watchers["watchers"].as_array().unwrap().len() as u64;
        *details.entry("issue properties").or_default() += d.properties.len() as u64;
    }
    c.extend(details);
    c.insert("links", links);
    c.insert("attachments", atts);
    let boards: Vec<Value> = j.boards().try_collect().await.unwrap();
    c.insert("boards", once(&boards, "boards"));
    let mut sprints = 0;
    for b in &boards {
        sprints += once(
            &j.sprints(&id(b)).try_collect::<Vec<_>>().await.unwrap(),
            "sprints",
        );
    }
    c.insert("sprints", sprints);
    c.insert(
        "users",
        once(&j.users().try_collect::<Vec<_>>().await.unwrap(), "users"),
    );
    let groups: Vec<Value> = j.groups().try_collect().await.unwrap();
    c.insert("groups", groups.len() as u64);
    let mut members = 0;
    for g in &groups {
        members += once(
            &j.group_members(g["groupId"].as_str().unwrap())
                .try_collect::<Vec<_>>()
                .await
                .unwrap(),
            "members",
        );
    }
    c.insert("group members", members);

    let cf = site.confluence();
    let spaces: Vec<Value> = cf.spaces(false).try_collect().await.unwrap();
    c.insert("spaces", once(&spaces, "spaces"));
    c.insert(
        "spaces with personal",
        once(
            &cf.spaces(true).try_collect::<Vec<_>>().await.unwrap(),
            "all spaces",
        ),
    );
    let mut n = Counts::new();
    for s in &spaces {
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            let docs: Vec<Value> = cf
                .contents_with_bodies(kind, &id(s))
                .try_collect()
                .await
                .unwrap();
            *n.entry(if kind == ContentKind::Page {
                "pages"
            } else {
                "blog posts"
            })
            .or_default() += once(&docs, "contents");
            for d in &docs {
                assert!(
                    d["body"]["storage"]["value"].is_string(),
                    "storage body: {d}"
                );
                let adf = d["body"]["atlas_doc_format"]["value"]
                    .as_str()
                    .expect("ADF body");
                assert_eq!(serde_json::from_str::<Value>(adf).unwrap()["type"], "doc");
                let cid = id(d);
                let comments: Vec<Value> = cf.comments(kind, &cid).try_collect().await.unwrap();
                once(&comments, "comments");
                *n.entry("inline comments").or_default() += comments
                    .iter()
                    .filter(|c| c.get("resolutionStatus").is_some())
                    .count() as u64;
                *n.entry("footer comments").or_default() += comments
                    .iter()
                    .filter(|c| c.get("resolutionStatus").is_none())
                    .count() as u64;
                *n.entry("labels").or_default() += once(
                    &cf.labels(kind, &cid).try_collect::<Vec<_>>().await.unwrap(),
                    "labels",
                );
                *n.entry("content properties").or_default() += once(
                    &cf.properties(kind, &cid)
                        .try_collect::<Vec<_>>()
                        .await
                        .unwrap(),
                    "properties",
                );
                let a2: Vec<Value> = cf.attachments(kind, &cid).try_collect().await.unwrap();
                let a1: Vec<Value> = cf.attachments_v1(&cid).try_collect().await.unwrap();
                assert_eq!(a1.len(), a2.len(), "v1 and v2 list the same attachments");
                *n.entry("confluence attachments").or_default() += once(&a2, "attachments");
            }
        }
    }
    c.extend(n);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_read_matches_the_sites_counts_for_every_page_size() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let want = expected(&sim);
    assert!(
        want.values().all(|&n| n > 0),
        "the seeded site has some of everything: {want:?}"
    );
    for page_size in [None, Some(7), Some(1)] {
        let site = support::site(
            &sim,
            "s",
            Settings {
                page_size,
                ..support::quick()
            },
        );
        let got = read_all(&site).await;
        assert_eq!(got, want, "page size {page_size:?}");
    }
    // Resolutions through the current paged list, never the deprecated one.
    let counters = sim.counters("s");
    assert!(counters.contains_key("GET /rest/api/3/resolution/search"));
    assert!(!counters.contains_key("GET /rest/api/3/resolution"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_search_bulk_changelogs_and_children_walk_to_the_end() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let jql = support::jql_all(&sim, "s");
    let (histories, children): (u64, BTreeMap<String, usize>) = sim.with_site("s", |s| {
        (
            s.issues.values().map(|i| i.histories.len() as u64).sum(),
            s.pages
                .values()
                .filter(|p| p.kind == PageKind::Page)
                .map(|p| {
                    (
                        p.id.to_string(),
                        s.pages
                            .values()
                            .filter(|c| c.parent_id == Some(p.id))
                            .count(),
                    )
                })
                .collect(),
        )
    });
    for page_size in [None, Some(7), Some(1)] {
        let site = support::site(
            &sim,
            "s",
            Settings {
                page_size,
                ..support::quick()
            },
        );
        let j = site.jira();
        let by_get: Vec<Value> = j.issues_get(&jql).try_collect().await.unwrap();
        let ids: Vec<Value> = j.issue_ids(&jql).try_collect().await.unwrap();
        assert_eq!(once(&by_get, "GET search"), once(&ids, "id listing"));
        assert_eq!(
            by_get.len() as u64,
            j.approximate_count(&jql).await.unwrap()
        );
        let all: Vec<String> = ids.iter().map(id).collect();
        let logs: Vec<Value> = j.changelogs(&all).try_collect().await.unwrap();
        let n: u64 = logs
            .iter()
            .map(|l| l["changeHistories"].as_array().unwrap().len() as u64)
            .sum();
        assert_eq!(n, histories, "bulk changelogs, page size {page_size:?}");
        let cf = site.confluence();
        for (page, want) in &children {
            assert_eq!(
                cf.children(page)
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
                    .len(),
                *want
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_stream_through_the_redirect_and_from_an_offset() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let site = support::site(&sim, "s", support::quick());
    let j = site.jira();
    let jira_att = support::largest_attachment(&sim, "s");
    let conf_att = sim.with_site("s", |s| {
        let c = s.cattachments.values().next().unwrap();
        (
            c.container.to_string(),
            format!("att{}", c.id),
            c.blob.size(),
        )
    });
    sim.clear_log("s");
    let meta = j.attachment_meta(&jira_att.0).await.unwrap();
    assert_eq!(meta["size"].as_u64(), Some(jira_att.1));
    let d = j.attachment_content(&jira_att.0, 0).await.unwrap();
    assert_eq!(d.total_length, Some(jira_att.1));
    let chunks: Vec<bytes::Bytes> = d.stream.try_collect().await.unwrap();
    assert!(
        chunks.len() > 1 || jira_att.1 < 64 * 1024,
        "streamed in pieces"
    );
    let whole: Vec<u8> = chunks.concat();
    assert_eq!(whole.len() as u64, jira_att.1);
    assert_eq!(
        support::statuses(&sim, "s", "GET /rest/api/3/attachment/content/{id}"),
        [303, 200],
        "the 303 was followed, with the credential (same origin)"
    );
    // From an offset: a Range request, 206, the tail only.
    let from = jira_att.1 / 3;
    let tail = support::bytes_of(j.attachment_content(&jira_att.0, from).await.unwrap()).await;
    assert_eq!(tail, whole[from as usize..]);
    assert_eq!(
        support::statuses(&sim, "s", "GET /rest/api/3/attachment/content/{id}")[2..],
        [303, 206]
    );

    let cf = site.confluence();
    let d = cf
        .attachment_content(&conf_att.0, &conf_att.1, 0)
        .await
        .unwrap();
    assert_eq!(support::bytes_of(d).await.len() as u64, conf_att.2);
    // A missing attachment is an error before any byte, so a backup can record it as missing.
    sim.set_faults(
        "s",
        cairn_sitesim::FaultSpec {
            attachment_404: cairn_sitesim::faults::Attachment404 {
                all: true,
                ids: vec![],
            },
            ..Default::default()
        },
    );
    let e = j.attachment_content(&jira_att.0, 0).await.unwrap_err();
    assert!(e.is_not_found() && !e.is_retryable(), "{e}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_listings_find_what_changed_and_what_was_deleted() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let site = support::site(&sim, "s", support::quick());
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let report = sim.mutate("s", 10.0);
    assert!(report.issues_changed + report.issues_added > 0 && report.pages_changed > 0);
    let (keys, changed, ids, pages_changed, spaces) = sim.with_site("s", |s| {
        (
            s.projects
                .values()
                .map(|p| p.key.clone())
                .collect::<Vec<_>>(),
            s.issues
                .values()
                .filter(|i| i.updated >= since)
                .map(|i| i.key.clone())
                .collect::<BTreeSet<_>>(),
            s.issues
                .values()
                .map(|i| i.id.to_string())
                .collect::<BTreeSet<_>>(),
            s.pages
                .values()
                .filter(|p| p.kind == PageKind::Page && p.version.created >= since)
                .count(),
            s.spaces
                .values()
                .map(|x| x.id.to_string())
                .collect::<Vec<_>>(),
        )
    });
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let j = site.jira();
    let got: BTreeSet<String> = j
        .issues(&jql_for(&refs, Some(since)))
        .map_ok(|i| i["key"].as_str().unwrap().to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        got, changed,
        "updated >= since finds exactly the changed and added issues"
    );
    let listed: BTreeSet<String> = j
        .issue_ids(&jql_for(&refs, None))
        .map_ok(|i| id(&i))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, ids, "the id listing shows deletions");
    let cf = site.confluence();
    let mut n = 0;
    for s in &spaces {
        n += cf
            .contents_modified_since(ContentKind::Page, s, since)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len();
    }
    assert_eq!(n, pages_changed, "pages modified since");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_and_schemes_are_read_as_documents() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    // Kinds in order, as many of each as the site has, and the default workflow's transitions.
    let (expected, default_transitions) = sim.with_site("s", |s| {
        let f = &s.flows;
        let mut kinds = vec!["workflow"; f.workflows.len()];
        kinds.extend(vec!["workflowScheme"; f.workflow_schemes.len()]);
        kinds.extend(vec!["issueTypeScheme"; f.issue_type_schemes.len()]);
        // The default, restricted and support permission schemes of a generated site.
        kinds.extend(vec!["permissionScheme"; s.permissions.schemes.len()]);
        (kinds, f.workflows[0].transitions.len())
    });
    assert!(expected.len() > 4, "several workflows and schemes");
    for page_size in [None, Some(1)] {
        let site = support::site(
            &sim,
            "s",
            Settings {
                page_size,
                ..support::quick()
            },
        );
        let docs: Vec<(&str, Value)> = site
            .jira()
            .workflows_and_schemes()
            .try_collect()
            .await
            .unwrap();
        let kinds: Vec<&str> = docs.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, expected);
        let workflow = &docs[0].1;
        assert_eq!(
            workflow["transitions"].as_array().unwrap().len(),
            default_transitions,
            "{workflow}"
        );
        let first_scheme = kinds.iter().position(|k| *k == "workflowScheme").unwrap();
        assert_eq!(docs[first_scheme].1["defaultWorkflow"], workflow["name"]);
    }
    sim.shutdown().await;
}

/// Permission schemes come with their grants, issue security schemes with their levels and
/// each level's members, and a project's schemes are read (none: `None`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_and_issue_security_schemes_are_read_with_grants_and_members() {
    let sim = support::start(vec![SiteSpec::new("s")]).await;
    let (grants, members, with, without) = sim.with_site("s", |s| {
        let members: usize = s.permissions.security_schemes[0]
            .levels
            .iter()
            .map(|l| l.members.len())
            .sum();
        let with = s
            .projects
            .values()
            .find(|p| s.permissions.settings(p.id).security_scheme.is_some())
            .unwrap();
        let without = s
            .projects
            .values()
            .find(|p| s.permissions.settings(p.id).security_scheme.is_none())
            .unwrap();
        (
            s.permissions
                .schemes
                .iter()
                .map(|x| x.grants.len())
                .collect::<Vec<_>>(),
            members,
            with.key.clone(),
            without.key.clone(),
        )
    });
    // Pages of 1: the members' PageBean is walked to its end.
    let site = support::site(
        &sim,
        "s",
        Settings {
            page_size: Some(1),
            ..support::quick()
        },
    );
    let j = site.jira();
    let schemes: Vec<Value> = j
        .permission_schemes_with_grants()
        .try_collect()
        .await
        .unwrap();
    let read: Vec<usize> = schemes
        .iter()
        .map(|s| s["permissions"].as_array().unwrap().len())
        .collect();
    assert_eq!(read, grants);
    let security: Vec<Value> = j.issue_security_schemes().try_collect().await.unwrap();
    assert_eq!(security.len(), 1);
    let id = security[0]["id"].to_string();
    let listed: Vec<Value> = j.security_level_members(&id).try_collect().await.unwrap();
    assert_eq!(listed.len(), members);
    assert!(listed.iter().all(|m| m["holder"]["type"].is_string()));
    let scheme = j.project_security_scheme(&with).await.unwrap().unwrap();
    assert_eq!(scheme["id"], security[0]["id"]);
    assert_eq!(j.project_security_scheme(&without).await.unwrap(), None);
    let ps = j.project_permission_scheme(&with).await.unwrap();
    assert!(schemes.iter().any(|s| s["id"] == ps["id"]));
    sim.shutdown().await;
}
