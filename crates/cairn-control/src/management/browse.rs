//! (extension) Browsing and exporting a backup's snapshot. This layer checks the org, the backup's
//! status and the path, and opens the storage's access; an injected [`SnapshotBrowser`] (the
//! engine) reads the vault.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_store::{BackupRecord, BackupStatus, Page, PageQuery};
use futures::stream::BoxStream;

use super::{Management, StorageAccess};
use crate::{ControlError, ControlResult};

/// The longest path a caller may name (far beyond any path the engine writes).
pub const PATH_MAX_BYTES: usize = 1024;

/// What an entry of a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    File,
    Directory,
}

/// One entry of a backup's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentEntry {
    /// The full path, `jira/projects/KEY/project.json`.
    pub path: String,
    pub kind: ContentKind,
    /// Bytes of a file (for a directory, what the vault records for it).
    pub size: u64,
    /// The entry's attributes as the backup wrote them (e.g. `updated`).
    pub attrs: BTreeMap<String, String>,
}

impl ContentEntry {
    /// The last component of the path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Why the browser could not serve a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowseError {
    /// Nothing of the asked kind at this path (a directory to list, a file to read).
    #[error("nothing at {0}")]
    NotFound(String),
    /// The path names a directory where a file was asked for, or the other way round.
    #[error("{path} is a {is:?}")]
    WrongKind { path: String, is: ContentKind },
    /// The storage could not be reached or read now.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Damaged data or a bug.
    #[error("{0}")]
    Internal(String),
}

impl From<BrowseError> for ControlError {
    fn from(err: BrowseError) -> Self {
        match err {
            BrowseError::NotFound(path) => {
                ControlError::NotFound(format!("This backup holds nothing at '{path}'."))
            }
            BrowseError::WrongKind {
                is: ContentKind::File,
                ..
            } => ControlError::invalid_field("path", "names a file, not a directory: read it"),
            BrowseError::WrongKind {
                is: ContentKind::Directory,
                ..
            } => ControlError::invalid_field("path", "names a directory, not a file: list it"),
            BrowseError::Unavailable(detail) => ControlError::StorageUnavailable(detail),
            BrowseError::Internal(detail) => ControlError::Internal(detail),
        }
    }
}

/// Bytes read out of a snapshot, a piece at a time.
pub type ByteStream = BoxStream<'static, Result<Bytes, BrowseError>>;

/// A file of a snapshot, opened for reading.
pub struct OpenedEntry {
    pub entry: ContentEntry,
    pub bytes: ByteStream,
}

impl std::fmt::Debug for OpenedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedEntry")
            .field("entry", &self.entry)
            .finish_non_exhaustive()
    }
}

/// Reads the snapshots of backups. The engine implements it over the vault.
#[async_trait]
pub trait SnapshotBrowser: Send + Sync {
    /// The entries directly inside `dir` (`""` is the root), in name order.
    async fn list(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
        dir: &str,
    ) -> Result<Vec<ContentEntry>, BrowseError>;

    /// A file's bytes, streamed.
    async fn open(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
        path: &str,
    ) -> Result<OpenedEntry, BrowseError>;

    /// The directory holding the entries of a kind (spec section 6: `project`, `issue`,
    /// `space`, `page`, `attachment`, ...) in this backup's snapshots; `key` names the project or
    /// space where the kind needs one. `Err` says, for the caller, why there is none.
    fn directory_of(
        &self,
        backup: &BackupRecord,
        kind: &str,
        key: Option<&str>,
    ) -> Result<String, String>;

    /// The whole snapshot as a portable archive (`docs/export-format.md`), streamed. Its length
    /// is known before the first byte; the same backup always gives the same bytes.
    async fn export(
        &self,
        storage: &StorageAccess,
        backup: &BackupRecord,
        format: ArchiveFormat,
    ) -> Result<Archive, BrowseError>;
}

/// The container of an export (`docs/export-format.md`): the same members and manifest in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// POSIX tar (pax where needed), `application/x-tar`.
    #[default]
    Tar,
    /// Zip, entries stored (not compressed), zip64 where sizes or offsets need it.
    Zip,
}

impl ArchiveFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::Zip => "zip",
        }
    }
    pub fn media_type(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "application/x-tar",
            ArchiveFormat::Zip => "application/zip",
        }
    }
    /// `tar` or `zip`, as a caller names it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "tar" => Some(ArchiveFormat::Tar),
            "zip" => Some(ArchiveFormat::Zip),
            _ => None,
        }
    }
}

