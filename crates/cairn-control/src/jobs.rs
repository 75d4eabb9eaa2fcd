//! The job queue's workers and the [`Engine`] they drive.
//!
//! A worker claims a due job with a lease, renews the lease while the engine works, lets the
//! engine save checkpoints and progress, and records the outcome on the backup or restore. If its
//! node dies the lease lapses and another worker claims the job and resumes from the checkpoint.
//! Every write a worker makes after the claim presents the lease token, so a worker that lost its
//! lease can no longer change anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cairn_store::{
    BackupRecord, BackupStatus, JobKind, JobRecord, PolicyStatus, RestoreRecord, RestoreStatus,
    Store, Timestamp,
};
use chrono::TimeDelta;
use tokio::sync::Mutex;

use crate::management::{
    BackupStatsView, Management, Progress, ProgressPhase, RestoreSummary, SiteAccess, StorageAccess,
};
use crate::management::{backup_lock, restore_lock};
use crate::{ControlError, ControlResult};

/// A backup to take.
#[derive(Debug, Clone)]
pub struct BackupTask {
    pub backup: BackupRecord,
    pub site: SiteAccess,
    pub storage: StorageAccess,
    /// The newest complete backup of the same policy: the parent of an incremental backup.
    pub parent: Option<BackupRecord>,
    /// No retry follows a failure of this attempt (rule 6): whatever fails it, the backup ends
    /// FAILED, so the engine cleans up as for a permanent failure.
    pub last_attempt: bool,
}

/// A restore to run.
#[derive(Debug, Clone)]
pub struct RestoreTask {
    pub restore: RestoreRecord,
    pub backup: BackupRecord,
    pub destination: SiteAccess,
    pub storage: StorageAccess,
}

/// An expired backup whose data the storage should reclaim.
#[derive(Debug, Clone)]
pub struct CollectTask {
    pub backup: BackupRecord,
    pub storage: StorageAccess,
}

/// How a backup or restore ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Some items could not be read or written; the message says which (spec: `statusMessage`).
    Incomplete(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupResult {
    pub outcome: Outcome,
    pub snapshot_id: String,
    pub users_size: u64,
    pub data_size: u64,
    pub attachments_size: u64,
    pub stats: BackupStatsView,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreResult {
    pub outcome: Outcome,
    pub summary: RestoreSummary,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Worth another attempt later (a site or storage outage).
    #[error("{0}")]
    Retryable(String),
    /// Another attempt would fail the same way.
    #[error("{0}")]
    Permanent(String),
    /// The job was cancelled; the engine stopped at a consistent point.
    #[error("cancelled")]
    Cancelled,
    /// This worker no longer holds the job; another one does. Stop without writing.
    #[error("the job's lease was lost")]
    LeaseLost,
}

/// What moves data between sites and storages. The end-to-end engine implements it.
#[async_trait]
pub trait Engine: Send + Sync {
    async fn backup(&self, task: BackupTask, ctx: &JobContext)
    -> Result<BackupResult, EngineError>;
    async fn restore(
        &self,
        task: RestoreTask,
        ctx: &JobContext,
    ) -> Result<RestoreResult, EngineError>;
    async fn collect(&self, task: CollectTask, ctx: &JobContext) -> Result<(), EngineError>;
}

/// The engine's handle on its job: checkpoints, progress, and whether to stop.
pub struct JobContext {
    store: Arc<dyn Store>,
    clock: Arc<dyn crate::clock::Clock>,
    job: JobRecord,
    lease_token: String,
    /// Set when the job is cancelled or the lease is lost; the engine checks it between items.
    stop: Arc<AtomicBool>,
    lease_lost: Arc<AtomicBool>,
    /// When progress was last written, and in which phase.
    last_progress: Mutex<Option<(Timestamp, ProgressPhase)>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.job.id)
            .finish_non_exhaustive()
    }
}

/// Progress is written at most this often (spec section 7: at most every second).
const PROGRESS_EVERY: TimeDelta = TimeDelta::seconds(1);

impl JobContext {
    /// The checkpoint the previous holder of this job saved, if any: resume from it.
    pub fn checkpoint(&self) -> Option<&str> {
        self.job.checkpoint.as_deref()
    }

    /// How many times this job has been claimed (1 on the first run).
    pub fn attempt(&self) -> u32 {
        self.job.attempts
    }

    pub async fn save_checkpoint(&self, checkpoint: &str) -> Result<(), EngineError> {
        let kept = self
            .store
            .save_job_checkpoint(&self.job.id, &self.lease_token, checkpoint)
            .await
            .map_err(|e| EngineError::Retryable(e.to_string()))?;
        if kept {
            Ok(())
        } else {
            self.lease_lost.store(true, Ordering::SeqCst);
            Err(EngineError::LeaseLost)
        }
    }

