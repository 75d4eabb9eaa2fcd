//! [`AuditStore`] on SQL: the audit log.

use super::*;

const AUDIT_COLS: &str = "id, org_id, account_id, action, target, client_addr, details, created_at";

fn audit_from(row: &AnyRow) -> StoreResult<AuditEventRecord> {
    Ok(AuditEventRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        account_id: row.try_get("account_id")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        client_addr: row.try_get("client_addr")?,
        details: row.try_get("details")?,
        created_at: time_col(row, "created_at")?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit_event(&self, e: &AuditEventRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, account_id, action, target, client_addr, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(e.org_id.as_deref())
        .bind(e.account_id.as_deref())
        .bind(&e.action)
        .bind(e.target.as_deref())
        .bind(e.client_addr.as_deref())
        .bind(e.details.as_deref())
        .bind(millis(e.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "audit event id"))?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: PageQuery,
    ) -> StoreResult<Page<AuditEventRecord>> {
        let mut cond = Conditions::default();
        if let Some(org) = &filter.org_id {
            cond.push("org_id = $?", Bind::Text(org.clone()));
        }
        if let Some(account) = &filter.account_id {
            cond.push("account_id = $?", Bind::Text(account.clone()));
        }
        if let Some(action) = &filter.action {
            cond.push("action = $?", Bind::Text(action.clone()));
        }
        if let Some(from) = filter.from {
            cond.push("created_at >= $?", Bind::Int(millis(from)));
        }
        if let Some(to) = filter.to {
            cond.push("created_at <= $?", Bind::Int(millis(to)));
        }
        self.fetch_page("audit_events", AUDIT_COLS, "id", &cond, page, audit_from)
            .await
    }
}
