//! Walking every list operation to its end visits every item exactly once, for page sizes 1, 7
//! and the maximum, and in the same order whatever the page size.

mod support;

use std::collections::BTreeSet;

use cairn_sitesim::model::{CommentKind, PageKind};
use cairn_sitesim::{Scale, SiteSpec};
use serde_json::{Value, json};
use support::T;

fn id_of(v: &Value) -> String {
    for k in ["key", "accountId", "id"] {
        match &v[k] {
            Value::String(s) => return s.clone(),
            Value::Number(n) => return n.to_string(),
            _ => {}
        }
    }
    panic!("no id in {v}");
}

fn once(ids: Vec<String>, expected: &BTreeSet<String>, what: &str) {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "{what}: an item was returned twice");
    assert_eq!(&set, expected, "{what}: items differ");
}

/// Walks of the same list with different page sizes: each visits every item once, and all of
/// them in the same order.
#[derive(Default)]
struct Walks(std::collections::BTreeMap<String, (String, Vec<String>)>);

impl Walks {
    fn check(&mut self, list: &str, size: &str, ids: Vec<String>, expected: &BTreeSet<String>) {
        once(ids.clone(), expected, &format!("{list} (page size {size})"));
        match self.0.get(list) {
            Some((first, seen)) => assert_eq!(
                seen, &ids,
                "{list}: page size {size} gives another order than page size {first}"
            ),
            None => {
                self.0.insert(list.to_string(), (size.to_string(), ids));
            }
        }
    }
}

fn sep(path: &str) -> &'static str {
    if path.contains('?') { "&" } else { "?" }
}

/// PageBean (`isLast`) or older envelope (`total`) or bare array.
async fn walk_start_at(t: &T, path: &str, key: Option<&str>, size: usize) -> Vec<String> {
    let mut out = vec![];
    let mut start = 0;
    let mut next: Option<String> = None;
    for _ in 0..10_000 {
        let url = match next.take() {
            Some(n) => n,
            None => format!("{path}{}startAt={start}&maxResults={size}", sep(path)),
        };
        let (st, _, v) = t.get("s", &url).await;
        assert_eq!(st, 200, "{url}: {v}");
        let items = match key {
            Some(k) => v[k].as_array().unwrap().clone(),
            None => v.as_array().unwrap().clone(),
        };
        assert!(items.len() <= size, "{path}: page larger than maxResults");
        start += items.len();
        out.extend(items.iter().map(id_of));
        let done = match key {
            Some(_) if v.get("isLast").is_some() => v["isLast"].as_bool().unwrap(),
            Some(_) => start >= v["total"].as_u64().unwrap() as usize,
            None => items.is_empty(),
        };
        if done || items.is_empty() {
            assert!(
                v.get("nextPage").is_none(),
                "{url}: nextPage on the last page"
            );
            return out;
        }
        // A PageBean's `nextPage` is the URL of the next page: follow it as a client would.
        if let Some(n) = v["nextPage"].as_str() {
            let base = t.sim.base_url("s");
            let rel = n
                .strip_prefix(base.as_str())
                .unwrap_or_else(|| panic!("{n} is not on {base}"));
            assert!(
                rel.contains(&format!("startAt={start}")),
                "{url}: nextPage {n}"
            );
            next = Some(rel.to_string());
        }
    }
    panic!("{path}: did not end");
}

async fn walk_cursor(t: &T, path: &str, size: usize) -> Vec<String> {
    walk_cursor_by(t, path, size, id_of).await
}

