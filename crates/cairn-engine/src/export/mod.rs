//! A backup's snapshot as a portable archive (`docs/export-format.md`): a tar or a zip holding
//! every directory and file of the snapshot at its path (see [`crate::layout`]), depth first in
//! name order, then `cairn-export.json`, the manifest, which gives every file's SHA-256.
//!
//! The snapshot's listings are walked first (no file is read), so the archive's length is known
//! before its first byte: a download has a `Content-Length` and can be resumed with `Range`. Then
//! the members go out one by one, a file's bytes chunk by chunk as the vault decrypts them. The
//! same backup always gives the same bytes (fixed times, modes and order).

mod import;
mod tar;
mod verify;
mod zip;

pub use import::{ImportError, ImportedArchive};
pub use verify::{ArchiveError, MemberSink, VerifiedArchive, verify, verify_into};

use std::sync::Arc;

use bytes::Bytes;
use cairn_control::management::{Archive, ArchiveFormat, BrowseError};
use cairn_store::BackupRecord;
use cairn_vault::{Entry, EntryKind, SnapshotReader};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sha2::Digest;

use crate::browse::{browse_error, list};

/// The export's manifest, the archive's last member.
pub const MANIFEST: &str = "cairn-export.json";
/// Bumped when the archive's layout changes in a way a reader must know.
pub const EXPORT_FORMAT_VERSION: u32 = 1;

/// One member as a container writes it: `path` without a trailing `/`.
#[derive(Clone, Copy)]
struct Member<'a> {
    path: &'a str,
    dir: bool,
    size: u64,
}

/// What a container adds around the members' bytes. A member's header, its trailer and the end
/// have lengths that do not depend on the bytes' checksum, so a dry run with checksum 0 measures
/// the archive.
trait Container: Send {
    /// What goes before a member's bytes.
    fn head(&mut self, member: Member<'_>) -> Vec<u8>;
    /// What goes after them, once their CRC-32 is known.
    fn tail(&mut self, member: Member<'_>, crc: u32) -> Vec<u8>;
    /// What ends the archive.
    fn finish(&mut self) -> Vec<u8>;
}

fn container(format: ArchiveFormat, backup: &BackupRecord) -> Box<dyn Container> {
    let started = backup.started_at.unwrap_or(backup.created_at);
    match format {
        ArchiveFormat::Tar => Box::new(tar::Tar::new(started.timestamp().max(0) as u64)),
        ArchiveFormat::Zip => Box::new(zip::Zip::new(started.naive_utc())),
    }
}

/// Every entry of the snapshot in archive order: depth first, in name order, a directory before
/// its contents. Only listings are read.
async fn walk(reader: &Arc<SnapshotReader>) -> Result<Vec<Entry>, BrowseError> {
    let mut out = Vec::new();
    let mut stack = vec![list(reader.clone(), String::new()).await?.into_iter()];
    while let Some(level) = stack.last_mut() {
        match level.next() {
            Some(e) if e.kind == EntryKind::Dir => {
                let children = list(reader.clone(), e.path.clone()).await?;
                out.push(e);
                stack.push(children.into_iter());
            }
            Some(e) => out.push(e),
            None => {
                stack.pop();
            }
        }
    }
    Ok(out)
}

fn member(e: &Entry) -> Member<'_> {
    Member {
        path: &e.path,
        dir: e.kind == EntryKind::Dir,
        size: if e.kind == EntryKind::Dir { 0 } else { e.size },
    }
}

/// The manifest's bytes; `sha256` gives each file's digest in archive order (all zeros for the
/// dry run: the length is the same).
fn manifest(
    base: &serde_json::Value,
    entries: &[Entry],
    sha256: &[[u8; 32]],
) -> Result<Vec<u8>, BrowseError> {
    let mut manifest = base.clone();
    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind != EntryKind::Dir)
        .collect();
    manifest["files"] = files.len().into();
    manifest["directories"] = (entries.len() - files.len()).into();
    manifest["bytes"] = files.iter().map(|e| e.size).sum::<u64>().into();
    manifest["entries"] = files
        .iter()
        .zip(sha256)
        .map(|(e, digest)| {
            serde_json::json!({"path": e.path, "size": e.size, "sha256": hex::encode(digest)})
        })
        .collect();
    let mut json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| BrowseError::Internal(e.to_string()))?;
    json.push(b'\n');
    Ok(json)
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
        "selections": backup.selections.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "snapshotId": snapshot_id,
    })
}

