//! (extension) What stands behind the legacy site-export calls of Jira and Confluence
//! (`shared/spec/legacy-export-api.md`, section 4): a start runs an ordinary backup of the site's
//! product under a policy kept for these calls (created on first use, in the org's default
//! storage); the task id is the backup id; a backup's status maps to the four the old scripts
//! know. The HTTP shapes are the api crate's.

use cairn_store::{
    BackupFilter, BackupRecord, BackupStatus, PageQuery, PolicyFilter, PolicyRecord, Product,
    ProgressPhase, SiteRecord, Timestamp,
};
use chrono::TimeDelta;

use super::{Management, NewPolicy, PolicyPatch, actor_id};
use crate::audit::actions;
use crate::identity::Actor;
use crate::{ControlError, ControlResult};

/// Why a start did not start a backup: the scripts then wait for the one there is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyRefusal {
    /// A backup or restore of this site and product is in flight (rule 3).
    Running,
    /// The last complete backup is more recent than the cooldown (`[legacy] min_interval_hours`,
    /// or rule 4's interval if longer) allows; the next may start at this time.
    TooRecent { next_allowed: Timestamp },
}

/// The four statuses of the legacy calls (spec section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyStatus {
    Enqueued,
    InProgress,
    Success,
    Failed,
}

/// A backup as the legacy calls describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyProgress {
    pub backup: BackupRecord,
    pub status: LegacyStatus,
    /// A sentence. Only a failed backup's says "error": it starts with [`FAILED_PREFIX`].
    pub description: String,
    /// 0..=100.
    pub percent: u8,
}

impl LegacyProgress {
    /// Whether the backup's archive can be downloaded.
    pub fn ready(&self) -> bool {
        self.status == LegacyStatus::Success
    }

    /// Whether a backup is still running.
    pub fn in_flight(&self) -> bool {
        self.backup.status.in_flight()
    }
}

/// How a failed backup's description starts: the scripts that look for the word stop polling.
pub const FAILED_PREFIX: &str = "Backup error:";

/// One of the scripts treats any answer holding the word "error" (any case) as a failure, so the
/// text of a backup that did not fail (an INCOMPLETE backup's message naming an item's "server
/// error", say) must not carry it.
pub fn without_the_word_error(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find("error") {
        out.push_str(&text[at..at + found]);
        out.push_str("fault");
        at += found + "error".len();
    }
    out.push_str(&text[at..]);
    out
}

/// The name of the policy kept for the legacy calls of one product.
pub fn legacy_policy_name(product: Product) -> String {
    let name = match product {
        Product::Jira => "Jira",
        Product::Confluence => "Confluence",
    };
    format!("Legacy site export ({name})")
}

/// The legacy view of a backup (spec section 4's mapping).
pub fn legacy_progress(backup: BackupRecord) -> LegacyProgress {
    let message = backup.status_message.trim();
    let (status, description, percent) = match backup.status {
        BackupStatus::Created => (
            LegacyStatus::Enqueued,
            "The backup is queued and starts shortly.".to_string(),
            0,
        ),
        BackupStatus::InProgress => (
            LegacyStatus::InProgress,
            without_the_word_error(&in_progress_sentence(&backup)),
            in_progress_percent(&backup),
        ),
        BackupStatus::Completed => (
            LegacyStatus::Success,
            "The backup is complete and ready to download.".to_string(),
            100,
        ),
        BackupStatus::Incomplete => (
            LegacyStatus::Success,
            without_the_word_error(&format!(
                "The backup is ready to download, with items missing: {message}"
            )),
            100,
        ),
        // An expired backup's archive is gone: as good as failed for a script waiting for it.
        BackupStatus::Failed | BackupStatus::Cancelled | BackupStatus::Expired => (
            LegacyStatus::Failed,
            format!("{FAILED_PREFIX} {}", failure_reason(&backup)),
            in_progress_percent(&backup),
        ),
    };
    LegacyProgress {
        backup,
        status,
        description,
        percent,
    }
}

