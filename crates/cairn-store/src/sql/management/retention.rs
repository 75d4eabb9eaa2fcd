//! [`RetentionLockStore`] on SQL: the lock is a column of `orgs`; changing it moves the expiry of
//! the org's live backups in the same transaction, so `expiryTime` always tells the truth.

use super::*;

#[async_trait]
impl RetentionLockStore for SqlStore {
    async fn retention_lock_days(&self, org_id: &str) -> StoreResult<Option<u32>> {
        let row = sqlx::query("SELECT retention_lock_days FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| lock_days(&r)).transpose()
    }

    async fn change_retention_lock(
        &self,
        org_id: &str,
        days: u32,
        raise_only: bool,
    ) -> StoreResult<RetentionLockChange> {
        let mut tx = self.pool.begin_with(self.dialect.begin_write_sql()).await?;
        let Some(row) = sqlx::query("SELECT retention_lock_days FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(RetentionLockChange::NoOrg);
        };
        let previous = lock_days(&row)?;
        if raise_only && days < previous {
            return Ok(RetentionLockChange::Refused { current: previous });
        }
        // The compare keeps a concurrent raise from being undone by a raise to less.
        let cond = if raise_only {
            " AND retention_lock_days <= $1"
        } else {
            ""
        };
        let sql = format!("UPDATE orgs SET retention_lock_days = $1 WHERE id = $2{cond}");
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(i64::from(days))
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(RetentionLockChange::Refused { current: previous });
        }
        // Live backups (not expired, failed or cancelled) live at least as long as the lock.
        // Lowering the lock shortens nothing: an expiry once promised is kept.
        sqlx::query(
            "UPDATE backups SET expiry_at = created_at + $1 WHERE org_id = $2 \
             AND status IN ('CREATED', 'IN_PROGRESS', 'COMPLETED', 'INCOMPLETE') \
             AND expiry_at < created_at + $1",
        )
        .bind(i64::from(days) * DAY_MILLIS)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RetentionLockChange::Changed { previous })
    }
}

fn lock_days(row: &AnyRow) -> StoreResult<u32> {
    let days: i64 = row.try_get("retention_lock_days")?;
    u32::try_from(days).map_err(|_| StoreError::Corrupt(format!("retention_lock_days {days}")))
}