/// The archive of a snapshot: measured now, produced as it is read.
pub(crate) async fn export(
    reader: Arc<SnapshotReader>,
    backup: &BackupRecord,
    format: ArchiveFormat,
) -> Result<Archive, BrowseError> {
    let entries = walk(&reader).await?;
    let base = manifest_base(backup, reader.id().to_hex());
    let files = entries.iter().filter(|e| e.kind != EntryKind::Dir).count();
    let manifest_len = manifest(&base, &entries, &vec![[0; 32]; files])?.len() as u64;

    let mut dry = container(format, backup);
    let mut len = 0u64;
    let last = Member {
        path: MANIFEST,
        dir: false,
        size: manifest_len,
    };
    for m in entries.iter().map(member).chain([last]) {
        len += dry.head(m).len() as u64 + m.size + dry.tail(m, 0).len() as u64;
    }
    len += dry.finish().len() as u64;

    let state = Export {
        reader,
        container: container(format, backup),
        entries: entries.into_iter(),
        body: None,
        sha256: Vec::with_capacity(files),
        manifest: Some((base, manifest_len)),
        walked: Vec::new(),
        ended: false,
    };
    let bytes = futures::stream::try_unfold(state, next_piece).boxed();
    Ok(Archive { len, bytes })
}

/// A file whose bytes are going out.
struct Body {
    entry: Entry,
    stream: BoxStream<'static, cairn_vault::Result<Bytes>>,
    remaining: u64,
    crc: crc32fast::Hasher,
    sha256: sha2::Sha256,
}

/// Where the export stands between two pieces of the stream.
struct Export {
    reader: Arc<SnapshotReader>,
    container: Box<dyn Container>,
    entries: std::vec::IntoIter<Entry>,
    body: Option<Body>,
    /// Each file's digest so far, in archive order.
    sha256: Vec<[u8; 32]>,
    /// The manifest's base and its length, until it has gone out.
    manifest: Option<(serde_json::Value, u64)>,
    /// The entries already sent (paths and sizes, for the manifest).
    walked: Vec<Entry>,
    ended: bool,
}

/// The next piece of the archive: a header, a chunk of a file, a trailer, the manifest or the end.
async fn next_piece(mut st: Export) -> Result<Option<(Bytes, Export)>, BrowseError> {
    loop {
        if let Some(body) = st.body.as_mut() {
            match body.stream.try_next().await.map_err(browse_error)? {
                Some(chunk) => {
                    let len = chunk.len() as u64;
                    if len > body.remaining {
                        return Err(BrowseError::Internal(format!(
                            "{} holds more bytes than its recorded size",
                            body.entry.path
                        )));
                    }
                    body.remaining -= len;
                    body.crc.update(&chunk);
                    body.sha256.update(&chunk);
                    if len > 0 {
                        return Ok(Some((chunk, st)));
                    }
                }
                None => {
                    let Some(body) = st.body.take() else {
                        continue;
                    };
                    if body.remaining != 0 {
                        return Err(BrowseError::Internal(format!(
                            "{} holds fewer bytes than its recorded size",
                            body.entry.path
                        )));
                    }
                    let tail = st.container.tail(member(&body.entry), body.crc.finalize());
                    st.sha256.push(body.sha256.finalize().into());
                    st.walked.push(body.entry);
                    if !tail.is_empty() {
                        return Ok(Some((Bytes::from(tail), st)));
                    }
                }
            }
            continue;
        }
        if let Some(e) = st.entries.next() {
            let mut piece = st.container.head(member(&e));
            if e.kind == EntryKind::Dir {
                piece.extend(st.container.tail(member(&e), 0));
                st.walked.push(e);
            } else {
                st.body = Some(Body {
                    stream: st.reader.stream_entry(&e),
                    remaining: e.size,
                    entry: e,
                    crc: crc32fast::Hasher::new(),
                    sha256: sha2::Sha256::new(),
                });
            }
            return Ok(Some((Bytes::from(piece), st)));
        }
        if let Some((base, measured)) = st.manifest.take() {
            let json = manifest(&base, &st.walked, &st.sha256)?;
            if json.len() as u64 != measured {
                return Err(BrowseError::Internal(format!(
                    "the manifest is {} bytes, {measured} were measured",
                    json.len()
                )));
            }
            let m = Member {
                path: MANIFEST,
                dir: false,
                size: measured,
            };
            let mut piece = st.container.head(m);
            piece.extend_from_slice(&json);
            piece.extend(st.container.tail(m, crc32fast::hash(&json)));
            return Ok(Some((Bytes::from(piece), st)));
        }
        if !st.ended {
            st.ended = true;
            return Ok(Some((Bytes::from(st.container.finish()), st)));
        }
        return Ok(None);
    }
}