async fn walk_cursor_by(t: &T, path: &str, size: usize, id: fn(&Value) -> String) -> Vec<String> {
    let mut out = vec![];
    let mut next = format!("{path}{}limit={size}", sep(path));
    for _ in 0..10_000 {
        let (st, h, v) = t.get("s", &next).await;
        assert_eq!(st, 200, "{next}: {v}");
        let items = v["results"].as_array().unwrap();
        assert!(items.len() <= size);
        out.extend(items.iter().map(id));
        let link = h.get("link").map(|l| l.to_str().unwrap().to_string());
        match v["_links"]["next"].as_str() {
            Some(n) => {
                let l = link.expect("Link header with a next page");
                assert!(
                    l.starts_with(&format!("<{n}>; rel=\"next\"")),
                    "Link {l} vs _links.next {n}"
                );
                assert!(n.starts_with("/wiki/"), "{n}");
                next = n.to_string();
            }
            None => {
                assert!(link.is_none(), "Link header on the last page");
                return out;
            }
        }
    }
    panic!("{path}: did not end");
}

async fn walk_v1(t: &T, path: &str, size: usize) -> Vec<String> {
    let mut out = vec![];
    let mut start = 0;
    loop {
        let (st, _, v) = t
            .get("s", &format!("{path}?start={start}&limit={size}"))
            .await;
        assert_eq!(st, 200);
        let items = v["results"].as_array().unwrap();
        out.extend(items.iter().map(id_of));
        start += items.len();
        if v["_links"]["next"].is_null() {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_visits_every_item_once() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (
        projects,
        issues,
        users,
        busy,
        comments,
        histories,
        worklogs,
        pages,
        blogs,
        spaces,
        page,
        children,
        att_page,
        catts,
        members,
        group,
        boards,
    ) = t.sim.with_site("s", |s| {
        let busy = s
            .issues
            .values()
            .max_by_key(|i| i.comments.len() + i.histories.len())
            .unwrap();
        let page = s
            .pages
            .values()
            .max_by_key(|p| {
                s.pages
                    .values()
                    .filter(|c| c.parent_id == Some(p.id))
                    .count()
            })
            .unwrap();
        let att_page = s
            .pages
            .values()
            .filter(|p| p.kind == cairn_sitesim::model::PageKind::Page)
            .max_by_key(|p| {
                s.cattachments
                    .values()
                    .filter(|a| a.container == p.id)
                    .count()
            })
            .unwrap();
        (
            s.projects
                .values()
                .map(|p| p.key.clone())
                .collect::<BTreeSet<_>>(),
            s.issues
                .values()
                .map(|i| i.key.clone())
                .collect::<BTreeSet<_>>(),
            s.users
                .iter()
                .map(|u| u.account_id.clone())
                .collect::<BTreeSet<_>>(),
            busy.key.clone(),
            busy.comments
                .iter()
                .map(|c| c.id.to_string())
                .collect::<BTreeSet<_>>(),
            busy.histories
                .iter()
                .map(|c| c.id.to_string())
                .collect::<BTreeSet<_>>(),
            busy.worklogs
                .iter()
                .map(|c| c.id.to_string())
                .collect::<BTreeSet<_>>(),
            s.pages
                .values()
                .filter(|p| p.kind == PageKind::Page)
                .map(|p| p.id.to_string())
                .collect::<BTreeSet<_>>(),
            s.pages
                .values()
                .filter(|p| p.kind == PageKind::BlogPost)
                .map(|p| p.id.to_string())
                .collect::<BTreeSet<_>>(),
            s.spaces
                .values()
                .map(|p| p.key.clone())
                .collect::<BTreeSet<_>>(),
            page.id,
            s.pages
                .values()
                .filter(|c| c.parent_id == Some(page.id))
                .map(|p| p.id.to_string())
                .collect::<BTreeSet<_>>(),
            att_page.id,
            s.cattachments
                .values()
                .filter(|a| a.container == att_page.id)
                .map(|a| format!("att{}", a.id))
                .collect::<BTreeSet<_>>(),
            s.groups[0]
                .members
                .iter()
                .filter(|m| s.user(m).unwrap().active)
                .cloned()
                .collect::<BTreeSet<_>>(),
            s.groups[0].name.clone(),
            s.boards
                .keys()
                .map(|b| b.to_string())
                .collect::<BTreeSet<_>>(),
        )
    });
    assert!(
        comments.len() >= 2 && histories.len() >= 2 && children.len() >= 2 && !catts.is_empty()
    );
    let keys: Vec<String> = t.sim.with_site("s", |s| {
        s.projects.values().map(|p| p.key.clone()).collect()
    });
    let jql = format!("project in ({})", keys.join(","));
    let mut walks = Walks::default();
    for (size, label) in [(1usize, "1"), (7, "7"), (usize::MAX, "max")] {
        let cap = |m: usize| size.min(m);
        walks.check(
            "project/search",
            label,
            walk_start_at(&t, "/rest/api/3/project/search", Some("values"), cap(100)).await,
            &projects,
        );
        walks.check(
            "users/search",
            label,
            walk_start_at(&t, "/rest/api/3/users/search", None, cap(1000)).await,
            &users,
        );
        walks.check(
            "group/member",
            label,
            walk_start_at(
                &t,
                &format!("/rest/api/3/group/member?groupname={group}"),
                Some("values"),
                cap(50),
            )
            .await,
            &members,
        );
        walks.check(
            "comments",
            label,
            walk_start_at(
                &t,
                &format!("/rest/api/3/issue/{busy}/comment"),
                Some("comments"),
                cap(5000),
            )
            .await,
            &comments,
        );
        walks.check(
            "changelog",
            label,
            walk_start_at(
                &t,
                &format!("/rest/api/3/issue/{busy}/changelog"),
                Some("values"),
                cap(100),
            )
            .await,
            &histories,
        );
        walks.check(
            "worklogs",
            label,
            walk_start_at(
                &t,
                &format!("/rest/api/3/issue/{busy}/worklog"),
                Some("worklogs"),
                cap(5000),
            )
            .await,
            &worklogs,
        );
        walks.check(
            "boards",
            label,
            walk_start_at(&t, "/rest/agile/1.0/board", Some("values"), cap(50)).await,
            &boards,
        );

        // /search/jql with nextPageToken, GET and POST.
        for post in [false, true] {
            let mut got = vec![];
            let mut token: Option<String> = None;
            let max = cap(100);
            loop {
                let v = if post {
                    let mut body = json!({"jql": jql, "maxResults": max, "fields": ["summary"]});
                    if let Some(tk) = &token {
                        body["nextPageToken"] = json!(tk);
                    }
                    t.send(
                        "s",
                        reqwest::Method::POST,
                        "/rest/api/3/search/jql",
                        Some(body),
                    )
                    .await
                    .1
                } else {
                    let mut p = format!(
                        "/rest/api/3/search/jql?jql={}&maxResults={max}&fields=summary",
                        jql.replace(' ', "%20")
                    );
                    if let Some(tk) = &token {
                        p.push_str(&format!("&nextPageToken={tk}"));
                    }
                    t.get("s", &p).await.2
                };
                let items = v["issues"].as_array().unwrap();
                assert!(items.len() <= max);
                got.extend(items.iter().map(id_of));
                assert!(v.get("total").is_none(), "/search/jql has no total");
                match v["nextPageToken"].as_str() {
                    Some(tk) => {
                        assert_eq!(v["isLast"], json!(false));
                        token = Some(tk.to_string());
                    }
                    None => break,
                }
            }
            walks.check(&format!("search/jql post={post}"), label, got, &issues);
        }

        for (path, want) in [
            ("/wiki/api/v2/pages".to_string(), &pages),
            ("/wiki/api/v2/blogposts".to_string(), &blogs),
            ("/wiki/api/v2/spaces".to_string(), &spaces),
            (format!("/wiki/api/v2/pages/{page}/children"), &children),
            (format!("/wiki/api/v2/pages/{att_page}/attachments"), &catts),
        ] {
            walks.check(&path, label, walk_cursor(&t, &path, cap(250)).await, want);
        }
        walks.check(
            "v1 attachments",
            label,
            walk_v1(
                &t,
                &format!("/wiki/rest/api/content/{att_page}/child/attachment"),
                cap(200),
            )
            .await,
            &catts,
        );
    }
    // bulk changelog with nextPageToken
    let all_keys: Vec<String> = issues.iter().cloned().collect();
    let expected: BTreeSet<String> = t.sim.with_site("s", |s| {
        s.issues
            .values()
            .flat_map(|i| i.histories.iter().map(|h| h.id.to_string()))
            .collect()
    });
    for size in [1usize, 7, 10_000] {
        let mut got = vec![];
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"issueIdsOrKeys": all_keys, "maxResults": size});
            if let Some(tk) = &token {
                body["nextPageToken"] = json!(tk);
            }
            let (st, v) = t
                .send(
                    "s",
                    reqwest::Method::POST,
                    "/rest/api/3/changelog/bulkfetch",
                    Some(body),
                )
                .await;
            assert_eq!(st, 200);
            for l in v["issueChangeLogs"].as_array().unwrap() {
                got.extend(l["changeHistories"].as_array().unwrap().iter().map(id_of));
            }
            match v["nextPageToken"].as_str() {
                Some(tk) => token = Some(tk.to_string()),
                None => break,
            }
        }
        walks.check("changelog/bulkfetch", &size.to_string(), got, &expected);
    }
    t.sim.shutdown().await;
}

