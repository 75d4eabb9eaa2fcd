//! Prometheus metrics: requests by route and status, their latency, authentication failures,
//! and the traffic of this node to each Atlassian site (requests, 429s by reason, requests
//! waiting on a rate-limit budget), read at each scrape from a source the binary connects.

use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteLabels {
    site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteReasonLabels {
    site: String,
    reason: String,
}

/// One Atlassian site's traffic from this node, as the connectors count it (since the process
/// started; every backup and restore of the site adds to it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SiteTraffic {
    /// The site's base URL without its scheme.
    pub site: String,
    pub requests: u64,
    /// 429 answers by reason (`burst`, `issue-write`, `tenant-quota`, `unspecified`).
    pub rate_limited: Vec<(&'static str, u64)>,
    /// Requests waiting on a rate-limit budget now.
    pub waiting: u64,
    /// Time requests waited on budgets, in total.
    pub budget_waited_seconds: f64,
    /// The pacer's bound on requests in flight now.
    pub concurrency: u64,
}

/// Where the sites' traffic comes from (the binary reads the connectors' registry).
pub type SiteTrafficSource = Box<dyn Fn() -> Vec<SiteTraffic> + Send + Sync>;

struct SiteCollector(SiteTrafficSource);

impl std::fmt::Debug for SiteCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteCollector")
    }
}

impl Collector for SiteCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sites = (self.0)();
        let label = |t: &SiteTraffic| SiteLabels {
            site: t.site.clone(),
        };
        let requests: Vec<_> = sites.iter().map(|t| (label(t), t.requests)).collect();
        counters(
            &mut encoder,
            "site_requests",
            "HTTP requests sent to each Atlassian site (every attempt)",
            &requests,
        )?;
        let limited: Vec<_> = sites
            .iter()
            .flat_map(|t| {
                t.rate_limited.iter().map(|(reason, n)| {
                    let labels = SiteReasonLabels {
                        site: t.site.clone(),
                        reason: (*reason).to_string(),
                    };
                    (labels, *n)
                })
            })
            .collect();
        counters(
            &mut encoder,
            "site_rate_limited",
            "429 answers from each Atlassian site, by the budget its RateLimit-Reason names",
            &limited,
        )?;
        let waited: Vec<_> = sites
            .iter()
            .map(|t| (label(t), t.budget_waited_seconds))
            .collect();
        counters(
            &mut encoder,
            "site_budget_wait_seconds",
            "Time requests to each Atlassian site waited on its rate-limit budgets",
            &waited,
        )?;
        let waiting: Vec<_> = sites.iter().map(|t| (label(t), t.waiting)).collect();
        gauges(
            &mut encoder,
            "site_requests_waiting",
            "Requests to each Atlassian site waiting on a rate-limit budget now",
            &waiting,
        )?;
        let bound: Vec<_> = sites.iter().map(|t| (label(t), t.concurrency)).collect();
        gauges(
            &mut encoder,
            "site_concurrency",
            "The bound on requests in flight to each Atlassian site now (the pacer's)",
            &bound,
        )
    }
}

fn counters<L: EncodeLabelSet, N: prometheus_client::encoding::EncodeCounterValue + Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(L, N)],
) -> Result<(), std::fmt::Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (labels, n) in samples {
        ConstCounter::new(*n).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(L, u64)],
) -> Result<(), std::fmt::Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, n) in samples {
        ConstGauge::new(*n).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    auth_failures: Family<ReasonLabels, Counter>,
    rate_limited: Counter<u64, AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cairn");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let rate_limited = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route template",
            latency.clone(),
        );
        registry.register(
            "auth_failures",
            "Failed authentications, by cause",
            auth_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Authenticated requests refused by the per-account rate limit",
            rate_limited.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            auth_failures,
            rate_limited,
        }
    }
}

impl Metrics {
    /// Adds each site's traffic, read from `source` at every scrape.
    pub fn with_site_traffic(mut self, source: SiteTrafficSource) -> Metrics {
        self.registry
            .register_collector(Box::new(SiteCollector(source)));
        self
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sites_traffic_is_rendered_at_the_scrape() {
        let counter = std::sync::Arc::new(AtomicU64::new(7));
        let c = counter.clone();
        let metrics = Metrics::default().with_site_traffic(Box::new(move || {
            vec![SiteTraffic {
                site: "acme.atlassian.net".into(),
                requests: c.load(std::sync::atomic::Ordering::Relaxed),
                rate_limited: vec![("burst", 2), ("unspecified", 0)],
                waiting: 3,
                budget_waited_seconds: 1.5,
                concurrency: 6,
            }]
        }));
        let text = metrics.render();
        for line in [
            "# TYPE cairn_site_requests counter",
            "cairn_site_requests_total{site=\"acme.atlassian.net\"} 7",
            "cairn_site_rate_limited_total{site=\"acme.atlassian.net\",reason=\"burst\"} 2",
            "cairn_site_rate_limited_total{site=\"acme.atlassian.net\",reason=\"unspecified\"} 0",
            "cairn_site_budget_wait_seconds_total{site=\"acme.atlassian.net\"} 1.5",
            "# TYPE cairn_site_requests_waiting gauge",
            "cairn_site_requests_waiting{site=\"acme.atlassian.net\"} 3",
            "cairn_site_concurrency{site=\"acme.atlassian.net\"} 6",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        counter.store(9, std::sync::atomic::Ordering::Relaxed);
        assert!(
            metrics
                .render()
                .contains("cairn_site_requests_total{site=\"acme.atlassian.net\"} 9"),
            "read again at each scrape"
        );
        // No site yet: no family at all.
        let empty = Metrics::default()
            .with_site_traffic(Box::new(Vec::new))
            .render();
        assert!(!empty.contains("cairn_site_"), "{empty}");
    }
}
