//! The pacer on scripted header sequences: no network, and time is an `Instant` the test moves.

use super::*;
use reqwest::header::HeaderValue;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-26T16:24:30Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn sig(pairs: &[(&str, &str)]) -> Signals {
    Signals::parse(&headers(pairs), t0())
}

fn pacer(ceiling: usize) -> Arc<Pacer> {
    Arc::new(Pacer::new(
        ceiling,
        Duration::from_secs(300),
        Arc::new(Counters::detached()),
        Learned::detached(),
    ))
}

fn get(path: &str) -> Keys {
    Keys::of(&Method::GET, path)
}

fn post(path: &str) -> Keys {
    Keys::of(&Method::POST, path)
}

const SEARCH: &str = "/rest/api/3/search/jql";
const PROJECTS: &str = "/rest/api/3/project/search";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The gap between two requests of an endpoint paced at `limit` per second.
fn steady(limit: u64) -> Duration {
    BURST_WINDOW.div_f64(limit as f64 * STEADY_SHARE)
}

#[test]
fn route_templates_name_the_endpoint_not_the_item() {
    let cases = [
        (
            "/rest/api/3/issue/PLAT-12/comment",
            "/rest/api/3/issue/{}/comment",
        ),
        (
            "/rest/api/3/issue/10001/comment?startAt=50",
            "/rest/api/3/issue/{}/comment",
        ),
        ("/rest/api/3/search/jql", "/rest/api/3/search/jql"),
        ("/rest/api/3/issue", "/rest/api/3/issue"),
        ("/rest/api/3/issue/bulkfetch", "/rest/api/3/issue/bulkfetch"),
        (
            "/rest/api/3/project/PLAT/components",
            "/rest/api/3/project/{}/components",
        ),
        (
            "/rest/api/3/issue/PLAT-1/properties/my.key",
            "/rest/api/3/issue/{}/properties/{}",
        ),
        (
            "/rest/api/3/field/customfield_10001/context",
            "/rest/api/3/field/{}/context",
        ),
        (
            "/rest/agile/1.0/board/12/sprint",
            "/rest/agile/1.0/board/{}/sprint",
        ),
        (
            "/wiki/api/v2/pages/98305/labels",
            "/wiki/api/v2/pages/{}/labels",
        ),
        (
            "/wiki/rest/api/content/98305/child/attachment",
            "/wiki/rest/api/content/{}/child/attachment",
        ),
        (
            "/wiki/rest/api/space/~5d8f9a/content",
            "/wiki/rest/api/space/{}/content",
        ),
        (
            "https://acme.atlassian.net/wiki/api/v2/spaces?cursor=abc",
            "/wiki/api/v2/spaces",
        ),
        (
            "/rest/api/3/workflows/search",
            "/rest/api/3/workflows/search",
        ),
        ("/_edge/tenant_info", "/_edge/tenant_info"),
        ("/", "/"),
        ("", "/"),
    ];
    for (path, want) in cases {
        assert_eq!(route_template(path), want, "{path}");
    }
    assert_eq!(get(SEARCH).route, "GET /rest/api/3/search/jql");
    assert_ne!(get(SEARCH).route, post(SEARCH).route, "method and endpoint");
}

#[test]
fn writes_to_an_issue_draw_on_that_issues_budget() {
    let issue = |m: Method, p: &str| Keys::of(&m, p).issue;
    assert_eq!(
        issue(Method::POST, "/rest/api/3/issue/PLAT-1/comment"),
        Some("PLAT-1".into())
    );
    assert_eq!(
        issue(Method::PUT, "/rest/api/3/issue/10001"),
        Some("10001".into())
    );
    assert_eq!(
        issue(
            Method::DELETE,
            "/rest/api/3/issue/PLAT-1/watchers?accountId=x"
        ),
        Some("PLAT-1".into())
    );
    assert_eq!(issue(Method::GET, "/rest/api/3/issue/PLAT-1/comment"), None);
    assert_eq!(issue(Method::POST, "/rest/api/3/issue"), None, "a create");
    assert_eq!(issue(Method::POST, "/rest/api/3/issue/bulk"), None);
    assert_eq!(issue(Method::POST, "/rest/api/3/issueLink"), None);
    assert_eq!(issue(Method::POST, "/wiki/api/v2/pages"), None);
}

