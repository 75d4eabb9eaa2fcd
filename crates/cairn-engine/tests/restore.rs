//! Restores through the real job queue (a worker on a SQLite store) from a vault snapshot into
//! empty and non-empty stand-in sites, compared with the source by the stand-in's digest.

mod support;

use std::collections::HashMap;

use cairn_sitesim::model::{CommentKind, PageKind};
use cairn_store::Product;
use serde_json::{Value, json};
use support::{World, differences, world};

/// Issues of a site, and how many (project, summary) pairs occur more than once.
fn issues(w: &World, site: &str) -> (usize, usize) {
    w.sim.with_site(site, |s| {
        let mut seen: HashMap<(u64, String), usize> = HashMap::new();
        for i in s.issues.values() {
            *seen.entry((i.project_id, i.summary.clone())).or_default() += 1;
        }
        (s.issues.len(), seen.values().filter(|n| **n > 1).count())
    })
}

fn pages(w: &World, site: &str) -> (usize, usize) {
    w.sim.with_site(site, |s| {
        let mut seen: HashMap<(u64, String), usize> = HashMap::new();
        for p in s.pages.values() {
            *seen.entry((p.space_id, p.title.clone())).or_default() += 1;
        }
        (s.pages.len(), seen.values().filter(|n| **n > 1).count())
    })
}

/// Pages and blog posts outside personal spaces (no API makes those): what a whole restore
/// creates.
fn restorable_pages(w: &World, site: &str) -> usize {
    w.sim.with_site(site, |s| {
        s.pages
            .values()
            .filter(|p| s.spaces.get(&p.space_id).is_some_and(|sp| !sp.personal))
            .count()
    })
}

/// Jira attachments, and Confluence attachments outside personal spaces (no API makes those).
fn attachments(w: &World, site: &str) -> (usize, usize) {
    w.sim.with_site(site, |s| {
        let personal = |page: &u64| {
            s.pages
                .get(page)
                .and_then(|p| s.spaces.get(&p.space_id))
                .is_some_and(|sp| sp.personal)
        };
        let wiki = s
            .cattachments
            .values()
            .filter(|a| !personal(&a.container))
            .count();
        (s.attachments.len(), wiki)
    })
}

