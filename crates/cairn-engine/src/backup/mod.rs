//! A backup: reads a site through the connectors and writes one vault snapshot (layout in
//! [`crate::layout`]).
//!
//! Incremental: with a parent snapshot, Jira fetches only the issues `updated >=` the parent's
//! start minus [`SAFETY_MARGIN`] (JQL reads the time in the account's time zone, which can be up
//! to 14 hours off UTC: a day covers every zone plus clock skew); every other issue the cheap id
//! listing still shows is taken over from the parent unread, with its attachments. Confluence
//! compares each page's and blog post's `version.createdAt` in the cheap id listing with the
//! parent's entry. Whatever the listings no longer show is left out (deleted). Each backup is a
//! complete snapshot.
//!
//! Checkpoints and resume: every [`crate::EngineSettings::checkpoint_items`] items (or
//! `checkpoint_bytes` bytes) written, what the writer holds is committed as a *checkpoint
//! snapshot* (tagged `checkpoint:<backupId>`) and its id saved in the job checkpoint; a fresh
//! writer goes on. A resumed attempt reads the site's listings again, and takes over unread what
//! the earlier attempts' checkpoints hold with the same stamps (issues, pages, attachments), so
//! it fetches only what they had not reached. At the end, the attempt's own checkpoints are
//! carried into the backup's one snapshot and every checkpoint is forgotten (their data lives
//! on in the snapshot; what nothing refers to any more is reclaimed by prune).

mod confluence;
mod jira;
mod jira_permissions;
mod jira_workflows;
mod run;

use std::collections::BTreeMap;
use std::time::Instant;

use cairn_connectors::{Credentials, Site};
use cairn_control::jobs::{BackupResult, BackupTask, EngineError, JobContext, Outcome};
use cairn_control::management::{BackupStatsView, ProgressPhase};
use cairn_store::{Product, Selection};
use chrono::{TimeDelta, Utc};
use futures::TryStreamExt;
use serde_json::Value;

use crate::AtlassianEngine;
use crate::layout::meta;
use crate::site::{SiteRole::Source, site_error};
use run::BackupRun;

/// How far before the parent's start an incremental Jira backup looks for changed issues.
pub const SAFETY_MARGIN: TimeDelta = TimeDelta::days(1);

/// Issues (or pages) whose details are read ahead of the one being written. With the site's
/// concurrency bound (8 requests) and 2-7 requests per item (an issue read in bulk needs about
/// 2 of its own, a page 7), a few keep the bound busy; more would only hold documents in memory.
const ITEMS_READ_AHEAD: usize = 4;

pub(crate) async fn backup(
    engine: &AtlassianEngine,
    task: BackupTask,
    ctx: &JobContext,
) -> Result<BackupResult, EngineError> {
    let clock = Instant::now();
    let started_at = Utc::now();
    let site = Site::new(
        &task.site.url,
        Credentials::new(task.site.email.clone(), task.site.api_token.clone()),
        engine.settings().connector.clone(),
    )
    .map_err(site_error(Source))?;
    let repo = engine.vault(&task.storage).await?;
    // A parent that cannot be read (collected, damaged) makes this a full backup.
    let parent = match task.parent.as_ref().and_then(|p| p.snapshot_id.clone()) {
        Some(id) => crate::storage::reader(&repo, id).await.ok(),
        None => None,
    };
    let since = parent.as_ref().and(task.parent.as_ref()).map(|p| {
        let start = p.started_at.unwrap_or(p.created_at);
        start - SAFETY_MARGIN
    });
    let mut run = BackupRun::start(
        ctx,
        repo,
        &task.backup.id,
        parent,
        engine.settings(),
        task.backup.selections.contains(&Selection::Attachments),
    )
    .await?;
    run.site = Some(site.clone());
    let selections = &task.backup.selections;
    let read = async {
        run.progress(ProgressPhase::Listing).await?;
        match task.backup.product {
            Product::Jira => jira::backup(&mut run, &site, selections, since).await,
            Product::Confluence => confluence::backup(&mut run, &site, selections).await,
        }
    }
    .await;
    if let Err(e) = read {
        // A backup that ends here (cancelled, failing the same way every time, or failing its
        // last attempt) will not resume: its checkpoints go. Otherwise the next attempt takes
        // them over.
        let ends = match e {
            EngineError::Cancelled | EngineError::Permanent(_) => true,
            EngineError::Retryable(_) => task.last_attempt,
            EngineError::LeaseLost => false,
        };
        if ends {
            run.forget_checkpoints().await;
        }
        return Err(e);
    }
    run.progress(ProgressPhase::Committing).await?;
    let meta = BTreeMap::from([
        (meta::BACKUP_ID.to_string(), task.backup.id.clone()),
        (meta::POLICY_ID.to_string(), task.backup.policy_id.clone()),
        (meta::CLOUD_ID.to_string(), task.backup.cloud_id.clone()),
        (meta::PRODUCT.to_string(), task.backup.product.to_string()),
        (meta::STARTED_AT.to_string(), started_at.to_rfc3339()),
        (meta::ITEMS.to_string(), run.done().to_string()),
    ]);
    let committed = run.commit(meta).await?;
    let BackupRun {
        users_size,
        data_size,
        attachments_size,
        changed,
        unchanged,
        missing,
        stored,
        ..
    } = run;
    let outcome = if missing.is_empty() {
        Outcome::Completed
    } else {
        Outcome::Incomplete(incomplete_message(&missing))
    };
    Ok(BackupResult {
        outcome,
        snapshot_id: committed.snapshot.to_string(),
        users_size,
        data_size,
        attachments_size,
        stats: BackupStatsView {
            new_bytes_stored: stored + committed.stats.bytes_stored,
            items_changed: changed,
            items_unchanged: unchanged,
            duration_ms: clock.elapsed().as_millis() as u64,
        },
    })
}

/// "3 items could not be read: a, b, c" (at most 10 named).
fn incomplete_message(missing: &[String]) -> String {
    let attachments = missing
        .iter()
        .filter(|m| m.starts_with("attachment"))
        .count();
    let noun = if attachments == missing.len() {
        "attachment"
    } else {
        "item"
    };
    let plural = if missing.len() == 1 { "" } else { "s" };
    let mut text = format!(
        "{} {noun}{plural} could not be read: {}",
        missing.len(),
        missing
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
    if missing.len() > 10 {
        text.push_str(&format!("; and {} more", missing.len() - 10));
    }
    text
}

/// Every document of a listing.
async fn read_all(docs: cairn_connectors::Docs) -> Result<Vec<Value>, EngineError> {
    docs.try_collect().await.map_err(site_error(Source))
}

/// A list the site may not serve (404) counts as empty.
async fn read_all_or_empty(docs: cairn_connectors::Docs) -> Result<Vec<Value>, EngineError> {
    match docs.try_collect().await {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Ok(vec![]),
        Err(e) => Err(site_error(Source)(e)),
    }
}

fn selection_names(selections: &[Selection]) -> Vec<String> {
    selections.iter().map(|s| s.to_string()).collect()
}
