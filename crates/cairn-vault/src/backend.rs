//! Storage through `object_store`: a local directory, memory, or S3-compatible storage.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::Result;

/// Where a repository lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local directory (created if missing).
    Local(std::path::PathBuf),
    /// In memory, for tests; lost when the last handle drops.
    Memory,
    /// S3-compatible storage.
    S3(S3Config),
}

/// S3 connection settings.
#[derive(Clone, Default)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:8333`; `None` means AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing slash needed).
    pub prefix: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Permit plain HTTP (for loopback test servers).
    pub allow_http: bool,
}

/// The secret key never reaches logs or error messages.
impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| ".."),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// A storage handle: an object store plus a key prefix. Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    description: String,
}

/// Only the description: the store's own `Debug` may print its credentials.
impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.description)
    }
}

impl Backend {
    pub fn open(location: &Location) -> Result<Backend> {
        match location {
            Location::Local(dir) => {
                std::fs::create_dir_all(dir)?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?
                    .with_automatic_cleanup(true);
                Ok(Backend {
                    store: Arc::new(store),
                    prefix: String::new(),
                    description: dir.display().to_string(),
                })
            }
            Location::Memory => Ok(Backend {
                store: Arc::new(object_store::memory::InMemory::new()),
                prefix: String::new(),
                description: "memory".into(),
            }),
            Location::S3(c) => {
                let retry = object_store::RetryConfig {
                    backoff: object_store::BackoffConfig {
                        init_backoff: Duration::from_millis(100),
                        max_backoff: Duration::from_secs(15),
                        base: 2.0,
                    },
                    max_retries: 8,
                    retry_timeout: Duration::from_secs(180),
                };
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_region(&c.region)
                    .with_bucket_name(&c.bucket)
                    .with_allow_http(c.allow_http)
                    .with_retry(retry);
                if let Some(e) = &c.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = &c.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = &c.secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let store = b.build()?;
                let prefix = c.prefix.trim_matches('/').to_owned();
                Ok(Backend {
                    store: Arc::new(store),
                    description: format!("s3://{}/{}", c.bucket, prefix),
                    prefix,
                })
            }
        }
    }

    /// Wrap any object store (e.g. one with fault injection).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str) -> Backend {
        Backend {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            description: "custom".into(),
        }
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    fn path(&self, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.prefix))
        }
    }

    fn strip<'a>(&self, p: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            p
        } else {
            p.strip_prefix(&self.prefix)
                .map(|s| s.trim_start_matches('/'))
                .unwrap_or(p)
        }
    }

    /// Write a content-addressed object once. An existing object of that name is success (idempotent).
    pub async fn put_new(&self, name: &str, data: Bytes) -> Result<()> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.path(name), PutPayload::from(data.clone()), opts)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            // Stores without conditional writes: content-addressed, so overwriting is harmless.
            Err(object_store::Error::NotImplemented { .. }) => {
                self.store
                    .put(&self.path(name), PutPayload::from(data))
                    .await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Write (or replace) a mutable object.
    pub async fn put(&self, name: &str, data: Bytes) -> Result<()> {
        self.store
            .put(&self.path(name), PutPayload::from(data))
            .await?;
        Ok(())
    }

    /// Read a whole object; `None` if it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(name)).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Read a byte range; `None` if the object does not exist.
    pub async fn get_range(
        &self,
        name: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Option<Bytes>> {
        match self.store.get_range(&self.path(name), range).await {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// List objects under a directory-like prefix: (name relative to the repository, size, last modified).
    pub async fn list(&self, dir: &str) -> Result<Vec<ListedObject>> {
        let p = self.path(dir);
        let items: Vec<_> = self.store.list(Some(&p)).try_collect().await?;
        Ok(items
            .into_iter()
            .map(|m| ListedObject {
                name: self.strip(m.location.as_ref()).to_owned(),
                size: m.size,
                last_modified: m.last_modified,
            })
            .collect())
    }

    /// Delete an object; a missing object is success.
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self.store.delete(&self.path(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// One object found by [`Backend::list`].
#[derive(Debug, Clone)]
pub struct ListedObject {
    pub name: String,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_key() {
        let c = S3Config {
            bucket: "b".into(),
            secret_access_key: Some("hunter2-secret".into()),
            ..Default::default()
        };
        let shown = format!("{:?}", Location::S3(c));
        assert!(shown.contains("bucket: \"b\""), "{shown}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
    }
}
