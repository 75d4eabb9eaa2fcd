//! The probes the domain uses before it saves a site or a storage: they talk to the outside
//! world, so they live here in the binary and are handed to `Management`. The site probe is the
//! connectors' (`cairn_connectors::probe`); the storage probe goes through the vault's backend.

use std::time::Duration;

use async_trait::async_trait;
use cairn_connectors::outbound::refused_in;
use cairn_connectors::{Credentials, ErrorKind, Outbound};
use cairn_control::management::{ProbeError, S3Target, SiteFacts, SiteProbe, StorageProbe};
use cairn_store::{Product, SiteProduct};
use cairn_vault::{Backend, Location};

const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads a site's `cloudId` and checks the credential with Jira's `myself` and Confluence's
/// spaces list, as site registration requires, through the outbound guard of `outbound`.
pub struct ConnectorSiteProbe {
    pub outbound: Outbound,
}

#[async_trait]
impl SiteProbe for ConnectorSiteProbe {
    async fn probe(&self, base: &str, email: &str, token: &str) -> Result<SiteFacts, ProbeError> {
        let settings = cairn_connectors::Settings {
            max_retries: 2,
            max_rate_limited: 3,
            outbound: self.outbound.clone(),
            ..Default::default()
        };
        let report = tokio::time::timeout(
            PROBE_TIMEOUT * 4,
            cairn_connectors::probe_with(base, Credentials::new(email, token), settings),
        )
        .await
        .map_err(|_| ProbeError::Unreachable("no answer within a minute".into()))?
        .map_err(|e| match e {
            cairn_connectors::Error::Refused { message, .. } => ProbeError::Refused(message),
            e => match e.kind() {
                ErrorKind::Auth => ProbeError::Unauthorized,
                ErrorKind::Retryable => ProbeError::Unreachable(e.to_string()),
                ErrorKind::Permanent => ProbeError::NotASite(e.to_string()),
            },
        })?;
        let cloud_id = report.cloud_id;
        let mut products = Vec::new();
        if let Some(jira) = report.jira {
            products.push(SiteProduct {
                product: Product::Jira,
                is_empty: jira.empty,
            });
        }
        if let Some(wiki) = report.confluence {
            products.push(SiteProduct {
                product: Product::Confluence,
                is_empty: wiki.empty,
            });
        }
        if products.is_empty() {
            return Err(ProbeError::NotASite(
                "it serves neither Jira nor Confluence".into(),
            ));
        }
        Ok(SiteFacts {
            cloud_id,
            cloud_name: None,
            products,
        })
    }
}

/// Writes, reads back and deletes a probe object in an S3-compatible store, with the client the
/// engine would use (the outbound guard, and ambient credentials only if allowed).
pub struct VaultStorageProbe {
    pub engine: cairn_engine::EngineSettings,
}

#[async_trait]
impl StorageProbe for VaultStorageProbe {
    async fn probe(&self, target: &S3Target) -> Result<(), ProbeError> {
        let config = cairn_engine::storage::s3_config(target, &self.engine)
            .map_err(|r| ProbeError::Refused(r.to_string()))?;
        let backend = Backend::open(&Location::S3(config))
            .map_err(|e| ProbeError::Unreachable(e.to_string()))?;
        let name = format!("cairn-probe-{}", uuid_like());
        let body = bytes::Bytes::from_static(b"cairn storage probe");
        let failed = |what: &str, e: cairn_vault::Error| match refused_in(&e) {
            Some(refused) => ProbeError::Refused(refused.to_string()),
            None => ProbeError::Unreachable(format!("{what} failed: {e}")),
        };
        let work = async {
            backend
                .put(&name, body.clone())
                .await
                .map_err(|e| failed("write", e))?;
            let read = backend.get(&name).await.map_err(|e| failed("read", e))?;
            if read.as_deref() != Some(&body[..]) {
                return Err(ProbeError::Unreachable(
                    "the object read back differs from the one written".into(),
                ));
            }
            backend.delete(&name).await.map_err(|e| failed("delete", e))
        };
        tokio::time::timeout(PROBE_TIMEOUT, work)
            .await
            .map_err(|_| ProbeError::Unreachable("no answer within 15 seconds".into()))?
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{}", std::process::id())
}
