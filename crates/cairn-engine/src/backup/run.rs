//! The checkpoint and take-over side of a backup: [`BackupRun`] writes items into the snapshot,
//! commits what it holds as a checkpoint every so often, and takes items over unread from the
//! checkpoints of earlier attempts or from the parent snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cairn_control::jobs::{EngineError, JobContext};
use cairn_control::management::{Progress, ProgressPhase};
use cairn_vault::{CommitResult, SnapshotReader, SnapshotWriter, WriterOptions};
use futures::TryStreamExt;
use serde_json::{Value, json};

use crate::EngineSettings;
use crate::json::id_str;
use crate::layout::{self, attr, canonical_json, meta};
use crate::site::{SiteRole::Source, site_error};
use crate::storage::vault_error;

/// `None` writer: only between a checkpoint's commit and the next writer, which an error ends.
fn writer_gone() -> EngineError {
    EngineError::Permanent("the backup's writer is gone".into())
}

/// What an entry of an earlier snapshot must be to be taken over.
#[derive(Clone, Copy)]
pub(super) enum Want<'a> {
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
pub(super) enum From {
    /// The checkpoint of an earlier attempt (index into `BackupRun::earlier`).
    Earlier(usize),
    Parent,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Category {
    Users,
    Data,
    Attachments,
}

/// One attempt of a backup: the writer, the snapshots it takes items over from, its checkpoints
/// and its counts.
pub(super) struct BackupRun<'a> {
    ctx: &'a JobContext,
    repo: cairn_vault::Repository,
    backup_id: String,
    /// `None` only while a checkpoint is being committed.
    writer: Option<SnapshotWriter>,
    parent: Option<SnapshotReader>,
    /// Checkpoints of earlier attempts of this backup.
    pub(super) earlier: Vec<SnapshotReader>,
    /// Checkpoints of this attempt, to carry into the final snapshot.
    segments: Vec<String>,
    /// Items and bytes written since the last checkpoint.
    pending: (u64, u64),
    every: (u64, u64),
    /// New bytes the checkpoints stored.
    pub(super) stored: u64,
    pub(super) users_size: u64,
    pub(super) data_size: u64,
    pub(super) attachments_size: u64,
    pub(super) changed: u64,
    pub(super) unchanged: u64,
    pub(super) missing: Vec<String>,
    /// Items the listings have shown so far (`itemsTotal`): it grows as spaces are listed and
    /// attachments are found, and equals the items done at the end.
    pub(super) known: u64,
    phase: ProgressPhase,
    /// `ATTACHMENTS` selected.
    pub(super) attachments: bool,
    /// The site read, once known: its traffic goes into the progress.
    pub(super) site: Option<cairn_connectors::Site>,
    /// [`EngineSettings::bulk_reads`].
    pub(super) bulk_reads: bool,
}

