//! Walking every list operation to its end visits every item exactly once, for page sizes 1, 7
//! and the maximum.

mod common;

use std::collections::BTreeSet;

use cairn_sitesim::model::PageKind;
use cairn_sitesim::{Scale, SiteSpec};
use common::T;
use serde_json::{Value, json};

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

fn sep(path: &str) -> &'static str {
    if path.contains('?') { "&" } else { "?" }
}

/// PageBean (`isLast`) or older envelope (`total`) or bare array.
async fn walk_start_at(t: &T, path: &str, key: Option<&str>, size: usize) -> Vec<String> {
    let mut out = vec![];
    let mut start = 0;
    for _ in 0..10_000 {
        let (st, _, v) = t
            .get(
                "s",
                &format!("{path}{}startAt={start}&maxResults={size}", sep(path)),
            )
            .await;
        assert_eq!(st, 200, "{path}: {v}");
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
            return out;
        }
    }
    panic!("{path}: did not end");
}

async fn walk_cursor(t: &T, path: &str, size: usize) -> Vec<String> {
    let mut out = vec![];
    let mut next = format!("{path}{}limit={size}", sep(path));
    for _ in 0..10_000 {
        let (st, h, v) = t.get("s", &next).await;
        assert_eq!(st, 200, "{next}: {v}");
        let items = v["results"].as_array().unwrap();
        assert!(items.len() <= size);
        out.extend(items.iter().map(id_of));
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
    let t = common::start(Scale::Small, vec![SiteSpec::new("s")]).await;
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
    for (size, label) in [(1usize, "1"), (7, "7"), (usize::MAX, "max")] {
        let cap = |m: usize| size.min(m);
        once(
            walk_start_at(&t, "/rest/api/3/project/search", Some("values"), cap(100)).await,
            &projects,
            &format!("project/search {label}"),
        );
        once(
            walk_start_at(&t, "/rest/api/3/users/search", None, cap(1000)).await,
            &users,
            &format!("users/search {label}"),
        );
        once(
            walk_start_at(
                &t,
                &format!("/rest/api/3/group/member?groupname={group}"),
                Some("values"),
                cap(50),
            )
            .await,
            &members,
            &format!("group/member {label}"),
        );
        once(
            walk_start_at(
                &t,
                &format!("/rest/api/3/issue/{busy}/comment"),
                Some("comments"),
                cap(5000),
            )
            .await,
            &comments,
            &format!("comments {label}"),
        );
        once(
            walk_start_at(
                &t,
                &format!("/rest/api/3/issue/{busy}/changelog"),
                Some("values"),
                cap(100),
            )
            .await,
            &histories,
            &format!("changelog {label}"),
        );
        once(
            walk_start_at(
                &t,
                &format!("/rest/api/3/issue/{busy}/worklog"),
                Some("worklogs"),
                cap(5000),
            )
            .await,
            &worklogs,
            &format!("worklogs {label}"),
        );
        once(
            walk_start_at(&t, "/rest/agile/1.0/board", Some("values"), cap(50)).await,
            &boards,
            &format!("boards {label}"),
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
            once(got, &issues, &format!("search/jql post={post} {label}"));
        }

        for (path, want) in [
            ("/wiki/api/v2/pages".to_string(), &pages),
            ("/wiki/api/v2/blogposts".to_string(), &blogs),
            ("/wiki/api/v2/spaces".to_string(), &spaces),
            (format!("/wiki/api/v2/pages/{page}/children"), &children),
            (format!("/wiki/api/v2/pages/{att_page}/attachments"), &catts),
        ] {
            once(
                walk_cursor(&t, &path, cap(250)).await,
                want,
                &format!("{path} {label}"),
            );
        }
        once(
            walk_v1(
                &t,
                &format!("/wiki/rest/api/content/{att_page}/child/attachment"),
                cap(200),
            )
            .await,
            &catts,
            &format!("v1 attachments {label}"),
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
        once(got, &expected, &format!("bulkfetch {size}"));
    }
    t.sim.shutdown().await;
}
