//! The write side creates into an empty stand-in site and gives back the destination ids (the
//! restore's source→destination map), and `probe` reports products and emptiness.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use cairn_connectors::{ContentKind, Credentials, ErrorKind, Upload, probe, probe_with};
use cairn_sitesim::{Access, SiteSpec};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

/// 300 KB in 3 KB chunks from a generator: an upload that is a stream, not a buffer.
fn streamed_upload(name: &str) -> (Upload, Vec<u8>) {
    let chunk = |i: u8| Bytes::from(vec![i; 3000]);
    let all: Vec<u8> = (0..100u8).flat_map(|i| chunk(i).to_vec()).collect();
    let up = Upload {
        filename: name.into(),
        media_type: "application/octet-stream".into(),
        length: Some(all.len() as u64),
        open: Arc::new(move || {
            futures::stream::iter((0..100u8).map(move |i| Ok(chunk(i)))).boxed()
        }),
    };
    (up, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jira_writes_into_an_empty_site_and_ids_come_back() {
    let sim = support::start(vec![SiteSpec::empty("d")]).await;
    let site = support::site(&sim, "d", support::quick());
    let j = site.jira();
    let me = sim.account(Access::ReadWrite).account_id();
    let p = j
        .create_project(&json!({"key": "NEW", "name": "New", "projectTypeKey": "software", "leadAccountId": me}))
        .await
        .unwrap();
    assert_eq!(p.key, "NEW");
    let comp = j
        .create_component(&json!({"project": "NEW", "name": "API", "id": "999"}))
        .await
        .unwrap();
    let ver = j
        .create_version(&json!({"project": "NEW", "name": "1.0", "released": false}))
        .await
        .unwrap();
    let task = j
        .issue_types()
        .try_filter(|t| futures::future::ready(t["name"] == "Task"))
        .try_next()
        .await
        .unwrap()
        .unwrap();
    let doc = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hello"}]}]});
    // As a backup holds it: read-only fields included; they are not sent.
    let fields = json!({
        "project": {"key": "NEW"}, "issuetype": {"id": task["id"]}, "summary": "first",
        "description": doc, "components": [{"name": "API"}], "fixVersions": [{"name": "1.0"}],
        "created": "2024-01-01T00:00:00.000+0000", "creator": {"accountId": me}, "status": {"id": "10001"},
    });
    let a = j.create_issue(&fields).await.unwrap();
    let b = j.create_issue(&json!({"project": {"key": "NEW"}, "issuetype": {"id": task["id"]}, "summary": "second"})).await.unwrap();
    assert_eq!(
        (a.key.as_str(), b.key.as_str()),
        ("NEW-1", "NEW-2"),
        "the site assigns keys"
    );
    let comment = j
        .add_comment(&a.key, &json!({"body": doc, "author": {"accountId": "someone"}, "created": "2024-01-01T00:00:00.000+0000", "id": "5"}))
        .await
        .unwrap();
    let worklog = j
        .add_worklog(&a.key, &json!({"timeSpentSeconds": 3600, "started": "2024-01-02T10:00:00.000+0000", "comment": doc}))
        .await
        .unwrap();
    let link = j.create_issue_link("Blocks", &a.key, &b.key).await.unwrap();
    let remote = j
        .create_remote_link(
            &a.key,
            &json!({"globalId": "g1", "object": {"url": "https://example.com", "title": "x"}}),
        )
        .await
        .unwrap();
    j.add_watcher(&a.key, &me).await.unwrap();
    j.set_property(&a.key, "cairn.test", &json!({"n": 1}))
        .await
        .unwrap();
    let (up, data) = streamed_upload("data.bin");
    let atts = j.upload_attachment(&a.key, up).await.unwrap();
    let att_id = atts[0]["id"].as_str().unwrap().to_string();

    // Everything reads back under the ids the writes returned.
    let issue = j.issue(&a.key).await.unwrap();
    assert_eq!(issue["id"].as_str(), Some(a.id.as_str()));
    assert_eq!(
        issue["fields"]["components"][0]["id"].as_str(),
        Some(comp.as_str())
    );
    assert_eq!(
        issue["fields"]["fixVersions"][0]["id"].as_str(),
        Some(ver.as_str())
    );
    assert_eq!(
        issue["fields"]["issuelinks"][0]["id"].as_str(),
        link.as_deref(),
        "link id from Location"
    );
    let d = j.issue_details(&a.key).await.unwrap();
    assert_eq!(
        d.comments
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [comment.as_str()]
    );
    assert_eq!(d.worklogs[0]["id"].as_str(), Some(worklog.as_str()));
    assert_eq!(
        d.remote_links[0]["id"].to_string().trim_matches('"'),
        remote
    );
    assert_eq!(d.watchers["watchers"][0]["accountId"], json!(me));
    assert_eq!(d.properties, [("cairn.test".to_string(), json!({"n": 1}))]);
    assert_eq!(
        support::bytes_of(j.attachment_content(&att_id, 0).await.unwrap()).await,
        data
    );

    let board = j
        .create_board(&json!({"name": "B", "type": "scrum", "location": {"type": "project", "projectKeyOrId": "NEW"}}))
        .await
        .unwrap();
    let sprint = j
        .create_sprint(&json!({"name": "S1", "originBoardId": board.parse::<u64>().unwrap()}))
        .await
        .unwrap();
    j.update_sprint(&sprint, &json!({"state": "active", "startDate": "2025-01-01T00:00:00Z", "endDate": "2025-01-15T00:00:00Z"}))
        .await
        .unwrap();
    let sprints: Vec<Value> = j.sprints(&board).try_collect().await.unwrap();
    assert_eq!(
        (sprints[0]["id"].to_string(), sprints[0]["state"].as_str()),
        (sprint, Some("active"))
    );

    // A refused write says why, in Atlassian's words.
    let e = j
        .create_issue(&json!({"project": {"key": "NEW"}, "summary": "no type"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permanent);
    assert!(e.to_string().contains("issuetype"), "{e}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_writes_into_an_empty_site_and_ids_come_back() {
    let sim = support::start(vec![SiteSpec::empty("d")]).await;
    let site = support::site(&sim, "d", support::quick());
    let c = site.confluence();
    let space = c.create_space("DOCS", "Docs", "About").await.unwrap();
    let home = space
        .homepage_id
        .clone()
        .expect("a homepage with the space");
    let storage = |t: &str| json!({"representation": "storage", "value": format!("<p>{t}</p>")});
    c.update_page(&home, "Docs home", &storage("home"), 2)
        .await
        .unwrap();
    let parent = c
        .create_content(
            ContentKind::Page,
            &space.id,
            Some(&home),
            "Parent",
            &storage("parent"),
        )
        .await
        .unwrap();
    let child = c
        .create_content(
            ContentKind::Page,
            &space.id,
            Some(&parent),
            "Child",
            &storage("child text"),
        )
        .await
        .unwrap();
    let blog = c
        .create_content(
            ContentKind::BlogPost,
            &space.id,
            None,
            "News",
            &storage("news"),
        )
        .await
        .unwrap();
    let top = c
        .create_footer_comment(ContentKind::Page, &child, None, &storage("c1"))
        .await
        .unwrap();
    let reply = c
        .create_footer_comment(ContentKind::Page, &child, Some(&top), &storage("r1"))
        .await
        .unwrap();
    let inline = c
        .create_inline_comment(ContentKind::Page, &child, "child", &storage("i1"))
        .await
        .unwrap();
    c.resolve_inline_comment(&inline, 2).await.unwrap();
    let blog_comment = c
        .create_footer_comment(ContentKind::BlogPost, &blog, None, &storage("b1"))
        .await
        .unwrap();
    c.add_labels(&child, &["alpha", "beta"]).await.unwrap();
    let prop = c
        .create_property(ContentKind::Page, &child, "cairn.k", &json!({"v": 2}))
        .await
        .unwrap();
    let (up, data) = streamed_upload("report.bin");
    let att = c.upload_attachment(&child, up).await.unwrap();
    let att_id = att[0]["id"].as_str().unwrap().to_string();

    let spaces: Vec<Value> = c.spaces(false).try_collect().await.unwrap();
    assert_eq!(spaces[0]["id"].to_string().trim_matches('"'), space.id);
    let pages: Vec<Value> = c
        .contents_with_bodies(ContentKind::Page, &space.id)
        .try_collect()
        .await
        .unwrap();
    let by_id = |id: &str| pages.iter().find(|p| p["id"] == id).unwrap().clone();
    assert_eq!(by_id(&parent)["parentId"], json!(home));
    assert_eq!(by_id(&child)["parentId"], json!(parent));
    assert_eq!(by_id(&home)["title"], "Docs home");
    let comments: Vec<Value> = c
        .comments(ContentKind::Page, &child)
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<&str> = comments.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [top.as_str(), reply.as_str(), inline.as_str()],
        "reply after its parent, inline last"
    );
    assert_eq!(comments[2]["resolutionStatus"], "resolved");
    let blog_comments: Vec<Value> = c
        .comments(ContentKind::BlogPost, &blog)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(blog_comments[0]["id"].as_str(), Some(blog_comment.as_str()));
    let labels: Vec<Value> = c
        .labels(ContentKind::Page, &child)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        labels
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let props: Vec<Value> = c
        .properties(ContentKind::Page, &child)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(props[0]["id"].as_str(), Some(prop.as_str()));
    assert_eq!(
        support::bytes_of(c.attachment_content(&child, &att_id, 0).await.unwrap()).await,
        data
    );
    // A second space with the same key is refused (a restore skips it and reports it).
    let e = c.create_space("DOCS", "Again", "").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permanent);
    assert!(e.to_string().contains("already exists"), "{e}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_products_and_emptiness() {
    let sim = support::start(vec![SiteSpec::new("full"), SiteSpec::empty("empty")]).await;
    let a = sim.account(Access::ReadOnly).clone();
    let creds = |token: &str| Credentials::new(&a.email, token);
    let full = probe_with(&sim.base_url("full"), creds(&a.api_token), support::quick())
        .await
        .unwrap();
    assert_eq!(full.cloud_id, sim.cloud_id("full"));
    assert_eq!(full.account_id, Some(a.account_id()));
    assert_eq!(full.jira.map(|p| p.empty), Some(false));
    assert_eq!(full.confluence.map(|p| p.empty), Some(false));
    let empty = probe_with(
        &format!("{}/", sim.base_url("empty")),
        creds(&a.api_token),
        support::quick(),
    )
    .await
    .unwrap();
    assert_eq!(empty.cloud_id, sim.cloud_id("empty"));
    assert_eq!(empty.jira.map(|p| p.empty), Some(true));
    assert_eq!(empty.confluence.map(|p| p.empty), Some(true));
    assert_eq!(empty.site_url, sim.base_url("empty"));

    let e = probe_with(&sim.base_url("full"), creds("wrong"), support::quick())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.to_string().contains("wrong"));
    let e = probe("not a url", &a.email, &a.api_token)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permanent);
    // Nothing listens: retried, then a retryable error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = probe_with(
        &format!("http://{closed}"),
        creds(&a.api_token),
        support::quick(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable, "{e}");
    // With the default policy (public addresses only) the stand-in on loopback is refused
    // before anything is sent.
    let before = sim.request_log("full").len();
    let e = probe(&sim.base_url("full"), &a.email, &a.api_token)
        .await
        .unwrap_err();
    assert!(e.is_refused(), "{e}");
    assert_eq!(
        sim.request_log("full").len(),
        before,
        "no request reached the site"
    );
    sim.shutdown().await;
}
