//! Sites (extension): registered with a URL and an account's email and API token, checked against
//! the site before they are saved.

use cairn_store::{Page, PageQuery, SiteRecord, StoreError};

use super::{Management, ProbeError, SEAL_SITE_TOKEN, actor_id, checked_name};
use crate::audit::actions;
use crate::identity::Actor;
use crate::{ControlError, ControlResult};

/// A registration request. `Debug` never shows the token.
#[derive(Clone)]
pub struct NewSite {
    pub cloud_url: String,
    pub email: String,
    pub api_token: String,
    pub cloud_name: Option<String>,
}

impl std::fmt::Debug for NewSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSite")
            .field("cloud_url", &self.cloud_url)
            .field("email", &self.email)
            .field("cloud_name", &self.cloud_name)
            .finish_non_exhaustive()
    }
}

/// How the engine reaches a site. `Debug` never shows the token.
#[derive(Clone)]
pub struct SiteAccess {
    pub cloud_id: String,
    pub url: String,
    pub email: String,
    pub api_token: String,
}

impl std::fmt::Debug for SiteAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteAccess")
            .field("cloud_id", &self.cloud_id)
            .field("url", &self.url)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// `https://acme.atlassian.net/` → `https://acme.atlassian.net`. Only a scheme, a host and an
/// optional port: a path, query or credentials in the URL are refused.
pub(crate) fn normalised_site_url(raw: &str) -> ControlResult<String> {
    let bad = |why: &str| ControlError::invalid_field("cloudUrl", why.to_string());
    let raw = raw.trim().trim_end_matches('/');
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// (or http:// for a local site)"))?;
    if rest.is_empty() {
        return Err(bad("must name a host"));
    }
    if rest.contains(['/', '?', '#', '@', ' ', '\\']) {
        return Err(bad(
            "must be only the site's address, e.g. https://acme.atlassian.net",
        ));
    }
    Ok(raw.to_string())
}

/// What the caller is told: nothing of what the address answered (see [`ProbeError`]).
fn probe_error(err: &ProbeError) -> ControlError {
    match err {
        ProbeError::Unauthorized => ControlError::invalid_field(
            "apiToken",
            "the site refused this email and API token; check both and that the account may read the site",
        ),
        ProbeError::Refused(why) => ControlError::invalid_field(
            "cloudUrl",
            format!("Cairn does not connect to this address: {why}"),
        ),
        ProbeError::Unreachable(_) | ProbeError::NotASite(_) => ControlError::invalid_field(
            "cloudUrl",
            "the site did not answer as a Jira or Confluence Cloud site: check the URL \
             (https://YOUR-SITE.atlassian.net)",
        ),
    }
}

