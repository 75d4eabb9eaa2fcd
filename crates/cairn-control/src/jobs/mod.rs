//! The engine's port: the tasks it is given, what it returns, the [`Engine`] trait it
//! implements and the [`JobContext`] it works through. The [`Worker`] (in `worker.rs`) claims jobs
//! from the queue and drives the engine; the lifecycle records what became of each run.
//!
//! A worker claims a due job with a lease, renews the lease while the engine works, lets the
//! engine save checkpoints and progress, and records the outcome on the backup or restore. If its
//! node dies the lease lapses and another worker claims the job and resumes from the checkpoint.
//! Every write a worker makes after the claim presents the lease token, so a worker that lost its
//! lease can no longer change anything.

mod worker;

pub use worker::{Worker, WorkerSettings, run_scheduler};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use cairn_store::{BackupRecord, JobKind, JobQueueStore, JobRecord, RestoreRecord, Timestamp};
use chrono::TimeDelta;
use tokio::sync::Mutex;

use crate::lifecycle::Lifecycle;
use crate::management::{
    BackupStatsView, Progress, ProgressPhase, RestoreSummary, SiteAccess, StorageAccess,
};

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
    /// Only the job queue: checkpoints; the run's record moves through the lifecycle.
    store: Arc<dyn JobQueueStore>,
    lifecycle: Arc<Lifecycle>,
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
        let lifecycle = &self.lifecycle;
        let (id, org) = (&self.job.subject_id, &self.job.org_id);
        match self.job.kind {
            JobKind::Backup => lifecycle.backup_progress(id, org, &progress).await,
            JobKind::Restore => lifecycle.restore_progress(id, org, &progress).await,
            JobKind::Collect => Ok(true),
        }
        .map_err(|e| EngineError::Retryable(e.to_string()))?;
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
