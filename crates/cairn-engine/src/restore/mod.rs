//! Restores a backup's snapshot into a destination site (issue 6, section 4).
//!
//! One restore is one product: [`jira`] or [`confluence`] writes the snapshot's items in
//! dependency order (containers before what they hold, parents before children, both ends of a
//! link before the link). Nothing that exists in the destination is overwritten or deleted
//! (rule 8): a project or space whose key exists there is skipped and counted in
//! `result.skipped`; everything else is only ever created.
//!
//! ## Resuming
//!
//! The source→destination id map ([`IdMap`]) lives in the job checkpoint. Before each create
//! the map is consulted; what a crash lost (the creates since the last save: see
//! [`crate::idmap`] for when it saves, and the one in flight) is found in the destination by a
//! key that the restore itself chose, only when the restore resumes:
//! - projects, spaces, boards: recorded as *intended* (and saved) before they are created, then
//!   looked up by key (boards: by name in their project);
//! - components, versions, sprints, pages and blog posts: by name or title inside a container
//!   this restore created (nothing else can be there; Confluence titles are unique in a space);
//! - issues: the issues of a project this restore created, in creation order, that the map does
//!   not know are the lost creates, matched to the next issues to create by summary;
//! - the children of an issue or page that was being written (comments, worklogs, attachments,
//!   ...): the destination's are counted and the first ones skipped; properties, watchers and
//!   labels are looked up by key (writing them twice changes nothing).
//!
//! The same look-up follows a create that failed in a way that may have reached the site (a
//! retryable error after the request was sent).
//!
//! What is found this way was written but not counted (the counts are saved with the map):
//! it is counted when found, so `result.created` is what the destination holds (see
//! [`crate::idmap`]).
//!
//! ## What the REST API cannot set
//!
//! Creation times, authors of comments and worklogs, issue keys and ids, and change logs are
//! stamped by the destination (with `record_origin`, on by default, the original ones are kept
//! in a property of each restored item: see [`crate::origin`]); users are never created (no API): accounts are used as they are
//! when the destination knows them, else mapped by email (with `USERS`), else references to
//! them are dropped (a project lead becomes the restoring account). Personal spaces cannot be
//! created through the API and are skipped. Workflows and schemes are not written.

mod confluence;
mod jira;

use std::sync::Arc;

use bytes::Bytes;
use cairn_connectors::{Site, Upload};
use cairn_control::jobs::{EngineError, JobContext, Outcome, RestoreResult, RestoreTask};
use cairn_control::management::{Progress, ProgressPhase};
use cairn_store::{Product, Selection};
use cairn_vault::SnapshotReader;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::AtlassianEngine;
use crate::idmap::IdMap;
use crate::storage::vault_error;

/// Consecutive items failing with a retryable error after which the restore stops (the site is
/// down): what was created stays in the checkpoint.
const MAX_RETRYABLE_IN_A_ROW: u32 = 5;

pub(crate) async fn restore(
    engine: &AtlassianEngine,
    task: RestoreTask,
    ctx: &JobContext,
) -> Result<RestoreResult, EngineError> {
    let snapshot_id = task.backup.snapshot_id.clone().ok_or_else(|| {
        EngineError::Permanent("the backup has no snapshot to restore from".into())
    })?;
    let repo = engine.vault(&task.storage).await?;
    let snap = crate::storage::reader(&repo, snapshot_id).await?;
    let site = Site::new(
        &task.destination.url,
        cairn_connectors::Credentials::new(&task.destination.email, &task.destination.api_token),
        engine.settings().connector.clone(),
    )
    .map_err(|e| EngineError::Permanent(format!("destination site: {e}")))?;
    let mut run = RestoreRun {
        snap: Arc::new(snap),
        ctx,
        map: IdMap::from_checkpoint(ctx.checkpoint())?,
        selections: task.restore.selections.clone(),
        record_origin: engine.settings().record_origin,
        done: 0,
        bytes: 0,
        retryable_in_a_row: 0,
        site: site.clone(),
    };
    let same_site = task.backup.cloud_id == task.restore.destination_cloud_id;
    let result = match (task.backup.product, task.restore.item_keys.as_deref()) {
        (Product::Jira, None) => {
            jira::restore(&mut run, &site, task.restore.project_keys.as_deref()).await
        }
        (Product::Jira, Some(keys)) => {
            jira::restore_issues(&mut run, &site, keys, same_site, task.restore.created_at).await
        }
        (Product::Confluence, None) => {
            confluence::restore(&mut run, &site, task.restore.space_keys.as_deref()).await
        }
        (Product::Confluence, Some(ids)) => confluence::restore_pages(&mut run, &site, ids).await,
    };
    if let Err(e) = result {
        // Keep what was created for the next attempt; a lost lease cannot save any more.
        if !matches!(e, EngineError::LeaseLost) {
            let _ = run.map.save(ctx).await;
        }
        return Err(e);
    }
    run.map.save(ctx).await?;
    run.report(ProgressPhase::Done).await?;
    let summary = run.map.summary().clone();
    let outcome = if summary.failed.is_empty() {
        Outcome::Completed
    } else {
        Outcome::Incomplete(incomplete_message(&summary.failed))
    };
    Ok(RestoreResult { outcome, summary })
}

