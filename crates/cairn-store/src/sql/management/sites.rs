//! [`SiteStore`] on SQL.

use super::*;

#[async_trait]
impl SiteStore for SqlStore {
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
}
