//! The Backup Management stores on SQL (sites, storages, policies, backups, restores, locks and
//! jobs): the columns and row mappings they share here, one file per store trait.

mod jobs;
mod policies;
mod retention;
mod runs;
mod sites;
mod storages;

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Bind, Conditions, SqlStore, millis, opt_time_col, time_col};
use crate::{
    BackupChange, BackupFilter, BackupRecord, BackupStatus, Interval, JobKind, JobQueueStore,
    JobRecord, JobState, Moved, Page, PageQuery, PolicyBackupSummary, PolicyFilter, PolicyRecord,
    PolicyStatus, PolicyStore, Product, Progress, RestoreChange, RestoreFilter, RestoreRecord,
    RestoreStatus, RetentionLockChange, RetentionLockStore, RunStore, ScheduleRecord, Selection,
    SiteLock, SiteProduct, SiteRecord, SiteStore, StorageFilter, StorageRecord, StorageStatus,
    StorageStore, StorageType, StoreError, StoreResult, Timestamp,
};

const SITE_COLS: &str = "org_id, cloud_id, cloud_url, cloud_name, encryption_type, products, \
     account_email, sealed_token, created_at, created_by";
const STORAGE_COLS: &str = "id, org_id, storage_type, bucket, region, prefix, role_identifier, \
     principal_tag, cloud_id, product, endpoint, access_key_id, sealed_secret, encryption_type, \
     status, created_at";
const POLICY_COLS: &str = "id, org_id, name, cloud_id, product, status, include_attachments, \
     include_personal_spaces, include_users, storage_id, schedule_interval, schedule_start_date, \
     schedule_slot, next_run_at, retention_days, activated_by, created_at, created_by, updated_at";
const BACKUP_COLS: &str = "id, org_id, policy_id, name, cloud_id, product, status, status_message, \
     account_id, storage_id, encryption_type, selections, expiry_at, users_size, data_size, \
     attachments_size, progress, stats, snapshot_id, attempts, started_at, created_at, updated_at";
const RESTORE_COLS: &str = "id, org_id, backup_id, source_cloud_id, destination_cloud_id, product, \
     status, status_message, account_id, selections, project_keys, space_keys, progress, result, \
     created_at, updated_at, item_keys";
const JOB_COLS: &str = "id, kind, subject_id, org_id, state, available_at, lease_token, attempts, \
     checkpoint, cancel_requested, created_at, updated_at";

/// Reads a literal column through its enum's parser.
fn literal<T>(row: &AnyRow, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let text: String = row.try_get(col)?;
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{col} holds unknown value {text:?}")))
}

/// A JSON column (progress, stats, result) as its type: absent stays absent, and text this
/// version cannot read is `Corrupt`, never dropped as if absent.
fn json_col<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> StoreResult<Option<T>> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| StoreError::Corrupt(format!("{col} holds unreadable JSON: {e}")))
    })
    .transpose()
}

/// The one serialisation of the JSON columns.
fn json_text<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn opt_json_text<T: serde::Serialize>(value: &Option<T>) -> StoreResult<Option<String>> {
    value.as_ref().map(json_text).transpose()
}

fn flag(row: &AnyRow, col: &str) -> StoreResult<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

fn count(row: &AnyRow, col: &str) -> StoreResult<u64> {
    let n: i64 = row.try_get(col)?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{col} is negative")))
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn join_literals<T: Copy>(items: &[T], as_str: fn(T) -> &'static str) -> String {
    items
        .iter()
        .map(|i| as_str(*i))
        .collect::<Vec<_>>()
        .join(",")
}

fn selections_col(row: &AnyRow, col: &str) -> StoreResult<Vec<Selection>> {
    let text: String = row.try_get(col)?;
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            Selection::parse(s)
                .ok_or_else(|| StoreError::Corrupt(format!("{col} holds unknown value {s:?}")))
        })
        .collect()
}

/// Keys (project or space) are letters, digits and underscores, so a comma separates them safely.
fn keys_text(keys: &Option<Vec<String>>) -> Option<String> {
    keys.as_ref().map(|k| k.join(","))
}

fn keys_col(row: &AnyRow, col: &str) -> StoreResult<Option<Vec<String>>> {
    let text: Option<String> = row.try_get(col)?;
    Ok(text.map(|t| {
        t.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }))
}

fn products_text(products: &[SiteProduct]) -> String {
    products
        .iter()
        .map(|p| format!("{}:{}", p.product.as_str(), u8::from(p.is_empty)))
        .collect::<Vec<_>>()
        .join(",")
}