#[test]
fn headers_are_read_as_atlassian_writes_them() {
    let s = sig(&[
        ("Retry-After", "7"),
        ("X-RateLimit-Limit", "350"),
        ("X-RateLimit-Remaining", "60"),
        ("X-RateLimit-Reset", "2026-03-26T16:25Z"),
        ("X-RateLimit-NearLimit", "true"),
        ("RateLimit-Reason", "jira-burst-based"),
        (
            "Beta-RateLimit-Policy",
            "\"tenant-app-quota\";q=100100;w=3600",
        ),
        ("Beta-RateLimit", "\"tenant-app-quota\";r=17842;t=2107"),
    ]);
    assert_eq!(s.retry_after, Some(Duration::from_secs(7)));
    assert_eq!((s.limit, s.remaining), (Some(350), Some(60)));
    assert_eq!(s.reset_in, Some(Duration::from_secs(30)), "minutes only");
    assert_eq!(s.near, Some(true));
    assert_eq!(s.reason.as_deref(), Some("jira-burst-based"));
    assert_eq!(
        s.quota,
        Quota {
            limit: Some(100100),
            window: Some(Duration::from_secs(3600)),
            remaining: Some(17842),
            reset_in: Some(Duration::from_secs(2107)),
            near: None,
        }
    );
    // Other spellings: seconds in the reset, an HTTP date in Retry-After, lower-case names,
    // the beta near-limit and reset.
    let s = sig(&[
        ("retry-after", "Thu, 26 Mar 2026 16:24:40 GMT"),
        ("x-ratelimit-reset", "2026-03-26T16:24:45.500Z"),
        ("x-ratelimit-nearlimit", "FALSE"),
        ("x-beta-ratelimit-nearlimit", "true"),
        ("x-beta-ratelimit-reset", "2026-03-26T17:00Z"),
        ("beta-ratelimit", "\"other\";r=1, \"tenant-app-quota\";r=0"),
    ]);
    assert_eq!(s.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(s.reset_in, Some(ms(15_500)));
    assert_eq!(s.near, Some(false));
    assert_eq!(s.quota.near, Some(true));
    assert_eq!(s.quota.remaining, Some(0));
    assert_eq!(s.quota.reset_in, Some(Duration::from_secs(35 * 60 + 30)));
    assert_eq!(sig(&[("Retry-After", "0.25")]).retry_after, Some(ms(250)));
}

#[test]
fn missing_or_garbled_headers_are_ignored() {
    assert_eq!(sig(&[]), Signals::default());
    let s = sig(&[
        ("Retry-After", "-3"),
        ("X-RateLimit-Limit", "lots"),
        ("X-RateLimit-Remaining", "-1"),
        ("X-RateLimit-Reset", "tomorrow"),
        ("X-RateLimit-NearLimit", "maybe"),
        ("Beta-RateLimit-Policy", ";;=;q=;w=x,,\""),
        ("Beta-RateLimit", "\"tenant-app-quota\";r=NaN;t=-5"),
        ("X-Beta-RateLimit-Reset", "2026-13-45T99:99Z"),
    ]);
    assert_eq!(s, Signals::default());
    // A reset already past says nothing (Atlassian's can be, being rounded to the minute).
    assert_eq!(
        sig(&[("X-RateLimit-Reset", "2026-03-26T16:00Z")]).reset_in,
        None
    );
    // No header makes a wait longer than a day, whatever it says.
    let s = sig(&[
        ("Retry-After", "18446744073709551615"),
        (
            "Beta-RateLimit",
            "\"tenant-app-quota\";t=18446744073709551615",
        ),
    ]);
    assert_eq!(s.retry_after, Some(LONGEST));
    assert_eq!(s.quota.reset_in, Some(LONGEST));
    assert_eq!(sig(&[("Retry-After", "1e300")]).retry_after, Some(LONGEST));
    // Feeding the pacer the worst of them changes nothing and never panics.
    let p = pacer(4);
    let now = Instant::now();
    p.observe(&get(SEARCH), 200, &s, 0, now);
    p.observe(&get(SEARCH), 200, &sig(&[("Retry-After", "x")]), 0, now);
    assert_eq!(p.wait_for(&get(PROJECTS), now), Duration::ZERO);
}

#[test]
fn a_near_limit_spaces_that_endpoint_before_any_429_and_recovers_when_it_clears() {
    let p = pacer(8);
    let now = Instant::now();
    let search = get(SEARCH);
    assert_eq!(p.start(&search, now), None, "nothing said yet: no wait");
    // 5 left until the reset in 1 s: four more spread over that second (one kept in reserve).
    let warn = sig(&[
        ("X-RateLimit-NearLimit", "true"),
        ("X-RateLimit-Remaining", "5"),
        ("X-RateLimit-Reset", "2026-03-26T16:24:31Z"),
    ]);
    p.observe(&search, 200, &warn, 0, now);
    // Spaced from the warning on: the next waits a quarter of the window (4 spread, one kept).
    let gap = p.wait_for(&search, now);
    assert!(gap > ms(200) && gap <= ms(250), "{gap:?}");
    assert_eq!(p.start(&search, now), Some(gap));
    assert_eq!(p.start(&search, now + gap), None, "after the gap it goes");
    // The one after: the 750 ms left of the window over the 4 left before that start.
    let next = p.wait_for(&search, now + gap);
    assert!(next > ms(150) && next <= ms(250), "{next:?}");

    // Requests already in flight when the warning came are counted out of what remains: the
    // answered request and one other in flight, 5 left: 4 remain, 3 spread over the second.
    let p = pacer(8);
    for _ in 0..2 {
        let admitted = p.lock().admit(&search, now);
        assert!(matches!(admitted, Admission::Go(_)));
    }
    p.observe(&search, 200, &warn, 0, now);
    let gap = p.wait_for(&search, now);
    assert!(gap > ms(330) && gap <= ms(334), "{gap:?}");

    // Remaining under a fifth of the limit, without NearLimit: the same (the limit, now known,
    // also sets the endpoint's steady pace, a far shorter gap).
    let p = pacer(8);
    let low = sig(&[
        ("X-RateLimit-Limit", "100"),
        ("X-RateLimit-Remaining", "11"),
    ]);
    p.observe(&search, 200, &low, 0, now);
    assert_eq!(p.wait_for(&search, now), ms(100), "1 s / 10 left");
    assert_eq!(p.start(&search, now + ms(100)), None);
    assert_eq!(
        p.wait_for(&search, now + ms(100)),
        ms(90),
        "the 900 ms left of the window over the 11 left less one kept"
    );
    let now = now + ms(100);
    // A fifth or more left and no warning: no near spacing, only the steady pace.
    let ok = sig(&[
        ("X-RateLimit-Limit", "100"),
        ("X-RateLimit-Remaining", "40"),
    ]);
    p.observe(&search, 200, &ok, 0, now);
    assert_eq!(
        p.wait_for(&search, now),
        steady(100),
        "cleared by an answer: back to the endpoint's steady pace"
    );

    // Near again, then an answer with no warning at all clears it too.
    let t = now + ms(50);
    p.observe(&search, 200, &low, 0, t);
    assert_eq!(p.wait_for(&search, t), ms(100));
    p.observe(&search, 200, &Signals::default(), 0, t);
    assert_eq!(
        p.wait_for(&search, t),
        Duration::ZERO,
        "the steady gap since the last start has passed too"
    );

    // Near, then the reset passes: cleared without another answer.
    let t = now + ms(100);
    p.observe(&search, 200, &warn, 0, t);
    assert!(p.wait_for(&search, t) > steady(100));
    let later = now + Duration::from_secs(2);
    assert_eq!(p.start(&search, later), None);
    assert_eq!(
        p.wait_for(&search, later),
        steady(100),
        "only the steady pace is left"
    );
}

#[test]
fn remaining_zero_waits_for_the_reset() {
    let p = pacer(8);
    let now = Instant::now();
    let search = get(SEARCH);
    let empty = sig(&[
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "2026-03-26T16:24:32Z"),
    ]);
    p.observe(&search, 200, &empty, 0, now);
    assert_eq!(p.wait_for(&search, now), Duration::from_secs(2));
}