fn failure_reason(backup: &BackupRecord) -> String {
    match (backup.status, backup.status_message.trim()) {
        (BackupStatus::Expired, _) => {
            "the backup has expired; its archive is no longer kept.".into()
        }
        (status, "") => format!("the backup ended {status}."),
        (_, message) => message.to_string(),
    }
}

fn in_progress_sentence(backup: &BackupRecord) -> String {
    let Some(p) = &backup.progress else {
        return "The backup is starting.".into();
    };
    let phase = match p.phase {
        ProgressPhase::Listing => "listing the site's content",
        ProgressPhase::Downloading => "reading the site's content",
        ProgressPhase::Storing => "storing the site's content",
        ProgressPhase::Committing => "finishing",
        ProgressPhase::Done => "done",
    };
    match p.items_total {
        Some(total) => format!("The backup is {phase}: {} of {total} items.", p.items_done),
        None => format!("The backup is {phase}: {} items so far.", p.items_done),
    }
}

/// Items done of the total, below 100 until the backup has ended.
fn in_progress_percent(backup: &BackupRecord) -> u8 {
    let Some(p) = &backup.progress else {
        return 0;
    };
    match (p.phase, p.items_total) {
        (ProgressPhase::Committing | ProgressPhase::Done, _) => 99,
        (_, Some(total)) if total > 0 => (p.items_done.saturating_mul(100) / total).min(99) as u8,
        _ => 0,
    }
}

impl Management {
    /// The site named `name` (its cloudName, in any case, or its cloudId) in one of `org_ids`
    /// (the caller's organizations), with the org that holds it.
    pub async fn find_site(&self, org_ids: &[String], name: &str) -> ControlResult<SiteRecord> {
        for org_id in org_ids {
            if let Some(site) = self.store.get_site(org_id, name).await? {
                return Ok(site);
            }
            let mut offset = 0;
            loop {
                let page = PageQuery {
                    offset,
                    limit: 100,
                    descending: false,
                };
                let found = self.store.list_sites(org_id, page).await?;
                if let Some(site) = found
                    .items
                    .iter()
                    .find(|s| s.cloud_name.eq_ignore_ascii_case(name))
                {
                    return Ok(site.clone());
                }
                offset += found.items.len() as u64;
                if found.items.is_empty() || offset >= found.total {
                    break;
                }
            }
        }
        Err(ControlError::NotFound(format!(
            "No site named {name} is registered in your organizations."
        )))
    }

    fn require_product(site: &SiteRecord, product: Product) -> ControlResult<()> {
        if site.products.iter().any(|p| p.product == product) {
            Ok(())
        } else {
            Err(ControlError::NotFound(format!(
                "The site {} has no {product}.",
                site.cloud_name
            )))
        }
    }

    /// The policy kept for the legacy calls of this site and product, created on first use in
    /// the org's default storage, holding attachments as `include_attachments` asks (its last
    /// start's choice, so the policy says what its latest backup holds).
    async fn legacy_policy(
        &self,
        actor: &Actor,
        site: &SiteRecord,
        product: Product,
        include_attachments: bool,
    ) -> ControlResult<PolicyRecord> {
        let name = legacy_policy_name(product);
        let filter = PolicyFilter {
            org_id: site.org_id.clone(),
            cloud_id: Some(site.cloud_id.clone()),
            product: Some(product),
            status: None,
        };
        let existing = self.policy_named(&filter, &name).await?;
        match existing {
            Some(policy) if policy.include_attachments == include_attachments => Ok(policy),
            Some(policy) => {
                let patch = PolicyPatch {
                    include_attachments: Some(include_attachments),
                    ..PolicyPatch::default()
                };
                Ok(self
                    .update_policy(&site.org_id, actor, &policy.id, patch)
                    .await?
                    .policy)
            }
            None => {
                let new = NewPolicy {
                    name,
                    cloud_id: site.cloud_id.clone(),
                    product,
                    include_attachments: Some(include_attachments),
                    // A site export holds the site whole: Jira's users, Confluence's personal
                    // spaces.
                    include_users: Some(product == Product::Jira),
                    include_personal_spaces: Some(product == Product::Confluence),
                    storage_id: None,
                    schedule: None,
                    retention_days: None,
                    activate: false,
                };
                Ok(self.create_policy(&site.org_id, actor, new).await?.policy)
            }
        }
    }

