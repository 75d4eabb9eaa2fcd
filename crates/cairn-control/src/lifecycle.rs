//! The one owner of a backup's and a restore's life: the only code that moves a run from one
//! status to another and frees the site it holds.
//!
//! Each move is one targeted store write that names the statuses it may come from (a
//! compare-and-set), so two writers (a worker reporting progress or completing, a user
//! cancelling, a node taking over a lapsed job) cannot undo each other: the one that loses sees
//! `false` and leaves the record alone. A move to a final status releases the run's site lock in
//! the same transaction, so a lock is released exactly once, by the move that ended the run.
//! Every move that happens emits one [`RunEvent`], the hook for notifications and metrics.

use std::sync::Arc;

use cairn_store::{
    BackupChange, BackupOutput, BackupRecord, BackupStatus, JobRecord, Moved, RestoreChange,
    RestoreRecord, RestoreStatus, RunStore, SiteLock, StoreResult, Timestamp,
};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::management::{BackupStatsView, Progress, ProgressPhase, RestoreSummary};

/// Which kind of run an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    Backup,
    Restore,
}

/// The moves of a run's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Move {
    /// Created with a queued job (`CREATED`).
    Queued,
    /// A worker began or resumed it (`IN_PROGRESS`).
    Started,
    /// The engine reported progress.
    Progress,
    /// Someone asked a run in flight to stop; it ends when its worker next checks.
    CancelRequested,
    /// An attempt failed and another follows later (rule 6, back to `CREATED`).
    Retried,
    Completed,
    Incomplete,
    Failed,
    Cancelled,
    /// Past its expiry time; its data is queued for collection.
    Expired,
    /// Recorded already finished, from an export archive (`COMPLETED` or `INCOMPLETE`).
    Imported,
}

/// One move that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEvent {
    pub kind: RunKind,
    pub id: String,
    pub org_id: String,
    pub moved: Move,
    /// The status after the move (the spec's literal).
    pub status: &'static str,
    pub message: String,
    pub at: Timestamp,
    /// This move ended the run and released its site lock.
    pub lock_released: bool,
}

/// How a backup attempt ended, as the worker learned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupEnd {
    /// Stored whole (`COMPLETED`) or with items missing (`INCOMPLETE`, the message says which).
    Stored {
        output: BackupOutput,
        stats: BackupStatsView,
        incomplete: Option<String>,
    },
    Failed {
        attempts: u32,
        message: String,
    },
    Cancelled(String),
}

/// How a restore ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreEnd {
    Written {
        summary: RestoreSummary,
        incomplete: Option<String>,
    },
    Failed(String),
    Cancelled(String),
}

const IN_FLIGHT_BACKUP: &[BackupStatus] = &[BackupStatus::Created, BackupStatus::InProgress];
const IN_FLIGHT_RESTORE: &[RestoreStatus] = &[RestoreStatus::Created, RestoreStatus::InProgress];

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BACKLOG: usize = 1024;

/// Moves runs through their statuses. One per node, shared by the service and its workers.
pub struct Lifecycle {
    store: Arc<dyn RunStore>,
    clock: Arc<dyn Clock>,
    events: broadcast::Sender<RunEvent>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle").finish_non_exhaustive()
    }
}

impl Lifecycle {
    pub fn new(store: Arc<dyn RunStore>, clock: Arc<dyn Clock>) -> Self {
        Lifecycle {
            store,
            clock,
            events: broadcast::channel(EVENT_BACKLOG).0,
        }
    }

