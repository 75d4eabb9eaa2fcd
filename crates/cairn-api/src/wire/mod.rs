//! Wire types: the JSON shapes of the spec, and nothing else. Control's types never reach the
//! wire directly.

pub mod legacy;
pub mod management;

use cairn_store::{AuditEventRecord, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-27T17:31:35.123Z`.
pub fn timestamp(t: Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One audit event (extension).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub event_id: String,
    /// Who acted; null for the command line or for anonymous failures.
    pub account_id: Option<String>,
    /// For example `token.create`, `token.revoke`, `auth.failure_burst`.
    pub action: String,
    /// What was acted on, as `kind:id`.
    pub target: Option<String>,
    /// The client's address, or `cli` for the command line.
    pub client_address: Option<String>,
    /// Further non-secret facts about the event.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    pub created_at: String,
}

impl From<AuditEventRecord> for AuditEvent {
    fn from(r: AuditEventRecord) -> Self {
        AuditEvent {
            event_id: r.id,
            account_id: r.account_id,
            action: r.action,
            target: r.target,
            client_address: r.client_addr,
            details: r.details.and_then(|d| serde_json::from_str(&d).ok()),
            created_at: timestamp(r.created_at),
        }
    }
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventsResponse {
    pub events: Vec<AuditEvent>,
    /// Every event that matches the filters, not only this page's.
    pub total_items: u64,
}

/// Liveness and readiness answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
}
