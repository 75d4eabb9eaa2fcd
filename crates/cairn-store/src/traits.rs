//! The store's interface, split by concern. The domain holds an `Arc<dyn Store>`.

use async_trait::async_trait;

use crate::{
    AccountRecord, AuditEventRecord, AuditFilter, MembershipRecord, OrgRecord, OwnedTokenRecord,
    Page, PageQuery, StoreResult, Timestamp, TokenRecord,
};

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert_org(&self, org: &OrgRecord) -> StoreResult<()>;
    async fn get_org(&self, org_id: &str) -> StoreResult<Option<OrgRecord>>;
    async fn list_orgs(&self) -> StoreResult<Vec<OrgRecord>>;

    /// Fails with `Conflict("email")` when the email is taken, whatever its case.
    async fn insert_account(&self, account: &AccountRecord) -> StoreResult<()>;
    async fn get_account(&self, account_id: &str) -> StoreResult<Option<AccountRecord>>;
    /// Case-insensitive look-up.
    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRecord>>;
    /// Every account, or the members of one org, oldest first.
    async fn list_accounts(&self, org_id: Option<&str>) -> StoreResult<Vec<AccountRecord>>;
    /// Returns false when no such account exists.
    async fn set_account_active(&self, account_id: &str, active: bool) -> StoreResult<bool>;
    async fn set_password_hash(&self, account_id: &str, hash: Option<&str>) -> StoreResult<bool>;

    /// Adds a member or changes the role of an existing one.
    async fn upsert_membership(&self, membership: &MembershipRecord) -> StoreResult<()>;
    async fn get_membership(
        &self,
        org_id: &str,
        account_id: &str,
    ) -> StoreResult<Option<MembershipRecord>>;
    async fn list_memberships(&self, account_id: &str) -> StoreResult<Vec<MembershipRecord>>;

    /// Inserts the token unless the account already has `limit` live (unrevoked, unexpired at
    /// `now`) tokens; returns whether it was inserted. Atomic under concurrent callers.
    async fn insert_token_within_limit(
        &self,
        token: &TokenRecord,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The one look-up of the Basic check: the token with this keyed hash, if it belongs to the
    /// account with this email. It is the same query whether or not the email exists.
    async fn find_token_for_auth(
        &self,
        email: &str,
        secret_hmac: &str,
    ) -> StoreResult<Option<(AccountRecord, TokenRecord)>>;
    async fn get_token(&self, token_id: &str) -> StoreResult<Option<TokenRecord>>;
    /// An account's tokens, newest first, revoked ones included.
    async fn list_tokens(&self, account_id: &str) -> StoreResult<Vec<TokenRecord>>;
    /// The tokens of every member of an org, newest first, revoked ones included.
    async fn list_org_tokens(&self, org_id: &str) -> StoreResult<Vec<OwnedTokenRecord>>;
    /// Returns false when the token does not exist or was already revoked.
    async fn revoke_token(&self, token_id: &str, by: &str, now: Timestamp) -> StoreResult<bool>;
    /// Records use at `minute` unless a use at or after it is already recorded.
    async fn record_token_use(&self, token_id: &str, minute: Timestamp) -> StoreResult<()>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: &AuditEventRecord) -> StoreResult<()>;
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: PageQuery,
    ) -> StoreResult<Page<AuditEventRecord>>;
}

#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets `key` only if it is absent; returns whether this call set it. Used for one-time work
    /// (the first start) that several nodes may race to do.
    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;
}

/// Everything the control plane persists.
pub trait Store: IdentityStore + AuditStore + MetaStore + crate::SessionStore {}

impl<T: IdentityStore + AuditStore + MetaStore + crate::SessionStore> Store for T {}