#[test]
fn budgets_stay_apart() {
    let p = pacer(8);
    let now = Instant::now();
    // A near-limit on one endpoint does not slow another, nor the other method of the same path.
    let warn = sig(&[
        ("X-RateLimit-NearLimit", "true"),
        ("X-RateLimit-Remaining", "2"),
    ]);
    p.observe(&get(SEARCH), 200, &warn, 0, now);
    assert!(p.wait_for(&get(SEARCH), now) > Duration::ZERO);
    for other in [get(PROJECTS), post(SEARCH), get("/rest/api/3/issue/PLAT-1")] {
        for _ in 0..5 {
            assert_eq!(p.start(&other, now), None, "{other:?}");
        }
    }
    // A per-issue write limit on issue A does not slow issue B, nor reads of A.
    let a = post("/rest/api/3/issue/PLAT-1/comment");
    let b = post("/rest/api/3/issue/PLAT-2/comment");
    let per_issue = sig(&[
        ("RateLimit-Reason", "jira-per-issue-on-write"),
        ("X-RateLimit-NearLimit", "true"),
        ("X-RateLimit-Remaining", "2"),
        ("X-RateLimit-Reset", "2026-03-26T16:24:40Z"),
    ]);
    p.observe(&a, 201, &per_issue, 0, now);
    assert!(p.wait_for(&a, now) > Duration::ZERO);
    let a_edit = Keys::of(&Method::PUT, "/rest/api/3/issue/PLAT-1");
    assert!(
        p.wait_for(&a_edit, now) > Duration::ZERO,
        "every write to A"
    );
    for other in [b, get("/rest/api/3/issue/PLAT-1/comment")] {
        for _ in 0..5 {
            assert_eq!(p.start(&other, now), None, "{other:?}");
        }
    }
    // And a 429 on issue A's writes blocks A only.
    p.observe(
        &a,
        429,
        &sig(&[
            ("RateLimit-Reason", "jira-per-issue-on-write"),
            ("Retry-After", "3"),
        ]),
        0,
        now,
    );
    assert_eq!(p.wait_for(&a, now), Duration::from_secs(3));
    assert_eq!(
        p.wait_for(&post("/rest/api/3/issue/PLAT-2/comment"), now),
        Duration::ZERO
    );
}

