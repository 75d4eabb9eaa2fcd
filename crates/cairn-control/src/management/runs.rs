//! Backups and restores as records and jobs (spec 2.1, 2.3; rules 3, 4, 5, 7): created here with
//! status `CREATED` and a queued job; the engine runs them (see [`crate::jobs`]).

use std::collections::BTreeMap;

use cairn_store::{
    BackupFilter, BackupRecord, BackupStatus, JobKind, JobRecord, JobState, Page, PageQuery,
    PolicyRecord, Product, RestoreFilter, RestoreRecord, RestoreStatus, Selection, SiteLock,
    StoreError, Timestamp,
};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::{Management, actor_id, new_id};
use crate::audit::actions;
use crate::identity::Actor;
use crate::{ControlError, ControlResult};

/// The phase of work in flight (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProgressPhase {
    Listing,
    Downloading,
    Storing,
    Committing,
    Done,
}

/// `progress` of a backup or restore (extension), as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub phase: ProgressPhase,
    pub items_done: u64,
    /// Unknown while the listing runs.
    pub items_total: Option<u64>,
    pub bytes_done: u64,
}

/// `stats` of a finished backup (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatsView {
    /// Bytes the backup added to the storage, after deduplication and compression.
    pub new_bytes_stored: u64,
    pub items_changed: u64,
    pub items_unchanged: u64,
    pub duration_ms: u64,
}

/// One item a restore could not create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedItem {
    pub kind: String,
    pub source_id: String,
    pub message: String,
}

/// `result` of a restore (extension): counts by kind of what was created and skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub created: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    pub failed: Vec<FailedItem>,
}

#[derive(Debug, Clone, Default)]
pub struct NewRestore {
    pub backup_id: String,
    pub destination_cloud_id: String,
    pub include_attachments: Option<bool>,
    pub include_users: Option<bool>,
    pub include_personal_spaces: Option<bool>,
    pub project_keys: Option<Vec<String>>,
    pub space_keys: Option<Vec<String>>,
    /// Jira issues to restore alone (with their sub-tasks).
    pub issue_keys: Option<Vec<String>>,
    /// Confluence pages and blog posts to restore alone.
    pub page_ids: Option<Vec<String>>,
}

/// The most keys one restore may name in a field (more single items is a project or space
/// restore).
pub const MAX_RESTORE_ITEMS: usize = 1000;

const RULE_3: &str = "A backup or restore is already in progress for this site and product \
     (rule 3): wait for it to end, or cancel it.";

fn backup_not_found() -> ControlError {
    ControlError::NotFound("No backup with this backupId in this organization.".into())
}

fn restore_not_found() -> ControlError {
    ControlError::NotFound("No restore with this restoreId in this organization.".into())
}

fn rule_3(err: StoreError) -> ControlError {
    match err {
        StoreError::Conflict("in-flight") => ControlError::Conflict(RULE_3.into()),
        StoreError::Conflict("expired backup") => ControlError::Conflict(
            "This backup has expired (rule 5); expired backups cannot be restored.".into(),
        ),
        other => other.into(),
    }
}

pub(crate) fn queued_job(
    kind: JobKind,
    subject_id: &str,
    org_id: &str,
    now: Timestamp,
) -> JobRecord {
    JobRecord {
        id: new_id(),
        kind,
        subject_id: subject_id.to_string(),
        org_id: org_id.to_string(),
        state: JobState::Queued,
        available_at: now,
        lease_token: None,
        attempts: 0,
        checkpoint: None,
        cancel_requested: false,
        created_at: now,
        updated_at: now,
    }
}

/// What a restore request may name: project or space keys, issue keys, page ids (at most 255
/// characters).
#[derive(Clone, Copy)]
enum KeyShape {
    /// `ABC`, `D_1`: letters, digits and underscores (Jira's and Confluence's rule).
    Container,
    /// `ABC-12`: a project key, a dash and a number (upper-cased).
    Issue,
    /// `65601`: digits.
    Id,
}

impl KeyShape {
    fn check(self, key: &str) -> Option<String> {
        let word =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let number =
            |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        let ok = key.len() <= 255
            && match self {
                KeyShape::Container => word(key),
                KeyShape::Issue => key
                    .rsplit_once('-')
                    .is_some_and(|(project, n)| word(project) && number(n)),
                KeyShape::Id => number(key),
            };
        ok.then(|| match self {
            KeyShape::Issue => key.to_ascii_uppercase(),
            _ => key.to_string(),
        })
    }

    fn describe(self) -> &'static str {
        match self {
            KeyShape::Container => "a key (letters, digits and underscores)",
            KeyShape::Issue => "an issue key (a project key, a dash and a number, as ABC-12)",
            KeyShape::Id => "an id (digits)",
        }
    }
}

