//! The Backup Management domain (`shared/spec/backup-management-api.md`): sites, storages,
//! policies, backups, restores and their rules (spec section 4). It decides and records; the
//! engine (through [`crate::jobs`]) does the work, and probes injected by the binary talk to sites
//! and storages.

mod backups;
mod browse;
mod imports;
mod legacy;
mod policies;
mod restores;
mod retention;
mod scheduler;
mod sites;
mod storages;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cairn_store::{
    JobKind, JobRecord, JobState, ManagementStore, SiteProduct, Store, StoreError, Timestamp,
};

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::identity::Actor;
use crate::lifecycle::Lifecycle;
use crate::secret::ServerSecret;
use crate::{ControlError, ControlResult};

pub use browse::{
    Archive, ArchiveFormat, BackupExport, BrowseError, ByteStream, ContentEntry, ContentKind,
    OpenedEntry, SnapshotBrowser, checked_snapshot_path,
};
pub use cairn_store::{
    BackupStatsView, FailedItem, Progress, ProgressPhase, RateLimited, RestoreSummary, SiteTraffic,
    SkippedItem,
};
pub use imports::{IMPORT_POLICY_NAME, ImportedBackup};
pub use legacy::{
    FAILED_PREFIX, LegacyProgress, LegacyRefusal, LegacyStatus, legacy_policy_name,
    legacy_progress, without_the_word_error,
};
pub use policies::{NewPolicy, PolicyPatch, PolicyView, ScheduleInput};
pub use restores::NewRestore;
pub use retention::{LockAuthority, LockChanged, OrgSettings};
pub use scheduler::TickReport;
pub use sites::{NewSite, SiteAccess};
pub use storages::{NewStorage, StorageAccess};

/// The rules' numbers and switches (spec section 4), each a setting.
#[derive(Debug, Clone)]
pub struct ManagementSettings {
    /// Regions an external storage may use (`storages/regions`).
    pub regions: Vec<String>,
    /// Rule 4: minimum time between complete backups of a (site, product); none by default.
    pub min_backup_interval: Option<Duration>,
    /// Rule 6: a failed backup is retried after this long...
    pub retry_interval: Duration,
    /// ...until it has run this many times in all.
    pub max_attempts: u32,
    pub default_retention_days: u32,
    /// An S3 storage may be connected without keys, signing in with the host's ambient cloud
    /// credentials (default false: an org admin must not borrow the server's cloud role).
    pub s3_ambient_credentials: bool,
    /// The legacy export calls' cooldown: a start within this long of the last complete backup
    /// of the site's product is refused (`[legacy] min_interval_hours`; none by default: only a
    /// backup in flight is).
    pub legacy_min_interval: Option<Duration>,
}

impl Default for ManagementSettings {
    fn default() -> Self {
        ManagementSettings {
            regions: [
                "us-east-1",
                "us-west-2",
                "eu-central-1",
                "eu-west-1",
                "ap-southeast-2",
            ]
            .map(String::from)
            .to_vec(),
            min_backup_interval: None,
            retry_interval: Duration::from_secs(30 * 60),
            max_attempts: 3,
            default_retention_days: 30,
            s3_ambient_credentials: false,
            legacy_min_interval: None,
        }
    }
}

pub const RETENTION_MAX_DAYS: u32 = 3650;
pub const NAME_MAX_CHARS: usize = 255;

/// What a site says about itself when Cairn connects with an account's email and API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFacts {
    pub cloud_id: String,
    /// The site's own name for itself, when it gives one.
    pub cloud_name: Option<String>,
    pub products: Vec<SiteProduct>,
}

/// Why a site or a storage could not be used. The caller is told only which of these it was
/// (an `Unreachable` or `NotASite` detail says what an address answered, which must not reach
/// whoever named the address: it goes to the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The outbound guard refused the address before any connection; the text names only the
    /// host and the rule.
    #[error("refused to connect to {0}")]
    Refused(String),
    #[error("the site could not be reached: {0}")]
    Unreachable(String),
    #[error("the site refused the email and API token")]
    Unauthorized,
    #[error("the address does not answer like a Jira or Confluence Cloud site: {0}")]
    NotASite(String),
}

impl ProbeError {
    /// The outcome in one word, for the audit log (no detail of the answer).
    fn outcome(&self) -> &'static str {
        match self {
            ProbeError::Refused(_) => "refused",
            ProbeError::Unauthorized => "unauthorized",
            ProbeError::Unreachable(_) | ProbeError::NotASite(_) => "failed",
        }
    }
}

