//! The scheduler's tick: starts the scheduled backups that are due and expires backups past their
//! `expiryTime`. Everything it needs is in the store, so any node may tick, at any time, as often
//! as it likes: the compare-and-set on `next_run_at` lets exactly one node start each run.

use cairn_store::PolicyStatus;
use chrono::TimeDelta;

use super::Management;
use crate::ControlError;
use crate::ControlResult;
use crate::schedule;

/// How many due policies (and expired backups) one tick handles; the next tick takes the rest.
const TICK_BATCH: u32 = 200;

/// What a tick did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Backups started.
    pub started: Vec<String>,
    /// Policies whose run was due but could not start, with the reason.
    pub deferred: Vec<(String, String)>,
    /// Backups moved to EXPIRED.
    pub expired: Vec<String>,
}

impl Management {
    pub async fn tick(&self) -> ControlResult<TickReport> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        for policy in self.store.due_policies(now, TICK_BATCH).await? {
            let (Some(due), Some(sched)) = (policy.next_run_at, policy.schedule) else {
                continue;
            };
            // However long the service was down, the next run is the first one after now:
            // missed runs are caught up once.
            let next = schedule::run_after(&sched, now);
            if !self
                .store
                .advance_policy_schedule(&policy.id, due, next, PolicyStatus::Active)
                .await?
            {
                continue; // another node took this run
            }
            let account = policy
                .activated_by
                .clone()
                .unwrap_or_else(|| policy.created_by.clone());
            match self.start_backup(&policy, &account).await {
                Ok(backup) => report.started.push(backup.id),
                Err(ControlError::Conflict(reason)) => {
                    tracing::info!(policy = %policy.id, %reason, "scheduled backup not started");
                    // Whatever the interval, a refused run is tried again later, unless the
                    // next scheduled run comes first; a PUT or another node that moved the
                    // schedule meanwhile wins (compare-and-set on `next`).
                    let retry_at = now + retry_delay(self);
                    if next.is_none_or(|n| retry_at < n) {
                        self.store
                            .retry_policy_run(&policy.id, next, retry_at)
                            .await?;
                    }
                    report.deferred.push((policy.id.clone(), reason));
                }
                Err(e) => return Err(e),
            }
        }
        for backup in self.lifecycle.expire_backups(TICK_BATCH).await? {
            tracing::info!(backup = %backup.id, "backup expired; its data is queued for collection");
            report.expired.push(backup.id);
        }
        Ok(report)
    }
}

fn retry_delay(m: &Management) -> TimeDelta {
    TimeDelta::from_std(m.settings.retry_interval).unwrap_or(TimeDelta::minutes(30))
}
