//! The stand-in's rate limits through the HTTP stack: an endpoint called faster than its burst
//! limit answers 429 with Atlassian's headers and body, succeeds again after `Retry-After`, and
//! the control path counts it; writes to one issue are limited whether it is named by key or id.

mod support;

use cairn_sitesim::throttle::{Burst, ThrottleSpec, Window};
use cairn_sitesim::{Access, Scale, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};

const ISSUE: &str = "GET /rest/api/3/issue/{issueIdOrKey}";

fn issues(t: &support::T, n: usize) -> Vec<(u64, String)> {
    t.sim.with_site("s", |s| {
        s.issues
            .values()
            .take(n)
            .map(|i| (i.id, i.key.clone()))
            .collect()
    })
}

async fn control(t: &support::T, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = t.auth(t.http.request(method, t.url("s", path)), Access::ReadWrite);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_endpoint_called_faster_than_its_burst_limit_answers_429_until_retry_after() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    // Two requests per endpoint at once, then one a second; a tenant quota of 1000 an hour.
    let spec = json!({"burst": {"perSecond": 1, "capacity": 2}, "tenantQuota": {"perHour": 1000}});
    let r = t
        .auth(
            t.http.put(t.url("s", "/__sim/throttle")).json(&spec),
            Access::ReadOnly,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "changing the limits needs a read-write account"
    );
    let parsed = |v: &Value| serde_json::from_value::<ThrottleSpec>(v.clone()).unwrap();
    let (st, echoed) = control(&t, Method::PUT, "/__sim/throttle", Some(spec.clone())).await;
    assert_eq!((st, parsed(&echoed)), (200, parsed(&spec)));
    let (st, v) = control(
        &t,
        Method::PUT,
        "/__sim/throttle",
        Some(json!({"burst": {"perSecond": 0}})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let shown = control(&t, Method::GET, "/__sim/throttle", None).await.1;
    assert_eq!(parsed(&shown), parsed(&spec));

    // Three issues: one endpoint (the template), whatever the key.
    let keys = issues(&t, 3);
    for (_, key) in &keys[..2] {
        let (st, h, _) = t.get("s", &format!("/rest/api/3/issue/{key}")).await;
        assert_eq!(st, 200);
        assert!(h.contains_key("beta-ratelimit"));
    }
    let (st, h, body) = t
        .get("s", &format!("/rest/api/3/issue/{}", keys[2].1))
        .await;
    assert_eq!(st, 429);
    assert_eq!(
        body,
        json!({"errorMessages": ["Rate limit exceeded."], "errors": {}})
    );
    let retry_after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry_after, 1, "one token a second");
    assert_eq!(h["x-ratelimit-limit"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-nearlimit"], "true");
    assert_eq!(h["ratelimit-reason"], "jira-burst-based");
    let reset = h["x-ratelimit-reset"].to_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(reset, "%Y-%m-%dT%H:%MZ").is_ok(),
        "yyyy-MM-ddTHH:mmZ as Atlassian documents it: {reset}"
    );
    assert_eq!(
        h["beta-ratelimit-policy"],
        "\"tenant-app-quota\";q=1000;w=3600"
    );
    let beta = h["beta-ratelimit"].to_str().unwrap();
    assert!(
        beta.starts_with("\"tenant-app-quota\";r=998;t="),
        "two requests used, the refused one not: {beta}"
    );
    // Other endpoints have their own budgets, and the control path is never throttled.
    assert_eq!(t.get("s", "/rest/api/3/myself").await.0, 200);
    for _ in 0..5 {
        assert_eq!(control(&t, Method::GET, "/__sim/stats", None).await.0, 200);
    }

    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let (st, _, _) = t
        .get("s", &format!("/rest/api/3/issue/{}", keys[2].1))
        .await;
    assert_eq!(st, 200, "the budget refilled within Retry-After");

    let (st, stats) = control(&t, Method::GET, "/__sim/stats", None).await;
    assert_eq!(st, 200);
    assert_eq!(stats["requests"], 5);
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["throttledByReason"], json!({"jira-burst-based": 1}));
    assert_eq!(
        stats["endpoints"][ISSUE],
        json!({"requests": 4, "throttled": 1, "peakPerSecond": 2, "activeSeconds": 2})
    );
    assert_eq!(stats["endpoints"]["GET /rest/api/3/myself"]["requests"], 1);
    assert_eq!(stats["quotaUsed"], json!({"jira": 4}));
    assert_eq!(parsed(&stats["throttle"]), parsed(&spec));
    assert!(stats["elapsedSecs"].as_f64().unwrap() >= 1.0);

    // Confluence answers in its own shapes and reasons; v2 and v1.
    t.sim.set_throttle(
        "s",
        ThrottleSpec {
            burst: Some(Burst {
                per_second: 1.0,
                capacity: None,
            }),
            ..Default::default()
        },
    );
    assert_eq!(
        t.sim.throttle_stats("s").requests,
        0,
        "setting the limits resets the counters"
    );
    assert_eq!(t.get("s", "/wiki/api/v2/spaces").await.0, 200);
    let (st, h, body) = t.get("s", "/wiki/api/v2/spaces").await;
    assert_eq!(st, 429);
    assert_eq!(h["ratelimit-reason"], "confluence-burst-based");
    assert!(!h.contains_key("beta-ratelimit"), "no quota set");
    assert_eq!(body["errors"][0]["status"], 429);
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_REQUESTS");
    let page = t.sim.with_site("s", |s| *s.pages.keys().next().unwrap());
    let v1 = format!("/wiki/rest/api/content/{page}/child/attachment");
    assert_eq!(t.get("s", &v1).await.0, 200);
    let (st, _, body) = t.get("s", &v1).await;
    assert_eq!(st, 429);
    assert_eq!(body["statusCode"], 429);
    let stats = t.sim.throttle_stats("s");
    assert_eq!(stats.throttled_by_reason["confluence-burst-based"], 2);

    // DELETE clears the limits.
    assert_eq!(
        control(&t, Method::DELETE, "/__sim/throttle", None).await.0,
        204
    );
    for _ in 0..5 {
        assert_eq!(t.get("s", "/wiki/api/v2/spaces").await.0, 200);
    }
}

#[tokio::test]
async fn writes_to_one_issue_are_limited_by_key_and_id_alike() {
    let t = support::start(Scale::Small, vec![SiteSpec::new("s")]).await;
    t.sim.set_throttle(
        "s",
        ThrottleSpec {
            per_issue_write: vec![Window {
                limit: 2,
                window_secs: 60,
            }],
            ..Default::default()
        },
    );
    let is = issues(&t, 2);
    let (id, key) = &is[0];
    let prop = |issue: &str, k: &str| format!("/rest/api/3/issue/{issue}/properties/{k}");
    let put = |path: String| {
        let t = &t;
        async move {
            t.send("s", Method::PUT, &path, Some(json!({"n": 1})))
                .await
                .0
        }
    };
    assert!(put(prop(key, "a")).await < 300);
    assert!(put(prop(&id.to_string(), "b")).await < 300);
    // Reads of the issue are not writes.
    assert_eq!(t.get("s", &format!("/rest/api/3/issue/{key}")).await.0, 200);
    let r = t
        .auth(
            t.http
                .put(t.url("s", &prop(&key.to_lowercase(), "c")))
                .json(&json!({"n": 1})),
            Access::ReadWrite,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["ratelimit-reason"], "jira-per-issue-on-write");
    assert_eq!(r.headers()["x-ratelimit-limit"], "2");
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((59..=60).contains(&wait), "{wait}");
    // Another issue has its own budget.
    assert!(put(prop(&is[1].1, "a")).await < 300);
    let stats = t.sim.throttle_stats("s");
    assert_eq!(stats.issues_written, 2);
    assert_eq!(stats.max_writes_per_issue, 2);
    assert_eq!(stats.throttled_by_reason["jira-per-issue-on-write"], 1);
}