fn site_from(row: &AnyRow) -> StoreResult<SiteRecord> {
    let products_text: String = row.try_get("products")?;
    let products = products_text
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, empty) = item.split_once(':').unwrap_or((item, "0"));
            Product::parse(name)
                .map(|product| SiteProduct {
                    product,
                    is_empty: empty == "1",
                })
                .ok_or_else(|| StoreError::Corrupt(format!("unknown product {name:?}")))
        })
        .collect::<StoreResult<_>>()?;
    Ok(SiteRecord {
        org_id: row.try_get("org_id")?,
        cloud_id: row.try_get("cloud_id")?,
        cloud_url: row.try_get("cloud_url")?,
        cloud_name: row.try_get("cloud_name")?,
        encryption_type: row.try_get("encryption_type")?,
        products,
        account_email: row.try_get("account_email")?,
        sealed_token: row.try_get("sealed_token")?,
        created_at: time_col(row, "created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

fn storage_from(row: &AnyRow) -> StoreResult<StorageRecord> {
    let product: Option<String> = row.try_get("product")?;
    Ok(StorageRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        storage_type: literal(row, "storage_type", StorageType::parse)?,
        bucket: row.try_get("bucket")?,
        region: row.try_get("region")?,
        prefix: row.try_get("prefix")?,
        role_identifier: row.try_get("role_identifier")?,
        principal_tag: row.try_get("principal_tag")?,
        cloud_id: row.try_get("cloud_id")?,
        product: product.as_deref().and_then(Product::parse),
        endpoint: row.try_get("endpoint")?,
        access_key_id: row.try_get("access_key_id")?,
        sealed_secret: row.try_get("sealed_secret")?,
        encryption_type: row.try_get("encryption_type")?,
        status: literal(row, "status", StorageStatus::parse)?,
        created_at: time_col(row, "created_at")?,
    })
}

fn policy_from(row: &AnyRow) -> StoreResult<PolicyRecord> {
    let interval: Option<String> = row.try_get("schedule_interval")?;
    let schedule = match interval {
        None => None,
        Some(interval) => {
            let start: String = row.try_get("schedule_start_date")?;
            let slot: i64 = row.try_get("schedule_slot")?;
            Some(ScheduleRecord {
                interval: Interval::parse(&interval)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown interval {interval:?}")))?,
                start_date: NaiveDate::parse_from_str(&start, "%Y-%m-%d")
                    .map_err(|_| StoreError::Corrupt(format!("bad start date {start:?}")))?,
                slot_minute: u16::try_from(slot)
                    .ok()
                    .filter(|m| *m < 1440)
                    .ok_or_else(|| StoreError::Corrupt(format!("bad slot {slot}")))?,
            })
        }
    };
    let retention: i64 = row.try_get("retention_days")?;
    Ok(PolicyRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        cloud_id: row.try_get("cloud_id")?,
        product: literal(row, "product", Product::parse)?,
        status: literal(row, "status", PolicyStatus::parse)?,
        include_attachments: flag(row, "include_attachments")?,
        include_personal_spaces: flag(row, "include_personal_spaces")?,
        include_users: flag(row, "include_users")?,
        storage_id: row.try_get("storage_id")?,
        schedule,
        next_run_at: opt_time_col(row, "next_run_at")?,
        retention_days: u32::try_from(retention)
            .map_err(|_| StoreError::Corrupt(format!("bad retention {retention}")))?,
        activated_by: row.try_get("activated_by")?,
        created_at: time_col(row, "created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

fn backup_from(row: &AnyRow) -> StoreResult<BackupRecord> {
    Ok(BackupRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        policy_id: row.try_get("policy_id")?,
        name: row.try_get("name")?,
        cloud_id: row.try_get("cloud_id")?,
        product: literal(row, "product", Product::parse)?,
        status: literal(row, "status", BackupStatus::parse)?,
        status_message: row.try_get("status_message")?,
        account_id: row.try_get("account_id")?,
        storage_id: row.try_get("storage_id")?,
        encryption_type: row.try_get("encryption_type")?,
        selections: selections_col(row, "selections")?,
        expiry_at: time_col(row, "expiry_at")?,
        users_size: count(row, "users_size")?,
        data_size: count(row, "data_size")?,
        attachments_size: count(row, "attachments_size")?,
        progress: json_col(row, "progress")?,
        stats: json_col(row, "stats")?,
        snapshot_id: row.try_get("snapshot_id")?,
        attempts: u32::try_from(count(row, "attempts")?).unwrap_or(u32::MAX),
        started_at: opt_time_col(row, "started_at")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

fn restore_from(row: &AnyRow) -> StoreResult<RestoreRecord> {
    Ok(RestoreRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        backup_id: row.try_get("backup_id")?,
        source_cloud_id: row.try_get("source_cloud_id")?,
        destination_cloud_id: row.try_get("destination_cloud_id")?,
        product: literal(row, "product", Product::parse)?,
        status: literal(row, "status", RestoreStatus::parse)?,
        status_message: row.try_get("status_message")?,
        account_id: row.try_get("account_id")?,
        selections: selections_col(row, "selections")?,
        project_keys: keys_col(row, "project_keys")?,
        space_keys: keys_col(row, "space_keys")?,
        item_keys: keys_col(row, "item_keys")?,
        progress: json_col(row, "progress")?,
        result: json_col(row, "result")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

fn job_from(row: &AnyRow) -> StoreResult<JobRecord> {
    Ok(JobRecord {
        id: row.try_get("id")?,
        kind: literal(row, "kind", JobKind::parse)?,
        subject_id: row.try_get("subject_id")?,
        org_id: row.try_get("org_id")?,
        state: literal(row, "state", JobState::parse)?,
        available_at: time_col(row, "available_at")?,
        lease_token: row.try_get("lease_token")?,
        attempts: u32::try_from(count(row, "attempts")?).unwrap_or(u32::MAX),
        checkpoint: row.try_get("checkpoint")?,
        cancel_requested: flag(row, "cancel_requested")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_job<'q>(q: AnyQuery<'q>, j: &'q JobRecord) -> AnyQuery<'q> {
    q.bind(&j.id)
        .bind(j.kind.as_str())
        .bind(&j.subject_id)
        .bind(&j.org_id)
        .bind(j.state.as_str())
        .bind(millis(j.available_at))
        .bind(j.lease_token.as_deref())
        .bind(i64::from(j.attempts))
        .bind(j.checkpoint.as_deref())
        .bind(i64::from(j.cancel_requested))
        .bind(millis(j.created_at))
        .bind(millis(j.updated_at))
}

const INSERT_JOB: &str = "INSERT INTO jobs (id, kind, subject_id, org_id, state, available_at, \
     lease_token, attempts, checkpoint, cancel_requested, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const INSERT_LOCK: &str = "INSERT INTO site_locks (org_id, cloud_id, product, holder_kind, \
     holder_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

fn bind_lock<'q>(q: AnyQuery<'q>, l: &'q SiteLock, now: Timestamp) -> AnyQuery<'q> {
    q.bind(&l.org_id)
        .bind(&l.cloud_id)
        .bind(l.product.as_str())
        .bind(l.holder_kind.as_str())
        .bind(&l.holder_id)
        .bind(millis(now))
}

/// Milliseconds per day, to compare a retention lock in days with the millisecond columns.
const DAY_MILLIS: i64 = 86_400_000;

/// The condition that a backup's creation plus its org's retention lock is at or before `$1`:
/// past the lock, whatever its `expiry_at` says (the expiry job checks both).
fn past_retention_lock(now_param: &str) -> String {
    format!(
        "created_at + (SELECT retention_lock_days FROM orgs WHERE orgs.id = backups.org_id) \
         * {DAY_MILLIS} <= {now_param}"
    )
}

/// Statuses that keep a backup's data (not yet expired or failed).
const KEPT_BACKUP_STATUSES: &str = "('COMPLETED', 'INCOMPLETE')";
const IN_FLIGHT_BACKUP_STATUSES: &str = "('CREATED', 'IN_PROGRESS')";

impl SqlStore {
    async fn fetch_one_by<T>(
        &self,
        sql: String,
        binds: &[&str],
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(map)
            .transpose()
    }
}

fn bind_policy<'q>(q: AnyQuery<'q>, p: &'q PolicyRecord) -> AnyQuery<'q> {
    q.bind(&p.id)
        .bind(&p.org_id)
        .bind(&p.name)
        .bind(&p.cloud_id)
        .bind(p.product.as_str())
        .bind(p.status.as_str())
        .bind(i64::from(p.include_attachments))
        .bind(i64::from(p.include_personal_spaces))
        .bind(i64::from(p.include_users))
        .bind(&p.storage_id)
        .bind(p.schedule.map(|s| s.interval.as_str()))
        .bind(
            p.schedule
                .map(|s| s.start_date.format("%Y-%m-%d").to_string()),
        )
        .bind(p.schedule.map(|s| i64::from(s.slot_minute)))
        .bind(p.next_run_at.map(millis))
        .bind(i64::from(p.retention_days))
        .bind(p.activated_by.as_deref())
        .bind(millis(p.created_at))
        .bind(&p.created_by)
        .bind(millis(p.updated_at))
}

fn bind_backup<'q>(q: AnyQuery<'q>, b: &'q BackupRecord) -> StoreResult<AnyQuery<'q>> {
    Ok(q.bind(&b.id)
        .bind(&b.org_id)
        .bind(&b.policy_id)
        .bind(&b.name)
        .bind(&b.cloud_id)
        .bind(b.product.as_str())
        .bind(b.status.as_str())
        .bind(&b.status_message)
        .bind(&b.account_id)
        .bind(&b.storage_id)
        .bind(&b.encryption_type)
        .bind(join_literals(&b.selections, Selection::as_str))
        .bind(millis(b.expiry_at))
        .bind(int(b.users_size))
        .bind(int(b.data_size))
        .bind(int(b.attachments_size))
        .bind(opt_json_text(&b.progress)?)
        .bind(opt_json_text(&b.stats)?)
        .bind(b.snapshot_id.as_deref())
        .bind(i64::from(b.attempts))
        .bind(b.started_at.map(millis))
        .bind(millis(b.created_at))
        .bind(millis(b.updated_at)))
}