fn checked_keys(
    field: &str,
    keys: Option<Vec<String>>,
    shape: KeyShape,
) -> ControlResult<Option<Vec<String>>> {
    let Some(keys) = keys else { return Ok(None) };
    if keys.is_empty() {
        return Err(ControlError::invalid_field(
            field,
            "must name at least one key, or be left out",
        ));
    }
    if keys.len() > MAX_RESTORE_ITEMS {
        return Err(ControlError::invalid_field(
            field,
            format!("names {} keys; at most {MAX_RESTORE_ITEMS}", keys.len()),
        ));
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key.trim();
        let Some(key) = shape.check(key) else {
            return Err(ControlError::invalid_field(
                field,
                format!("{key:?} is not {}", shape.describe()),
            ));
        };
        if !out.contains(&key) {
            out.push(key);
        }
    }
    Ok(Some(out))
}

impl Management {
    /// What a backup of this policy holds besides the product data.
    fn selections_of(policy: &PolicyRecord) -> Vec<Selection> {
        let mut s = Vec::new();
        if policy.include_users {
            s.push(Selection::Users);
        }
        if policy.include_attachments {
            s.push(Selection::Attachments);
        }
        if policy.include_personal_spaces && policy.product == Product::Confluence {
            s.push(Selection::PersonalSpaces);
        }
        s
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
            expiry_at: now + TimeDelta::days(i64::from(policy.retention_days)),
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
        let lock = SiteLock {
            org_id: policy.org_id.clone(),
            cloud_id: policy.cloud_id.clone(),
            product: policy.product,
            holder_kind: JobKind::Backup,
            holder_id: id.clone(),
        };
        let job = queued_job(JobKind::Backup, &id, &policy.org_id, now);
        self.store
            .create_backup(&backup, &job, &lock)
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
        let mut backup = self.get_backup(org_id, id).await?;
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
            backup.status = BackupStatus::Cancelled;
            backup.status_message = format!("Cancelled by {} before it started.", actor_id(actor));
            backup.updated_at = now;
            self.store.update_backup(&backup).await?;
            self.store.release_site_lock(&backup_lock(&backup)).await?;
        } else {
            backup.status_message = "Cancelling: the backup stops at its next checkpoint.".into();
            backup.updated_at = now;
            self.store.update_backup(&backup).await?;
        }
        self.record(
            org_id,
            actor,
            actions::BACKUP_CANCEL,
            format!("backup:{id}"),
            None,
        )
        .await?;
        Ok(backup)
    }

    pub async fn create_restore(
        &self,
        org_id: &str,
        actor: &Actor,
        new: NewRestore,
    ) -> ControlResult<RestoreRecord> {
        let backup = self.get_backup(org_id, &new.backup_id).await?;
        match backup.status {
            BackupStatus::Completed | BackupStatus::Incomplete => {}
            BackupStatus::Expired => {
                return Err(ControlError::Conflict(
                    "This backup has expired (rule 5); expired backups cannot be restored.".into(),
                ));
            }
            other => {
                return Err(ControlError::Conflict(format!(
                    "Only a COMPLETED or INCOMPLETE backup can be restored; this one is {other}."
                )));
            }
        }
        let Some(destination) = self
            .store
            .get_site(org_id, &new.destination_cloud_id)
            .await?
        else {
            return Err(ControlError::Conflict(
                "A restore destination must be a site of this organization (rule 7): register \
                 the destination site in this organization first."
                    .into(),
            ));
        };
        if !destination
            .products
            .iter()
            .any(|p| p.product == backup.product)
        {
            return Err(ControlError::invalid_field(
                "destinationCloudId",
                format!(
                    "the site {} has no {}",
                    destination.cloud_url, backup.product
                ),
            ));
        }
        let project_keys = checked_keys("projectKeys", new.project_keys, KeyShape::Container)?;
        let space_keys = checked_keys("spaceKeys", new.space_keys, KeyShape::Container)?;
        let issue_keys = checked_keys("issueKeys", new.issue_keys, KeyShape::Issue)?;
        let page_ids = checked_keys("pageIds", new.page_ids, KeyShape::Id)?;
        for (field, given, product) in [
            ("projectKeys", project_keys.is_some(), Product::Jira),
            ("issueKeys", issue_keys.is_some(), Product::Jira),
            ("spaceKeys", space_keys.is_some(), Product::Confluence),
            ("pageIds", page_ids.is_some(), Product::Confluence),
        ] {
            if given && backup.product != product {
                return Err(ControlError::invalid_field(
                    field,
                    format!("only applies to a {product} backup"),
                ));
            }
        }
        if project_keys.is_some() && issue_keys.is_some() {
            return Err(ControlError::invalid_field(
                "issueKeys",
                "name either projects or issues, not both",
            ));
        }
        if space_keys.is_some() && page_ids.is_some() {
            return Err(ControlError::invalid_field(
                "pageIds",
                "name either spaces or pages, not both",
            ));
        }
        let item_keys = issue_keys.or(page_ids);
        // What to restore: what the backup holds, narrowed by the request.
        let mut selections = Vec::new();
        for (selection, asked, field) in [
            (Selection::Users, new.include_users, "includeUsersAndGroups"),
            (
                Selection::Attachments,
                new.include_attachments,
                "includeAttachments",
            ),
            (
                Selection::PersonalSpaces,
                new.include_personal_spaces,
                "includePersonalSpaces",
            ),
        ] {
            let held = backup.selections.contains(&selection);
            match asked {
                Some(true) if !held => {
                    return Err(ControlError::invalid_field(
                        field,
                        format!("this backup does not hold {selection}"),
                    ));
                }
                Some(false) => {}
                _ if held => selections.push(selection),
                _ => {}
            }
        }
        // Rule 7: a whole-product Jira restore needs an empty destination.
        if backup.product == Product::Jira && project_keys.is_none() && item_keys.is_none() {
            let access = self.site_access(org_id, &destination.cloud_id).await?;
            if !self.product_is_empty_now(&access, Product::Jira).await? {
                return Err(ControlError::Conflict(
                    "A Jira destination must be empty (rule 7): this site already has projects. \
                     Restore into an empty site, or name the projects to restore with projectKeys."
                        .into(),
                ));
            }
        }
        let now = self.clock.now();
        let id = new_id();
        let restore = RestoreRecord {
            id: id.clone(),
            org_id: org_id.to_string(),
            backup_id: backup.id.clone(),
            source_cloud_id: backup.cloud_id.clone(),
            destination_cloud_id: destination.cloud_id.clone(),
            product: backup.product,
            status: RestoreStatus::Created,
            status_message: "Queued.".into(),
            account_id: actor_id(actor),
            selections,
            project_keys,
            space_keys,
            item_keys,
            progress: None,
            result: None,
            created_at: now,
            updated_at: now,
        };
        let lock = SiteLock {
            org_id: org_id.to_string(),
            cloud_id: destination.cloud_id,
            product: backup.product,
            holder_kind: JobKind::Restore,
            holder_id: id.clone(),
        };
        let job = queued_job(JobKind::Restore, &id, org_id, now);
        self.store
            .create_restore(&restore, &job, &lock)
            .await
            .map_err(rule_3)?;
        self.record(
            org_id,
            actor,
            actions::RESTORE_CREATE,
            format!("restore:{id}"),
            Some(serde_json::json!({ "backupId": backup.id, "destinationCloudId": restore.destination_cloud_id })),
        )
        .await?;
        Ok(restore)
    }

    pub async fn get_restore(&self, org_id: &str, id: &str) -> ControlResult<RestoreRecord> {
        self.store
            .get_restore(org_id, id)
            .await?
            .ok_or_else(restore_not_found)
    }

    pub async fn list_restores(
        &self,
        filter: &RestoreFilter,
        page: PageQuery,
    ) -> ControlResult<Page<RestoreRecord>> {
        Ok(self.store.list_restores(filter, page).await?)
    }

    pub async fn cancel_restore(
        &self,
        org_id: &str,
        actor: &Actor,
        id: &str,
    ) -> ControlResult<RestoreRecord> {
        let mut restore = self.get_restore(org_id, id).await?;
        if !restore.status.in_flight() {
            return Err(ControlError::Conflict(format!(
                "Only a restore in flight (CREATED or IN_PROGRESS) can be cancelled; this one is {}.",
                restore.status
            )));
        }
        let now = self.clock.now();
        self.store
            .request_job_cancel(JobKind::Restore, id, now)
            .await?;
        if self
            .store
            .cancel_queued_job(JobKind::Restore, id, now)
            .await?
        {
            restore.status = RestoreStatus::Cancelled;
            restore.status_message = format!("Cancelled by {} before it started.", actor_id(actor));
            restore.updated_at = now;
            self.store.update_restore(&restore).await?;
            self.store
                .release_site_lock(&restore_lock(&restore))
                .await?;
        } else {
            restore.status_message =
                "Cancelling: the restore stops after the item it is writing; what it created stays.".into();
            restore.updated_at = now;
            self.store.update_restore(&restore).await?;
        }
        self.record(
            org_id,
            actor,
            actions::RESTORE_CANCEL,
            format!("restore:{id}"),
            None,
        )
        .await?;
        Ok(restore)
    }
}

pub(crate) fn backup_lock(b: &BackupRecord) -> SiteLock {
    SiteLock {
        org_id: b.org_id.clone(),
        cloud_id: b.cloud_id.clone(),
        product: b.product,
        holder_kind: JobKind::Backup,
        holder_id: b.id.clone(),
    }
}

pub(crate) fn restore_lock(r: &RestoreRecord) -> SiteLock {
    SiteLock {
        org_id: r.org_id.clone(),
        cloud_id: r.destination_cloud_id.clone(),
        product: r.product,
        holder_kind: JobKind::Restore,
        holder_id: r.id.clone(),
    }
}
