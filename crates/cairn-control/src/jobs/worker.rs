//! The worker: claims due jobs with a lease, renews the lease while the engine works, and hands
//! each outcome to the [`Lifecycle`], which records it and frees the site.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_store::{BackupOutput, BackupRecord, JobKind, JobRecord, RestoreRecord};
use chrono::TimeDelta;
use tokio::sync::Mutex;

use super::{BackupTask, CollectTask, Engine, EngineError, JobContext, Outcome, RestoreTask};
use crate::lifecycle::{BackupEnd, Lifecycle, RestoreEnd};
use crate::management::Management;
use crate::{ControlError, ControlResult};

/// How workers behave; each a setting.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs one node runs at once.
    pub concurrency: usize,
    /// How long a claim lasts without renewal; a dead node's jobs wait this long.
    pub lease: Duration,
    /// How often an idle worker looks for work.
    pub poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            concurrency: 2,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
        }
    }
}

/// Runs jobs from the queue with an [`Engine`].
pub struct Worker {
    management: Arc<Management>,
    engine: Arc<dyn Engine>,
    settings: WorkerSettings,
}

fn lease_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::seconds(60))
}

impl Worker {
    pub fn new(
        management: Arc<Management>,
        engine: Arc<dyn Engine>,
        settings: WorkerSettings,
    ) -> Self {
        Worker {
            management,
            engine,
            settings,
        }
    }

    fn lifecycle(&self) -> &Arc<Lifecycle> {
        self.management.lifecycle()
    }

    /// Claims and runs one job if one is due; returns whether it found one. Tests drive the
    /// queue with this; [`Worker::run`] claims and runs jobs concurrently.
    pub async fn run_one(&self, shutdown: &Arc<AtomicBool>) -> ControlResult<bool> {
        match self.claim().await? {
            Some((job, token)) => {
                self.execute(job, token, shutdown).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn claim(&self) -> ControlResult<Option<(JobRecord, String)>> {
        let token = uuid::Uuid::new_v4().to_string();
        let now = self.management.clock().now();
        let job = self
            .management
            .store()
            .claim_job(now, now + lease_delta(self.settings.lease), &token)
            .await?;
        Ok(job.map(|job| (job, token)))
    }

    async fn execute(&self, job: JobRecord, token: String, shutdown: &Arc<AtomicBool>) {
        let store = self.management.store().clone();
        let clock = self.management.clock().clone();
        tracing::info!(job = %job.id, kind = %job.kind, subject = %job.subject_id, attempt = job.attempts, "job claimed");
        let stop = Arc::new(AtomicBool::new(job.cancel_requested));
        let lease_lost = Arc::new(AtomicBool::new(false));
        let ctx = JobContext {
            store: store.clone(),
            lifecycle: self.lifecycle().clone(),
            clock: clock.clone(),
            job: job.clone(),
            lease_token: token.clone(),
            stop: stop.clone(),
            lease_lost: lease_lost.clone(),
            last_progress: Mutex::new(None),
        };
        // Renew the lease at a third of its length, and watch for cancellation and shutdown.
        let renewer = {
            let (store, clock, job, token) =
                (store.clone(), clock.clone(), job.clone(), token.clone());
            let (stop, lease_lost, shutdown) = (stop.clone(), lease_lost.clone(), shutdown.clone());
            let lease = self.settings.lease;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    let until = clock.now() + lease_delta(lease);
                    match store.renew_job_lease(&job.id, &token, until).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lease_lost.store(true, Ordering::SeqCst);
                            stop.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "lease renewal failed"),
                    }
                    if let Ok(Some(j)) = store.get_job(job.kind, &job.subject_id).await
                        && j.cancel_requested
                    {
                        stop.store(true, Ordering::SeqCst);
                    }
                    if shutdown.load(Ordering::SeqCst) {
                        // The node is stopping: leave the job to lapse and resume elsewhere.
                        lease_lost.store(true, Ordering::SeqCst);
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            })
        };
        let result = self.run_job(&job, &ctx).await;
        renewer.abort();
        if let Err(e) = &result {
            tracing::error!(job = %job.id, error = %e, "job bookkeeping failed; the lease will lapse and another worker retries");
        }
    }

    async fn run_job(&self, job: &JobRecord, ctx: &JobContext) -> ControlResult<()> {
        match job.kind {
            JobKind::Backup => self.run_backup(job, ctx).await,
            JobKind::Restore => self.run_restore(job, ctx).await,
            JobKind::Collect => self.run_collect(job, ctx).await,
        }
    }

    async fn finish(&self, job: &JobRecord, ctx: &JobContext) -> ControlResult<bool> {
        let store = self.management.store();
        Ok(store
            .finish_job(&job.id, &ctx.lease_token, self.management.clock().now())
            .await?)
    }

