//! [`StorageStore`] on SQL.

use super::*;

#[async_trait]
impl StorageStore for SqlStore {
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
}
