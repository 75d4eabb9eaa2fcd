//! Policies: what to back up, where, how often, and for how long to keep it (spec 2.2, rules 2
//! and 9).

use cairn_store::{
    BackupRecord, Interval, Page, PageQuery, PolicyBackupSummary, PolicyFilter, PolicyRecord,
    PolicyStatus, Product, ScheduleRecord, SiteRecord, StoreError,
};
use chrono::NaiveDate;

use super::{Management, RETENTION_MAX_DAYS, actor_id, checked_name, new_id};
use crate::audit::actions;
use crate::identity::Actor;
use crate::schedule;
use crate::{ControlError, ControlResult};

/// `scheduleDetails` of a request: the server assigns the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleInput {
    pub interval: Interval,
    pub start_date: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct NewPolicy {
    pub name: String,
    pub cloud_id: String,
    pub product: Product,
    pub include_attachments: Option<bool>,
    pub include_users: Option<bool>,
    pub include_personal_spaces: Option<bool>,
    pub storage_id: Option<String>,
    pub schedule: Option<ScheduleInput>,
    pub retention_days: Option<u32>,
    /// (extension) Activate at once.
    pub activate: bool,
}

/// A partial update: `None` leaves a field as it is. `schedule: Some(None)` removes the schedule
/// (which deactivates the policy, rule 9).
#[derive(Debug, Clone, Default)]
pub struct PolicyPatch {
    pub name: Option<String>,
    pub include_attachments: Option<bool>,
    pub include_users: Option<bool>,
    pub include_personal_spaces: Option<bool>,
    pub storage_id: Option<String>,
    pub schedule: Option<Option<ScheduleInput>>,
    pub retention_days: Option<u32>,
}

/// A policy with what the caller asked to see beside it.
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub policy: PolicyRecord,
    /// For `cloudInfo`; `None` if the site was removed meanwhile.
    pub site: Option<SiteRecord>,
    /// Present when asked for (`backupDetails=true`).
    pub backups: Option<PolicyBackupSummary>,
}

const RULE_2: &str = "Only one policy per site, product and storage may be ACTIVE (rule 2): \
     deactivate the other policy first, or use another storage.";

fn checked_retention(days: u32) -> ControlResult<u32> {
    if (1..=RETENTION_MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(ControlError::invalid_field(
            "retentionDays",
            format!("must be between 1 and {RETENTION_MAX_DAYS}"),
        ))
    }
}

fn rule_2(err: StoreError) -> ControlError {
    match err {
        StoreError::Conflict(_) => ControlError::Conflict(RULE_2.into()),
        other => other.into(),
    }
}

impl Management {
    fn policy_not_found() -> ControlError {
        ControlError::NotFound("No policy with this policyId in this organization.".into())
    }

    pub async fn get_policy_record(&self, org_id: &str, id: &str) -> ControlResult<PolicyRecord> {
        self.store
            .get_policy(org_id, id)
            .await?
            .ok_or_else(Self::policy_not_found)
    }

    async fn view(&self, policy: PolicyRecord, backup_details: bool) -> ControlResult<PolicyView> {
        let site = self
            .store
            .get_site(&policy.org_id, &policy.cloud_id)
            .await?;
        let backups = if backup_details {
            Some(
                self.store
                    .policy_backup_summary(&policy.id, self.clock.now())
                    .await?,
            )
        } else {
            None
        };
        Ok(PolicyView {
            policy,
            site,
            backups,
        })
    }

    async fn new_schedule(&self, input: ScheduleInput) -> ControlResult<ScheduleRecord> {
        let usage = self.store.schedule_slot_usage().await?;
        Ok(ScheduleRecord {
            interval: input.interval,
            start_date: input.start_date,
            slot_minute: schedule::assign_slot(&usage),
        })
    }

    async fn checked_storage_id(
        &self,
        org_id: &str,
        storage_id: Option<&str>,
    ) -> ControlResult<String> {
        match storage_id {
            Some(id) => Ok(self.get_storage(org_id, id).await?.id),
            None => Ok(self.builtin_storage(org_id).await?.id),
        }
    }

