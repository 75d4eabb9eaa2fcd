//! Storages: each org's built-in vault under the data directory, and external S3-compatible
//! stores, connected only after a probe object is written, read back and deleted.

use cairn_store::{
    Page, PageQuery, Product, StorageFilter, StorageRecord, StorageStatus, StorageType, StoreError,
};

use super::{Management, ProbeError, S3Target, SEAL_STORAGE_SECRET, new_id};
use crate::audit::actions;
use crate::identity::Actor;
use crate::{ControlError, ControlResult};

/// A request to connect an external storage. `Debug` never shows the secret key.
#[derive(Clone, Default)]
pub struct NewStorage {
    /// The bucket (`storageName`).
    pub bucket: String,
    pub region: String,
    pub prefix: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub role_identifier: Option<String>,
    pub principal_tag: Option<String>,
    pub cloud_id: Option<String>,
    pub product: Option<Product>,
    /// The operator supplies the vault key of this storage (`CUSTOMER_MANAGED`).
    pub customer_managed_key: bool,
}

impl std::fmt::Debug for NewStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStorage")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where the engine writes a backup. `Debug` never shows the secret key.
#[derive(Clone)]
pub struct StorageAccess {
    pub storage: StorageRecord,
    /// `None` for the built-in storage.
    pub s3: Option<S3Target>,
}

impl std::fmt::Debug for StorageAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageAccess")
            .field("storage_id", &self.storage.id)
            .field("storage_type", &self.storage.storage_type)
            .field("s3", &self.s3)
            .finish()
    }
}

/// S3 bucket names: 3..63 lowercase letters, digits, dots and hyphens.
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

impl Management {
    /// The org's built-in storage, created on first use.
    pub async fn builtin_storage(&self, org_id: &str) -> ControlResult<StorageRecord> {
        let candidate = StorageRecord {
            id: new_id(),
            org_id: org_id.to_string(),
            storage_type: StorageType::Builtin,
            bucket: "builtin".into(),
            region: None,
            prefix: Some(format!("vaults/{org_id}")),
            role_identifier: None,
            principal_tag: None,
            cloud_id: None,
            product: None,
            endpoint: None,
            access_key_id: None,
            sealed_secret: None,
            encryption_type: "SERVICE_MANAGED".into(),
            status: StorageStatus::Connected,
            created_at: self.clock.now(),
        };
        Ok(self.store.ensure_builtin_storage(&candidate).await?)
    }

    pub fn regions(&self) -> &[String] {
        &self.settings.regions
    }

    pub async fn connect_storage(
        &self,
        org_id: &str,
        actor: &Actor,
        new: NewStorage,
    ) -> ControlResult<StorageRecord> {
        let bucket = new.bucket.trim().to_string();
        if !valid_bucket(&bucket) {
            return Err(ControlError::invalid_field(
                "storageName",
                "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens",
            ));
        }
        if !self.settings.regions.contains(&new.region) {
            return Err(ControlError::invalid_field(
                "storageRegion",
                format!("must be one of {}", self.settings.regions.join(", ")),
            ));
        }
        if let Some(endpoint) = &new.endpoint
            && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
        {
            return Err(ControlError::invalid_field(
                "endpoint",
                "must be an http:// or https:// URL",
            ));
        }
        if new.access_key_id.is_some() != new.secret_access_key.is_some() {
            return Err(ControlError::invalid_field(
                "secretAccessKey",
                "accessKeyId and secretAccessKey go together",
            ));
        }
        if new.access_key_id.is_none() && !self.settings.s3_ambient_credentials {
            // Without keys the S3 client would sign in as the server's own cloud role.
            return Err(ControlError::invalid_field(
                "accessKeyId",
                "is required: this server does not let storages use its own cloud credentials",
            ));
        }
        if let Some(cloud_id) = &new.cloud_id {
            self.get_site(org_id, cloud_id).await?;
        }
        let prefix = new
            .prefix
            .map(|p| p.trim_matches('/').to_string())
            .filter(|p| !p.is_empty());
        let target = S3Target {
            endpoint: new.endpoint.clone(),
            region: new.region.clone(),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            access_key_id: new.access_key_id.clone(),
            secret_access_key: new.secret_access_key.clone(),
        };
        if let Err(err) = self.storage_probe.probe(&target).await {
            tracing::warn!(org_id, bucket = %bucket, endpoint = ?new.endpoint, error = %err, "storage connection refused: the probe failed");
            self.record(
                org_id,
                actor,
                actions::STORAGE_CONNECT_FAILED,
                format!("bucket:{bucket}"),
                Some(serde_json::json!({
                    "bucket": bucket, "endpoint": new.endpoint, "outcome": err.outcome(),
                })),
            )
            .await?;
            // Nothing of what the endpoint answered goes back (see `ProbeError`).
            return Err(match err {
                ProbeError::Refused(why) => ControlError::invalid_field(
                    "endpoint",
                    format!("Cairn does not connect to this address: {why}"),
                ),
                _ => ControlError::invalid_field(
                    "storageName",
                    "Cairn could not write, read and delete a probe object in this bucket: \
                     check the bucket, region, endpoint and keys",
                ),
            });
        }
        let storage = StorageRecord {
            id: new_id(),
            org_id: org_id.to_string(),
            storage_type: StorageType::S3,
            bucket,
            region: Some(new.region),
            prefix,
            role_identifier: new.role_identifier,
            principal_tag: new.principal_tag,
            cloud_id: new.cloud_id,
            product: new.product,
            endpoint: new.endpoint,
            access_key_id: new.access_key_id,
            sealed_secret: new
                .secret_access_key
                .as_deref()
                .map(|s| self.seal(SEAL_STORAGE_SECRET, s))
                .transpose()?,
            encryption_type: if new.customer_managed_key {
                "CUSTOMER_MANAGED".into()
            } else {
                "SERVICE_MANAGED".into()
            },
            status: StorageStatus::Connected,
            created_at: self.clock.now(),
        };
        self.store.insert_storage(&storage).await?;
        self.record(
            org_id,
            actor,
            actions::STORAGE_CONNECT,
            format!("storage:{}", storage.id),
            Some(serde_json::json!({ "bucket": storage.bucket, "endpoint": storage.endpoint })),
        )
        .await?;
        Ok(storage)
    }

