//! The pacer of one site: it reads Atlassian's rate-limit headers on every answer and keeps each
//! budget just under its limit, so a backup or a restore runs at the site's allowed rate instead
//! of into its 429s.
//!
//! Budgets (Jira Cloud's three limits, Confluence's analogues):
//! - per endpoint and method (`jira-burst-based`): keyed by the route template of the request
//!   ([`route_template`]);
//! - per issue for writes (`jira-per-issue-on-write`): keyed by the issue in
//!   `/rest/api/{v}/issue/{idOrKey}/...` of a POST, PUT, PATCH or DELETE;
//! - the tenant's quota (`jira-quota-tenant-based`, and the draft `Beta-RateLimit` headers).
//!
//! Which budget an answer speaks about: `RateLimit-Reason` names it when present; the
//! `Beta-RateLimit*` headers are the tenant quota; `X-RateLimit-*` without a reason are the
//! endpoint's. A 429 without a reason pauses the whole site (see [`Pacer::observe`]).
//!
//! The algorithm:
//! - A budget is *near* its end when `X-RateLimit-NearLimit: true`, or when `Remaining` is under
//!   20% of `Limit`, or 0. A near budget with a known remaining count spaces its requests to
//!   spread what remains (keeping one in reserve) until its reset (`X-RateLimit-Reset`, the
//!   quota's `t`, or a default window: a second for an endpoint or an issue, the quota's `w`
//!   for the tenant). Near-ness ends when an answer of that budget says so, or at the reset.
//! - An endpoint whose limit is known (`X-RateLimit-Limit` on any of its answers, taken as per
//!   second: Jira's burst limits are) is *paced*: its requests start at most
//!   [`STEADY_SHARE`] of that limit per second, always, so its budget is never drained and the
//!   site never has to warn. An endpoint not heard of yet is paced by the limit last learned
//!   on the site (Atlassian sets them per endpoint, but alike), and raises that pace by a
//!   quarter every [`PROBE_STEP`] until its own answers say its limit: an endpoint allowed more
//!   is not held to another's limit, and one allowed less warns (under a fifth left) long
//!   before it refuses. Without this the pacer learns each endpoint's limit from a drained
//!   budget, and every endpoint of a run meets its first 429s.
//! - Once the site has said a per-issue write limit (on any issue), every issue's writes are
//!   paced at [`STEADY_SHARE`] of the smallest one said per [`ISSUE_WINDOW`]: a restore writes
//!   to thousands of issues, each new to the pacer, and would otherwise learn the limit anew on
//!   each busy one.
//! - What a site's pacers learned (endpoint limits, the per-issue limit) is kept per site for
//!   the process's life ([`Learned`]), so the next run starts at the pace the last one found.
//! - A 429 blocks its budget for `Retry-After` (else until the reset; else a second; at most
//!   `Settings::max_retry_after`); requests of other budgets go on.
//! - Requests wait on their budgets *before* they take a slot, so a waiting request never holds
//!   one, and a request woken by a freed slot checks its budgets again. Slots are the adaptive
//!   concurrency bound: it starts low ([`SLOW_START`], so the first answers can tell a limit
//!   before many requests are in flight) and never exceeds the ceiling
//!   (`Settings::max_concurrency`); it grows by one after as many successes as the bound while no
//!   endpoint or tenant budget is near or blocked, shrinks by a quarter when one is near and by
//!   half on a 429, at most once per round trip (a request started before the last decrease
//!   cannot decrease it again), never below one nor above the ceiling. An issue's budget only
//!   spaces that issue's writes: it says nothing about the site.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::Method;
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::stats::{Count, Counters};

