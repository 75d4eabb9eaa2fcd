//! Authentication, fault injection, attachments (303, Range, XSRF upload), writes, digest,
//! diff and mutate.

mod support;

use std::time::Instant;

use cairn_sitesim::faults::{Attachment404, CloseMidBody, RateLimit, ServerError, Trigger};
use cairn_sitesim::{Access, FaultSpec, Scale, Sim, SimConfig, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn authentication_and_error_bodies() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    // tenant_info needs no credentials
    let v: Value = t
        .http
        .get(t.url("s", "/_edge/tenant_info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["cloudId"], json!(t.sim.cloud_id("s")));
    for (path, check) in [
        (
            "/rest/api/3/myself",
            json!({"errorMessages": ["You are not authenticated. Authentication required to perform this operation."], "errors": {}}),
        ),
        (
            "/wiki/api/v2/spaces",
            json!({"errors": [{"status": 401, "code": "UNAUTHORIZED", "title": "Unauthorized", "detail": null}]}),
        ),
    ] {
        let r = t.http.get(t.url("s", path)).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(r.json::<Value>().await.unwrap(), check);
        let r = t
            .http
            .get(t.url("s", path))
            .basic_auth("admin@example.com", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = t
        .http
        .post(t.url("s", "/wiki/rest/api/space"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["statusCode"], 401);
    // read-only account: reads work, writes are refused
    let ro = t
        .auth(
            t.http.get(t.url("s", "/rest/api/3/myself")),
            Access::ReadOnly,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ro.status(), 200);
    let me: Value = ro.json().await.unwrap();
    assert_eq!(me["emailAddress"], "reader@example.com");
    let w = t
        .auth(
            t.http.post(t.url("s", "/rest/api/3/issue")),
            Access::ReadOnly,
        )
        .json(&json!({"fields": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), 403);
    let v: Value = w.json().await.unwrap();
    assert!(v["errorMessages"].is_array() && v["errors"].is_object());
    // unknown issue -> Jira error shape; unknown page -> v2 error shape
    let (st, _, v) = t.get("s", "/rest/api/3/issue/NOPE-1").await;
    assert_eq!(st, 404);
    assert!(v["errorMessages"][0].is_string());
    let (st, _, v) = t.get("s", "/wiki/api/v2/pages/1").await;
    assert_eq!(st, 404);
    assert_eq!(v["errors"][0]["status"], 404);
    // server info says Cloud
    let (_, _, v) = t.get("s", "/rest/api/3/serverInfo").await;
    assert_eq!(v["deploymentType"], "Cloud");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn fault_injection_does_what_it_says() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    // A burst of exactly 3 429s with Retry-After: 0, then success; only on the matching path.
    t.sim.set_faults(
        "s",
        FaultSpec {
            path_contains: Some("/myself".into()),
            rate_limit: Some(RateLimit {
                trigger: Trigger { burst: 3, every: 0 },
                retry_after: 0,
            }),
            ..Default::default()
        },
    );
    let (st, _, _) = t.get("s", "/rest/api/3/serverInfo").await;
    assert_eq!(st, 200, "other paths are unaffected");
    for _ in 0..3 {
        let (st, h, v) = t.get("s", "/rest/api/3/myself").await;
        assert_eq!(st, 429);
        assert_eq!(h["retry-after"], "0");
        for k in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-nearlimit",
            "ratelimit-reason",
        ] {
            assert!(h.contains_key(k), "missing {k}");
        }
        assert!(v["errorMessages"].is_array());
    }
    for _ in 0..5 {
        assert_eq!(t.get("s", "/rest/api/3/myself").await.0, 200);
    }
    // At a rate: every 4th request, Retry-After 7; set through the control path.
    let spec = json!({"rateLimit": {"every": 4, "retryAfter": 7}});
    let put = |access: Option<Access>| {
        let rb = t.http.put(t.url("s", "/__sim/faults")).json(&spec);
        match access {
            Some(a) => t.auth(rb, a),
            None => rb,
        }
        .send()
    };
    // The control path needs an account, and a read-write one to change anything.
    let r = put(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(put(Some(Access::ReadOnly)).await.unwrap().status(), 403);
    let r = put(Some(Access::ReadWrite)).await.unwrap();
    assert_eq!(r.status(), 200);
    let mut statuses = vec![];
    for _ in 0..12 {
        let (st, h, _) = t.get("s", "/wiki/api/v2/spaces").await;
        if st == 429 {
            assert_eq!(h["retry-after"], "7");
        }
        statuses.push(st);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
    // 5xx burst
    for status in [500u16, 502, 503] {
        t.sim.set_faults(
            "s",
            FaultSpec {
                error: Some(ServerError {
                    trigger: Trigger { burst: 1, every: 0 },
                    status,
                }),
                ..Default::default()
            },
        );
        assert_eq!(t.get("s", "/rest/api/3/myself").await.0, status);
        assert_eq!(t.get("s", "/rest/api/3/myself").await.0, 200);
    }
    // latency
    t.sim.set_faults(
        "s",
        FaultSpec {
            latency_ms: 150,
            ..Default::default()
        },
    );
    let t0 = Instant::now();
    assert_eq!(t.get("s", "/rest/api/3/myself").await.0, 200);
    assert!(t0.elapsed().as_millis() >= 150);
    // connection closed mid-body: headers arrive, the body does not complete
    t.sim.set_faults(
        "s",
        FaultSpec {
            close_mid_body: Some(CloseMidBody {
                trigger: Trigger { burst: 1, every: 0 },
                after_bytes: 100,
            }),
            ..Default::default()
        },
    );
    let r = t
        .auth(
            t.http.get(t.url("s", "/rest/api/3/field")),
            Access::ReadWrite,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "body should be cut");
    assert_eq!(t.get("s", "/rest/api/3/field").await.0, 200);
    // attachment content 404
    let att = t
        .sim
        .with_site("s", |s| *s.attachments.keys().next().unwrap());
    t.sim.set_faults(
        "s",
        FaultSpec {
            attachment_404: Attachment404 {
                all: false,
                ids: vec![att.to_string()],
            },
            ..Default::default()
        },
    );
    assert_eq!(
        t.get(
            "s",
            &format!("/rest/api/3/attachment/content/{att}?redirect=false")
        )
        .await
        .0,
        404
    );
    assert_eq!(
        t.get("s", &format!("/rest/api/3/attachment/{att}")).await.0,
        200,
        "metadata still there"
    );
    t.sim.clear_faults("s");
    assert_eq!(
        t.get(
            "s",
            &format!("/rest/api/3/attachment/content/{att}?redirect=false")
        )
        .await
        .0,
        200
    );
    // request log and counters
    let log = t.sim.request_log("s");
    assert!(
        log.iter()
            .any(|e| e.fault.as_deref() == Some("429 Retry-After 0"))
    );
    let counters = t.sim.counters("s");
    assert!(counters["GET /rest/api/3/myself"] >= 14, "{counters:?}");
    assert_eq!(
        t.http
            .get(t.url("s", "/__sim/counters"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let v: Value = t
        .auth(t.http.get(t.url("s", "/__sim/counters")), Access::ReadOnly)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["GET /wiki/api/v2/spaces"], 12);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn attachments_redirect_range_and_upload() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (att, size, key) = t.sim.with_site("s", |s| {
        let a = s
            .attachments
            .values()
            .find(|a| a.blob.size() > 100)
            .unwrap();
        (a.id, a.blob.size(), s.issues[&a.issue_id].key.clone())
    });
    let r = t
        .auth(
            t.http
                .get(t.url("s", &format!("/rest/api/3/attachment/content/{att}"))),
            Access::ReadWrite,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(&t.sim.base_url("s")));
    let full = t
        .auth(t.http.get(&loc), Access::ReadWrite)
        .send()
        .await
        .unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-length"], size.to_string().as_str());
    let full = full.bytes().await.unwrap();
    assert_eq!(full.len() as u64, size);
    let part = t
        .auth(t.http.get(&loc), Access::ReadWrite)
        .header("range", "bytes=10-49")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-49/{size}").as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &full[10..50]);
    let bad = t
        .auth(t.http.get(&loc), Access::ReadWrite)
        .header("range", format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 416);
    // content is deterministic
    let again = t
        .auth(t.http.get(&loc), Access::ReadWrite)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(full, again);

    // upload: XSRF rule, then the bytes come back
    let form = || {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"hello attachment".to_vec())
                .file_name("hello.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
    };
    let url = t.url("s", &format!("/rest/api/3/issue/{key}/attachments"));
    let r = t
        .auth(t.http.post(&url), Access::ReadWrite)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), "XSRF check failed");
    let r = t
        .auth(t.http.post(&url), Access::ReadWrite)
        .header("X-Atlassian-Token", "no-check")
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["filename"], "hello.txt");
    assert_eq!(v[0]["size"], 16);
    let id = v[0]["id"].as_str().unwrap();
    let back = t
        .auth(
            t.http.get(t.url(
                "s",
                &format!("/rest/api/3/attachment/content/{id}?redirect=false"),
            )),
            Access::ReadWrite,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&back[..], b"hello attachment");

    // Confluence v1 upload + download
    let page = t.sim.with_site("s", |s| *s.pages.keys().next().unwrap());
    let url = t.url(
        "s",
        &format!("/wiki/rest/api/content/{page}/child/attachment"),
    );
    let r = t
        .auth(t.http.post(&url), Access::ReadWrite)
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .auth(t.http.post(&url), Access::ReadWrite)
        .header("X-Atlassian-Token", "no-check")
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let dl = v["results"][0]["_links"]["download"].as_str().unwrap();
    let back = t
        .auth(
            t.http.get(format!("{}/wiki{dl}", t.sim.base_url("s"))),
            Access::ReadWrite,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&back[..], b"hello attachment");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn writes_follow_jira_rules() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (pkey, counter) = t.sim.with_site("s", |s| {
        let p = s.projects.values().next().unwrap();
        (p.key.clone(), p.issue_counter)
    });
    let doc = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]});
    let (st, v) = t.send("s", Method::POST, "/rest/api/3/issue", Some(json!({"fields": {"project": {"key": pkey}, "issuetype": {"name": "Bug"}, "summary": "s", "created": "2020-01-01T00:00:00.000+0000"}}))).await;
    assert_eq!(st, 400);
    assert!(v["errors"]["created"].is_string(), "{v}");
    let (st, v) = t.send("s", Method::POST, "/rest/api/3/issue", Some(json!({"fields": {"project": {"key": pkey}, "issuetype": {"name": "Bug"}, "summary": "s", "description": "plain text"}}))).await;
    assert_eq!(st, 400);
    assert!(v["errors"]["description"].is_string());
    let (st, v) = t.send("s", Method::POST, "/rest/api/3/issue", Some(json!({"key": "X-1", "fields": {"project": {"key": pkey}, "issuetype": {"name": "Bug"}, "summary": "new", "description": doc, "labels": ["a"]}}))).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        v["key"],
        format!("{pkey}-{}", counter + 1),
        "keys are assigned by the site"
    );
    let key = v["key"].as_str().unwrap().to_string();
    let (st, _) = t
        .send(
            "s",
            Method::PUT,
            &format!("/rest/api/3/issue/{key}"),
            Some(json!({"fields": {"summary": "edited"}, "update": {"labels": [{"add": "b"}]}})),
        )
        .await;
    assert_eq!(st, 204);
    let (_, _, v) = t
        .get(
            "s",
            &format!("/rest/api/3/issue/{key}?fields=summary,labels,description"),
        )
        .await;
    assert_eq!(v["fields"]["summary"], "edited");
    assert_eq!(
        v["fields"].as_object().unwrap().len(),
        3,
        "only the requested fields: {}",
        v["fields"]
    );
    assert_eq!(v["fields"]["labels"], json!(["a", "b"]));
    assert_eq!(v["fields"]["description"], doc);
    // jql on updated finds it
    let (_, _, v) = t.get("s", &format!("/rest/api/3/search/jql?jql=project%3D{pkey}%20AND%20updated%20%3E%3D%20%222026%2F01%2F01%2000%3A00%22&fields=summary")).await;
    assert!(
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["key"] == json!(key))
    );
    t.sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_site_and_mutate_changes_about_n_percent() {
    let cfg = |sites| SimConfig {
        seed: 99,
        scale: Scale::Small,
        sites,
        ..Default::default()
    };
    let a = Sim::start(cfg(vec![
        SiteSpec::new("a"),
        SiteSpec::new("b"),
        SiteSpec::empty("e"),
    ]))
    .await
    .unwrap();
    let b = Sim::start(cfg(vec![SiteSpec::new("a")])).await.unwrap();
    assert_eq!(
        a.digest("a"),
        b.digest("a"),
        "same seed, separate processes' worth of state"
    );
    assert_eq!(a.digest("a"), a.digest("b"));
    assert!(a.diff("a", "b").is_empty());
    assert_ne!(a.digest("a"), a.digest("e"));
    let other = Sim::start(SimConfig {
        seed: 100,
        ..cfg(vec![SiteSpec::new("a")])
    })
    .await
    .unwrap();
    assert_ne!(a.digest("a"), other.digest("a"));
    // cloud ids differ per site
    assert_ne!(a.cloud_id("a"), a.cloud_id("b"));

    // a one-field change is one difference, at a readable path
    a.with_site_mut("b", |s| {
        let i = s.issues.values_mut().next().unwrap();
        i.summary = "changed".into();
    });
    let d = a.diff("a", "b");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].path.starts_with("/jira/projects/") && d[0].path.ends_with("/summary"),
        "{}",
        d[0].path
    );
    // what a restore cannot preserve is ignored: ids, creation times, authors, updated
    a.with_site_mut("b", |s| {
        let i = s.issues.values_mut().next().unwrap();
        i.summary = s.name.clone();
    });
    a.with_site_mut("a", |s| {
        let name = "b".to_string();
        let i = s.issues.values_mut().next().unwrap();
        i.summary = name;
        i.created = chrono::Utc::now();
        i.updated = chrono::Utc::now();
        i.creator = "someone-else".into();
        for c in &mut i.comments {
            c.author = "someone-else".into();
            c.created = chrono::Utc::now();
        }
    });
    assert!(a.diff("a", "b").is_empty(), "{:?}", a.diff("a", "b"));

    // mutate 10%: about 10% of issues differ afterwards
    let snap = |a: &cairn_sitesim::SimHandle| {
        a.with_site("a", |s| {
            s.issues
                .values()
                .map(|i| (i.id, (i.summary.clone(), i.comments.len(), i.updated)))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    };
    let before = snap(&a);
    let n = before.len();
    let rep = a.mutate("a", 10.0);
    let total = rep.issues_changed + rep.issues_added + rep.issues_deleted;
    assert_eq!(total, (n as f64 * 0.1).round() as usize, "{rep:?}");
    assert!(rep.issues_added > 0 && rep.issues_deleted > 0 && rep.pages_changed > 0);
    let after = snap(&a);
    let touched = before
        .iter()
        .filter(|(id, v)| after.get(id) != Some(v))
        .count()
        + after.keys().filter(|id| !before.contains_key(id)).count();
    let pct = touched as f64 * 100.0 / n as f64;
    assert!(
        (8.0..=12.0).contains(&pct),
        "{pct}% of issues touched after mutate 10%"
    );
    // changed issues are stamped with now
    let recent = a.with_site("a", |s| {
        s.issues
            .values()
            .filter(|i| (chrono::Utc::now() - i.updated).num_seconds() < 60)
            .count()
    });
    // (+1: the issue whose `updated` this test set by hand above)
    assert!(
        (rep.issues_changed + rep.issues_added..=rep.issues_changed + rep.issues_added + 1)
            .contains(&recent),
        "{recent} {rep:?}"
    );
    for s in [a, b, other] {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_to_disk_are_bounded_and_serve_ranges() {
    let sim = Sim::start(SimConfig {
        seed: 3,
        scale: Scale::Small,
        sites: vec![SiteSpec::new("s")],
        upload_limit: 4 << 20,
        ..Default::default()
    })
    .await
    .unwrap();
    let t = support::T {
        sim,
        http: reqwest::Client::new(),
    };
    let key = t
        .sim
        .with_site("s", |s| s.issues.values().next().unwrap().key.clone());
    let path = format!("/rest/api/3/issue/{key}/attachments");
    let files = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .collect::<Vec<u64>>()
    };
    let dir = t.sim.upload_dir("s");
    assert!(files(&dir).is_empty());

    // 3 MiB with bytes that look like boundaries and CRLFs: kept on disk, read back exactly.
    let data: Vec<u8> = (0..3u32 << 20)
        .map(|i| b"\r\n--x-"[(i as usize * 7 + (i as usize >> 9)) % 6])
        .collect();
    let (st, v) = t.upload("s", &path, "big.bin", data.clone(), true).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v[0]["size"], json!(data.len()));
    let on_disk = files(&dir);
    assert_eq!(on_disk.len(), 1, "one file per upload");
    assert!(
        on_disk[0] > data.len() as u64,
        "the body is in the upload directory"
    );
    let id = v[0]["id"].as_str().unwrap().to_string();
    let content = t.url(
        "s",
        &format!("/rest/api/3/attachment/content/{id}?redirect=false"),
    );
    let get = |range: Option<&str>| {
        let mut rb = t.auth(t.http.get(&content), Access::ReadWrite);
        if let Some(r) = range {
            rb = rb.header("Range", r);
        }
        rb.send()
    };
    let whole = get(None).await.unwrap().bytes().await.unwrap();
    assert!(whole[..] == data[..], "the whole content comes back");
    let r = get(Some("bytes=1000000-1065535")).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 1000000-1065535/{}", data.len()).as_str()
    );
    assert!(r.bytes().await.unwrap()[..] == data[1_000_000..1_065_536]);
    let r = get(Some("bytes=-10")).await.unwrap();
    assert!(r.bytes().await.unwrap()[..] == data[data.len() - 10..]);

    // Over the limit: 413, and nothing is kept.
    let (st, v) = t
        .upload("s", &path, "huge.bin", vec![1u8; 5 << 20], true)
        .await;
    assert_eq!(st, 413, "{v}");
    assert_eq!(
        v["errorMessages"][0],
        "The upload is larger than the attachment size limit."
    );
    assert_eq!(files(&dir).len(), 1);
    let (_, _, meta) = t.get("s", "/rest/api/3/attachment/meta").await;
    assert_eq!(meta["uploadLimit"], json!(4 << 20));

    // A malformed body is a 400 in the API's shape.
    let r = t
        .auth(t.http.post(t.url("s", &path)), Access::ReadWrite)
        .header("X-Atlassian-Token", "no-check")
        .header("Content-Type", "multipart/form-data; boundary=zzz")
        .body("not multipart at all")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorMessages"][0],
        "no boundary in body"
    );

    // Deleting the issue drops its attachments, and with them the upload's file.
    let (st, _) = t
        .send(
            "s",
            Method::DELETE,
            &format!("/rest/api/3/issue/{key}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    assert!(
        files(&dir).is_empty(),
        "the upload's file is removed with its last attachment"
    );
    t.sim.shutdown().await;
    assert!(!dir.exists(), "the upload directory goes with the site");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jql_errors_are_jira_shaped_and_readable() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let search = |jql: &str| {
        let body = json!({"jql": jql, "maxResults": 5});
        t.send("s", Method::POST, "/rest/api/3/search/jql", Some(body))
    };
    let cases = [
        (
            "",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        (
            "ORDER BY key",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        (
            "project in (UNKNOWN)",
            "The value 'UNKNOWN' does not exist for the field 'project'.",
        ),
        (
            "key = NOPE-1",
            "An issue with key 'NOPE-1' does not exist for field 'key'.",
        ),
        (
            "project = ",
            "Error in the JQL Query: Expecting either a value, list or function but reached the end of the query. (line 1, character 11)",
        ),
        (
            "project in (A B)",
            "Error in the JQL Query: Expecting either ',' or ')' but got 'B'. (line 1, character 15)",
        ),
        (
            "updated >= \"2025/01/01 00:00",
            "Error in the JQL Query: The quoted string starting at character 12 is not terminated. (line 1, character 12)",
        ),
    ];
    for (jql, message) in cases {
        let (st, v) = search(jql).await;
        assert_eq!(st, 400, "{jql:?}: {v}");
        assert_eq!(
            v,
            json!({"errorMessages": [message], "errors": {}}),
            "{jql:?}"
        );
    }
    // Nothing of the implementation leaks into any JQL error.
    for jql in [
        "project = A OR project = B",
        "summary ~ x",
        "project in A",
        "(",
        "updated >= nonsense",
    ] {
        let (st, v) = search(jql).await;
        assert_eq!(st, 400, "{jql:?}: {v}");
        let m = v["errorMessages"][0].as_str().unwrap();
        for debug in ["Some(", "None", "Word(", "Str(", "Op(", "LParen", "Comma"] {
            assert!(!m.contains(debug), "{jql:?}: {m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jql_watcher_finds_the_issues_an_account_watches() {
    use std::collections::BTreeSet;
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let ids = |v: &Value| -> BTreeSet<String> {
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let search = |jql: String| {
        let body = json!({"jql": jql, "fields": ["id"], "maxResults": 5000});
        t.send("s", Method::POST, "/rest/api/3/search/jql", Some(body))
    };
    // The two accounts watching the most issues, what each watches, and a project.
    let (a, b, watched_by_a, watched_by_b, project, project_watched_by_a) =
        t.sim.with_site("s", |s| {
            let watched = |who: &str| -> BTreeSet<String> {
                s.issues
                    .values()
                    .filter(|i| i.watchers.iter().any(|w| w == who))
                    .map(|i| i.id.to_string())
                    .collect()
            };
            let mut users: Vec<(usize, String)> = s
                .users
                .iter()
                .map(|u| (watched(&u.account_id).len(), u.account_id.clone()))
                .collect();
            users.sort();
            let (_, a) = users.pop().unwrap();
            let (_, b) = users.pop().unwrap();
            let p = s.projects.values().next().unwrap();
            let in_project: BTreeSet<String> = s
                .issues
                .values()
                .filter(|i| i.project_id == p.id && i.watchers.contains(&a))
                .map(|i| i.id.to_string())
                .collect();
            (
                a.clone(),
                b.clone(),
                watched(&a),
                watched(&b),
                p.key.clone(),
                in_project,
            )
        });
    assert!(watched_by_a.len() > 1 && !watched_by_b.is_empty());
    assert!(!watched_by_a.is_superset(&watched_by_b));

    let (st, v) = search(format!("watcher = \"{a}\"")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(&v), watched_by_a);
    let (_, v) = search(format!("watcher in (\"{a}\", {b})")).await;
    assert_eq!(ids(&v), &watched_by_a | &watched_by_b);
    let (_, v) = search(format!("project = {project} AND watcher = \"{a}\"")).await;
    assert!(!project_watched_by_a.is_empty());
    assert_eq!(ids(&v), project_watched_by_a);
    // Jira takes any account id: one of nobody matches nothing (no error).
    let (st, v) = search("watcher = \"557058:no-such-account\"".into()).await;
    assert_eq!(st, 200, "{v}");
    assert!(ids(&v).is_empty());

    // currentUser() is the caller; watching one more issue shows in the next search.
    let (_, _, me) = t.get("s", "/rest/api/3/myself").await;
    let me = me["accountId"].as_str().unwrap().to_string();
    let watched_by_me = |s: &cairn_sitesim::model::Site| -> BTreeSet<String> {
        s.issues
            .values()
            .filter(|i| i.watchers.contains(&me))
            .map(|i| i.id.to_string())
            .collect()
    };
    let before = t.sim.with_site("s", watched_by_me);
    let (_, v) = search("watcher = currentUser()".into()).await;
    assert_eq!(ids(&v), before);
    let unwatched = t.sim.with_site("s", |s| {
        s.issues
            .values()
            .find(|i| !i.watchers.contains(&me))
            .map(|i| i.key.clone())
            .unwrap()
    });
    let (st, _) = t
        .send(
            "s",
            Method::POST,
            &format!("/rest/api/3/issue/{unwatched}/watchers"),
            Some(Value::Null),
        )
        .await;
    assert_eq!(st, 204);
    let after = t.sim.with_site("s", watched_by_me);
    assert_eq!(after.len(), before.len() + 1);
    let (_, v) = search("watcher = currentUser()".into()).await;
    assert_eq!(ids(&v), after);
    let (_, v) = search(format!("watcher = \"{me}\"")).await;
    assert_eq!(ids(&v), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_tokens_survive_changes_between_pages() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (project, keys) = t.sim.with_site("s", |s| {
        let p = s.projects.values().next().unwrap();
        let mut keys: Vec<(u64, String)> = s
            .issues
            .values()
            .filter(|i| i.project_id == p.id)
            .map(|i| (i.number, i.key.clone()))
            .collect();
        keys.sort();
        (
            p.key.clone(),
            keys.into_iter().map(|(_, k)| k).collect::<Vec<_>>(),
        )
    });
    assert!(keys.len() > 14);
    let page = |token: Option<String>| {
        let mut body = json!({"jql": format!("project = {project} ORDER BY key ASC"), "maxResults": 7, "fields": ["summary"]});
        if let Some(tk) = token {
            body["nextPageToken"] = json!(tk);
        }
        t.send("s", Method::POST, "/rest/api/3/search/jql", Some(body))
    };
    let (_, first) = page(None).await;
    let mut seen: Vec<String> = first["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, keys[..7]);
    // Between pages: an issue already served is deleted and a new one is created.
    let (st, _) = t
        .send(
            "s",
            Method::DELETE,
            &format!("/rest/api/3/issue/{}", keys[0]),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, created) = t
        .send(
            "s",
            Method::POST,
            "/rest/api/3/issue",
            Some(json!({"fields": {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "added between pages"}})),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let mut token = first["nextPageToken"].as_str().map(String::from);
    assert!(
        !token.as_ref().unwrap().contains(&project),
        "the token is opaque"
    );
    while let Some(tk) = token.take() {
        let (st, v) = page(Some(tk)).await;
        assert_eq!(st, 200, "{v}");
        seen.extend(
            v["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string()),
        );
        token = v["nextPageToken"].as_str().map(String::from);
    }
    // No issue that stayed is repeated or skipped (a position token would skip one here), and
    // the issue created after the served ones comes last.
    let mut want = keys.clone();
    want.push(created["key"].as_str().unwrap().to_string());
    assert_eq!(seen, want);
    // A token from another query is refused.
    let (_, v) = page(None).await;
    let tk = v["nextPageToken"].as_str().unwrap().to_string();
    let (st, v) = t
        .send(
            "s",
            Method::POST,
            "/rest/api/3/search/jql",
            Some(json!({"jql": format!("project = {project}"), "nextPageToken": tk})),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        v["errorMessages"][0],
        "The provided next page token is invalid or expired."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_sort_by_modification_time() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let rep = t.sim.mutate("s", 20.0);
    assert!(rep.pages_changed > 0, "{rep:?}");
    let (st, _, v) = t
        .get("s", "/wiki/api/v2/pages?sort=-modified-date&limit=250")
        .await;
    assert_eq!(st, 200, "{v}");
    let dates: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"]["createdAt"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted, "newest first");
    let (_, _, asc) = t
        .get("s", "/wiki/api/v2/pages?sort=modified-date&limit=250")
        .await;
    let first = asc["results"][0]["version"]["createdAt"].as_str().unwrap();
    assert_eq!(first, sorted.last().unwrap(), "oldest first");
    t.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_can_create_fields_options_groups_members_and_link_types() {
    let t = support::start(Scale::Small, vec![SiteSpec::empty("e")]).await;
    let post = |path: &'static str, body: Value| t.send("e", Method::POST, path, Some(body));
    // Custom field, then options in its default context.
    let (st, f) = post(
        "/rest/api/3/field",
        json!({"name": "Restored select", "type": "com.atlassian.jira.plugin.system.customfieldtypes:select"}),
    )
    .await;
    assert_eq!(st, 201, "{f}");
    let fid = f["id"].as_str().unwrap().to_string();
    assert!(fid.starts_with("customfield_"), "{fid}");
    let (_, _, ctx) = t
        .get("e", &format!("/rest/api/3/field/{fid}/context"))
        .await;
    let cid = ctx["values"][0]["id"].as_str().unwrap().to_string();
    let opt_path = format!("/rest/api/3/field/{fid}/context/{cid}/option");
    let (st, v) = t
        .send(
            "e",
            Method::POST,
            &opt_path,
            Some(json!({"options": [{"value": "Red"}, {"value": "Blue"}]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, _, opts) = t.get("e", &opt_path).await;
    let values: Vec<&str> = opts["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["Red", "Blue"]);
    let (st, v) = t
        .send(
            "e",
            Method::POST,
            &opt_path,
            Some(json!({"options": [{"value": "Red"}]})),
        )
        .await;
    assert_eq!(st, 400, "a duplicate option is refused: {v}");
    let (st, _) = post("/rest/api/3/field", json!({"name": "x", "type": "nope"})).await;
    assert_eq!(st, 400);
    let (_, _, fields) = t.get("e", "/rest/api/3/field").await;
    assert!(
        fields
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == json!(fid) && x["name"] == "Restored select")
    );

    // Group and a member.
    let (st, g) = post("/rest/api/3/group", json!({"name": "restored-team"})).await;
    assert_eq!(st, 201, "{g}");
    assert_eq!(
        post("/rest/api/3/group", json!({"name": "restored-team"}))
            .await
            .0,
        400
    );
    let member = t.sim.with_site("e", |s| {
        s.users
            .iter()
            .find(|u| u.active)
            .unwrap()
            .account_id
            .clone()
    });
    let (st, v) = post(
        "/rest/api/3/group/user?groupname=restored-team",
        json!({"accountId": member}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        post(
            "/rest/api/3/group/user?groupname=restored-team",
            json!({"accountId": member})
        )
        .await
        .0,
        400
    );
    let (_, _, m) = t
        .get("e", "/rest/api/3/group/member?groupname=restored-team")
        .await;
    assert_eq!(m["values"][0]["accountId"], json!(member));
    assert_eq!(m["total"], 1);
    let (_, _, bulk) = t
        .get("e", "/rest/api/3/group/bulk?groupName=restored-team")
        .await;
    assert_eq!(bulk["values"][0]["groupId"], g["groupId"]);

    // Issue link type.
    let (st, lt) = post(
        "/rest/api/3/issueLinkType",
        json!({"name": "Depends", "inward": "is depended on by", "outward": "depends on"}),
    )
    .await;
    assert_eq!(st, 201, "{lt}");
    let (_, _, types) = t.get("e", "/rest/api/3/issueLinkType").await;
    assert!(
        types["issueLinkTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == lt["id"] && x["outward"] == "depends on")
    );
    let (st, v) = post("/rest/api/3/issueLinkType", json!({"name": "Half"})).await;
    assert_eq!(st, 400);
    assert!(v["errors"]["inward"].is_string(), "{v}");

    // A read-only account may create none of these.
    let reader = t.sim.account(Access::ReadOnly);
    let r = t
        .http
        .post(t.url("e", "/rest/api/3/group"))
        .basic_auth(&reader.email, Some(&reader.api_token))
        .json(&json!({"name": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Project categories (listed, one by id, on the projects that have one), the current paged
/// resolution list, and the Sprint field in `/field` with its context, as the reference has them.
#[tokio::test]
async fn categories_resolution_search_and_the_sprint_field() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (st, _, cats) = t.get("s", "/rest/api/3/projectCategory").await;
    assert_eq!(st, 200, "{cats}");
    let cats = cats.as_array().unwrap().clone();
    assert!(cats.len() >= 2, "{cats:?}");
    let id = cats[0]["id"].as_str().unwrap();
    let (st, _, one) = t
        .get("s", &format!("/rest/api/3/projectCategory/{id}"))
        .await;
    assert_eq!((st, &one), (200, &cats[0]));
    let (st, _, _) = t.get("s", "/rest/api/3/projectCategory/99999").await;
    assert_eq!(st, 404);
    let (_, _, projects) = t
        .get("s", "/rest/api/3/project/search?expand=description")
        .await;
    let with: Vec<&Value> = projects["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("projectCategory").is_some())
        .collect();
    assert!(!with.is_empty(), "some projects have a category");
    for p in with {
        assert!(cats.contains(&p["projectCategory"]), "{p}");
    }

    let (_, _, all) = t.get("s", "/rest/api/3/resolution").await;
    let (st, _, page) = t
        .get("s", "/rest/api/3/resolution/search?maxResults=2")
        .await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["total"], json!(all.as_array().unwrap().len()));
    assert_eq!(page["values"].as_array().unwrap().len(), 2);
    assert_eq!(page["isLast"], json!(false));
    assert_eq!(page["values"][0]["name"], all[0]["name"]);
    let rid = all[1]["id"].as_str().unwrap();
    let (_, _, only) = t
        .get("s", &format!("/rest/api/3/resolution/search?id={rid}"))
        .await;
    assert_eq!(only["values"].as_array().unwrap().len(), 1);
    assert_eq!(only["values"][0]["id"], json!(rid));

    let (_, _, fields) = t.get("s", "/rest/api/3/field").await;
    let sprint = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Sprint")
        .expect("the Sprint field is listed");
    assert_eq!(sprint["custom"], json!(true));
    assert_eq!(
        sprint["schema"]["custom"],
        json!("com.pyxis.greenhopper.jira:gh-sprint")
    );
    let fid = sprint["id"].as_str().unwrap();
    // Issues carry it under that id.
    let (_, _, search) = t
        .get(
            "s",
            &format!("/rest/api/3/search/jql?jql=project%20%3D%20PLAT&fields={fid}&maxResults=100"),
        )
        .await;
    assert!(
        search["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["fields"][fid].is_array()),
        "{search}"
    );
    let (st, _, ctx) = t
        .get("s", &format!("/rest/api/3/field/{fid}/context"))
        .await;
    assert_eq!(st, 200);
    assert_eq!(ctx["values"][0]["isGlobalContext"], json!(true));
    t.sim.shutdown().await;
}

/// The search cuts an issue's comments and worklogs at 20 and its change log at the 40 most
/// recent histories, newest first, and says so in each `total`; the issue's own lists have them
/// all. A remote link added is recorded in the change log (`RemoteIssueLink`), as Jira does.
#[tokio::test]
async fn the_search_cuts_long_lists_and_says_so_and_remote_links_are_in_the_change_log() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let key = t
        .sim
        .with_site("s", |s| s.issues.values().next().unwrap().key.clone());
    let (status, link) = t
        .send(
            "s",
            Method::POST,
            &format!("/rest/api/3/issue/{key}/remotelink"),
            Some(json!({"object": {"url": "https://example.com/r", "title": "R"}})),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let (_, _, log) = t
        .get("s", &format!("/rest/api/3/issue/{key}/changelog"))
        .await;
    let last = log["values"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["items"][0]["field"], "RemoteIssueLink", "{last}");
    assert_eq!(
        last["items"][0]["to"],
        json!(link["id"].to_string()),
        "{last}"
    );
    let body = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]});
    for _ in 0..21 {
        let (s, v) = t
            .send(
                "s",
                Method::POST,
                &format!("/rest/api/3/issue/{key}/comment"),
                Some(json!({"body": body})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = t
            .send(
                "s",
                Method::POST,
                &format!("/rest/api/3/issue/{key}/worklog"),
                Some(json!({"timeSpentSeconds": 60, "started": "2025-03-01T10:00:00.000+0000"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    for n in 0..41 {
        let (s, v) = t
            .send(
                "s",
                Method::PUT,
                &format!("/rest/api/3/issue/{key}"),
                Some(json!({"fields": {"summary": format!("summary {n}")}})),
            )
            .await;
        assert_eq!(s, 204, "{v}");
    }
    let (counts, newest) = t.sim.with_site("s", |s| {
        let i = s.issues.values().find(|i| i.key == key).unwrap();
        (
            (i.comments.len(), i.worklogs.len(), i.histories.len()),
            i.histories.last().unwrap().id.to_string(),
        )
    });
    let (comments, worklogs, histories) = counts;
    assert!(comments > 20 && worklogs > 20 && histories > 40);
    let (status, found) = t
        .send(
            "s",
            Method::POST,
            "/rest/api/3/search/jql",
            Some(json!({"jql": format!("key = {key}"), "fields": ["*all"], "expand": "changelog"})),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let issue = &found["issues"][0];
    let f = &issue["fields"];
    assert_eq!(f["comment"]["comments"].as_array().unwrap().len(), 20);
    assert_eq!(f["comment"]["total"], comments);
    assert_eq!(f["worklog"]["worklogs"].as_array().unwrap().len(), 20);
    assert_eq!(f["worklog"]["total"], worklogs);
    let log = &issue["changelog"];
    assert_eq!(log["histories"].as_array().unwrap().len(), 40);
    assert_eq!(log["total"], histories);
    assert_eq!(log["histories"][0]["id"], newest, "newest first");
    // The lists' own endpoints have every entry.
    let (_, _, all) = t
        .get("s", &format!("/rest/api/3/issue/{key}/comment"))
        .await;
    assert_eq!(all["comments"].as_array().unwrap().len(), comments);
}

/// A page's `include-labels` / `include-properties` hold the first 50 entries in their list
/// routes' order; past that they say so (`meta.hasMore`, `meta.cursor`, `_links.self`), and the
/// list route with that cursor gives the rest. Short lists say `hasMore: false` and carry no link.
#[tokio::test]
async fn a_pages_included_lists_are_cut_at_fifty_and_say_where_the_rest_is() {
    use cairn_sitesim::confluence::INCLUDE_LIMIT;
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (long, short) = t.sim.with_site_mut("s", |s| {
        let mut pages = s
            .pages
            .values()
            .filter(|p| p.kind == cairn_sitesim::model::PageKind::Page)
            .map(|p| p.id);
        let (long, short) = (pages.next().unwrap(), pages.next().unwrap());
        for n in 0..INCLUDE_LIMIT + 3 {
            let id = s.alloc_id();
            let p = s.pages.get_mut(&long).unwrap();
            p.labels.push(format!("many-{n}"));
            p.properties.push(cairn_sitesim::model::CProperty {
                id,
                key: format!("many.{n}"),
                value: json!(n),
                version: 1,
            });
        }
        (long, short)
    });
    let q = "?include-labels=true&include-properties=true";
    let (st, _, v) = t.get("s", &format!("/wiki/api/v2/pages/{long}{q}")).await;
    assert_eq!(st, 200, "{v}");
    for (part, route) in [("labels", "labels"), ("properties", "properties")] {
        let inc = &v[part];
        assert_eq!(
            inc["results"].as_array().unwrap().len(),
            INCLUDE_LIMIT,
            "{inc}"
        );
        assert_eq!(inc["meta"]["hasMore"], true);
        let link = inc["_links"]["self"].as_str().unwrap();
        assert_eq!(link, format!("/wiki/api/v2/pages/{long}/{route}"));
        let (_, _, all) = t.get("s", &format!("{link}?limit=250")).await;
        let all = all["results"].as_array().unwrap().clone();
        assert_eq!(&all[..INCLUDE_LIMIT], inc["results"].as_array().unwrap());
        let cursor = inc["meta"]["cursor"].as_str().unwrap();
        let (_, _, rest) = t
            .get("s", &format!("{link}?limit=250&cursor={cursor}"))
            .await;
        assert_eq!(rest["results"].as_array().unwrap(), &all[INCLUDE_LIMIT..]);
    }
    let (_, _, v) = t.get("s", &format!("/wiki/api/v2/pages/{short}{q}")).await;
    assert_eq!(v["labels"]["meta"]["hasMore"], false, "{v}");
    assert!(v["labels"].get("_links").is_none());
    assert_eq!(v["properties"]["meta"]["hasMore"], false, "{v}");
}

/// A custom field can be set only where one of its contexts applies (the issue's project and
/// type), and only to the options of that context: Jira's 400s, naming the field, on create and
/// on edit. Contexts, options and default values are written as Jira takes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_follow_their_contexts() {
    use cairn_sitesim::model::CfKind;
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    let (keys, pids, fields) = t.sim.with_site("s", |s| {
        let keys: Vec<String> = s.projects.values().map(|p| p.key.clone()).collect();
        let pids: Vec<u64> = s.projects.values().map(|p| p.id).collect();
        let by_name = |n: &str| {
            s.custom_fields
                .iter()
                .find(|f| f.name == n)
                .unwrap()
                .clone()
        };
        let fields = ["Ticket Code", "Platforms", "Severity Level", "Product Area"].map(by_name);
        (keys, pids, fields)
    });
    let [ticket, platforms, severity, area] = fields;
    assert!(keys.len() >= 3, "{keys:?}");
    // "Ticket Code" is in the second project only.
    assert_eq!(ticket.contexts[0].project_ids, vec![pids[1]]);
    let create = |project: &str, ty: &str, extra: Value| {
        let mut fields = json!({"project": {"key": project}, "issuetype": {"name": ty}, "summary": "context test"});
        for (k, v) in extra.as_object().unwrap() {
            fields[k] = v.clone();
        }
        let t = &t;
        async move {
            t.send(
                "s",
                Method::POST,
                "/rest/api/3/issue",
                Some(json!({"fields": fields})),
            )
            .await
        }
    };
    let not_there = |id: &str| {
        json!(format!(
            "Field '{id}' cannot be set. It is not on the appropriate screen, or unknown."
        ))
    };
    let (st, v) = create(&keys[0], "Task", json!({&ticket.id: "TC-1"})).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["errors"][&ticket.id], not_there(&ticket.id), "{v}");
    let (st, v) = create(&keys[1], "Task", json!({&ticket.id: "TC-1"})).await;
    assert_eq!(st, 201, "{v}");
    let created = v["key"].as_str().unwrap().to_string();

    // "Platforms" applies to stories and bugs of the first two projects.
    let linux = json!([{"value": "Linux"}]);
    let (st, v) = create(&keys[0], "Task", json!({&platforms.id: linux})).await;
    assert_eq!(
        (st, &v["errors"][&platforms.id]),
        (400, &not_there(&platforms.id)),
        "{v}"
    );
    let (st, v) = create(&keys[2], "Bug", json!({&platforms.id: linux})).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = create(&keys[0], "Bug", json!({&platforms.id: linux})).await;
    assert_eq!(st, 201, "{v}");

    // The first project has its own severities: the global context's are not valid there.
    let (st, v) = create(&keys[0], "Task", json!({&severity.id: {"value": "Sev 1"}})).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(
        v["errors"][&severity.id], "Option value 'Sev 1' is not valid",
        "{v}"
    );
    let own = &severity.contexts[1].options[0];
    assert_eq!(severity.contexts[1].project_ids, vec![pids[0]]);
    let (st, v) = create(&keys[0], "Task", json!({&severity.id: {"id": own.id}})).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = create(&keys[1], "Task", json!({&severity.id: {"id": own.id}})).await;
    assert_eq!(st, 400, "an option of another context: {v}");
    assert_eq!(
        v["errors"][&severity.id],
        format!("Option id '{}' is not valid", own.id)
    );

    // A cascading value: the child must be under its parent.
    assert_eq!(area.kind, CfKind::Cascading);
    let bad = json!({&area.id: {"value": "Hardware", "child": {"value": "Backend"}}});
    let (st, v) = create(&keys[1], "Task", bad).await;
    assert_eq!(st, 400, "{v}");
    let good = json!({&area.id: {"value": "Software", "child": {"value": "Backend"}}});
    let (st, v) = create(&keys[1], "Task", good).await;
    assert_eq!(st, 201, "{v}");
    let (_, _, issue) = t
        .get(
            "s",
            &format!(
                "/rest/api/3/issue/{}?fields={}",
                v["key"].as_str().unwrap(),
                area.id
            ),
        )
        .await;
    let value = &issue["fields"][&area.id];
    assert_eq!(
        (&value["value"], &value["child"]["value"]),
        (&json!("Software"), &json!("Backend")),
        "{issue}"
    );

    // An edit follows the same rules.
    let path = format!("/rest/api/3/issue/{created}");
    let (st, _) = t
        .send(
            "s",
            Method::PUT,
            &path,
            Some(json!({"fields": {&ticket.id: "TC-2"}})),
        )
        .await;
    assert_eq!(st, 204);
    let moved = json!({"fields": {&platforms.id: linux}});
    let (st, v) = t.send("s", Method::PUT, &path, Some(moved)).await;
    assert_eq!(
        (st, &v["errors"][&platforms.id]),
        (400, &not_there(&platforms.id)),
        "{v}"
    );

    // Writing configuration: one context per project, children under a parent of the context,
    // default values from the context's own options, all of one type.
    let contexts = format!("/rest/api/3/field/{}/context", severity.id);
    let (st, v) = t
        .send(
            "s",
            Method::POST,
            &contexts,
            Some(json!({"name": "again", "projectIds": [pids[0].to_string()]})),
        )
        .await;
    assert_eq!(st, 400, "a project already in a context: {v}");
    let (st, v) = t
        .send("s", Method::POST, &contexts, Some(json!({"name": "Severity for bugs", "projectIds": [pids[2].to_string()], "issueTypeIds": ["10003"]})))
        .await;
    assert_eq!(st, 201, "{v}");
    let cid = v["id"].as_str().unwrap().to_string();
    let (st, v) = create(&keys[2], "Task", json!({&severity.id: {"value": "Sev 1"}})).await;
    assert_eq!(st, 201, "a task there still has the global context: {v}");
    let options = format!("/rest/api/3/field/{}/context/{cid}/option", severity.id);
    let (st, v) = t
        .send(
            "s",
            Method::POST,
            &options,
            Some(json!({"options": [{"value": "Cosmetic", "optionId": own.id}]})),
        )
        .await;
    assert_eq!(st, 400, "a parent in a select: {v}");
    let (st, v) = t
        .send(
            "s",
            Method::POST,
            &options,
            Some(json!({"options": [{"value": "Cosmetic"}, {"value": "Crash"}]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let crash = v["options"][1]["id"].as_str().unwrap().to_string();
    let (st, v) = create(&keys[2], "Bug", json!({&severity.id: {"value": "Sev 1"}})).await;
    assert_eq!(
        st, 400,
        "a bug there has the new context's options only: {v}"
    );
    let (st, v) = create(&keys[2], "Bug", json!({&severity.id: {"value": "Crash"}})).await;
    assert_eq!(st, 201, "{v}");
    let defaults = format!("/rest/api/3/field/{}/context/defaultValue", severity.id);
    let other =
        json!({"defaultValues": [{"contextId": cid, "type": "option.single", "optionId": own.id}]});
    let (st, v) = t.send("s", Method::PUT, &defaults, Some(other)).await;
    assert_eq!(st, 400, "an option of another context: {v}");
    let mixed = json!({"defaultValues": [{"contextId": cid, "type": "option.single", "optionId": crash}, {"contextId": cid, "type": "option.multiple", "optionIds": [crash]}]});
    let (st, v) = t.send("s", Method::PUT, &defaults, Some(mixed)).await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(
        v["errorMessages"][0],
        "All default values in the request must have the same type."
    );
    let one =
        json!({"defaultValues": [{"contextId": cid, "type": "option.single", "optionId": crash}]});
    let (st, _) = t.send("s", Method::PUT, &defaults, Some(one)).await;
    assert_eq!(st, 204);
    let (_, _, v) = t.get("s", &format!("{defaults}?contextId={cid}")).await;
    assert_eq!(
        v["values"],
        json!([{"contextId": cid, "type": "option.single", "optionId": crash}])
    );
    let (_, _, v) = t
        .get(
            "s",
            &format!(
                "/rest/api/3/field/{}/context/projectmapping?contextId={cid}",
                severity.id
            ),
        )
        .await;
    assert_eq!(
        v["values"],
        json!([{"contextId": cid, "projectId": pids[2].to_string()}])
    );
    let (_, _, v) = t
        .get(
            "s",
            &format!(
                "/rest/api/3/field/{}/context/issuetypemapping?contextId={cid}",
                severity.id
            ),
        )
        .await;
    assert_eq!(
        v["values"],
        json!([{"contextId": cid, "issueTypeId": "10003"}])
    );
    // Projects join a scoped context, once per field; a global context takes none.
    let join = |context: &str, project: u64| {
        let path = format!("{contexts}/{context}/project");
        let body = json!({"projectIds": [project.to_string()]});
        let t = &t;
        async move { t.send("s", Method::PUT, &path, Some(body)).await }
    };
    let (st, v) = join(&cid, pids[0]).await;
    assert_eq!(st, 400, "a project already in another context: {v}");
    let (st, v) = join(&severity.contexts[0].id, pids[2]).await;
    assert_eq!(st, 400, "a global context: {v}");
    let (st, v) = join(&severity.contexts[1].id, pids[1]).await;
    assert_eq!(st, 204, "{v}");
    let (st, _) = create(
        &keys[1],
        "Task",
        json!({&severity.id: {"value": "Blocker"}}),
    )
    .await;
    assert_eq!(
        st, 201,
        "the second project now has the first one's severities"
    );
    let (st, _) = t
        .send("s", Method::DELETE, &format!("{contexts}/{cid}"), None)
        .await;
    assert_eq!(st, 204);
    let (_, _, v) = t.get("s", &contexts).await;
    assert_eq!(v["total"], json!(2), "{v}");
    t.sim.shutdown().await;
}
