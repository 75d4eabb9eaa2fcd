//! [`ManagementStore`] on SQL: sites, storages, policies, backups, restores, locks and jobs.

use async_trait::async_trait;
use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Bind, Conditions, SqlStore, millis, opt_time_col, time_col};
use crate::{
    BackupFilter, BackupRecord, BackupStatus, Interval, JobKind, JobRecord, JobState,
    ManagementStore, Page, PageQuery, PolicyBackupSummary, PolicyFilter, PolicyRecord,
    PolicyStatus, Product, RestoreFilter, RestoreRecord, RestoreStatus, ScheduleRecord, Selection,
    SiteLock, SiteProduct, SiteRecord, StorageFilter, StorageRecord, StorageStatus, StorageType,
    StoreError, StoreResult, Timestamp,
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
        progress: row.try_get("progress")?,
        stats: row.try_get("stats")?,
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
        progress: row.try_get("progress")?,
        result: row.try_get("result")?,
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

#[async_trait]
impl ManagementStore for SqlStore {
    async fn insert_site(&self, s: &SiteRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sites (org_id, cloud_id, cloud_url, cloud_name, encryption_type, products, \
             account_email, sealed_token, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&s.org_id)
        .bind(&s.cloud_id)
        .bind(&s.cloud_url)
        .bind(&s.cloud_name)
        .bind(&s.encryption_type)
        .bind(products_text(&s.products))
        .bind(&s.account_email)
        .bind(&s.sealed_token)
        .bind(millis(s.created_at))
        .bind(s.created_by.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "site"))?;
        Ok(())
    }

    async fn get_site(&self, org_id: &str, cloud_id: &str) -> StoreResult<Option<SiteRecord>> {
        self.fetch_one_by(
            format!("SELECT {SITE_COLS} FROM sites WHERE org_id = $1 AND cloud_id = $2"),
            &[org_id, cloud_id],
            site_from,
        )
        .await
    }

    async fn list_sites(&self, org_id: &str, page: PageQuery) -> StoreResult<Page<SiteRecord>> {
        let mut cond = Conditions::default();
        cond.push("org_id = $?", Bind::Text(org_id.into()));
        self.fetch_page("sites", SITE_COLS, "cloud_id", &cond, page, site_from)
            .await
    }

    async fn delete_site(&self, org_id: &str, cloud_id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        let used =
            sqlx::query("SELECT 1 FROM policies WHERE org_id = $1 AND cloud_id = $2 LIMIT 1")
                .bind(org_id)
                .bind(cloud_id)
                .fetch_optional(&mut *tx)
                .await?;
        if used.is_some() {
            return Err(StoreError::Conflict("policy"));
        }
        let done = sqlx::query("DELETE FROM sites WHERE org_id = $1 AND cloud_id = $2")
            .bind(org_id)
            .bind(cloud_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn ensure_builtin_storage(&self, c: &StorageRecord) -> StoreResult<StorageRecord> {
        let find = format!(
            "SELECT {STORAGE_COLS} FROM storages WHERE org_id = $1 AND storage_type = 'BUILTIN'"
        );
        if let Some(found) = self
            .fetch_one_by(find.clone(), &[&c.org_id], storage_from)
            .await?
        {
            return Ok(found);
        }
        match self.insert_storage(c).await {
            // Another node created it first; theirs is the one.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        self.fetch_one_by(find, &[&c.org_id], storage_from)
            .await?
            .ok_or_else(|| StoreError::Corrupt("built-in storage vanished".into()))
    }

    async fn insert_storage(&self, s: &StorageRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO storages (id, org_id, storage_type, bucket, region, prefix, \
             role_identifier, principal_tag, cloud_id, product, endpoint, access_key_id, \
             sealed_secret, encryption_type, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&s.id)
        .bind(&s.org_id)
        .bind(s.storage_type.as_str())
        .bind(&s.bucket)
        .bind(s.region.as_deref())
        .bind(s.prefix.as_deref())
        .bind(s.role_identifier.as_deref())
        .bind(s.principal_tag.as_deref())
        .bind(s.cloud_id.as_deref())
        .bind(s.product.map(Product::as_str))
        .bind(s.endpoint.as_deref())
        .bind(s.access_key_id.as_deref())
        .bind(s.sealed_secret.as_deref())
        .bind(&s.encryption_type)
        .bind(s.status.as_str())
        .bind(millis(s.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "storage"))?;
        Ok(())
    }

    async fn get_storage(&self, org_id: &str, id: &str) -> StoreResult<Option<StorageRecord>> {
        self.fetch_one_by(
            format!("SELECT {STORAGE_COLS} FROM storages WHERE org_id = $1 AND id = $2"),
            &[org_id, id],
            storage_from,
        )
        .await
    }

    async fn list_storages(
        &self,
        f: &StorageFilter,
        page: PageQuery,
    ) -> StoreResult<Page<StorageRecord>> {
        let mut cond = Conditions::default();
        cond.push("org_id = $?", Bind::Text(f.org_id.clone()));
        // A storage bound to no site or product serves every site and product.
        if let Some(cloud) = &f.cloud_id {
            cond.push(
                "(cloud_id IS NULL OR cloud_id = $?)",
                Bind::Text(cloud.clone()),
            );
        }
        if let Some(product) = f.product {
            cond.push(
                "(product IS NULL OR product = $?)",
                Bind::Text(product.as_str().into()),
            );
        }
        self.fetch_page("storages", STORAGE_COLS, "id", &cond, page, storage_from)
            .await
    }

    async fn delete_storage(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        // Another org's storage is not found, before anything is said about its use.
        let mine = sqlx::query("SELECT 1 FROM storages WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if mine.is_none() {
            return Ok(false);
        }
        let policy = sqlx::query("SELECT 1 FROM policies WHERE storage_id = $1 LIMIT 1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if policy.is_some() {
            return Err(StoreError::Conflict("policy"));
        }
        let backup = sqlx::query(
            "SELECT 1 FROM backups WHERE storage_id = $1 \
             AND status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED', 'INCOMPLETE') LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if backup.is_some() {
            return Err(StoreError::Conflict("backup"));
        }
        let done = sqlx::query(
            "DELETE FROM storages WHERE org_id = $1 AND id = $2 AND storage_type <> 'BUILTIN'",
        )
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_policy(&self, p: &PolicyRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO policies ({POLICY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        );
        bind_policy(sqlx::query(AssertSqlSafe(sql)), p)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "active policy"))?;
        Ok(())
    }

    async fn get_policy(&self, org_id: &str, id: &str) -> StoreResult<Option<PolicyRecord>> {
        self.fetch_one_by(
            format!("SELECT {POLICY_COLS} FROM policies WHERE org_id = $1 AND id = $2"),
            &[org_id, id],
            policy_from,
        )
        .await
    }

    async fn list_policies(
        &self,
        f: &PolicyFilter,
        page: PageQuery,
    ) -> StoreResult<Page<PolicyRecord>> {
        let mut cond = Conditions::default();
        cond.push("org_id = $?", Bind::Text(f.org_id.clone()));
        if let Some(cloud) = &f.cloud_id {
            cond.push("cloud_id = $?", Bind::Text(cloud.clone()));
        }
        if let Some(product) = f.product {
            cond.push("product = $?", Bind::Text(product.as_str().into()));
        }
        if let Some(status) = f.status {
            cond.push("status = $?", Bind::Text(status.as_str().into()));
        }
        self.fetch_page("policies", POLICY_COLS, "id", &cond, page, policy_from)
            .await
    }

    async fn update_policy(&self, p: &PolicyRecord) -> StoreResult<bool> {
        // Same column order as insert; the WHERE pins the id and org ($1, $2).
        let sql = "UPDATE policies SET name = $3, cloud_id = $4, product = $5, status = $6, \
             include_attachments = $7, include_personal_spaces = $8, include_users = $9, \
             storage_id = $10, schedule_interval = $11, schedule_start_date = $12, \
             schedule_slot = $13, next_run_at = $14, retention_days = $15, activated_by = $16, \
             created_at = $17, created_by = $18, updated_at = $19 WHERE id = $1 AND org_id = $2";
        let done = bind_policy(sqlx::query(sql), p)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "active policy"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_policy(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        // Another org's policy is not found, before anything is said about its backups.
        let mine = sqlx::query("SELECT 1 FROM policies WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if mine.is_none() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT 1 FROM backups WHERE policy_id = $1 AND status IN {IN_FLIGHT_BACKUP_STATUSES} LIMIT 1"
        );
        let running = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if running.is_some() {
            return Err(StoreError::Conflict("backup in flight"));
        }
        let active = sqlx::query(
            "SELECT 1 FROM policies WHERE org_id = $1 AND id = $2 AND status = 'ACTIVE'",
        )
        .bind(org_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_some() {
            return Err(StoreError::Conflict("active policy"));
        }
        let done = sqlx::query("DELETE FROM policies WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn advance_policy_schedule(
        &self,
        id: &str,
        expected: Timestamp,
        next: Option<Timestamp>,
        status: PolicyStatus,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE policies SET next_run_at = $1, status = $2 \
             WHERE id = $3 AND next_run_at = $4 AND status = 'ACTIVE'",
        )
        .bind(next.map(millis))
        .bind(status.as_str())
        .bind(id)
        .bind(millis(expected))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn due_policies(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<PolicyRecord>> {
        let sql = format!(
            "SELECT {POLICY_COLS} FROM policies WHERE next_run_at IS NOT NULL AND next_run_at <= $1 \
             AND status = 'ACTIVE' ORDER BY next_run_at LIMIT {limit}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(millis(now))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(policy_from).collect()
    }

    async fn schedule_slot_usage(&self) -> StoreResult<Vec<(u16, u64)>> {
        let rows = sqlx::query(
            "SELECT schedule_slot, COUNT(*) AS n FROM policies WHERE schedule_slot IS NOT NULL \
             GROUP BY schedule_slot ORDER BY schedule_slot",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let slot: i64 = r.try_get("schedule_slot")?;
                Ok((u16::try_from(slot).unwrap_or(0), count(r, "n")?))
            })
            .collect()
    }

    async fn policy_backup_summary(
        &self,
        policy_id: &str,
        now: Timestamp,
    ) -> StoreResult<PolicyBackupSummary> {
        let sql = format!(
            "SELECT MAX(created_at) AS last_at, COUNT(*) AS n FROM backups \
             WHERE policy_id = $1 AND status IN {KEPT_BACKUP_STATUSES} AND expiry_at > $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(policy_id)
            .bind(millis(now))
            .fetch_one(&self.pool)
            .await?;
        let last = sqlx::query(
            "SELECT MAX(created_at) AS last_at FROM backups WHERE policy_id = $1 \
             AND status IN ('COMPLETED', 'INCOMPLETE', 'EXPIRED')",
        )
        .bind(policy_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(PolicyBackupSummary {
            last_backup_time: opt_time_col(&last, "last_at")?,
            total_available: count(&row, "n")?,
        })
    }

    async fn create_backup(
        &self,
        b: &BackupRecord,
        job: &JobRecord,
        lock: &SiteLock,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        bind_lock(sqlx::query(INSERT_LOCK), lock, b.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "in-flight"))?;
        let sql = format!(
            "INSERT INTO backups ({BACKUP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        );
        bind_backup(sqlx::query(AssertSqlSafe(sql)), b)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "backup"))?;
        bind_job(sqlx::query(INSERT_JOB), job)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "job"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_backup(&self, org_id: &str, id: &str) -> StoreResult<Option<BackupRecord>> {
        self.fetch_one_by(
            format!("SELECT {BACKUP_COLS} FROM backups WHERE org_id = $1 AND id = $2"),
            &[org_id, id],
            backup_from,
        )
        .await
    }

    async fn get_backup_by_id(&self, id: &str) -> StoreResult<Option<BackupRecord>> {
        self.fetch_one_by(
            format!("SELECT {BACKUP_COLS} FROM backups WHERE id = $1"),
            &[id],
            backup_from,
        )
        .await
    }

    async fn list_backups(
        &self,
        f: &BackupFilter,
        page: PageQuery,
    ) -> StoreResult<Page<BackupRecord>> {
        let mut cond = Conditions::default();
        // The policy filter goes first: `backups_policy_*` indexes lead with it.
        if let Some(policy) = &f.policy_id {
            cond.push("policy_id = $?", Bind::Text(policy.clone()));
        }
        cond.push("org_id = $?", Bind::Text(f.org_id.clone()));
        if let Some(cloud) = &f.cloud_id {
            cond.push("cloud_id = $?", Bind::Text(cloud.clone()));
        }
        if let Some(product) = f.product {
            cond.push("product = $?", Bind::Text(product.as_str().into()));
        }
        if let Some(status) = f.status {
            cond.push("status = $?", Bind::Text(status.as_str().into()));
        }
        self.fetch_page("backups", BACKUP_COLS, "id", &cond, page, backup_from)
            .await
    }

    async fn update_backup(&self, b: &BackupRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE backups SET status = $1, status_message = $2, users_size = $3, data_size = $4, \
             attachments_size = $5, progress = $6, stats = $7, snapshot_id = $8, attempts = $9, \
             started_at = $10, updated_at = $11, expiry_at = $12 WHERE id = $13",
        )
        .bind(b.status.as_str())
        .bind(&b.status_message)
        .bind(int(b.users_size))
        .bind(int(b.data_size))
        .bind(int(b.attachments_size))
        .bind(b.progress.as_deref())
        .bind(b.stats.as_deref())
        .bind(b.snapshot_id.as_deref())
        .bind(i64::from(b.attempts))
        .bind(b.started_at.map(millis))
        .bind(millis(b.updated_at))
        .bind(millis(b.expiry_at))
        .bind(&b.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn last_complete_backup_at(
        &self,
        org_id: &str,
        cloud_id: &str,
        product: Product,
    ) -> StoreResult<Option<Timestamp>> {
        let row = sqlx::query(
            "SELECT MAX(created_at) AS last_at FROM backups WHERE org_id = $1 AND cloud_id = $2 \
             AND product = $3 AND status IN ('COMPLETED', 'INCOMPLETE', 'EXPIRED')",
        )
        .bind(org_id)
        .bind(cloud_id)
        .bind(product.as_str())
        .fetch_one(&self.pool)
        .await?;
        opt_time_col(&row, "last_at")
    }

    async fn latest_complete_backup(&self, policy_id: &str) -> StoreResult<Option<BackupRecord>> {
        self.fetch_one_by(
            format!(
                "SELECT {BACKUP_COLS} FROM backups WHERE policy_id = $1 \
                 AND status IN {KEPT_BACKUP_STATUSES} AND snapshot_id IS NOT NULL \
                 ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            &[policy_id],
            backup_from,
        )
        .await
    }

    async fn expire_backups(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<BackupRecord>> {
        let sql = format!(
            "SELECT {BACKUP_COLS} FROM backups WHERE status IN {KEPT_BACKUP_STATUSES} \
             AND expiry_at <= $1 ORDER BY expiry_at LIMIT {limit}"
        );
        let candidates = sqlx::query(AssertSqlSafe(sql))
            .bind(millis(now))
            .fetch_all(&self.pool)
            .await?;
        let mut expired = Vec::new();
        for row in &candidates {
            let mut backup = backup_from(row)?;
            let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
            // Rule 3: a restore in flight locks its source backup against expiry.
            let sql = format!(
                "UPDATE backups SET status = 'EXPIRED', updated_at = $1 WHERE id = $2 \
                 AND status IN {KEPT_BACKUP_STATUSES} AND NOT EXISTS (SELECT 1 FROM restores \
                 WHERE backup_id = $2 AND status IN ('CREATED', 'IN_PROGRESS'))"
            );
            let done = sqlx::query(AssertSqlSafe(sql))
                .bind(millis(now))
                .bind(&backup.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                continue;
            }
            let job = JobRecord {
                id: format!("collect-{}", backup.id),
                kind: JobKind::Collect,
                subject_id: backup.id.clone(),
                org_id: backup.org_id.clone(),
                state: JobState::Queued,
                available_at: now,
                lease_token: None,
                attempts: 0,
                checkpoint: None,
                cancel_requested: false,
                created_at: now,
                updated_at: now,
            };
            let insert = format!("{INSERT_JOB} ON CONFLICT (kind, subject_id) DO NOTHING");
            bind_job(sqlx::query(AssertSqlSafe(insert)), &job)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            backup.status = BackupStatus::Expired;
            backup.updated_at = now;
            expired.push(backup);
        }
        Ok(expired)
    }

    async fn create_restore(
        &self,
        r: &RestoreRecord,
        job: &JobRecord,
        lock: &SiteLock,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        bind_lock(sqlx::query(INSERT_LOCK), lock, r.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "in-flight"))?;
        // The source must still be restorable at the moment the restore is recorded (rule 5),
        // even if the expiry sweep ran since the caller looked.
        let sql =
            format!("SELECT 1 FROM backups WHERE id = $1 AND status IN {KEPT_BACKUP_STATUSES}");
        let restorable = sqlx::query(AssertSqlSafe(sql))
            .bind(&r.backup_id)
            .fetch_optional(&mut *tx)
            .await?;
        if restorable.is_none() {
            return Err(StoreError::Conflict("expired backup"));
        }
        let sql = format!(
            "INSERT INTO restores ({RESTORE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&r.id)
            .bind(&r.org_id)
            .bind(&r.backup_id)
            .bind(&r.source_cloud_id)
            .bind(&r.destination_cloud_id)
            .bind(r.product.as_str())
            .bind(r.status.as_str())
            .bind(&r.status_message)
            .bind(&r.account_id)
            .bind(join_literals(&r.selections, Selection::as_str))
            .bind(keys_text(&r.project_keys))
            .bind(keys_text(&r.space_keys))
            .bind(r.progress.as_deref())
            .bind(r.result.as_deref())
            .bind(millis(r.created_at))
            .bind(millis(r.updated_at))
            .bind(keys_text(&r.item_keys))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "restore"))?;
        bind_job(sqlx::query(INSERT_JOB), job)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "job"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_restore(&self, org_id: &str, id: &str) -> StoreResult<Option<RestoreRecord>> {
        self.fetch_one_by(
            format!("SELECT {RESTORE_COLS} FROM restores WHERE org_id = $1 AND id = $2"),
            &[org_id, id],
            restore_from,
        )
        .await
    }

    async fn get_restore_by_id(&self, id: &str) -> StoreResult<Option<RestoreRecord>> {
        self.fetch_one_by(
            format!("SELECT {RESTORE_COLS} FROM restores WHERE id = $1"),
            &[id],
            restore_from,
        )
        .await
    }

    async fn list_restores(
        &self,
        f: &RestoreFilter,
        page: PageQuery,
    ) -> StoreResult<Page<RestoreRecord>> {
        let mut cond = Conditions::default();
        cond.push("org_id = $?", Bind::Text(f.org_id.clone()));
        if let Some(cloud) = &f.destination_cloud_id {
            cond.push("destination_cloud_id = $?", Bind::Text(cloud.clone()));
        }
        if let Some(status) = f.status {
            cond.push("status = $?", Bind::Text(status.as_str().into()));
        }
        self.fetch_page("restores", RESTORE_COLS, "id", &cond, page, restore_from)
            .await
    }

    async fn update_restore(&self, r: &RestoreRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE restores SET status = $1, status_message = $2, progress = $3, result = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(r.status.as_str())
        .bind(&r.status_message)
        .bind(r.progress.as_deref())
        .bind(r.result.as_deref())
        .bind(millis(r.updated_at))
        .bind(&r.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_site_lock(&self, lock: &SiteLock) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM site_locks WHERE org_id = $1 AND cloud_id = $2 AND product = $3 \
             AND holder_id = $4",
        )
        .bind(&lock.org_id)
        .bind(&lock.cloud_id)
        .bind(lock.product.as_str())
        .bind(&lock.holder_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_job(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        lease_token: &str,
    ) -> StoreResult<Option<JobRecord>> {
        // One statement: pick and take in the same step, so two claimers never share a job.
        let sql = format!(
            "UPDATE jobs SET state = 'RUNNING', lease_token = $1, available_at = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE state <> 'DONE' AND available_at <= $3 \
                         ORDER BY available_at LIMIT 1{}) \
             RETURNING {JOB_COLS}",
            self.dialect.skip_locked_sql()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(lease_token)
            .bind(millis(lease_until))
            .bind(millis(now))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from).transpose()
    }

    async fn renew_job_lease(
        &self,
        job_id: &str,
        lease_token: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET available_at = $1 WHERE id = $2 AND lease_token = $3 \
             AND state = 'RUNNING'",
        )
        .bind(millis(until))
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_job_checkpoint(
        &self,
        job_id: &str,
        lease_token: &str,
        checkpoint: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET checkpoint = $1 WHERE id = $2 AND lease_token = $3 \
             AND state = 'RUNNING'",
        )
        .bind(checkpoint)
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(
        &self,
        job_id: &str,
        lease_token: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'DONE', lease_token = NULL, updated_at = $1 \
             WHERE id = $2 AND lease_token = $3 AND state = 'RUNNING'",
        )
        .bind(millis(now))
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn requeue_job(
        &self,
        job_id: &str,
        lease_token: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'QUEUED', lease_token = NULL, available_at = $1, \
             updated_at = $1 WHERE id = $2 AND lease_token = $3 AND state = 'RUNNING'",
        )
        .bind(millis(at))
        .bind(job_id)
        .bind(lease_token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_job(&self, kind: JobKind, subject_id: &str) -> StoreResult<Option<JobRecord>> {
        self.fetch_one_by(
            format!("SELECT {JOB_COLS} FROM jobs WHERE kind = $1 AND subject_id = $2"),
            &[kind.as_str(), subject_id],
            job_from,
        )
        .await
    }

    async fn cancel_queued_job(
        &self,
        kind: JobKind,
        subject_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'DONE', updated_at = $1 \
             WHERE kind = $2 AND subject_id = $3 AND state = 'QUEUED'",
        )
        .bind(millis(now))
        .bind(kind.as_str())
        .bind(subject_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn request_job_cancel(
        &self,
        kind: JobKind,
        subject_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET cancel_requested = 1, updated_at = $1, \
             available_at = CASE WHEN state = 'QUEUED' THEN $1 ELSE available_at END \
             WHERE kind = $2 AND subject_id = $3 AND state <> 'DONE'",
        )
        .bind(millis(now))
        .bind(kind.as_str())
        .bind(subject_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
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

fn bind_backup<'q>(q: AnyQuery<'q>, b: &'q BackupRecord) -> AnyQuery<'q> {
    q.bind(&b.id)
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
        .bind(b.progress.as_deref())
        .bind(b.stats.as_deref())
        .bind(b.snapshot_id.as_deref())
        .bind(i64::from(b.attempts))
        .bind(b.started_at.map(millis))
        .bind(millis(b.created_at))
        .bind(millis(b.updated_at))
}
