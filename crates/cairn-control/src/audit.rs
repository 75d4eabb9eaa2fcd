//! The audit log: who did what, to what, from where, and when.

use std::sync::Arc;

use cairn_store::{AuditEventRecord, AuditFilter, AuditStore, Page, PageQuery};

use crate::ControlResult;
use crate::clock::Clock;

/// An event to record. `details` is JSON and must never hold a secret.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub org_id: Option<String>,
    pub account_id: Option<String>,
    pub action: &'static str,
    pub target: Option<String>,
    pub client_addr: Option<String>,
    pub details: Option<serde_json::Value>,
}

/// Action names, one place, so that filters and tests agree on them.
pub mod actions {
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const ACCOUNT_CREATE: &str = "account.create";
    pub const ACCOUNT_DEACTIVATE: &str = "account.deactivate";
    pub const ORG_CREATE: &str = "org.create";
    pub const LOGIN: &str = "login";
    pub const LOGOUT: &str = "logout";
    pub const LOGIN_FAILED_BURST: &str = "login.failure_burst";
    pub const AUTH_FAILED_BURST: &str = "auth.failure_burst";
    pub const SITE_REGISTER: &str = "site.register";
    /// A registration whose probe failed (nothing saved).
    pub const SITE_REGISTER_FAILED: &str = "site.register_failed";
    pub const SITE_REMOVE: &str = "site.remove";
    pub const STORAGE_CONNECT: &str = "storage.connect";
    /// A connection whose probe failed (nothing saved).
    pub const STORAGE_CONNECT_FAILED: &str = "storage.connect_failed";
    pub const STORAGE_DISCONNECT: &str = "storage.disconnect";
    pub const POLICY_CREATE: &str = "policy.create";
    pub const POLICY_UPDATE: &str = "policy.update";
    pub const POLICY_ACTIVATE: &str = "policy.activate";
    pub const POLICY_DEACTIVATE: &str = "policy.deactivate";
    pub const POLICY_DELETE: &str = "policy.delete";
    pub const BACKUP_RUN: &str = "backup.run";
    pub const BACKUP_CANCEL: &str = "backup.cancel";
    pub const BACKUP_IMPORT: &str = "backup.import";
    pub const RESTORE_CREATE: &str = "restore.create";
    pub const RESTORE_CANCEL: &str = "restore.cancel";
    /// The org's retention lock was set (details: from, to, via api or local).
    pub const RETENTION_LOCK_CHANGE: &str = "retention_lock.change";
    /// Something the retention lock forbids was asked for and refused (details: the attempt).
    pub const RETENTION_LOCK_REFUSED: &str = "retention_lock.refused";
}

#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audit")
    }
}

impl Audit {
    pub fn new(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Audit { store, clock }
    }

    pub async fn record(&self, entry: AuditEntry) -> ControlResult<()> {
        let record = AuditEventRecord {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: entry.org_id,
            account_id: entry.account_id,
            action: entry.action.to_string(),
            target: entry.target,
            client_addr: entry.client_addr,
            details: entry.details.map(|d| d.to_string()),
            created_at: self.clock.now(),
        };
        self.store.insert_audit_event(&record).await?;
        Ok(())
    }

    pub async fn list(
        &self,
        filter: &AuditFilter,
        page: PageQuery,
    ) -> ControlResult<Page<AuditEventRecord>> {
        Ok(self.store.list_audit_events(filter, page).await?)
    }
}