impl Management {
    pub async fn register_site(
        &self,
        org_id: &str,
        actor: &Actor,
        new: NewSite,
    ) -> ControlResult<SiteRecord> {
        let url = normalised_site_url(&new.cloud_url)?;
        let email = new.email.trim().to_string();
        if email.is_empty() || !email.contains('@') {
            return Err(ControlError::invalid_field(
                "email",
                "must be an email address",
            ));
        }
        let token = new.api_token.trim();
        if token.is_empty() {
            return Err(ControlError::invalid_field("apiToken", "must not be empty"));
        }
        let cloud_name = new
            .cloud_name
            .as_deref()
            .map(|n| checked_name("cloudName", n))
            .transpose()?;
        let facts = match self.site_probe.probe(&url, &email, token).await {
            Ok(facts) => facts,
            Err(err) => {
                tracing::warn!(org_id, cloud_url = %url, error = %err, "site registration refused: the probe failed");
                self.record(
                    org_id,
                    actor,
                    actions::SITE_REGISTER_FAILED,
                    format!("site-url:{url}"),
                    Some(serde_json::json!({ "cloudUrl": url, "outcome": err.outcome() })),
                )
                .await?;
                return Err(probe_error(&err));
            }
        };
        // `acme` for https://acme.atlassian.net, the whole host (and port) otherwise.
        let host = url.split("://").nth(1).unwrap_or(&url);
        let default_name = host
            .strip_suffix(".atlassian.net")
            .unwrap_or(host)
            .to_string();
        let site = SiteRecord {
            org_id: org_id.to_string(),
            cloud_id: facts.cloud_id,
            cloud_url: url.clone(),
            cloud_name: cloud_name.or(facts.cloud_name).unwrap_or(default_name),
            encryption_type: "ATLASSIAN_MANAGED".into(),
            products: facts.products,
            account_email: email,
            sealed_token: self.seal(SEAL_SITE_TOKEN, token)?,
            created_at: self.clock.now(),
            created_by: Some(actor_id(actor)),
        };
        match self.store.insert_site(&site).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(ControlError::Conflict(format!(
                    "The site {} (cloudId {}) is already registered in this organization.",
                    site.cloud_url, site.cloud_id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.record(
            org_id,
            actor,
            actions::SITE_REGISTER,
            format!("site:{}", site.cloud_id),
            Some(serde_json::json!({ "cloudUrl": url })),
        )
        .await?;
        Ok(site)
    }

    pub async fn list_sites(
        &self,
        org_id: &str,
        page: PageQuery,
    ) -> ControlResult<Page<SiteRecord>> {
        Ok(self.store.list_sites(org_id, page).await?)
    }

    pub async fn get_site(&self, org_id: &str, cloud_id: &str) -> ControlResult<SiteRecord> {
        self.store.get_site(org_id, cloud_id).await?.ok_or_else(|| {
            ControlError::NotFound(
                "No site with this cloudId is registered in this organization.".into(),
            )
        })
    }

    pub async fn remove_site(
        &self,
        org_id: &str,
        actor: &Actor,
        cloud_id: &str,
    ) -> ControlResult<()> {
        match self.store.delete_site(org_id, cloud_id).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(ControlError::NotFound(
                    "No site with this cloudId is registered in this organization.".into(),
                ));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(ControlError::Conflict(
                    "A policy uses this site; delete its policies before removing the site.".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.record(
            org_id,
            actor,
            actions::SITE_REMOVE,
            format!("site:{cloud_id}"),
            None,
        )
        .await
    }

    /// The site's address and credential, for the engine. The token is opened here and nowhere
    /// else.
    pub async fn site_access(
        &self,
        org_id: &str,
        cloud_id: &str,
    ) -> ControlResult<super::sites::SiteAccess> {
        let site = self.get_site(org_id, cloud_id).await?;
        Ok(SiteAccess {
            api_token: self.open(SEAL_SITE_TOKEN, &site.sealed_token)?,
            cloud_id: site.cloud_id,
            url: site.cloud_url,
            email: site.account_email,
        })
    }

    /// Asks the site now (not the registration-time record) whether a product is empty.
    pub(crate) async fn product_is_empty_now(
        &self,
        access: &SiteAccess,
        product: cairn_store::Product,
    ) -> ControlResult<bool> {
        let facts = self
            .site_probe
            .probe(&access.url, &access.email, &access.api_token)
            .await
            .map_err(|e| {
                tracing::warn!(cloud_id = %access.cloud_id, error = %e, "the destination site could not be probed");
                ControlError::Conflict(
                    "The destination site cannot be checked now; try again later.".into(),
                )
            })?;
        Ok(facts
            .products
            .iter()
            .find(|p| p.product == product)
            .map(|p| p.is_empty)
            .unwrap_or(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_urls_are_normalised_or_refused() {
        assert_eq!(
            normalised_site_url(" https://acme.atlassian.net/ ").unwrap(),
            "https://acme.atlassian.net"
        );
        assert_eq!(
            normalised_site_url("http://127.0.0.1:8081").unwrap(),
            "http://127.0.0.1:8081"
        );
        for bad in [
            "acme.atlassian.net",
            "ftp://acme",
            "https://",
            "https://acme.atlassian.net/wiki",
            "https://user:pw@acme.atlassian.net",
            "https://acme.atlassian.net?x=1",
        ] {
            assert!(normalised_site_url(bad).is_err(), "{bad}");
        }
    }
}
