//! What site registration asks of a site: its cloudId, that the credentials work, which
//! products it has, and whether each is empty (a restore into Jira needs an empty Jira).

use serde::Serialize;

use crate::error::{Error, Result};
use crate::transport::Req;
use crate::{Credentials, Settings, Site};

/// One product of a probed site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Jira: no project. Confluence: no space (personal ones included).
    pub empty: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// The site's base URL as used.
    pub site_url: String,
    pub cloud_id: String,
    /// The account the credentials belong to (Jira `myself`).
    pub account_id: Option<String>,
    pub display_name: Option<String>,
    /// `None` when the site has no Jira.
    pub jira: Option<Product>,
    /// `None` when the site has no Confluence.
    pub confluence: Option<Product>,
}

/// Probes a site with default settings (public addresses only). An address that does not give
/// a cloudId is `Err` before any credential is sent; wrong credentials give `Err` of kind `Auth`;
/// a product the site does not have is `None`.
pub async fn probe(site_url: &str, email: &str, api_token: &str) -> Result<ProbeReport> {
    let settings = Settings {
        max_retries: 2,
        max_rate_limited: 3,
        ..Settings::default()
    };
    probe_with(site_url, Credentials::new(email, api_token), settings).await
}

/// A product is absent when its API is not there (404, or something that is not its JSON).
fn absent(e: &Error) -> bool {
    matches!(
        e,
        Error::Permanent { status: 404, .. } | Error::Protocol { .. }
    )
}

pub async fn probe_with(
    site_url: &str,
    credentials: Credentials,
    settings: Settings,
) -> Result<ProbeReport> {
    let site = Site::new(site_url, credentials, settings)?;
    // First the cloudId, which Atlassian gives anyone: an address that is not an Atlassian site
    // stops here, whatever it is, so its answer to the credential never tells services apart.
    let cloud_id = site.cloud_id().await.map_err(|e| match e {
        // Atlassian answers it to anyone: a 401/403 here is some other service.
        Error::Auth { call, .. } => Error::protocol(&call, "not an Atlassian Cloud site"),
        e => e,
    })?;
    let jira = site.jira();
    let (mut account_id, mut display_name) = (None, None);
    let jira_product = match jira.server_info().await {
        Ok(_) => {
            let me = jira.myself().await?;
            account_id = me["accountId"].as_str().map(String::from);
            display_name = me["displayName"].as_str().map(String::from);
            let page = site
                .t
                .json(Req::get("/rest/api/3/project/search").q("maxResults", 1))
                .await?;
            let none = page["values"].as_array().is_none_or(|v| v.is_empty());
            Some(Product { empty: none })
        }
        Err(e) if absent(&e) => None,
        Err(e) => return Err(e),
    };
    let confluence_product = match site
        .t
        .json(Req::get("/wiki/api/v2/spaces").q("limit", 1))
        .await
    {
        Ok(v) => Some(Product {
            empty: v["results"].as_array().is_none_or(|r| r.is_empty()),
        }),
        Err(e) if absent(&e) => None,
        Err(e) => return Err(e),
    };
    Ok(ProbeReport {
        site_url: site.base_url().to_string(),
        cloud_id,
        account_id,
        display_name,
        jira: jira_product,
        confluence: confluence_product,
    })
}
