//! [`RunStore`] on SQL: backups, restores, their status moves and the site locks.

use super::*;

/// `'A', 'B'`: an SQL list of an enum's literals (letters and underscores only, so quoting is
/// safe).
fn sql_list<'a>(literals: impl Iterator<Item = &'a str>) -> String {
    literals
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    /// The one compare-and-set of a run's status (backups and restores): `set` applies only if
    /// the status is in `from` (an SQL list of literals); when `releases_lock`, the run's site
    /// lock goes in the same transaction, so a run ends and frees its site exactly once.
    async fn move_run(
        &self,
        table: &str,
        holder_kind: &str,
        id: &str,
        from: &str,
        set: Conditions,
        releases_lock: bool,
    ) -> StoreResult<Option<Moved>> {
        if from.is_empty() {
            return Ok(None);
        }
        let id_n = set.binds.len() + 1;
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = ${id_n} AND status IN ({from})",
            set.set_sql()
        );
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        let q = set.bind_all(sqlx::query(AssertSqlSafe(sql))).bind(id);
        if q.execute(&mut *tx).await?.rows_affected() == 0 {
            return Ok(None);
        }
        let mut lock_released = false;
        if releases_lock {
            let done =
                sqlx::query("DELETE FROM site_locks WHERE holder_kind = $1 AND holder_id = $2")
                    .bind(holder_kind)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            lock_released = done.rows_affected() > 0;
        }
        tx.commit().await?;
        Ok(Some(Moved { lock_released }))
    }

    /// Progress is written only while the run is IN_PROGRESS, so a late report never touches a
    /// run that ended or was cancelled.
    async fn report_progress(
        &self,
        table: &str,
        id: &str,
        progress: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let progress = json_text(progress)?;
        let sql = format!(
            "UPDATE {table} SET progress = $1, updated_at = $2 WHERE id = $3 \
             AND status = 'IN_PROGRESS'"
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(progress.as_str())
            .bind(millis(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn insert_backup_sql() -> String {
    format!(
        "INSERT INTO backups ({BACKUP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
    )
}

#[async_trait]
impl RunStore for SqlStore {
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
        bind_backup(sqlx::query(AssertSqlSafe(insert_backup_sql())), b)?
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

    async fn insert_finished_backup(&self, b: &BackupRecord) -> StoreResult<()> {
        if !b.status.is_final() {
            return Err(StoreError::Conflict("unfinished backup"));
        }
        bind_backup(sqlx::query(AssertSqlSafe(insert_backup_sql())), b)?
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "backup"))?;
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
        .bind(opt_json_text(&b.progress)?)
        .bind(opt_json_text(&b.stats)?)
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

    async fn move_backup(
        &self,
        id: &str,
        from: &[BackupStatus],
        c: &BackupChange,
    ) -> StoreResult<Option<Moved>> {
        let mut set = Conditions::default();
        if let Some(status) = c.status {
            set.push("status = $?", Bind::Text(status.as_str().into()));
        }
        set.push("status_message = $?", Bind::Text(c.status_message.clone()));
        set.push("updated_at = $?", Bind::Int(millis(c.at)));
        if c.start {
            set.push(
                "started_at = COALESCE(started_at, $?)",
                Bind::Int(millis(c.at)),
            );
        }
        if let Some(attempts) = c.attempts {
            set.push("attempts = $?", Bind::Int(i64::from(attempts)));
        }
        if let Some(progress) = &c.progress {
            set.push("progress = $?", Bind::Text(json_text(progress)?));
        }
        if let Some(out) = &c.output {
            set.push("snapshot_id = $?", Bind::Text(out.snapshot_id.clone()));
            set.push("users_size = $?", Bind::Int(int(out.users_size)));
            set.push("data_size = $?", Bind::Int(int(out.data_size)));
            set.push(
                "attachments_size = $?",
                Bind::Int(int(out.attachments_size)),
            );
            if let Some(stats) = &out.stats {
                set.push("stats = $?", Bind::Text(json_text(stats)?));
            }
        }
        let from = sql_list(from.iter().map(|s| s.as_str()));
        let releases = c.status.is_some_and(BackupStatus::is_final);
        self.move_run("backups", "BACKUP", id, &from, set, releases)
            .await
    }

    async fn report_backup_progress(
        &self,
        id: &str,
        progress: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.report_progress("backups", id, progress, at).await
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
        // The retention lock is checked here as well as stamped into `expiry_at`: a backup
        // created while the lock was being raised may carry the shorter expiry.
        let past_lock = past_retention_lock("$1");
        let sql = format!(
            "SELECT {BACKUP_COLS} FROM backups WHERE status IN {KEPT_BACKUP_STATUSES} \
             AND expiry_at <= $1 AND {past_lock} ORDER BY expiry_at LIMIT {limit}"
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
                 AND status IN {KEPT_BACKUP_STATUSES} AND {past_lock} AND NOT EXISTS \
                 (SELECT 1 FROM restores WHERE backup_id = $2 AND status IN ('CREATED', 'IN_PROGRESS'))"
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
            .bind(opt_json_text(&r.progress)?)
            .bind(opt_json_text(&r.result)?)
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
        .bind(opt_json_text(&r.progress)?)
        .bind(opt_json_text(&r.result)?)
        .bind(millis(r.updated_at))
        .bind(&r.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn move_restore(
        &self,
        id: &str,
        from: &[RestoreStatus],
        c: &RestoreChange,
    ) -> StoreResult<Option<Moved>> {
        let mut set = Conditions::default();
        if let Some(status) = c.status {
            set.push("status = $?", Bind::Text(status.as_str().into()));
        }
        set.push("status_message = $?", Bind::Text(c.status_message.clone()));
        set.push("updated_at = $?", Bind::Int(millis(c.at)));
        if let Some(progress) = &c.progress {
            set.push("progress = $?", Bind::Text(json_text(progress)?));
        }
        if let Some(result) = &c.result {
            set.push("result = $?", Bind::Text(json_text(result)?));
        }
        let from = sql_list(from.iter().map(|s| s.as_str()));
        let releases = c.status.is_some_and(RestoreStatus::is_final);
        self.move_run("restores", "RESTORE", id, &from, set, releases)
            .await
    }

    async fn report_restore_progress(
        &self,
        id: &str,
        progress: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.report_progress("restores", id, progress, at).await
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
}
