//! cairn-sitesim: a faithful local stand-in for Jira Cloud and Confluence Cloud.
//!
//! Start one or more sites with [`Sim::start`]; each listens on its own loopback port and serves
//! Jira under `/rest/...` and Confluence under `/wiki/...`, answers `/_edge/tenant_info`, and has
//! a sim-only control path under `/__sim/` (faults, rate limits, request log, counters, digest,
//! diff, mutate).
//! See README.md in this crate for what is served and what the digest ignores.

// Handlers return `Result<Response, Response>`: the error side is an HTTP answer, not a Rust error.
#![allow(clippy::result_large_err)]

pub mod adf;
pub mod confluence;
pub mod content;
pub mod digest;
mod error;
pub mod faults;
pub mod generate;
pub mod http;
pub mod jira;
pub mod jql;
pub mod model;
pub mod mutate;
pub mod permission;
pub mod routes;
pub mod schemes;
mod server;
mod storage;
pub mod throttle;
pub mod upload;
pub mod workflows;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

pub use digest::Difference;
pub use error::SimError;
pub use faults::FaultSpec;
pub use generate::{Counts, Scale};
pub use model::Site;
pub use mutate::MutationReport;
pub use throttle::{ThrottleSpec, ThrottleStats};

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A Basic-auth account (`email:apiToken`), valid on every site of the simulation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub email: String,
    #[serde(alias = "api_token")]
    pub api_token: String,
    pub access: Access,
}

impl Account {
    /// The accountId this account has in every site's directory.
    pub fn account_id(&self) -> String {
        format!("712020:{}", model::uuid_like(&self.email))
    }

    /// Accounts from a TOML file: `[[account]]` tables with `email`, `api_token`, `access`
    /// (`"read-only"` or `"read-write"`).
    pub fn load_toml(text: &str) -> Result<Vec<Account>, SimError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(alias = "accounts")]
            account: Vec<Account>,
        }
        let f: File = toml::from_str(text)?;
        Ok(f.account)
    }

    /// Two generated accounts: `admin@example.com` (read-write) and `reader@example.com`
    /// (read-only), with tokens derived from the seed.
    pub fn generated(seed: u64) -> Vec<Account> {
        let tok = |e: &str| {
            let h = blake3::hash(format!("{seed}:{e}").as_bytes()).to_hex();
            format!("ATATT3xSim{}", &h[..40])
        };
        vec![
            Account {
                email: "admin@example.com".into(),
                api_token: tok("admin"),
                access: Access::ReadWrite,
            },
            Account {
                email: "reader@example.com".into(),
                api_token: tok("reader"),
                access: Access::ReadOnly,
            },
        ]
    }
}

/// One site to serve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSpec {
    pub name: String,
    /// An empty site has the directory (users, groups, issue types, statuses, fields...) but no
    /// projects, issues, boards, spaces or pages: a restore destination.
    pub empty: bool,
}

impl SiteSpec {
    pub fn new(name: &str) -> Self {
        SiteSpec {
            name: name.into(),
            empty: false,
        }
    }
    pub fn empty(name: &str) -> Self {
        SiteSpec {
            name: name.into(),
            empty: true,
        }
    }
    /// Parse `source,target:empty`.
    pub fn parse_list(s: &str) -> Vec<SiteSpec> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| match x.split_once(':') {
                Some((n, "empty")) => SiteSpec::empty(n),
                Some((n, _)) => SiteSpec::new(n),
                None => SiteSpec::new(x),
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub scale: Scale,
    /// Explicit counts; override `scale` when set.
    pub counts: Option<Counts>,
    pub sites: Vec<SiteSpec>,
    /// Empty: [`Account::generated`].
    pub accounts: Vec<Account>,
    /// Port 0 gives each site its own free port; otherwise sites get port, port+1, ...
    pub listen: SocketAddr,
    /// Faults active from the start, on every site.
    pub faults: FaultSpec,
    /// Rate limits and latency from the start, on every site (each site has its own budgets).
    pub throttle: ThrottleSpec,
    /// Largest upload body accepted (413 beyond), reported by `attachment/meta`.
    pub upload_limit: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            scale: Scale::Small,
            counts: None,
            sites: vec![SiteSpec::new("source")],
            accounts: vec![],
            listen: "127.0.0.1:0".parse().unwrap(),
            faults: FaultSpec::default(),
            throttle: ThrottleSpec::default(),
            upload_limit: upload::UPLOAD_LIMIT,
        }
    }
}