async fn assert_completed(w: &World, restore: &str) -> serde_json::Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_restore_into_an_empty_site_equals_the_source() {
    let w = world(11, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;
    assert!(!differences(&w.sim, "src", "dst").is_empty());

    let r = w.start_restore(&jira, "dst", None, None).await;
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    let (src_issues, _) = issues(&w, "src");
    assert_eq!(result["created"]["issue"], json!(src_issues), "{result}");
    let r = w.start_restore(&wiki, "dst", None, None).await;
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    assert!(result["created"]["page"].as_u64().unwrap() > 0, "{result}");

    // Summaries, ADF descriptions, fields, statuses, comments, worklogs, links, watchers,
    // properties, attachments (size and blake3 of the bytes), boards and sprints; spaces,
    // page trees, bodies, labels, properties, attachments and comments.
    let d = differences(&w.sim, "src", "dst");
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
    assert_eq!(issues(&w, "dst"), (src_issues, 0));
    assert_eq!(attachments(&w, "src"), attachments(&w, "dst"));
    let (a, b) = attachments(&w, "dst");
    assert!(a > 0 && b > 0, "the sites hold attachments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_project_and_one_space_go_into_a_site_that_has_others() {
    let w = world(12, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;
    let (keys, spaces) = w.sim.with_site("src", |s| {
        let mut k: Vec<String> = s.projects.values().map(|p| p.key.clone()).collect();
        k.sort();
        let mut sp: Vec<String> = s
            .spaces
            .values()
            .filter(|s| !s.personal)
            .map(|s| s.key.clone())
            .collect();
        sp.sort();
        (k, sp)
    });
    // The destination gets the first project and space, then (no longer empty) the second.
    for (project, space) in [(&keys[0], &spaces[0]), (&keys[1], &spaces[1])] {
        let r = w
            .start_restore(&jira, "dst", Some(vec![project.clone()]), None)
            .await;
        w.drain().await;
        assert_completed(&w, &r.id).await;
        let r = w
            .start_restore(&wiki, "dst", None, Some(vec![space.clone()]))
            .await;
        w.drain().await;
        assert_completed(&w, &r.id).await;
    }
    let in_dst = w.sim.with_site("dst", |s| {
        let mut k: Vec<String> = s.projects.values().map(|p| p.key.clone()).collect();
        k.sort();
        let mut sp: Vec<String> = s.spaces.values().map(|s| s.key.clone()).collect();
        sp.sort();
        (k, sp)
    });
    assert_eq!(in_dst, (keys[..2].to_vec(), spaces[..2].to_vec()));
    // What was restored equals the source; only the rest differs.
    let d = differences(&w.sim, "src", "dst");
    assert!(!d.is_empty());
    for x in &d {
        let restored = keys[..2]
            .iter()
            .any(|k| x.path.starts_with(&format!("/jira/projects/{k}/")))
            || spaces[..2]
                .iter()
                .any(|k| x.path.starts_with(&format!("/confluence/spaces/{k}/")));
        assert!(!restored, "a restored item differs: {x:?}");
    }

    // The same project again: it exists, so it is skipped and nothing is written (rule 8).
    let before = issues(&w, "dst");
    let r = w
        .start_restore(&jira, "dst", Some(vec![keys[0].clone()]), None)
        .await;
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    assert_eq!(result["skipped"]["project"], json!(1), "{result}");
    assert_eq!(result["created"].get("issue"), None, "{result}");
    let r = w
        .start_restore(&wiki, "dst", None, Some(vec![spaces[0].clone()]))
        .await;
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    assert_eq!(result["skipped"]["space"], json!(1), "{result}");
    assert_eq!(issues(&w, "dst"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_restore_resumes_and_creates_nothing_twice() {
    let w = world(13, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;

    let (src_issues, _) = issues(&w, "src");
    let r = w.start_restore(&jira, "dst", None, None).await;
    w.kill_job_after(src_issues / 2, |w| issues(w, "dst").0)
        .await;
    let (half, dups) = issues(&w, "dst");
    assert!(
        half < src_issues,
        "killed before the end ({half} of {src_issues})"
    );
    assert_eq!(dups, 0);
    w.drain().await;
    let rec = w.restore_record(&r.id).await;
    assert!(
        rec.status_message.contains("Completed"),
        "{}",
        rec.status_message
    );
    let result = assert_completed(&w, &r.id).await;
    // What the result counts is what the destination holds, including what the killed attempt
    // wrote after its last checkpoint.
    assert_counts_held(&result, &jira_held(&w, "dst"));

    let (src_pages, _) = pages(&w, "src");
    let r = w.start_restore(&wiki, "dst", None, None).await;
    w.kill_job_after(src_pages / 2, |w| pages(w, "dst").0).await;
    let (half, dups) = pages(&w, "dst");
    let whole = restorable_pages(&w, "src");
    assert!(half < whole, "killed before the end ({half} of {whole})");
    assert_eq!(dups, 0);
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    assert_counts_held(&result, &wiki_held(&w, "dst"));

    assert_eq!(
        issues(&w, "dst"),
        (src_issues, 0),
        "no issue twice, none missing"
    );
    assert_eq!(pages(&w, "dst").1, 0, "no page twice");
    let d = differences(&w.sim, "src", "dst");
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

/// What a site holds of each kind a Jira restore counts in `result.created`.
fn jira_held(w: &World, site: &str) -> Value {
    w.sim.with_site(site, |s| {
        let issues = s.issues.values();
        json!({
            "project": s.projects.len(),
            "component": s.projects.values().map(|p| p.components.len()).sum::<usize>(),
            "version": s.projects.values().map(|p| p.versions.len()).sum::<usize>(),
            "board": s.boards.len(),
            "sprint": s.sprints.len(),
            "issue": s.issues.len(),
            "comment": issues.clone().map(|i| i.comments.len()).sum::<usize>(),
            "worklog": issues.clone().map(|i| i.worklogs.len()).sum::<usize>(),
            "remoteLink": issues.map(|i| i.remote_links.len()).sum::<usize>(),
            "attachment": s.attachments.len(),
            "issueLink": s.links.len(),
        })
    })
}

/// What a site holds of each kind a Confluence restore counts in `result.created`.
fn wiki_held(w: &World, site: &str) -> Value {
    w.sim.with_site(site, |s| {
        let of = |k: PageKind| s.pages.values().filter(|p| p.kind == k).count();
        let comments = |k: CommentKind| s.ccomments.values().filter(|c| c.kind == k).count();
        json!({
            "space": s.spaces.len(),
            // Each space's homepage comes with the space; the others are created.
            "page": of(PageKind::Page) - s.spaces.len(),
            "blogpost": of(PageKind::BlogPost),
            "comment": comments(CommentKind::Footer),
            "inlineComment": comments(CommentKind::Inline),
            "attachment": s.cattachments.len(),
        })
    })
}

fn assert_counts_held(result: &Value, held: &Value) {
    for (kind, n) in held.as_object().unwrap() {
        assert_eq!(
            result["created"][kind].as_u64().unwrap_or(0),
            n.as_u64().unwrap(),
            "created {kind}: {result}"
        );
    }
}

/// Issues and pages are written many at once (the site's concurrency, here 6), each one's
/// writes in a task of its own: a restore killed twice while many are half written (created,
/// some of their comments, worklogs or attachments written) resumes each time with nothing
/// created twice and nothing missing, sub-tasks under their parents and links between the
/// right issues, and counts what the destination holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_restore_killed_twice_resumes_with_no_duplicate_and_nothing_missing() {
    use cairn_sitesim::model::SUBTASK_TYPE;
    let settings = cairn_engine::EngineSettings {
        connector: cairn_connectors::Settings {
            max_concurrency: 6,
            ..support::loopback()
        },
        ..support::test_settings()
    };
    let counts = cairn_sitesim::Counts {
        issues: 90,
        pages: 30,
        ..support::small()
    };
    let w = support::world_with(16, counts, &["dst"], settings).await;
    let (subtasks, links, comments) = w.sim.with_site("src", |s| {
        (
            s.issues
                .values()
                .filter(|i| i.issuetype == SUBTASK_TYPE && i.parent.is_some())
                .count(),
            s.links.len(),
            s.issues.values().map(|i| i.comments.len()).sum::<usize>(),
        )
    });
    assert!(
        subtasks > 0 && links > 0 && comments > 0,
        "the source has sub-tasks ({subtasks}), links ({links}) and comments ({comments})"
    );
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;
    // Each request takes a little while, so that each kill finds many items half written.
    let slow: cairn_sitesim::FaultSpec = serde_json::from_value(json!({"latencyMs": 3})).unwrap();
    w.sim.set_faults("dst", slow);

    let (src_issues, _) = issues(&w, "src");
    let r = w.start_restore(&jira, "dst", None, None).await;
    for share in [3, 2] {
        // Killed once a third of the issues are there, then once half are.
        w.kill_job_after(src_issues / share, |w| issues(w, "dst").0)
            .await;
        let (now, dups) = issues(&w, "dst");
        assert!(
            now < src_issues,
            "killed before the end ({now} of {src_issues})"
        );
        assert_eq!(dups, 0, "no issue twice after a kill");
    }
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    assert_counts_held(&result, &jira_held(&w, "dst"));
    assert_eq!(
        issues(&w, "dst"),
        (src_issues, 0),
        "no issue twice, none missing"
    );

    let (src_pages, _) = pages(&w, "src");
    let whole = restorable_pages(&w, "src");
    let r = w.start_restore(&wiki, "dst", None, None).await;
    for share in [3, 2] {
        w.kill_job_after(src_pages / share, |w| pages(w, "dst").0)
            .await;
        let (now, dups) = pages(&w, "dst");
        assert!(now < whole, "killed before the end ({now} of {whole})");
        assert_eq!(dups, 0, "no page twice after a kill");
    }
    w.drain().await;
    let result = assert_completed(&w, &r.id).await;
    assert_counts_held(&result, &wiki_held(&w, "dst"));
    assert_eq!(pages(&w, "dst"), (whole, 0), "no page twice, none missing");

    // Everything else equals the source: fields, statuses, comments, worklogs, attachments,
    // parents, links; page trees, bodies, comments, attachments.
    let d = differences(&w.sim, "src", "dst");
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_unavailable_answers_slow_a_restore_without_failing_it() {
    let w = world(14, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;
    let faults: cairn_sitesim::FaultSpec = serde_json::from_value(json!({
        "rateLimit": {"burst": 3, "every": 9, "retryAfter": 0},
        "error": {"burst": 2, "every": 13, "status": 503},
    }))
    .unwrap();
    w.sim.set_faults("dst", faults);
    for backup in [&jira, &wiki] {
        let r = w.start_restore(backup, "dst", None, None).await;
        w.drain().await;
        assert_completed(&w, &r.id).await;
    }
    let injected = w
        .sim
        .request_log("dst")
        .iter()
        .filter(|e| e.fault.is_some())
        .count();
    assert!(injected > 10, "faults were injected ({injected})");
    let d = differences(&w.sim, "src", "dst");
    assert!(
        d.is_empty(),
        "{} differences: {:#?}",
        d.len(),
        &d[..d.len().min(8)]
    );
}

/// Each restored issue and page carries its original id, key, creation time and authors in the
/// `cairn.origin` property (on by default); with `record_origin` off, nothing is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_items_record_their_origin_unless_turned_off() {
    use cairn_engine::origin::PROPERTY;
    for record in [true, false] {
        let settings = cairn_engine::EngineSettings {
            record_origin: record,
            ..support::test_settings()
        };
        let w = support::world_with(15, support::small(), &["dst"], settings).await;
        let jira = w.backup(Product::Jira).await;
        let wiki = w.backup(Product::Confluence).await;
        for backup in [&jira, &wiki] {
            let r = w.start_restore(backup, "dst", None, None).await;
            w.drain().await;
            assert_completed(&w, &r.id).await;
        }
        // Source issues by summary (unique enough in a generated project) with their key,
        // creation time and comment authors.
        let source: HashMap<String, (String, String, Vec<String>)> = w.sim.with_site("src", |s| {
            s.issues
                .values()
                .map(|i| {
                    let created = i.created.format("%Y-%m-%dT%H:%M:%S").to_string();
                    let authors = i.comments.iter().map(|c| c.author.clone()).collect();
                    (i.summary.clone(), (i.key.clone(), created, authors))
                })
                .collect()
        });
        let (issues, pages) = w.sim.with_site("dst", |s| {
            let issues: Vec<(String, Option<serde_json::Value>)> = s
                .issues
                .values()
                .map(|i| (i.summary.clone(), i.properties.get(PROPERTY).cloned()))
                .collect();
            let pages: Vec<Option<serde_json::Value>> = s
                .pages
                .values()
                .map(|p| {
                    p.properties
                        .iter()
                        .find(|x| x.key == PROPERTY)
                        .map(|x| x.value.clone())
                })
                .collect();
            (issues, pages)
        });
        assert!(!issues.is_empty() && !pages.is_empty());
        if !record {
            assert!(issues.iter().all(|(_, o)| o.is_none()));
            assert!(pages.iter().all(Option::is_none));
            continue;
        }
        let mut commented = 0;
        for (summary, origin) in &issues {
            let origin = origin
                .as_ref()
                .expect("every restored issue has its origin");
            let (key, created, authors) = &source[summary];
            assert_eq!(origin["source"]["key"], json!(key), "{origin}");
            assert!(
                origin["created"]
                    .as_str()
                    .unwrap()
                    .starts_with(created.as_str()),
                "{origin} vs {created}"
            );
            let recorded: Vec<&str> = origin["comments"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c["author"]["accountId"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(recorded, *authors, "{origin}");
            commented += usize::from(!authors.is_empty());
        }
        assert!(commented > 0, "some issues have comments");
        // Pages of personal spaces are not restored; every other one has its origin.
        let restored = pages.iter().filter(|o| o.is_some()).count();
        assert!(
            restored > 0 && restored == pages.len(),
            "{restored} of {}",
            pages.len()
        );
        for o in pages.iter().flatten() {
            assert!(
                o["authorId"].is_string() && o["createdAt"].is_string(),
                "{o}"
            );
        }
    }
}

/// A site's Jira issues by `project/summary`, with the issues they name (parent, links) by
/// summary too, and without the origin property a restore adds: equal before an issue is
/// deleted and after it is restored alone.
fn issues_by_summary(w: &World, site: &str) -> std::collections::BTreeMap<String, Value> {
    let c = without_origin(w.sim.content(site));
    let projects = c["jira"]["projects"].as_object().unwrap();
    let mut summaries = HashMap::new();
    for (key, p) in projects {
        for (r, i) in p["issues"].as_object().unwrap() {
            assert!(r.starts_with(&format!("{key}#")));
            summaries.insert(r.clone(), i["summary"].clone());
        }
    }
    let summary_of = |r: &Value| {
        r.as_str()
            .and_then(|r| summaries.get(r))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut out = std::collections::BTreeMap::new();
    for (key, p) in projects {
        for i in p["issues"].as_object().unwrap().values() {
            let mut i = i.clone();
            i["parent"] = summary_of(&i["parent"]);
            if let Some(links) = i["links"].as_array_mut() {
                for l in links.iter_mut() {
                    l["to"] = summary_of(&l["to"]);
                }
                links.sort_by_key(|l| l.to_string());
            }
            let name = format!("{key}/{}", i["summary"].as_str().unwrap());
            assert!(out.insert(name.clone(), i).is_none(), "{name} twice");
        }
    }
    out
}

/// A site's Confluence content without the origin property a restore adds.
fn wiki_content(w: &World, site: &str) -> Value {
    without_origin(w.sim.content(site))["confluence"].clone()
}

fn without_origin(content: Value) -> Value {
    cairn_sitesim::digest::without(content, &support::origin_ignored())
}

/// Single issues and pages deleted from a site come back from its backup into that site: the
/// issue with its sub-tasks and everything on them, linked again to the issues still there;
/// the page under its parent, with its comments, labels and attachments. What is still there
/// is skipped (rule 8), and what the backup lacks is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_issues_and_pages_come_back_alone_into_their_site() {
    use cairn_sitesim::model::{PageKind, SUBTASK_TYPE};
    let w = world(41, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let wiki = w.backup(Product::Confluence).await;

    // An issue with a sub-task and a link to another issue, and another that stays.
    let (victim, kept, subtasks) = w.sim.with_site("src", |s| {
        let family = |id: u64| {
            s.issues
                .values()
                .filter(|c| c.parent == Some(id) && c.issuetype == SUBTASK_TYPE)
                .count()
        };
        let linked = |id: u64| s.links.values().any(|l| l.inward == id || l.outward == id);
        let v = s
            .issues
            .values()
            .find(|i| family(i.id) > 0 && linked(i.id))
            .expect("the generated site has an issue with a sub-task and a link");
        let kept = s
            .issues
            .values()
            .find(|i| i.id != v.id && i.parent != Some(v.id))
            .unwrap();
        (v.clone(), kept.key.clone(), family(v.id))
    });
    let before = issues_by_summary(&w, "src");
    let count = issues(&w, "src").0;
    w.sim.with_site_mut("src", |s| s.remove_issue(victim.id));
    let last_id = w.sim.with_site("src", |s| *s.issues.keys().last().unwrap());
    assert_eq!(issues(&w, "src").0, count - 1 - subtasks);

    let r = w
        .start_item_restore(
            &jira,
            "src",
            vec![victim.key.to_lowercase(), kept.clone(), "ZZZ-1".into()],
        )
        .await;
    w.drain().await;
    let rec = w.restore_record(&r.id).await;
    assert_eq!(
        rec.status.to_string(),
        "INCOMPLETE",
        "{}",
        rec.status_message
    );
    let result = w.result(&r.id).await;
    assert_eq!(result["created"]["issue"], json!(1 + subtasks), "{result}");
    assert_eq!(result["skipped"]["issue"], json!(1), "{result}");
    assert_eq!(
        result["failed"],
        json!([{"kind": "issue", "sourceId": "ZZZ-1", "message": "not in this backup"}])
    );
    assert!(
        result["created"]["issueLink"].as_u64().unwrap_or(0) > 0,
        "links to the issues still there: {result}"
    );
    let mut expected = before.clone();
    // Sprint membership comes back with whole projects only.
    let restored: Vec<String> = w.sim.with_site("src", |s| {
        let project = &s.projects[&victim.project_id].key;
        s.issues
            .values()
            .filter(|i| i.id > last_id)
            .map(|i| format!("{project}/{}", i.summary))
            .collect()
    });
    assert_eq!(restored.len(), 1 + subtasks);
    for name in &restored {
        if let Some(i) = expected.get_mut(name) {
            i["sprint"] = Value::Null;
        }
    }
    assert_eq!(issues_by_summary(&w, "src"), expected);
    assert_eq!(issues(&w, "src").0, count);

    // Into another site, the issue needs its project there.
    let r = w.start_item_restore(&jira, "dst", vec![kept]).await;
    w.drain().await;
    let result = w.result(&r.id).await;
    assert!(
        result["failed"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the destination has no project"),
        "{result}"
    );

    // A page with a parent and no children, with what hangs off it, and a page that stays.
    let (page, other) = w.sim.with_site("src", |s| {
        let personal = |space: u64| s.spaces.get(&space).is_some_and(|x| x.personal);
        let leaf = |id: u64| !s.pages.values().any(|c| c.parent_id == Some(id));
        let rich = |id: u64| {
            s.ccomments.values().any(|c| c.container == id)
                || s.cattachments.values().any(|a| a.container == id)
        };
        let candidates: Vec<_> = s
            .pages
            .values()
            .filter(|p| {
                p.kind == PageKind::Page
                    && p.parent_id.is_some()
                    && leaf(p.id)
                    && !personal(p.space_id)
            })
            .collect();
        let page = candidates
            .iter()
            .find(|p| rich(p.id))
            .or(candidates.first())
            .expect("a leaf page under another");
        let other = candidates.iter().find(|p| p.id != page.id).unwrap();
        (page.id, other.id)
    });
    let before = wiki_content(&w, "src");
    w.sim.with_site_mut("src", |s| s.remove_page(page));
    assert_ne!(wiki_content(&w, "src"), before);
    let r = w
        .start_item_restore(
            &wiki,
            "src",
            vec![page.to_string(), other.to_string(), "999999999".into()],
        )
        .await;
    w.drain().await;
    let result = w.result(&r.id).await;
    assert_eq!(result["created"]["page"], json!(1), "{result}");
    assert_eq!(result["skipped"]["page"], json!(1), "{result}");
    assert_eq!(
        result["failed"],
        json!([{"kind": "page", "sourceId": "999999999", "message": "not in this backup"}])
    );
    assert_eq!(wiki_content(&w, "src"), before);
}
