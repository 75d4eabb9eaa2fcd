//! Web sessions, CSRF tokens and the one-time display of a new token (spec section 5).
//!
//! - A session id is 43 base62 characters (about 256 bits) from the OS. It lives only in the
//!   browser's cookie; the store keeps `HMAC(server secret, "cairn.web-session" ‖ 0 ‖ id)`, so
//!   sessions survive restarts, work on every node, and a copy of the database logs no one in.
//! - The CSRF token of a session is `HMAC(server secret, "cairn.web-csrf" ‖ 0 ‖ id)`: bound to the
//!   session, nothing more to store, useless with another session.
//! - The login form, which has no session yet, gets the same construction over a random nonce
//!   that the browser holds in a short-lived cookie (double submit, keyed).
//! - A new API token is shown once after a redirect: it travels sealed (XChaCha20-Poly1305 under a
//!   key derived from the session id) in a short-lived cookie that the next page view consumes.
//!   The token is never written to the store; the seal's random nonce is, when the seal is opened
//!   (`spent_nonces`), so a replayed cookie opens nothing, on any node.

use std::net::IpAddr;

use cairn_store::{SessionRecord, Timestamp};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit};
use chrono::TimeDelta;
use subtle::ConstantTimeEq;

use super::{Actor, Identity, Principal, token, unauthenticated};
use crate::audit::{AuditEntry, actions};
use crate::{ControlError, ControlResult};

const SESSION_ID_CHARS: usize = 43;
const SESSION_HASH_PURPOSE: &str = "cairn.web-session";
const CSRF_PURPOSE: &str = "cairn.web-csrf";
const LOGIN_CSRF_PURPOSE: &str = "cairn.web-login-csrf";
const FLASH_KEY_PURPOSE: &str = "cairn.web-flash";
const NONCE_LEN: usize = 24;
/// How long a sealed new token may wait for the page view that shows it.
pub const FLASH_TTL: TimeDelta = TimeDelta::minutes(2);

const WRONG_LOGIN: &str = "The email or password is wrong.";
const CSRF_REJECTED: &str =
    "This form has expired or did not come from this site. Reload the page and try again.";

/// A secret value for a cookie: never logged, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieSecret(String);

impl std::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