    /// Records progress on the backup or restore, at most once a second within a phase; a
    /// change of phase (`DONE` above all) is always written.
    pub async fn report(&self, progress: Progress) -> Result<(), EngineError> {
        let now = self.clock.now();
        {
            let mut last = self.last_progress.lock().await;
            if let Some((at, phase)) = *last
                && phase == progress.phase
                && now - at < PROGRESS_EVERY
            {
                return Ok(());
            }
            *last = Some((now, progress.phase));
        }
        let text =
            serde_json::to_string(&progress).map_err(|e| EngineError::Permanent(e.to_string()))?;
        let store_err = |e: cairn_store::StoreError| EngineError::Retryable(e.to_string());
        match self.job.kind {
            JobKind::Backup => {
                if let Some(mut b) = self
                    .store
                    .get_backup_by_id(&self.job.subject_id)
                    .await
                    .map_err(store_err)?
                {
                    b.progress = Some(text);
                    b.updated_at = now;
                    self.store.update_backup(&b).await.map_err(store_err)?;
                }
            }
            JobKind::Restore => {
                if let Some(mut r) = self
                    .store
                    .get_restore_by_id(&self.job.subject_id)
                    .await
                    .map_err(store_err)?
                {
                    r.progress = Some(text);
                    r.updated_at = now;
                    self.store.update_restore(&r).await.map_err(store_err)?;
                }
            }
            JobKind::Collect => {}
        }
        Ok(())
    }

    /// True once the engine should stop: cancelled, lease lost, or the node shutting down.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The error to return after stopping because [`JobContext::should_stop`] said so.
    pub fn stop_reason(&self) -> EngineError {
        if self.lease_lost.load(Ordering::SeqCst) {
            EngineError::LeaseLost
        } else {
            EngineError::Cancelled
        }
    }
}

