//! Restores a backup's snapshot into a destination site (issue 6, section 4).
//!
//! One restore is one product: [`jira`] or [`confluence`] writes the snapshot's items in
//! dependency order (containers before what they hold, parents before children, both ends of a
//! link before the link). Nothing that exists in the destination is overwritten or deleted
//! (rule 8): a project or space whose key exists there is skipped and counted in
//! `result.skipped`; everything else is only ever created.
//!
//! ## Side by side
//!
//! Issues, pages, blog posts and issue links are written many at once: each item's writes run
//! in a task of its own ([`Window`]), at most the site's concurrency bound of them
//! (`[engine] site_concurrency`, the transport's `max_concurrency`; the transport paces the
//! requests within it). What must come first still does:
//! - a project's issues are *created* one after another, in key order with parents first (the
//!   destination numbers issues in creation order, so they keep their order in their project,
//!   and a sub-task's parent exists before it); each issue's status, comments, worklogs,
//!   attachments, watchers, properties and remote links are then written by its task, one
//!   write after another (a site limits the writes to one issue), while the next issues are
//!   created and other issues' tasks run;
//! - a page's task starts once its parent's has ended (it is created under it); blog posts and
//!   pages of different branches go side by side;
//! - issue links come after every issue, one task per inward issue.
//!
//! Projects, components, versions, boards, sprints and spaces are written one after another
//! (few, and each holds what comes next).
//!
//! The map has one owner, the driver (the future that runs the restore): a task gets
//! [`Tasks`] (the snapshot, the settings, the site's health) and returns a [`Ledger`] of what
//! it wrote, which the driver records when the task ends, in the same step as it closes the
//! item. A checkpoint therefore holds, for each item, either nothing of its children (the item
//! is *open*) or all of them (closed).
//!
//! ## Resuming
//!
//! The source→destination id map ([`IdMap`]) lives in the job checkpoint. Before each create
//! the map is consulted; what a crash lost (the creates since the last save: see
//! [`crate::idmap`] for when it saves, and the tasks in flight) is found in the destination by
//! a key that the restore itself chose, only when the restore resumes:
//! - projects, spaces, boards: recorded as *intended* (and saved) before they are created, then
//!   looked up by key (boards: by name in their project);
//! - components, versions, sprints, pages and blog posts: by name or title inside a container
//!   this restore created (nothing else can be there; Confluence titles are unique in a space),
//!   whatever order they were created in;
//! - issues: the issues of a project this restore created that the map does not know, in
//!   creation order, are the lost creates, matched to the next issues to create by summary.
//!   This stays exact with issues written side by side because their creates are not: the
//!   driver creates a project's issues one after another in the same order on every attempt,
//!   and records each create before the next, so the map's issues are always a prefix of the
//!   creation order and the lost ones the creates that follow it. It needs no marker in the
//!   issue, so it holds with `record_origin` off as well;
//! - the children of an open issue or page (one whose task had not ended: comments, worklogs,
//!   attachments, ...): the destination's are counted and the first ones skipped; properties,
//!   watchers and labels are looked up by key (writing them twice changes nothing);
//! - issue links: the links of the inward issue, by type and outward issue.
//!
//! The same look-up follows an issue create that failed in a way that may have reached the
//! site (a retryable error after the request was sent).
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
        ctx,
        map: IdMap::from_checkpoint(ctx.checkpoint())?,
        tasks: Tasks {
            snap: Arc::new(snap),
            record_origin: engine.settings().record_origin,
            attachments: task.restore.selections.contains(&Selection::Attachments),
            health: Health::default(),
        },
        selections: task.restore.selections.clone(),
        width: engine.settings().connector.max_concurrency.max(1),
        done: 0,
        bytes: 0,
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

/// The state of one restore run, shared by the Jira and Confluence writers. Only the driver
/// (the one future that runs the restore) holds it, and with it the map: the tasks that write
/// items side by side get a [`Tasks`] and return a [`Ledger`] of what they wrote, which the
/// driver records ([`RestoreRun::apply`]).
pub(crate) struct RestoreRun<'a> {
    ctx: &'a JobContext,
    map: IdMap,
    selections: Vec<Selection>,
    tasks: Tasks,
    /// Items written side by side at most (the site's concurrency bound).
    width: usize,
    done: u64,
    bytes: u64,
    /// The destination: its traffic goes into the progress.
    site: Site,
}

