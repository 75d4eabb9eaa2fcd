//! The Backup Management API's shapes (spec sections 2 and 5), with Atlassian's schema and field
//! names where Atlassian has them.

use std::borrow::Cow;

use cairn_control::management::{
    BackupStatsView, PolicyView, Progress, ScheduleInput, SiteTraffic,
};
use cairn_control::schedule::slot_text;
use cairn_store::{
    BackupRecord, Product as StoreProduct, RestoreRecord, SiteRecord, StorageRecord, StorageType,
    Timestamp,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::timestamp;
use crate::body::nullable;

/// Wraps a store enum so it goes on the wire as its literal, is parsed exactly (spec section 1:
/// a bad literal is a 400 naming the field), and shows in the OpenAPI document as an enum of the
/// same literals. The literals themselves live in one place, the store's enum.
macro_rules! wire_enum {
    ($wire:ident, $store:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $wire(pub $store);

        impl Serialize for $wire {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $wire {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$store>::parse(&text).map($wire).ok_or_else(|| {
                    D::Error::custom(format!("{text:?} is not one of {}", <$store>::literals()))
                })
            }
        }

        impl utoipa::PartialSchema for $wire {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($doc))
                    .enum_values(Some(<$store>::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }

        impl ToSchema for $wire {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($wire))
            }
        }
    };
}

wire_enum!(Product, cairn_store::Product, "A product of a site.");
wire_enum!(
    BackupStatus,
    cairn_store::BackupStatus,
    "Where a backup is in its life."
);
wire_enum!(
    RestoreStatus,
    cairn_store::RestoreStatus,
    "Where a restore is in its life."
);
wire_enum!(
    PolicyStatus,
    cairn_store::PolicyStatus,
    "Whether a policy's schedule runs."
);
wire_enum!(
    Selection,
    cairn_store::Selection,
    "What a backup holds besides the product data."
);
wire_enum!(
    Interval,
    cairn_store::Interval,
    "How often a scheduled policy runs."
);

fn ts(t: Timestamp) -> String {
    timestamp(t)
}

/// Sizes of a backup in bytes (decided: integers), and the total in GB (10^9) rounded up.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSize {
    pub users_size: u64,
    pub data_size: u64,
    pub attachments_size: u64,
    #[serde(rename = "totalBackupSizeInGB")]
    pub total_backup_size_in_gb: u64,
}

/// (extension) What work in flight is doing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkProgress {
    /// `LISTING`, `DOWNLOADING`, `STORING`, `COMMITTING` or `DONE`.
    pub phase: String,
    pub items_done: u64,
    /// Null while unknown.
    pub items_total: Option<u64>,
    pub bytes_done: u64,
    /// The run's requests to the Atlassian site and the rate limits they met (absent until the
    /// engine has said).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_traffic: Option<SiteTrafficProgress>,
}

/// (extension) A run's requests to its Atlassian site.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteTrafficProgress {
    /// HTTP requests sent (every attempt).
    pub requests: u64,
    /// Requests waiting on one of the site's rate-limit budgets now.
    pub requests_waiting: u64,
    /// 429 answers by the budget the site named: `burst` (one endpoint and method),
    /// `issueWrite` (one issue), `tenantQuota` (the site's quota), `unspecified` (no reason).
    pub rate_limited: RateLimitedBy,
    /// The bound on requests in flight now (adaptive, at most the site concurrency setting).
    pub concurrency: u64,
    /// Time requests waited on rate-limit budgets, in total.
    pub budget_wait_ms: u64,
}

/// (extension) 429 answers by reason.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitedBy {
    pub burst: u64,
    pub issue_write: u64,
    pub tenant_quota: u64,
    pub unspecified: u64,
}

