//! An export archive read back into a vault (`cairn restore-archive`): one pass over the file
//! checks it as [`super::verify`] does and writes every file into a new snapshot, which is
//! committed only if the whole archive passed. A restore then runs from that snapshot exactly as
//! from a backup Cairn made (same engine, rules and result).
//!
//! The check reads the file on a blocking thread; each member's bytes cross to the vault writer
//! through a small bounded channel, so memory stays flat whatever the archive's size.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cairn_control::jobs::EngineError;
use cairn_control::management::{ImportedBackup, StorageAccess};
use cairn_store::{BackupStatus, Product, Selection, Timestamp};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::verify::{ArchiveError, MemberSink, VerifiedArchive, verify_into};
use crate::layout::{self, meta};
use crate::storage::vault_error;

/// Why an archive could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The archive is refused: nothing was committed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The vault could not take it.
    #[error("{0}")]
    Vault(EngineError),
}

/// An archive imported as a snapshot.
#[derive(Debug)]
pub struct ImportedArchive {
    pub verified: VerifiedArchive,
    /// The backup the archive is, ready for [`cairn_control::management::Management::import_backup`].
    pub backup: ImportedBackup,
}

/// Members in flight between the check and the writer: a member's path and its bytes' channel.
type Member = (String, mpsc::Receiver<Bytes>);

/// Hands each member's bytes to the async writer.
struct ChannelSink {
    members: mpsc::Sender<Member>,
    current: Option<mpsc::Sender<Bytes>>,
    /// Called with the bytes read so far.
    progress: Arc<dyn Fn(u64) + Send + Sync>,
    read: u64,
}

fn writer_gone() -> io::Error {
    io::Error::other("the vault writer stopped")
}

impl MemberSink for ChannelSink {
    fn begin(&mut self, path: &str, _size: u64) -> io::Result<()> {
        let (tx, rx) = mpsc::channel(4);
        self.members
            .blocking_send((path.to_string(), rx))
            .map_err(|_| writer_gone())?;
        self.current = Some(tx);
        Ok(())
    }

    fn chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        let tx = self.current.as_ref().ok_or_else(writer_gone)?;
        tx.blocking_send(Bytes::copy_from_slice(bytes))
            .map_err(|_| writer_gone())?;
        self.read += bytes.len() as u64;
        (self.progress)(self.read);
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        self.current = None;
        Ok(())
    }
}

/// Sizes by what the files hold, as a backup counts them.
#[derive(Default)]
struct Sizes {
    users: u64,
    data: u64,
    attachments: u64,
}

impl Sizes {
    fn count(&mut self, path: &str, size: u64) {
        if layout::is_attachment(path) {
            self.attachments += size;
        } else if is_users(path) {
            self.users += size;
        } else {
            self.data += size;
        }
    }
}