/// One entry of the request log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// `METHOD /template` of the matched route, or empty.
    pub route: String,
    pub status: u16,
    pub account: Option<String>,
    /// The fault injected into this request, if any.
    pub fault: Option<String>,
    pub micros: u64,
}

/// Public facts about a running site.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteInfo {
    pub name: String,
    pub base_url: String,
    pub cloud_id: String,
    pub empty: bool,
}

pub(crate) struct SiteCell {
    pub info: SiteInfo,
    pub data: RwLock<Site>,
    pub faults: Mutex<faults::FaultState>,
    pub throttle: Mutex<throttle::SiteThrottle>,
    pub log: Mutex<Vec<LogEntry>>,
    pub counters: Mutex<BTreeMap<String, u64>>,
    pub seq: std::sync::atomic::AtomicU64,
    pub accounts: Arc<Vec<Account>>,
    pub siblings: RwLock<Vec<std::sync::Weak<SiteCell>>>,
    /// Uploaded attachment bodies, one file per upload; removed with the site.
    pub uploads: tempfile::TempDir,
}

const LOG_CAP: usize = 200_000;

impl SiteCell {
    /// The site, for writing. Every change goes through here, which drops cached search results.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Site> {
        let site = self.data.write().unwrap();
        site.search_cache.clear();
        site
    }
    pub fn record(&self, mut e: LogEntry) {
        e.seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !e.route.is_empty() {
            *self
                .counters
                .lock()
                .unwrap()
                .entry(e.route.clone())
                .or_default() += 1;
        }
        let mut log = self.log.lock().unwrap();
        if log.len() >= LOG_CAP {
            log.drain(..LOG_CAP / 10);
        }
        log.push(e);
    }
    pub fn sibling(&self, name: &str) -> Option<Arc<SiteCell>> {
        self.siblings
            .read()
            .unwrap()
            .iter()
            .filter_map(|w| w.upgrade())
            .find(|c| c.info.name == name)
    }
}

/// Starts simulations.
pub struct Sim;

impl Sim {
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        server::start(config).await
    }
}