#[test]
fn retry_after_blocks_the_budget_its_reason_names() {
    let now = Instant::now();
    // Burst: that endpoint and method only.
    let p = pacer(8);
    let burst = sig(&[
        ("RateLimit-Reason", "jira-burst-based"),
        ("Retry-After", "5"),
    ]);
    p.observe(&get(SEARCH), 429, &burst, 0, now);
    assert_eq!(p.wait_for(&get(SEARCH), now), Duration::from_secs(5));
    assert_eq!(p.start(&get(SEARCH), now), Some(Duration::from_secs(5)));
    assert_eq!(p.wait_for(&get(PROJECTS), now), Duration::ZERO);
    assert_eq!(p.start(&get(SEARCH), now + Duration::from_secs(5)), None);
    // The tenant quota: everything.
    let p = pacer(8);
    let quota = sig(&[
        ("RateLimit-Reason", "jira-quota-tenant-based"),
        ("Retry-After", "60"),
    ]);
    p.observe(&get(SEARCH), 429, &quota, 0, now);
    assert_eq!(p.wait_for(&get(PROJECTS), now), Duration::from_secs(60));
    // No reason: the whole site, for Retry-After.
    let p = pacer(8);
    p.observe(&get(SEARCH), 429, &sig(&[("Retry-After", "2")]), 0, now);
    for k in [get(PROJECTS), post("/rest/api/3/issue/PLAT-1/comment")] {
        assert_eq!(p.wait_for(&k, now), Duration::from_secs(2), "{k:?}");
    }
    assert_eq!(
        p.wait_for(&get(PROJECTS), now + Duration::from_secs(2)),
        Duration::ZERO
    );
    // Never longer than the transport's longest wait (`max_retry_after`, 300 s here).
    p.observe(&get(SEARCH), 429, &sig(&[("Retry-After", "3600")]), 0, now);
    assert_eq!(p.wait_for(&get(PROJECTS), now), Duration::from_secs(300));
    // No Retry-After: the reset; neither: a second.
    let p = pacer(8);
    let reset = sig(&[
        ("RateLimit-Reason", "jira-burst-based"),
        ("X-RateLimit-Reset", "2026-03-26T16:24:34Z"),
    ]);
    p.observe(&get(SEARCH), 429, &reset, 0, now);
    assert_eq!(p.wait_for(&get(SEARCH), now), Duration::from_secs(4));
    p.observe(
        &get(PROJECTS),
        429,
        &sig(&[("RateLimit-Reason", "jira-burst-based")]),
        0,
        now,
    );
    assert_eq!(p.wait_for(&get(PROJECTS), now), DEFAULT_BLOCK);
    // Each 429 is counted by its reason.
    let c = p.counters.stats();
    assert_eq!((c.limited_by.burst, c.limited_by.unspecified), (2, 0));
}