    /// The latest backup of this site's product, whichever policy started it.
    pub async fn latest_backup_of(
        &self,
        site: &SiteRecord,
        product: Product,
    ) -> ControlResult<Option<BackupRecord>> {
        let filter = BackupFilter {
            org_id: site.org_id.clone(),
            policy_id: None,
            cloud_id: Some(site.cloud_id.clone()),
            product: Some(product),
            status: None,
        };
        let page = PageQuery {
            offset: 0,
            limit: 1,
            descending: true,
        };
        Ok(self
            .store
            .list_backups(&filter, page)
            .await?
            .items
            .into_iter()
            .next())
    }

    /// *Start*: a backup of the site's product under the legacy policy, unless one is in flight
    /// or the last complete one is more recent than the cooldown allows.
    pub async fn start_legacy_export(
        &self,
        actor: &Actor,
        site: &SiteRecord,
        product: Product,
        include_attachments: bool,
    ) -> ControlResult<Result<BackupRecord, LegacyRefusal>> {
        Self::require_product(site, product)?;
        if let Some(latest) = self.latest_backup_of(site, product).await?
            && latest.status.in_flight()
        {
            return Ok(Err(LegacyRefusal::Running));
        }
        // The cooldown is the longer of this setting and rule 4's interval, so a start refused
        // by either says when the next may run.
        let cooldown = [
            self.settings.legacy_min_interval,
            self.settings.min_backup_interval,
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(min) = cooldown
            && let Some(last) = self
                .store
                .last_complete_backup_at(&site.org_id, &site.cloud_id, product)
                .await?
        {
            let next_allowed = last + TimeDelta::from_std(min).unwrap_or(TimeDelta::MAX);
            if self.clock.now() < next_allowed {
                return Ok(Err(LegacyRefusal::TooRecent { next_allowed }));
            }
        }
        let policy = self
            .legacy_policy(actor, site, product, include_attachments)
            .await?;
        let backup = match self.start_backup(&policy, &actor_id(actor)).await {
            Ok(backup) => backup,
            // Rule 3: a backup started meanwhile, or a restore into the site runs (rule 4 was
            // checked above).
            Err(ControlError::Conflict(reason)) => {
                tracing::info!(site = %site.cloud_id, %reason, "legacy export start refused");
                return Ok(Err(LegacyRefusal::Running));
            }
            Err(e) => return Err(e),
        };
        self.record(
            &site.org_id,
            actor,
            actions::BACKUP_RUN,
            format!("backup:{}", backup.id),
            Some(serde_json::json!({
                "policyId": policy.id,
                "via": "legacy-export",
                "includeAttachments": include_attachments,
            })),
        )
        .await?;
        Ok(Ok(backup))
    }

    /// *Progress* of one backup of this site's product (a task id of another site or product is
    /// not found).
    pub async fn legacy_export_progress(
        &self,
        site: &SiteRecord,
        product: Product,
        backup_id: &str,
    ) -> ControlResult<LegacyProgress> {
        let backup = self.legacy_backup(site, product, backup_id).await?;
        Ok(legacy_progress(backup))
    }

    /// The backup `backup_id` if it is one of this site's product.
    pub async fn legacy_backup(
        &self,
        site: &SiteRecord,
        product: Product,
        backup_id: &str,
    ) -> ControlResult<BackupRecord> {
        let backup = self.get_backup(&site.org_id, backup_id).await?;
        if backup.cloud_id != site.cloud_id || backup.product != product {
            return Err(ControlError::NotFound(
                "No backup with this id for this site.".into(),
            ));
        }
        Ok(backup)
    }
}

#[cfg(test)]
mod tests {
    use super::without_the_word_error;

    #[test]
    fn the_word_error_is_replaced_in_any_case() {
        assert_eq!(
            without_the_word_error("attachment 4 (server Error 500); ERRORS: 2"),
            "attachment 4 (server fault 500); faultS: 2"
        );
        assert_eq!(without_the_word_error("all fine"), "all fine");
    }
}