impl CookieSecret {
    fn generate() -> ControlResult<Self> {
        token::random_base62(SESSION_ID_CHARS)
            .map(CookieSecret)
            .map_err(|e| ControlError::Internal(format!("random source: {e}")))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A logged-in browser, as every page sees it.
#[derive(Clone)]
pub struct WebSession {
    pub principal: Principal,
    pub expires_at: Timestamp,
    /// Goes in every form of this session's pages.
    pub csrf_token: String,
    id_hmac: String,
    flash_key: [u8; 32],
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("account_id", &self.principal.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl WebSession {
    /// Accepts a form only with this session's CSRF token (compared in constant time).
    pub fn check_csrf(&self, submitted: Option<&str>) -> ControlResult<()> {
        let ok: bool = submitted
            .unwrap_or("")
            .as_bytes()
            .ct_eq(self.csrf_token.as_bytes())
            .into();
        if ok {
            Ok(())
        } else {
            Err(ControlError::Forbidden(CSRF_REJECTED.into()))
        }
    }

    /// Seals `secret` for one display on this session's next page view, until `now + FLASH_TTL`.
    pub fn seal_once(&self, secret: &str, now: Timestamp) -> ControlResult<String> {
        let until = (now + FLASH_TTL).timestamp_millis();
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| ControlError::Internal(format!("random source: {e}")))?;
        let cipher = XChaCha20Poly1305::new((&self.flash_key).into());
        let ciphertext = cipher
            .encrypt(&nonce.into(), format!("{until}:{secret}").as_bytes())
            .map_err(|_| ControlError::Internal("sealing a new token failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(hex::encode(out))
    }

    /// Opens what [`WebSession::seal_once`] sealed for this session, if still in time: the seal's
    /// nonce, its deadline and the secret. [`Identity::open_once`] makes it one-time.
    fn open_sealed(&self, sealed: &str, now: Timestamp) -> Option<(String, Timestamp, String)> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = XChaCha20Poly1305::new((&self.flash_key).into());
        let plain = String::from_utf8(cipher.decrypt(&nonce.into(), ciphertext).ok()?).ok()?;
        let (until, secret) = plain.split_once(':')?;
        let until = chrono::DateTime::from_timestamp_millis(until.parse().ok()?)?;
        (until > now).then(|| (hex::encode(nonce), until, secret.to_string()))
    }
}

/// A session just made by a login: the cookie value and the session it opens.
#[derive(Debug)]
pub struct NewSession {
    pub cookie: CookieSecret,
    pub session: WebSession,
}

/// The login form's CSRF pair: `cookie` goes in a cookie, `form_token` in the form.
#[derive(Debug)]
pub struct LoginNonce {
    pub cookie: CookieSecret,
    pub form_token: String,
}

impl Identity {
    fn session_hmac(&self, session_id: &str) -> String {
        hex::encode(
            self.secret
                .keyed_hash(SESSION_HASH_PURPOSE, session_id.as_bytes()),
        )
    }

    fn web_session(
        &self,
        session_id: &str,
        principal: Principal,
        expires_at: Timestamp,
    ) -> WebSession {
        WebSession {
            principal,
            expires_at,
            csrf_token: hex::encode(self.secret.keyed_hash(CSRF_PURPOSE, session_id.as_bytes())),
            id_hmac: self.session_hmac(session_id),
            flash_key: self
                .secret
                .keyed_hash(FLASH_KEY_PURPOSE, session_id.as_bytes()),
        }
    }

    /// A fresh nonce for the login form.
    pub fn login_nonce(&self) -> ControlResult<LoginNonce> {
        let cookie = CookieSecret::generate()?;
        let form_token = self.login_form_token(cookie.expose());
        Ok(LoginNonce { cookie, form_token })
    }

    fn login_form_token(&self, nonce: &str) -> String {
        hex::encode(self.secret.keyed_hash(LOGIN_CSRF_PURPOSE, nonce.as_bytes()))
    }

    /// Accepts the login form only when its token matches the nonce cookie of the same browser.
    pub fn check_login_csrf(
        &self,
        nonce: Option<&str>,
        submitted: Option<&str>,
    ) -> ControlResult<()> {
        let expected = match nonce {
            Some(n) if !n.is_empty() => self.login_form_token(n),
            _ => return Err(ControlError::Forbidden(CSRF_REJECTED.into())),
        };
        let ok: bool = submitted
            .unwrap_or("")
            .as_bytes()
            .ct_eq(expected.as_bytes())
            .into();
        if ok {
            Ok(())
        } else {
            Err(ControlError::Forbidden(CSRF_REJECTED.into()))
        }
    }

    /// Logs in with email and web password, under the password locks of `lockout.rs`: per
    /// client address, and for the email from every address together a higher ceiling with
    /// growing delays before it, so that nobody elsewhere can lock the account's owner out.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> ControlResult<NewSession> {
        let addr_key = client.to_string();
        let principal = match self
            .password_attempt(email.trim(), password, client, actions::LOGIN_FAILED_BURST)
            .await
        {
            Ok(principal) => principal,
            Err(ControlError::Unauthenticated(_)) => {
                return Err(unauthenticated(WRONG_LOGIN, "wrong_login"));
            }
            Err(other) => return Err(other),
        };
        let now = self.clock.now();
        let cookie = CookieSecret::generate()?;
        let expires_at =
            now + TimeDelta::from_std(self.settings.session_ttl).unwrap_or(TimeDelta::hours(12));
        self.store
            .insert_session(&SessionRecord {
                id_hmac: self.session_hmac(cookie.expose()),
                account_id: principal.account_id.clone(),
                created_at: now,
                expires_at,
                client_addr: Some(addr_key.clone()),
            })
            .await?;
        // Sessions nobody logged out of would otherwise pile up; the index makes this cheap.
        if let Err(err) = self.store.delete_expired_sessions(now).await {
            tracing::warn!(error = %err, "could not delete expired web sessions");
        }
        self.audit
            .record(AuditEntry {
                org_id: self.home_org(&principal.account_id).await?,
                account_id: Some(principal.account_id.clone()),
                action: actions::LOGIN,
                target: Some(format!("account:{}", principal.account_id)),
                client_addr: Some(addr_key),
                details: None,
            })
            .await?;
        let session = self.web_session(cookie.expose(), principal, expires_at);
        Ok(NewSession { cookie, session })
    }

    /// The secret sealed for `session` by [`WebSession::seal_once`], the first time it is opened
    /// in time (on any node sharing the store); `None` for a replay, another session's seal, a
    /// late or a damaged one.
    pub async fn open_once(
        &self,
        session: &WebSession,
        sealed: &str,
    ) -> ControlResult<Option<String>> {
        let now = self.clock.now();
        let Some((nonce, until, secret)) = session.open_sealed(sealed, now) else {
            return Ok(None);
        };
        let first = self
            .store
            .spend_nonce(&format!("{FLASH_KEY_PURPOSE}:{nonce}"), until, now)
            .await?;
        Ok(first.then_some(secret))
    }

    /// The live session behind a cookie value, if any: `None` for an unknown, expired or
    /// logged-out session, or one whose account was deactivated.
    pub async fn session(&self, session_id: &str) -> ControlResult<Option<WebSession>> {
        let well_formed = session_id.len() == SESSION_ID_CHARS
            && session_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !well_formed {
            return Ok(None);
        }
        let now = self.clock.now();
        let Some(record) = self
            .store
            .get_session(&self.session_hmac(session_id))
            .await?
        else {
            return Ok(None);
        };
        if record.expires_at <= now {
            return Ok(None);
        }
        let Some(account) = self.store.get_account(&record.account_id).await? else {
            return Ok(None);
        };
        if !account.active {
            return Ok(None);
        }
        let principal = self.principal(account, None).await?;
        Ok(Some(self.web_session(
            session_id,
            principal,
            record.expires_at,
        )))
    }

    /// Ends the session on every node at once.
    pub async fn logout(&self, session: &WebSession, actor: &Actor) -> ControlResult<()> {
        self.store.delete_session(&session.id_hmac).await?;
        self.audit
            .record(AuditEntry {
                org_id: self.home_org(&session.principal.account_id).await?,
                account_id: Some(session.principal.account_id.clone()),
                action: actions::LOGOUT,
                target: Some(format!("account:{}", session.principal.account_id)),
                client_addr: actor.client_addr.clone(),
                details: None,
            })
            .await
    }
}
