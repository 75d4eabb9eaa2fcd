//! Plain records, as stored. They carry no behaviour and no wire format: the domain (`control`)
//! interprets them, and only the api crate decides what goes on the wire.

use chrono::{DateTime, Utc};

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: String,
    /// As entered; look-ups use the lower-cased form.
    pub email: String,
    pub display_name: String,
    /// Argon2id PHC string of the web password, if the account has one.
    pub password_hash: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
}

/// An account's role in one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgRole {
    Member,
    OrgAdmin,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Member => "MEMBER",
            OrgRole::OrgAdmin => "ORG_ADMIN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "MEMBER" => Some(OrgRole::Member),
            "ORG_ADMIN" => Some(OrgRole::OrgAdmin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    pub org_id: String,
    pub account_id: String,
    pub role: OrgRole,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub account_id: String,
    pub label: String,
    /// Non-secret reminder shown to people: the prefix and the last four characters.
    pub hint: String,
    /// Hex HMAC-SHA-256 of the secret under the server's key. The secret itself is never stored.
    pub secret_hmac: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Recorded at one-minute resolution.
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
}

/// A token with the email of its owner, for the org admins' view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTokenRecord {
    pub token: TokenRecord,
    pub owner_email: String,
    pub owner_display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    pub id: String,
    pub org_id: Option<String>,
    pub account_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_addr: Option<String>,
    /// Free-form JSON text with what else is worth keeping; never a secret.
    pub details: Option<String>,
    pub created_at: Timestamp,
}

/// Filters of the audit log listing; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub org_id: Option<String>,
    pub account_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// One page of a list, by offset, in `created_at` order with ties broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub offset: u64,
    pub limit: u32,
    pub descending: bool,
}

/// A page of items and the count of every item that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}
