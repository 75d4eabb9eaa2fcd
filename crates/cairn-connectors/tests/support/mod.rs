#![allow(dead_code)]

use std::time::Duration;

use cairn_connectors::{Credentials, Outbound, Settings, Site};
use cairn_sitesim::faults::{RateLimit, ServerError, Trigger};
use cairn_sitesim::{Access, Counts, FaultSpec, Scale, Sim, SimConfig, SimHandle, SiteSpec};

/// Settings that keep retries quick in tests (the policy is the same, the waits are short),
/// allowed to reach the stand-ins on loopback.
pub fn quick() -> Settings {
    Settings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        outbound: Outbound::loopback(),
        ..Settings::default()
    }
}

pub async fn start(sites: Vec<SiteSpec>) -> SimHandle {
    start_with(Scale::Small.counts(), sites).await
}

pub async fn start_with(counts: Counts, sites: Vec<SiteSpec>) -> SimHandle {
    Sim::start(SimConfig {
        seed: 11,
        counts: Some(counts),
        sites,
        ..Default::default()
    })
    .await
    .expect("start the stand-in")
}

pub fn site(sim: &SimHandle, name: &str, settings: Settings) -> Site {
    let a = sim.account(Access::ReadWrite);
    Site::new(
        &sim.base_url(name),
        Credentials::new(&a.email, &a.api_token),
        settings,
    )
    .unwrap()
}

/// `(status)` of every logged request whose route is `route`.
pub fn statuses(sim: &SimHandle, site: &str, route: &str) -> Vec<u16> {
    sim.request_log(site)
        .into_iter()
        .filter(|e| e.route == route)
        .map(|e| e.status)
        .collect()
}

/// JQL of every issue of the site (its projects, in key order).
pub fn jql_all(sim: &SimHandle, site: &str) -> String {
    let keys: Vec<String> = sim.with_site(site, |s| {
        s.projects.values().map(|p| p.key.clone()).collect()
    });
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    cairn_connectors::jira::jql_for(&refs, None)
}

/// `(id, size)` of the site's largest Jira attachment.
pub fn largest_attachment(sim: &SimHandle, site: &str) -> (String, u64) {
    sim.with_site(site, |s| {
        let a = s
            .attachments
            .values()
            .max_by_key(|a| a.blob.size())
            .unwrap();
        (a.id.to_string(), a.blob.size())
    })
}

/// Faults on the requests whose path contains `path`.
pub fn faults_on(path: &str) -> FaultSpec {
    FaultSpec {
        path_contains: Some(path.into()),
        ..Default::default()
    }
}

/// A download's bytes, gathered.
pub async fn bytes_of(d: cairn_connectors::Download) -> Vec<u8> {
    use futures::TryStreamExt;
    d.stream
        .try_collect::<Vec<bytes::Bytes>>()
        .await
        .unwrap()
        .concat()
}

pub fn server_errors(burst: u64, every: u64, status: u16) -> Option<ServerError> {
    Some(ServerError {
        trigger: Trigger { burst, every },
        status,
    })
}

pub fn rate_limits(burst: u64, every: u64, retry_after: u64) -> Option<RateLimit> {
    Some(RateLimit {
        trigger: Trigger { burst, every },
        retry_after,
    })
}