    pub async fn create_policy(
        &self,
        org_id: &str,
        actor: &Actor,
        new: NewPolicy,
    ) -> ControlResult<PolicyView> {
        let name = checked_name("policyName", &new.name)?;
        let site = self.get_site(org_id, &new.cloud_id).await?;
        if !site.products.iter().any(|p| p.product == new.product) {
            return Err(ControlError::invalid_field(
                "productType",
                format!("the site {} has no {}", site.cloud_url, new.product),
            ));
        }
        let storage_id = self
            .checked_storage_id(org_id, new.storage_id.as_deref())
            .await?;
        // Without a retention, the default; the retention lock raises it (an explicit shorter
        // one is refused below).
        let lock = self.retention_lock(org_id).await?;
        let retention_days = checked_retention(
            new.retention_days
                .unwrap_or(self.settings.default_retention_days.max(lock)),
        )?;
        self.check_retention_against_lock(
            org_id,
            actor,
            actions::POLICY_CREATE,
            format!("policy:{name}"),
            retention_days,
        )
        .await?;
        let schedule = match new.schedule {
            Some(input) => Some(self.new_schedule(input).await?),
            None => None,
        };
        let now = self.clock.now();
        let policy = PolicyRecord {
            id: new_id(),
            org_id: org_id.to_string(),
            name,
            cloud_id: site.cloud_id.clone(),
            product: new.product,
            status: PolicyStatus::Inactive,
            include_attachments: new.include_attachments.unwrap_or(true),
            include_personal_spaces: new.include_personal_spaces.unwrap_or(false),
            include_users: new.include_users.unwrap_or(false),
            storage_id,
            schedule,
            next_run_at: None,
            retention_days,
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
        if new.activate {
            self.activate_policy(org_id, actor, &policy.id).await?;
        }
        let policy = self.get_policy_record(org_id, &policy.id).await?;
        self.view(policy, false).await
    }

    /// The first policy matching `filter` with this exact name (the policies kept for the
    /// legacy export calls and for imported archives are found this way).
    pub(crate) async fn policy_named(
        &self,
        filter: &PolicyFilter,
        name: &str,
    ) -> ControlResult<Option<PolicyRecord>> {
        let mut offset = 0;
        loop {
            let page = PageQuery {
                offset,
                limit: 100,
                descending: false,
            };
            let found = self.store.list_policies(filter, page).await?;
            if let Some(policy) = found.items.iter().find(|p| p.name == name) {
                return Ok(Some(policy.clone()));
            }
            offset += found.items.len() as u64;
            if found.items.is_empty() || offset >= found.total {
                return Ok(None);
            }
        }
    }

    pub async fn get_policy(
        &self,
        org_id: &str,
        id: &str,
        backup_details: bool,
    ) -> ControlResult<PolicyView> {
        let policy = self.get_policy_record(org_id, id).await?;
        self.view(policy, backup_details).await
    }

    pub async fn list_policies(
        &self,
        filter: &PolicyFilter,
        page: PageQuery,
    ) -> ControlResult<Page<PolicyView>> {
        let found = self.store.list_policies(filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for policy in found.items {
            items.push(self.view(policy, false).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn update_policy(
        &self,
        org_id: &str,
        actor: &Actor,
        id: &str,
        patch: PolicyPatch,
    ) -> ControlResult<PolicyView> {
        // Checks and look-ups first; then the change is applied to a fresh read and written
        // only if the scheduler did not move the policy's next run in between.
        let name = patch
            .name
            .as_deref()
            .map(|n| checked_name("policyName", n))
            .transpose()?;
        let storage_id = match &patch.storage_id {
            Some(s) => Some(self.checked_storage_id(org_id, Some(s)).await?),
            None => None,
        };
        let retention_days = patch.retention_days.map(checked_retention).transpose()?;
        if let Some(days) = retention_days {
            self.check_retention_against_lock(
                org_id,
                actor,
                actions::POLICY_UPDATE,
                format!("policy:{id}"),
                days,
            )
            .await?;
        }
        let mut new_slot = None;
        let policy = loop {
            let mut policy = self.get_policy_record(org_id, id).await?;
            let expected_next_run = policy.next_run_at;
            if let Some(name) = &name {
                policy.name = name.clone();
            }
            if let Some(v) = patch.include_attachments {
                policy.include_attachments = v;
            }
            if let Some(v) = patch.include_users {
                policy.include_users = v;
            }
            if let Some(v) = patch.include_personal_spaces {
                policy.include_personal_spaces = v;
            }
            if let Some(storage_id) = &storage_id {
                policy.storage_id = storage_id.clone();
            }
            if let Some(days) = retention_days {
                policy.retention_days = days;
            }
            let now = self.clock.now();
            match patch.schedule {
                None => {}
                Some(None) => {
                    // Rule 9: removing the schedule deactivates the policy.
                    policy.schedule = None;
                    policy.next_run_at = None;
                    policy.status = PolicyStatus::Inactive;
                }
                Some(Some(input)) => {
                    let slot = match (policy.schedule, new_slot) {
                        (Some(s), _) => s.slot_minute,
                        (None, Some(slot)) => slot,
                        (None, None) => {
                            let slot = self.new_schedule(input).await?.slot_minute;
                            new_slot = Some(slot);
                            slot
                        }
                    };
                    let schedule = ScheduleRecord {
                        interval: input.interval,
                        start_date: input.start_date,
                        slot_minute: slot,
                    };
                    // The same schedule keeps its next run: re-sending it must not run the
                    // slot the scheduler has just run again.
                    let unchanged = policy.schedule == Some(schedule);
                    policy.schedule = Some(schedule);
                    if policy.status == PolicyStatus::Active && !unchanged {
                        policy.next_run_at = Some(schedule::activation_run(&schedule, now));
                    }
                }
            }
            policy.updated_at = now;
            if self
                .store
                .update_policy_if(&policy, expected_next_run)
                .await
                .map_err(rule_2)?
            {
                break policy;
            }
            // The scheduler moved the next run, or the policy is gone: read it again.
        };
        self.record(
            org_id,
            actor,
            actions::POLICY_UPDATE,
            format!("policy:{id}"),
            None,
        )
        .await?;
        self.view(policy, false).await
    }

    /// Activates the policy and starts the backups that are due now (spec: the response holds
    /// them): one when the policy has no schedule, or when its first scheduled run is due.
    /// Activating an ACTIVE policy changes nothing and starts nothing.
    pub async fn activate_policy(
        &self,
        org_id: &str,
        actor: &Actor,
        id: &str,
    ) -> ControlResult<Vec<BackupRecord>> {
        let mut policy = self.get_policy_record(org_id, id).await?;
        if policy.status == PolicyStatus::Active {
            return Ok(Vec::new());
        }
        let expected_next_run = policy.next_run_at;
        let now = self.clock.now();
        policy.status = PolicyStatus::Active;
        policy.activated_by = Some(actor_id(actor));
        policy.updated_at = now;
        let due_now = match &policy.schedule {
            None => true,
            Some(s) => schedule::activation_run(s, now) <= now,
        };
        policy.next_run_at = policy.schedule.as_ref().and_then(|s| {
            if due_now {
                schedule::run_after(s, now)
            } else {
                Some(schedule::activation_run(s, now))
            }
        });
        if !self
            .store
            .update_policy_if(&policy, expected_next_run)
            .await
            .map_err(rule_2)?
        {
            // Gone, or activated by another call meanwhile (which started what was due).
            self.get_policy_record(org_id, id).await?;
            return Ok(Vec::new());
        }
        self.record(
            org_id,
            actor,
            actions::POLICY_ACTIVATE,
            format!("policy:{id}"),
            None,
        )
        .await?;
        if !due_now {
            return Ok(Vec::new());
        }
        match self.start_backup(&policy, &actor_id(actor)).await {
            Ok(backup) => Ok(vec![backup]),
            // The policy is active; the run it was due waits for the site to be free: the
            // scheduler starts it (its next run is now).
            Err(ControlError::Conflict(reason)) if policy.schedule.is_some() => {
                tracing::info!(policy = %id, %reason, "activation run deferred");
                if let Some(next) = policy.next_run_at {
                    self.store
                        .advance_policy_schedule(&policy.id, next, Some(now), PolicyStatus::Active)
                        .await?;
                }
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    pub async fn deactivate_policy(
        &self,
        org_id: &str,
        actor: &Actor,
        id: &str,
    ) -> ControlResult<PolicyView> {
        let mut policy = self.get_policy_record(org_id, id).await?;
        while policy.status == PolicyStatus::Active {
            let expected_next_run = policy.next_run_at;
            policy.status = PolicyStatus::Inactive;
            policy.next_run_at = None;
            policy.updated_at = self.clock.now();
            if !self
                .store
                .update_policy_if(&policy, expected_next_run)
                .await?
            {
                // The scheduler moved its next run meanwhile: read it again.
                policy = self.get_policy_record(org_id, id).await?;
                continue;
            }
            self.record(
                org_id,
                actor,
                actions::POLICY_DEACTIVATE,
                format!("policy:{id}"),
                None,
            )
            .await?;
        }
        self.view(policy, false).await
    }

    pub async fn delete_policy(&self, org_id: &str, actor: &Actor, id: &str) -> ControlResult<()> {
        match self.store.delete_policy(org_id, id).await {
            Ok(true) => {}
            Ok(false) => return Err(Self::policy_not_found()),
            Err(StoreError::Conflict("active policy")) => {
                return Err(ControlError::Conflict(
                    "Only an INACTIVE policy can be deleted (rule 9): deactivate it first.".into(),
                ));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(ControlError::Conflict(
                    "A policy with a backup in flight cannot be deleted (rule 9): wait for it to end or cancel it.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.record(
            org_id,
            actor,
            actions::POLICY_DELETE,
            format!("policy:{id}"),
            None,
        )
        .await
    }
}
