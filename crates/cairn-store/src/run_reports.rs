//! What a run reports besides its status (extensions of the spec): the `progress` of a backup or
//! restore in flight, a backup's `stats` and a restore's `result`. They are typed here, at the
//! store's boundary, and stored as JSON text in one place (`sql/management/runs.rs`), so a row
//! that cannot be read is an error, never a silently empty field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The phase of work in flight (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProgressPhase {
    Listing,
    Downloading,
    Storing,
    Committing,
    Done,
}

/// `progress` of a backup or restore (extension), as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub phase: ProgressPhase,
    pub items_done: u64,
    /// Unknown while the listing runs.
    pub items_total: Option<u64>,
    pub bytes_done: u64,
    /// What the run's requests to the Atlassian site met (absent in rows written before it
    /// existed, and while the engine has not said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_traffic: Option<SiteTraffic>,
}

/// `progress.siteTraffic` (extension): the run's requests to its Atlassian site and the site's
/// rate limits they met, as the engine's connectors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SiteTraffic {
    /// HTTP requests sent (every attempt).
    pub requests: u64,
    /// Requests waiting on a rate-limit budget now.
    pub requests_waiting: u64,
    /// 429 answers, by the budget the site named.
    pub rate_limited: RateLimited,
    /// The bound on requests in flight now (adaptive, at most the site concurrency setting).
    pub concurrency: u64,
    /// Time requests waited on rate-limit budgets, in total.
    pub budget_wait_ms: u64,
}

/// 429 answers by reason: an endpoint's burst limit, an issue's write limit, the tenant's
/// quota, or no (known) reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimited {
    pub burst: u64,
    pub issue_write: u64,
    pub tenant_quota: u64,
    pub unspecified: u64,
}

/// `stats` of a finished backup (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatsView {
    /// Bytes the backup added to the storage, after deduplication and compression.
    pub new_bytes_stored: u64,
    pub items_changed: u64,
    pub items_unchanged: u64,
    pub duration_ms: u64,
}

/// One item a restore could not create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedItem {
    pub kind: String,
    pub source_id: String,
    pub message: String,
}

/// One item a restore left out on purpose because the destination's API cannot write it (a
/// third-party app's workflow rule, an uneditable system scheme, ...): also counted in `skipped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedItem {
    pub kind: String,
    pub source_id: String,
    pub reason: String,
}

/// `result` of a restore (extension): counts by kind of what was created and skipped, what
/// failed, and why each item left out on purpose was left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSummary {
    pub created: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    pub failed: Vec<FailedItem>,
    /// Absent from results written before reasons were kept, and when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_items: Vec<SkippedItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_written_before_site_traffic_existed_still_reads() {
        let old = r#"{"phase":"STORING","itemsDone":3,"itemsTotal":null,"bytesDone":10}"#;
        let p: Progress = serde_json::from_str(old).unwrap();
        assert_eq!(p.site_traffic, None);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            old,
            "and is written the same"
        );
    }
}
