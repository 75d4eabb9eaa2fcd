//! Browsing and exporting a backup's snapshot ([`SnapshotBrowser`]).
//!
//! The export is a POSIX tar (pax where a path is longer than 100 bytes): every directory and file
//! of the snapshot at its path (see [`crate::layout`]), depth first in name order, then
//! `cairn-export.json`, the manifest. `docs/export-format.md` describes it. It is produced as a
//! stream: one directory listing per level of depth is held, and a file's bytes go out chunk by
//! chunk as the vault reads them.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_control::jobs::EngineError;
use cairn_control::management::{
    BrowseError, ByteStream, ContentEntry, ContentKind, OpenedEntry, SnapshotBrowser, StorageAccess,
};
use cairn_store::{BackupRecord, Product};
use cairn_vault::{Entry, EntryKind, SnapshotReader};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::{AtlassianEngine, layout};

/// The export's manifest, the archive's last member.
pub const MANIFEST: &str = "cairn-export.json";
/// Bumped when the archive's layout changes in a way a reader must know.
pub const EXPORT_FORMAT_VERSION: u32 = 1;

const BLOCK: usize = 512;

type VaultFuture<T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, BrowseError>> + Send + 'static>>;

fn browse_error(e: cairn_vault::Error) -> BrowseError {
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

fn list(reader: Arc<SnapshotReader>, dir: String) -> VaultFuture<Vec<Entry>> {
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
    ) -> Result<ByteStream, BrowseError> {
        let reader = self.snapshot(storage, backup).await?;
        let root = list(reader.clone(), String::new()).await?;
        let state = Export {
            mtime: backup
                .started_at
                .unwrap_or(backup.created_at)
                .timestamp()
                .max(0) as u64,
            manifest: Some(manifest_base(backup, reader.id().to_hex())),
            reader,
            stack: vec![root.into_iter()],
            body: None,
            files: 0,
            directories: 0,
            bytes: 0,
            ended: false,
        };
        Ok(futures::stream::try_unfold(state, next_piece).boxed())
    }
}

fn manifest_base(backup: &BackupRecord, snapshot_id: String) -> serde_json::Value {
    let time = |t: cairn_store::Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({
        "format": "cairn-export",
        "formatVersion": EXPORT_FORMAT_VERSION,
        "backupId": backup.id,
        "policyId": backup.policy_id,
        "name": backup.name,
        "product": backup.product.as_str(),
        "cloudId": backup.cloud_id,
        "status": backup.status.as_str(),
        "createdAt": time(backup.created_at),
        "startedAt": backup.started_at.map(time),
        "snapshotId": snapshot_id,
    })
}

/// A file whose bytes are going out.
struct Body {
    stream: BoxStream<'static, cairn_vault::Result<Bytes>>,
    path: String,
    size: u64,
    remaining: u64,
}

/// Where the export stands between two pieces of the stream.
struct Export {
    reader: Arc<SnapshotReader>,
    /// One listing per directory level being walked; the last is the deepest.
    stack: Vec<std::vec::IntoIter<Entry>>,
    body: Option<Body>,
    mtime: u64,
    manifest: Option<serde_json::Value>,
    files: u64,
    directories: u64,
    bytes: u64,
    ended: bool,
}

/// The next piece of the archive: a header, a chunk of a file, padding, the manifest or the end.
async fn next_piece(mut st: Export) -> Result<Option<(Bytes, Export)>, BrowseError> {
    loop {
        if let Some(body) = st.body.as_mut() {
            match body.stream.try_next().await.map_err(browse_error)? {
                Some(chunk) => {
                    let len = chunk.len() as u64;
                    if len > body.remaining {
                        return Err(BrowseError::Internal(format!(
                            "{} holds more bytes than its recorded size",
                            body.path
                        )));
                    }
                    body.remaining -= len;
                    if len > 0 {
                        return Ok(Some((chunk, st)));
                    }
                }
                None => {
                    if body.remaining != 0 {
                        return Err(BrowseError::Internal(format!(
                            "{} holds fewer bytes than its recorded size",
                            body.path
                        )));
                    }
                    let pad = padding(body.size);
                    st.body = None;
                    if pad > 0 {
                        return Ok(Some((Bytes::from(vec![0; pad]), st)));
                    }
                }
            }
            continue;
        }
        let next = st.stack.last_mut().map(|level| level.next());
        match next {
            Some(Some(e)) if e.kind == EntryKind::Dir => {
                st.directories += 1;
                let children = list(st.reader.clone(), e.path.clone()).await?;
                st.stack.push(children.into_iter());
                let header = member_header(&format!("{}/", e.path), Member::Dir, 0, st.mtime);
                return Ok(Some((Bytes::from(header), st)));
            }
            Some(Some(e)) => {
                st.files += 1;
                st.bytes += e.size;
                let header = member_header(&e.path, Member::File, e.size, st.mtime);
                st.body = Some(Body {
                    stream: st.reader.stream_entry(&e),
                    path: e.path,
                    size: e.size,
                    remaining: e.size,
                });
                return Ok(Some((Bytes::from(header), st)));
            }
            Some(None) => {
                st.stack.pop();
            }
            None => {
                if let Some(mut manifest) = st.manifest.take() {
                    manifest["files"] = st.files.into();
                    manifest["directories"] = st.directories.into();
                    manifest["bytes"] = st.bytes.into();
                    let mut json = serde_json::to_vec_pretty(&manifest)
                        .map_err(|e| BrowseError::Internal(e.to_string()))?;
                    json.push(b'\n');
                    let mut out =
                        member_header(MANIFEST, Member::File, json.len() as u64, st.mtime);
                    let pad = padding(json.len() as u64);
                    out.extend_from_slice(&json);
                    out.resize(out.len() + pad, 0);
                    return Ok(Some((Bytes::from(out), st)));
                }
                if !st.ended {
                    st.ended = true;
                    // The end of an archive: two zero blocks.
                    return Ok(Some((Bytes::from(vec![0; 2 * BLOCK]), st)));
                }
                return Ok(None);
            }
        }
    }
}