/// Writes `n` items through the API, so the list under test spans more than one page of 7.
async fn add(t: &T, n: usize, path: &str, body: impl Fn(usize) -> Value) {
    for k in 0..n {
        let (st, v) = t
            .send("s", reqwest::Method::POST, path, Some(body(k)))
            .await;
        assert!(st == 200 || st == 201, "{path}: {st} {v}");
    }
}

fn adf_storage(text: &str) -> Value {
    json!({"representation": "storage", "value": format!("<p>{text}</p>")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_sprints_and_confluence_sublists_visit_every_item_once() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (project, board, page, blog, space, comment) = t.sim.with_site("s", |s| {
        let project = s.projects.values().next().unwrap().key.clone();
        let board = s.boards.values().find(|b| b.kind == "scrum").unwrap().id;
        let page = s.pages.values().find(|p| p.kind == PageKind::Page).unwrap();
        let blog = s
            .pages
            .values()
            .find(|p| p.kind == PageKind::BlogPost)
            .unwrap();
        let comment = s
            .ccomments
            .values()
            .find(|c| {
                c.container == page.id
                    && c.kind == CommentKind::Footer
                    && c.parent_comment.is_none()
            })
            .map(|c| c.id);
        (project, board, page.id, blog.id, page.space_id, comment)
    });
    // Top every list up past one page of 7, through the API.
    add(
        &t,
        9,
        "/rest/api/3/version",
        |k| json!({"project": project, "name": format!("paging-{k}")}),
    )
    .await;
    add(
        &t,
        9,
        "/rest/agile/1.0/sprint",
        |k| json!({"originBoardId": board, "name": format!("Paging sprint {k}")}),
    )
    .await;
    add(&t, 9, "/wiki/api/v2/pages", |k| json!({"spaceId": space.to_string(), "title": format!("Paging page {k}"), "body": adf_storage("p")})).await;
    for (key, id) in [("pageId", page), ("blogPostId", blog)] {
        add(
            &t,
            9,
            "/wiki/api/v2/footer-comments",
            |k| json!({key: id.to_string(), "body": adf_storage(&format!("footer {k}"))}),
        )
        .await;
        add(&t, 9, "/wiki/api/v2/inline-comments", |k| json!({key: id.to_string(), "body": adf_storage(&format!("inline {k}")), "inlineCommentProperties": {"textSelection": format!("sel{k}"), "textSelectionMatchCount": 1, "textSelectionMatchIndex": 0}})).await;
        add(&t, 1, &format!("/wiki/rest/api/content/{id}/label"), |_| {
            json!(
                (0..9)
                    .map(|k| json!({"prefix": "global", "name": format!("paging-{k}")}))
                    .collect::<Vec<_>>()
            )
        })
        .await;
    }
    add(
        &t,
        9,
        &format!("/wiki/api/v2/pages/{page}/properties"),
        |k| json!({"key": format!("paging-{k}"), "value": k}),
    )
    .await;
    add(
        &t,
        9,
        &format!("/wiki/api/v2/blogposts/{blog}/properties"),
        |k| json!({"key": format!("paging-{k}"), "value": k}),
    )
    .await;
    let comment = match comment {
        Some(c) => c,
        None => t.sim.with_site("s", |s| {
            s.ccomments
                .values()
                .filter(|c| c.container == page && c.kind == CommentKind::Footer)
                .map(|c| c.id)
                .min()
                .unwrap()
        }),
    };
    add(&t, 9, "/wiki/api/v2/footer-comments", |k| json!({"parentCommentId": comment.to_string(), "body": adf_storage(&format!("reply {k}"))})).await;

    // What each list must hold, from the model.
    let expected = t.sim.with_site("s", |s| {
        let ids = |it: &mut dyn Iterator<Item = String>| it.collect::<BTreeSet<String>>();
        let comments = |c: u64, kind: CommentKind| {
            ids(&mut s
                .ccomments
                .values()
                .filter(move |x| {
                    x.container == c
                        && x.kind == kind
                        && (kind == CommentKind::Inline || x.parent_comment.is_none())
                })
                .map(|x| x.id.to_string()))
        };
        let labels = |c: u64| ids(&mut s.pages[&c].labels.iter().map(|l| l.to_string()));
        let props = |c: u64| ids(&mut s.pages[&c].properties.iter().map(|p| p.key.clone()));
        let p = s.project_by_ref(&project).unwrap();
        vec![
            (
                format!("/rest/api/3/project/{project}/version"),
                ids(&mut p.versions.iter().map(|v| v.id.clone())),
            ),
            (
                format!("/rest/agile/1.0/board/{board}/sprint"),
                ids(&mut s
                    .sprints
                    .values()
                    .filter(|x| x.board_id == board)
                    .map(|x| x.id.to_string())),
            ),
            (
                format!("/wiki/api/v2/spaces/{space}/pages"),
                ids(&mut s
                    .pages
                    .values()
                    .filter(|x| x.space_id == space && x.kind == PageKind::Page)
                    .map(|x| x.id.to_string())),
            ),
            (
                format!("/wiki/api/v2/pages/{page}/footer-comments"),
                comments(page, CommentKind::Footer),
            ),
            (
                format!("/wiki/api/v2/pages/{page}/inline-comments"),
                comments(page, CommentKind::Inline),
            ),
            (
                format!("/wiki/api/v2/blogposts/{blog}/footer-comments"),
                comments(blog, CommentKind::Footer),
            ),
            (
                format!("/wiki/api/v2/blogposts/{blog}/inline-comments"),
                comments(blog, CommentKind::Inline),
            ),
            (
                format!("/wiki/api/v2/footer-comments/{comment}/children"),
                ids(&mut s
                    .ccomments
                    .values()
                    .filter(|x| x.parent_comment == Some(comment))
                    .map(|x| x.id.to_string())),
            ),
            (format!("/wiki/api/v2/pages/{page}/labels"), labels(page)),
            (
                format!("/wiki/api/v2/blogposts/{blog}/labels"),
                labels(blog),
            ),
            (format!("/wiki/api/v2/pages/{page}/properties"), props(page)),
            (
                format!("/wiki/api/v2/blogposts/{blog}/properties"),
                props(blog),
            ),
        ]
    });
    let mut walks = Walks::default();
    for (size, label) in [(1usize, "1"), (7, "7"), (usize::MAX, "max")] {
        for (path, want) in &expected {
            assert!(want.len() > 7, "{path}: only {} items", want.len());
            let got = if path.ends_with("/labels") {
                // The model knows labels by name.
                walk_cursor_by(&t, path, size.min(250), |v| {
                    v["name"].as_str().unwrap().to_string()
                })
                .await
            } else if path.starts_with("/wiki/") {
                walk_cursor(&t, path, size.min(250)).await
            } else {
                walk_start_at(&t, path, Some("values"), size.min(50)).await
            };
            walks.check(path, label, got, want);
        }
    }
    t.sim.shutdown().await;
}
