//! The retention lock (issue 16): an org setting, `retentionLockDays`, under which no backup of
//! the org expires before its creation plus the lock, whatever its policy becomes. The API can
//! only raise it; lowering it needs local access (`cairn org retention-lock`). A stolen admin
//! token can therefore neither shorten a backup's life nor remove the lock that protects it.

use cairn_store::RetentionLockChange;

use super::{Management, RETENTION_MAX_DAYS};
use crate::audit::actions;
use crate::identity::Actor;
use crate::{ControlError, ControlResult};

/// An organization's settings, as `GET orgs/{orgId}/settings` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSettings {
    /// 0: no lock.
    pub retention_lock_days: u32,
}

/// How a change of the lock is allowed to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAuthority {
    /// Through the API: only a raise.
    Api,
    /// On the server (the CLI): any value, 0 removes the lock.
    Local,
}

/// A lock change that went through: the lock was `previous` days and is now `settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockChanged {
    pub previous: u32,
    pub settings: OrgSettings,
}

fn checked_lock(days: u32) -> ControlResult<u32> {
    if days <= RETENTION_MAX_DAYS {
        Ok(days)
    } else {
        Err(ControlError::invalid_field(
            "retentionLockDays",
            format!("must be between 0 and {RETENTION_MAX_DAYS}"),
        ))
    }
}

fn org_not_found() -> ControlError {
    ControlError::NotFound("No organization with this orgId.".into())
}

impl Management {
    /// The org's retention lock in days (0: none).
    pub(crate) async fn retention_lock(&self, org_id: &str) -> ControlResult<u32> {
        self.store
            .retention_lock_days(org_id)
            .await?
            .ok_or_else(org_not_found)
    }

    pub async fn org_settings(&self, org_id: &str) -> ControlResult<OrgSettings> {
        Ok(OrgSettings {
            retention_lock_days: self.retention_lock(org_id).await?,
        })
    }

    /// Sets the retention lock. Through the API a value below the lock is refused (409) and the
    /// refusal is audited like the change; locally any value goes.
    pub async fn change_retention_lock(
        &self,
        org_id: &str,
        actor: &Actor,
        days: u32,
        authority: LockAuthority,
    ) -> ControlResult<LockChanged> {
        let days = checked_lock(days)?;
        let raise_only = authority == LockAuthority::Api;
        let via = match authority {
            LockAuthority::Api => "api",
            LockAuthority::Local => "local",
        };
        match self
            .store
            .change_retention_lock(org_id, days, raise_only)
            .await?
        {
            RetentionLockChange::NoOrg => Err(org_not_found()),
            RetentionLockChange::Refused { current } => {
                self.refused_by_lock(
                    org_id,
                    actor,
                    "org.settings",
                    format!("org:{org_id}"),
                    serde_json::json!({ "retentionLockDays": days, "lockDays": current }),
                )
                .await?;
                Err(ControlError::Conflict(format!(
                    "The retention lock is {current} days and can only be raised through the API; \
                     lowering or removing it needs 'cairn org retention-lock' on the server."
                )))
            }
            RetentionLockChange::Changed { previous } => {
                self.record(
                    org_id,
                    actor,
                    actions::RETENTION_LOCK_CHANGE,
                    format!("org:{org_id}"),
                    Some(serde_json::json!({ "from": previous, "to": days, "via": via })),
                )
                .await?;
                if days < previous {
                    tracing::warn!(
                        org = org_id,
                        from = previous,
                        to = days,
                        "retention lock lowered locally"
                    );
                }
                Ok(LockChanged {
                    previous,
                    settings: OrgSettings {
                        retention_lock_days: days,
                    },
                })
            }
        }
    }

    /// A policy's retention must not be shorter than the org's lock: a policy that said one day
    /// while its backups lived thirty would make `expiryTime` (`createdAt` + the policy's
    /// retention) a lie. The refusal is audited.
    pub(crate) async fn check_retention_against_lock(
        &self,
        org_id: &str,
        actor: &Actor,
        attempt: &'static str,
        target: String,
        retention_days: u32,
    ) -> ControlResult<()> {
        let lock = self.retention_lock(org_id).await?;
        if retention_days >= lock {
            return Ok(());
        }
        self.refused_by_lock(
            org_id,
            actor,
            attempt,
            target,
            serde_json::json!({ "retentionDays": retention_days, "lockDays": lock }),
        )
        .await?;
        Err(ControlError::Conflict(format!(
            "The organization's retention lock keeps every backup for at least {lock} days: \
             retentionDays may not be less."
        )))
    }

    async fn refused_by_lock(
        &self,
        org_id: &str,
        actor: &Actor,
        attempt: &'static str,
        target: String,
        mut details: serde_json::Value,
    ) -> ControlResult<()> {
        details["attempt"] = attempt.into();
        self.record(
            org_id,
            actor,
            actions::RETENTION_LOCK_REFUSED,
            target,
            Some(details),
        )
        .await
    }
}
