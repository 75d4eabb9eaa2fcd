//! [`IdentityStore`] on SQL: organizations, accounts, memberships and API tokens.

use super::*;

const ORG_COLS: &str = "id, name, created_at";
const ACCOUNT_COLS: &str = "a.id AS a_id, a.email AS a_email, a.display_name AS a_display_name, \
     a.password_hash AS a_password_hash, a.active AS a_active, a.created_at AS a_created_at";
const TOKEN_COLS: &str = "t.id AS t_id, t.account_id AS t_account_id, t.label AS t_label, \
     t.hint AS t_hint, t.secret_hmac AS t_secret_hmac, t.created_at AS t_created_at, \
     t.expires_at AS t_expires_at, t.last_used_at AS t_last_used_at, \
     t.revoked_at AS t_revoked_at, t.revoked_by AS t_revoked_by";

fn org_from(row: &AnyRow) -> StoreResult<OrgRecord> {
    Ok(OrgRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: time_col(row, "created_at")?,
    })
}

fn account_from(row: &AnyRow) -> StoreResult<AccountRecord> {
    Ok(AccountRecord {
        id: row.try_get("a_id")?,
        email: row.try_get("a_email")?,
        display_name: row.try_get("a_display_name")?,
        password_hash: row.try_get("a_password_hash")?,
        active: row.try_get::<i64, _>("a_active")? != 0,
        created_at: time_col(row, "a_created_at")?,
    })
}

fn token_from(row: &AnyRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("t_id")?,
        account_id: row.try_get("t_account_id")?,
        label: row.try_get("t_label")?,
        hint: row.try_get("t_hint")?,
        secret_hmac: row.try_get("t_secret_hmac")?,
        created_at: time_col(row, "t_created_at")?,
        expires_at: time_col(row, "t_expires_at")?,
        last_used_at: opt_time_col(row, "t_last_used_at")?,
        revoked_at: opt_time_col(row, "t_revoked_at")?,
        revoked_by: row.try_get("t_revoked_by")?,
    })
}

fn membership_from(row: &AnyRow) -> StoreResult<MembershipRecord> {
    let role: String = row.try_get("role")?;
    Ok(MembershipRecord {
        org_id: row.try_get("org_id")?,
        account_id: row.try_get("account_id")?,
        role: OrgRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        created_at: time_col(row, "created_at")?,
    })
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn insert_org(&self, org: &OrgRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(millis(org.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "org id"))?;
        Ok(())
    }

    async fn get_org(&self, org_id: &str) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {ORG_COLS} FROM orgs WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org_from).transpose()
    }

    async fn list_orgs(&self) -> StoreResult<Vec<OrgRecord>> {
        let sql = format!("SELECT {ORG_COLS} FROM orgs ORDER BY created_at, id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(org_from).collect()
    }

    async fn insert_account(&self, a: &AccountRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, email, email_lower, display_name, password_hash, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&a.id)
        .bind(&a.email)
        .bind(a.email.to_lowercase())
        .bind(&a.display_name)
        .bind(a.password_hash.as_deref())
        .bind(i64::from(a.active))
        .bind(millis(a.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "email"))?;
        Ok(())
    }

    async fn get_account(&self, account_id: &str) -> StoreResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.email_lower = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    async fn list_accounts(&self, org_id: Option<&str>) -> StoreResult<Vec<AccountRecord>> {
        let rows = match org_id {
            Some(org_id) => {
                let sql = format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts a JOIN memberships m ON m.account_id = a.id \
                     WHERE m.org_id = $1 ORDER BY a.created_at, a.id"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(org_id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {ACCOUNT_COLS} FROM accounts a ORDER BY a.created_at, a.id");
                sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(account_from).collect()
    }

    async fn set_account_active(&self, account_id: &str, active: bool) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE accounts SET active = $1 WHERE id = $2")
            .bind(i64::from(active))
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password_hash(&self, account_id: &str, hash: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_membership(&self, m: &MembershipRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (org_id, account_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, account_id) DO UPDATE SET role = excluded.role",
        )
        .bind(&m.org_id)
        .bind(&m.account_id)
        .bind(m.role.as_str())
        .bind(millis(m.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_membership(
        &self,
        org_id: &str,
        account_id: &str,
    ) -> StoreResult<Option<MembershipRecord>> {
        let row = sqlx::query(
            "SELECT org_id, account_id, role, created_at FROM memberships \
             WHERE org_id = $1 AND account_id = $2",
        )
        .bind(org_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(membership_from).transpose()
    }

    async fn list_memberships(&self, account_id: &str) -> StoreResult<Vec<MembershipRecord>> {
        let rows = sqlx::query(
            "SELECT org_id, account_id, role, created_at FROM memberships \
             WHERE account_id = $1 ORDER BY created_at, org_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(membership_from).collect()
    }

    async fn insert_token_within_limit(
        &self,
        t: &TokenRecord,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // One statement: insert only while fewer than `limit` live tokens exist. SQLite runs it
        // under its single-writer lock; PostgreSQL first locks the account row so concurrent
        // inserts for one account queue behind each other and each sees the previous one.
        let insert = sqlx::query(
            "INSERT INTO api_tokens (id, account_id, label, hint, secret_hmac, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM api_tokens \
                    WHERE account_id = $2 AND revoked_at IS NULL AND expires_at > $8) < $9",
        )
        .bind(&t.id)
        .bind(&t.account_id)
        .bind(&t.label)
        .bind(&t.hint)
        .bind(&t.secret_hmac)
        .bind(millis(t.created_at))
        .bind(millis(t.expires_at))
        .bind(millis(now))
        .bind(i64::from(limit));
        let done = match self.dialect.lock_account_sql() {
            None => insert
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::from_sqlx(e, "token"))?,
            Some(lock) => {
                let mut tx = self.pool.begin().await?;
                sqlx::query(lock)
                    .bind(&t.account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let done = insert
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, "token"))?;
                tx.commit().await?;
                done
            }
        };
        Ok(done.rows_affected() == 1)
    }

    async fn find_token_for_auth(
        &self,
        email: &str,
        secret_hmac: &str,
    ) -> StoreResult<Option<(AccountRecord, TokenRecord)>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLS}, {TOKEN_COLS} FROM api_tokens t \
             JOIN accounts a ON a.id = t.account_id \
             WHERE t.secret_hmac = $1 AND a.email_lower = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(secret_hmac)
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some((account_from(&row)?, token_from(&row)?))),
            None => Ok(None),
        }
    }

    async fn get_token(&self, token_id: &str) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(token_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from).transpose()
    }

    async fn list_tokens(&self, account_id: &str) -> StoreResult<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.account_id = $1 \
             ORDER BY t.created_at DESC, t.id DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from).collect()
    }

    async fn list_org_tokens(&self, org_id: &str) -> StoreResult<Vec<OwnedTokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLS}, a.email AS owner_email, a.display_name AS owner_name \
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
             JOIN memberships m ON m.account_id = a.id \
             WHERE m.org_id = $1 ORDER BY t.created_at DESC, t.id DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(OwnedTokenRecord {
                    token: token_from(row)?,
                    owner_email: row.try_get("owner_email")?,
                    owner_display_name: row.try_get("owner_name")?,
                })
            })
            .collect()
    }

    async fn revoke_token(&self, token_id: &str, by: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(millis(now))
        .bind(by)
        .bind(token_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_token_use(&self, token_id: &str, minute: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(millis(minute))
        .bind(token_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