/// No header makes a wait longer than this (and no `Instant` arithmetic can overflow).
const LONGEST: Duration = Duration::from_secs(24 * 3600);
/// How long a budget stays blocked after a 429 that says neither `Retry-After` nor a reset.
const DEFAULT_BLOCK: Duration = Duration::from_secs(1);
/// The window of an endpoint's or an issue's budget when the site does not say its reset
/// (Jira's burst limits are per second).
const BURST_WINDOW: Duration = Duration::from_secs(1);
/// How long a tenant quota stays near its end when the site says neither its reset nor its
/// window.
const TENANT_NEAR: Duration = Duration::from_secs(60);
/// The share of an endpoint's known limit its requests are paced at: the rest absorbs the
/// requests in flight when the pace was set and the difference between clocks.
const STEADY_SHARE: f64 = 0.9;
/// The concurrency bound a pacer starts at (when the ceiling is higher).
const SLOW_START: usize = 2;
/// How often an endpoint paced by another's limit raises its pace, and by how much.
const PROBE_STEP: Duration = Duration::from_secs(5);
const PROBE_GROWTH: f64 = 1.25;
/// The window of the per-issue write limit a pace assumes: Jira documents 20 writes per 2 s
/// (and 100 per 30 s) and says the window in no header.
const ISSUE_WINDOW: Duration = Duration::from_secs(2);
/// How long what a site's pacers learned of its limits is trusted by the next pacer of that
/// site (Atlassian changes limits rarely; a stale pace is only a start, corrected by answers).
const LEARNED_FOR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// Headers

/// What one answer's rate-limit headers say. Every field is optional: a missing or garbled
/// header is ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Signals {
    /// `Retry-After`: seconds, or an HTTP date.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (an ISO 8601 time) from now; `None` when already past.
    pub reset_in: Option<Duration>,
    /// `X-RateLimit-NearLimit`.
    pub near: Option<bool>,
    /// `RateLimit-Reason`.
    pub reason: Option<String>,
    /// The tenant quota's draft headers.
    pub quota: Quota,
}

/// `Beta-RateLimit-Policy: "tenant-app-quota";q=...;w=...`, `Beta-RateLimit:
/// "tenant-app-quota";r=...;t=...`, and the `X-Beta-RateLimit-NearLimit` / `-Reset` seen with
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Quota {
    /// `q`: the quota of the window.
    pub limit: Option<u64>,
    /// `w`: the window.
    pub window: Option<Duration>,
    /// `r`: what remains of it.
    pub remaining: Option<u64>,
    /// `t` (seconds), else `X-Beta-RateLimit-Reset`.
    pub reset_in: Option<Duration>,
    pub near: Option<bool>,
}

impl Quota {
    fn said_anything(&self) -> bool {
        *self != Quota::default()
    }
}

impl Signals {
    /// Reads the headers of one answer, `now` being the wall-clock time (for the timestamps).
    pub fn parse(h: &HeaderMap, now: DateTime<Utc>) -> Signals {
        let beta = |name: &str| {
            text(h, name)
                .map(structured)
                .unwrap_or_default()
                .into_iter()
                .find(|(name, _)| name.contains("quota"))
                .map(|(_, params)| params)
                .unwrap_or_default()
        };
        let policy = beta("Beta-RateLimit-Policy");
        let state = beta("Beta-RateLimit");
        let param = |p: &[(String, u64)], k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        let quota = Quota {
            limit: param(&policy, "q"),
            window: param(&policy, "w").map(seconds),
            remaining: param(&state, "r"),
            reset_in: param(&state, "t")
                .map(seconds)
                .or_else(|| text(h, "X-Beta-RateLimit-Reset").and_then(|s| reset_in(s, now))),
            near: text(h, "X-Beta-RateLimit-NearLimit").and_then(boolean),
        };
        Signals {
            retry_after: text(h, "Retry-After").and_then(|s| retry_after(s, now)),
            limit: text(h, "X-RateLimit-Limit").and_then(number),
            remaining: text(h, "X-RateLimit-Remaining").and_then(number),
            reset_in: text(h, "X-RateLimit-Reset").and_then(|s| reset_in(s, now)),
            near: text(h, "X-RateLimit-NearLimit").and_then(boolean),
            reason: text(h, "RateLimit-Reason")
                .filter(|s| s.len() <= 100)
                .map(str::to_ascii_lowercase),
            quota,
        }
    }

    /// True when the endpoint-style headers (`X-RateLimit-*`, the reason) said anything.
    fn said_anything(&self) -> bool {
        self.limit.is_some()
            || self.remaining.is_some()
            || self.reset_in.is_some()
            || self.near.is_some()
            || self.reason.is_some()
    }

