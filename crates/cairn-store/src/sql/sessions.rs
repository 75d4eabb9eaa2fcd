//! [`SessionStore`] on SQLite and PostgreSQL (the same statements for both).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, millis, time_col};
use crate::{SessionRecord, SessionStore, StoreError, StoreResult, Timestamp};

fn session_from(row: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id_hmac: row.try_get("id_hmac")?,
        account_id: row.try_get("account_id")?,
        created_at: time_col(row, "created_at")?,
        expires_at: time_col(row, "expires_at")?,
        client_addr: row.try_get("client_addr")?,
    })
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO web_sessions (id_hmac, account_id, created_at, expires_at, client_addr) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hmac)
        .bind(&s.account_id)
        .bind(millis(s.created_at))
        .bind(millis(s.expires_at))
        .bind(s.client_addr.as_deref())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "session"))?;
        Ok(())
    }

    async fn get_session(&self, id_hmac: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT id_hmac, account_id, created_at, expires_at, client_addr \
             FROM web_sessions WHERE id_hmac = $1",
        )
        .bind(id_hmac)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from).transpose()
    }

    async fn delete_session(&self, id_hmac: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE id_hmac = $1")
            .bind(id_hmac)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_account_sessions(&self, account_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn spend_nonce(
        &self,
        nonce: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        sqlx::query("DELETE FROM spent_nonces WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        // The primary key decides between racing spenders: one insert wins.
        let inserted = sqlx::query(
            "INSERT INTO spent_nonces (nonce, expires_at) VALUES ($1, $2) \
             ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