impl From<SiteTraffic> for SiteTrafficProgress {
    fn from(t: SiteTraffic) -> Self {
        SiteTrafficProgress {
            requests: t.requests,
            requests_waiting: t.requests_waiting,
            rate_limited: RateLimitedBy {
                burst: t.rate_limited.burst,
                issue_write: t.rate_limited.issue_write,
                tenant_quota: t.rate_limited.tenant_quota,
                unspecified: t.rate_limited.unspecified,
            },
            concurrency: t.concurrency,
            budget_wait_ms: t.budget_wait_ms,
        }
    }
}

impl From<Progress> for WorkProgress {
    fn from(p: Progress) -> Self {
        WorkProgress {
            phase: serde_json::to_value(p.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            items_done: p.items_done,
            items_total: p.items_total,
            bytes_done: p.bytes_done,
            site_traffic: p.site_traffic.map(SiteTrafficProgress::from),
        }
    }
}

/// (extension) What a finished backup cost.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStats {
    /// Bytes added to the storage, after deduplication and compression.
    pub new_bytes_stored: u64,
    pub items_changed: u64,
    pub items_unchanged: u64,
    pub duration_ms: u64,
}

impl From<BackupStatsView> for BackupStats {
    fn from(s: BackupStatsView) -> Self {
        BackupStats {
            new_bytes_stored: s.new_bytes_stored,
            items_changed: s.items_changed,
            items_unchanged: s.items_unchanged,
            duration_ms: s.duration_ms,
        }
    }
}

/// One backup (spec 2.1).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiBackupV2 {
    pub backup_id: String,
    /// `<policyName> <createdAt date>`.
    pub name: String,
    pub cloud_id: String,
    pub product: Product,
    pub status: BackupStatus,
    /// For a person; on INCOMPLETE it says what is missing.
    pub status_message: String,
    /// Who started it (for scheduled runs: who activated the policy).
    pub account_id: String,
    pub expiry_time: String,
    pub selections: Vec<Selection>,
    pub backup_size: BackupSize,
    pub created_at: String,
    pub last_updated_at: String,
    pub storage_id: String,
    /// `SERVICE_MANAGED` or `CUSTOMER_MANAGED`.
    pub encryption_type: String,
    /// (extension)
    pub policy_id: String,
    /// (extension) Null when nothing is running.
    pub progress: Option<WorkProgress>,
    /// (extension) Null until the backup has finished.
    pub stats: Option<BackupStats>,
}

impl From<BackupRecord> for PublicApiBackupV2 {
    fn from(b: BackupRecord) -> Self {
        let total = b.users_size + b.data_size + b.attachments_size;
        PublicApiBackupV2 {
            progress: b.progress.map(WorkProgress::from),
            stats: b.stats.map(BackupStats::from),
            backup_id: b.id,
            name: b.name,
            cloud_id: b.cloud_id,
            product: Product(b.product),
            status: BackupStatus(b.status),
            status_message: b.status_message,
            account_id: b.account_id,
            expiry_time: ts(b.expiry_at),
            selections: b.selections.into_iter().map(Selection).collect(),
            backup_size: BackupSize {
                users_size: b.users_size,
                data_size: b.data_size,
                attachments_size: b.attachments_size,
                total_backup_size_in_gb: total.div_ceil(1_000_000_000),
            },
            created_at: ts(b.created_at),
            last_updated_at: ts(b.updated_at),
            storage_id: b.storage_id,
            encryption_type: b.encryption_type,
            policy_id: b.policy_id,
        }
    }
}

/// A list of backups (Atlassian's `PublicApiBackupV2Response`): a page and the count of all.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiBackupV2Response {
    pub backups: Vec<PublicApiBackupV2>,
    pub total_items: u64,
}

/// `cloudInfo` of a policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudInfo {
    pub cloud_id: String,
    pub cloud_url: Option<String>,
    pub cloud_name: Option<String>,
    /// The site's: `ATLASSIAN_MANAGED` or `CMK`.
    pub encryption_type: Option<String>,
}