/// `statusMessage` of a restore with failed items: how many of each kind, and the first ones.
fn incomplete_message(failed: &[cairn_control::management::FailedItem]) -> String {
    let mut by_kind = std::collections::BTreeMap::<&str, u64>::new();
    for f in failed {
        *by_kind.entry(f.kind.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let first = &failed[0];
    format!(
        "{} item(s) could not be restored ({}); the first: {} {}: {}. See result.failed.",
        failed.len(),
        counts.join(", "),
        first.kind,
        first.source_id,
        first.message
    )
}

/// The state of one restore run, shared by the Jira and Confluence writers.
pub(crate) struct RestoreRun<'a> {
    snap: Arc<SnapshotReader>,
    ctx: &'a JobContext,
    map: IdMap,
    selections: Vec<Selection>,
    /// Write [`crate::origin::PROPERTY`] on each restored issue, page and blog post.
    record_origin: bool,
    done: u64,
    bytes: u64,
    retryable_in_a_row: u32,
    /// The destination: its traffic goes into the progress.
    site: Site,
}

impl RestoreRun<'_> {
    fn selected(&self, s: Selection) -> bool {
        self.selections.contains(&s)
    }

    /// A JSON document of the snapshot; `None` when the snapshot has no such entry.
    async fn doc(&self, path: &str) -> Result<Option<Value>, EngineError> {
        if !self.has(path).await? {
            return Ok(None);
        }
        let bytes = self.snap.get(path).await.map_err(vault_error)?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EngineError::Permanent(format!("{path} in the backup is not JSON: {e}")))
    }

    /// Whether the snapshot has an entry at `path`.
    async fn has(&self, path: &str) -> Result<bool, EngineError> {
        Ok(self.snap.entry(path).await.map_err(vault_error)?.is_some())
    }

    /// Paths of the entries directly in `dir` (none when the snapshot has no such directory).
    async fn list(&self, dir: &str) -> Result<Vec<String>, EngineError> {
        Ok(self
            .entries(dir)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    /// The entries directly in `dir` with their attributes (none when the snapshot has no such
    /// directory).
    async fn entries(
        &self,
        dir: &str,
    ) -> Result<Vec<(String, std::collections::BTreeMap<String, String>)>, EngineError> {
        if self.snap.entry(dir).await.map_err(vault_error)?.is_none() {
            return Ok(vec![]);
        }
        Ok(self
            .snap
            .list(dir)
            .await
            .map_err(vault_error)?
            .into_iter()
            .map(|e| (e.path, e.attrs))
            .collect())
    }

    /// A streamed upload of an attachment kept at `path`: each attempt reads the vault again,
    /// so no file is held in memory. `None` when the backup lacks it.
    async fn upload(
        &mut self,
        path: &str,
        filename: &str,
        media_type: &str,
    ) -> Result<Option<Upload>, EngineError> {
        let Some(entry) = self.snap.entry(path).await.map_err(vault_error)? else {
            return Ok(None);
        };
        self.bytes += entry.size;
        let snap = self.snap.clone();
        Ok(Some(Upload {
            filename: filename.to_string(),
            media_type: if media_type.is_empty() {
                "application/octet-stream".into()
            } else {
                media_type.to_string()
            },
            length: Some(entry.size),
            open: Arc::new(move || {
                snap.stream_entry(&entry)
                    .map_err(std::io::Error::other)
                    .map_ok(Bytes::from)
                    .boxed()
            }),
        }))
    }

    /// Between items: stop when asked, report progress, save the map every so often.
    async fn step(&mut self) -> Result<(), EngineError> {
        self.done += 1;
        if self.ctx.should_stop() {
            return Err(self.ctx.stop_reason());
        }
        self.map.maybe_save(self.ctx).await?;
        self.report(ProgressPhase::Storing).await
    }

    async fn report(&self, phase: ProgressPhase) -> Result<(), EngineError> {
        self.ctx
            .report(Progress {
                phase,
                items_done: self.done,
                items_total: None,
                bytes_done: self.bytes,
                site_traffic: Some(crate::site::traffic(&self.site)),
            })
            .await
    }

    /// Records the outcome of one create: a created item is counted and mapped; a refused one
    /// is a failed item; an authorisation error ends the restore, and so does a site that keeps
    /// failing. Returns the destination id when created.
    fn outcome<T>(
        &mut self,
        kind: &str,
        source: &str,
        result: cairn_connectors::Result<T>,
    ) -> Result<Option<T>, EngineError> {
        match result {
            Ok(v) => {
                self.retryable_in_a_row = 0;
                self.map.created(kind);
                Ok(Some(v))
            }
            Err(e) => self.refused(kind, source, e).map(|()| None),
        }
    }

    /// A failed write (see [`RestoreRun::outcome`]).
    fn refused(
        &mut self,
        kind: &str,
        source: &str,
        e: cairn_connectors::Error,
    ) -> Result<(), EngineError> {
        use cairn_connectors::ErrorKind;
        match e.kind() {
            ErrorKind::Auth => Err(EngineError::Permanent(format!(
                "the destination refused the restore's account: {e}"
            ))),
            ErrorKind::Retryable => {
                self.retryable_in_a_row += 1;
                if self.retryable_in_a_row >= MAX_RETRYABLE_IN_A_ROW {
                    return Err(EngineError::Retryable(format!(
                        "the destination keeps failing: {e}"
                    )));
                }
                self.map.failed(kind, source, e.to_string());
                Ok(())
            }
            ErrorKind::Permanent => {
                self.retryable_in_a_row = 0;
                self.map.failed(kind, source, e.to_string());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_control::management::FailedItem;

    #[test]
    fn an_incomplete_message_counts_by_kind_and_names_the_first() {
        let f = |k: &str, id: &str| FailedItem {
            kind: k.into(),
            source_id: id.into(),
            message: "HTTP 400: nope".into(),
        };
        let m = incomplete_message(&[f("comment", "7"), f("attachment", "9"), f("comment", "8")]);
        assert!(
            m.starts_with("3 item(s) could not be restored (1 attachment, 2 comment)"),
            "{m}"
        );
        assert!(m.contains("comment 7: HTTP 400: nope"), "{m}");
    }
}
