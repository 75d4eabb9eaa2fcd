//! In-memory abuse limits, per node (a cluster of N nodes allows up to N times the limits; see
//! ARCHITECTURE.md).
//!
//! - [`FailureThrottle`]: after `limit` failures within `window` from one key (a client address or
//!   an account), further attempts are refused until the oldest failure leaves the window.
//! - [`RateLimiter`]: a token bucket per account for successful calls.
//!
//! Both bound their memory: keys with nothing recent are dropped, and past `max_keys` the stalest
//! entries go first, so a flood of distinct keys cannot exhaust memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

type Instant = DateTime<Utc>;

#[derive(Debug)]
pub struct FailureThrottle {
    limit: usize,
    window: Duration,
    max_keys: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureThrottle {
    pub fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        FailureThrottle {
            limit: limit.max(1) as usize,
            window,
            max_keys: max_keys.max(16),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn window_start(&self, now: Instant) -> Instant {
        now - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }

    /// `Some(retry_after)` while `key` is locked out.
    pub fn locked(&self, key: &str, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = map.get(key)?;
        let start = self.window_start(now);
        let recent: Vec<&Instant> = times.iter().filter(|t| **t > start).collect();
        if recent.len() < self.limit {
            return None;
        }
        // Unlocked once enough failures age out that fewer than `limit` remain.
        let release_at =
            *recent[recent.len() - self.limit] + chrono::Duration::from_std(self.window).ok()?;
        Some(
            (release_at - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_secs(1)),
        )
    }

    /// Failures of `key` within the window (at most `limit`).
    pub fn recent(&self, key: &str, now: Instant) -> usize {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let start = self.window_start(now);
        map.get(key)
            .map_or(0, |times| times.iter().filter(|t| **t > start).count())
    }

    /// Records a failure; returns true when this failure is the one that locks `key` (so the
    /// caller can write one audit event per burst, not one per attempt).
    pub fn record_failure(&self, key: &str, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let start = self.window_start(now);
        if map.len() >= self.max_keys && !map.contains_key(key) {
            map.retain(|_, times| times.back().is_some_and(|t| *t > start));
            if map.len() >= self.max_keys {
                // Still full of live keys: drop the one whose last failure is oldest.
                if let Some(stalest) = map
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&stalest);
                }
            }
        }
        let times = map.entry(key.to_string()).or_default();
        while times.front().is_some_and(|t| *t <= start) {
            times.pop_front();
        }
        times.push_back(now);
        // Keep no more than needed to decide.
        while times.len() > self.limit {
            times.pop_front();
        }
        times.len() == self.limit
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.failures.lock().unwrap().len()
    }
}

/// The outcome of taking one request from an account's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset_after: Duration,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32, max_keys: usize) -> Self {
        RateLimiter {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            max_keys: max_keys.max(16),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn take(&self, key: &str, now: Instant) -> RateDecision {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_keys && !map.contains_key(key) {
            let full_after =
                chrono::Duration::milliseconds((self.burst / self.per_second * 1000.0) as i64);
            map.retain(|_, (_, at)| *at + full_after > now);
        }
        let (tokens, at) = map.entry(key.to_string()).or_insert((self.burst, now));
        let elapsed = (now - *at).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *at = now;
        let allowed = *tokens >= 1.0;
        if allowed {
            *tokens -= 1.0;
        }
        let reset_after =
            Duration::from_secs_f64(((self.burst - *tokens) / self.per_second).max(0.0));
        RateDecision {
            allowed,
            limit: self.burst as u32,
            remaining: tokens.floor().max(0.0) as u32,
            reset_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> Instant {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn locks_after_the_limit_and_lifts_by_itself() {
        let th = FailureThrottle::new(10, Duration::from_secs(60), 1000);
        for i in 0..9 {
            assert!(!th.record_failure("1.2.3.4", t(i * 1000)));
            assert_eq!(th.locked("1.2.3.4", t(i * 1000)), None);
        }
        assert!(
            th.record_failure("1.2.3.4", t(9000)),
            "the 10th failure locks"
        );
        let retry = th
            .locked("1.2.3.4", t(9500))
            .expect("11th attempt is refused");
        // The first failure (at 0s) leaves the window at 60s.
        assert_eq!(retry, Duration::from_millis(50_500));
        assert_eq!(
            th.locked("other", t(9500)),
            None,
            "other keys are not affected"
        );
        assert!(th.locked("1.2.3.4", t(59_999)).is_some());
        assert_eq!(
            th.locked("1.2.3.4", t(60_001)),
            None,
            "lifts once the oldest failure ages out"
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let th = FailureThrottle::new(10, Duration::from_secs(60), 100);
        for i in 0..10_000 {
            th.record_failure(&format!("10.0.{}.{}", i / 256, i % 256), t(i));
        }
        assert!(th.keys() <= 100);
    }

    #[test]
    fn bucket_allows_bursts_then_refills() {
        let rl = RateLimiter::new(10, 20, 100);
        for _ in 0..20 {
            assert!(rl.take("acc", t(0)).allowed);
        }
        let refused = rl.take("acc", t(0));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_after, Duration::from_secs(2));
        assert!(
            rl.take("acc", t(150)).allowed,
            "1.5 tokens refilled after 150 ms"
        );
        assert!(rl.take("other", t(0)).allowed);
    }
}
