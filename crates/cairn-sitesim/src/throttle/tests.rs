use super::*;

const GET_ISSUE: &str = "GET /rest/api/3/issue/{issueIdOrKey}";
const PUT_ISSUE: &str = "PUT /rest/api/3/issue/{issueIdOrKey}";
const GET_PAGES: &str = "GET /wiki/api/v2/pages";

fn origin() -> DateTime<Utc> {
    "2026-01-01T10:00:30Z".parse().unwrap()
}
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn jira(endpoint: &str) -> Call<'_> {
    Call {
        product: Product::Jira,
        endpoint,
        issue: None,
    }
}
fn write<'a>(issue: &'a str) -> Call<'a> {
    Call {
        product: Product::Jira,
        endpoint: PUT_ISSUE,
        issue: Some(issue),
    }
}
fn burst(per_second: f64, capacity: Option<u64>) -> ThrottleSpec {
    ThrottleSpec {
        burst: Some(Burst {
            per_second,
            capacity,
        }),
        ..Default::default()
    }
}
/// The refusing reason and Retry-After, or None when admitted.
fn refusal(v: &Verdict) -> Option<(&'static str, u64)> {
    match &v.outcome {
        Outcome::Admitted => None,
        Outcome::Refused {
            budget,
            retry_after_secs,
        } => Some((budget.reason, *retry_after_secs)),
    }
}
fn header<'a>(h: &'a [(&'static str, String)], k: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
}

#[test]
fn the_burst_bucket_refills_with_time() {
    let mut t = Throttle::new(burst(2.0, None), origin());
    assert_eq!(refusal(&t.check(jira(GET_ISSUE), ms(0))), None);
    assert_eq!(refusal(&t.check(jira(GET_ISSUE), ms(10))), None);
    assert_eq!(
        refusal(&t.check(jira(GET_ISSUE), ms(20))),
        Some((reason::JIRA_BURST, 1))
    );
    // Half a second gives one token (2 per second), which one request takes.
    assert_eq!(refusal(&t.check(jira(GET_ISSUE), ms(520))), None);
    assert_eq!(
        refusal(&t.check(jira(GET_ISSUE), ms(530))),
        Some((reason::JIRA_BURST, 1))
    );
    // A full bucket holds no more than its capacity, however long the pause.
    let admitted = (0..5)
        .filter(|i| !t.check(jira(GET_ISSUE), ms(60_000 + i)).refused())
        .count();
    assert_eq!(admitted, 2);
    // A larger capacity lets a burst through above the steady rate.
    let mut t = Throttle::new(burst(1.0, Some(5)), origin());
    let admitted = (0..8)
        .filter(|i| !t.check(jira(GET_ISSUE), ms(*i)).refused())
        .count();
    assert_eq!(admitted, 5);
    // A slow rate asks for a longer wait: 0.25 per second is 4 s for one token.
    let mut t = Throttle::new(burst(0.25, Some(1)), origin());
    assert!(!t.check(jira(GET_ISSUE), ms(0)).refused());
    assert_eq!(
        refusal(&t.check(jira(GET_ISSUE), ms(0))),
        Some((reason::JIRA_BURST, 4))
    );
}

#[test]
fn each_endpoint_and_method_has_its_own_bucket() {
    let mut t = Throttle::new(burst(1.0, None), origin());
    assert!(!t.check(jira(GET_ISSUE), ms(0)).refused());
    assert!(t.check(jira(GET_ISSUE), ms(1)).refused());
    // Same path template, other method; other template; the other product.
    assert!(!t.check(jira(PUT_ISSUE), ms(2)).refused());
    assert!(
        !t.check(jira("GET /rest/api/3/issue/{issueIdOrKey}/comment"), ms(3))
            .refused()
    );
    let conf = Call {
        product: Product::Confluence,
        endpoint: GET_PAGES,
        issue: None,
    };
    assert!(!t.check(conf, ms(4)).refused());
    assert_eq!(
        refusal(&t.check(conf, ms(5))),
        Some((reason::CONFLUENCE_BURST, 1))
    );
    let s = t.stats(ms(10));
    assert_eq!(s.requests, 6);
    assert_eq!(s.throttled, 2);
    assert_eq!(s.endpoints[GET_ISSUE].requests, 2);
    assert_eq!(s.endpoints[GET_ISSUE].throttled, 1);
    assert_eq!(s.endpoints[GET_ISSUE].peak_per_second, 1);
    assert_eq!(s.endpoints[GET_ISSUE].active_seconds, 1);
    assert_eq!(
        s.throttled_by_reason,
        BTreeMap::from([
            (reason::CONFLUENCE_BURST.to_string(), 1),
            (reason::JIRA_BURST.to_string(), 1)
        ])
    );
}

#[test]
fn writes_are_limited_per_issue_in_every_window() {
    let spec = ThrottleSpec {
        per_issue_write: vec![
            Window {
                limit: 2,
                window_secs: 1,
            },
            Window {
                limit: 3,
                window_secs: 10,
            },
        ],
        ..Default::default()
    };
    let mut t = Throttle::new(spec, origin());
    assert!(!t.check(write("10001"), ms(0)).refused());
    assert!(!t.check(write("10001"), ms(100)).refused());
    // The short window is full until the first write leaves it, 1 s after it was made.
    assert_eq!(
        refusal(&t.check(write("10001"), ms(200))),
        Some((reason::JIRA_PER_ISSUE_ON_WRITE, 1))
    );
    // Another issue, and reads of the same issue, are not limited by it.
    assert!(!t.check(write("10002"), ms(200)).refused());
    assert!(!t.check(jira(GET_ISSUE), ms(200)).refused());
    assert!(!t.check(write("10001"), ms(1000)).refused());
    // Three writes in 10 s: the long window refuses until the first leaves it (at 10 s).
    assert_eq!(
        refusal(&t.check(write("10001"), ms(2500))),
        Some((reason::JIRA_PER_ISSUE_ON_WRITE, 8))
    );
    assert!(!t.check(write("10001"), ms(10_000)).refused());
    // Confluence has no per-page write limit.
    let page = Call {
        product: Product::Confluence,
        endpoint: "PUT /wiki/api/v2/pages/{id}",
        issue: Some("10001"),
    };
    assert!((0..10).all(|i| !t.check(page, ms(10_001 + i)).refused()));
    let s = t.stats(ms(11_000));
    assert_eq!(s.issues_written, 2);
    assert_eq!(s.max_writes_per_issue, 4);
    assert_eq!(s.throttled_by_reason[reason::JIRA_PER_ISSUE_ON_WRITE], 2);
}

#[test]
fn the_tenant_quota_is_per_product_and_clock_hour() {
    let spec = ThrottleSpec {
        tenant_quota: Some(TenantQuota { per_hour: 3 }),
        ..Default::default()
    };
    // 60 s before the hour ends.
    let mut t = Throttle::new(spec, "2026-01-01T10:59:00Z".parse().unwrap());
    for i in 0..3 {
        let v = t.check(jira(GET_ISSUE), ms(i));
        assert!(!v.refused());
        assert_eq!(
            header(&v.headers(), "beta-ratelimit"),
            Some(format!("\"tenant-app-quota\";r={};t=60", 2 - i).as_str())
        );
    }
    let v = t.check(jira("GET /rest/api/3/myself"), ms(500));
    assert_eq!(refusal(&v), Some((reason::JIRA_QUOTA_TENANT, 60)));
    let h = v.headers();
    assert_eq!(
        header(&h, "beta-ratelimit-policy"),
        Some("\"tenant-app-quota\";q=3;w=3600")
    );
    assert_eq!(
        header(&h, "beta-ratelimit"),
        Some("\"tenant-app-quota\";r=0;t=60")
    );
    assert_eq!(header(&h, "x-ratelimit-limit"), Some("3"));
    // Confluence's quota is its own.
    let conf = Call {
        product: Product::Confluence,
        endpoint: GET_PAGES,
        issue: None,
    };
    assert!(!t.check(conf, ms(600)).refused());
    // The next hour starts afresh.
    assert!(!t.check(jira(GET_ISSUE), Duration::from_secs(60)).refused());
    let s = t.stats(Duration::from_secs(60));
    assert_eq!(s.quota_used["jira"], 1);
    assert_eq!(s.quota_used["confluence"], 1);
    assert_eq!(s.throttled_by_reason[reason::JIRA_QUOTA_TENANT], 1);
}

#[test]
fn successes_warn_when_under_a_fifth_of_a_budget_is_left() {
    let mut t = Throttle::new(burst(10.0, None), origin());
    // 10 tokens: after 8 requests 2 are left (20%, not under), after the 9th 1 is (10%).
    for i in 0..8 {
        let v = t.check(jira(GET_ISSUE), ms(i));
        assert_eq!(v.near_limit, None, "request {i}");
        assert!(v.headers().is_empty());
    }
    let v = t.check(jira(GET_ISSUE), ms(8));
    assert!(!v.refused());
    let h = v.headers();
    assert_eq!(header(&h, "x-ratelimit-nearlimit"), Some("true"));
    assert_eq!(header(&h, "x-ratelimit-limit"), Some("10"));
    assert_eq!(header(&h, "x-ratelimit-remaining"), Some("1"));
    assert_eq!(header(&h, "x-ratelimit-reset"), Some("2026-01-01T10:00Z"));
    assert_eq!(header(&h, "ratelimit-reason"), None, "only on a 429");
    assert_eq!(header(&h, "retry-after"), None, "only on a 429");
    // The lowest budget is the one reported: a quota nearly spent beats a full bucket.
    let spec = ThrottleSpec {
        burst: Some(Burst {
            per_second: 100.0,
            capacity: None,
        }),
        tenant_quota: Some(TenantQuota { per_hour: 5 }),
        ..Default::default()
    };
    let mut t = Throttle::new(spec, origin());
    for i in 0..4 {
        t.check(jira(GET_ISSUE), ms(i));
    }
    let v = t.check(jira(GET_ISSUE), ms(4));
    let near = v.near_limit.as_ref().unwrap();
    assert_eq!(
        (near.reason, near.limit, near.remaining),
        (reason::JIRA_QUOTA_TENANT, 5, 0)
    );
    assert_eq!(
        header(&v.headers(), "x-ratelimit-reset"),
        Some("2026-01-01T11:00Z")
    );
}

#[test]
fn a_429_carries_every_header_and_uses_no_budget() {
    let spec = ThrottleSpec {
        burst: Some(Burst {
            per_second: 1.0,
            capacity: None,
        }),
        per_issue_write: vec![Window {
            limit: 1,
            window_secs: 30,
        }],
        tenant_quota: Some(TenantQuota { per_hour: 100 }),
        ..Default::default()
    };
    let mut t = Throttle::new(spec, origin());
    assert!(!t.check(write("A"), ms(0)).refused());
    // Refused by the burst (1 s) and the issue's window (30 s): the longer wait is told.
    let v = t.check(write("A"), ms(0));
    assert_eq!(refusal(&v), Some((reason::JIRA_PER_ISSUE_ON_WRITE, 30)));
    let h = v.headers();
    let want = [
        ("retry-after", "30"),
        ("x-ratelimit-limit", "1"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "2026-01-01T10:01Z"),
        ("x-ratelimit-nearlimit", "true"),
        ("ratelimit-reason", "jira-per-issue-on-write"),
        ("beta-ratelimit-policy", "\"tenant-app-quota\";q=100;w=3600"),
        ("beta-ratelimit", "\"tenant-app-quota\";r=99;t=3570"),
    ];
    for (k, v) in want {
        assert_eq!(header(&h, k), Some(v), "{k}");
    }
    assert_eq!(h.len(), want.len());
    // Nothing was used by the refusal: another issue's write still finds the bucket's token
    // once it refilled, and the quota counts one request.
    assert!(!t.check(write("B"), ms(1000)).refused());
    assert_eq!(t.stats(ms(1000)).quota_used["jira"], 2);
    assert!(!t.check(write("A"), ms(30_000)).refused());
}

#[test]
fn counters_restart_when_reset() {
    let mut t = Throttle::new(burst(1.0, None), origin());
    t.check(jira(GET_ISSUE), ms(0));
    t.check(jira(GET_ISSUE), ms(1));
    t.record_injected(GET_PAGES, reason::CONFLUENCE_BURST);
    let s = t.stats(ms(2000));
    assert_eq!((s.requests, s.throttled), (3, 2));
    assert_eq!(s.elapsed_secs, 2.0);
    assert_eq!(s.throttle, burst(1.0, None));
    t.reset_stats(ms(2000));
    let s = t.stats(ms(2500));
    assert_eq!((s.requests, s.throttled), (0, 0));
    assert!(s.endpoints.is_empty() && s.throttled_by_reason.is_empty());
    assert_eq!(s.elapsed_secs, 0.5);
}

#[test]
fn latency_follows_the_median_and_p99() {
    let mut s = LatencySampler::new(&Latency {
        median_ms: 50.0,
        p99_ms: 300.0,
        seed: 7,
    });
    let mut v: Vec<f64> = (0..200_000)
        .map(|_| s.sample().as_secs_f64() * 1000.0)
        .collect();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() as f64) * p) as usize];
    let (median, p99) = (q(0.5), q(0.99));
    assert!((median - 50.0).abs() < 1.5, "median {median}");
    assert!((p99 - 300.0).abs() < 15.0, "p99 {p99}");
    assert!(q(0.0) > 0.0 && q(0.1) < median && q(0.9) < p99);
    // The same seed gives the same samples; another seed others.
    let l = |seed| Latency {
        median_ms: 50.0,
        p99_ms: 300.0,
        seed,
    };
    let draw = |seed| {
        let mut s = LatencySampler::new(&l(seed));
        (0..5).map(|_| s.sample()).collect::<Vec<_>>()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    // p99 = median: constant.
    let mut c = LatencySampler::new(&Latency {
        median_ms: 40.0,
        p99_ms: 40.0,
        seed: 0,
    });
    assert!((0..10).all(|_| (c.sample().as_secs_f64() * 1000.0 - 40.0).abs() < 1e-6));
}

