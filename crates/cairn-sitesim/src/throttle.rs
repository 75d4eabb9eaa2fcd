//! A site's pace and limits, as Jira Cloud and Confluence Cloud apply them to API-token traffic:
//! a burst limit per endpoint and method (a token bucket per `METHOD /template`), a per-issue
//! write limit (sliding windows per issue), an hourly tenant quota per product, latency drawn
//! from a log-normal distribution, and counters of what was served and refused.
//!
//! The model is a pure function of the calls and the times they arrive at ([`Throttle::check`]
//! takes the time since the model was set), so it is unit-tested without sleeping; the server
//! feeds it tokio's clock ([`SiteThrottle`]), so `tokio::time::pause` works too. Unlike
//! [`crate::faults`], nothing here is scripted: a request is refused only when a budget is spent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::http::Api;

/// `RateLimit-Reason` values. Jira's are Atlassian's documented literals; Confluence documents
/// `confluence-quota-tenant-based` (and `-global-based`), and its burst limit is answered with
/// `confluence-burst-based`.
pub mod reason {
    pub const JIRA_BURST: &str = "jira-burst-based";
    pub const JIRA_PER_ISSUE_ON_WRITE: &str = "jira-per-issue-on-write";
    pub const JIRA_QUOTA_TENANT: &str = "jira-quota-tenant-based";
    pub const CONFLUENCE_BURST: &str = "confluence-burst-based";
    pub const CONFLUENCE_QUOTA_TENANT: &str = "confluence-quota-tenant-based";
}

/// A budget is "near its limit" when less than this share of it is left.
pub const NEAR_LIMIT: f64 = 0.2;

/// The window of the tenant quota (`w=3600` in `Beta-RateLimit-Policy`).
pub const QUOTA_WINDOW_SECS: u64 = 3600;

/// 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874;

/// Which product's budgets a call counts against (Jira and Confluence are limited apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Product {
    Jira,
    Confluence,
}

impl Product {
    /// The product of a route's API (`None`: never throttled, e.g. `/_edge/tenant_info`).
    pub fn of(api: Api) -> Option<Product> {
        match api {
            Api::Jira | Api::Agile => Some(Product::Jira),
            Api::ConfV2 | Api::ConfV1 => Some(Product::Confluence),
            Api::Edge => None,
        }
    }
    pub fn burst_reason(self) -> &'static str {
        match self {
            Product::Jira => reason::JIRA_BURST,
            Product::Confluence => reason::CONFLUENCE_BURST,
        }
    }
    pub fn quota_reason(self) -> &'static str {
        match self {
            Product::Jira => reason::JIRA_QUOTA_TENANT,
            Product::Confluence => reason::CONFLUENCE_QUOTA_TENANT,
        }
    }
}

/// The burst limit: a token bucket per endpoint and method (`GET /rest/api/3/issue/{issueIdOrKey}`
/// is one endpoint whatever the key), refilled at `perSecond`, holding at most `capacity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Burst {
    pub per_second: f64,
    /// Default: `perSecond` rounded up (one second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
}

impl Burst {
    pub fn capacity(&self) -> u64 {
        self.capacity
            .unwrap_or_else(|| self.per_second.ceil() as u64)
            .max(1)
    }
}

/// One window of the per-issue write limit: at most `limit` writes to one issue in any
/// `windowSecs` seconds (Jira documents 20 per 2 s and 100 per 30 s, both at once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    pub limit: u64,
    pub window_secs: u64,
}

/// Requests per product per clock hour, across the site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantQuota {
    pub per_hour: u64,
}

/// Latency of every Atlassian request: log-normal with this median and 99th percentile,
/// drawn from a ChaCha8 stream seeded with `seed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Latency {
    pub median_ms: f64,
    pub p99_ms: f64,
    #[serde(default)]
    pub seed: u64,
}

/// A site's limits and pace (`PUT /__sim/throttle`). Absent parts do not limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ThrottleSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<Burst>,
    /// Windows of the per-issue write limit (Jira; every window applies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_issue_write: Vec<Window>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_quota: Option<TenantQuota>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