    pub async fn list_storages(
        &self,
        filter: &StorageFilter,
        page: PageQuery,
    ) -> ControlResult<Page<StorageRecord>> {
        self.builtin_storage(&filter.org_id).await?;
        Ok(self.store.list_storages(filter, page).await?)
    }

    pub async fn get_storage(
        &self,
        org_id: &str,
        storage_id: &str,
    ) -> ControlResult<StorageRecord> {
        self.store
            .get_storage(org_id, storage_id)
            .await?
            .ok_or_else(|| {
                ControlError::NotFound(
                    "No storage with this storageId in this organization.".into(),
                )
            })
    }

    pub async fn disconnect_storage(
        &self,
        org_id: &str,
        actor: &Actor,
        storage_id: &str,
    ) -> ControlResult<()> {
        let storage = self.get_storage(org_id, storage_id).await?;
        if storage.storage_type == StorageType::Builtin {
            return Err(ControlError::Conflict(
                "The built-in storage cannot be disconnected.".into(),
            ));
        }
        match self.store.delete_storage(org_id, storage_id).await {
            Ok(_) => {}
            Err(StoreError::Conflict(what)) => {
                return Err(ControlError::Conflict(format!(
                    "A {what} uses this storage; it can be disconnected once no policy and no unexpired backup uses it."
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.record(
            org_id,
            actor,
            actions::STORAGE_DISCONNECT,
            format!("storage:{storage_id}"),
            None,
        )
        .await
    }

    /// The storage with its secret opened, for the engine.
    pub async fn storage_access(
        &self,
        org_id: &str,
        storage_id: &str,
    ) -> ControlResult<StorageAccess> {
        let storage = self.get_storage(org_id, storage_id).await?;
        let s3 = match storage.storage_type {
            StorageType::Builtin => None,
            StorageType::S3 => Some(S3Target {
                endpoint: storage.endpoint.clone(),
                region: storage.region.clone().unwrap_or_default(),
                bucket: storage.bucket.clone(),
                prefix: storage.prefix.clone(),
                access_key_id: storage.access_key_id.clone(),
                secret_access_key: storage
                    .sealed_secret
                    .as_deref()
                    .map(|s| self.open(SEAL_STORAGE_SECRET, s))
                    .transpose()?,
            }),
        };
        Ok(StorageAccess { storage, s3 })
    }
}

#[cfg(test)]
mod tests {
    use super::valid_bucket;

    #[test]
    fn bucket_names() {
        assert!(valid_bucket("cairn-backups.eu"));
        assert!(!valid_bucket("ab"));
        assert!(!valid_bucket("Upper"));
        assert!(!valid_bucket("-lead"));
        assert!(!valid_bucket("has_underscore"));
    }
}