impl crate::AtlassianEngine {
    /// Checks the archive at `path` and writes its files into a snapshot of `storage`'s vault;
    /// `progress` gets the bytes read so far. A refused archive commits nothing.
    pub async fn import_archive(
        &self,
        storage: &StorageAccess,
        path: PathBuf,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<ImportedArchive, ImportError> {
        let repo = self.vault(storage).await.map_err(ImportError::Vault)?;
        let mut writer = crate::storage::writer(&repo, cairn_vault::WriterOptions::default())
            .await
            .map_err(ImportError::Vault)?;
        let (members, mut arriving) = mpsc::channel::<Member>(1);
        let check = tokio::task::spawn_blocking(move || {
            let mut sink = ChannelSink {
                members,
                current: None,
                progress,
                read: 0,
            };
            verify_into(&path, Some(&mut sink))
        });
        let mut sizes = Sizes::default();
        let mut written: Result<(), EngineError> = Ok(());
        while let Some((path, bytes)) = arriving.recv().await {
            let stream = futures::stream::unfold(bytes, |mut rx| async move {
                rx.recv().await.map(|b| (Ok::<_, io::Error>(b), rx))
            })
            .boxed();
            let mut reader = tokio_util::io::StreamReader::new(stream);
            let before = writer.stats().bytes_in;
            if let Err(e) = writer.add_stream(&path, &mut reader, BTreeMap::new()).await {
                // Dropping the receiver stops the check, which then reports the writer gone.
                written = Err(vault_error(e));
                break;
            }
            sizes.count(&path, writer.stats().bytes_in - before);
        }
        drop(arriving);
        let checked = check
            .await
            .map_err(|e| ImportError::Vault(EngineError::Permanent(e.to_string())))?;
        written.map_err(ImportError::Vault)?;
        let verified = checked?;
        let manifest = Manifest::read(&verified.manifest)?;
        let meta = BTreeMap::from([
            (meta::BACKUP_ID.to_string(), manifest.backup_id.clone()),
            (meta::CLOUD_ID.to_string(), manifest.cloud_id.clone()),
            (meta::PRODUCT.to_string(), manifest.product.to_string()),
            (
                meta::STARTED_AT.to_string(),
                manifest
                    .started_at
                    .unwrap_or(manifest.created_at)
                    .to_rfc3339(),
            ),
            (meta::ITEMS.to_string(), verified.files.to_string()),
        ]);
        let committed = writer
            .commit(meta, vec![layout::backup_tag(&manifest.backup_id)])
            .await
            .map_err(|e| ImportError::Vault(vault_error(e)))?;
        let backup = ImportedBackup {
            backup_id: manifest.backup_id,
            name: manifest.name,
            cloud_id: manifest.cloud_id,
            product: manifest.product,
            status: manifest.status,
            selections: manifest.selections,
            started_at: manifest.started_at,
            created_at: manifest.created_at,
            storage_id: storage.storage.id.clone(),
            snapshot_id: committed.snapshot.to_hex(),
            users_size: sizes.users,
            data_size: sizes.data,
            attachments_size: sizes.attachments,
        };
        Ok(ImportedArchive { verified, backup })
    }
}

/// What a restore needs from the manifest.
struct Manifest {
    backup_id: String,
    name: String,
    cloud_id: String,
    product: Product,
    status: BackupStatus,
    selections: Vec<Selection>,
    started_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl Manifest {
    fn read(m: &Value) -> Result<Manifest, ArchiveError> {
        let bad =
            |field: &str, why: &str| ArchiveError::BadManifest(format!("its `{field}` is {why}"));
        let text = |field: &str| {
            m[field]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| bad(field, "missing"))
        };
        let time = |field: &str| -> Result<Option<Timestamp>, ArchiveError> {
            match m[field].as_str() {
                None => Ok(None),
                Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| Some(t.with_timezone(&chrono::Utc)))
                    .map_err(|_| bad(field, "not a time")),
            }
        };
        let product = Product::parse(&text("product")?).ok_or_else(|| bad("product", "unknown"))?;
        let status =
            BackupStatus::parse(&text("status")?).ok_or_else(|| bad("status", "unknown"))?;
        let selections = match m["selections"].as_array() {
            Some(listed) => listed
                .iter()
                .map(|s| {
                    s.as_str().and_then(Selection::parse).ok_or_else(|| {
                        bad(
                            "selections",
                            "not a list of USERS, ATTACHMENTS and PERSONAL_SPACES",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            // Exports made before the manifest listed them: what the files show.
            None => selections_shown(m),
        };
        Ok(Manifest {
            backup_id: text("backupId")?,
            name: m["name"].as_str().unwrap_or("Imported backup").to_string(),
            cloud_id: text("cloudId")?,
            product,
            status,
            selections,
            started_at: time("startedAt")?,
            created_at: time("createdAt")?.ok_or_else(|| bad("createdAt", "missing"))?,
        })
    }
}

/// Whether `path` is inside `dir`.
fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `path` holds a Jira user or group.
fn is_users(path: &str) -> bool {
    is_under(path, &layout::jira_users_dir()) || is_under(path, &layout::jira_groups_dir())
}

/// The selections a backup's files show: users and groups, attachments, personal spaces (keys
/// starting with `~`).
fn selections_shown(m: &Value) -> Vec<Selection> {
    let paths: Vec<&str> = m["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["path"].as_str()).collect())
        .unwrap_or_default();
    let spaces = format!("{}/~", layout::confluence_spaces_dir());
    [
        (Selection::Users, paths.iter().any(|p| is_users(p))),
        (
            Selection::Attachments,
            paths.iter().any(|p| layout::is_attachment(p)),
        ),
        (
            Selection::PersonalSpaces,
            paths.iter().any(|p| p.starts_with(&spaces)),
        ),
    ]
    .into_iter()
    .filter_map(|(selection, shown)| shown.then_some(selection))
    .collect()
}