/// An archive on its way out: its whole length, and its bytes from the first.
pub struct Archive {
    pub len: u64,
    pub bytes: ByteStream,
}

impl Archive {
    /// Bytes `start..end` of the archive (`end` at most `len`), for a `Range` request. The
    /// bytes before `start` are still produced (each entry's checksum needs them) but not sent.
    pub fn slice(self, start: u64, end: u64) -> ByteStream {
        use futures::StreamExt;
        let end = end.min(self.len);
        self.bytes
            .scan(0u64, move |at, piece| {
                let piece = match piece {
                    Err(e) => return futures::future::ready(Some(Err(e))),
                    Ok(p) => p,
                };
                let from = *at;
                *at += piece.len() as u64;
                if from >= end {
                    return futures::future::ready(None);
                }
                let lo = start.saturating_sub(from).min(piece.len() as u64) as usize;
                let hi = (end - from).min(piece.len() as u64) as usize;
                futures::future::ready(Some(Ok(piece.slice(lo..hi))))
            })
            .filter(|p| futures::future::ready(!matches!(p, Ok(b) if b.is_empty())))
            .boxed()
    }
}

/// A backup's export on its way out.
pub struct BackupExport {
    pub backup: BackupRecord,
    pub format: ArchiveFormat,
    pub archive: Archive,
}

impl BackupExport {
    /// The name a download is saved under: `cairn-backup-ID.tar` or `.zip`.
    pub fn file_name(&self) -> String {
        format!(
            "cairn-backup-{}.{}",
            self.backup.id,
            self.format.extension()
        )
    }
}

impl std::fmt::Debug for BackupExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupExport")
            .field("backup", &self.backup.id)
            .finish_non_exhaustive()
    }
}

/// A caller's path inside a snapshot: relative, `/`-separated, without `.`, `..` or empty
/// components. One trailing `/` is allowed (`jira/`). `""` is the root.
pub fn checked_snapshot_path(raw: &str) -> ControlResult<String> {
    let bad = |why: &str| Err(ControlError::invalid_field("path", why));
    if raw.len() > PATH_MAX_BYTES {
        return bad("is too long");
    }
    if raw.starts_with('/') {
        return bad("must be relative to the snapshot's root (no leading /), e.g. jira/projects");
    }
    let path = raw.strip_suffix('/').unwrap_or(raw);
    if path.is_empty() {
        return Ok(String::new());
    }
    for part in path.split('/') {
        match part {
            "" => return bad("must not hold an empty component (//)"),
            "." | ".." => return bad("must not hold . or .. components"),
            p if p.chars().any(|c| c.is_control() || c == '\\') => {
                return bad("must not hold control characters or backslashes");
            }
            _ => {}
        }
    }
    Ok(path.to_string())
}

impl Management {
    /// Lets this service browse and export snapshots (the binary passes the engine).
    pub fn with_browser(mut self, browser: Arc<dyn SnapshotBrowser>) -> Self {
        self.browser = Some(browser);
        self
    }

    /// The backup, its storage and the browser, if the backup has a snapshot to read.
    async fn browsable(
        &self,
        org_id: &str,
        backup_id: &str,
    ) -> ControlResult<(BackupRecord, StorageAccess, &Arc<dyn SnapshotBrowser>)> {
        let backup = self.get_backup(org_id, backup_id).await?;
        match backup.status {
            BackupStatus::Completed | BackupStatus::Incomplete => {}
            BackupStatus::Expired => {
                return Err(ControlError::Conflict(
                    "This backup has expired (rule 5); its contents are no longer kept.".into(),
                ));
            }
            other => {
                return Err(ControlError::Conflict(format!(
                    "Only a COMPLETED or INCOMPLETE backup can be browsed or exported; this one \
                     is {other}."
                )));
            }
        }
        if backup.snapshot_id.is_none() {
            return Err(ControlError::Internal(format!(
                "backup {} is {} but has no snapshot",
                backup.id, backup.status
            )));
        }
        let storage = self.storage_access(org_id, &backup.storage_id).await?;
        let browser = self.browser.as_ref().ok_or_else(|| {
            ControlError::Internal("this node was started without a snapshot browser".into())
        })?;
        Ok((backup, storage, browser))
    }