/// Zero bytes after `size` bytes of data up to the next block.
fn padding(size: u64) -> usize {
    let rest = (size % BLOCK as u64) as usize;
    if rest == 0 { 0 } else { BLOCK - rest }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    File,
    Dir,
    Pax,
}

/// The largest size a ustar header's 11 octal digits hold.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// The header block(s) of one member: a pax extended header first when the path is longer than
/// 100 bytes or the size too big for ustar.
fn member_header(path: &str, kind: Member, size: u64, mtime: u64) -> Vec<u8> {
    let mut records = Vec::new();
    if path.len() > 100 {
        records.extend(pax_record("path", path));
    }
    if size > USTAR_MAX_SIZE {
        records.extend(pax_record("size", &size.to_string()));
    }
    let name = truncated(path, 100);
    let mut out = Vec::with_capacity(BLOCK * 3);
    if !records.is_empty() {
        let pax_name = format!("PaxHeader/{}", truncated(path.trim_end_matches('/'), 90));
        out.extend_from_slice(&ustar_block(
            &pax_name,
            Member::Pax,
            records.len() as u64,
            mtime,
        ));
        let pad = padding(records.len() as u64);
        out.extend_from_slice(&records);
        out.resize(out.len() + pad, 0);
    }
    out.extend_from_slice(&ustar_block(name, kind, size.min(USTAR_MAX_SIZE), mtime));
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `"<length> key=value\n"`, where the length counts the whole record, its own digits included.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() + rest != len {
        len = rest + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

/// One ustar header block.
fn ustar_block(name: &str, kind: Member, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let octal = |b: &mut [u8; BLOCK], at: usize, width: usize, value: u64| {
        // `width - 1` digits and a NUL.
        let text = format!("{value:0w$o}", w = width - 1);
        b[at..at + width - 1].copy_from_slice(&text.as_bytes()[text.len() - (width - 1)..]);
    };
    let name = name.as_bytes();
    b[..name.len()].copy_from_slice(name);
    let (mode, flag) = match kind {
        Member::File => (0o644, b'0'),
        Member::Dir => (0o755, b'5'),
        Member::Pax => (0o644, b'x'),
    };
    octal(&mut b, 100, 8, mode);
    octal(&mut b, 108, 8, 0);
    octal(&mut b, 116, 8, 0);
    octal(&mut b, 124, 12, size);
    octal(&mut b, 136, 12, mtime.min(USTAR_MAX_SIZE));
    b[156] = flag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    // The checksum counts its own field as eight spaces.
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let text = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(text.as_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn pax_records_count_their_own_length() {
        for value in ["x", &"y".repeat(90), &"z".repeat(95), &"w".repeat(994)] {
            let rec = pax_record("path", value);
            let text = String::from_utf8(rec.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), rec.len(), "{text}");
        }
    }

    /// The system's tar reads what the header writer makes, long paths included.
    #[test]
    fn system_tar_lists_short_and_long_paths() {
        let long = format!("confluence/spaces/{}/pages/1.json", "K".repeat(120));
        let mut archive = Vec::new();
        archive.extend(member_header("jira/", Member::Dir, 0, 1_700_000_000));
        for (path, data) in [("jira/site.json", &b"{}"[..]), (long.as_str(), b"hello")] {
            archive.extend(member_header(
                path,
                Member::File,
                data.len() as u64,
                1_700_000_000,
            ));
            archive.extend_from_slice(data);
            archive.resize(archive.len() + padding(data.len() as u64), 0);
        }
        archive.resize(archive.len() + 2 * BLOCK, 0);
        let mut tar = std::process::Command::new("tar")
            .arg("-t")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tar.stdin.take().unwrap().write_all(&archive).unwrap();
        let out = tar.wait_with_output().unwrap();
        assert!(out.status.success());
        let listed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            listed.lines().collect::<Vec<_>>(),
            ["jira/", "jira/site.json", long.as_str()]
        );
    }
}