/// Connects to a site to learn its `cloudId`, its products and whether they are empty.
#[async_trait]
pub trait SiteProbe: Send + Sync {
    async fn probe(
        &self,
        cloud_url: &str,
        email: &str,
        api_token: &str,
    ) -> Result<SiteFacts, ProbeError>;
}

/// Where an external storage lives and how to sign in to it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Target {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

/// Writes, reads back and deletes a probe object, so a storage is connected only if it works.
#[async_trait]
pub trait StorageProbe: Send + Sync {
    async fn probe(&self, target: &S3Target) -> Result<(), ProbeError>;
}

/// Purposes of sealed values (bound into the ciphertext).
pub(crate) const SEAL_SITE_TOKEN: &str = "cairn.site-api-token";
pub(crate) const SEAL_STORAGE_SECRET: &str = "cairn.storage-secret-key";

/// The Backup Management service. One per node; every method is safe to call concurrently and
/// from several nodes at once (the store arbitrates).
pub struct Management {
    /// The Backup Management stores only; the audit log is written through `audit`.
    store: Arc<dyn ManagementStore>,
    clock: Arc<dyn Clock>,
    /// The only writer of a run's status.
    lifecycle: Arc<Lifecycle>,
    audit: Audit,
    secret: ServerSecret,
    settings: ManagementSettings,
    site_probe: Arc<dyn SiteProbe>,
    storage_probe: Arc<dyn StorageProbe>,
    /// Reads snapshots for browse and export; `None` on a service built without one.
    browser: Option<Arc<dyn SnapshotBrowser>>,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Management {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        secret: ServerSecret,
        settings: ManagementSettings,
        site_probe: Arc<dyn SiteProbe>,
        storage_probe: Arc<dyn StorageProbe>,
    ) -> Self {
        Management {
            audit: Audit::new(store.clone(), clock.clone()),
            lifecycle: Arc::new(Lifecycle::new(store.clone(), clock.clone())),
            store,
            clock,
            secret,
            settings,
            site_probe,
            storage_probe,
            browser: None,
        }
    }

    pub fn settings(&self) -> &ManagementSettings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Moves runs through their statuses; subscribe to it for every move on this node.
    pub fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.lifecycle
    }

    pub(crate) fn store(&self) -> &Arc<dyn ManagementStore> {
        &self.store
    }

    /// Records a mutating call in the audit log (spec: every mutating API call is audited).
    async fn record(
        &self,
        org_id: &str,
        actor: &Actor,
        action: &'static str,
        target: String,
        details: Option<serde_json::Value>,
    ) -> ControlResult<()> {
        self.audit
            .record(AuditEntry {
                org_id: Some(org_id.to_string()),
                account_id: actor.account_id.clone(),
                action,
                target: Some(target),
                client_addr: actor.client_addr.clone(),
                details,
            })
            .await
    }

    fn seal(&self, purpose: &str, plaintext: &str) -> ControlResult<String> {
        self.secret
            .seal(purpose, plaintext)
            .map_err(|e| ControlError::Internal(e.to_string()))
    }

    fn open(&self, purpose: &str, sealed: &str) -> ControlResult<String> {
        self.secret
            .open(purpose, sealed)
            .map_err(|e| ControlError::Internal(e.to_string()))
    }
}

/// Who a record names as having acted: the account, or `cli` for the operator's command line.
fn actor_id(actor: &Actor) -> String {
    actor.account_id.clone().unwrap_or_else(|| "cli".into())
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Checks a required, trimmed, length-bounded name (see [`crate::text::checked_name`]).
fn checked_name(field: &str, value: &str) -> ControlResult<String> {
    crate::text::checked_name(field, value, NAME_MAX_CHARS)
}

const RULE_3: &str = "A backup or restore is already in progress for this site and product \
     (rule 3): wait for it to end, or cancel it.";

fn rule_3(err: StoreError) -> ControlError {
    match err {
        StoreError::Conflict("in-flight") => ControlError::Conflict(RULE_3.into()),
        StoreError::Conflict("expired backup") => ControlError::Conflict(
            "This backup has expired (rule 5); expired backups cannot be restored.".into(),
        ),
        other => other.into(),
    }
}

pub(crate) fn queued_job(
    kind: JobKind,
    subject_id: &str,
    org_id: &str,
    now: Timestamp,
) -> JobRecord {
    JobRecord {
        id: new_id(),
        kind,
        subject_id: subject_id.to_string(),
        org_id: org_id.to_string(),
        state: JobState::Queued,
        available_at: now,
        lease_token: None,
        attempts: 0,
        checkpoint: None,
        cancel_requested: false,
        created_at: now,
        updated_at: now,
    }
}
