//! The engine behind the job queue: it backs a Jira or Confluence site up into a vault snapshot
//! (one snapshot per backup, laid out as [`layout`] says), restores a snapshot into a site, and
//! reclaims the snapshots of expired backups. See the crate's README.

use std::path::PathBuf;

use async_trait::async_trait;
use cairn_control::jobs::{
    BackupResult, BackupTask, CollectTask, Engine, EngineError, JobContext, RestoreResult,
    RestoreTask,
};
use cairn_control::secret::ServerSecret;

mod backup;
pub mod browse;
pub mod export;
mod idmap;
mod json;
pub mod layout;
pub mod origin;
mod restore;
mod site;
pub mod storage;

/// How the engine talks to sites.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Connector settings for every site (concurrency bound, retries, page size).
    pub connector: cairn_connectors::Settings,
    /// Restores record each item's original author and times in the [`origin::PROPERTY`]
    /// property of the restored issue, page or blog post.
    pub record_origin: bool,
    /// A backup commits what it has written as a checkpoint after this many items ...
    pub checkpoint_items: u64,
    /// ... or this many bytes, whichever comes first; a resumed attempt takes over what the
    /// checkpoints hold instead of reading it from the site again.
    pub checkpoint_bytes: u64,
    /// An S3 storage without keys signs in with the host's ambient credentials (off: refused).
    pub s3_ambient_credentials: bool,
    /// Backups read Jira issues in bulk (the search with their change logs) and fetch an
    /// issue's parts on their own only where the bulk answer cuts them off or lacks them; and
    /// Confluence pages and blog posts with their `storage` bodies in the listing and their ADF
    /// body, labels and properties in one read each (on by default). Off: every part of every
    /// issue, page and blog post is read on its own, the way the bulk read is checked against
    /// (the snapshot documents are the same).
    pub bulk_reads: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            connector: cairn_connectors::Settings::default(),
            record_origin: true,
            checkpoint_items: 5_000,
            checkpoint_bytes: 1 << 30,
            s3_ambient_credentials: false,
            bulk_reads: true,
        }
    }
}

/// The [`Engine`] for Atlassian Cloud sites.
pub struct AtlassianEngine {
    data_dir: PathBuf,
    secret: ServerSecret,
    settings: EngineSettings,
    /// Snapshots opened for browsing, kept for the next requests (see `browse.rs`).
    readers: browse::ReaderCache,
}

impl std::fmt::Debug for AtlassianEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtlassianEngine")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl AtlassianEngine {
    /// `data_dir` holds the built-in storage's vaults; `secret` is the server secret, from which
    /// each storage's vault key is derived (see [`storage`]).
    pub fn new(data_dir: PathBuf, secret: ServerSecret, settings: EngineSettings) -> Self {
        AtlassianEngine {
            data_dir,
            secret,
            settings,
            readers: browse::ReaderCache::default(),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Opens (creating on first use) the vault of a storage.
    pub async fn vault(
        &self,
        storage: &cairn_control::management::StorageAccess,
    ) -> Result<cairn_vault::Repository, EngineError> {
        storage::open_vault(&self.data_dir, &self.secret, &self.settings, storage).await
    }
}

#[async_trait]
impl Engine for AtlassianEngine {
    async fn backup(
        &self,
        task: BackupTask,
        ctx: &JobContext,
    ) -> Result<BackupResult, EngineError> {
        backup::backup(self, task, ctx).await
    }

    async fn restore(
        &self,
        task: RestoreTask,
        ctx: &JobContext,
    ) -> Result<RestoreResult, EngineError> {
        restore::restore(self, task, ctx).await
    }

    /// Forgets the expired backup's snapshot. Its data is reclaimed by the vault's prune (with
    /// its grace period), which is left to `cairn vault prune` or a periodic task: pruning here,
    /// per backup, would rescan the whole vault for each expired backup.
    async fn collect(&self, task: CollectTask, _ctx: &JobContext) -> Result<(), EngineError> {
        let Some(id) = task.backup.snapshot_id.as_deref() else {
            return Ok(());
        };
        let repo = self.vault(&task.storage).await?;
        storage::forget(&repo, id.to_string()).await
    }
}