#[test]
fn the_tenant_quota_spaces_every_endpoint() {
    let p = pacer(8);
    let now = Instant::now();
    let quota = sig(&[
        (
            "Beta-RateLimit-Policy",
            "\"tenant-app-quota\";q=1000;w=3600",
        ),
        ("Beta-RateLimit", "\"tenant-app-quota\";r=101;t=100"),
    ]);
    p.observe(&get(SEARCH), 200, &quota, 0, now);
    assert_eq!(
        p.wait_for(&get(PROJECTS), now),
        Duration::from_secs(1),
        "100 s / 100, from the warning on, whatever the endpoint"
    );
    // Plenty left: no spacing.
    let fine = sig(&[("Beta-RateLimit", "\"tenant-app-quota\";r=900;t=100")]);
    p.observe(&get(SEARCH), 200, &fine, 0, now);
    p.start(&get(PROJECTS), now);
    assert_eq!(p.wait_for(&get(SEARCH), now), Duration::ZERO);
}

#[test]
fn concurrency_falls_when_a_budget_is_near_or_a_429_comes_and_rises_when_clear() {
    let p = pacer(8);
    let now = Instant::now();
    let ok = Signals::default();
    let near = sig(&[("X-RateLimit-NearLimit", "true")]);
    assert_eq!(p.limit(), SLOW_START, "starts low");
    // Successes without pressure never take it above the ceiling.
    for _ in 0..100 {
        p.observe(&get(SEARCH), 200, &ok, 0, now);
    }
    assert_eq!(p.limit(), 8);
    // Near: down by a quarter; the answers of requests started before that do not cut again.
    p.observe(&get(SEARCH), 200, &near, 0, now);
    assert_eq!(p.limit(), 6);
    p.observe(&get(SEARCH), 200, &near, 0, now);
    assert_eq!(p.limit(), 6, "same round");
    // A 429 of a later request: halved.
    p.observe(&get(SEARCH), 429, &sig(&[("Retry-After", "0")]), 1, now);
    assert_eq!(p.limit(), 3);
    for round in 2..10 {
        p.observe(&get(SEARCH), 429, &sig(&[("Retry-After", "0")]), round, now);
    }
    assert_eq!(p.limit(), 1, "never below one");
    // While the endpoint is still near its end, successes do not raise it.
    let later = now + Duration::from_millis(1);
    p.observe(&get(SEARCH), 200, &near, 99, later);
    for _ in 0..20 {
        p.observe(&get(PROJECTS), 200, &ok, 99, later);
    }
    assert_eq!(p.limit(), 1);
    // Cleared (by the first of these answers): up by one per bound's worth of successes, to the
    // ceiling and no further.
    let mut seen = vec![p.limit()];
    for _ in 0..200 {
        p.observe(&get(SEARCH), 200, &ok, 99, later);
        if seen.last() != Some(&p.limit()) {
            seen.push(p.limit());
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(p.counters.stats().concurrency, 8);
    // A per-issue warning spaces that issue only: the site's bound stays.
    let issue = post("/rest/api/3/issue/PLAT-1/comment");
    let per_issue = sig(&[
        ("RateLimit-Reason", "jira-per-issue-on-write"),
        ("X-RateLimit-NearLimit", "true"),
    ]);
    let round = p.lock().round;
    p.observe(&issue, 201, &per_issue, round, later);
    assert_eq!(p.limit(), 8);
}

#[tokio::test]
async fn slots_follow_the_bound_and_a_waiting_request_holds_none() {
    use futures::FutureExt;
    let p = pacer(2);
    let search = get(SEARCH);
    let a = p.admit(&search).await;
    let b = p.admit(&search).await;
    assert!(p.admit(&search).now_or_never().is_none(), "the bound is 2");
    drop(a);
    let c = p.admit(&search).now_or_never().expect("a slot was freed");
    drop((b, c));

    // A request blocked by its budget counts as waiting, holds no slot, and stops counting
    // when it goes away.
    let round = p.lock().round;
    p.observe(
        &search,
        429,
        &sig(&[
            ("RateLimit-Reason", "jira-burst-based"),
            ("Retry-After", "600"),
        ]),
        round,
        Instant::now(),
    );
    let waiter = tokio::spawn({
        let p = p.clone();
        let search = search.clone();
        async move { p.admit(&search).await }
    });
    while p.counters.stats().waiting == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(p.counters.stats().waiting, 1);
    let other = p.admit(&get(PROJECTS)).now_or_never();
    assert!(other.is_some(), "another endpoint goes on");
    waiter.abort();
    let _ = waiter.await;
    assert_eq!(p.counters.stats().waiting, 0);
}

#[test]
fn an_endpoint_whose_limit_is_known_is_paced_under_it_all_the_time() {
    let p = pacer(8);
    let t0 = Instant::now();
    let search = get(SEARCH);
    // A limit said on an answer far from the end: no warning, but the pace is set.
    p.observe(
        &search,
        200,
        &sig(&[("X-RateLimit-Limit", "10"), ("X-RateLimit-Remaining", "9")]),
        0,
        t0,
    );
    // As fast as the pacer lets it, for 10 s: 9 a second, so never more than the limit in any
    // second.
    let mut starts = vec![];
    let mut t = t0;
    while t < t0 + Duration::from_secs(10) {
        match p.start(&search, t) {
            None => starts.push(t),
            Some(wait) => t += wait,
        }
    }
    for (i, s) in starts.iter().enumerate() {
        let within = starts[i..]
            .iter()
            .take_while(|u| **u < *s + Duration::from_secs(1))
            .count();
        assert!(within <= 10, "{within} starts in the second from start {i}");
    }
    assert!(
        (89..=91).contains(&starts.len()),
        "{} starts in 10 s",
        starts.len()
    );
    // Another endpoint's pace is its own.
    let other = post("/rest/api/3/issueLink");
    p.observe(
        &other,
        201,
        &sig(&[
            ("X-RateLimit-Limit", "100"),
            ("X-RateLimit-Remaining", "99"),
        ]),
        0,
        t,
    );
    assert_eq!(p.start(&other, t), None);
    assert_eq!(p.wait_for(&other, t), steady(100));
}

#[test]
fn an_endpoint_not_heard_of_takes_the_sites_last_limit_and_probes_above_it() {
    let p = pacer(8);
    let t0 = Instant::now();
    let projects = get(PROJECTS);
    // Nothing learned yet: no pace.
    assert_eq!(p.start(&projects, t0), None);
    assert_eq!(p.wait_for(&projects, t0), Duration::ZERO);
    p.observe(
        &get(SEARCH),
        200,
        &sig(&[
            ("X-RateLimit-Limit", "10"),
            ("X-RateLimit-NearLimit", "true"),
        ]),
        0,
        t0,
    );
    // An endpoint first used now goes at the site's last limit...
    let boards = get("/rest/agile/1.0/board");
    assert_eq!(p.start(&boards, t0), None);
    assert_eq!(p.wait_for(&boards, t0), steady(10));
    // ...raised by a quarter per probe step while it says nothing of its own...
    let later = t0 + PROBE_STEP * 2;
    assert_eq!(p.start(&boards, later), None);
    let gap = p.wait_for(&boards, later);
    let expected = BURST_WINDOW.div_f64(10.0 * 1.25 * 1.25 * STEADY_SHARE);
    assert!(
        gap.abs_diff(expected) < Duration::from_micros(10),
        "{gap:?}"
    );
    // ...until it does.
    p.observe(
        &boards,
        200,
        &sig(&[("X-RateLimit-Limit", "40"), ("X-RateLimit-Remaining", "30")]),
        0,
        later,
    );
    let after = later + Duration::from_secs(1);
    assert_eq!(p.start(&boards, after), None);
    assert_eq!(p.wait_for(&boards, after), steady(40));
    // A limit of 0 teaches nothing.
    let odd = get("/rest/api/3/field");
    p.observe(&odd, 200, &sig(&[("X-RateLimit-Limit", "0")]), 0, after);
    assert_eq!(p.start(&odd, after), None);
    assert_eq!(p.wait_for(&odd, after), steady(40), "the site's last limit");
}

/// A site's burst budget for one endpoint, as Jira keeps it: a bucket of `capacity` refilled
/// at `per_second`, warning (`NearLimit`) on successes under a fifth left, refusing when empty.
struct SiteBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl SiteBucket {
    fn answer(&mut self, now: Instant) -> (u16, Signals) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = now;
        let limit = (self.capacity as u64).to_string();
        if self.tokens < 1.0 {
            let reason = ("RateLimit-Reason", "jira-burst-based");
            return (
                429,
                sig(&[("Retry-After", "1"), ("X-RateLimit-Limit", &limit), reason]),
            );
        }
        self.tokens -= 1.0;
        let left = self.tokens.floor() as u64;
        if left * 5 < self.capacity as u64 {
            let left = left.to_string();
            let near = [
                ("X-RateLimit-Limit", limit.as_str()),
                ("X-RateLimit-Remaining", left.as_str()),
                ("X-RateLimit-NearLimit", "true"),
            ];
            (200, sig(&near))
        } else {
            (200, Signals::default())
        }
    }
}

#[test]
fn against_a_burst_bucket_the_pacer_keeps_near_its_rate_without_429s() {
    // Two endpoints of a site that allows 10 requests per second each, with buckets that start
    // full; 8 slots; every answer takes 50 ms. Requests are started as soon as the pacer
    // admits them, for 30 s of simulated time.
    let p = pacer(8);
    let t0 = Instant::now();
    let endpoints = [get(SEARCH), get("/rest/api/3/issue/PLAT-1/watchers")];
    let mut buckets: Vec<SiteBucket> = (0..2)
        .map(|_| SiteBucket {
            capacity: 10.0,
            per_second: 10.0,
            tokens: 10.0,
            at: t0,
        })
        .collect();
    let latency = ms(50);
    let end = t0 + Duration::from_secs(30);
    // (answered at, endpoint, round)
    let mut in_flight: Vec<(Instant, usize, u64)> = vec![];
    let (mut sent, mut refused, mut admitted_last_20s) = ([0u32; 2], 0u32, [0u32; 2]);
    let mut t = t0;
    let mut next = 0usize;
    while t < end {
        // Answers due now.
        in_flight.sort_by_key(|f| f.0);
        while in_flight.first().is_some_and(|f| f.0 <= t) {
            let (_, e, round) = in_flight.remove(0);
            p.lock().in_flight -= 1;
            let (status, signals) = buckets[e].answer(t);
            if status == 429 {
                refused += 1;
            } else if t >= t0 + Duration::from_secs(10) {
                admitted_last_20s[e] += 1;
            }
            p.observe(&endpoints[e], status, &signals, round, t);
        }
        // Start what the pacer admits, the endpoints taking turns.
        let mut soonest = end;
        for _ in 0..2 {
            let e = next % 2;
            next += 1;
            match p.lock().admit(&endpoints[e], t) {
                Admission::Go(round) => {
                    sent[e] += 1;
                    in_flight.push((t + latency, e, round));
                    soonest = t;
                }
                Admission::Wait(d) => soonest = soonest.min(t + d),
                Admission::Full => {}
            }
        }
        if soonest > t {
            let answer = in_flight.iter().map(|f| f.0).min().unwrap_or(end);
            t = soonest.min(answer);
        }
    }
    let total: u32 = sent.iter().sum();
    assert!(total > 400, "{total} requests");
    assert!(
        refused * 100 < total,
        "{refused} 429s in {total} requests (under 1% expected)"
    );
    for (e, n) in admitted_last_20s.iter().enumerate() {
        let rate = *n as f64 / 20.0;
        assert!(
            (8.5..=10.0).contains(&rate),
            "endpoint {e}: {rate} admitted per second of 10 allowed"
        );
    }
}

#[test]
fn the_next_pacer_of_a_site_starts_at_the_pace_the_last_one_learned() {
    let site = Learned::detached();
    let new_pacer = |learned: Arc<Mutex<Learned>>| {
        Arc::new(Pacer::new(
            8,
            Duration::from_secs(300),
            Arc::new(Counters::detached()),
            learned,
        ))
    };
    let jira_run = new_pacer(site.clone());
    let now = Instant::now();
    jira_run.observe(
        &get(SEARCH),
        200,
        &sig(&[
            ("X-RateLimit-Limit", "10"),
            ("X-RateLimit-NearLimit", "true"),
        ]),
        0,
        now,
    );
    // The next run: the endpoint keeps its pace, and one it never used starts at the site's.
    let next_run = new_pacer(site.clone());
    for (keys, limit) in [(get(SEARCH), 10), (get("/wiki/api/v2/pages"), 10)] {
        assert_eq!(next_run.start(&keys, now), None);
        assert_eq!(next_run.wait_for(&keys, now), steady(limit), "{keys:?}");
    }
    // Another site's pacer knows nothing of it.
    let elsewhere = new_pacer(Learned::detached());
    assert_eq!(elsewhere.start(&get(SEARCH), now), None);
    assert_eq!(elsewhere.wait_for(&get(SEARCH), now), Duration::ZERO);
    // What was learned too long ago is not used.
    let (routes, prior) = site.lock().unwrap().fresh(now + LEARNED_FOR);
    assert!(routes.is_empty() && prior.is_none(), "{routes:?} {prior:?}");
    let (routes, prior) = site.lock().unwrap().fresh(now + LEARNED_FOR / 2);
    assert_eq!(
        (routes, prior),
        (
            vec![("GET /rest/api/3/search/jql".to_string(), 10)],
            Some(10)
        )
    );
}

#[test]
fn once_the_site_says_a_per_issue_limit_every_issues_writes_are_paced_by_it() {
    let p = pacer(8);
    let now = Instant::now();
    let written = |key: &str| post(&format!("/rest/api/3/issue/{key}/comment"));
    // Before: writes to an issue go back to back.
    assert_eq!(p.start(&written("PLAT-1"), now), None);
    assert_eq!(p.wait_for(&written("PLAT-1"), now), Duration::ZERO);
    let per_issue = |limit: &str| {
        sig(&[
            ("RateLimit-Reason", "jira-per-issue-on-write"),
            ("X-RateLimit-Limit", limit),
            ("X-RateLimit-Remaining", "30"),
        ])
    };
    p.observe(&written("PLAT-1"), 201, &per_issue("20"), 0, now);
    // After: an issue never written before is paced at 90% of 20 per 2 s...
    let gap = ISSUE_WINDOW.div_f64(20.0 * STEADY_SHARE);
    assert_eq!(p.start(&written("PLAT-2"), now), None);
    assert_eq!(p.wait_for(&written("PLAT-2"), now), gap);
    // ...which reads of that issue, and writes elsewhere, do not wait for.
    assert_eq!(
        p.wait_for(&get("/rest/api/3/issue/PLAT-2"), now),
        Duration::ZERO
    );
    assert_eq!(p.wait_for(&written("PLAT-3"), now), Duration::ZERO);
    // A larger limit said (the 30-s window's 100) does not speed it up.
    p.observe(&written("PLAT-2"), 201, &per_issue("100"), 0, now);
    assert_eq!(p.start(&written("PLAT-4"), now), None);
    assert_eq!(p.wait_for(&written("PLAT-4"), now), gap);
}
