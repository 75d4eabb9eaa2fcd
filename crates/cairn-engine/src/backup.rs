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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cairn_connectors::{ContentKind, Credentials, Site};
use cairn_control::jobs::{BackupResult, BackupTask, EngineError, JobContext, Outcome};
use cairn_control::management::{BackupStatsView, Progress, ProgressPhase};
use cairn_store::{Product, Selection};
use cairn_vault::{SnapshotReader, SnapshotWriter, WriterOptions};
use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::AtlassianEngine;
use crate::json::id_str;
use crate::layout::{self, attr, canonical_json, meta};
use crate::site::{SiteRole::Source, site_error};
use crate::storage::vault_error;

/// How far before the parent's start an incremental Jira backup looks for changed issues.
pub const SAFETY_MARGIN: TimeDelta = TimeDelta::days(1);

/// Issues (or pages) whose details are read ahead of the one being written. With the site's
/// concurrency bound (8 requests) and 6-7 requests per item, a few keep the bound busy; more
/// would only hold documents in memory.
const ITEMS_READ_AHEAD: usize = 4;

/// `None` writer: only between a checkpoint's commit and the next writer, which an error ends.
fn writer_gone() -> EngineError {
    EngineError::Permanent("the backup's writer is gone".into())
}

/// What an entry of an earlier snapshot must be to be taken over.
#[derive(Clone, Copy)]
enum Want<'a> {
    /// These attributes exactly.
    Attrs(&'a BTreeMap<String, String>),
    /// These attributes with these values (what a listing shows of the item).
    Listed(&'a [(&'a str, &'a str)]),
    /// Whatever it is (an attachment named by an item taken over).
    Any,
}

impl Want<'_> {
    fn accepts(&self, attrs: &BTreeMap<String, String>) -> bool {
        match self {
            Want::Attrs(a) => *a == attrs,
            Want::Listed(pairs) => pairs
                .iter()
                .all(|(k, v)| attrs.get(*k).map(String::as_str) == Some(*v)),
            Want::Any => true,
        }
    }
}

/// Where an item taken over unread came from.
#[derive(Clone, Copy)]
enum From {
    /// The checkpoint of an earlier attempt (index into `BackupRun::earlier`).
    Earlier(usize),
    Parent,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    Users,
    Data,
    Attachments,
}

struct BackupRun<'a> {
    ctx: &'a JobContext,
    repo: cairn_vault::Repository,
    backup_id: String,
    /// `None` only while a checkpoint is being committed.
    writer: Option<SnapshotWriter>,
    parent: Option<SnapshotReader>,
    /// Checkpoints of earlier attempts of this backup.
    earlier: Vec<SnapshotReader>,
    /// Checkpoints of this attempt, to carry into the final snapshot.
    segments: Vec<String>,
    /// Items and bytes written since the last checkpoint.
    pending: (u64, u64),
    every: (u64, u64),
    /// New bytes the checkpoints stored.
    stored: u64,
    users_size: u64,
    data_size: u64,
    attachments_size: u64,
    changed: u64,
    unchanged: u64,
    missing: Vec<String>,
    /// Items the listings have shown so far (`itemsTotal`): it grows as spaces are listed and
    /// attachments are found, and equals the items done at the end.
    known: u64,
    phase: ProgressPhase,
    /// `ATTACHMENTS` selected.
    attachments: bool,
}

