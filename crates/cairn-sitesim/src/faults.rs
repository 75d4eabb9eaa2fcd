//! Fault injection: rate limiting (429 + Retry-After + X-RateLimit-*), server errors, latency,
//! connections closed mid-body, and attachment content that 404s. Triggers are deterministic:
//! `burst` hits the next N matching requests, `every` hits every Nth matching request.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Trigger {
    /// Hit the next `burst` matching requests.
    pub burst: u64,
    /// After the burst, hit every `every`-th matching request (0: never).
    pub every: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimit {
    #[serde(flatten)]
    pub trigger: Trigger,
    /// Seconds in `Retry-After` (0 is valid and sent as `Retry-After: 0`).
    pub retry_after: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerError {
    #[serde(flatten)]
    pub trigger: Trigger,
    /// 500, 502 or 503.
    pub status: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CloseMidBody {
    #[serde(flatten)]
    pub trigger: Trigger,
    /// Bytes of the body sent before the connection is cut.
    pub after_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment404 {
    /// Every attachment's content 404s.
    pub all: bool,
    /// These attachment ids' content 404s (Jira ids, or Confluence ids with or without `att`).
    pub ids: Vec<String>,
}

/// Faults of one site. Only Atlassian routes are affected (never `/__sim/`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSpec {
    /// Only requests whose path contains this string are affected (all when absent).
    pub path_contains: Option<String>,
    pub rate_limit: Option<RateLimit>,
    pub error: Option<ServerError>,
    /// Added to every matching request.
    pub latency_ms: u64,
    pub close_mid_body: Option<CloseMidBody>,
    pub attachment_404: Attachment404,
}

#[derive(Default)]
struct Counter {
    burst_left: u64,
    seen: u64,
}

impl Counter {
    fn hit(&mut self, t: &Trigger) -> bool {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return true;
        }
        self.seen += 1;
        t.every > 0 && self.seen.is_multiple_of(t.every)
    }
}

#[derive(Default)]
pub struct FaultState {
    pub spec: FaultSpec,
    rate: Counter,
    error: Counter,
    cut: Counter,
}

/// What to do to one request.
#[derive(Debug, Default)]
pub struct Decision {
    pub latency_ms: u64,
    pub rate_limit: Option<u64>,
    pub error: Option<u16>,
    pub cut_after: Option<u64>,
}

impl FaultState {
    pub fn set(&mut self, spec: FaultSpec) {
        self.rate = Counter {
            burst_left: spec.rate_limit.as_ref().map_or(0, |r| r.trigger.burst),
            seen: 0,
        };
        self.error = Counter {
            burst_left: spec.error.as_ref().map_or(0, |r| r.trigger.burst),
            seen: 0,
        };
        self.cut = Counter {
            burst_left: spec.close_mid_body.as_ref().map_or(0, |r| r.trigger.burst),
            seen: 0,
        };
        self.spec = spec;
    }

    pub fn decide(&mut self, path: &str) -> Decision {
        let mut d = Decision::default();
        if self
            .spec
            .path_contains
            .as_ref()
            .is_some_and(|p| !path.contains(p.as_str()))
        {
            return d;
        }
        d.latency_ms = self.spec.latency_ms;
        if let Some(r) = &self.spec.rate_limit
            && self.rate.hit(&r.trigger)
        {
            d.rate_limit = Some(r.retry_after);
            return d;
        }
        if let Some(e) = &self.spec.error
            && self.error.hit(&e.trigger)
        {
            d.error = Some(e.status);
            return d;
        }
        if let Some(c) = &self.spec.close_mid_body
            && self.cut.hit(&c.trigger)
        {
            d.cut_after = Some(c.after_bytes);
        }
        d
    }

    pub fn attachment_missing(&self, id: &str) -> bool {
        let id = id.trim_start_matches("att");
        self.spec.attachment_404.all
            || self
                .spec
                .attachment_404
                .ids
                .iter()
                .any(|x| x.trim_start_matches("att") == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_every() {
        let mut s = FaultState::default();
        s.set(FaultSpec {
            rate_limit: Some(RateLimit {
                trigger: Trigger { burst: 2, every: 3 },
                retry_after: 0,
            }),
            ..Default::default()
        });
        let hits: Vec<bool> = (0..8)
            .map(|_| s.decide("/x").rate_limit.is_some())
            .collect();
        assert_eq!(hits, [true, true, false, false, true, false, false, true]);
    }
}