/// What a task writing one item needs of the run: everything but the map.
#[derive(Clone)]
pub(crate) struct Tasks {
    snap: Arc<SnapshotReader>,
    /// Write [`crate::origin::PROPERTY`] on each restored issue, page and blog post.
    record_origin: bool,
    attachments: bool,
    health: Health,
}

/// Retryable failures in a row, shared by the driver and every task: after
/// [`MAX_RETRYABLE_IN_A_ROW`] with no success between them the site is taken as down, and every
/// writer stops at its next write (what was created stays in the checkpoint).
#[derive(Clone, Default)]
pub(crate) struct Health(Arc<std::sync::atomic::AtomicU32>);

impl Health {
    fn ok(&self) {
        use std::sync::atomic::Ordering;
        // Once down, it stays down: the restore is ending.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_RETRYABLE_IN_A_ROW).then_some(0)
            });
    }

    /// Counts a retryable failure; true when the site is now taken as down.
    fn failed(&self) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= MAX_RETRYABLE_IN_A_ROW
    }

    fn down(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) >= MAX_RETRYABLE_IN_A_ROW
    }
}

fn site_down() -> EngineError {
    EngineError::Retryable("the destination keeps failing".into())
}

/// What one task wrote, or found written by an earlier attempt, for the driver to record in
/// the map when the task ends.
#[derive(Default)]
#[must_use]
pub(crate) struct Ledger {
    created: Vec<&'static str>,
    skipped: Vec<&'static str>,
    failed: Vec<(&'static str, String, String)>,
    /// (kind, source id, destination id).
    ids: Vec<(&'static str, String, String)>,
    bytes: u64,
}

impl Ledger {
    pub(crate) fn created(&mut self, kind: &'static str) {
        self.created.push(kind);
    }
    pub(crate) fn skipped(&mut self, kind: &'static str) {
        self.skipped.push(kind);
    }
    pub(crate) fn failed(&mut self, kind: &'static str, source: &str, message: impl Into<String>) {
        self.failed.push((kind, source.to_string(), message.into()));
    }
    pub(crate) fn insert(&mut self, kind: &'static str, source: &str, dest: &str) {
        self.ids.push((kind, source.to_string(), dest.to_string()));
    }
}

impl Tasks {
    pub(crate) fn attachments(&self) -> bool {
        self.attachments
    }

    pub(crate) fn record_origin(&self) -> bool {
        self.record_origin
    }

    /// Records the outcome of one write in `ledger`: a created item is counted; a refused one
    /// is a failed item; an authorisation error ends the restore, and so does a site that keeps
    /// failing. Returns the write's value when it succeeded.
    pub(crate) fn outcome<T>(
        &self,
        ledger: &mut Ledger,
        kind: &'static str,
        source: &str,
        result: cairn_connectors::Result<T>,
    ) -> Result<Option<T>, EngineError> {
        match result {
            Ok(v) => {
                self.health.ok();
                ledger.created(kind);
                Ok(Some(v))
            }
            Err(e) => self.refused(ledger, kind, source, e).map(|()| None),
        }
    }

    /// A failed write (see [`Tasks::outcome`]).
    pub(crate) fn refused(
        &self,
        ledger: &mut Ledger,
        kind: &'static str,
        source: &str,
        e: cairn_connectors::Error,
    ) -> Result<(), EngineError> {
        use cairn_connectors::ErrorKind;
        match e.kind() {
            ErrorKind::Auth => Err(EngineError::Permanent(format!(
                "the destination refused the restore's account: {e}"
            ))),
            ErrorKind::Retryable => {
                if self.health.failed() {
                    return Err(EngineError::Retryable(format!(
                        "the destination keeps failing: {e}"
                    )));
                }
                ledger.failed(kind, source, e.to_string());
                Ok(())
            }
            ErrorKind::Permanent => {
                self.health.ok();
                ledger.failed(kind, source, e.to_string());
                Ok(())
            }
        }
    }

    /// Before each write of a task: stop when another writer found the site down.
    pub(crate) fn check(&self) -> Result<(), EngineError> {
        if self.health.down() {
            return Err(site_down());
        }
        Ok(())
    }

    /// A streamed upload of an attachment kept at `path`: each attempt reads the vault again,
    /// so no file is held in memory. `None` when the backup lacks it.
    pub(crate) async fn upload(
        &self,
        ledger: &mut Ledger,
        path: &str,
        filename: &str,
        media_type: &str,
    ) -> Result<Option<Upload>, EngineError> {
        let Some(entry) = self.snap.entry(path).await.map_err(vault_error)? else {
            return Ok(None);
        };
        ledger.bytes += entry.size;
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
}

/// The tasks writing items side by side: at most `width` at once (the site's concurrency
/// bound; the transport paces the requests within it). Dropping the window aborts the tasks
/// still running (a restore that stops leaves them open in the map, to be reconciled).
pub(crate) struct Window<T> {
    set: tokio::task::JoinSet<Result<T, EngineError>>,
    width: usize,
}

impl<T: Send + 'static> Window<T> {
    pub(crate) fn new(width: usize) -> Window<T> {
        Window {
            set: tokio::task::JoinSet::new(),
            width: width.max(1),
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.set.len() >= self.width
    }

    pub(crate) fn spawn(
        &mut self,
        task: impl std::future::Future<Output = Result<T, EngineError>> + Send + 'static,
    ) {
        self.set.spawn(task);
    }

    /// The next task to end, waiting for it; `None` when none is running.
    pub(crate) async fn next(&mut self) -> Option<Result<T, EngineError>> {
        self.set.join_next().await.map(joined)
    }

    /// A task that has ended, without waiting.
    pub(crate) fn ended(&mut self) -> Option<Result<T, EngineError>> {
        self.set.try_join_next().map(joined)
    }
}

fn joined<T>(r: Result<Result<T, EngineError>, tokio::task::JoinError>) -> Result<T, EngineError> {
    r.unwrap_or_else(|e| {
        Err(EngineError::Retryable(format!(
            "a restore task ended abnormally: {e}"
        )))
    })
}

impl RestoreRun<'_> {
    fn selected(&self, s: Selection) -> bool {
        self.selections.contains(&s)
    }

    /// A JSON document of the snapshot; `None` when the snapshot has no such entry.
    async fn doc(&self, path: &str) -> Result<Option<Value>, EngineError> {
        doc(&self.tasks.snap, path).await
    }

    /// Whether the snapshot has an entry at `path`.
    async fn has(&self, path: &str) -> Result<bool, EngineError> {
        Ok(self
            .tasks
            .snap
            .entry(path)
            .await
            .map_err(vault_error)?
            .is_some())
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
        let snap = &self.tasks.snap;
        if snap.entry(dir).await.map_err(vault_error)?.is_none() {
            return Ok(vec![]);
        }
        Ok(snap
            .list(dir)
            .await
            .map_err(vault_error)?
            .into_iter()
            .map(|e| (e.path, e.attrs))
            .collect())
    }

    /// Records what a task wrote (see [`Ledger`]).
    fn apply(&mut self, ledger: Ledger) {
        let Ledger {
            created,
            skipped,
            failed,
            ids,
            bytes,
        } = ledger;
        for (kind, source, dest) in ids {
            self.map.insert(kind, &source, &dest);
        }
        for kind in created {
            self.map.created(kind);
        }
        for kind in skipped {
            self.map.skipped(kind);
        }
        for (kind, source, message) in failed {
            self.map.failed(kind, &source, message);
        }
        self.bytes += bytes;
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

    /// [`Tasks::outcome`] of a write the driver makes itself, recorded at once.
    fn outcome<T>(
        &mut self,
        kind: &'static str,
        source: &str,
        result: cairn_connectors::Result<T>,
    ) -> Result<Option<T>, EngineError> {
        let mut ledger = Ledger::default();
        let r = self.tasks.outcome(&mut ledger, kind, source, result);
        self.apply(ledger);
        r
    }

    /// [`Tasks::refused`] of a write the driver makes itself, recorded at once.
    fn refused(
        &mut self,
        kind: &'static str,
        source: &str,
        e: cairn_connectors::Error,
    ) -> Result<(), EngineError> {
        let mut ledger = Ledger::default();
        let r = self.tasks.refused(&mut ledger, kind, source, e);
        self.apply(ledger);
        r
    }
}

/// A JSON document of the snapshot; `None` when the snapshot has no such entry.
pub(crate) async fn doc(snap: &SnapshotReader, path: &str) -> Result<Option<Value>, EngineError> {
    if snap.entry(path).await.map_err(vault_error)?.is_none() {
        return Ok(None);
    }
    let bytes = snap.get(path).await.map_err(vault_error)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| EngineError::Permanent(format!("{path} in the backup is not JSON: {e}")))
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
