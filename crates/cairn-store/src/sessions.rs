//! Web sessions: the record and the store's interface. The SQL lives in `sql/sessions.rs`.

use async_trait::async_trait;

use crate::{StoreResult, Timestamp};

/// A logged-in browser. The session id itself is never stored: only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hex HMAC-SHA-256 of the session id under the server's key.
    pub id_hmac: String,
    pub account_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub client_addr: Option<String>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Fails with `Conflict("session")` if the hash exists (a 256-bit id never repeats).
    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The session with this hash, expired or not (the caller decides).
    async fn get_session(&self, id_hmac: &str) -> StoreResult<Option<SessionRecord>>;
    /// Returns whether a session was deleted.
    async fn delete_session(&self, id_hmac: &str) -> StoreResult<bool>;
    /// Ends every session of an account; returns how many there were.
    async fn delete_account_sessions(&self, account_id: &str) -> StoreResult<u64>;
    /// Deletes sessions that expired at or before `now`; returns how many.
    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64>;
    /// Spends a one-time nonce that is good until `expires_at`: true for the one call (on any
    /// node) that spends it first, false for every later one. Forgets nonces expired by `now`.
    async fn spend_nonce(
        &self,
        nonce: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
