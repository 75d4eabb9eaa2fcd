//! [`JobQueueStore`] on SQL: the leased job queue.

use super::*;

#[async_trait]
impl JobQueueStore for SqlStore {
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
