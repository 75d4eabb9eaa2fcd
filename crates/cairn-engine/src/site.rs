//! The sites the engine talks to: their errors as the job queue wants them, and their traffic
//! as a run's progress shows it.

use cairn_control::jobs::EngineError;
use cairn_control::management::{RateLimited, SiteTraffic};

/// Which site an error came from: the one backed up, or a restore's destination.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SiteRole {
    Source,
    Destination,
}

/// What a run's requests to its site met so far, for its progress (`progress.siteTraffic`).
pub(crate) fn traffic(site: &cairn_connectors::Site) -> SiteTraffic {
    let s = site.stats();
    SiteTraffic {
        requests: s.requests,
        requests_waiting: s.waiting,
        rate_limited: RateLimited {
            burst: s.limited_by.burst,
            issue_write: s.limited_by.issue_write,
            tenant_quota: s.limited_by.tenant_quota,
            unspecified: s.limited_by.unspecified,
        },
        concurrency: s.concurrency,
        budget_wait_ms: s.budget_waited.as_millis().min(u64::MAX as u128) as u64,
    }
}

/// A site error as the job queue wants it (retryable or not, rule 6), named by its site:
/// `.map_err(site_error(Source))`.
pub(crate) fn site_error(role: SiteRole) -> impl Fn(cairn_connectors::Error) -> EngineError + Copy {
    let site = match role {
        SiteRole::Source => "site",
        SiteRole::Destination => "destination site",
    };
    move |e| {
        if e.is_retryable() {
            EngineError::Retryable(format!("{site}: {e}"))
        } else {
            EngineError::Permanent(format!("{site}: {e}"))
        }
    }
}
