//! What the transport and its pacer did: per `Site` (`Site::stats`, for progress and benchmarks)
//! and per site for the whole process (`site_traffic`, for `/metrics`), so counters of a site
//! keep growing across the `Site` values a node makes for it (one per backup or restore).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// What the transport did so far (for progress, logs, metrics and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent (every attempt and redirect hop).
    pub requests: u64,
    /// 429 answers (all reasons; `limited_by` splits them).
    pub rate_limited: u64,
    pub server_errors: u64,
    /// Connections that failed or were dropped, mid-body included.
    pub dropped: u64,
    /// Total time chosen to wait before retries (`Retry-After` and backoff).
    pub waited: Duration,
    /// 429 answers by the budget the site named (`RateLimit-Reason`).
    pub limited_by: LimitedBy,
    /// Requests waiting on a budget now (before they are sent).
    pub waiting: u64,
    /// Total time requests waited on budgets before they were sent (spacing and blocks).
    pub budget_waited: Duration,
    /// The pacer's current bound on requests in flight (at most `Settings::max_concurrency`).
    pub concurrency: u64,
}

/// 429 answers by reason. Atlassian's `RateLimit-Reason` values fall into three budgets
/// (`jira-burst-based`, `jira-per-issue-on-write`, `jira-quota-tenant-based`, and Confluence's
/// analogues); a 429 without a reason, or with one Cairn does not know, is `unspecified`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitedBy {
    /// The burst limit of one endpoint and method.
    pub burst: u64,
    /// The write limit of one issue.
    pub issue_write: u64,
    /// The tenant's quota.
    pub tenant_quota: u64,
    pub unspecified: u64,
}

impl LimitedBy {
    /// `(label, count)` for each reason, labels as `/metrics` shows them.
    pub fn labelled(&self) -> [(&'static str, u64); 4] {
        [
            ("burst", self.burst),
            ("issue-write", self.issue_write),
            ("tenant-quota", self.tenant_quota),
            ("unspecified", self.unspecified),
        ]
    }
}

/// One site's traffic from this process (every `Site` made for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteTraffic {
    /// The site's base URL without its scheme (`acme.atlassian.net`).
    pub site: String,
    pub stats: Stats,
}

/// The traffic of every site this process has talked to, by site.
pub fn site_traffic() -> Vec<SiteTraffic> {
    let sites = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    sites
        .iter()
        .map(|(site, tally)| SiteTraffic {
            site: site.clone(),
            stats: tally.stats(),
        })
        .collect()
}

static REGISTRY: LazyLock<Mutex<BTreeMap<String, Arc<Tally>>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The counters one event moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Count {
    Requests,
    RateLimited,
    ServerErrors,
    Dropped,
    WaitedMs,
    BudgetWaitedMs,
    Burst,
    IssueWrite,
    TenantQuota,
    Unspecified,
}

const COUNTS: usize = 10;

#[derive(Default, Debug)]
struct Tally {
    counts: [AtomicU64; COUNTS],
    waiting: AtomicU64,
    concurrency: AtomicU64,
}

impl Tally {
    fn get(&self, c: Count) -> u64 {
        self.counts[c as usize].load(Ordering::Relaxed)
    }
    fn stats(&self) -> Stats {
        Stats {
            requests: self.get(Count::Requests),
            rate_limited: self.get(Count::RateLimited),
            server_errors: self.get(Count::ServerErrors),
            dropped: self.get(Count::Dropped),
            waited: Duration::from_millis(self.get(Count::WaitedMs)),
            limited_by: LimitedBy {
                burst: self.get(Count::Burst),
                issue_write: self.get(Count::IssueWrite),
                tenant_quota: self.get(Count::TenantQuota),
                unspecified: self.get(Count::Unspecified),
            },
            waiting: self.waiting.load(Ordering::Relaxed),
            budget_waited: Duration::from_millis(self.get(Count::BudgetWaitedMs)),
            concurrency: self.concurrency.load(Ordering::Relaxed),
        }
    }
}

/// The counters of one transport, and of its site in the process-wide registry: every event
/// moves both.
#[derive(Debug)]
pub(crate) struct Counters {
    own: Tally,
    site: Arc<Tally>,
}

impl Counters {
    /// Counters registered under `site` (a site's base URL without its scheme).
    pub fn for_site(site: &str) -> Counters {
        let mut sites = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let shared = sites.entry(site.to_string()).or_default().clone();
        Counters {
            own: Tally::default(),
            site: shared,
        }
    }

    /// Counters that no registry sees (the pacer's unit tests).
    #[cfg(test)]
    pub fn detached() -> Counters {
        Counters {
            own: Tally::default(),
            site: Arc::default(),
        }
    }

    pub fn add(&self, c: Count, n: u64) {
        self.own.counts[c as usize].fetch_add(n, Ordering::Relaxed);
        self.site.counts[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn waiting(&self, up: bool) {
        for t in [&self.own, &*self.site] {
            if up {
                t.waiting.fetch_add(1, Ordering::Relaxed);
            } else {
                // Never below zero, whatever the order of events.
                let _ = t
                    .waiting
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                        Some(w.saturating_sub(1))
                    });
            }
        }
    }

    pub fn concurrency(&self, limit: usize) {
        self.own.concurrency.store(limit as u64, Ordering::Relaxed);
        self.site.concurrency.store(limit as u64, Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        self.own.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sites_counters_add_up_across_its_transports() {
        let site = "stats-test.example.net";
        let a = Counters::for_site(site);
        let b = Counters::for_site(site);
        a.add(Count::Requests, 2);
        b.add(Count::Requests, 3);
        b.add(Count::Burst, 1);
        a.waiting(true);
        a.waiting(false);
        a.waiting(false);
        assert_eq!(a.stats().requests, 2);
        assert_eq!(b.stats().limited_by.burst, 1);
        let all = site_traffic();
        let mine = all.iter().find(|t| t.site == site).unwrap();
        assert_eq!(mine.stats.requests, 5);
        assert_eq!(mine.stats.limited_by.burst, 1);
        assert_eq!(mine.stats.waiting, 0, "never below zero");
    }
}