    /// Near the end of the budget these headers describe.
    fn near_end(&self) -> bool {
        self.near == Some(true) || below_a_fifth(self.remaining, self.limit)
    }
}

fn below_a_fifth(remaining: Option<u64>, limit: Option<u64>) -> bool {
    match (remaining, limit) {
        (Some(0), _) => true,
        (Some(r), Some(l)) => r.saturating_mul(5) < l,
        _ => false,
    }
}

fn text<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let s = h.get(name)?.to_str().ok()?.trim();
    (!s.is_empty()).then_some(s)
}

fn number(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn seconds(n: u64) -> Duration {
    Duration::from_secs(n).min(LONGEST)
}

/// `Retry-After`: delay-seconds (a fraction tolerated) or an HTTP date (RFC 9110).
pub(crate) fn retry_after(s: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(seconds(n));
    }
    if let Ok(f) = s.parse::<f64>() {
        return (f.is_finite() && f >= 0.0)
            .then(|| Duration::from_secs_f64(f.min(LONGEST.as_secs_f64())));
    }
    let at = DateTime::parse_from_rfc2822(s).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default().min(LONGEST))
}

/// `X-RateLimit-Reset`, from now: an ISO 8601 time, which Atlassian writes `yyyy-MM-ddTHH:mmZ`
/// (minutes only) or with seconds. `None` when unreadable or already past.
pub(crate) fn reset_in(s: &str, now: DateTime<Utc>) -> Option<Duration> {
    let at = timestamp(s)?;
    let d = (at - now).to_std().ok()?;
    (!d.is_zero()).then(|| d.min(LONGEST))
}

fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|t| t.and_utc())
}

/// A structured-field list (RFC 9651) as the draft RateLimit headers write it:
/// `"name";k=1;k2=2, "other";k=3` → `[(name, [(k, 1), (k2, 2)]), (other, [(k, 3)])]`. Members or
/// parameters it cannot read are skipped.
fn structured(s: &str) -> Vec<(String, Vec<(String, u64)>)> {
    s.split(',')
        .filter_map(|member| {
            let mut parts = member.split(';');
            let name = parts.next()?.trim().trim_matches('"').to_ascii_lowercase();
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_ascii_lowercase(), v.trim().parse().ok()?))
                })
                .collect();
            Some((name, params))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Which budgets a request draws on

/// The budgets a request draws on (besides the tenant's, which every request does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// `METHOD /route/{}/template`.
    pub route: String,
    /// The issue a write changes.
    pub issue: Option<String>,
}

impl Keys {
    pub fn of(method: &Method, path: &str) -> Keys {
        let path = path_only(path);
        Keys {
            route: format!("{method} {}", route_template(path)),
            issue: issue_written(method, path),
        }
    }
}

/// The path of a request, without origin, query or fragment.
fn path_only(path: &str) -> &str {
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    path.split(['?', '#']).next().unwrap_or_default()
}