impl BackupRun<'_> {
    pub(super) fn done(&self) -> u64 {
        self.changed + self.unchanged
    }

    pub(super) async fn progress(&mut self, phase: ProgressPhase) -> Result<(), EngineError> {
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
            site_traffic: self.site.as_ref().map(crate::site::traffic),
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
    pub(super) async fn take_over(
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

    pub(super) async fn put(
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

    /// Streams an attachment into the vault; an unreadable one is noted, not fatal, and so is
    /// one whose byte count differs from `size`, the size the site's metadata gives (it is not
    /// stored: a backup with the wrong bytes must not read as complete).
    async fn attachment(
        &mut self,
        path: &str,
        what: &str,
        created: &str,
        size: Option<u64>,
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
        let stream = sized(dl.stream, size).inspect_err(move |e| {
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

impl<'a> BackupRun<'a> {
    /// The run of this attempt of `backup_id`: a writer on top of `parent`, and the checkpoints
    /// earlier attempts committed.
    pub(super) async fn start(
        ctx: &'a JobContext,
        repo: cairn_vault::Repository,
        backup_id: &str,
        parent: Option<SnapshotReader>,
        settings: &EngineSettings,
        attachments: bool,
    ) -> Result<BackupRun<'a>, EngineError> {
        let writer = crate::storage::writer(
            &repo,
            WriterOptions {
                parent: parent.as_ref().map(|r| r.id()),
                ..Default::default()
            },
        )
        .await?;
        let earlier = earlier_checkpoints(&repo, ctx, backup_id).await?;
        Ok(BackupRun {
            ctx,
            repo,
            backup_id: backup_id.to_string(),
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
            attachments,
            site: None,
            bulk_reads: settings.bulk_reads,
        })
    }

    /// Forgets the checkpoints of every attempt so far: the backup ends here and will not
    /// resume.
    pub(super) async fn forget_checkpoints(&self) {
        for id in self.partial_ids() {
            let _ = crate::storage::forget(&self.repo, id).await;
        }
    }

    /// Commits the backup's one snapshot: this attempt's checkpoints are carried into it
    /// unread, and every checkpoint is forgotten once it is committed (their data lives on in
    /// the snapshot).
    pub(super) async fn commit(
        &mut self,
        meta: BTreeMap<String, String>,
    ) -> Result<CommitResult, EngineError> {
        for id in self.segments.clone() {
            let segment = crate::storage::reader(&self.repo, id).await?;
            for entry in crate::storage::walk(segment).await? {
                if entry.kind != cairn_vault::EntryKind::Dir
                    && !self.writer()?.reuse_entry(&entry).map_err(vault_error)?
                {
                    return Err(EngineError::Retryable(format!(
                        "the checkpoint's {} is no longer in the vault",
                        entry.path
                    )));
                }
            }
        }
        let partials = self.partial_ids();
        let writer = self.take_writer()?;
        let committed = writer
            .commit(meta, vec![layout::backup_tag(&self.backup_id)])
            .await
            .map_err(vault_error)?;
        for id in partials {
            if let Err(e) = crate::storage::forget(&self.repo, id).await {
                tracing::warn!(backup = %self.backup_id, error = %e, "a checkpoint could not be forgotten; prune will pass it over");
            }
        }
        Ok(committed)
    }
}

/// What earlier attempts of this backup committed as checkpoints (unreadable ones are passed
/// over: their items are read from the site again).
async fn earlier_checkpoints(
    repo: &cairn_vault::Repository,
    ctx: &JobContext,
    backup_id: &str,
) -> Result<Vec<SnapshotReader>, EngineError> {
    let mut ids = partials(ctx.checkpoint());
    if ctx.attempt() > 1 {
        // A checkpoint committed just before the node died may not have made it into the job
        // checkpoint, and a node may die between the backup's final commit and its record:
        // on a resume, the vault's own list of snapshots names them all. They are taken over
        // like checkpoints, then forgotten.
        let tags = vec![
            layout::checkpoint_tag(backup_id),
            layout::backup_tag(backup_id),
        ];
        for id in crate::storage::tagged(repo, tags).await? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut earlier = Vec::new();
    for id in ids {
        if let Ok(r) = crate::storage::reader(repo, id).await {
            earlier.push(r);
        }
    }
    Ok(earlier)
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
pub(super) enum AttachmentSource<'a> {
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
    pub(super) async fn store(
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
                let size = meta["size"].as_u64();
                run.attachment(&path, &what, created, size, j.attachment_content(aid, 0))
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
                let size = meta["fileSize"].as_u64();
                let download = c.attachment_content(container, aid, 0);
                run.attachment(&path, &what, created, size, download).await
            }
        }
    }

    /// The attachments of an item whose document was taken over (from `from`, at `doc_path`):
    /// each is taken over too, or, when no earlier snapshot has it (it could not be read then,
    /// or its data is gone), downloaded with the metadata the stored document holds.
    pub(super) async fn taken_over(
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

/// `stream`, failing when it holds more or fewer bytes than `size` (when known).
fn sized(stream: cairn_connectors::ByteStream, size: Option<u64>) -> cairn_connectors::ByteStream {
    use futures::StreamExt;
    let Some(size) = size else {
        return stream;
    };
    let wrong = move |got: u64| {
        std::io::Error::other(format!("{got} bytes where the site's metadata says {size}"))
    };
    let mut seen = 0u64;
    let mut failed = false;
    stream
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .filter_map(move |item| {
            let out = match item {
                _ if failed => None,
                Some(Ok(bytes)) => {
                    seen += bytes.len() as u64;
                    if seen > size {
                        failed = true;
                        Some(Err(wrong(seen)))
                    } else {
                        Some(Ok(bytes))
                    }
                }
                Some(Err(e)) => {
                    failed = true;
                    Some(Err(e))
                }
                None if seen != size => Some(Err(wrong(seen))),
                None => None,
            };
            futures::future::ready(out)
        })
        .boxed()
}
