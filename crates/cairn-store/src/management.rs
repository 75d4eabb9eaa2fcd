//! Records of the Backup Management API: sites, storages, policies, backups, restores, jobs.
//! Enum literals are the spec's (section 3) and are what the database holds.

use chrono::NaiveDate;

use crate::{BackupStatsView, Progress, RestoreSummary, Timestamp};

/// Declares a string-backed enum whose literals are stored and shown as they are.
macro_rules! literal_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $lit:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $lit),+ }
            }

            /// Exact match, as the spec requires (`jira` is not `JIRA`).
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($lit => Some($name::$variant),)+ _ => None }
            }

            /// The literals, for error messages: `A, B or C`.
            pub fn literals() -> String {
                let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                match all.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                    _ => all.join(""),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

literal_enum!(Product { Jira = "JIRA", Confluence = "CONFLUENCE" });
literal_enum!(BackupStatus {
    Created = "CREATED",
    InProgress = "IN_PROGRESS",
    Completed = "COMPLETED",
    Incomplete = "INCOMPLETE",
    Failed = "FAILED",
    Expired = "EXPIRED",
    Cancelled = "CANCELLED",
});
literal_enum!(RestoreStatus {
    Created = "CREATED",
    InProgress = "IN_PROGRESS",
    Completed = "COMPLETED",
    Incomplete = "INCOMPLETE",
    Failed = "FAILED",
    Cancelled = "CANCELLED",
});
literal_enum!(PolicyStatus { Active = "ACTIVE", Inactive = "INACTIVE" });
literal_enum!(Selection {
    Users = "USERS",
    Attachments = "ATTACHMENTS",
    PersonalSpaces = "PERSONAL_SPACES",
});
literal_enum!(Interval {
    Once = "ONCE",
    Daily = "DAILY",
    Weekly = "WEEKLY",
    Hourly = "HOURLY",
});
literal_enum!(
    /// `BUILTIN` is the org's own vault under the data directory; `S3` any S3-compatible store.
    StorageType { Builtin = "BUILTIN", S3 = "S3" }
);
literal_enum!(StorageStatus { Connected = "CONNECTED", Unreachable = "UNREACHABLE" });
literal_enum!(JobKind { Backup = "BACKUP", Restore = "RESTORE", Collect = "COLLECT" });
literal_enum!(JobState { Queued = "QUEUED", Running = "RUNNING", Done = "DONE" });

impl BackupStatus {
    /// Still to run or running: holds the site lock.
    pub fn in_flight(self) -> bool {
        matches!(self, BackupStatus::Created | BackupStatus::InProgress)
    }
}

impl RestoreStatus {
    pub fn in_flight(self) -> bool {
        matches!(self, RestoreStatus::Created | RestoreStatus::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteProduct {
    pub product: Product,
    pub is_empty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecord {
    pub org_id: String,
    pub cloud_id: String,
    pub cloud_url: String,
    pub cloud_name: String,
    /// `ATLASSIAN_MANAGED` or `CMK`.
    pub encryption_type: String,
    pub products: Vec<SiteProduct>,
    pub account_email: String,
    /// The API token sealed with the server secret.
    pub sealed_token: String,
    pub created_at: Timestamp,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRecord {
    pub id: String,
    pub org_id: String,
    pub storage_type: StorageType,
    /// The bucket (`storageName`); `builtin` for the built-in storage.
    pub bucket: String,
    pub region: Option<String>,
    pub prefix: Option<String>,
    pub role_identifier: Option<String>,
    pub principal_tag: Option<String>,
    pub cloud_id: Option<String>,
    pub product: Option<Product>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    /// The secret access key sealed with the server secret.
    pub sealed_secret: Option<String>,
    /// `SERVICE_MANAGED` or `CUSTOMER_MANAGED`.
    pub encryption_type: String,
    pub status: StorageStatus,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub interval: Interval,
    pub start_date: NaiveDate,
    /// Minutes after midnight UTC, 0..1440.
    pub slot_minute: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub cloud_id: String,
    pub product: Product,
    pub status: PolicyStatus,
    pub include_attachments: bool,
    pub include_personal_spaces: bool,
    pub include_users: bool,
    pub storage_id: String,
    pub schedule: Option<ScheduleRecord>,
    pub next_run_at: Option<Timestamp>,
    pub retention_days: u32,
    /// Who last activated it: scheduled backups run in their name.
    pub activated_by: Option<String>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub id: String,
    pub org_id: String,
    pub policy_id: String,
    pub name: String,
    pub cloud_id: String,
    pub product: Product,
    pub status: BackupStatus,
    pub status_message: String,
    pub account_id: String,
    pub storage_id: String,
    pub encryption_type: String,
    pub selections: Vec<Selection>,
    pub expiry_at: Timestamp,
    pub users_size: u64,
    pub data_size: u64,
    pub attachments_size: u64,
    /// As the engine last reported it (extension).
    pub progress: Option<Progress>,
    /// Of a finished backup (extension).
    pub stats: Option<BackupStatsView>,
    /// The vault snapshot, once committed.
    pub snapshot_id: Option<String>,
    /// Runs that ended in failure so far.
    pub attempts: u32,
    pub started_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRecord {
    pub id: String,
    pub org_id: String,
    pub backup_id: String,
    pub source_cloud_id: String,
    pub destination_cloud_id: String,
    pub product: Product,
    pub status: RestoreStatus,
    pub status_message: String,
    pub account_id: String,
    pub selections: Vec<Selection>,
    pub project_keys: Option<Vec<String>>,
    pub space_keys: Option<Vec<String>>,
    /// Single items to restore alone (extension): Jira issue keys, or Confluence page and blog
    /// post ids.
    pub item_keys: Option<Vec<String>>,
    pub progress: Option<Progress>,
    /// What it created, skipped and failed to write (extension).
    pub result: Option<RestoreSummary>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub kind: JobKind,
    /// The backup or restore this job runs.
    pub subject_id: String,
    pub org_id: String,
    pub state: JobState,
    pub available_at: Timestamp,
    /// Set by each claim; every later write by the worker must present it (fencing).
    pub lease_token: Option<String>,
    /// Claims so far.
    pub attempts: u32,
    pub checkpoint: Option<String>,
    pub cancel_requested: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What holds the lock of a (site, product) while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteLock {
    pub org_id: String,
    pub cloud_id: String,
    pub product: Product,
    pub holder_kind: JobKind,
    pub holder_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageFilter {
    pub org_id: String,
    pub cloud_id: Option<String>,
    pub product: Option<Product>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFilter {
    pub org_id: String,
    pub cloud_id: Option<String>,
    pub product: Option<Product>,
    pub status: Option<PolicyStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupFilter {
    pub org_id: String,
    pub policy_id: Option<String>,
    pub cloud_id: Option<String>,
    pub product: Option<Product>,
    pub status: Option<BackupStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreFilter {
    pub org_id: String,
    pub destination_cloud_id: Option<String>,
    pub status: Option<RestoreStatus>,
}

/// `details.backupDetails` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyBackupSummary {
    pub last_backup_time: Option<Timestamp>,
    pub total_available: u64,
}

/// What a backup produced, recorded when it ends well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupOutput {
    pub snapshot_id: String,
    pub users_size: u64,
    pub data_size: u64,
    pub attachments_size: u64,
    pub stats: Option<BackupStatsView>,
}

/// One move of a backup's life: what it sets. The statuses it may come from are given beside it
/// ([`crate::RunStore::move_backup`]), so the write is a compare-and-set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupChange {
    /// The new status; `None` keeps it (a message only, such as "Cancelling").
    pub status: Option<BackupStatus>,
    pub status_message: String,
    pub at: Timestamp,
    /// Sets `started_at` to `at` unless it is already set.
    pub start: bool,
    pub attempts: Option<u32>,
    pub progress: Option<Progress>,
    pub output: Option<BackupOutput>,
}

/// One move of a restore's life, as [`BackupChange`] for a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreChange {
    pub status: Option<RestoreStatus>,
    pub status_message: String,
    pub at: Timestamp,
    pub progress: Option<Progress>,
    pub result: Option<RestoreSummary>,
}

/// What a move did besides changing the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// The move ended the run and released the (site, product) lock it held, in the same
    /// transaction.
    pub lock_released: bool,
}

impl BackupStatus {
    /// The run is over: its site lock is released when it gets here.
    pub fn is_final(self) -> bool {
        !self.in_flight()
    }
}

impl RestoreStatus {
    pub fn is_final(self) -> bool {
        !self.in_flight()
    }
}

/// What changing an organization's retention lock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionLockChange {
    /// The lock is now the value asked for; it was `previous`.
    Changed { previous: u32 },
    /// Only a raise was allowed and the value asked for is below the lock, which stays `current`.
    Refused { current: u32 },
    /// There is no such organization.
    NoOrg,
}
