//! cairn-connectors: typed clients of Jira Cloud (REST v3 and the agile API) and Confluence Cloud
//! (REST v2, v1 only where v2 lacks the operation), for reading a site into a backup and writing
//! a backup back into a site. Documents are raw JSON with Atlassian's own field names; attachment
//! bytes are streams. Every request goes through one transport (see `transport.rs`) that owns
//! authentication, the `User-Agent`, the pacing of the site's rate-limit budgets (`pacer.rs`),
//! 429 handling and retries.
//!
//! ```no_run
//! # async fn f() -> Result<(), cairn_connectors::Error> {
//! use cairn_connectors::{Credentials, Settings, Site};
//! use futures::TryStreamExt;
//! let site = Site::new("https://example.atlassian.net", Credentials::new("me@example.com", "token"), Settings::default())?;
//! let mut issues = site.jira().issues(&cairn_connectors::jira::jql_for(&["PLAT"], None));
//! while let Some(issue) = issues.try_next().await? { /* into the vault */ }
//! # Ok(()) }
//! ```

pub mod confluence;
pub mod error;
pub mod jira;
mod order;
pub mod outbound;
mod pacer;
mod paging;
mod probe;
mod stats;
mod transport;

use std::sync::Arc;

pub use confluence::{Confluence, ContentKind, CreatedSpace};
pub use error::{Error, ErrorKind, Result};
pub use jira::{CreatedIssue, CreatedProject, IssueDetails, Jira, Watching};
pub use order::parents_first;
pub use outbound::{Allow, Outbound, Refused};
pub use paging::Docs;
pub use probe::{ProbeReport, Product, probe, probe_with};
pub use stats::{LimitedBy, SiteTraffic, Stats, site_traffic};
pub use transport::{ByteStream, Credentials, Download, Settings, USER_AGENT, Upload};

/// One Atlassian site (`https://NAME.atlassian.net`): its Jira and its Confluence share one
/// transport, so the concurrency bound and the rate-limit handling are per site. Clone it
/// rather than making a second one for the same site.
#[derive(Clone, Debug)]
pub struct Site {
    t: Arc<transport::Transport>,
}

impl Site {
    pub fn new(site_url: &str, credentials: Credentials, settings: Settings) -> Result<Site> {
        Ok(Site {
            t: Arc::new(transport::Transport::new(site_url, &credentials, settings)?),
        })
    }
    pub fn jira(&self) -> Jira {
        Jira { t: self.t.clone() }
    }
    pub fn confluence(&self) -> Confluence {
        Confluence { t: self.t.clone() }
    }
    /// The site's base URL as used (no trailing slash).
    pub fn base_url(&self) -> &str {
        self.t.base()
    }
    /// `/_edge/tenant_info`: the site's cloudId (no authentication needed).
    pub async fn cloud_id(&self) -> Result<String> {
        let v = self
            .t
            .json(transport::Req::get("/_edge/tenant_info"))
            .await?;
        v["cloudId"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Error::protocol("GET /_edge/tenant_info", "no cloudId"))
    }
    /// Requests, retries, 429s by reason and waiting so far, and the pacer's bound now.
    pub fn stats(&self) -> Stats {
        self.t.stats()
    }
}