#[test]
fn rate_limit_flags_parse_and_are_checked() {
    let s = ThrottleSpec::parse_rate_limit(
        "burst=10, burst-capacity=30,issue-writes=20/2s,issue-writes=100/30s,hourly=65000",
    )
    .unwrap();
    assert_eq!(
        s,
        ThrottleSpec {
            burst: Some(Burst {
                per_second: 10.0,
                capacity: Some(30)
            }),
            per_issue_write: vec![
                Window {
                    limit: 20,
                    window_secs: 2
                },
                Window {
                    limit: 100,
                    window_secs: 30
                }
            ],
            tenant_quota: Some(TenantQuota { per_hour: 65000 }),
            latency: None,
        }
    );
    assert_eq!(
        ThrottleSpec::parse_rate_limit("burst=0.5/s").unwrap().burst,
        Some(Burst {
            per_second: 0.5,
            capacity: None
        })
    );
    for bad in [
        "burst",
        "burst=0",
        "burst=x",
        "burst-capacity=3",
        "issue-writes=20",
        "issue-writes=0/2s",
        "hourly=-1",
        "speed=3",
    ] {
        assert!(ThrottleSpec::parse_rate_limit(bad).is_err(), "{bad}");
    }
    // The JSON of PUT /__sim/throttle.
    let j: ThrottleSpec = serde_json::from_str(
        r#"{"burst":{"perSecond":10,"capacity":30},"perIssueWrite":[{"limit":20,"windowSecs":2}],"tenantQuota":{"perHour":65000},"latency":{"medianMs":50,"p99Ms":300,"seed":1}}"#,
    )
    .unwrap();
    assert_eq!(j.burst.as_ref().unwrap().capacity(), 30);
    assert!(j.validate().is_ok());
    assert!(serde_json::from_str::<ThrottleSpec>(r#"{"bursts":{}}"#).is_err());
    let slow = ThrottleSpec {
        latency: Some(Latency {
            median_ms: 50.0,
            p99_ms: 10.0,
            seed: 0,
        }),
        ..Default::default()
    };
    assert!(slow.validate().is_err());
}
