//! Backups as records with a queued job (spec 2.1; rules 3 and 4): started by run-now,
//! activation and the scheduler alike; the worker runs them and the lifecycle records how they
//! end.

use cairn_store::{
    BackupFilter, BackupRecord, BackupStatus, JobKind, Page, PageQuery, PolicyRecord, Product,
    Selection,
};
use chrono::TimeDelta;

use super::{Management, actor_id, new_id, queued_job, rule_3};
use crate::audit::actions;
use crate::identity::Actor;
use crate::lifecycle::{BackupEnd, backup_lock};
use crate::{ControlError, ControlResult};

/// Whether a backup of `product` can hold `selection`: the engine backs up users and groups
/// for Jira only, and personal spaces are Confluence's. A flag for anything else is ignored,
/// by policies and restores alike.
pub(crate) fn can_hold(product: Product, selection: Selection) -> bool {
    match selection {
        Selection::Users => product == Product::Jira,
        Selection::Attachments => true,
        Selection::PersonalSpaces => product == Product::Confluence,
    }
}

fn backup_not_found() -> ControlError {
    ControlError::NotFound("No backup with this backupId in this organization.".into())
}

impl Management {
    /// What a backup of this policy holds besides the product data (spec 2.1).
    fn selections_of(policy: &PolicyRecord) -> Vec<Selection> {
        [
            (Selection::Users, policy.include_users),
            (Selection::Attachments, policy.include_attachments),
            (Selection::PersonalSpaces, policy.include_personal_spaces),
        ]
        .into_iter()
        .filter(|&(selection, asked)| asked && can_hold(policy.product, selection))
        .map(|(selection, _)| selection)
        .collect()
    }

    /// Creates a backup of `policy` and queues its job, enforcing rules 3 and 4. Used by run-now,
    /// activation and the scheduler alike.
    pub(crate) async fn start_backup(
        &self,
        policy: &PolicyRecord,
        account_id: &str,
    ) -> ControlResult<BackupRecord> {
        let now = self.clock.now();
        if let Some(min) = self.settings.min_backup_interval
            && let Some(last) = self
                .store
                .last_complete_backup_at(&policy.org_id, &policy.cloud_id, policy.product)
                .await?
        {
            let next_allowed = last + TimeDelta::from_std(min).unwrap_or(TimeDelta::MAX);
            if now < next_allowed {
                return Err(ControlError::Conflict(format!(
                    "The last complete backup of this site and product was taken at {}; the minimum \
                     interval between backups (rule 4) allows the next one from {}.",
                    last.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    next_allowed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )));
            }
        }
        let storage = self.get_storage(&policy.org_id, &policy.storage_id).await?;
        // The retention lock is a floor under the policy's retention (issue 16).
        let kept_days = policy
            .retention_days
            .max(self.retention_lock(&policy.org_id).await?);
        let id = new_id();
        let backup = BackupRecord {
            id: id.clone(),
            org_id: policy.org_id.clone(),
            policy_id: policy.id.clone(),
            name: format!("{} {}", policy.name, now.format("%Y-%m-%d")),
            cloud_id: policy.cloud_id.clone(),
            product: policy.product,
            status: BackupStatus::Created,
            status_message: "Queued.".into(),
            account_id: account_id.to_string(),
            storage_id: storage.id,
            encryption_type: storage.encryption_type,
            selections: Self::selections_of(policy),
            expiry_at: now + TimeDelta::days(i64::from(kept_days)),
            users_size: 0,
            data_size: 0,
            attachments_size: 0,
            progress: None,
            stats: None,
            snapshot_id: None,
            attempts: 0,
            started_at: None,
            created_at: now,
            updated_at: now,
        };
        let job = queued_job(JobKind::Backup, &id, &policy.org_id, now);
        self.lifecycle
            .queue_backup(&backup, &job, &backup_lock(&backup))
            .await
            .map_err(rule_3)?;
        Ok(backup)
    }

    /// `POST policies/{policyId}/backups`: a backup now, whatever the schedule says.
    pub async fn run_backup_now(
        &self,
        org_id: &str,
        actor: &Actor,
        policy_id: &str,
    ) -> ControlResult<BackupRecord> {
        let policy = self.get_policy_record(org_id, policy_id).await?;
        let backup = self.start_backup(&policy, &actor_id(actor)).await?;
        self.record(
            org_id,
            actor,
            actions::BACKUP_RUN,
            format!("backup:{}", backup.id),
            Some(serde_json::json!({ "policyId": policy_id })),
        )
        .await?;
        Ok(backup)
    }

    pub async fn get_backup(&self, org_id: &str, id: &str) -> ControlResult<BackupRecord> {
        self.store
            .get_backup(org_id, id)
            .await?
            .ok_or_else(backup_not_found)
    }

    pub async fn list_backups(
        &self,
        filter: &BackupFilter,
        page: PageQuery,
    ) -> ControlResult<Page<BackupRecord>> {
        if let Some(policy_id) = &filter.policy_id {
            self.get_policy_record(&filter.org_id, policy_id).await?;
        }
        Ok(self.store.list_backups(filter, page).await?)
    }

    /// (extension) Stops a backup in flight. One not yet started ends at once; a running one is
    /// asked to stop and ends `CANCELLED` when its worker next checks (what it stored stays
    /// consistent: the vault commits snapshots atomically).
    pub async fn cancel_backup(
        &self,
        org_id: &str,
        actor: &Actor,
        id: &str,
    ) -> ControlResult<BackupRecord> {
        let backup = self.get_backup(org_id, id).await?;
        if !backup.status.in_flight() {
            return Err(ControlError::Conflict(format!(
                "Only a backup in flight (CREATED or IN_PROGRESS) can be cancelled; this one is {}.",
                backup.status
            )));
        }
        let now = self.clock.now();
        self.store
            .request_job_cancel(JobKind::Backup, id, now)
            .await?;
        if self
            .store
            .cancel_queued_job(JobKind::Backup, id, now)
            .await?
        {
            let message = format!("Cancelled by {} before it started.", actor_id(actor));
            self.lifecycle
                .backup_ended(&backup, BackupEnd::Cancelled(message))
                .await?;
        } else {
            let message = "Cancelling: the backup stops at its next checkpoint.";
            self.lifecycle
                .backup_cancel_requested(&backup, message)
                .await?;
        }
        self.record(
            org_id,
            actor,
            actions::BACKUP_CANCEL,
            format!("backup:{id}"),
            None,
        )
        .await?;
        // What the moves above left (a worker may have ended it first).
        self.get_backup(org_id, id).await
    }
}
