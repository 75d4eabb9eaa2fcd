//! Accounts, organizations, roles, API tokens, and the HTTP Basic check
//! (`shared/spec/authentication.md`).

pub mod basic;
mod check;
mod lockout;
pub mod password;
pub mod session;
pub mod throttle;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cairn_store::{
    AccountRecord, AccountStores, MembershipRecord, OrgRecord, OrgRole, OwnedTokenRecord,
    Timestamp, TokenRecord,
};
use chrono::{DurationRound, TimeDelta};
use subtle::ConstantTimeEq;

use crate::audit::{Audit, AuditEntry, actions};
use crate::clock::Clock;
use crate::secret::ServerSecret;
use crate::text;
use crate::{AuthFailure, ControlError, ControlResult};
use token::NewTokenSecret;

/// Limits and switches of identity, each a setting (defaults from the spec).
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// Live (unrevoked, unexpired) tokens an account may hold.
    pub token_limit: u32,
    /// Accept an account's web password as the Basic password (Atlassian retired this; off).
    pub allow_password_basic: bool,
    /// Failed authentications per client address or account before 429 (see `lockout.rs`).
    pub failure_limit: u32,
    pub failure_window: Duration,
    /// Failed web passwords against one email, from every address together, before that email's
    /// logins are refused; from `failure_limit` on they are only slowed down.
    pub password_ceiling: u32,
    /// Successful calls per account: sustained rate and burst.
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// How long a verified credential is trusted without asking the store again. Revocation on
    /// this node is immediate; other nodes see it within this time.
    pub auth_cache_ttl: Duration,
    /// How long a web login lasts.
    pub session_ttl: Duration,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            token_limit: 100,
            allow_password_basic: false,
            failure_limit: 10,
            failure_window: Duration::from_secs(60),
            password_ceiling: 100,
            rate_per_second: 100,
            rate_burst: 200,
            auth_cache_ttl: Duration::from_secs(2),
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

pub const TOKEN_EXPIRY_DEFAULT_DAYS: u32 = 365;
pub const TOKEN_EXPIRY_MAX_DAYS: u32 = 365;
pub const TOKEN_LABEL_MAX_CHARS: usize = 100;
/// Tokens expiring within this many days are flagged to their owners.
pub const TOKEN_EXPIRY_WARNING_DAYS: i64 = 14;
const TOKEN_HASH_PURPOSE: &str = "cairn.api-token";

/// Who is acting, for authorization and for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub account_id: Option<String>,
    pub client_addr: Option<String>,
}

impl Actor {
    /// The operator at the command line of this machine.
    pub fn cli() -> Self {
        Actor {
            account_id: None,
            client_addr: Some("cli".into()),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub email: String,
    pub display_name: String,
    /// The API token used, when authenticated by one.
    pub token_id: Option<String>,
    pub memberships: Vec<(String, OrgRole)>,
}

impl Principal {
    pub fn actor(&self, client_addr: Option<String>) -> Actor {
        Actor {
            account_id: Some(self.account_id.clone()),
            client_addr,
        }
    }

    pub fn role_in(&self, org_id: &str) -> Option<OrgRole> {
        self.memberships
            .iter()
            .find(|(o, _)| o == org_id)
            .map(|(_, r)| *r)
    }
}

/// The state of a token, as shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    ExpiringSoon,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn of(token: &TokenRecord, now: Timestamp) -> Self {
        if token.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if token.expires_at <= now {
            TokenStatus::Expired
        } else if token.expires_at - now <= TimeDelta::days(TOKEN_EXPIRY_WARNING_DAYS) {
            TokenStatus::ExpiringSoon
        } else {
            TokenStatus::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "ACTIVE",
            TokenStatus::ExpiringSoon => "EXPIRING_SOON",
            TokenStatus::Expired => "EXPIRED",
            TokenStatus::Revoked => "REVOKED",
        }
    }
}

/// A token just created: the record and, this once, its secret.
#[derive(Debug)]
pub struct CreatedToken {
    pub record: TokenRecord,
    pub secret: NewTokenSecret,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub org_id: Option<String>,
    pub org_admin: bool,
}

struct CachedAuth {
    principal: Principal,
    token_expires_at: Timestamp,
    cached_at: Timestamp,
}

/// The identity service. Cheap to share (`Arc` it).
pub struct Identity {
    store: Arc<dyn AccountStores>,
    secret: ServerSecret,
    clock: Arc<dyn Clock>,
    audit: Audit,
    settings: IdentitySettings,
    lockouts: lockout::Lockouts,
    /// Verified credentials by `email_lower \0 token_hmac` (the hash is keyed already).
    cache: Mutex<HashMap<String, CachedAuth>>,
    last_use_written: Mutex<HashMap<String, Timestamp>>,
    /// Verified against when an account is missing, so both paths cost one Argon2 run. Made on
    /// first need, so commands that never check a password never pay for it.
    dummy_password_hash: OnceLock<String>,
}

