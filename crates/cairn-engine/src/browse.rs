//! Browsing a backup's snapshot ([`SnapshotBrowser`]); its export as an archive is in
//! [`crate::export`].

use std::sync::Arc;

use async_trait::async_trait;
use cairn_control::jobs::EngineError;
use cairn_control::management::{
    Archive, ArchiveFormat, BrowseError, ContentEntry, ContentKind, OpenedEntry, SnapshotBrowser,
    StorageAccess,
};
use cairn_store::{BackupRecord, Product};
use cairn_vault::{Entry, EntryKind, SnapshotReader};
use futures::{StreamExt, TryStreamExt};

use crate::{AtlassianEngine, layout};

type VaultFuture<T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, BrowseError>> + Send + 'static>>;

pub(crate) fn browse_error(e: cairn_vault::Error) -> BrowseError {
    use cairn_vault::Error as E;
    match e {
        E::EntryNotFound { path, .. } | E::InvalidPath { path, .. } => BrowseError::NotFound(path),
        E::Io(_) | E::Storage(_) => BrowseError::Unavailable(e.to_string()),
        other => BrowseError::Internal(format!("vault: {other}")),
    }
}

fn content_entry(e: &Entry) -> ContentEntry {
    ContentEntry {
        path: e.path.clone(),
        kind: match e.kind {
            EntryKind::Dir => ContentKind::Directory,
            EntryKind::Doc | EntryKind::Stream => ContentKind::File,
        },
        size: e.size,
        attrs: e.attrs.clone(),
    }
}

/// Snapshots opened for browsing. Opening one reads the vault's whole index, and a listing is
/// read page by page (a file, then the next): the last few readers are kept for a minute. A
/// snapshot never changes; the minute bounds how long a reader may outlive a prune that
/// repacks its data.
#[derive(Default)]
pub(crate) struct ReaderCache(
    std::sync::Mutex<Vec<(String, std::time::Instant, Arc<SnapshotReader>)>>,
);

const READERS_KEPT: usize = 8;
const READER_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl ReaderCache {
    fn get(&self, snapshot: &str) -> Option<Arc<SnapshotReader>> {
        let mut kept = self.0.lock().ok()?;
        kept.retain(|(_, at, _)| at.elapsed() < READER_TTL);
        kept.iter()
            .find(|(id, _, _)| id == snapshot)
            .map(|(_, _, r)| r.clone())
    }

    fn keep(&self, snapshot: String, reader: SnapshotReader) -> Arc<SnapshotReader> {
        let reader = Arc::new(reader);
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() >= READERS_KEPT {
                kept.remove(0);
            }
            kept.push((snapshot, std::time::Instant::now(), reader.clone()));
        }
        reader
    }
}

impl AtlassianEngine {
    /// Opens the backup's snapshot (or takes it from the cache).
    async fn snapshot(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
    ) -> Result<Arc<SnapshotReader>, BrowseError> {
        let Some(id) = backup.snapshot_id.clone() else {
            return Err(BrowseError::Internal(format!(
                "backup {} has no snapshot",
                backup.id
            )));
        };
        let cache_key = format!("{}/{id}", storage.storage.id);
        if let Some(reader) = self.readers.get(&cache_key) {
            return Ok(reader);
        }
        let repo = self.vault(storage).await.map_err(engine_error)?;
        let reader = crate::storage::reader(&repo, id)
            .await
            .map_err(engine_error)?;
        Ok(self.readers.keep(cache_key, reader))
    }
}

fn engine_error(e: EngineError) -> BrowseError {
    match e {
        EngineError::Retryable(m) => BrowseError::Unavailable(m),
        other => BrowseError::Internal(other.to_string()),
    }
}

/// The entry at `path`, or the error that says it is missing.
fn entry(reader: Arc<SnapshotReader>, path: String) -> VaultFuture<Entry> {
    Box::pin(async move {
        reader
            .entry(&path)
            .await
            .map_err(browse_error)?
            .ok_or(BrowseError::NotFound(path))
    })
}

pub(crate) fn list(reader: Arc<SnapshotReader>, dir: String) -> VaultFuture<Vec<Entry>> {
    Box::pin(async move { reader.list(&dir).await.map_err(browse_error) })
}

#[async_trait]
impl SnapshotBrowser for AtlassianEngine {
    async fn list(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
        dir: &str,
    ) -> Result<Vec<ContentEntry>, BrowseError> {
        let reader = self.snapshot(storage, backup).await?;
        if !dir.is_empty() {
            let found = entry(reader.clone(), dir.to_string()).await?;
            if found.kind != EntryKind::Dir {
                return Err(BrowseError::WrongKind {
                    path: dir.to_string(),
                    is: ContentKind::File,
                });
            }
        }
        let entries = list(reader, dir.to_string()).await?;
        Ok(entries.iter().map(content_entry).collect())
    }

    fn directory_of(
        &self,
        backup: &BackupRecord,
        kind: &str,
        key: Option<&str>,
    ) -> Result<String, String> {
        let needs_key = |what: &str| {
            key.map(String::from)
                .ok_or_else(|| format!("{kind} needs key: the {what} key"))
        };
        let dir = match (backup.product, kind) {
            (Product::Jira, "project") => layout::jira_projects_dir(),
            (Product::Jira, "issue") => layout::jira_issues_dir(&needs_key("project")?),
            (Product::Jira, "board") => layout::jira_boards_dir(),
            (Product::Jira, "user") => layout::jira_users_dir(),
            (Product::Jira, "group") => layout::jira_groups_dir(),
            (Product::Jira, "attachment") => layout::jira_attachments_dir(),
            (Product::Confluence, "space") => layout::confluence_spaces_dir(),
            (Product::Confluence, "page") => {
                layout::confluence_contents_dir(&needs_key("space")?, "pages")
            }
            (Product::Confluence, "blogpost") => {
                layout::confluence_contents_dir(&needs_key("space")?, "blogposts")
            }
            (Product::Confluence, "attachment") => layout::confluence_attachments_dir(),
            (Product::Jira, _) => {
                return Err(format!(
                    "a JIRA backup holds project, issue, board, user, group and attachment, not {kind:?}"
                ));
            }
            (Product::Confluence, _) => {
                return Err(format!(
                    "a CONFLUENCE backup holds space, page, blogpost and attachment, not {kind:?}"
                ));
            }
        };
        Ok(dir)
    }

    async fn open(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
        path: &str,
    ) -> Result<OpenedEntry, BrowseError> {
        let reader = self.snapshot(storage, backup).await?;
        let found = entry(reader.clone(), path.to_string()).await?;
        if found.kind == EntryKind::Dir {
            return Err(BrowseError::WrongKind {
                path: path.to_string(),
                is: ContentKind::Directory,
            });
        }
        let bytes = reader.stream_entry(&found).map_err(browse_error).boxed();
        Ok(OpenedEntry {
            entry: content_entry(&found),
            bytes,
        })
    }

    async fn export(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
        format: ArchiveFormat,
    ) -> Result<Archive, BrowseError> {
        let reader = self.snapshot(storage, backup).await?;
        crate::export::export(reader, backup, format).await
    }
}
