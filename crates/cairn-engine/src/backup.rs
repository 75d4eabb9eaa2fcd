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
//! Resume: a killed backup leaves packs without a snapshot, which prune reclaims; the resumed run
//! reads the site again from the start. Its checkpoint records the phase and counts reached.

use std::collections::{BTreeMap, BTreeSet};
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
use crate::layout::{self, attr, canonical_json, meta};
use crate::storage::vault_error;

/// How far before the parent's start an incremental Jira backup looks for changed issues.
pub const SAFETY_MARGIN: TimeDelta = TimeDelta::days(1);

/// Issues (or pages) whose details are read ahead of the one being written. With the site's
/// concurrency bound (8 requests) and 6-7 requests per item, a few keep the bound busy; more
/// would only hold documents in memory.
const ITEMS_READ_AHEAD: usize = 4;

/// A site error, as the job queue wants it.
pub(crate) fn site_error(e: cairn_connectors::Error) -> EngineError {
    if e.is_retryable() {
        EngineError::Retryable(format!("site: {e}"))
    } else {
        EngineError::Permanent(format!("site: {e}"))
    }
}

fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    Users,
    Data,
    Attachments,
}

struct Run<'a> {
    ctx: &'a JobContext,
    writer: SnapshotWriter,
    parent: Option<SnapshotReader>,
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