/// The progress of work that ended well: its last counts, in the `DONE` phase, whatever the engine
/// reported last (spec section 7: progress ends at `DONE`).
fn finished(last: Option<&str>) -> Option<String> {
    let mut progress = last
        .and_then(|t| serde_json::from_str::<Progress>(t).ok())
        .unwrap_or(Progress {
            phase: ProgressPhase::Done,
            items_done: 0,
            items_total: None,
            bytes_done: 0,
        });
    progress.phase = ProgressPhase::Done;
    progress.items_total = Some(progress.items_done);
    serde_json::to_string(&progress).ok()
}

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
        let Some(mut backup) = store.get_backup_by_id(&job.subject_id).await? else {
            self.finish(job, ctx).await?;
            return Ok(());
        };
        if !backup.status.in_flight() {
            // Its outcome was recorded by a worker that stopped before freeing the site and
            // ending the job: finish both, or rule 3 would hold the site forever.
            store.release_site_lock(&backup_lock(&backup)).await?;
            self.finish(job, ctx).await?;
            return Ok(());
        }
        let now = m.clock().now();
        if job.cancel_requested {
            backup.status = BackupStatus::Cancelled;
            backup.status_message = "Cancelled before it started.".into();
            backup.updated_at = now;
            return self.close_backup(job, ctx, backup).await;
        }
        let task = match self.backup_task(&backup).await {
            Ok(task) => task,
            Err(e @ (ControlError::NotFound(_) | ControlError::Internal(_))) => {
                backup.status = BackupStatus::Failed;
                backup.status_message = format!("The backup cannot run: {e}");
                backup.updated_at = now;
                return self.close_backup(job, ctx, backup).await;
            }
            Err(e) => return Err(e),
        };
        backup.status = BackupStatus::InProgress;
        backup.status_message = if job.checkpoint.is_some() {
            "Resumed from its last checkpoint.".into()
        } else {
            "Running.".into()
        };
        backup.started_at.get_or_insert(now);
        backup.updated_at = now;
        store.update_backup(&backup).await?;

        let result = self.engine.backup(task, ctx).await;
        if !matches!(result, Err(EngineError::LeaseLost)) && !self.still_holds(job, ctx).await? {
            return Ok(());
        }
        let now = m.clock().now();
        let Some(mut backup) = store.get_backup_by_id(&job.subject_id).await? else {
            return Ok(());
        };
        backup.updated_at = now;
        match result {
            Ok(done) => {
                backup.progress = finished(backup.progress.as_deref());
                backup.snapshot_id = Some(done.snapshot_id);
                backup.users_size = done.users_size;
                backup.data_size = done.data_size;
                backup.attachments_size = done.attachments_size;
                backup.stats = serde_json::to_string(&done.stats).ok();
                let (status, message) = match done.outcome {
                    Outcome::Completed => (BackupStatus::Completed, "Completed.".to_string()),
                    Outcome::Incomplete(what) => (BackupStatus::Incomplete, what),
                };
                backup.status = status;
                backup.status_message = message;
                self.close_backup(job, ctx, backup).await
            }
            Err(EngineError::LeaseLost) => Ok(()),
            Err(EngineError::Cancelled) => {
                backup.status = BackupStatus::Cancelled;
                backup.status_message =
                    "Cancelled. Nothing partial was committed to the storage.".into();
                self.close_backup(job, ctx, backup).await
            }
            Err(err) => {
                backup.attempts += 1;
                let retry = matches!(err, EngineError::Retryable(_))
                    && backup.attempts < m.settings().max_attempts;
                if retry {
                    let at = now + lease_delta(m.settings().retry_interval);
                    backup.status = BackupStatus::Created;
                    backup.status_message = format!(
                        "Attempt {} of {} failed: {err}. Retrying at {} (rule 6).",
                        backup.attempts,
                        m.settings().max_attempts,
                        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    );
                    store.update_backup(&backup).await?;
                    store.requeue_job(&job.id, &ctx.lease_token, at).await?;
                    Ok(())
                } else {
                    backup.status = BackupStatus::Failed;
                    backup.status_message = format!(
                        "Failed after {} attempt{}: {err}",
                        backup.attempts,
                        if backup.attempts == 1 { "" } else { "s" }
                    );
                    self.close_backup(job, ctx, backup).await
                }
            }
        }
    }

    /// Records the final state, releases the site, ends the job, and retires a `ONCE` policy
    /// whose backup this was (rule 9).
    async fn close_backup(
        &self,
        job: &JobRecord,
        ctx: &JobContext,
        backup: BackupRecord,
    ) -> ControlResult<()> {
        let store = self.management.store();
        store.update_backup(&backup).await?;
        store.release_site_lock(&backup_lock(&backup)).await?;
        self.finish(job, ctx).await?;
        if let Some(mut policy) = store.get_policy(&backup.org_id, &backup.policy_id).await?
            && policy.status == PolicyStatus::Active
            && policy.next_run_at.is_none()
            && policy
                .schedule
                .is_some_and(|s| s.interval == cairn_store::Interval::Once)
        {
            policy.status = PolicyStatus::Inactive;
            policy.updated_at = self.management.clock().now();
            store.update_policy(&policy).await?;
        }
        tracing::info!(backup = %backup.id, status = %backup.status, "backup ended");
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
        let Some(mut restore) = store.get_restore_by_id(&job.subject_id).await? else {
            self.finish(job, ctx).await?;
            return Ok(());
        };
        if !restore.status.in_flight() {
            // As for a backup: free the destination a stopped worker left locked.
            store.release_site_lock(&restore_lock(&restore)).await?;
            self.finish(job, ctx).await?;
            return Ok(());
        }
        let now = m.clock().now();
        restore.updated_at = now;
        if job.cancel_requested {
            restore.status = RestoreStatus::Cancelled;
            restore.status_message = "Cancelled before it started.".into();
            return self.close_restore(job, ctx, restore).await;
        }
        let task = async {
            let backup = store
                .get_backup_by_id(&restore.backup_id)
                .await?
                .ok_or_else(|| ControlError::NotFound("the backup is gone".into()))?;
            ControlResult::Ok(RestoreTask {
                destination: m
                    .site_access(&restore.org_id, &restore.destination_cloud_id)
                    .await?,
                storage: m.storage_access(&backup.org_id, &backup.storage_id).await?,
                backup,
                restore: restore.clone(),
            })
        }
        .await;
        let task = match task {
            Ok(t) => t,
            Err(e @ (ControlError::NotFound(_) | ControlError::Internal(_))) => {
                restore.status = RestoreStatus::Failed;
                restore.status_message = format!("The restore cannot run: {e}");
                return self.close_restore(job, ctx, restore).await;
            }
            Err(e) => return Err(e),
        };
        restore.status = RestoreStatus::InProgress;
        restore.status_message = if job.checkpoint.is_some() {
            "Resumed from its last checkpoint; nothing already created is created again.".into()
        } else {
            "Running.".into()
        };
        store.update_restore(&restore).await?;
        let result = self.engine.restore(task, ctx).await;
        if !matches!(result, Err(EngineError::LeaseLost)) && !self.still_holds(job, ctx).await? {
            return Ok(());
        }
        let Some(mut restore) = store.get_restore_by_id(&job.subject_id).await? else {
            return Ok(());
        };
        restore.updated_at = m.clock().now();
        match result {
            Ok(done) => {
                restore.progress = finished(restore.progress.as_deref());
                restore.result = serde_json::to_string(&done.summary).ok();
                let (status, message) = match done.outcome {
                    Outcome::Completed => (RestoreStatus::Completed, "Completed.".to_string()),
                    Outcome::Incomplete(what) => (RestoreStatus::Incomplete, what),
                };
                restore.status = status;
                restore.status_message = message;
            }
            Err(EngineError::LeaseLost) => return Ok(()),
            Err(EngineError::Cancelled) => {
                restore.status = RestoreStatus::Cancelled;
                restore.status_message = "Cancelled. What was created before stays.".into();
            }
            Err(err) => {
                restore.status = RestoreStatus::Failed;
                restore.status_message = format!("Failed: {err}");
            }
        }
        self.close_restore(job, ctx, restore).await
    }

    async fn close_restore(
        &self,
        job: &JobRecord,
        ctx: &JobContext,
        restore: RestoreRecord,
    ) -> ControlResult<()> {
        let store = self.management.store();
        store.update_restore(&restore).await?;
        store.release_site_lock(&restore_lock(&restore)).await?;
        self.finish(job, ctx).await?;
        tracing::info!(restore = %restore.id, status = %restore.status, "restore ended");
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