    /// Every move from now on, on this node.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        kind: RunKind,
        id: &str,
        org_id: &str,
        moved: Move,
        status: &'static str,
        message: &str,
        at: Timestamp,
        lock_released: bool,
    ) {
        tracing::debug!(run = %id, ?kind, ?moved, status, "run moved");
        // No subscriber is not an error: the events are a hook.
        let _ = self.events.send(RunEvent {
            kind,
            id: id.to_string(),
            org_id: org_id.to_string(),
            moved,
            status,
            message: message.to_string(),
            at,
            lock_released,
        });
    }

    // ---- backups ----

    /// Creates a backup with its job and takes its site lock, all or nothing (rule 3 answers
    /// `Conflict("in-flight")` from the store).
    pub async fn queue_backup(
        &self,
        backup: &BackupRecord,
        job: &JobRecord,
        lock: &SiteLock,
    ) -> StoreResult<()> {
        self.store.create_backup(backup, job, lock).await?;
        self.emit_backup(
            backup,
            Move::Queued,
            BackupStatus::Created,
            &backup.status_message,
            backup.created_at,
            false,
        );
        Ok(())
    }

    /// Records a backup that arrives finished, imported from an export archive: no job, no lock.
    pub async fn backup_imported(&self, backup: &BackupRecord) -> StoreResult<()> {
        self.store.insert_finished_backup(backup).await?;
        self.emit_backup(
            backup,
            Move::Imported,
            backup.status,
            &backup.status_message,
            backup.updated_at,
            false,
        );
        Ok(())
    }

    /// A worker begins (or, after a node died, resumes) the backup. False when it is no longer
    /// in flight.
    pub async fn backup_started(&self, b: &BackupRecord, resumed: bool) -> StoreResult<bool> {
        let message = if resumed {
            "Resumed from its last checkpoint."
        } else {
            "Running."
        };
        let change = BackupChange {
            start: true,
            ..self.backup_change(Some(BackupStatus::InProgress), message)
        };
        self.move_backup(b, IN_FLIGHT_BACKUP, change, Move::Started)
            .await
    }

    /// Records the engine's progress on a backup IN_PROGRESS; false when it is not.
    pub async fn backup_progress(
        &self,
        id: &str,
        org_id: &str,
        progress: &Progress,
    ) -> StoreResult<bool> {
        let at = self.clock.now();
        let moved = self.store.report_backup_progress(id, progress, at).await?;
        if moved {
            self.emit(
                RunKind::Backup,
                id,
                org_id,
                Move::Progress,
                BackupStatus::InProgress.as_str(),
                "",
                at,
                false,
            );
        }
        Ok(moved)
    }

    /// Asks a backup in flight to stop: only its message changes until its worker stops.
    pub async fn backup_cancel_requested(
        &self,
        b: &BackupRecord,
        message: &str,
    ) -> StoreResult<bool> {
        let change = self.backup_change(None, message);
        self.move_backup(b, IN_FLIGHT_BACKUP, change, Move::CancelRequested)
            .await
    }

    /// A failed attempt goes back to `CREATED` to be retried (rule 6).
    pub async fn backup_retried(
        &self,
        b: &BackupRecord,
        attempts: u32,
        message: &str,
    ) -> StoreResult<bool> {
        let change = BackupChange {
            attempts: Some(attempts),
            ..self.backup_change(Some(BackupStatus::Created), message)
        };
        self.move_backup(b, &[BackupStatus::InProgress], change, Move::Retried)
            .await
    }

    /// Ends a backup, releasing its site. A backup that was stored whole or in part ends only
    /// from `IN_PROGRESS`; a failure or a cancel from either in-flight status. False when another
    /// writer ended it first.
    pub async fn backup_ended(&self, b: &BackupRecord, end: BackupEnd) -> StoreResult<bool> {
        let (change, from, moved) = match end {
            BackupEnd::Stored {
                mut output,
                stats,
                incomplete,
            } => {
                output.stats = Some(stats);
                let (status, message, moved) = match incomplete {
                    None => (
                        BackupStatus::Completed,
                        "Completed.".to_string(),
                        Move::Completed,
                    ),
                    Some(what) => (BackupStatus::Incomplete, what, Move::Incomplete),
                };
                let change = BackupChange {
                    progress: Some(finished(b.progress)),
                    output: Some(output),
                    ..self.backup_change(Some(status), &message)
                };
                (change, &[BackupStatus::InProgress][..], moved)
            }
            BackupEnd::Failed { attempts, message } => {
                let change = BackupChange {
                    attempts: Some(attempts),
                    ..self.backup_change(Some(BackupStatus::Failed), &message)
                };
                (change, IN_FLIGHT_BACKUP, Move::Failed)
            }
            BackupEnd::Cancelled(message) => (
                self.backup_change(Some(BackupStatus::Cancelled), &message),
                IN_FLIGHT_BACKUP,
                Move::Cancelled,
            ),
        };
        let ended = self.move_backup(b, from, change, moved).await?;
        if ended {
            tracing::info!(backup = %b.id, ?moved, "backup ended");
        }
        Ok(ended)
    }

    /// Moves backups past their expiry to `EXPIRED` and queues the collection of their data.
    pub async fn expire_backups(&self, limit: u32) -> StoreResult<Vec<BackupRecord>> {
        let now = self.clock.now();
        let expired = self.store.expire_backups(now, limit).await?;
        for b in &expired {
            self.emit(
                RunKind::Backup,
                &b.id,
                &b.org_id,
                Move::Expired,
                BackupStatus::Expired.as_str(),
                "",
                now,
                false,
            );
        }
        Ok(expired)
    }

    /// Frees the site of a backup whose end was recorded by a worker that stopped before it
    /// could free it (records written before ends and releases were one transaction).
    pub async fn release_stale_backup_lock(&self, b: &BackupRecord) -> StoreResult<()> {
        if b.status.is_final() {
            self.store.release_site_lock(&backup_lock(b)).await?;
        }
        Ok(())
    }

    fn backup_change(&self, status: Option<BackupStatus>, message: &str) -> BackupChange {
        BackupChange {
            status,
            status_message: message.to_string(),
            at: self.clock.now(),
            start: false,
            attempts: None,
            progress: None,
            output: None,
        }
    }

    async fn move_backup(
        &self,
        b: &BackupRecord,
        from: &[BackupStatus],
        change: BackupChange,
        moved: Move,
    ) -> StoreResult<bool> {
        let Some(Moved { lock_released }) = self.store.move_backup(&b.id, from, &change).await?
        else {
            return Ok(false);
        };
        let status = change.status.unwrap_or(b.status);
        self.emit_backup(
            b,
            moved,
            status,
            &change.status_message,
            change.at,
            lock_released,
        );
        Ok(true)
    }

    fn emit_backup(
        &self,
        b: &BackupRecord,
        moved: Move,
        status: BackupStatus,
        message: &str,
        at: Timestamp,
        lock_released: bool,
    ) {
        self.emit(
            RunKind::Backup,
            &b.id,
            &b.org_id,
            moved,
            status.as_str(),
            message,
            at,
            lock_released,
        );
    }

    // ---- restores ----

    /// As [`Lifecycle::queue_backup`], for a restore (locking its destination).
    pub async fn queue_restore(
        &self,
        restore: &RestoreRecord,
        job: &JobRecord,
        lock: &SiteLock,
    ) -> StoreResult<()> {
        self.store.create_restore(restore, job, lock).await?;
        self.emit_restore(
            restore,
            Move::Queued,
            RestoreStatus::Created,
            &restore.status_message,
            restore.created_at,
            false,
        );
        Ok(())
    }

    pub async fn restore_started(&self, r: &RestoreRecord, resumed: bool) -> StoreResult<bool> {
        let message = if resumed {
            "Resumed from its last checkpoint; nothing already created is created again."
        } else {
            "Running."
        };
        let change = self.restore_change(Some(RestoreStatus::InProgress), message);
        self.move_restore(r, IN_FLIGHT_RESTORE, change, Move::Started)
            .await
    }

    pub async fn restore_progress(
        &self,
        id: &str,
        org_id: &str,
        progress: &Progress,
    ) -> StoreResult<bool> {
        let at = self.clock.now();
        let moved = self.store.report_restore_progress(id, progress, at).await?;
        if moved {
            self.emit(
                RunKind::Restore,
                id,
                org_id,
                Move::Progress,
                RestoreStatus::InProgress.as_str(),
                "",
                at,
                false,
            );
        }
        Ok(moved)
    }

    pub async fn restore_cancel_requested(
        &self,
        r: &RestoreRecord,
        message: &str,
    ) -> StoreResult<bool> {
        let change = self.restore_change(None, message);
        self.move_restore(r, IN_FLIGHT_RESTORE, change, Move::CancelRequested)
            .await
    }

    /// Ends a restore, releasing its destination. As for a backup, what was written ends only
    /// from `IN_PROGRESS`.
    pub async fn restore_ended(&self, r: &RestoreRecord, end: RestoreEnd) -> StoreResult<bool> {
        let (change, from, moved) = match end {
            RestoreEnd::Written {
                summary,
                incomplete,
            } => {
                let (status, message, moved) = match incomplete {
                    None => (
                        RestoreStatus::Completed,
                        "Completed.".to_string(),
                        Move::Completed,
                    ),
                    Some(what) => (RestoreStatus::Incomplete, what, Move::Incomplete),
                };
                let change = RestoreChange {
                    progress: Some(finished(r.progress)),
                    result: Some(summary),
                    ..self.restore_change(Some(status), &message)
                };
                (change, &[RestoreStatus::InProgress][..], moved)
            }
            RestoreEnd::Failed(message) => (
                self.restore_change(Some(RestoreStatus::Failed), &message),
                IN_FLIGHT_RESTORE,
                Move::Failed,
            ),
            RestoreEnd::Cancelled(message) => (
                self.restore_change(Some(RestoreStatus::Cancelled), &message),
                IN_FLIGHT_RESTORE,
                Move::Cancelled,
            ),
        };
        let ended = self.move_restore(r, from, change, moved).await?;
        if ended {
            tracing::info!(restore = %r.id, ?moved, "restore ended");
        }
        Ok(ended)
    }

    /// As [`Lifecycle::release_stale_backup_lock`], for a restore.
    pub async fn release_stale_restore_lock(&self, r: &RestoreRecord) -> StoreResult<()> {
        if r.status.is_final() {
            self.store.release_site_lock(&restore_lock(r)).await?;
        }
        Ok(())
    }

    fn restore_change(&self, status: Option<RestoreStatus>, message: &str) -> RestoreChange {
        RestoreChange {
            status,
            status_message: message.to_string(),
            at: self.clock.now(),
            progress: None,
            result: None,
        }
    }

    async fn move_restore(
        &self,
        r: &RestoreRecord,
        from: &[RestoreStatus],
        change: RestoreChange,
        moved: Move,
    ) -> StoreResult<bool> {
        let Some(Moved { lock_released }) = self.store.move_restore(&r.id, from, &change).await?
        else {
            return Ok(false);
        };
        let status = change.status.unwrap_or(r.status);
        self.emit_restore(
            r,
            moved,
            status,
            &change.status_message,
            change.at,
            lock_released,
        );
        Ok(true)
    }

    fn emit_restore(
        &self,
        r: &RestoreRecord,
        moved: Move,
        status: RestoreStatus,
        message: &str,
        at: Timestamp,
        lock_released: bool,
    ) {
        self.emit(
            RunKind::Restore,
            &r.id,
            &r.org_id,
            moved,
            status.as_str(),
            message,
            at,
            lock_released,
        );
    }
}

