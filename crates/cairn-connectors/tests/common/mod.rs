#![allow(dead_code)]

use std::time::Duration;

use cairn_connectors::{Credentials, Settings, Site};
use cairn_sitesim::{Access, Counts, Scale, Sim, SimConfig, SimHandle, SiteSpec};

/// Settings that keep retries quick in tests (the policy is the same, the waits are short).
pub fn quick() -> Settings {
    Settings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
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
