//! The probes the domain uses before it saves a site or a storage: they talk to the outside
//! world, so they live here in the binary and are handed to `Management`.

use std::time::Duration;

use async_trait::async_trait;
use cairn_control::management::{ProbeError, S3Target, SiteFacts, SiteProbe, StorageProbe};
use cairn_store::{Product, SiteProduct};
use cairn_vault::{Backend, Location, S3Config};
use serde::Deserialize;

const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads a site's `cloudId` and checks the credential with Jira's `myself` and Confluence's
/// spaces list, as site registration requires.
pub struct HttpSiteProbe {
    client: reqwest::Client,
}

impl HttpSiteProbe {
    pub fn new() -> anyhow::Result<Self> {
        Ok(HttpSiteProbe {
            client: reqwest::Client::builder()
                .user_agent(concat!("Cairn/", env!("CARGO_PKG_VERSION")))
                .timeout(PROBE_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    async fn get(
        &self,
        url: String,
        email: &str,
        token: &str,
    ) -> Result<reqwest::Response, ProbeError> {
        self.client
            .get(url)
            .basic_auth(email, Some(token))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| ProbeError::Unreachable(without_url(&e)))
    }
}

/// reqwest's messages include the URL, which is harmless here but noisy; keep the cause.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within 15 seconds".into()
    } else if e.is_connect() {
        "the connection was refused or failed".into()
    } else {
        "the request failed".into()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantInfo {
    cloud_id: String,
}

#[derive(Deserialize)]
struct ProjectPage {
    #[serde(default)]
    total: u64,
}

#[derive(Deserialize)]
struct SpacePage {
    #[serde(default)]
    results: Vec<serde_json::Value>,
}

/// What one product's check found.
enum ProductCheck {
    Absent,
    Present { empty: bool },
}

impl HttpSiteProbe {
    async fn check_jira(
        &self,
        base: &str,
        email: &str,
        token: &str,
    ) -> Result<ProductCheck, ProbeError> {
        let me = self
            .get(format!("{base}/rest/api/3/myself"), email, token)
            .await?;
        match me.status().as_u16() {
            200 => {}
            401 | 403 => return Err(ProbeError::Unauthorized),
            404 => return Ok(ProductCheck::Absent),
            s => {
                return Err(ProbeError::NotASite(format!(
                    "Jira answered {s} to /rest/api/3/myself"
                )));
            }
        }
        let page = self
            .get(
                format!("{base}/rest/api/3/project/search?maxResults=1"),
                email,
                token,
            )
            .await?;
        if !page.status().is_success() {
            return Err(ProbeError::NotASite(format!(
                "Jira answered {} to the project search",
                page.status().as_u16()
            )));
        }
        let page: ProjectPage = page
            .json()
            .await
            .map_err(|_| ProbeError::NotASite("Jira's project search was not JSON".into()))?;
        Ok(ProductCheck::Present {
            empty: page.total == 0,
        })
    }

    async fn check_confluence(
        &self,
        base: &str,
        email: &str,
        token: &str,
    ) -> Result<ProductCheck, ProbeError> {
        let spaces = self
            .get(format!("{base}/wiki/api/v2/spaces?limit=1"), email, token)
            .await?;
        match spaces.status().as_u16() {
            200 => {}
            401 | 403 => return Err(ProbeError::Unauthorized),
            404 => return Ok(ProductCheck::Absent),
            s => {
                return Err(ProbeError::NotASite(format!(
                    "Confluence answered {s} to the spaces list"
                )));
            }
        }
        let page: SpacePage = spaces
            .json()
            .await
            .map_err(|_| ProbeError::NotASite("Confluence's spaces list was not JSON".into()))?;
        Ok(ProductCheck::Present {
            empty: page.results.is_empty(),
        })
    }
}

#[async_trait]
impl SiteProbe for HttpSiteProbe {
    async fn probe(&self, base: &str, email: &str, token: &str) -> Result<SiteFacts, ProbeError> {
        let tenant = self
            .client
            .get(format!("{base}/_edge/tenant_info"))
            .send()
            .await
            .map_err(|e| ProbeError::Unreachable(without_url(&e)))?;
        if !tenant.status().is_success() {
            return Err(ProbeError::NotASite(format!(
                "/_edge/tenant_info answered {}",
                tenant.status().as_u16()
            )));
        }
        let tenant: TenantInfo = tenant.json().await.map_err(|_| {
            ProbeError::NotASite("/_edge/tenant_info did not give a cloudId".into())
        })?;
        let mut products = Vec::new();
        for (product, check) in [
            (Product::Jira, self.check_jira(base, email, token).await?),
            (
                Product::Confluence,
                self.check_confluence(base, email, token).await?,
            ),
        ] {
            if let ProductCheck::Present { empty } = check {
                products.push(SiteProduct {
                    product,
                    is_empty: empty,
                });
            }
        }
        if products.is_empty() {
            return Err(ProbeError::NotASite(
                "it serves neither Jira nor Confluence".into(),
            ));
        }
        Ok(SiteFacts {
            cloud_id: tenant.cloud_id,
            cloud_name: None,
            products,
        })
    }
}

/// Writes, reads back and deletes a probe object in an S3-compatible store.
pub struct VaultStorageProbe;

#[async_trait]
impl StorageProbe for VaultStorageProbe {
    async fn probe(&self, target: &S3Target) -> Result<(), String> {
        let config = s3_config(target);
        let backend = Backend::open(&Location::S3(config)).map_err(|e| e.to_string())?;
        let name = format!("cairn-probe-{}", uuid_like());
        let body = bytes::Bytes::from_static(b"cairn storage probe");
        let work = async {
            backend
                .put(&name, body.clone())
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            let read = backend
                .get(&name)
                .await
                .map_err(|e| format!("read failed: {e}"))?;
            if read.as_deref() != Some(&body[..]) {
                return Err("the object read back differs from the one written".to_string());
            }
            backend
                .delete(&name)
                .await
                .map_err(|e| format!("delete failed: {e}"))
        };
        tokio::time::timeout(PROBE_TIMEOUT, work)
            .await
            .map_err(|_| "no answer within 15 seconds".to_string())?
    }
}

/// The vault's S3 settings for a storage; plain HTTP only when the endpoint says so.
pub fn s3_config(target: &S3Target) -> S3Config {
    S3Config {
        endpoint: target.endpoint.clone(),
        region: target.region.clone(),
        bucket: target.bucket.clone(),
        prefix: target.prefix.clone().unwrap_or_default(),
        access_key_id: target.access_key_id.clone(),
        secret_access_key: target.secret_access_key.clone(),
        allow_http: target
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://")),
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{}", std::process::id())
}