impl ThrottleSpec {
    pub fn is_empty(&self) -> bool {
        *self == ThrottleSpec::default()
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(b) = &self.burst
            && !(b.per_second.is_finite() && b.per_second > 0.0)
        {
            return Err("burst.perSecond must be a number above 0".into());
        }
        if let Some(b) = &self.burst
            && b.capacity == Some(0)
        {
            return Err("burst.capacity must be at least 1".into());
        }
        if self
            .per_issue_write
            .iter()
            .any(|w| w.limit == 0 || w.window_secs == 0)
        {
            return Err("perIssueWrite windows need limit and windowSecs of at least 1".into());
        }
        if self.tenant_quota.as_ref().is_some_and(|q| q.per_hour == 0) {
            return Err("tenantQuota.perHour must be at least 1".into());
        }
        if let Some(l) = &self.latency
            && !(l.median_ms.is_finite()
                && l.median_ms > 0.0
                && l.p99_ms.is_finite()
                && l.p99_ms >= l.median_ms)
        {
            return Err("latency needs medianMs above 0 and p99Ms at least medianMs".into());
        }
        Ok(())
    }

    /// The limits of `cairn sim --rate-limit`: comma-separated `burst=N` (per endpoint and
    /// method per second; `N` may be fractional), `burst-capacity=N`, `issue-writes=N/Ss`
    /// (repeatable: every window applies) and `hourly=N` (tenant quota per product).
    /// Example: `burst=10,issue-writes=20/2s,issue-writes=100/30s,hourly=65000`.
    pub fn parse_rate_limit(text: &str) -> Result<ThrottleSpec, String> {
        let mut spec = ThrottleSpec::default();
        let mut capacity = None;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected KEY=VALUE"))?;
            let num = |v: &str| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{part:?}: {v:?} is not a whole number"))
            };
            match k.trim() {
                "burst" => {
                    let r: f64 =
                        v.trim().trim_end_matches("/s").parse().map_err(|_| {
                            format!("{part:?}: not a number of requests per second")
                        })?;
                    spec.burst = Some(Burst {
                        per_second: r,
                        capacity: None,
                    });
                }
                "burst-capacity" => capacity = Some(num(v)?),
                "issue-writes" => {
                    let (n, w) = v
                        .split_once('/')
                        .ok_or_else(|| format!("{part:?}: expected issue-writes=N/SECONDSs"))?;
                    spec.per_issue_write.push(Window {
                        limit: num(n)?,
                        window_secs: num(w.trim().trim_end_matches('s'))?,
                    });
                }
                "hourly" => spec.tenant_quota = Some(TenantQuota { per_hour: num(v)? }),
                other => {
                    return Err(format!(
                        "unknown rate limit {other:?} (burst, burst-capacity, issue-writes, hourly)"
                    ));
                }
            }
        }
        if let Some(c) = capacity {
            match &mut spec.burst {
                Some(b) => b.capacity = Some(c),
                None => return Err("burst-capacity needs burst=N".into()),
            }
        }
        spec.validate()?;
        Ok(spec)
    }
}

/// One request, as the model sees it.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub product: Product,
    /// `METHOD /template` of the matched route.
    pub endpoint: &'a str,
    /// The issue a write (POST, PUT, DELETE) names in its path, by id: the per-issue write
    /// limit's key.
    pub issue: Option<&'a str>,
}

/// What a budget looked like to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetView {
    pub reason: &'static str,
    pub limit: u64,
    /// Left after this request (admitted), or now (refused).
    pub remaining: u64,
    /// Until the budget is whole again (admitted), or until this request may be repeated
    /// (refused).
    pub reset_in: Duration,
}

impl BudgetView {
    fn share_left(&self) -> f64 {
        self.remaining as f64 / self.limit.max(1) as f64
    }
}

/// The tenant quota's state, for the `Beta-RateLimit` headers.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaView {
    pub limit: u64,
    pub remaining: u64,
    pub reset_in: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Admitted,
    /// 429: the budget that refused (the one with the longest wait when several do).
    Refused {
        budget: BudgetView,
        retry_after_secs: u64,
    },
}