/// The lock a backup holds while in flight: its site and product.
pub(crate) fn backup_lock(b: &BackupRecord) -> SiteLock {
    SiteLock {
        org_id: b.org_id.clone(),
        cloud_id: b.cloud_id.clone(),
        product: b.product,
        holder_kind: cairn_store::JobKind::Backup,
        holder_id: b.id.clone(),
    }
}

/// The lock a restore holds while in flight: its destination and product.
pub(crate) fn restore_lock(r: &RestoreRecord) -> SiteLock {
    SiteLock {
        org_id: r.org_id.clone(),
        cloud_id: r.destination_cloud_id.clone(),
        product: r.product,
        holder_kind: cairn_store::JobKind::Restore,
        holder_id: r.id.clone(),
    }
}

/// The progress of work that ended well: its last counts, in the `DONE` phase, whatever the engine
/// reported last (spec section 7: progress ends at `DONE`).
fn finished(last: Option<Progress>) -> Progress {
    let mut progress = last.unwrap_or(Progress {
        phase: ProgressPhase::Done,
        items_done: 0,
        items_total: None,
        bytes_done: 0,
        site_traffic: None,
    });
    progress.phase = ProgressPhase::Done;
    progress.items_total = Some(progress.items_done);
    if let Some(traffic) = progress.site_traffic.as_mut() {
        traffic.requests_waiting = 0;
    }
    progress
}