impl Run<'_> {
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
        let text = json!({"phase": phase, "itemsDone": self.done()}).to_string();
        self.ctx.save_checkpoint(&text).await
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
        self.writer
            .add_document(path, &bytes, attrs)
            .await
            .map_err(vault_error)?;
        self.count(category, bytes.len() as u64);
        self.changed += 1;
        self.progress(ProgressPhase::Downloading).await
    }

    /// Takes `path` over from the parent if it is there with these attributes (all of the
    /// parent's when `attrs` is `None`); returns the attributes it had.
    async fn reuse(
        &mut self,
        path: &str,
        attrs: Option<&BTreeMap<String, String>>,
        category: Category,
    ) -> Result<Option<BTreeMap<String, String>>, EngineError> {
        let Some(parent) = &self.parent else {
            return Ok(None);
        };
        let Some(entry) = parent.entry(path).await.map_err(vault_error)? else {
            return Ok(None);
        };
        if attrs.is_some_and(|a| a != &entry.attrs) {
            return Ok(None);
        }
        if !self
            .writer
            .reuse_from_parent(path, entry.size, &entry.attrs)
            .await
            .map_err(vault_error)?
        {
            return Ok(None);
        }
        self.count(category, entry.size);
        self.unchanged += 1;
        self.progress(ProgressPhase::Storing).await?;
        Ok(Some(entry.attrs))
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
                .reuse(path, Some(&attrs), Category::Attachments)
                .await?
                .is_some()
        {
            return Ok(());
        }
        let dl = match download.await {
            Ok(dl) => dl,
            Err(e) if e.is_retryable() => return Err(site_error(e)),
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
        let before = self.writer.stats().bytes_in;
        match self.writer.add_stream(path, &mut reader, attrs).await {
            Ok(()) => {
                let size = self.writer.stats().bytes_in - before;
                self.count(Category::Attachments, size);
                self.changed += 1;
                self.progress(ProgressPhase::Downloading).await
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
    .map_err(site_error)?;
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
    let mut run = Run {
        ctx,
        writer,
        parent,
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
    run.progress(ProgressPhase::Listing).await?;
    let selections = &task.backup.selections;
    match task.backup.product {
        Product::Jira => jira(&mut run, &site, selections, since).await?,
        Product::Confluence => confluence(&mut run, &site, selections).await?,
    }
    run.progress(ProgressPhase::Committing).await?;
    let meta = BTreeMap::from([
        (meta::BACKUP_ID.to_string(), task.backup.id.clone()),
        (meta::POLICY_ID.to_string(), task.backup.policy_id.clone()),
        (meta::CLOUD_ID.to_string(), task.backup.cloud_id.clone()),
        (meta::PRODUCT.to_string(), task.backup.product.to_string()),
        (meta::STARTED_AT.to_string(), started_at.to_rfc3339()),
        ("items".to_string(), run.done().to_string()),
    ]);
    let Run {
        writer,
        users_size,
        data_size,
        attachments_size,
        changed,
        unchanged,
        missing,
        ..
    } = run;
    let committed = writer
        .commit(meta, vec![format!("backup:{}", task.backup.id)])
        .await
        .map_err(vault_error)?;
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
            new_bytes_stored: committed.stats.bytes_stored,
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

async fn collect(docs: cairn_connectors::Docs) -> Result<Vec<Value>, EngineError> {
    docs.try_collect().await.map_err(site_error)
}

/// A list the site may not serve (404) counts as empty.
async fn collect_optional(docs: cairn_connectors::Docs) -> Result<Vec<Value>, EngineError> {
    match docs.try_collect().await {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Ok(vec![]),
        Err(e) => Err(site_error(e)),
    }
}

fn selection_names(selections: &[Selection]) -> Vec<String> {
    selections.iter().map(|s| s.to_string()).collect()
}

async fn jira(
    run: &mut Run<'_>,
    site: &Site,
    selections: &[Selection],
    since: Option<DateTime<Utc>>,
) -> Result<(), EngineError> {
    let j = site.jira();
    let info = j.server_info().await.map_err(site_error)?;
    let site_doc = json!({"serverInfo": info, "selections": selection_names(selections)});
    run.put(
        &layout::jira_site(),
        &site_doc,
        BTreeMap::new(),
        Category::Data,
    )
    .await?;

    // Configuration: small documents, read whole every time (the vault dedups them).
    let mut fields: Vec<Value> = collect(j.fields())
        .await?
        .into_iter()
        .filter(|f| f["custom"].as_bool() != Some(true))
        .collect();
    fields.extend(collect(j.custom_fields()).await?);
    let mut config: Vec<(&str, Vec<Value>)> = vec![
        ("issuetypes", collect(j.issue_types()).await?),
        ("fields", fields),
        ("statuses", collect(j.statuses()).await?),
        ("priorities", collect(j.priorities()).await?),
        ("resolutions", collect(j.resolutions()).await?),
        ("issuelinktypes", collect(j.link_types()).await?),
        ("roles", collect(j.roles()).await?),
        (
            "projectcategories",
            collect_optional(j.project_categories()).await?,
        ),
    ];
    let mut schemes: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut stream = j.workflows_and_schemes();
    while let Some(item) = stream.next().await {
        let (kind, doc) = item.map_err(site_error)?;
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

    let projects = collect(j.projects()).await?;
    let boards = collect(j.boards()).await?;
    // What is known now: what was written, the projects, their issues (Jira's approximate
    // count) and the boards; attachments are added as their issues are read.
    run.known = run.done() + projects.len() as u64 + boards.len() as u64;
    for project in &projects {
        let key = project["key"].as_str().unwrap_or_default();
        run.known += j
            .approximate_count(&cairn_connectors::jira::jql_for(&[key], None))
            .await
            .map_err(site_error)?;
    }
    for mut project in projects {
        let key = project["key"].as_str().unwrap_or_default().to_string();
        project["components"] = Value::Array(collect(j.components(&key)).await?);
        project["versions"] = Value::Array(collect(j.versions(&key)).await?);
        project["roles"] = Value::Array(collect(j.project_roles(&key)).await?);
        run.put(
            &layout::jira_project(&key),
            &project,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
        jira_issues(run, &j, &key, since).await?;
    }

    for mut board in boards {
        let id = id_str(&board["id"]);
        board["sprints"] = Value::Array(collect(j.sprints(&id)).await?);
        run.put(
            &layout::jira_board(&id),
            &board,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
    }

    if selections.contains(&Selection::Users) {
        let users = collect(j.users()).await?;
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
        let groups = collect(j.groups()).await?;
        run.known += groups.len() as u64;
        for mut group in groups {
            let id = group["groupId"].as_str().unwrap_or_default().to_string();
            group["members"] = Value::Array(collect(j.group_members(&id)).await?);
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
    run: &mut Run<'_>,
    j: &cairn_connectors::Jira,
    project: &str,
    since: Option<DateTime<Utc>>,
) -> Result<(), EngineError> {
    use cairn_connectors::jira::jql_for;
    let include_attachments = run.attachments;
    // Ids the site has now (cheap), to reuse the unchanged and leave out the deleted.
    let mut rest: BTreeSet<String> = match since {
        Some(_) => collect(j.issue_ids(&jql_for(&[project], None)))
            .await?
            .iter()
            .map(|i| id_str(&i["id"]))
            .collect(),
        None => BTreeSet::new(),
    };
    // The details of the next few issues are read while this one is written: each read is a
    // task of its own, so it runs (and releases its connection permits) even while the writer
    // waits on an attachment download, which needs a permit too.
    let mut issues = j
        .issues(&jql_for(&[project], since))
        .map(|issue| {
            let j = j.clone();
            tokio::spawn(async move {
                let issue = issue?;
                let key = issue["key"].as_str().unwrap_or_default().to_string();
                let details = j.issue_details(&key).await?;
                Ok::<_, cairn_connectors::Error>((issue, details))
            })
        })
        .buffered(ITEMS_READ_AHEAD);
    while let Some(read) = issues.next().await {
        let (issue, details) = read
            .map_err(|e| EngineError::Retryable(format!("reading an issue: {e}")))?
            .map_err(site_error)?;
        rest.remove(&id_str(&issue["id"]));
        jira_issue(run, j, project, issue, details, include_attachments).await?;
    }
    drop(issues);
    // Unchanged since the parent: taken over unread, attachments with them.
    for id in rest {
        let path = layout::jira_issue(project, &id);
        match run.reuse(&path, None, Category::Data).await? {
            Some(attrs) => {
                for att in attrs
                    .get("attachments")
                    .map(String::as_str)
                    .unwrap_or("")
                    .split(',')
                {
                    if !att.is_empty() {
                        run.known += 1;
                        let _ = run
                            .reuse(&layout::jira_attachment(att), None, Category::Attachments)
                            .await?;
                    }
                }
            }
            None => {
                // Not in the parent (or not reusable): read it now.
                let issue = j.issue(&id).await.map_err(site_error)?;
                let key = issue["key"].as_str().unwrap_or_default().to_string();
                let details = j.issue_details(&key).await.map_err(site_error)?;
                jira_issue(run, j, project, issue, details, include_attachments).await?;
            }
        }
    }
    Ok(())
}

async fn jira_issue(
    run: &mut Run<'_>,
    j: &cairn_connectors::Jira,
    project: &str,
    issue: Value,
    details: cairn_connectors::IssueDetails,
    include_attachments: bool,
) -> Result<(), EngineError> {
    let id = id_str(&issue["id"]);
    let key = issue["key"].as_str().unwrap_or_default().to_string();
    let attachments: Vec<Value> = issue["fields"]["attachment"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<String> = attachments.iter().map(|a| id_str(&a["id"])).collect();
    let attrs = BTreeMap::from([
        (
            attr::UPDATED.to_string(),
            issue["fields"]["updated"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        ("attachments".to_string(), ids.join(",")),
    ]);
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
            let aid = id_str(&a["id"]);
            let name = a["filename"].as_str().unwrap_or_default();
            let what = format!("attachment {aid} \"{name}\" of {key}");
            let created = a["created"].as_str().unwrap_or_default();
            run.attachment(
                &layout::jira_attachment(&aid),
                &what,
                created,
                j.attachment_content(&aid, 0),
            )
            .await?;
        }
    }
    Ok(())
}

async fn confluence(
    run: &mut Run<'_>,
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
    let spaces = collect(c.spaces(personal)).await?;
    run.known = run.done() + spaces.len() as u64;
    for space in spaces {
        let key = space["key"].as_str().unwrap_or_default().to_string();
        let space_id = id_str(&space["id"]);
        run.put(
            &layout::confluence_space(&key),
            &space,
            BTreeMap::new(),
            Category::Data,
        )
        .await?;
        for kind in [ContentKind::Page, ContentKind::BlogPost] {
            let listed = collect(c.content_ids(kind, &space_id)).await?;
            run.known += listed.len() as u64;
            // Unchanged items are taken over from the parent now; the rest are read below.
            let mut to_read = Vec::new();
            for item in listed {
                let id = id_str(&item["id"]);
                let stamp = item["version"]["createdAt"].as_str().unwrap_or_default();
                let path = match kind {
                    ContentKind::Page => layout::confluence_page(&key, &id),
                    ContentKind::BlogPost => layout::confluence_blogpost(&key, &id),
                };
                if !stamp.is_empty()
                    && let Some(parent_attrs) = run.reuse_if_updated(&path, stamp).await?
                {
                    for att in parent_attrs
                        .get("attachments")
                        .map(String::as_str)
                        .unwrap_or("")
                        .split(',')
                        .filter(|a| !a.is_empty())
                    {
                        run.known += 1;
                        let _ = run
                            .reuse(
                                &layout::confluence_attachment(att),
                                None,
                                Category::Attachments,
                            )
                            .await?;
                    }
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
                    .map_err(site_error)?;
                // None: deleted between the listing and now.
                if let Some(read) = read {
                    write_content(run, &c, kind, &path, &id, read).await?;
                }
            }
        }
    }
    Ok(())
}

impl Run<'_> {
    /// Reuses `path` from the parent when its `updated` stamp is `stamp`.
    async fn reuse_if_updated(
        &mut self,
        path: &str,
        stamp: &str,
    ) -> Result<Option<BTreeMap<String, String>>, EngineError> {
        let Some(parent) = &self.parent else {
            return Ok(None);
        };
        let Some(entry) = parent.entry(path).await.map_err(vault_error)? else {
            return Ok(None);
        };
        if entry.attrs.get(attr::UPDATED).map(String::as_str) != Some(stamp) {
            return Ok(None);
        }
        self.reuse(path, Some(&entry.attrs), Category::Data).await
    }
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
    run: &mut Run<'_>,
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
    let ids: Vec<String> = attachments.iter().map(|a| id_str(&a["id"])).collect();
    let stamp = content["version"]["createdAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = match kind {
        ContentKind::Page => "page",
        ContentKind::BlogPost => "blogpost",
    };
    let title = content["title"].as_str().unwrap_or_default().to_string();
    let doc = json!({
        name: content,
        "labels": labels,
        "properties": properties,
        "footerComments": footer,
        "inlineComments": inline,
        "attachments": attachments,
    });
    let attrs = BTreeMap::from([
        (attr::UPDATED.to_string(), stamp),
        ("attachments".to_string(), ids.join(",")),
    ]);
    run.put(path, &doc, attrs, Category::Data).await?;
    if !run.attachments {
        return Ok(());
    }
    run.known += attachments.len() as u64;
    for a in &attachments {
        let aid = id_str(&a["id"]);
        let file = a["title"].as_str().unwrap_or_default();
        let what = format!("attachment {aid} \"{file}\" of {name} \"{title}\"");
        let created = a["version"]["createdAt"].as_str().unwrap_or_default();
        run.attachment(
            &layout::confluence_attachment(&aid),
            &what,
            created,
            c.attachment_content(id, &aid, 0),
        )
        .await?;
    }
    Ok(())
}