/// A running simulation. Dropping it does not stop the servers; call [`SimHandle::shutdown`].
pub struct SimHandle {
    pub(crate) cells: Vec<Arc<SiteCell>>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    fn cell(&self, site: &str) -> &Arc<SiteCell> {
        self.cells
            .iter()
            .find(|c| c.info.name == site)
            .unwrap_or_else(|| panic!("no site named {site:?}"))
    }
    pub fn sites(&self) -> Vec<SiteInfo> {
        self.cells.iter().map(|c| c.info.clone()).collect()
    }
    pub fn base_url(&self, site: &str) -> String {
        self.cell(site).info.base_url.clone()
    }
    pub fn cloud_id(&self, site: &str) -> String {
        self.cell(site).info.cloud_id.clone()
    }
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }
    /// The first account with the given access.
    pub fn account(&self, access: Access) -> &Account {
        self.accounts
            .iter()
            .find(|a| a.access == access)
            .expect("no account with that access")
    }
    /// The JSON line `cairn sim --json` prints.
    pub fn ready_json(&self) -> serde_json::Value {
        serde_json::json!({"sites": self.sites(), "accounts": self.accounts})
    }
    /// Read the site's data directly (tests).
    pub fn with_site<T>(&self, site: &str, f: impl FnOnce(&Site) -> T) -> T {
        f(&self.cell(site).data.read().unwrap())
    }
    /// Change the site's data directly (tests).
    pub fn with_site_mut<T>(&self, site: &str, f: impl FnOnce(&mut Site) -> T) -> T {
        f(&mut self.cell(site).write())
    }
    /// Canonical content of the site (what the digest hashes).
    pub fn content(&self, site: &str) -> serde_json::Value {
        digest::canonical(&self.cell(site).data.read().unwrap())
    }
    pub fn digest(&self, site: &str) -> String {
        digest::digest(&self.content(site))
    }
    pub fn diff(&self, a: &str, b: &str) -> Vec<Difference> {
        self.diff_ignoring(a, b, &digest::Ignore::default())
    }
    /// [`SimHandle::diff`] without what `ignore` names.
    pub fn diff_ignoring(&self, a: &str, b: &str, ignore: &digest::Ignore) -> Vec<Difference> {
        digest::compare(self.content(a), self.content(b), ignore)
    }
    /// Change, add and delete about `percent`% of the site's content, stamping `updated` now.
    pub fn mutate(&self, site: &str, percent: f64) -> MutationReport {
        mutate::mutate(&mut self.cell(site).write(), percent)
    }
    pub fn set_faults(&self, site: &str, spec: FaultSpec) {
        self.cell(site).faults.lock().unwrap().set(spec);
    }
    pub fn set_faults_all(&self, spec: FaultSpec) {
        for c in &self.cells {
            c.faults.lock().unwrap().set(spec.clone());
        }
    }
    /// Set the site's rate limits and latency; budgets and counters start again.
    pub fn set_throttle(&self, site: &str, spec: ThrottleSpec) {
        *self.cell(site).throttle.lock().unwrap() = throttle::SiteThrottle::new(spec);
    }
    /// 429s by reason and requests by endpoint since the throttle was set or the counters reset.
    pub fn throttle_stats(&self, site: &str) -> ThrottleStats {
        self.cell(site).throttle.lock().unwrap().stats()
    }
    pub fn reset_throttle_stats(&self, site: &str) {
        self.cell(site).throttle.lock().unwrap().reset_stats();
    }
    pub fn clear_faults(&self, site: &str) {
        self.set_faults(site, FaultSpec::default());
    }
    pub fn request_log(&self, site: &str) -> Vec<LogEntry> {
        self.cell(site).log.lock().unwrap().clone()
    }
    pub fn clear_log(&self, site: &str) {
        self.cell(site).log.lock().unwrap().clear();
        self.cell(site).counters.lock().unwrap().clear();
    }
    /// The directory where the site keeps uploaded bodies (one file per upload).
    pub fn upload_dir(&self, site: &str) -> std::path::PathBuf {
        self.cell(site).uploads.path().to_path_buf()
    }
    /// Requests by route (`METHOD /template`).
    pub fn counters(&self, site: &str) -> BTreeMap<String, u64> {
        self.cell(site).counters.lock().unwrap().clone()
    }
    /// Stop every site's server and wait for it (open connections finish their request).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // axum's connection tasks may drop their clone of a site a moment after the server's
        // task ends; wait (bounded) so that the site, and its upload directory, go now.
        for _ in 0..500 {
            if self.cells.iter().all(|c| Arc::strong_count(c) == 1) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_from_toml_and_site_lists() {
        let a = Account::load_toml(
            "[[account]]\nemail = \"a@x.io\"\napi_token = \"t1\"\naccess = \"read-write\"\n\n[[account]]\nemail = \"b@x.io\"\napi_token = \"t2\"\naccess = \"read-only\"\n",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].access, Access::ReadOnly);
        assert!(
            Account::load_toml(
                "[[account]]\nemail = \"a\"\napi_token = \"t\"\naccess = \"admin\"\n"
            )
            .is_err()
        );
        assert_eq!(
            SiteSpec::parse_list("source, target:empty"),
            vec![SiteSpec::new("source"), SiteSpec::empty("target")]
        );
        assert_ne!(
            Account::generated(1)[0].api_token,
            Account::generated(2)[0].api_token
        );
        assert_eq!(Account::generated(1), Account::generated(1));
    }
}
