//! Who may try again, and when (spec section 6). API tokens and web passwords are counted apart,
//! so failures of one never lock the other.
//!
//! - **Tokens** are checked first, always: a valid token is never refused by a lock (256 random
//!   bits cannot be guessed, so a lock would only serve an attacker, or lock out everyone behind
//!   one proxy). After `failure_limit` failures in the window from one client address, or
//!   against one email, further *failing* attempts get 429 instead of 401, and are not counted
//!   (so the lock lifts by itself while the attempts go on).
//! - **Passwords** can be guessed, so their locks apply before the check. After `failure_limit`
//!   failures from one client address, that address gets 429 for its password attempts (this is
//!   also the lock on (email, address)). Failures against one email from every address together
//!   only slow its checks down, by a delay that doubles with each failure past `failure_limit`
//!   (0.25 s up to 8 s), and lock the email only at `password_ceiling` failures: someone
//!   elsewhere cannot lock an account's owner out with a handful of addresses.
//!
//! Every lock is per node and in memory (see [`super::throttle`]).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::IdentitySettings;
use super::throttle::{FailureThrottle, RateLimiter};
use crate::ControlError;

const THROTTLE_MAX_KEYS: usize = 100_000;
const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The delay doubles up to `FIRST_DELAY * 2^MAX_DOUBLINGS` (8 s).
const MAX_DOUBLINGS: u32 = 5;

type Instant = DateTime<Utc>;

#[derive(Debug)]
pub(crate) struct Lockouts {
    limit: u32,
    token_by_addr: FailureThrottle,
    token_by_email: FailureThrottle,
    password_by_addr: FailureThrottle,
    password_by_email: FailureThrottle,
    /// Successful calls per account.
    pub(crate) rate: RateLimiter,
}

/// What a failed attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Counted; `locks` when this failure is the one that locks (one audit event per burst).
    Counted { locks: bool },
    /// Refused with 429: its address or email is locked already.
    Locked(Duration),
}

impl Lockouts {
    pub(crate) fn new(s: &IdentitySettings) -> Self {
        let throttle = |limit| FailureThrottle::new(limit, s.failure_window, THROTTLE_MAX_KEYS);
        Lockouts {
            limit: s.failure_limit.max(1),
            token_by_addr: throttle(s.failure_limit),
            token_by_email: throttle(s.failure_limit),
            password_by_addr: throttle(s.failure_limit),
            password_by_email: throttle(s.password_ceiling.max(s.failure_limit)),
            rate: RateLimiter::new(s.rate_per_second, s.rate_burst, THROTTLE_MAX_KEYS),
        }
    }

    /// The 429 of a lock that lifts after `retry_after`.
    pub(crate) fn throttled(&self, retry_after: Duration) -> ControlError {
        ControlError::Throttled {
            retry_after,
            limit: self.limit,
        }
    }

    /// A token attempt failed (or its header was malformed: then there is no email).
    pub(crate) fn token_failure(&self, addr: &str, email: Option<&str>, now: Instant) -> Failure {
        let locked = [
            self.token_by_addr.locked(addr, now),
            email.and_then(|e| self.token_by_email.locked(e, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(retry_after) = locked {
            return Failure::Locked(retry_after);
        }
        let addr_locks = self.token_by_addr.record_failure(addr, now);
        let email_locks = email.is_some_and(|e| self.token_by_email.record_failure(e, now));
        Failure::Counted {
            locks: addr_locks || email_locks,
        }
    }

    /// Before a password is checked: `Err` (429) while the address or the email is locked,
    /// otherwise how long to wait before checking it.
    pub(crate) fn password_gate(
        &self,
        addr: &str,
        email: &str,
        now: Instant,
    ) -> Result<Duration, ControlError> {
        let locked = [
            self.password_by_addr.locked(addr, now),
            self.password_by_email.locked(email, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(retry_after) = locked {
            return Err(self.throttled(retry_after));
        }
        let failures = self.password_by_email.recent(email, now) as u32;
        Ok(match failures.checked_sub(self.limit) {
            Some(past) => FIRST_DELAY * 2u32.pow(past.min(MAX_DOUBLINGS)),
            None => Duration::ZERO,
        })
    }

    /// A password attempt failed; true when it locks the address or the email.
    pub(crate) fn password_failure(&self, addr: &str, email: &str, now: Instant) -> bool {
        let addr_locks = self.password_by_addr.record_failure(addr, now);
        let email_locks = self.password_by_email.record_failure(email, now);
        addr_locks || email_locks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> Instant {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn lockouts() -> Lockouts {
        Lockouts::new(&IdentitySettings::default())
    }

    #[test]
    fn token_failures_never_touch_password_logins() {
        let l = lockouts();
        for i in 0..11 {
            l.token_failure(&format!("192.0.2.{i}"), Some("admin@example.com"), t(0));
        }
        assert_eq!(
            l.token_failure("192.0.2.99", Some("admin@example.com"), t(1)),
            Failure::Locked(Duration::from_secs(59)),
            "the email is locked for failing token attempts"
        );
        assert_eq!(
            l.password_gate("192.0.2.99", "admin@example.com", t(1))
                .ok(),
            Some(Duration::ZERO),
            "its web password is checked at once"
        );
    }

    #[test]
    fn password_failures_from_many_addresses_slow_an_email_down_and_lock_it_only_at_the_ceiling() {
        let l = lockouts();
        let email = "admin@example.com";
        for i in 0..10 {
            assert_eq!(
                l.password_gate(&format!("a{i}"), email, t(0)).ok(),
                Some(Duration::ZERO)
            );
            l.password_failure(&format!("a{i}"), email, t(0));
        }
        let delays: Vec<_> = (10..17)
            .map(|i| {
                let delay = l.password_gate("owner", email, t(0)).unwrap();
                l.password_failure(&format!("a{i}"), email, t(0));
                delay.as_millis()
            })
            .collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 8000, 8000]);
        for i in 17..100 {
            l.password_failure(&format!("a{i}"), email, t(0));
        }
        assert!(
            matches!(
                l.password_gate("owner", email, t(1)),
                Err(ControlError::Throttled { limit: 10, .. })
            ),
            "locked at the ceiling"
        );
        assert_eq!(
            l.password_gate("owner", email, t(61)).ok(),
            Some(Duration::ZERO),
            "and it lifts by itself"
        );
    }

    #[test]
    fn ten_password_failures_lock_their_address_only() {
        let l = lockouts();
        for i in 0..10 {
            l.password_failure("198.51.100.1", &format!("user{i}@example.com"), t(0));
        }
        assert!(
            l.password_gate("198.51.100.1", "admin@example.com", t(1))
                .is_err()
        );
        assert!(
            l.password_gate("198.51.100.2", "user1@example.com", t(1))
                .is_ok()
        );
    }
}