/// The route template of a path: each segment that names one thing (an id, a key, a property
/// key) becomes `{}`, so `/rest/api/3/issue/PLAT-12/comment` and `/rest/api/3/issue/10001/comment`
/// are both `/rest/api/3/issue/{}/comment`. API versions stay (`/rest/api/3`, `/wiki/api/v2`,
/// `/rest/agile/1.0`). Literal segments of Atlassian's paths are lower-case or camel-case words
/// without digits; anything else is taken for a name.
pub(crate) fn route_template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut prev = "";
    for seg in path_only(path).split('/').skip(1) {
        out.push('/');
        out.push_str(if names_one_thing(seg, prev) {
            "{}"
        } else {
            seg
        });
        prev = seg;
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn names_one_thing(seg: &str, prev: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    if matches!(prev, "api" | "agile") && is_version(seg) {
        return false;
    }
    if prev == "properties" {
        return true;
    }
    let has_upper = seg.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = seg.bytes().any(|b| b.is_ascii_lowercase());
    seg.bytes().any(|b| b.is_ascii_digit())
        || (has_upper && !has_lower)
        || seg
            .bytes()
            .any(|b| !(b.is_ascii_alphabetic() || b == b'_' || b == b'-' || b == b'.'))
}

fn is_version(seg: &str) -> bool {
    let v = seg.strip_prefix('v').unwrap_or(seg);
    seg == "latest"
        || (!v.is_empty()
            && v.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// The issue a request writes to: `{idOrKey}` of `/rest/api/{v}/issue/{idOrKey}[/...]` for
/// POST, PUT, PATCH and DELETE.
fn issue_written(method: &Method, path: &str) -> Option<String> {
    if !matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return None;
    }
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["", "rest", "api", v, "issue", key, ..]
            if is_version(v) && names_one_thing(key, "issue") =>
        {
            Some((*key).to_string())
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Budgets

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Route,
    Issue,
    Tenant,
}

/// The budget a `RateLimit-Reason` names; `None` when absent or unknown.
fn scope_of(reason: Option<&str>) -> Option<Scope> {
    let r = reason?;
    if r.contains("burst") {
        Some(Scope::Route)
    } else if r.contains("per-issue") || r.contains("on-write") {
        Some(Scope::Issue)
    } else if r.contains("quota") || r.contains("tenant") {
        Some(Scope::Tenant)
    } else {
        None
    }
}

/// What Cairn knows of one budget.
#[derive(Clone, Debug, Default)]
struct Budget {
    limit: Option<u64>,
    remaining: Option<u64>,
    /// When the site refills it.
    reset_at: Option<Instant>,
    near: bool,
    /// After a 429: nothing of this budget is sent before then.
    blocked_until: Option<Instant>,
    /// While near: the earliest start of its next request.
    next_start: Option<Instant>,
    /// While paced (a limit known, its own or the site's): the earliest start of its next
    /// request. Kept apart from `next_start`, which an answer without a warning clears.
    paced_start: Option<Instant>,
    /// An endpoint's first request (the start of its probing while paced by another's limit).
    first_start: Option<Instant>,
}

impl Budget {
    /// Forgets what a reset or the end of a block made stale.
    fn expire(&mut self, now: Instant) {
        if self.reset_at.is_some_and(|r| r <= now) {
            self.near = false;
            self.remaining = None;
            self.reset_at = None;
            self.next_start = None;
        }
        if self.blocked_until.is_some_and(|b| b <= now) {
            self.blocked_until = None;
        }
    }

    fn pressed(&self, now: Instant) -> bool {
        self.near || self.blocked_until.is_some_and(|b| b > now)
    }

    /// Nothing left to remember but, perhaps, its limit.
    fn idle(&self, now: Instant) -> bool {
        !self.pressed(now)
            && self.next_start.is_none_or(|n| n <= now)
            && self.paced_start.is_none_or(|n| n <= now)
    }

    /// The gap an endpoint's steady pace puts between its requests: [`STEADY_SHARE`] of its
    /// own limit per second, else of the site's `prior` raised by a quarter per [`PROBE_STEP`]
    /// since its first request; none when neither is known.
    fn steady_gap(&mut self, prior: Option<u64>, now: Instant) -> Duration {
        let first = *self.first_start.get_or_insert(now);
        let per_second = match (self.limit, prior) {
            (Some(own), _) => own as f64,
            (None, Some(prior)) => {
                let steps =
                    now.saturating_duration_since(first).as_secs_f64() / PROBE_STEP.as_secs_f64();
                prior as f64 * PROBE_GROWTH.powi(steps.floor().min(64.0) as i32)
            }
            (None, None) => return Duration::ZERO,
        };
        BURST_WINDOW.div_f64((per_second * STEADY_SHARE).max(f64::MIN_POSITIVE))
    }

    fn ready_at(&self) -> Option<Instant> {
        self.blocked_until
            .max(self.next_start)
            .max(self.paced_start)
    }

    /// The spacing of its requests: what remains (one kept in reserve) spread until the reset.
    /// Zero when not near, or when the site said nothing of what remains (then only the
    /// concurrency bound slows down).
    fn spacing(&self, now: Instant, window: Duration) -> Duration {
        if !self.near {
            return Duration::ZERO;
        }
        let Some(left) = self.remaining.or(self.limit.map(|l| l / 5)) else {
            return Duration::ZERO;
        };
        let until_reset = self
            .reset_at
            .map(|r| r.saturating_duration_since(now))
            .filter(|d| !d.is_zero())
            .unwrap_or(window);
        let spread = left.saturating_sub(1).clamp(1, u32::MAX as u64) as u32;
        until_reset / spread
    }

    /// Takes in what an answer said of this budget. What remains is what the answer says less
    /// the `others` requests still in flight (sent before it came, not counted in it yet), and
    /// a near budget is spaced from this answer on: the next request already waits its gap.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        limit: Option<u64>,
        remaining: Option<u64>,
        reset_in: Option<Duration>,
        near: bool,
        unknown_reset: Duration,
        others: u64,
        now: Instant,
    ) {
        // A limit of 0 says nothing a pace could use.
        if let Some(l) = limit.filter(|l| *l > 0) {
            self.limit = Some(l);
        }
        self.remaining = if near {
            remaining.map(|r| r.saturating_sub(others))
        } else {
            remaining
        };
        self.near = near;
        self.reset_at = match reset_in {
            Some(d) => Some(now + d),
            // Near-ness told without a reset lasts one window, not for ever.
            None if near => Some(now + unknown_reset),
            None => None,
        };
        if near {
            let gap = self.spacing(now, unknown_reset);
            if !gap.is_zero() {
                self.next_start = self.next_start.max(Some(now + gap));
            }
        } else {
            self.next_start = None;
        }
    }

    fn block(&mut self, until: Instant) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }
}

/// What the pacers of one site learned of its endpoints' limits, kept for the process's life:
/// the next run on that site (the Confluence backup after the Jira one, tomorrow's backup, a
/// restore) starts at the pace the last one found, instead of finding each limit again from a
/// nearly spent budget. Entries older than [`LEARNED_FOR`] are not used.
#[derive(Debug, Default)]
pub(crate) struct Learned {
    routes: HashMap<String, (u64, Instant)>,
    prior: Option<(u64, Instant)>,
    issue_limit: Option<(u64, Instant)>,
}

static LEARNED: LazyLock<Mutex<BTreeMap<String, Arc<Mutex<Learned>>>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

impl Learned {
    /// The shared record of one site (`host[:port]/path` as the counters name it).
    pub fn for_site(site: &str) -> Arc<Mutex<Learned>> {
        let mut sites = LEARNED.lock().unwrap_or_else(|e| e.into_inner());
        sites.entry(site.to_string()).or_default().clone()
    }

    /// A record shared with nobody.
    #[cfg(test)]
    pub fn detached() -> Arc<Mutex<Learned>> {
        Arc::default()
    }

    fn learn(&mut self, route: &str, limit: u64, now: Instant) {
        self.routes.insert(route.to_string(), (limit, now));
        self.prior = Some((limit, now));
    }

    fn learn_issue_limit(&mut self, limit: u64, now: Instant) {
        self.issue_limit = Some((limit, now));
    }

    /// The fresh per-issue write limit.
    fn fresh_issue_limit(&self, now: Instant) -> Option<u64> {
        self.issue_limit
            .filter(|(_, at)| now.saturating_duration_since(*at) < LEARNED_FOR)
            .map(|(l, _)| l)
    }

    /// The fresh route limits and the fresh prior.
    fn fresh(&self, now: Instant) -> (Vec<(String, u64)>, Option<u64>) {
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < LEARNED_FOR;
        let routes = self
            .routes
            .iter()
            .filter(|(_, (_, at))| fresh(at))
            .map(|(r, (l, _))| (r.clone(), *l))
            .collect();
        (
            routes,
            self.prior.filter(|(_, at)| fresh(at)).map(|(l, _)| l),
        )
    }
}

#[derive(Debug)]
struct State {
    routes: HashMap<String, Budget>,
    issues: HashMap<String, Budget>,
    tenant: Budget,
    /// The endpoint limit last learned on this site: the pace of endpoints not heard of yet.
    route_prior: Option<u64>,
    /// The smallest per-issue write limit the site has said: the pace of every issue's writes.
    issue_limit: Option<u64>,
    /// The tenant quota's window (`w`), when said.
    tenant_window: Option<Duration>,
    /// The concurrency bound, requests in flight, successes since the last change, and the
    /// round (bumped by each decrease).
    limit: usize,
    in_flight: usize,
    credit: usize,
    round: u64,
}

impl State {
    fn tenant_default(&self) -> Duration {
        self.tenant_window.unwrap_or(TENANT_NEAR)
    }

    fn expire(&mut self, keys: &Keys, now: Instant) {
        self.tenant.expire(now);
        if let Some(b) = self.routes.get_mut(&keys.route) {
            b.expire(now);
        }
        if let Some(b) = keys.issue.as_ref().and_then(|i| self.issues.get_mut(i)) {
            b.expire(now);
        }
    }

    /// Admits a request now (its budgets allow it and a slot is free: both are taken), or says
    /// what it waits for. Budgets are checked before slots and again each time a slot frees,
    /// so a request that waited for a slot still goes by its budgets' latest word.
    fn admit(&mut self, keys: &Keys, now: Instant) -> Admission {
        if let Some(wait) = self.wait(keys, now) {
            return Admission::Wait(wait);
        }
        if self.in_flight >= self.limit {
            return Admission::Full;
        }
        self.in_flight += 1;
        self.reserve(keys, now);
        Admission::Go(self.round)
    }

    /// How long a request must wait for its budgets, if at all.
    fn wait(&mut self, keys: &Keys, now: Instant) -> Option<Duration> {
        self.expire(keys, now);
        let issue = keys.issue.as_ref().and_then(|i| self.issues.get(i));
        let ready = [
            self.tenant.ready_at(),
            self.routes.get(&keys.route).and_then(Budget::ready_at),
            issue.and_then(Budget::ready_at),
        ]
        .into_iter()
        .flatten()
        .max();
        ready.filter(|at| *at > now).map(|at| at - now)
    }

    /// Takes a start from each budget of a request (spacing the next one while near).
    fn reserve(&mut self, keys: &Keys, now: Instant) {
        let tenant_window = self.tenant_default();
        let take = |b: &mut Budget, window: Duration, steady: Duration| {
            if !steady.is_zero() {
                b.paced_start = Some(now + steady);
            }
            let gap = b.spacing(now, window);
            if !gap.is_zero() {
                b.next_start = Some(now + gap);
            }
            if let Some(r) = b.remaining.as_mut() {
                *r = r.saturating_sub(1);
            }
        };
        take(&mut self.tenant, tenant_window, Duration::ZERO);
        let prior = self.route_prior;
        // An endpoint not heard of yet is remembered once there is a pace to hold it to.
        if prior.is_some() && !self.routes.contains_key(&keys.route) {
            self.routes.insert(keys.route.clone(), Budget::default());
        }
        if let Some(b) = self.routes.get_mut(&keys.route) {
            let steady = b.steady_gap(prior, now);
            take(b, BURST_WINDOW, steady);
        }
        if let Some(issue) = &keys.issue {
            // Every issue's writes are paced by the smallest per-issue limit the site has said.
            if let Some(limit) = self.issue_limit {
                let b = self.issues.entry(issue.clone()).or_default();
                let gap = ISSUE_WINDOW.div_f64(limit as f64 * STEADY_SHARE);
                take(b, BURST_WINDOW, gap);
            } else if let Some(b) = self.issues.get_mut(issue) {
                take(b, BURST_WINDOW, Duration::ZERO);
            }
        }
    }

    /// An endpoint's or the tenant's budget is near its end or blocked.
    fn under_pressure(&self, now: Instant) -> bool {
        self.tenant.pressed(now) || self.routes.values().any(|b| b.pressed(now))
    }

    /// Drops what is no longer worth remembering (issues above all: a restore writes to
    /// hundreds of thousands).
    fn forget(&mut self, now: Instant) {
        if self.issues.len() > 256 {
            self.issues.retain(|_, b| {
                b.expire(now);
                !b.idle(now)
            });
        }
        if self.routes.len() > 1024 {
            // An endpoint's known limit is worth keeping (there are a few hundred endpoints).
            self.routes.retain(|_, b| {
                b.expire(now);
                !b.idle(now) || b.limit.is_some()
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pacer

/// What a request waits for.
enum Admission {
    /// Nothing: it goes, in this round.
    Go(u64),
    /// A budget, this long.
    Wait(Duration),
    /// A slot.
    Full,
}

/// One site's pacer (shared by its Jira and Confluence clients).
#[derive(Debug)]
pub(crate) struct Pacer {
    ceiling: usize,
    /// The longest block a 429 may impose (`Settings::max_retry_after`).
    longest_block: Duration,
    state: Mutex<State>,
    freed: Notify,
    counters: Arc<Counters>,
    learned: Arc<Mutex<Learned>>,
}

/// A slot of the concurrency bound, held while a request is in flight (and by an open download
/// until it ends or is dropped). `round` is the pacer's round when it was taken.
#[derive(Debug)]
pub(crate) struct Slot {
    pacer: Arc<Pacer>,
    pub round: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.pacer.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.pacer.freed.notify_waiters();
    }
}

/// Counts a request as waiting on a budget for as long as it lives.
struct Waiting<'a> {
    counters: &'a Counters,
    since: Instant,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.counters.waiting(false);
        let ms = self.since.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.counters.add(Count::BudgetWaitedMs, ms);
    }
}

impl Pacer {
    pub fn new(
        ceiling: usize,
        longest_block: Duration,
        counters: Arc<Counters>,
        learned: Arc<Mutex<Learned>>,
    ) -> Pacer {
        let ceiling = ceiling.max(1);
        counters.concurrency(ceiling.min(SLOW_START));
        let (known, route_prior, issue_limit) = {
            let learned = learned.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let (known, prior) = learned.fresh(now);
            (known, prior, learned.fresh_issue_limit(now))
        };
        let routes = known
            .into_iter()
            .map(|(route, limit)| {
                let budget = Budget {
                    limit: Some(limit),
                    ..Budget::default()
                };
                (route, budget)
            })
            .collect();
        Pacer {
            ceiling,
            longest_block,
            state: Mutex::new(State {
                routes,
                issues: HashMap::new(),
                tenant: Budget::default(),
                route_prior,
                issue_limit,
                tenant_window: None,
                limit: ceiling.min(SLOW_START),
                in_flight: 0,
                credit: 0,
                round: 0,
            }),
            freed: Notify::new(),
            counters,
            learned,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the request's budgets allow it and a slot is free. While it waits on a
    /// budget it holds no slot and counts as waiting.
    pub async fn admit(self: &Arc<Self>, keys: &Keys) -> Slot {
        let mut waiting = None;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let admission = self.lock().admit(keys, Instant::now());
            match admission {
                Admission::Go(round) => {
                    return Slot {
                        pacer: self.clone(),
                        round,
                    };
                }
                Admission::Wait(wait) => {
                    if waiting.is_none() {
                        self.counters.waiting(true);
                        waiting = Some(Waiting {
                            counters: &self.counters,
                            since: Instant::now(),
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
                Admission::Full => freed.await,
            }
        }
    }

    /// Takes in one answer's status and headers. A 429 counts by its reason and blocks the
    /// budget the reason names for `Retry-After`; a 429 without a (known) reason blocks the
    /// whole site: Cairn cannot tell which budget ran out, Atlassian answers a request sent
    /// before `Retry-After` with the same or a longer one, and a tenant quota spent is the
    /// costliest to hit again, so a few seconds of the whole site are the cheaper mistake.
    pub fn observe(&self, keys: &Keys, status: u16, sig: &Signals, round: u64, now: Instant) {
        let limited = status == 429;
        let scope = scope_of(sig.reason.as_deref());
        if limited {
            self.counters.add(
                match scope {
                    Some(Scope::Route) => Count::Burst,
                    Some(Scope::Issue) => Count::IssueWrite,
                    Some(Scope::Tenant) => Count::TenantQuota,
                    None => Count::Unspecified,
                },
                1,
            );
        }
        let mut s = self.lock();
        // Which budget the X-RateLimit-* headers (and a 429) speak about.
        let target = match (scope, limited) {
            (Some(Scope::Issue), _) if keys.issue.is_none() => Scope::Route,
            (Some(scope), _) => scope,
            (None, true) => Scope::Tenant,
            (None, false) => Scope::Route,
        };
        let near = sig.near_end();
        let tenant_default = s.tenant_default();
        // The other requests in flight (this one holds a slot until it is read).
        let others = s.in_flight.saturating_sub(1) as u64;
        let longest_block = self.longest_block;
        if sig.said_anything() || limited {
            let (budget, unknown_reset) = match target {
                Scope::Tenant => (&mut s.tenant, tenant_default),
                Scope::Route => (
                    s.routes.entry(keys.route.clone()).or_default(),
                    BURST_WINDOW,
                ),
                Scope::Issue => (
                    s.issues
                        .entry(keys.issue.clone().unwrap_or_default())
                        .or_default(),
                    BURST_WINDOW,
                ),
            };
            budget.update(
                sig.limit,
                sig.remaining,
                sig.reset_in,
                near && !limited,
                unknown_reset,
                others,
                now,
            );
            if limited {
                let wait = sig.retry_after.or(sig.reset_in).unwrap_or(DEFAULT_BLOCK);
                budget.block(now + wait.min(longest_block));
            }
            if let Some(l) = sig.limit.filter(|l| *l > 0 && target == Scope::Issue) {
                let l = s.issue_limit.map_or(l, |known| known.min(l));
                s.issue_limit = Some(l);
                self.learned
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .learn_issue_limit(l, now);
            }
            if let Some(l) = sig.limit.filter(|l| *l > 0 && target == Scope::Route) {
                s.route_prior = Some(l);
                self.learned
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .learn(&keys.route, l, now);
            }
        } else if let Some(b) = s.routes.get_mut(&keys.route) {
            // An answer of this endpoint without a warning: its budget has recovered.
            b.update(None, None, None, false, BURST_WINDOW, 0, now);
        }
        let q = &sig.quota;
        if q.said_anything() {
            if q.window.is_some() {
                s.tenant_window = q.window;
            }
            let unknown_reset = s.tenant_default();
            let quota_near = q.near == Some(true) || below_a_fifth(q.remaining, q.limit);
            let tenant_said_near = target == Scope::Tenant && near;
            s.tenant.update(
                q.limit,
                q.remaining,
                q.reset_in,
                quota_near || tenant_said_near,
                unknown_reset,
                others,
                now,
            );
        }
        // The concurrency bound.
        let pressed_now =
            limited || (near && target != Scope::Issue) || (q.said_anything() && s.tenant.near);
        if pressed_now {
            if round == s.round {
                let cut = if limited {
                    s.limit / 2
                } else {
                    s.limit - (s.limit / 4).max(1)
                };
                s.limit = cut.max(1);
                s.round += 1;
                s.credit = 0;
                self.counters.concurrency(s.limit);
            }
        } else if (200..300).contains(&status) && !s.under_pressure(now) {
            s.credit += 1;
            if s.credit >= s.limit && s.limit < self.ceiling {
                s.limit += 1;
                s.credit = 0;
                self.counters.concurrency(s.limit);
                drop(s);
                self.freed.notify_waiters();
                return;
            }
        }
        s.forget(now);
    }

    /// The current concurrency bound.
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.lock().limit
    }

    /// How long a request with these keys would wait on its budgets now, taking nothing.
    #[cfg(test)]
    fn wait_for(&self, keys: &Keys, now: Instant) -> Duration {
        self.lock().wait(keys, now).unwrap_or_default()
    }

    /// Starts a request now if its budgets allow (taking from them, but no slot), else says
    /// how long it would wait.
    #[cfg(test)]
    fn start(&self, keys: &Keys, now: Instant) -> Option<Duration> {
        let mut s = self.lock();
        let wait = s.wait(keys, now);
        if wait.is_none() {
            s.reserve(keys, now);
        }
        wait
    }
}

#[cfg(test)]
mod tests;