const CACHE_MAX_ENTRIES: usize = 10_000;

impl Identity {
    pub fn new(
        store: Arc<dyn AccountStores>,
        secret: ServerSecret,
        clock: Arc<dyn Clock>,
        settings: IdentitySettings,
    ) -> ControlResult<Self> {
        Ok(Identity {
            audit: Audit::new(store.clone(), clock.clone()),
            lockouts: lockout::Lockouts::new(&settings),
            store,
            secret,
            clock,
            settings,
            cache: Mutex::new(HashMap::new()),
            last_use_written: Mutex::new(HashMap::new()),
            dummy_password_hash: OnceLock::new(),
        })
    }

    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn token_hmac(&self, token: &str) -> String {
        hex::encode(self.secret.keyed_hash(TOKEN_HASH_PURPOSE, token.as_bytes()))
    }

    // ----- organizations and accounts -------------------------------------------------------

    pub async fn create_org(&self, name: &str, actor: &Actor) -> ControlResult<OrgRecord> {
        let name = text::checked_name("name", name, 200)?;
        let org = OrgRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            created_at: self.clock.now(),
        };
        self.store.insert_org(&org).await?;
        self.audit
            .record(AuditEntry {
                org_id: Some(org.id.clone()),
                account_id: actor.account_id.clone(),
                action: actions::ORG_CREATE,
                target: Some(format!("org:{}", org.id)),
                client_addr: actor.client_addr.clone(),
                details: Some(serde_json::json!({ "name": org.name })),
            })
            .await?;
        Ok(org)
    }

    pub async fn list_orgs(&self) -> ControlResult<Vec<OrgRecord>> {
        Ok(self.store.list_orgs().await?)
    }

    pub async fn create_account(
        &self,
        new: NewAccount,
        actor: &Actor,
    ) -> ControlResult<AccountRecord> {
        let email = validate_email(&new.email)?;
        let display_name = match new.display_name.as_deref().map(str::trim) {
            Some("") | None => email.split('@').next().unwrap_or(&email).to_string(),
            Some(name) => text::checked_name("name", name, 200)?,
        };
        if let Some(org_id) = &new.org_id
            && self.store.get_org(org_id).await?.is_none()
        {
            return Err(ControlError::NotFound(format!(
                "No organization with id {org_id}."
            )));
        }
        let password_hash = match new.password.as_deref() {
            Some(pw) if pw.chars().count() < 12 => {
                return Err(ControlError::invalid_field(
                    "password",
                    "must be at least 12 characters",
                ));
            }
            Some(pw) => Some(password::hash(pw).map_err(ControlError::Internal)?),
            None => None,
        };
        let now = self.clock.now();
        let account = AccountRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.clone(),
            display_name,
            password_hash,
            active: true,
            created_at: now,
        };
        self.store
            .insert_account(&account)
            .await
            .map_err(|e| match e {
                cairn_store::StoreError::Conflict(_) => ControlError::Conflict(format!(
                    "An account with the email {email} already exists."
                )),
                other => other.into(),
            })?;
        if let Some(org_id) = &new.org_id {
            let role = if new.org_admin {
                OrgRole::OrgAdmin
            } else {
                OrgRole::Member
            };
            self.store
                .upsert_membership(&MembershipRecord {
                    org_id: org_id.clone(),
                    account_id: account.id.clone(),
                    role,
                    created_at: now,
                })
                .await?;
        }
        self.audit
            .record(AuditEntry {
                org_id: new.org_id.clone(),
                account_id: actor.account_id.clone(),
                action: actions::ACCOUNT_CREATE,
                target: Some(format!("account:{}", account.id)),
                client_addr: actor.client_addr.clone(),
                details: Some(
                    serde_json::json!({ "email": account.email, "orgAdmin": new.org_admin }),
                ),
            })
            .await?;
        Ok(account)
    }

    pub async fn list_accounts(&self, org_id: Option<&str>) -> ControlResult<Vec<AccountRecord>> {
        Ok(self.store.list_accounts(org_id).await?)
    }

    pub async fn memberships(&self, account_id: &str) -> ControlResult<Vec<MembershipRecord>> {
        Ok(self.store.list_memberships(account_id).await?)
    }

    pub async fn account_by_email(&self, email: &str) -> ControlResult<AccountRecord> {
        self.store
            .find_account_by_email(email.trim())
            .await?
            .ok_or_else(|| {
                ControlError::NotFound(format!("No account with the email {}.", email.trim()))
            })
    }

    /// Deactivates an account: its tokens stop working at once on this node, and within the
    /// cache time on others.
    pub async fn deactivate_account(
        &self,
        email: &str,
        actor: &Actor,
    ) -> ControlResult<AccountRecord> {
        let account = self.account_by_email(email).await?;
        self.store.set_account_active(&account.id, false).await?;
        self.store.delete_account_sessions(&account.id).await?;
        self.forget_cached(|p| p.principal.account_id == account.id);
        self.audit
            .record(AuditEntry {
                org_id: None,
                account_id: actor.account_id.clone(),
                action: actions::ACCOUNT_DEACTIVATE,
                target: Some(format!("account:{}", account.id)),
                client_addr: actor.client_addr.clone(),
                details: None,
            })
            .await?;
        Ok(AccountRecord {
            active: false,
            ..account
        })
    }

    // ----- tokens ---------------------------------------------------------------------------

    pub async fn create_token(
        &self,
        account_id: &str,
        label: &str,
        expires_in_days: Option<u32>,
        actor: &Actor,
    ) -> ControlResult<CreatedToken> {
        let label = validate_label(label)?;
        let days = expires_in_days.unwrap_or(TOKEN_EXPIRY_DEFAULT_DAYS);
        if !(1..=TOKEN_EXPIRY_MAX_DAYS).contains(&days) {
            return Err(ControlError::invalid_field(
                "expiresInDays",
                format!("must be between 1 and {TOKEN_EXPIRY_MAX_DAYS} days"),
            ));
        }
        let account = self
            .store
            .get_account(account_id)
            .await?
            .ok_or_else(|| ControlError::NotFound("No such account.".into()))?;
        if !account.active {
            return Err(ControlError::Conflict(
                "The account is deactivated; it cannot get new API tokens.".into(),
            ));
        }
        let secret = NewTokenSecret::generate()
            .map_err(|e| ControlError::Internal(format!("random source: {e}")))?;
        let now = self.clock.now();
        let record = TokenRecord {
            id: uuid::Uuid::now_v7().to_string(),
            account_id: account.id.clone(),
            label,
            hint: token::hint(secret.expose()),
            secret_hmac: self.token_hmac(secret.expose()),
            created_at: now,
            expires_at: now + TimeDelta::days(i64::from(days)),
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
        };
        let inserted = self
            .store
            .insert_token_within_limit(&record, self.settings.token_limit, now)
            .await?;
        if !inserted {
            return Err(ControlError::Conflict(format!(
                "This account already has {} active API tokens, the most allowed. Revoke one before creating another.",
                self.settings.token_limit
            )));
        }
        let org_id = self.home_org(&account.id).await?;
        self.audit
            .record(AuditEntry {
                org_id,
                account_id: actor.account_id.clone().or(Some(account.id.clone())),
                action: actions::TOKEN_CREATE,
                target: Some(format!("token:{}", record.id)),
                client_addr: actor.client_addr.clone(),
                details: Some(serde_json::json!({
                    "label": record.label, "owner": account.id, "expiresAt": record.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })),
            })
            .await?;
        Ok(CreatedToken { record, secret })
    }

    pub async fn list_tokens(&self, account_id: &str) -> ControlResult<Vec<TokenRecord>> {
        Ok(self.store.list_tokens(account_id).await?)
    }

    pub async fn list_org_tokens(&self, org_id: &str) -> ControlResult<Vec<OwnedTokenRecord>> {
        Ok(self.store.list_org_tokens(org_id).await?)
    }

    /// The organizations `principal` administers, oldest membership first.
    pub async fn admin_orgs(&self, principal: &Principal) -> ControlResult<Vec<OrgRecord>> {
        let mut orgs = Vec::new();
        for (org_id, role) in &principal.memberships {
            if *role == OrgRole::OrgAdmin
                && let Some(org) = self.store.get_org(org_id).await?
            {
                orgs.push(org);
            }
        }
        Ok(orgs)
    }

    /// An org admin revokes several members' tokens at once; returns the tokens revoked (those
    /// revoked already are counted too). If any id is not a member's token, none is revoked.
    pub async fn revoke_member_tokens(
        &self,
        org_id: &str,
        token_ids: &[String],
        actor: &Actor,
    ) -> ControlResult<Vec<TokenRecord>> {
        let mut tokens = Vec::with_capacity(token_ids.len());
        for token_id in token_ids {
            tokens.push(self.member_token(org_id, token_id).await?);
        }
        let mut revoked = Vec::with_capacity(tokens.len());
        for token in tokens {
            revoked.push(self.revoke(token, Some(org_id), actor).await?);
        }
        Ok(revoked)
    }

    /// Revokes a token of `owner_account_id`. Unknown ids and other accounts' tokens look alike.
    pub async fn revoke_own_token(
        &self,
        owner_account_id: &str,
        token_id: &str,
        actor: &Actor,
    ) -> ControlResult<TokenRecord> {
        let token = self
            .store
            .get_token(token_id)
            .await?
            .filter(|t| t.account_id == owner_account_id)
            .ok_or_else(|| ControlError::NotFound(format!("No API token with id {token_id}.")))?;
        self.revoke(token, None, actor).await
    }

    /// An org admin revokes a token of a member of their org.
    pub async fn revoke_member_token(
        &self,
        org_id: &str,
        token_id: &str,
        actor: &Actor,
    ) -> ControlResult<TokenRecord> {
        let token = self.member_token(org_id, token_id).await?;
        self.revoke(token, Some(org_id), actor).await
    }

    /// A token of a member of `org_id`; unknown ids and non-members' tokens look alike.
    async fn member_token(&self, org_id: &str, token_id: &str) -> ControlResult<TokenRecord> {
        let not_found = || ControlError::NotFound(format!("No API token with id {token_id}."));
        let token = self
            .store
            .get_token(token_id)
            .await?
            .ok_or_else(not_found)?;
        if self
            .store
            .get_membership(org_id, &token.account_id)
            .await?
            .is_none()
        {
            return Err(not_found());
        }
        Ok(token)
    }

    async fn revoke(
        &self,
        token: TokenRecord,
        org_id: Option<&str>,
        actor: &Actor,
    ) -> ControlResult<TokenRecord> {
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let now = self.clock.now();
        let by = actor
            .account_id
            .clone()
            .unwrap_or_else(|| "cli".to_string());
        self.store.revoke_token(&token.id, &by, now).await?;
        self.forget_cached(|c| c.principal.token_id.as_deref() == Some(&token.id));
        let org_id = match org_id {
            Some(o) => Some(o.to_string()),
            None => self.home_org(&token.account_id).await?,
        };
        self.audit
            .record(AuditEntry {
                org_id,
                account_id: actor.account_id.clone(),
                action: actions::TOKEN_REVOKE,
                target: Some(format!("token:{}", token.id)),
                client_addr: actor.client_addr.clone(),
                details: Some(
                    serde_json::json!({ "label": token.label, "owner": token.account_id }),
                ),
            })
            .await?;
        Ok(TokenRecord {
            revoked_at: Some(now),
            revoked_by: Some(by),
            ..token
        })
    }

    fn forget_cached(&self, matches: impl Fn(&CachedAuth) -> bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, entry| !matches(entry));
    }

    async fn check_token(
        &self,
        email: &str,
        token: &str,
        now: Timestamp,
    ) -> ControlResult<Principal> {
        if text::has_control(email) {
            // No account has such an email, and PostgreSQL cannot even look a NUL up.
            return Err(unauthenticated(WRONG_CREDENTIALS, "wrong_credentials"));
        }
        let hmac = self.token_hmac(token);
        let email_lower = email.to_lowercase();
        let cache_key = format!("{email_lower}\0{hmac}");
        if let Some(principal) = self.cached(&cache_key, now) {
            return Ok(principal);
        }
        let found = self.store.find_token_for_auth(&email_lower, &hmac).await?;
        let wrong = || unauthenticated(WRONG_CREDENTIALS, "wrong_credentials");
        let Some((account, record)) = found else {
            return Err(wrong());
        };
        // The store matched on the hash already; compare again in constant time so that no
        // code path here depends on how much of the hash matched.
        let equal: bool = record.secret_hmac.as_bytes().ct_eq(hmac.as_bytes()).into();
        if !equal || record.revoked_at.is_some() || record.expires_at <= now || !account.active {
            return Err(wrong());
        }
        let principal = self.principal(account, Some(record.id.clone())).await?;
        self.remember(cache_key, &principal, record.expires_at, now);
        self.note_use(&record.id, record.last_used_at, now).await;
        Ok(principal)
    }

    async fn check_password(&self, email: &str, password: &str) -> ControlResult<Principal> {
        if text::has_control(email) {
            // As in `check_token`; no Argon2 either: no such account can exist.
            return Err(unauthenticated(WRONG_CREDENTIALS, "wrong_credentials"));
        }
        let account = self.store.find_account_by_email(email).await?;
        let hash = match account.as_ref().and_then(|a| a.password_hash.clone()) {
            Some(hash) => hash,
            None => self.dummy_password_hash()?,
        };
        // Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .map_err(|e| ControlError::Internal(format!("password check: {e}")))?;
        match account {
            Some(account) if ok && account.active && account.password_hash.is_some() => {
                self.principal(account, None).await
            }
            _ => Err(unauthenticated(WRONG_CREDENTIALS, "wrong_credentials")),
        }
    }

    fn dummy_password_hash(&self) -> ControlResult<String> {
        if let Some(hash) = self.dummy_password_hash.get() {
            return Ok(hash.clone());
        }
        let hash = password::hash("cairn dummy password").map_err(ControlError::Internal)?;
        Ok(self.dummy_password_hash.get_or_init(|| hash).clone())
    }

    async fn principal(
        &self,
        account: AccountRecord,
        token_id: Option<String>,
    ) -> ControlResult<Principal> {
        let memberships = self.store.list_memberships(&account.id).await?;
        Ok(Principal {
            account_id: account.id,
            email: account.email,
            display_name: account.display_name,
            token_id,
            memberships: memberships
                .into_iter()
                .map(|m| (m.org_id, m.role))
                .collect(),
        })
    }

    /// The org an account's events are filed under: its first membership, if any.
    async fn home_org(&self, account_id: &str) -> ControlResult<Option<String>> {
        let memberships = self.store.list_memberships(account_id).await?;
        Ok(memberships.into_iter().next().map(|m| m.org_id))
    }

    fn cached(&self, key: &str, now: Timestamp) -> Option<Principal> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let entry = cache.get(key)?;
        let ttl = TimeDelta::from_std(self.settings.auth_cache_ttl).ok()?;
        (now - entry.cached_at < ttl && entry.token_expires_at > now)
            .then(|| entry.principal.clone())
    }

    fn remember(
        &self,
        key: String,
        principal: &Principal,
        token_expires_at: Timestamp,
        now: Timestamp,
    ) {
        if self.settings.auth_cache_ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(
            key,
            CachedAuth {
                principal: principal.clone(),
                token_expires_at,
                cached_at: now,
            },
        );
    }

    /// Records the token's use at one-minute resolution: at most one write per token per minute.
    async fn note_use(&self, token_id: &str, stored: Option<Timestamp>, now: Timestamp) {
        let Ok(minute) = now.duration_trunc(TimeDelta::minutes(1)) else {
            return;
        };
        if stored.is_some_and(|s| s >= minute) {
            return;
        }
        {
            let mut written = self
                .last_use_written
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if written.get(token_id).is_some_and(|w| *w >= minute) {
                return;
            }
            if written.len() >= CACHE_MAX_ENTRIES {
                written.clear();
            }
            written.insert(token_id.to_string(), minute);
        }
        if let Err(err) = self.store.record_token_use(token_id, minute).await {
            tracing::warn!(error = %err, "could not record an API token's last use");
        }
    }

    // ----- authorization --------------------------------------------------------------------

    /// Org admins of `org_id` pass; members get 403; anyone else gets the same 404 as for an org
    /// that does not exist.
    pub fn require_org_admin(&self, principal: &Principal, org_id: &str) -> ControlResult<()> {
        match principal.role_in(org_id) {
            Some(OrgRole::OrgAdmin) => Ok(()),
            Some(OrgRole::Member) => Err(ControlError::Forbidden(
                "Only organization admins may use the backup and restore APIs of this organization.".into(),
            )),
            None => Err(ControlError::NotFound(format!("No organization with id {org_id}."))),
        }
    }
}

const WRONG_CREDENTIALS: &str =
    "The email or API token is wrong, or the token has expired or been revoked.";

fn unauthenticated(message: &'static str, reason: &'static str) -> ControlError {
    ControlError::Unauthenticated(AuthFailure { message, reason })
}

fn validate_email(email: &str) -> ControlResult<String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':');
    if valid {
        Ok(email.to_string())
    } else {
        Err(ControlError::invalid_field(
            "email",
            "must be an email address (no spaces or colons, at most 254 characters)",
        ))
    }
}

fn validate_label(label: &str) -> ControlResult<String> {
    let label = label.trim();
    let chars = label.chars().count();
    if chars == 0 || chars > TOKEN_LABEL_MAX_CHARS || label.chars().any(text::unsafe_in_name) {
        return Err(ControlError::invalid_field(
            "label",
            format!(
                "is required: 1 to {TOKEN_LABEL_MAX_CHARS} characters, no control or \
                 bidirectional characters"
            ),
        ));
    }
    Ok(label.to_string())
}

#[cfg(test)]
mod tests;
