//! Restores as records with a queued job (spec 2.3; rules 3, 5 and 7), and what a restore request
//! may name.

use cairn_store::{
    BackupStatus, JobKind, Page, PageQuery, Product, RestoreFilter, RestoreRecord, RestoreStatus,
    Selection,
};

use super::backups::can_hold;
use super::{Management, actor_id, new_id, queued_job, rule_3};
use crate::audit::actions;
use crate::identity::Actor;
use crate::lifecycle::{RestoreEnd, restore_lock};
use crate::{ControlError, ControlResult};

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

fn restore_not_found() -> ControlError {
    ControlError::NotFound("No restore with this restoreId in this organization.".into())
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
            if !can_hold(backup.product, selection) {
                continue;
            }
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
        let job = queued_job(JobKind::Restore, &id, org_id, now);
        self.lifecycle
            .queue_restore(&restore, &job, &restore_lock(&restore))
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
        let restore = self.get_restore(org_id, id).await?;
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
            let message = format!("Cancelled by {} before it started.", actor_id(actor));
            self.lifecycle
                .restore_ended(&restore, RestoreEnd::Cancelled(message))
                .await?;
        } else {
            let message = "Cancelling: the restore stops after the item it is writing; what it \
                 created stays.";
            self.lifecycle
                .restore_cancel_requested(&restore, message)
                .await?;
        }
        self.record(
            org_id,
            actor,
            actions::RESTORE_CANCEL,
            format!("restore:{id}"),
            None,
        )
        .await?;
        self.get_restore(org_id, id).await
    }
}