    /// Confirms, by renewing the lease, that this worker still holds the job before it records
    /// an outcome. A worker whose lease lapsed while its engine ran, and whose job another
    /// worker has since claimed, must not overwrite that worker's record or free its site (the
    /// record and lock writes carry no lease token themselves).
    async fn still_holds(&self, job: &JobRecord, ctx: &JobContext) -> ControlResult<bool> {
        let until = self.management.clock().now() + lease_delta(self.settings.lease);
        let held = self
            .management
            .store()
            .renew_job_lease(&job.id, &ctx.lease_token, until)
            .await?;
        if !held {
            tracing::warn!(job = %job.id, "the lease was lost while the engine ran; the new holder records the outcome");
        }
        Ok(held)
    }

    async fn run_backup(&self, job: &JobRecord, ctx: &JobContext) -> ControlResult<()> {
        let m = &self.management;
        let store = m.store();
        let lifecycle = self.lifecycle();
        let Some(backup) = store.get_backup_by_id(&job.subject_id).await? else {
            self.finish(job, ctx).await?;
            return Ok(());
        };
        if !backup.status.in_flight() {
            // Its outcome was recorded by a worker that stopped before ending the job: end it,
            // and free a site such a worker may have left locked.
            lifecycle.release_stale_backup_lock(&backup).await?;
            self.finish(job, ctx).await?;
            return Ok(());
        }
        if job.cancel_requested {
            let end = BackupEnd::Cancelled("Cancelled before it started.".into());
            return self.close_backup(job, ctx, &backup, end).await;
        }
        let task = match self.backup_task(&backup).await {
            Ok(task) => task,
            Err(e @ (ControlError::NotFound(_) | ControlError::Internal(_))) => {
                let end = BackupEnd::Failed {
                    attempts: backup.attempts,
                    message: format!("The backup cannot run: {e}"),
                };
                return self.close_backup(job, ctx, &backup, end).await;
            }
            Err(e) => return Err(e),
        };
        if !lifecycle
            .backup_started(&backup, job.checkpoint.is_some())
            .await?
        {
            // It ended between the read and the start (nothing else moves a claimed run).
            self.finish(job, ctx).await?;
            return Ok(());
        }

        let result = self.engine.backup(task, ctx).await;
        if !matches!(result, Err(EngineError::LeaseLost)) && !self.still_holds(job, ctx).await? {
            return Ok(());
        }
        let Some(backup) = store.get_backup_by_id(&job.subject_id).await? else {
            return Ok(());
        };
        let end = match result {
            Ok(done) => BackupEnd::Stored {
                output: BackupOutput {
                    snapshot_id: done.snapshot_id,
                    users_size: done.users_size,
                    data_size: done.data_size,
                    attachments_size: done.attachments_size,
                    stats: None,
                },
                stats: done.stats,
                incomplete: match done.outcome {
                    Outcome::Completed => None,
                    Outcome::Incomplete(what) => Some(what),
                },
            },
            Err(EngineError::LeaseLost) => return Ok(()),
            Err(EngineError::Cancelled) => BackupEnd::Cancelled(
                "Cancelled. Nothing partial was committed to the storage.".into(),
            ),
            Err(err) => {
                let attempts = backup.attempts + 1;
                let max = m.settings().max_attempts;
                if matches!(err, EngineError::Retryable(_)) && attempts < max {
                    let at = m.clock().now() + lease_delta(m.settings().retry_interval);
                    let message = format!(
                        "Attempt {attempts} of {max} failed: {err}. Retrying at {} (rule 6).",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    );
                    lifecycle
                        .backup_retried(&backup, attempts, &message)
                        .await?;
                    store.requeue_job(&job.id, &ctx.lease_token, at).await?;
                    return Ok(());
                }
                BackupEnd::Failed {
                    attempts,
                    message: format!(
                        "Failed after {attempts} attempt{}: {err}",
                        if attempts == 1 { "" } else { "s" }
                    ),
                }
            }
        };
        self.close_backup(job, ctx, &backup, end).await
    }

    /// Records the end (which frees the site), ends the job, and retires a `ONCE` policy whose
    /// backup this was (rule 9).
    async fn close_backup(
        &self,
        job: &JobRecord,
        ctx: &JobContext,
        backup: &BackupRecord,
        end: BackupEnd,
    ) -> ControlResult<()> {
        let store = self.management.store();
        self.lifecycle().backup_ended(backup, end).await?;
        self.finish(job, ctx).await?;
        store
            .retire_once_policy(&backup.policy_id, self.management.clock().now())
            .await?;
        Ok(())
    }

    async fn backup_task(&self, backup: &BackupRecord) -> ControlResult<BackupTask> {
        let m = &self.management;
        Ok(BackupTask {
            site: m.site_access(&backup.org_id, &backup.cloud_id).await?,
            storage: m.storage_access(&backup.org_id, &backup.storage_id).await?,
            parent: m.store().latest_complete_backup(&backup.policy_id).await?,
            last_attempt: backup.attempts + 1 >= m.settings().max_attempts,
            backup: backup.clone(),
        })
    }