impl BackupRun<'_> {
    fn done(&self) -> u64 {
        self.changed + self.unchanged
    }

    async fn progress(&mut self, phase: ProgressPhase) -> Result<(), EngineError> {
        if self.ctx.should_stop() {
            return Err(self.ctx.stop_reason());
        }
        let changed_phase = phase != self.phase;
        self.phase = phase;
        let p = Progress {
            phase,
            items_done: self.done(),
            items_total: Some(self.known.max(self.done())),
            bytes_done: self.users_size + self.data_size + self.attachments_size,
        };
        self.ctx.report(p).await?;
        if changed_phase {
            self.checkpoint().await?;
        }
        Ok(())
    }

    async fn checkpoint(&self) -> Result<(), EngineError> {
        let phase = serde_json::to_value(self.phase).unwrap_or_default();
        let partials = self.partial_ids();
        let text =
            json!({"phase": phase, "itemsDone": self.done(), "partials": partials}).to_string();
        self.ctx.save_checkpoint(&text).await
    }

    /// The checkpoints of every attempt of this backup so far.
    fn partial_ids(&self) -> Vec<String> {
        self.earlier
            .iter()
            .map(|r| r.id().to_hex())
            .chain(self.segments.iter().cloned())
            .collect()
    }

    fn writer(&mut self) -> Result<&mut SnapshotWriter, EngineError> {
        self.writer.as_mut().ok_or_else(writer_gone)
    }

    /// The writer, to commit it.
    fn take_writer(&mut self) -> Result<SnapshotWriter, EngineError> {
        self.writer.take().ok_or_else(writer_gone)
    }

    /// Commits what the writer holds as a checkpoint once enough was written since the last.
    async fn maybe_checkpoint(&mut self, items: u64, bytes: u64) -> Result<(), EngineError> {
        self.pending.0 += items;
        self.pending.1 += bytes;
        if self.pending.0 < self.every.0 && self.pending.1 < self.every.1 {
            return Ok(());
        }
        self.pending = (0, 0);
        let writer = self.take_writer()?;
        let meta = BTreeMap::from([
            (meta::BACKUP_ID.to_string(), self.backup_id.clone()),
            (meta::CHECKPOINT.to_string(), "true".to_string()),
        ]);
        let done = writer
            .commit(meta, vec![layout::checkpoint_tag(&self.backup_id)])
            .await
            .map_err(vault_error)?;
        self.segments.push(done.snapshot.to_hex());
        self.stored += done.stats.bytes_stored;
        // Made after the commit, so its index knows the checkpoint's data.
        let opts = WriterOptions {
            parent: self.parent.as_ref().map(|r| r.id()),
            ..Default::default()
        };
        self.writer = Some(crate::storage::writer(&self.repo, opts).await?);
        self.checkpoint().await
    }

    /// Takes `path` over unread from an earlier attempt's checkpoint, or (with `parent`) from the
    /// parent snapshot, when the entry there is what `want` says. Returns where it came from and
    /// its attributes.
    async fn take_over(
        &mut self,
        path: &str,
        want: Want<'_>,
        parent: bool,
    ) -> Result<Option<(From, BTreeMap<String, String>)>, EngineError> {
        let category = if layout::is_attachment(path) {
            Category::Attachments
        } else {
            Category::Data
        };
        let mut found = None;
        for i in 0..self.earlier.len() {
            let Some(entry) = self.earlier[i].entry(path).await.map_err(vault_error)? else {
                continue;
            };
            if want.accepts(&entry.attrs)
                && self.writer()?.reuse_entry(&entry).map_err(vault_error)?
            {
                found = Some((From::Earlier(i), entry));
                break;
            }
        }
        if found.is_none()
            && parent
            && let Some(p) = &self.parent
            && let Some(entry) = p.entry(path).await.map_err(vault_error)?
            && want.accepts(&entry.attrs)
            && self
                .writer()?
                .reuse_from_parent(path, entry.size, &entry.attrs)
                .await
                .map_err(vault_error)?
        {
            found = Some((From::Parent, entry));
        }
        let Some((from, entry)) = found else {
            return Ok(None);
        };
        self.count(category, entry.size);
        self.unchanged += 1;
        self.progress(ProgressPhase::Storing).await?;
        Ok(Some((from, entry.attrs)))
    }

    /// A JSON document of an earlier checkpoint or of the parent.
    async fn stored_doc(&self, from: From, path: &str) -> Result<Value, EngineError> {
        let reader = match from {
            From::Earlier(i) => self.earlier.get(i),
            From::Parent => self.parent.as_ref(),
        }
        .ok_or_else(|| EngineError::Permanent("the snapshot read from is gone".into()))?;
        let bytes = reader.get(path).await.map_err(vault_error)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| EngineError::Permanent(format!("{path} in the vault: {e}")))
    }

    fn count(&mut self, category: Category, size: u64) {
        match category {
            Category::Users => self.users_size += size,
            Category::Data => self.data_size += size,
            Category::Attachments => self.attachments_size += size,
        }
    }

    async fn put(
        &mut self,
        path: &str,
        doc: &Value,
        attrs: BTreeMap<String, String>,
        category: Category,
    ) -> Result<(), EngineError> {
        let bytes = canonical_json(doc);
        self.writer()?
            .add_document(path, &bytes, attrs)
            .await
            .map_err(vault_error)?;
        self.count(category, bytes.len() as u64);
        self.changed += 1;
        self.progress(ProgressPhase::Downloading).await?;
        self.maybe_checkpoint(1, bytes.len() as u64).await
    }

    /// Streams an attachment into the vault; an unreadable one is noted, not fatal.
    async fn attachment(
        &mut self,
        path: &str,
        what: &str,
        created: &str,
        download: impl Future<Output = cairn_connectors::Result<cairn_connectors::Download>>,
    ) -> Result<(), EngineError> {
        let attrs = BTreeMap::from([(attr::UPDATED.to_string(), created.to_string())]);
        if !created.is_empty()
            && self
                .take_over(path, Want::Attrs(&attrs), true)
                .await?
                .is_some()
        {
            return Ok(());
        }
        let dl = match download.await {
            Ok(dl) => dl,
            Err(e) if e.is_retryable() => return Err(site_error(Source)(e)),
            Err(e) => {
                self.missing.push(format!("{what} ({e})"));
                return Ok(());
            }
        };
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let seen = failure.clone();
        let stream = dl.stream.inspect_err(move |e| {
            if let Ok(mut f) = seen.lock() {
                *f = Some(e.to_string());
            }
        });
        let mut reader = tokio_util::io::StreamReader::new(stream);
        let before = self.writer()?.stats().bytes_in;
        match self.writer()?.add_stream(path, &mut reader, attrs).await {
            Ok(()) => {
                let size = self.writer()?.stats().bytes_in - before;
                self.count(Category::Attachments, size);
                self.changed += 1;
                self.progress(ProgressPhase::Downloading).await?;
                self.maybe_checkpoint(1, size).await
            }
            Err(e) => match failure.lock().ok().and_then(|mut f| f.take()) {
                Some(why) => {
                    self.missing.push(format!("{what} ({why})"));
                    Ok(())
                }
                None => Err(vault_error(e)),
            },
        }
    }
}

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
    let writer = crate::storage::writer(
        &repo,
        WriterOptions {
            parent: parent.as_ref().map(|r| r.id()),
            ..Default::default()
        },
    )
    .await?;
    // What earlier attempts of this backup committed as checkpoints (unreadable ones are passed
    // over: their items are read from the site again).
    let mut ids = partials(ctx.checkpoint());
    if ctx.attempt() > 1 {
        // A checkpoint committed just before the node died may not have made it into the job
        // checkpoint, and a node may die between the backup's final commit and its record:
        // on a resume, the vault's own list of snapshots names them all. They are taken over
        // like checkpoints, then forgotten.
        let tags = vec![
            layout::checkpoint_tag(&task.backup.id),
            layout::backup_tag(&task.backup.id),
        ];
        for id in crate::storage::tagged(&repo, tags).await? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut earlier = Vec::new();
    for id in ids {
        if let Ok(r) = crate::storage::reader(&repo, id).await {
            earlier.push(r);
        }
    }
    let settings = engine.settings();
    let mut run = BackupRun {
        ctx,
        repo: repo.clone(),
        backup_id: task.backup.id.clone(),
        writer: Some(writer),
        parent,
        earlier,
        segments: Vec::new(),
        pending: (0, 0),
        every: (
            settings.checkpoint_items.max(1),
            settings.checkpoint_bytes.max(1),
        ),
        stored: 0,
        users_size: 0,
        data_size: 0,
        attachments_size: 0,
        changed: 0,
        unchanged: 0,
        missing: vec![],
        known: 0,
        phase: ProgressPhase::Done,
        attachments: task.backup.selections.contains(&Selection::Attachments),
    };
    let selections = &task.backup.selections;
    let read = async {
        run.progress(ProgressPhase::Listing).await?;
        match task.backup.product {
            Product::Jira => jira(&mut run, &site, selections, since).await,
            Product::Confluence => confluence(&mut run, &site, selections).await,
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
            for id in run.partial_ids() {
                let _ = crate::storage::forget(&repo, id).await;
            }
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
    // This attempt's checkpoints go into the one snapshot, unread.
    for id in run.segments.clone() {
        let segment = crate::storage::reader(&repo, id).await?;
        for entry in crate::storage::walk(segment).await? {
            if entry.kind != cairn_vault::EntryKind::Dir
                && !run.writer()?.reuse_entry(&entry).map_err(vault_error)?
            {
                return Err(EngineError::Retryable(format!(
                    "the checkpoint's {} is no longer in the vault",
                    entry.path
                )));
            }
        }
    }
    let partials = run.partial_ids();
    let writer = run.take_writer()?;
    let committed = writer
        .commit(meta, vec![layout::backup_tag(&task.backup.id)])
        .await
        .map_err(vault_error)?;
    // The checkpoints' data lives on in the snapshot; they are not needed any more.
    for id in partials {
        if let Err(e) = crate::storage::forget(&repo, id).await {
            tracing::warn!(backup = %task.backup.id, error = %e, "a checkpoint could not be forgotten; prune will pass it over");
        }
    }
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

/// The checkpoint snapshots an earlier attempt recorded in the job checkpoint.
fn partials(checkpoint: Option<&str>) -> Vec<String> {
    checkpoint
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| {
            v["partials"].as_array().map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
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

async fn jira(
    run: &mut BackupRun<'_>,
    site: &Site,
    selections: &[Selection],
    since: Option<DateTime<Utc>>,
) -> Result<(), EngineError> {
    let j = site.jira();
    let info = j.server_info().await.map_err(site_error(Source))?;
    let site_doc = json!({"serverInfo": info, "selections": selection_names(selections)});
    run.put(
        &layout::jira_site(),
        &site_doc,
        BTreeMap::new(),
        Category::Data,
    )
    .await?;

    // Configuration: small documents, read whole every time (the vault dedups them), side by
    // side (each is a request or a few, and at a real site's pace they would add up).
    let (
        (all_fields, custom_fields, issue_types, statuses),
        (priorities, resolutions, link_types, roles, categories),
    ) = futures::try_join!(
        async {
            futures::try_join!(
                read_all(j.fields()),
                read_all(j.custom_fields()),
                read_all(j.issue_types()),
                read_all(j.statuses()),
            )
        },
        async {
            futures::try_join!(
                read_all(j.priorities()),
                read_all(j.resolutions()),
                read_all(j.link_types()),
                read_all(j.roles()),
                read_all_or_empty(j.project_categories()),
            )
        },
    )?;
    let mut fields: Vec<Value> = all_fields
        .into_iter()
        .filter(|f| f["custom"].as_bool() != Some(true))
        .collect();
    fields.extend(custom_fields);
    let mut config: Vec<(&str, Vec<Value>)> = vec![
        ("issuetypes", issue_types),
        ("fields", fields),
        ("statuses", statuses),
        ("priorities", priorities),
        ("resolutions", resolutions),
        ("issuelinktypes", link_types),
        ("roles", roles),
        ("projectcategories", categories),
    ];
    let mut schemes: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut stream = j.workflows_and_schemes();
    while let Some(item) = stream.next().await {
        let (kind, doc) = item.map_err(site_error(Source))?;
        let name = match kind {
            "workflow" => "workflows",
            "workflowScheme" => "workflowschemes",
            "issueTypeScheme" => "issuetypeschemes",
            _ => "permissionschemes",
        };
        schemes.entry(name).or_default().push(doc);
    }
    for name in [
        "workflows",
        "workflowschemes",
        "issuetypeschemes",
        "permissionschemes",
    ] {
        config.push((name, schemes.remove(name).unwrap_or_default()));
    }
    for (name, docs) in config {
        run.put(
            &layout::jira_config(name),
            &Value::Array(docs),
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
    }

    let projects = read_all(j.projects()).await?;
    let boards = read_all(j.boards()).await?;
    // What is known now: what was written, the projects, their issues (Jira's approximate
    // count) and the boards; attachments are added as their issues are read.
    run.known = run.done() + projects.len() as u64 + boards.len() as u64;
    // Only an estimate for the progress: a site without the count goes on without it.
    let j_ref = &j;
    let counts = futures::future::join_all(projects.iter().map(|p| async move {
        let j = j_ref;
        let key = p["key"].as_str().unwrap_or_default();
        j.approximate_count(&cairn_connectors::jira::jql_for(&[key], None))
            .await
    }))
    .await;
    for count in counts {
        match count {
            Ok(n) => run.known += n,
            Err(e) => tracing::debug!(error = %e, "no issue count"),
        }
    }
    for mut project in projects {
        let key = project["key"].as_str().unwrap_or_default().to_string();
        let (components, versions, roles) = futures::try_join!(
            read_all(j.components(&key)),
            read_all(j.versions(&key)),
            read_all(j.project_roles(&key)),
        )?;
        project["components"] = Value::Array(components);
        project["versions"] = Value::Array(versions);
        project["roles"] = Value::Array(roles);
        run.put(
            &layout::jira_project(&key),
            &project,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
        jira_issues(run, &j, &key, since).await?;
    }

    // Each board's sprints, and below each group's members, read side by side.
    let sprints = futures::future::try_join_all(boards.iter().map(|b| {
        let id = id_str(&b["id"]).unwrap_or_default();
        let j = j_ref;
        async move { read_all(j.sprints(&id)).await }
    }))
    .await?;
    for (mut board, sprints) in boards.into_iter().zip(sprints) {
        let id = id_str(&board["id"]).unwrap_or_default();
        board["sprints"] = Value::Array(sprints);
        run.put(
            &layout::jira_board(&id),
            &board,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
    }

    if selections.contains(&Selection::Users) {
        let users = read_all(j.users()).await?;
        run.known += users.len() as u64;
        for user in users {
            let id = user["accountId"].as_str().unwrap_or_default().to_string();
            run.put(
                &layout::jira_user(&id),
                &user,
                BTreeMap::new(),
                Category::Users,
            )
            .await?;
        }
        let groups = read_all(j.groups()).await?;
        run.known += groups.len() as u64;
        let members = futures::future::try_join_all(groups.iter().map(|g| {
            let id = g["groupId"].as_str().unwrap_or_default().to_string();
            let j = j_ref;
            async move { read_all(j.group_members(&id)).await }
        }))
        .await?;
        for (mut group, members) in groups.into_iter().zip(members) {
            let id = group["groupId"].as_str().unwrap_or_default().to_string();
            group["members"] = Value::Array(members);
            run.put(
                &layout::jira_group(&id),
                &group,
                BTreeMap::new(),
                Category::Users,
            )
            .await?;
        }
    }
    Ok(())
}

/// The issues of one project: all of them, or (incremental) those updated since `since` plus the
/// rest taken over from the parent.
async fn jira_issues(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    project: &str,
    since: Option<DateTime<Utc>>,
) -> Result<(), EngineError> {
    use cairn_connectors::jira::jql_for;
    let include_attachments = run.attachments;
    // Ids the site has now (cheap), to reuse the unchanged and leave out the deleted.
    let mut rest: BTreeSet<String> = match since {
        Some(_) => read_all(j.issue_ids(&jql_for(&[project], None)))
            .await?
            .iter()
            .map(|i| id_str(&i["id"]).unwrap_or_default())
            .collect(),
        None => BTreeSet::new(),
    };
    // Issues an earlier attempt's checkpoints hold, with the attributes they had then.
    let mut earlier: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for r in &run.earlier {
        let entries = match r.list(&layout::jira_issues_dir(project)).await {
            Ok(entries) => entries,
            // The attempt had not reached this project.
            Err(cairn_vault::Error::EntryNotFound { .. }) => continue,
            Err(e) => return Err(vault_error(e)),
        };
        for e in entries {
            earlier.insert(layout::entry_id(&e.path).to_string(), e.attrs);
        }
    }
    let earlier = Arc::new(earlier);
    // The details of the next few issues are read while this one is written: each read is a
    // task of its own, so it runs (and releases its connection permits) even while the writer
    // waits on an attachment download, which needs a permit too. Issues an earlier attempt
    // stored unchanged are not read again.
    let mut issues = j
        .issues(&jql_for(&[project], since))
        .map(|issue| {
            let j = j.clone();
            let earlier = earlier.clone();
            tokio::spawn(async move {
                let issue = issue?;
                if earlier.get(&id_str(&issue["id"]).unwrap_or_default())
                    == Some(&issue_attrs(&issue))
                {
                    return Ok((issue, None));
                }
                let key = issue["key"].as_str().unwrap_or_default().to_string();
                let details = j.issue_details(&key).await?;
                Ok::<_, cairn_connectors::Error>((issue, Some(details)))
            })
        })
        .buffered(ITEMS_READ_AHEAD);
    let mut seen = HashSet::new();
    while let Some(read) = issues.next().await {
        let (issue, details) = read
            .map_err(|e| EngineError::Retryable(format!("reading an issue: {e}")))?
            .map_err(site_error(Source))?;
        let id = id_str(&issue["id"]).unwrap_or_default();
        rest.remove(&id);
        // A listing that shows an issue twice (it changed while being paged) stores it once.
        if !seen.insert(id.clone()) {
            continue;
        }
        let path = layout::jira_issue(project, &id);
        if details.is_none() {
            let attrs = issue_attrs(&issue);
            if let Some((from, _)) = run.take_over(&path, Want::Attrs(&attrs), false).await? {
                AttachmentSource::Jira(j)
                    .taken_over(run, from, &path, &attrs)
                    .await?;
                continue;
            }
        }
        let details = match details {
            Some(d) => d,
            None => j
                .issue_details(issue["key"].as_str().unwrap_or_default())
                .await
                .map_err(site_error(Source))?,
        };
        jira_issue(run, j, project, issue, details, include_attachments).await?;
    }
    drop(issues);
    // Unchanged since the parent (or stored by an earlier attempt): taken over unread,
    // attachments with them.
    for id in rest {
        if !seen.insert(id.clone()) {
            continue;
        }
        let path = layout::jira_issue(project, &id);
        match run.take_over(&path, Want::Any, true).await? {
            Some((from, attrs)) => {
                AttachmentSource::Jira(j)
                    .taken_over(run, from, &path, &attrs)
                    .await?;
            }
            None => {
                // Not in the parent (or not reusable): read it now.
                let issue = j.issue(&id).await.map_err(site_error(Source))?;
                let key = issue["key"].as_str().unwrap_or_default().to_string();
                let details = j.issue_details(&key).await.map_err(site_error(Source))?;
                jira_issue(run, j, project, issue, details, include_attachments).await?;
            }
        }
    }
    Ok(())
}

/// The attributes an issue's document is stored with: its `updated` stamp and attachment ids.
fn issue_attrs(issue: &Value) -> BTreeMap<String, String> {
    let ids: Vec<String> = issue["fields"]["attachment"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| id_str(&a["id"]).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    BTreeMap::from([
        (
            attr::UPDATED.to_string(),
            issue["fields"]["updated"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        (attr::ATTACHMENTS.to_string(), ids.join(",")),
        (
            attr::KEY.to_string(),
            issue["key"].as_str().unwrap_or_default().to_string(),
        ),
        (
            attr::PARENT.to_string(),
            id_str(&issue["fields"]["parent"]["id"]).unwrap_or_default(),
        ),
    ])
}

/// The attachment ids an item's stored attributes name.
fn attachment_ids(attrs: &BTreeMap<String, String>) -> Vec<String> {
    attrs
        .get(attr::ATTACHMENTS)
        .map(|a| {
            a.split(',')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Where an item's attachments come from: the site's product and, for Confluence, the page or
/// blog post holding them.
enum AttachmentSource<'a> {
    Jira(&'a cairn_connectors::Jira),
    Confluence(&'a cairn_connectors::Confluence, &'a str),
}

impl AttachmentSource<'_> {
    fn path(&self, aid: &str) -> String {
        match self {
            AttachmentSource::Jira(_) => layout::jira_attachment(aid),
            AttachmentSource::Confluence(..) => layout::confluence_attachment(aid),
        }
    }

    /// Stores attachment `aid` of the item whose document is `doc`: taken over from an earlier
    /// snapshot with the same creation stamp, or downloaded (an unreadable one is noted).
    async fn store(
        &self,
        run: &mut BackupRun<'_>,
        doc: &Value,
        aid: &str,
    ) -> Result<(), EngineError> {
        let find = |list: &Value| {
            list.as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|a| id_str(&a["id"]).unwrap_or_default() == aid)
                })
                .cloned()
                .unwrap_or_default()
        };
        let path = self.path(aid);
        match self {
            AttachmentSource::Jira(j) => {
                let meta = find(&doc["issue"]["fields"]["attachment"]);
                let name = meta["filename"].as_str().unwrap_or_default();
                let key = doc["issue"]["key"].as_str().unwrap_or_default();
                let what = format!("attachment {aid} \"{name}\" of {key}");
                let created = meta["created"].as_str().unwrap_or_default();
                run.attachment(&path, &what, created, j.attachment_content(aid, 0))
                    .await
            }
            AttachmentSource::Confluence(c, container) => {
                let meta = find(&doc["attachments"]);
                let (kind, item) = match doc.get("page") {
                    Some(page) => ("page", page),
                    None => ("blogpost", &doc["blogpost"]),
                };
                let file = meta["title"].as_str().unwrap_or_default();
                let title = item["title"].as_str().unwrap_or_default();
                let what = format!("attachment {aid} \"{file}\" of {kind} \"{title}\"");
                let created = meta["version"]["createdAt"].as_str().unwrap_or_default();
                let download = c.attachment_content(container, aid, 0);
                run.attachment(&path, &what, created, download).await
            }
        }
    }

    /// The attachments of an item whose document was taken over (from `from`, at `doc_path`):
    /// each is taken over too, or, when no earlier snapshot has it (it could not be read then,
    /// or its data is gone), downloaded with the metadata the stored document holds.
    async fn taken_over(
        &self,
        run: &mut BackupRun<'_>,
        from: From,
        doc_path: &str,
        attrs: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        if !run.attachments {
            return Ok(());
        }
        let mut doc: Option<Value> = None;
        for aid in attachment_ids(attrs) {
            run.known += 1;
            if run
                .take_over(&self.path(&aid), Want::Any, true)
                .await?
                .is_some()
            {
                continue;
            }
            if doc.is_none() {
                doc = Some(run.stored_doc(from, doc_path).await?);
            }
            self.store(run, doc.as_ref().unwrap_or(&Value::Null), &aid)
                .await?;
        }
        Ok(())
    }
}

async fn jira_issue(
    run: &mut BackupRun<'_>,
    j: &cairn_connectors::Jira,
    project: &str,
    issue: Value,
    details: cairn_connectors::IssueDetails,
    include_attachments: bool,
) -> Result<(), EngineError> {
    let id = id_str(&issue["id"]).unwrap_or_default();
    let attachments: Vec<Value> = issue["fields"]["attachment"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let attrs = issue_attrs(&issue);
    let properties: Vec<Value> = details
        .properties
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let doc = json!({
        "issue": issue,
        "changelog": details.changelog,
        "comments": details.comments,
        "worklogs": details.worklogs,
        "remoteLinks": details.remote_links,
        "watchers": details.watchers,
        "properties": properties,
    });
    run.put(
        &layout::jira_issue(project, &id),
        &doc,
        attrs,
        Category::Data,
    )
    .await?;
    if include_attachments {
        run.known += attachments.len() as u64;
        for a in &attachments {
            AttachmentSource::Jira(j)
                .store(run, &doc, &id_str(&a["id"]).unwrap_or_default())
                .await?;
        }
    }
    Ok(())
}

async fn confluence(
    run: &mut BackupRun<'_>,
    site: &Site,
    selections: &[Selection],
) -> Result<(), EngineError> {
    let c = site.confluence();
    let site_doc = json!({"selections": selection_names(selections)});
    run.put(
        &layout::confluence_site(),
        &site_doc,
        BTreeMap::new(),
        Category::Data,
    )
    .await?;
    let personal = selections.contains(&Selection::PersonalSpaces);
    let spaces = read_all(c.spaces(personal)).await?;
    run.known = run.done() + spaces.len() as u64;
    for space in spaces {
        let key = space["key"].as_str().unwrap_or_default().to_string();
        let space_id = id_str(&space["id"]).unwrap_or_default();
        run.put(
            &layout::confluence_space(&key),
            &space,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            let listed = read_all(c.content_ids(kind, &space_id)).await?;
            run.known += listed.len() as u64;
            // Unchanged items are taken over from the parent now; the rest are read below.
            let mut to_read = Vec::new();
            for item in listed {
                let id = id_str(&item["id"]).unwrap_or_default();
                let stamp = item["version"]["createdAt"].as_str().unwrap_or_default();
                let parent = id_str(&item["parentId"]).unwrap_or_default();
                let (path, listed) = match kind {
                    ContentKind::Page => (
                        layout::confluence_page(&key, &id),
                        vec![(attr::UPDATED, stamp), (attr::PARENT, parent.as_str())],
                    ),
                    ContentKind::BlogPost => (
                        layout::confluence_blogpost(&key, &id),
                        vec![(attr::UPDATED, stamp)],
                    ),
                };
                if !stamp.is_empty()
                    && let Some((from, attrs)) =
                        run.take_over(&path, Want::Listed(&listed), true).await?
                {
                    AttachmentSource::Confluence(&c, &id)
                        .taken_over(run, from, &path, &attrs)
                        .await?;
                    continue;
                }
                to_read.push((path, id));
            }
            // As for Jira issues: the next few items are read (each in a task of its own) while
            // one is written.
            let mut reads = futures::stream::iter(to_read)
                .map(|(path, id)| {
                    let c = c.clone();
                    tokio::spawn(async move {
                        let read = read_content(&c, kind, &id).await?;
                        Ok::<_, cairn_connectors::Error>((path, id, read))
                    })
                })
                .buffered(ITEMS_READ_AHEAD);
            while let Some(read) = reads.next().await {
                let (path, id, read) = read
                    .map_err(|e| EngineError::Retryable(format!("reading a page: {e}")))?
                    .map_err(site_error(Source))?;
                // None: deleted between the listing and now.
                if let Some(read) = read {
                    write_content(run, &c, kind, &path, &id, read).await?;
                }
            }
        }
    }
    Ok(())
}

/// A page or blog post with both bodies, and what hangs off it, read side by side.
struct ContentRead {
    content: Value,
    labels: Vec<Value>,
    properties: Vec<Value>,
    comments: Vec<Value>,
    attachments: Vec<Value>,
}

/// Reads one page or blog post; `None` if it was deleted since it was listed.
async fn read_content(
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    id: &str,
) -> cairn_connectors::Result<Option<ContentRead>> {
    let all = |docs: cairn_connectors::Docs| docs.try_collect::<Vec<Value>>();
    let read = futures::try_join!(
        c.content(kind, id, "storage"),
        c.content(kind, id, "atlas_doc_format"),
        all(c.labels(kind, id)),
        all(c.properties(kind, id)),
        all(c.comments(kind, id)),
        all(c.attachments(kind, id)),
    );
    let (mut content, adf, labels, properties, comments, attachments) = match read {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    content["body"]["atlas_doc_format"] = adf["body"]["atlas_doc_format"].clone();
    Ok(Some(ContentRead {
        content,
        labels,
        properties,
        comments,
        attachments,
    }))
}

/// Writes a page or blog post that was read, then streams its attachments.
async fn write_content(
    run: &mut BackupRun<'_>,
    c: &cairn_connectors::Confluence,
    kind: ContentKind,
    path: &str,
    id: &str,
    read: ContentRead,
) -> Result<(), EngineError> {
    let ContentRead {
        content,
        labels,
        properties,
        comments,
        attachments,
    } = read;
    let (inline, footer): (Vec<Value>, Vec<Value>) = comments
        .into_iter()
        .partition(|c| c.get("resolutionStatus").is_some());
    let ids: Vec<String> = attachments
        .iter()
        .map(|a| id_str(&a["id"]).unwrap_or_default())
        .collect();
    let stamp = content["version"]["createdAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = match kind {
        ContentKind::Page => "page",
        ContentKind::BlogPost => "blogpost",
    };
    let doc = json!({
        name: content,
        "labels": labels,
        "properties": properties,
        "footerComments": footer,
        "inlineComments": inline,
        "attachments": attachments,
    });
    let mut attrs = BTreeMap::from([
        (attr::UPDATED.to_string(), stamp),
        (attr::ATTACHMENTS.to_string(), ids.join(",")),
    ]);
    if kind == ContentKind::Page {
        attrs.insert(
            attr::PARENT.to_string(),
            id_str(&content["parentId"]).unwrap_or_default(),
        );
    }
    run.put(path, &doc, attrs, Category::Data).await?;
    if !run.attachments {
        return Ok(());
    }
    run.known += attachments.len() as u64;
    for a in &attachments {
        AttachmentSource::Confluence(c, id)
            .store(run, &doc, &id_str(&a["id"]).unwrap_or_default())
            .await?;
    }
    Ok(())
}
