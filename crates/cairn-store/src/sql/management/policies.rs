//! [`PolicyStore`] on SQL: policies, and the compare-and-sets on their next run.

use super::*;

#[async_trait]
impl PolicyStore for SqlStore {
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

    async fn update_policy_if(
        &self,
        p: &PolicyRecord,
        expected_next_run: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let sql = "UPDATE policies SET name = $3, cloud_id = $4, product = $5, status = $6, \
             include_attachments = $7, include_personal_spaces = $8, include_users = $9, \
             storage_id = $10, schedule_interval = $11, schedule_start_date = $12, \
             schedule_slot = $13, next_run_at = $14, retention_days = $15, activated_by = $16, \
             created_at = $17, created_by = $18, updated_at = $19 WHERE id = $1 AND org_id = $2 \
             AND next_run_at IS NOT DISTINCT FROM $20";
        let done = bind_policy(sqlx::query(sql), p)
            .bind(expected_next_run.map(millis))
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "active policy"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn retry_policy_run(
        &self,
        id: &str,
        expected: Option<Timestamp>,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE policies SET next_run_at = $1 WHERE id = $2 AND status = 'ACTIVE' \
             AND next_run_at IS NOT DISTINCT FROM $3",
        )
        .bind(millis(at))
        .bind(id)
        .bind(expected.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn retire_once_policy(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE policies SET status = 'INACTIVE', updated_at = $1 WHERE id = $2 \
             AND status = 'ACTIVE' AND next_run_at IS NULL AND schedule_interval = 'ONCE'",
        )
        .bind(millis(at))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "active policy"))?;
        Ok(done.rows_affected() == 1)
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
}
