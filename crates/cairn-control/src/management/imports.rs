//! Backups imported from an export archive (`cairn restore-archive`): the archive's files are
//! already a snapshot in one of the org's storages; this records the backup they are, finished,
//! so that a restore runs from it exactly as from a backup Cairn made.

use cairn_store::{
    BackupRecord, BackupStatus, PolicyFilter, PolicyRecord, PolicyStatus, Product, Selection,
    Timestamp,
};

use super::backups::can_hold;
use super::{Management, actor_id, new_id};
use crate::audit::actions;
use crate::identity::Actor;
use crate::{ControlError, ControlResult};

/// The name of the (never active) policy that imported backups belong to.
pub const IMPORT_POLICY_NAME: &str = "Imported export archives";

/// What the archive's manifest says of the backup, and where its snapshot now is.
#[derive(Debug, Clone)]
pub struct ImportedBackup {
    /// The backup's id where it was made: kept, so the restore names the backup the user knows.
    pub backup_id: String,
    pub name: String,
    /// The site it was taken of (which need not be registered here).
    pub cloud_id: String,
    pub product: Product,
    /// `COMPLETED` or `INCOMPLETE`, as it ended.
    pub status: BackupStatus,
    pub selections: Vec<Selection>,
    pub started_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The storage the archive's files were written to, and the snapshot they form there.
    pub storage_id: String,
    pub snapshot_id: String,
    pub users_size: u64,
    pub data_size: u64,
    pub attachments_size: u64,
}

impl Management {
    /// Records `imported` as a finished backup of this org under the import policy of its site
    /// and product (made on first use, never active). `Conflict` when the org already holds a
    /// backup with its id.
    pub async fn import_backup(
        &self,
        org_id: &str,
        actor: &Actor,
        imported: ImportedBackup,
    ) -> ControlResult<BackupRecord> {
        if !matches!(
            imported.status,
            BackupStatus::Completed | BackupStatus::Incomplete
        ) {
            return Err(ControlError::Conflict(format!(
                "Only a COMPLETED or INCOMPLETE backup can be imported; this one is {}.",
                imported.status
            )));
        }
        let storage = self.store.get_storage(org_id, &imported.storage_id).await?;
        let Some(storage) = storage else {
            return Err(ControlError::NotFound(
                "No storage with this storageId in this organization.".into(),
            ));
        };
        let policy = self.import_policy(org_id, actor, &imported).await?;
        let now = self.clock.now();
        let backup = BackupRecord {
            id: imported.backup_id,
            org_id: org_id.to_string(),
            policy_id: policy.id,
            name: imported.name,
            cloud_id: imported.cloud_id,
            product: imported.product,
            status: imported.status,
            status_message: "Imported from an export archive.".into(),
            account_id: actor_id(actor),
            storage_id: storage.id,
            encryption_type: storage.encryption_type,
            selections: imported
                .selections
                .into_iter()
                .filter(|s| can_hold(imported.product, *s))
                .collect(),
            // Kept until someone deletes it: the archive it came from is the user's to keep.
            expiry_at: now + chrono::TimeDelta::days(36_500),
            users_size: imported.users_size,
            data_size: imported.data_size,
            attachments_size: imported.attachments_size,
            progress: None,
            stats: None,
            snapshot_id: Some(imported.snapshot_id),
            attempts: 0,
            started_at: imported.started_at,
            created_at: imported.created_at,
            updated_at: now,
        };
        self.lifecycle
            .backup_imported(&backup)
            .await
            .map_err(|e| match e {
                cairn_store::StoreError::Conflict(_) => ControlError::Conflict(format!(
                    "This organization already holds a backup {}.",
                    backup.id
                )),
                other => other.into(),
            })?;
        self.record(
            org_id,
            actor,
            actions::BACKUP_IMPORT,
            format!("backup:{}", backup.id),
            Some(serde_json::json!({ "snapshotId": backup.snapshot_id })),
        )
        .await?;
        Ok(backup)
    }

    /// The import policy of the backup's site and product, made on first use.
    async fn import_policy(
        &self,
        org_id: &str,
        actor: &Actor,
        imported: &ImportedBackup,
    ) -> ControlResult<PolicyRecord> {
        let filter = PolicyFilter {
            org_id: org_id.to_string(),
            cloud_id: Some(imported.cloud_id.clone()),
            product: Some(imported.product),
            status: None,
        };
        if let Some(policy) = self.policy_named(&filter, IMPORT_POLICY_NAME).await? {
            return Ok(policy);
        }
        let now = self.clock.now();
        let has = |s: Selection| imported.selections.contains(&s);
        let policy = PolicyRecord {
            id: new_id(),
            org_id: org_id.to_string(),
            name: IMPORT_POLICY_NAME.into(),
            cloud_id: imported.cloud_id.clone(),
            product: imported.product,
            status: PolicyStatus::Inactive,
            include_attachments: has(Selection::Attachments),
            include_personal_spaces: has(Selection::PersonalSpaces),
            include_users: has(Selection::Users),
            storage_id: imported.storage_id.clone(),
            schedule: None,
            next_run_at: None,
            retention_days: self.settings.default_retention_days,
            activated_by: None,
            created_at: now,
            created_by: actor_id(actor),
            updated_at: now,
        };
        self.store.insert_policy(&policy).await?;
        self.record(
            org_id,
            actor,
            actions::POLICY_CREATE,
            format!("policy:{}", policy.id),
            None,
        )
        .await?;
        Ok(policy)
    }
}