    /// (extension) The entries directly inside a directory of a backup's snapshot, in name
    /// order (reversed when `page.descending`), one page of them.
    pub async fn list_backup_contents(
        &self,
        org_id: &str,
        backup_id: &str,
        dir: &str,
        page: PageQuery,
    ) -> ControlResult<Page<ContentEntry>> {
        let dir = checked_snapshot_path(dir)?;
        let (backup, storage, browser) = self.browsable(org_id, backup_id).await?;
        let mut entries = browser.list(&storage, &backup, &dir).await?;
        if page.descending {
            entries.reverse();
        }
        let total = entries.len() as u64;
        let items = entries
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .collect();
        Ok(Page { items, total })
    }

    /// (extension) The entries of one kind (`project`, `issue` of the project `key`, `space`,
    /// `page` of the space `key`, `attachment`, ...), as [`Management::list_backup_contents`].
    pub async fn list_backup_contents_of_kind(
        &self,
        org_id: &str,
        backup_id: &str,
        kind: &str,
        key: Option<&str>,
        page: PageQuery,
    ) -> ControlResult<(String, Page<ContentEntry>)> {
        if let Some(key) = key {
            checked_snapshot_path(key)?;
            if key.contains('/') || key.is_empty() {
                return Err(ControlError::invalid_field(
                    "key",
                    "must be a project or space key",
                ));
            }
        }
        let (backup, _, browser) = self.browsable(org_id, backup_id).await?;
        let dir = browser
            .directory_of(&backup, kind, key)
            .map_err(|why| ControlError::invalid_field("kind", why))?;
        let found = self
            .list_backup_contents(org_id, backup_id, &dir, page)
            .await?;
        Ok((dir, found))
    }

    /// (extension) One file of a backup's snapshot, streamed.
    pub async fn read_backup_entry(
        &self,
        org_id: &str,
        backup_id: &str,
        path: &str,
    ) -> ControlResult<OpenedEntry> {
        let path = checked_snapshot_path(path)?;
        if path.is_empty() {
            return Err(ControlError::invalid_field(
                "path",
                "must name a file of the backup",
            ));
        }
        let (backup, storage, browser) = self.browsable(org_id, backup_id).await?;
        Ok(browser.open(&storage, &backup, &path).await?)
    }

    /// (extension) The backup as a portable archive, streamed.
    pub async fn export_backup(
        &self,
        org_id: &str,
        backup_id: &str,
        format: ArchiveFormat,
    ) -> ControlResult<BackupExport> {
        let (backup, storage, browser) = self.browsable(org_id, backup_id).await?;
        let archive = browser.export(&storage, &backup, format).await?;
        Ok(BackupExport {
            backup,
            format,
            archive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Archive, checked_snapshot_path};
    use futures::{StreamExt, TryStreamExt};

    /// A range cut out of an archive whatever the pieces' boundaries.
    #[tokio::test]
    async fn a_slice_holds_exactly_the_asked_bytes() {
        let whole: Vec<u8> = (0..100u8).collect();
        for (start, end) in [
            (0, 100),
            (0, 1),
            (7, 8),
            (9, 31),
            (30, 100),
            (99, 100),
            (50, 500),
        ] {
            let pieces: Vec<Result<bytes::Bytes, super::BrowseError>> = whole
                .chunks(10)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            let archive = Archive {
                len: 100,
                bytes: futures::stream::iter(pieces).boxed(),
            };
            let got: Vec<u8> = archive
                .slice(start, end)
                .try_collect::<Vec<bytes::Bytes>>()
                .await
                .unwrap()
                .concat();
            assert_eq!(
                got,
                whole[start as usize..end.min(100) as usize],
                "{start}..{end}"
            );
        }
    }

    #[test]
    fn paths_are_relative_and_plain() {
        assert_eq!(checked_snapshot_path("").unwrap(), "");
        assert_eq!(checked_snapshot_path("jira/").unwrap(), "jira");
        assert_eq!(
            checked_snapshot_path("jira/projects/KEY/issues/10001.json").unwrap(),
            "jira/projects/KEY/issues/10001.json"
        );
        for bad in [
            "/jira",
            "/",
            "jira/../etc",
            "..",
            "./jira",
            "jira//projects",
            "jira/\u{0}x",
            "a\\b",
        ] {
            assert!(checked_snapshot_path(bad).is_err(), "{bad:?}");
        }
        assert!(checked_snapshot_path(&"a/".repeat(600)).is_err());
    }
}