/// The model's answer to one request: admitted or refused, what to say in headers, and how long
/// the site takes to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The budget with the least share left, when under [`NEAR_LIMIT`] (admitted requests).
    pub near_limit: Option<BudgetView>,
    pub quota: Option<QuotaView>,
    /// The wall-clock time the request arrived at (for `X-RateLimit-Reset`).
    pub now: DateTime<Utc>,
    pub latency: Duration,
}

impl Verdict {
    pub fn refused(&self) -> bool {
        matches!(self.outcome, Outcome::Refused { .. })
    }

    /// The headers Atlassian adds: on a 429 `Retry-After`, `X-RateLimit-*`, `RateLimit-Reason`;
    /// on a success the near-limit warning; on both the draft `Beta-RateLimit*` of the quota.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![];
        match &self.outcome {
            Outcome::Refused {
                budget,
                retry_after_secs,
            } => {
                h.extend(refusal_headers(
                    budget,
                    *retry_after_secs,
                    self.now + Duration::from_secs(*retry_after_secs),
                ));
            }
            Outcome::Admitted => {
                if let Some(b) = &self.near_limit {
                    h.push(("x-ratelimit-limit", b.limit.to_string()));
                    h.push(("x-ratelimit-remaining", b.remaining.to_string()));
                    h.push(("x-ratelimit-reset", reset_stamp(self.now + b.reset_in)));
                    h.push(("x-ratelimit-nearlimit", "true".into()));
                }
            }
        }
        if let Some(q) = &self.quota {
            h.push((
                "beta-ratelimit-policy",
                format!("\"tenant-app-quota\";q={};w={QUOTA_WINDOW_SECS}", q.limit),
            ));
            h.push((
                "beta-ratelimit",
                format!(
                    "\"tenant-app-quota\";r={};t={}",
                    q.remaining,
                    ceil_secs(q.reset_in)
                ),
            ));
        }
        h
    }
}

/// `X-RateLimit-Reset` as Atlassian documents it: ISO 8601, `yyyy-MM-ddTHH:mmZ` (minutes, UTC).
pub fn reset_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%MZ").to_string()
}

fn refusal_headers(
    b: &BudgetView,
    retry_after_secs: u64,
    reset: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    vec![
        ("retry-after", retry_after_secs.to_string()),
        ("x-ratelimit-limit", b.limit.to_string()),
        ("x-ratelimit-remaining", b.remaining.to_string()),
        ("x-ratelimit-reset", reset_stamp(reset)),
        ("x-ratelimit-nearlimit", "true".into()),
        ("ratelimit-reason", b.reason.to_string()),
    ]
}