/// `details.backupDetails` of a policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupDetails {
    /// The last COMPLETED or INCOMPLETE backup's creation time; null if none.
    pub last_backup_time: Option<String>,
    /// Backups not expired.
    pub total_available_backups: u64,
}

/// `details.scheduleDetails` of a policy.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDetails {
    pub interval: Interval,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// Server-assigned, `HH:MM` UTC.
    pub schedule_slot: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyDetails {
    /// Present when asked for with `storageDetails=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
    /// Present when asked for with `backupDetails=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_details: Option<BackupDetails>,
    /// Present whenever the policy has a schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_details: Option<ScheduleDetails>,
}

/// One policy (Atlassian's `PublicApiGetBackupPolicyV2Response`, spec 2.2).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiGetBackupPolicyV2Response {
    pub policy_id: String,
    pub policy_name: String,
    pub cloud_info: CloudInfo,
    pub product_type: Product,
    pub status: PolicyStatus,
    pub include_attachments: bool,
    /// Only matters for Confluence.
    pub include_personal_spaces: bool,
    pub include_users_and_groups: bool,
    pub details: PolicyDetails,
    pub created_at: String,
    /// An accountId.
    pub created_by: String,
    /// (extension) 1..3650.
    pub retention_days: u32,
}

impl PublicApiGetBackupPolicyV2Response {
    pub fn from_view(view: PolicyView, storage_details: bool) -> Self {
        let p = view.policy;
        PublicApiGetBackupPolicyV2Response {
            cloud_info: CloudInfo {
                cloud_id: p.cloud_id.clone(),
                cloud_url: view.site.as_ref().map(|s| s.cloud_url.clone()),
                cloud_name: view.site.as_ref().map(|s| s.cloud_name.clone()),
                encryption_type: view.site.as_ref().map(|s| s.encryption_type.clone()),
            },
            details: PolicyDetails {
                storage_id: storage_details.then(|| p.storage_id.clone()),
                backup_details: view.backups.map(|b| BackupDetails {
                    last_backup_time: b.last_backup_time.map(ts),
                    total_available_backups: b.total_available,
                }),
                schedule_details: p.schedule.map(|s| ScheduleDetails {
                    interval: Interval(s.interval),
                    start_date: s.start_date.format("%Y-%m-%d").to_string(),
                    schedule_slot: slot_text(s.slot_minute),
                }),
            },
            policy_id: p.id,
            policy_name: p.name,
            product_type: Product(p.product),
            status: PolicyStatus(p.status),
            include_attachments: p.include_attachments,
            include_personal_spaces: p.include_personal_spaces,
            include_users_and_groups: p.include_users,
            created_at: ts(p.created_at),
            created_by: p.created_by,
            retention_days: p.retention_days,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiBackupPolicyListV2Response {
    pub policies: Vec<PublicApiGetBackupPolicyV2Response>,
    pub total_items: u64,
}

/// `scheduleDetails` of a request: the server assigns the slot.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequest {
    pub interval: Interval,
    /// `YYYY-MM-DD`: the first day a run may happen.
    #[schema(value_type = String, format = Date)]
    #[serde(deserialize_with = "date")]
    pub start_date: chrono::NaiveDate,
}

/// A date as the spec writes it, exactly `YYYY-MM-DD` (spec 1).
fn date<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::NaiveDate, D::Error> {
    cairn_control::schedule::parse_date(&String::deserialize(d)?).map_err(D::Error::custom)
}

impl From<ScheduleRequest> for ScheduleInput {
    fn from(s: ScheduleRequest) -> Self {
        ScheduleInput {
            interval: s.interval.0,
            start_date: s.start_date,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiCreateBackupPolicyV2Request {
    pub policy_name: String,
    pub cloud_id: String,
    pub product_type: Product,
    /// Default true.
    pub include_attachments: Option<bool>,
    /// Default false.
    pub include_users_and_groups: Option<bool>,
    /// Default false; only matters for Confluence.
    pub include_personal_spaces: Option<bool>,
    /// Default: the org's built-in storage.
    pub storage_id: Option<String>,
    /// No schedule: backups run only on demand.
    pub schedule_details: Option<ScheduleRequest>,
    /// (extension) 1..3650, default 30.
    pub retention_days: Option<u32>,
    /// (extension) Activate at once (default false: policies are created INACTIVE).
    pub activate: Option<bool>,
}

/// A partial update: any field of create but `cloudId` and `productType`. `scheduleDetails: null`
/// removes the schedule, which deactivates the policy.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiUpdateBackupPolicyV2Request {
    pub policy_name: Option<String>,
    pub include_attachments: Option<bool>,
    pub include_users_and_groups: Option<bool>,
    pub include_personal_spaces: Option<bool>,
    pub storage_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ScheduleRequest>)]
    pub schedule_details: Option<Option<ScheduleRequest>>,
    pub retention_days: Option<u32>,
}

/// One restore (spec 2.3).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiRestoreV2 {
    pub restore_id: String,
    pub backup_id: String,
    pub source_cloud_id: String,
    pub destination_cloud_id: String,
    pub product: Product,
    pub status: RestoreStatus,
    pub status_message: String,
    pub account_id: String,
    pub selections: Vec<Selection>,
    /// (extension) Only these projects (Jira), or null for all.
    pub project_keys: Option<Vec<String>>,
    /// (extension) Only these spaces (Confluence), or null for all.
    pub space_keys: Option<Vec<String>>,
    /// (extension) Only these issues (Jira), with their sub-tasks, or null.
    pub issue_keys: Option<Vec<String>>,
    /// (extension) Only these pages and blog posts (Confluence), or null.
    pub page_ids: Option<Vec<String>>,
    pub created_at: String,
    pub last_updated_at: String,
    /// (extension)
    pub progress: Option<WorkProgress>,
    /// (extension) Null until the restore has finished.
    pub result: Option<RestoreResultBody>,
}

/// (extension) What a restore created, skipped, and could not create.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreResultBody {
    /// Counts by kind (`project`, `issue`, `space`, `page`, ...).
    pub created: std::collections::BTreeMap<String, u64>,
    pub skipped: std::collections::BTreeMap<String, u64>,
    pub failed: Vec<RestoreFailure>,
    /// Items left out on purpose, each with why (what the destination's API cannot write);
    /// each is also counted in `skipped`.
    #[serde(rename = "skippedItems")]
    pub skipped_items: Vec<RestoreSkip>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSkip {
    pub kind: String,
    pub source_id: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreFailure {
    pub kind: String,
    pub source_id: String,
    pub message: String,
}

impl From<RestoreRecord> for PublicApiRestoreV2 {
    fn from(r: RestoreRecord) -> Self {
        PublicApiRestoreV2 {
            progress: r.progress.map(WorkProgress::from),
            result: r.result.map(|s| RestoreResultBody {
                created: s.created,
                skipped: s.skipped,
                failed: s
                    .failed
                    .into_iter()
                    .map(|f| RestoreFailure {
                        kind: f.kind,
                        source_id: f.source_id,
                        message: f.message,
                    })
                    .collect(),
                skipped_items: s
                    .skipped_items
                    .into_iter()
                    .map(|k| RestoreSkip {
                        kind: k.kind,
                        source_id: k.source_id,
                        reason: k.reason,
                    })
                    .collect(),
            }),
            restore_id: r.id,
            backup_id: r.backup_id,
            source_cloud_id: r.source_cloud_id,
            destination_cloud_id: r.destination_cloud_id,
            product: Product(r.product),
            status: RestoreStatus(r.status),
            status_message: r.status_message,
            account_id: r.account_id,
            selections: r.selections.into_iter().map(Selection).collect(),
            project_keys: r.project_keys,
            space_keys: r.space_keys,
            issue_keys: r
                .item_keys
                .clone()
                .filter(|_| r.product == StoreProduct::Jira),
            page_ids: r
                .item_keys
                .filter(|_| r.product == StoreProduct::Confluence),
            created_at: ts(r.created_at),
            last_updated_at: ts(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiRestoreListV2Response {
    pub restores: Vec<PublicApiRestoreV2>,
    pub total_items: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiCreateRestoreV2Request {
    pub backup_id: String,
    pub destination_cloud_id: String,
    /// Default: what the backup holds.
    pub include_attachments: Option<bool>,
    pub include_users_and_groups: Option<bool>,
    pub include_personal_spaces: Option<bool>,
    /// (extension) Restore only these Jira projects, into any site where they do not exist yet.
    pub project_keys: Option<Vec<String>>,
    /// (extension) Restore only these Confluence spaces.
    pub space_keys: Option<Vec<String>>,
    /// (extension) Restore only these Jira issues (keys as in the backup, e.g. `PROJ-12`), each
    /// with its sub-tasks, into the project of the same key in the destination. Not with
    /// `projectKeys`.
    pub issue_keys: Option<Vec<String>>,
    /// (extension) Restore only these Confluence pages and blog posts (ids as in the backup),
    /// into the space of the same key in the destination. Not with `spaceKeys`.
    pub page_ids: Option<Vec<String>>,
}

/// One storage (spec 2.4; Atlassian's field names from v1).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiStorageV2 {
    pub storage_id: String,
    /// The bucket; `builtin` for the built-in storage.
    pub storage_name: String,
    pub storage_region: Option<String>,
    pub storage_prefix: Option<String>,
    /// `BUILTIN` or `S3` (v1: `aws` for S3).
    pub storage_type: String,
    pub role_identifier: Option<String>,
    pub principal_tag: Option<String>,
    pub cloud_id: Option<String>,
    /// (extension) Only this product's backups, or null for any.
    pub product: Option<Product>,
    pub created_at: String,
    /// (extension) An S3-compatible endpoint URL; null for AWS or the built-in storage.
    pub endpoint: Option<String>,
    /// (extension) `CONNECTED` or `UNREACHABLE`.
    pub status: String,
    /// `SERVICE_MANAGED` or `CUSTOMER_MANAGED`.
    pub encryption_type: String,
}

impl PublicApiStorageV2 {
    /// `v1` names S3 storages `aws`, as Atlassian's v1 did.
    pub fn from_record(s: StorageRecord, v1: bool) -> Self {
        let storage_type = match (s.storage_type, v1) {
            (StorageType::S3, true) => "aws".to_string(),
            (t, _) => t.as_str().to_string(),
        };
        PublicApiStorageV2 {
            storage_id: s.id,
            storage_name: s.bucket,
            storage_region: s.region,
            storage_prefix: s.prefix,
            storage_type,
            role_identifier: s.role_identifier,
            principal_tag: s.principal_tag,
            cloud_id: s.cloud_id,
            product: s.product.map(Product),
            created_at: ts(s.created_at),
            endpoint: s.endpoint,
            status: s.status.as_str().to_string(),
            encryption_type: s.encryption_type,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiStorageListV2Response {
    pub storages: Vec<PublicApiStorageV2>,
    pub total_items: u64,
}

/// Connect an external storage. The secret key is never returned.
/// (No `Debug`: it carries a secret key.)
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiCreateStorageV2Request {
    /// The bucket.
    pub storage_name: String,
    pub storage_region: String,
    pub storage_prefix: Option<String>,
    /// `S3` (v2) or `aws` (v1); default S3.
    pub storage_type: Option<String>,
    pub role_identifier: Option<String>,
    pub principal_tag: Option<String>,
    pub cloud_id: Option<String>,
    pub product: Option<Product>,
    /// (extension) An S3-compatible endpoint, e.g. `https://s3.example.net`.
    pub endpoint: Option<String>,
    /// (extension)
    pub access_key_id: Option<String>,
    /// (extension) Accepted here, never returned.
    pub secret_access_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicApiStorageRegionsResponse {
    pub regions: Vec<String>,
}

/// `products[]` of a site.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteProductBody {
    pub product_type: Product,
    /// As found when the site was registered.
    pub is_empty: bool,
}

/// (extension) A registered site (spec 2.5). The credential is never returned.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiSiteV2 {
    pub cloud_id: String,
    pub cloud_url: String,
    pub cloud_name: String,
    pub encryption_type: String,
    pub products: Vec<SiteProductBody>,
    /// The account whose API token Cairn uses (not secret).
    pub email: String,
    pub created_at: String,
}

impl From<SiteRecord> for PublicApiSiteV2 {
    fn from(s: SiteRecord) -> Self {
        PublicApiSiteV2 {
            cloud_id: s.cloud_id,
            cloud_url: s.cloud_url,
            cloud_name: s.cloud_name,
            encryption_type: s.encryption_type,
            products: s
                .products
                .into_iter()
                .map(|p| SiteProductBody {
                    product_type: Product(p.product),
                    is_empty: p.is_empty,
                })
                .collect(),
            email: s.account_email,
            created_at: ts(s.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiSiteListV2Response {
    pub sites: Vec<PublicApiSiteV2>,
    pub total_items: u64,
}

/// Register a site: Cairn checks the credential against the site before saving it.
/// (No `Debug`: it carries the API token.)
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicApiRegisterSiteV2Request {
    /// e.g. `https://acme.atlassian.net`.
    pub cloud_url: String,
    pub email: String,
    /// Stored encrypted; never returned or logged.
    pub api_token: String,
    pub cloud_name: Option<String>,
}

/// (extension) What an entry of a backup's snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum BackupContentKind {
    File,
    Directory,
}

/// (extension) One entry of a backup's snapshot.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupContentItem {
    /// The last component of `path`.
    pub name: String,
    /// The full path in the snapshot, e.g. `jira/projects/KEY/issues/10001.json`.
    pub path: String,
    pub kind: BackupContentKind,
    /// Bytes of a file.
    pub size: u64,
    /// The entry's attributes as the backup wrote them, e.g. `updated`.
    pub attrs: std::collections::BTreeMap<String, String>,
}

impl From<cairn_control::management::ContentEntry> for BackupContentItem {
    fn from(e: cairn_control::management::ContentEntry) -> Self {
        BackupContentItem {
            name: e.name().to_string(),
            kind: match e.kind {
                cairn_control::management::ContentKind::File => BackupContentKind::File,
                cairn_control::management::ContentKind::Directory => BackupContentKind::Directory,
            },
            size: e.size,
            path: e.path,
            attrs: e.attrs,
        }
    }
}

/// (extension) A page of the entries of one directory of a backup's snapshot.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupContentsResponse {
    /// The directory listed; `""` is the snapshot's root.
    pub path: String,
    pub items: Vec<BackupContentItem>,
    pub total_items: u64,
}

/// (extension) A body of raw bytes (a file of a backup, an export archive), in the OpenAPI
/// document as a binary string.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl ToSchema for Binary {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Binary")
    }
}

/// (extension) An organization's settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgSettingsV2 {
    /// No backup of the organization expires before its `createdAt` plus this many days,
    /// whatever its policy says (0: no lock). The API can only raise it.
    pub retention_lock_days: u32,
}

impl From<cairn_control::management::OrgSettings> for OrgSettingsV2 {
    fn from(s: cairn_control::management::OrgSettings) -> Self {
        OrgSettingsV2 {
            retention_lock_days: s.retention_lock_days,
        }
    }
}

/// (extension) A change of an organization's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrgSettingsV2Request {
    /// The new retention lock, 0 to 3650 days; below the current lock is refused (409).
    pub retention_lock_days: u32,
}