    async fn run_restore(&self, job: &JobRecord, ctx: &JobContext) -> ControlResult<()> {
        let m = &self.management;
        let store = m.store();
        let lifecycle = self.lifecycle();
        let Some(restore) = store.get_restore_by_id(&job.subject_id).await? else {
            self.finish(job, ctx).await?;
            return Ok(());
        };
        if !restore.status.in_flight() {
            // As for a backup: free the destination a stopped worker left locked.
            lifecycle.release_stale_restore_lock(&restore).await?;
            self.finish(job, ctx).await?;
            return Ok(());
        }
        if job.cancel_requested {
            let end = RestoreEnd::Cancelled("Cancelled before it started.".into());
            return self.close_restore(job, ctx, &restore, end).await;
        }
        let task = match self.restore_task(&restore).await {
            Ok(t) => t,
            Err(e @ (ControlError::NotFound(_) | ControlError::Internal(_))) => {
                let end = RestoreEnd::Failed(format!("The restore cannot run: {e}"));
                return self.close_restore(job, ctx, &restore, end).await;
            }
            Err(e) => return Err(e),
        };
        if !lifecycle
            .restore_started(&restore, job.checkpoint.is_some())
            .await?
        {
            self.finish(job, ctx).await?;
            return Ok(());
        }
        let result = self.engine.restore(task, ctx).await;
        if !matches!(result, Err(EngineError::LeaseLost)) && !self.still_holds(job, ctx).await? {
            return Ok(());
        }
        let Some(restore) = store.get_restore_by_id(&job.subject_id).await? else {
            return Ok(());
        };
        let end = match result {
            Ok(done) => RestoreEnd::Written {
                summary: done.summary,
                incomplete: match done.outcome {
                    Outcome::Completed => None,
                    Outcome::Incomplete(what) => Some(what),
                },
            },
            Err(EngineError::LeaseLost) => return Ok(()),
            Err(EngineError::Cancelled) => {
                RestoreEnd::Cancelled("Cancelled. What was created before stays.".into())
            }
            Err(err) => RestoreEnd::Failed(format!("Failed: {err}")),
        };
        self.close_restore(job, ctx, &restore, end).await
    }

    async fn restore_task(&self, restore: &RestoreRecord) -> ControlResult<RestoreTask> {
        let m = &self.management;
        let backup = m
            .store()
            .get_backup_by_id(&restore.backup_id)
            .await?
            .ok_or_else(|| ControlError::NotFound("the backup is gone".into()))?;
        Ok(RestoreTask {
            destination: m
                .site_access(&restore.org_id, &restore.destination_cloud_id)
                .await?,
            storage: m.storage_access(&backup.org_id, &backup.storage_id).await?,
            backup,
            restore: restore.clone(),
        })
    }

    async fn close_restore(
        &self,
        job: &JobRecord,
        ctx: &JobContext,
        restore: &RestoreRecord,
        end: RestoreEnd,
    ) -> ControlResult<()> {
        self.lifecycle().restore_ended(restore, end).await?;
        self.finish(job, ctx).await?;
        Ok(())
    }

    async fn run_collect(&self, job: &JobRecord, ctx: &JobContext) -> ControlResult<()> {
        let m = &self.management;
        let Some(backup) = m.store().get_backup_by_id(&job.subject_id).await? else {
            self.finish(job, ctx).await?;
            return Ok(());
        };
        let storage = match m.storage_access(&backup.org_id, &backup.storage_id).await {
            Ok(s) => s,
            Err(ControlError::NotFound(_)) => {
                self.finish(job, ctx).await?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match self
            .engine
            .collect(CollectTask { backup, storage }, ctx)
            .await
        {
            Ok(()) | Err(EngineError::Permanent(_)) | Err(EngineError::Cancelled) => {
                self.finish(job, ctx).await?;
            }
            Err(EngineError::LeaseLost) => {}
            Err(EngineError::Retryable(why)) => {
                tracing::warn!(job = %job.id, %why, "collection failed; retrying later");
                let at = m.clock().now() + lease_delta(m.settings().retry_interval);
                m.store().requeue_job(&job.id, &ctx.lease_token, at).await?;
            }
        }
        Ok(())
    }

    /// Runs jobs until `shutdown` is set: up to `concurrency` at once, polling when idle.
    pub async fn run(self: Arc<Self>, shutdown: Arc<AtomicBool>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(
            self.settings.concurrency.max(1),
        ));
        while !shutdown.load(Ordering::SeqCst) {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            match self.claim().await {
                Ok(Some((job, token))) => {
                    let worker = self.clone();
                    let flag = shutdown.clone();
                    tokio::spawn(async move {
                        worker.execute(job, token, &flag).await;
                        drop(permit);
                    });
                }
                Ok(None) => tokio::time::sleep(self.settings.poll).await,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    tokio::time::sleep(self.settings.poll).await;
                }
            }
        }
    }
}

/// Runs the scheduler's tick every `every` until `shutdown` is set.
pub async fn run_scheduler(
    management: Arc<Management>,
    every: Duration,
    shutdown: Arc<AtomicBool>,
) {
    while !shutdown.load(Ordering::SeqCst) {
        match management.tick().await {
            Ok(report) if !report.started.is_empty() || !report.expired.is_empty() => {
                tracing::info!(
                    started = report.started.len(),
                    expired = report.expired.len(),
                    "scheduler tick"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
        tokio::time::sleep(every).await;
    }
}