/// The 429 answer in the API's error shape (Jira `{"errorMessages","errors"}`, Confluence v2
/// `{"errors":[...]}`, v1 `{"statusCode",...}`) with the given headers.
pub fn too_many_requests(api: Api, headers: &[(&'static str, String)]) -> Response {
    let mut r = api.error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.");
    add_headers(&mut r, headers);
    r
}

/// A scripted 429 ([`crate::faults`]): the same headers as a real refusal, with `Retry-After`
/// as the fault says.
pub fn injected_429(api: Api, retry_after_secs: u64) -> Response {
    let budget = BudgetView {
        reason: Product::of(api).unwrap_or(Product::Jira).burst_reason(),
        limit: 100,
        remaining: 0,
        reset_in: Duration::ZERO,
    };
    let reset = Utc::now() + Duration::from_secs(retry_after_secs);
    too_many_requests(api, &refusal_headers(&budget, retry_after_secs, reset))
}

pub fn add_headers(r: &mut Response, headers: &[(&'static str, String)]) {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 { s + 1 } else { s }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Latency samples: log-normal from the median and the 99th percentile.
pub struct LatencySampler {
    median_ms: f64,
    sigma: f64,
    cap_ms: f64,
    rng: ChaCha8Rng,
}

impl LatencySampler {
    pub fn new(l: &Latency) -> Self {
        LatencySampler {
            median_ms: l.median_ms,
            sigma: (l.p99_ms / l.median_ms).ln().max(0.0) / Z99,
            // A tail, not an outage: ten times the p99 at most.
            cap_ms: l.p99_ms * 10.0,
            rng: ChaCha8Rng::seed_from_u64(l.seed),
        }
    }
    pub fn sample(&mut self) -> Duration {
        let ms = crate::generate::lognormal(&mut self.rng, self.median_ms, self.sigma);
        Duration::from_secs_f64(ms.min(self.cap_ms) / 1000.0)
    }
}

struct Bucket {
    tokens: f64,
    at: Duration,
}

#[derive(Default)]
struct QuotaWindow {
    hour: i64,
    used: u64,
}

/// Requests served and refused by one endpoint since the counters were reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStats {
    pub requests: u64,
    pub throttled: u64,
    /// The most requests admitted within one second (seconds counted from the reset).
    pub peak_per_second: u64,
    /// The seconds (counted from the reset) in which it admitted at least one request: its
    /// admitted requests over these are its rate while in use, to set against its limit.
    pub active_seconds: u64,
    #[serde(skip)]
    second: u64,
    #[serde(skip)]
    in_second: u64,
}

/// `GET /__sim/stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStats {
    /// Seconds since the throttle was set or the counters reset.
    pub elapsed_secs: f64,
    /// Atlassian requests that reached the site (every route but `/__sim/` and `_edge`).
    pub requests: u64,
    /// Answered 429 (by the model or by a scripted fault).
    pub throttled: u64,
    pub throttled_by_reason: BTreeMap<String, u64>,
    /// By `METHOD /template`.
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Issues written at least once (per-issue write limit's keys seen).
    pub issues_written: u64,
    /// The most writes one issue received.
    pub max_writes_per_issue: u64,
    /// Requests counted against each product's tenant quota in its current hour.
    pub quota_used: BTreeMap<String, u64>,
    /// The limits in force.
    pub throttle: ThrottleSpec,
}

/// The model of one site.
pub struct Throttle {
    spec: ThrottleSpec,
    origin_wall: DateTime<Utc>,
    stats_from: Duration,
    buckets: HashMap<String, Bucket>,
    issue_writes: HashMap<String, VecDeque<Duration>>,
    writes_per_issue: HashMap<String, u64>,
    quota: BTreeMap<Product, QuotaWindow>,
    latency: Option<LatencySampler>,
    stats: ThrottleStats,
    checks: u64,
}

impl Throttle {
    /// A model whose time 0 is the wall-clock time `origin_wall`.
    pub fn new(spec: ThrottleSpec, origin_wall: DateTime<Utc>) -> Self {
        Throttle {
            latency: spec.latency.as_ref().map(LatencySampler::new),
            stats: ThrottleStats {
                throttle: spec.clone(),
                ..Default::default()
            },
            spec,
            origin_wall,
            stats_from: Duration::ZERO,
            buckets: HashMap::new(),
            issue_writes: HashMap::new(),
            writes_per_issue: HashMap::new(),
            quota: BTreeMap::new(),
            checks: 0,
        }
    }

    pub fn spec(&self) -> &ThrottleSpec {
        &self.spec
    }

    fn wall(&self, at: Duration) -> DateTime<Utc> {
        self.origin_wall + at
    }

    /// Decide one request arriving `at` after the model was set; an admitted request uses up
    /// its budgets, a refused one uses none.
    pub fn check(&mut self, call: Call<'_>, at: Duration) -> Verdict {
        self.checks += 1;
        if self.checks.is_multiple_of(4096) {
            self.sweep(at);
        }
        let now = self.wall(at);
        let latency = self
            .latency
            .as_mut()
            .map_or(Duration::ZERO, LatencySampler::sample);
        // Each budget that applies: its view if admitted, and the wait if it refuses.
        let mut views: Vec<(BudgetView, Option<Duration>)> = vec![];
        if let Some(b) = &self.spec.burst {
            let cap = b.capacity() as f64;
            let bucket = self
                .buckets
                .entry(call.endpoint.to_string())
                .or_insert(Bucket { tokens: cap, at });
            bucket.tokens =
                (bucket.tokens + b.per_second * secs(at.saturating_sub(bucket.at))).min(cap);
            bucket.at = bucket.at.max(at);
            let tokens = bucket.tokens;
            let wait =
                (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / b.per_second));
            let left = if wait.is_some() { tokens } else { tokens - 1.0 };
            views.push((
                BudgetView {
                    reason: call.product.burst_reason(),
                    limit: cap as u64,
                    remaining: left.max(0.0).floor() as u64,
                    reset_in: Duration::from_secs_f64((cap - left) / b.per_second),
                },
                wait,
            ));
        }
        if let (Some(issue), Product::Jira, false) = (
            call.issue,
            call.product,
            self.spec.per_issue_write.is_empty(),
        ) {
            let longest = self
                .spec
                .per_issue_write
                .iter()
                .map(|w| Duration::from_secs(w.window_secs))
                .max()
                .unwrap_or_default();
            let log = self.issue_writes.entry(issue.to_string()).or_default();
            while log.front().is_some_and(|t| *t + longest <= at) {
                log.pop_front();
            }
            for w in &self.spec.per_issue_write {
                let span = Duration::from_secs(w.window_secs);
                let inside: Vec<Duration> =
                    log.iter().copied().filter(|t| *t + span > at).collect();
                let n = inside.len() as u64;
                let wait = (n >= w.limit).then(|| inside[(n - w.limit) as usize] + span - at);
                let left = if wait.is_some() { 0 } else { w.limit - n - 1 };
                let whole_at = if wait.is_some() {
                    inside.last().map_or(Duration::ZERO, |t| *t + span - at)
                } else {
                    span
                };
                views.push((
                    BudgetView {
                        reason: reason::JIRA_PER_ISSUE_ON_WRITE,
                        limit: w.limit,
                        remaining: left,
                        reset_in: whole_at,
                    },
                    wait,
                ));
            }
        }
        let mut quota = None;
        if let Some(q) = &self.spec.tenant_quota {
            let wall_secs = now.timestamp_millis() as f64 / 1000.0;
            let hour = (wall_secs / QUOTA_WINDOW_SECS as f64).floor() as i64;
            let to_end = Duration::from_secs_f64(
                ((hour + 1) as f64 * QUOTA_WINDOW_SECS as f64 - wall_secs).max(0.0),
            );
            let window = self.quota.entry(call.product).or_default();
            if window.hour != hour {
                *window = QuotaWindow { hour, used: 0 };
            }
            let wait = (window.used >= q.per_hour).then_some(to_end);
            let left = if wait.is_some() {
                0
            } else {
                q.per_hour - window.used - 1
            };
            quota = Some(QuotaView {
                limit: q.per_hour,
                remaining: left,
                reset_in: to_end,
            });
            views.push((
                BudgetView {
                    reason: call.product.quota_reason(),
                    limit: q.per_hour,
                    remaining: left,
                    reset_in: to_end,
                },
                wait,
            ));
        }

        let endpoint = self
            .stats
            .endpoints
            .entry(call.endpoint.to_string())
            .or_default();
        endpoint.requests += 1;
        self.stats.requests += 1;
        // The refusing budget with the longest wait (the first of those on a tie).
        let refusal = views.iter().filter_map(|(v, w)| w.map(|w| (v, w))).fold(
            None::<(&BudgetView, Duration)>,
            |best, (v, w)| match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((v, w)),
            },
        );
        if let Some((budget, wait)) = refusal {
            let budget = budget.clone();
            // Nothing is used by a refusal: the quota has what it had.
            if let (Some(q), Some(w)) = (quota.as_mut(), self.quota.get(&call.product)) {
                q.remaining = q.limit.saturating_sub(w.used);
            }
            endpoint.throttled += 1;
            self.stats.throttled += 1;
            *self
                .stats
                .throttled_by_reason
                .entry(budget.reason.to_string())
                .or_default() += 1;
            return Verdict {
                outcome: Outcome::Refused {
                    budget,
                    retry_after_secs: ceil_secs(wait).max(1),
                },
                near_limit: None,
                quota,
                now,
                latency,
            };
        }

        // Admitted: use up each budget.
        let second = secs(at.saturating_sub(self.stats_from)) as u64;
        if endpoint.second != second || endpoint.in_second == 0 {
            endpoint.second = second;
            endpoint.in_second = 0;
            endpoint.active_seconds += 1;
        }
        endpoint.in_second += 1;
        endpoint.peak_per_second = endpoint.peak_per_second.max(endpoint.in_second);
        if self.spec.burst.is_some()
            && let Some(b) = self.buckets.get_mut(call.endpoint)
        {
            b.tokens -= 1.0;
        }
        if let Some(issue) = call.issue
            && call.product == Product::Jira
        {
            if !self.spec.per_issue_write.is_empty()
                && let Some(log) = self.issue_writes.get_mut(issue)
            {
                log.push_back(at);
            }
            let n = self.writes_per_issue.entry(issue.to_string()).or_default();
            *n += 1;
            self.stats.max_writes_per_issue = self.stats.max_writes_per_issue.max(*n);
            self.stats.issues_written = self.writes_per_issue.len() as u64;
        }
        if self.spec.tenant_quota.is_some()
            && let Some(w) = self.quota.get_mut(&call.product)
        {
            w.used += 1;
            *self
                .stats
                .quota_used
                .entry(product_name(call.product).into())
                .or_default() = w.used;
        }
        let near_limit = views
            .into_iter()
            .map(|(v, _)| v)
            .filter(|v| v.share_left() < NEAR_LIMIT)
            .min_by(|a, b| a.share_left().total_cmp(&b.share_left()));
        Verdict {
            outcome: Outcome::Admitted,
            near_limit,
            quota,
            now,
            latency,
        }
    }

    /// Count a 429 the model did not decide (a scripted fault), so the counters hold every 429.
    pub fn record_injected(&mut self, endpoint: &str, reason: &str) {
        let e = self
            .stats
            .endpoints
            .entry(endpoint.to_string())
            .or_default();
        e.requests += 1;
        e.throttled += 1;
        self.stats.requests += 1;
        self.stats.throttled += 1;
        *self
            .stats
            .throttled_by_reason
            .entry(reason.to_string())
            .or_default() += 1;
    }

    /// A latency sample for a request the model did not see (none when no distribution is set).
    pub fn latency(&mut self) -> Duration {
        self.latency
            .as_mut()
            .map_or(Duration::ZERO, LatencySampler::sample)
    }

    pub fn stats(&self, at: Duration) -> ThrottleStats {
        let mut s = self.stats.clone();
        s.elapsed_secs = secs(at.saturating_sub(self.stats_from));
        s
    }

    /// Start the counters again (the budgets keep their state).
    pub fn reset_stats(&mut self, at: Duration) {
        self.stats = ThrottleStats {
            throttle: self.spec.clone(),
            ..Default::default()
        };
        self.writes_per_issue.clear();
        self.stats_from = at;
    }

    /// Forget issues whose writes have all left every window (bounded memory on long runs).
    fn sweep(&mut self, at: Duration) {
        let longest = self
            .spec
            .per_issue_write
            .iter()
            .map(|w| Duration::from_secs(w.window_secs))
            .max()
            .unwrap_or_default();
        self.issue_writes
            .retain(|_, log| log.back().is_some_and(|t| *t + longest > at));
    }
}

fn product_name(p: Product) -> &'static str {
    match p {
        Product::Jira => "jira",
        Product::Confluence => "confluence",
    }
}

/// A site's model on tokio's clock (so `tokio::time::pause` drives it in tests).
pub struct SiteThrottle {
    pub model: Throttle,
    origin: tokio::time::Instant,
}

impl SiteThrottle {
    pub fn new(spec: ThrottleSpec) -> Self {
        SiteThrottle {
            model: Throttle::new(spec, Utc::now()),
            origin: tokio::time::Instant::now(),
        }
    }
    pub fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
    pub fn check(&mut self, call: Call<'_>) -> Verdict {
        let at = self.now();
        self.model.check(call, at)
    }
    pub fn stats(&self) -> ThrottleStats {
        self.model.stats(self.now())
    }
    pub fn reset_stats(&mut self) {
        let at = self.now();
        self.model.reset_stats(at);
    }
}

#[cfg(test)]
mod tests;
