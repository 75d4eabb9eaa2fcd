//! The Basic check of an API request (spec section 4), and the password attempt it shares with
//! the web login, each under the locks of [`super::lockout`].

use std::net::IpAddr;

use cairn_store::Timestamp;

use super::basic::{BasicError, parse_authorization};
use super::lockout::Failure;
use super::token::{self, TokenShape};
use super::{Identity, Principal, unauthenticated};
use crate::audit::{AuditEntry, actions};
use crate::{ControlError, ControlResult};

impl Identity {
    /// Authenticates one API request from its `Authorization` header value.
    ///
    /// Every credential failure is [`ControlError::Unauthenticated`] with a message that never
    /// depends on whether the email exists; the work done (one keyed hash, one indexed look-up)
    /// is the same either way. A token is checked before any lock, so a valid one always
    /// passes; a failing attempt gets 429 instead of 401 while its address or email is locked.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        client: IpAddr,
    ) -> ControlResult<Principal> {
        let now = self.clock.now();
        let addr_key = client.to_string();
        let creds = match parse_authorization(authorization) {
            Ok(creds) => creds,
            Err(BasicError::Missing) => {
                // Not an attempt: clients send no credentials first and retry after the 401.
                return Err(unauthenticated(BasicError::Missing.message(), "missing"));
            }
            Err(err) => {
                self.token_failed(&addr_key, None, now, client).await?;
                return Err(unauthenticated(err.message(), err.reason()));
            }
        };
        let principal = match token::shape(&creds.password) {
            TokenShape::Foreign if self.settings.allow_password_basic => {
                self.password_attempt(
                    &creds.user,
                    &creds.password,
                    client,
                    actions::AUTH_FAILED_BURST,
                )
                .await?
            }
            shape => match self
                .check_shaped_token(shape, &creds.user, &creds.password, now)
                .await
            {
                Ok(principal) => principal,
                Err(ControlError::Unauthenticated(failure)) => {
                    let email_key = creds.user.to_lowercase();
                    self.token_failed(&addr_key, Some(&email_key), now, client)
                        .await?;
                    return Err(ControlError::Unauthenticated(failure));
                }
                Err(other) => return Err(other),
            },
        };
        let decision = self.lockouts.rate.take(&principal.account_id, now);
        if !decision.allowed {
            return Err(ControlError::RateLimited {
                limit: decision.limit,
                remaining: decision.remaining,
                reset_after: decision.reset_after,
            });
        }
        Ok(principal)
    }

    async fn check_shaped_token(
        &self,
        shape: TokenShape,
        email: &str,
        password: &str,
        now: Timestamp,
    ) -> ControlResult<Principal> {
        match shape {
            TokenShape::WellFormed => self.check_token(email, password, now).await,
            TokenShape::Damaged => Err(unauthenticated(
                "The API token is malformed: it may be truncated or mistyped. Copy it again, or create a new one.",
                "damaged_token",
            )),
            TokenShape::Foreign => Err(unauthenticated(
                "These APIs accept an API token as the password, not an account password. Create a token at /manage-profile/security/api-tokens.",
                "not_a_token",
            )),
        }
    }

    /// Counts a failed token attempt; 429 instead when its address or email is locked already.
    async fn token_failed(
        &self,
        addr_key: &str,
        email_key: Option<&str>,
        now: Timestamp,
        client: IpAddr,
    ) -> ControlResult<()> {
        match self.lockouts.token_failure(addr_key, email_key, now) {
            Failure::Locked(retry_after) => Err(self.lockouts.throttled(retry_after)),
            Failure::Counted { locks } => {
                if locks {
                    self.audit_burst(actions::AUTH_FAILED_BURST, email_key, client)
                        .await;
                }
                Ok(())
            }
        }
    }

    /// One password attempt, from the web login or (when allowed) a Basic request: 429 while
    /// its address or email is locked, slowed down while its email is under attack, and counted
    /// when wrong (the failure that locks writes one `burst_action` audit event).
    pub(super) async fn password_attempt(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
        burst_action: &'static str,
    ) -> ControlResult<Principal> {
        let addr_key = client.to_string();
        let email_key = email.to_lowercase();
        let delay = self
            .lockouts
            .password_gate(&addr_key, &email_key, self.clock.now())?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match self.check_password(email, password).await {
            Err(ControlError::Unauthenticated(failure)) => {
                let now = self.clock.now();
                if self.lockouts.password_failure(&addr_key, &email_key, now) {
                    self.audit_burst(burst_action, Some(&email_key), client)
                        .await;
                }
                Err(ControlError::Unauthenticated(failure))
            }
            other => other,
        }
    }

    /// One audit event for a burst of failures; the email is recorded as given (it may name no
    /// account).
    async fn audit_burst(&self, action: &'static str, email_key: Option<&str>, client: IpAddr) {
        let entry = AuditEntry {
            org_id: None,
            account_id: None,
            action,
            target: email_key.map(|e| format!("email:{e}")),
            client_addr: Some(client.to_string()),
            details: Some(serde_json::json!({ "failures": self.settings.failure_limit })),
        };
        if let Err(err) = self.audit.record(entry).await {
            tracing::warn!(error = %err, "could not record an authentication failure burst");
        }
    }
}
