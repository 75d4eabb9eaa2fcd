//! Storage through `object_store`: a local directory, memory, or S3-compatible storage.

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
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
    /// Without keys, sign in with the host's ambient credentials (the instance metadata
    /// service). Off: a config without keys is refused, so no caller borrows the host's role
    /// by leaving the keys out.
    pub ambient_credentials: bool,
    /// Resolves every host the client connects to (a guard that refuses addresses); with it the
    /// client follows no redirects, so every connection goes through it or to the endpoint
    /// itself.
    pub resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
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
            .field("ambient_credentials", &self.ambient_credentials)
            .field("resolver", &self.resolver.as_ref().map(|_| ".."))
            .finish()
    }
}

/// The S3 client through a resolver of the caller's, following no redirects (a redirect to an
/// IP literal would skip the resolver).
struct GuardedConnector(Arc<dyn reqwest::dns::Resolve>);

impl std::fmt::Debug for GuardedConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardedConnector")
    }
}

impl object_store::client::HttpConnector for GuardedConnector {
    fn connect(
        &self,
        options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        use object_store::ClientConfigKey as K;
        let allow_http = options.get_config_value(&K::AllowHttp).as_deref() == Some("true");
        let client = reqwest::Client::builder()
            .dns_resolver(self.0.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .http1_only()
            .no_gzip()
            .no_brotli()
            .no_zstd()
            .no_deflate()
            .https_only(!allow_http)
            .build()
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(object_store::client::HttpClient::new(client))
    }
}

/// A storage handle: an object store plus a key prefix. Cheap to clone. Every call is retried here, for every
/// kind of store, when it fails transiently (see [`is_transient`]).
#[derive(Clone)]
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    description: String,
    retry: ExponentialBuilder,
}

/// Backoff of storage calls: 100 ms doubling (with jitter) up to 10 s, at most 8 retries and 120 s of waiting.
fn default_retry() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_factor(2.0)
        .with_max_times(8)
        .with_total_delay(Some(Duration::from_secs(120)))
        .with_jitter()
}

/// Whether a failed storage call may succeed if tried again: I/O and connection failures, timeouts, and the
/// HTTP statuses 408, 429 and 5xx. Not found, already exists, permission and malformed requests are final,
/// and so is a connection the resolver refused (an I/O error of kind `PermissionDenied` in the chain).
pub(crate) fn is_transient(e: &object_store::Error) -> bool {
    let object_store::Error::Generic { source, .. } = e else {
        return false;
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return false;
        }
        cause = c.source();
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                Interrupted
                    | TimedOut
                    | WouldBlock
                    | ResourceBusy
                    | ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | NotConnected
                    | BrokenPipe
            );
        }
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind::*;
            return matches!(h.kind(), Connect | Request | Timeout | Interrupted | Decode);
        }
        cause = c.source();
    }
    // A status answered by the server; object_store names it only in the message.
    let text = e.to_string();
    text.split("status code: ")
        .nth(1)
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| code == 408 || code == 429 || (500..600).contains(&code))
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
                    retry: default_retry(),
                })
            }
            Location::Memory => Ok(Backend {
                store: Arc::new(object_store::memory::InMemory::new()),
                prefix: String::new(),
                description: "memory".into(),
                retry: default_retry(),
            }),
            Location::S3(c) => {
                // Retries happen in one place for every store: `Backend`'s own loop.
                let retry = object_store::RetryConfig {
                    max_retries: 0,
                    ..Default::default()
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
                if c.access_key_id.is_none() && !c.ambient_credentials {
                    return Err(crate::error::Error::InvalidArgument(
                        "an S3 storage without an access key, and ambient credentials are not \
                         allowed"
                            .into(),
                    ));
                }
                if let Some(resolver) = &c.resolver {
                    b = b.with_http_connector(GuardedConnector(resolver.clone()));
                }
                let store = b.build()?;
                let prefix = c.prefix.trim_matches('/').to_owned();
                Ok(Backend {
                    store: Arc::new(store),
                    description: format!("s3://{}/{}", c.bucket, prefix),
                    prefix,
                    retry: default_retry(),
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
            retry: default_retry(),
        }
    }

    /// Run one storage call, again after a backoff while it fails transiently.
    async fn retrying<T, F, Fut>(&self, op: F) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = object_store::Result<T>>,
    {
        op.retry(self.retry)
            .when(is_transient)
            .notify(|e, after| {
                tracing::warn!(store = %self.description, error = %e, ?after, "transient storage error, retrying");
            })
            .await
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
        let path = self.path(name);
        let conditional = self
            .retrying(|| async {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                // AlreadyExists also covers a retry after a write whose answer was lost.
                match self
                    .store
                    .put_opts(&path, PutPayload::from(data.clone()), opts)
                    .await
                {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(true),
                    Err(object_store::Error::NotImplemented { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            })
            .await?;
        if !conditional {
            // Stores without conditional writes: content-addressed, so overwriting is harmless.
            self.put(name, data).await?;
        }
        Ok(())
    }

    /// Create an object that must be written by exactly one of several racing writers (a
    /// repository's config): `true` when this call's bytes are the ones stored, `false` when
    /// another writer's are. Unlike [`Backend::put_new`], an existing object is not success: it
    /// is read back, and it is ours only when it holds our bytes (a retry after a lost answer).
    /// Stores without conditional writes get a check before and a read back after the write,
    /// which narrows the race to the write itself.
    pub async fn create_once(&self, name: &str, data: Bytes) -> Result<bool> {
        let path = self.path(name);
        let created = self
            .retrying(|| async {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match self
                    .store
                    .put_opts(&path, PutPayload::from(data.clone()), opts)
                    .await
                {
                    Ok(_) => Ok(Some(true)),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(Some(false)),
                    Err(object_store::Error::NotImplemented { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        match created {
            Some(true) => Ok(true),
            Some(false) => Ok(self.get(name).await?.as_ref() == Some(&data)),
            None => {
                if self.get(name).await?.is_some_and(|stored| stored != data) {
                    return Ok(false);
                }
                self.put(name, data.clone()).await?;
                Ok(self.get(name).await?.as_ref() == Some(&data))
            }
        }
    }

    /// Write (or replace) a mutable object.
    pub async fn put(&self, name: &str, data: Bytes) -> Result<()> {
        let path = self.path(name);
        self.retrying(|| self.store.put(&path, PutPayload::from(data.clone())))
            .await?;
        Ok(())
    }

    /// Read a whole object; `None` if it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Bytes>> {
        let path = self.path(name);
        let r = self
            .retrying(|| async { self.store.get(&path).await?.bytes().await })
            .await;
        match r {
            Ok(b) => Ok(Some(b)),
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
        let path = self.path(name);
        match self
            .retrying(|| self.store.get_range(&path, range.clone()))
            .await
        {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// List objects under a directory-like prefix: (name relative to the repository, size, last modified).
    pub async fn list(&self, dir: &str) -> Result<Vec<ListedObject>> {
        let p = self.path(dir);
        let items: Vec<_> = self
            .retrying(|| self.store.list(Some(&p)).try_collect::<Vec<_>>())
            .await?;
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
        let path = self.path(name);
        match self.retrying(|| self.store.delete(&path)).await {
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
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::stream::BoxStream;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
        PutMultipartOptions, PutResult,
    };

    /// Fault injection: the next `fail` calls fail with `error()`, then calls reach an in-memory store.
    #[derive(Debug)]
    pub(crate) struct Flaky {
        inner: object_store::memory::InMemory,
        fail: AtomicUsize,
        calls: AtomicUsize,
        error: fn() -> object_store::Error,
    }

    impl std::fmt::Display for Flaky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("flaky")
        }
    }

    impl Flaky {
        pub(crate) fn new(fail: usize, error: fn() -> object_store::Error) -> Arc<Self> {
            Arc::new(Flaky {
                inner: object_store::memory::InMemory::new(),
                fail: AtomicUsize::new(fail),
                calls: AtomicUsize::new(0),
                error,
            })
        }
        fn check(&self) -> object_store::Result<()> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            {
                Ok(_) => Err((self.error)()),
                Err(_) => Ok(()),
            }
        }
        /// Calls so far; the next `fail` calls fail again.
        pub(crate) fn rearm(&self, fail: usize) -> usize {
            self.fail.store(fail, Ordering::SeqCst);
            self.calls.swap(0, Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Flaky {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.check()?;
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.check()?;
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.check()?;
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            match self.check() {
                Ok(()) => self.inner.delete_stream(locations),
                Err(e) => Box::pin(futures::stream::once(async move { Err(e) })),
            }
        }
        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            match self.check() {
                Ok(()) => self.inner.list(prefix),
                Err(e) => Box::pin(futures::stream::once(async move { Err(e) })),
            }
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<ListResult> {
            self.check()?;
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.check()?;
            self.inner.copy_opts(from, to, options).await
        }
    }

    pub(crate) fn reset() -> object_store::Error {
        object_store::Error::Generic {
            store: "flaky",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        }
    }

    fn denied() -> object_store::Error {
        object_store::Error::PermissionDenied {
            path: "x".into(),
            source: "denied".into(),
        }
    }

    /// Every operation, on any store, is retried after transient failures and then succeeds.
    #[tokio::test]
    async fn transient_failures_are_retried_for_every_operation() {
        let store = Flaky::new(0, reset);
        let b = Backend::from_store(store.clone(), "p");
        for (op, fut) in [
            (
                "put_new",
                Box::pin(async { b.put_new("a", Bytes::from_static(b"1")).await.map(|_| ()) })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>>>>,
            ),
            (
                "put",
                Box::pin(async { b.put("m", Bytes::from_static(b"2")).await }),
            ),
            (
                "get",
                Box::pin(async { b.get("a").await.map(|r| assert_eq!(r.unwrap(), "1")) }),
            ),
            (
                "get_range",
                Box::pin(async {
                    b.get_range("a", 0..1)
                        .await
                        .map(|r| assert_eq!(r.unwrap(), "1"))
                }),
            ),
            (
                "list",
                Box::pin(async { b.list("").await.map(|l| assert_eq!(l.len(), 2)) }),
            ),
            ("delete", Box::pin(async { b.delete("m").await })),
        ] {
            store.rearm(2);
            fut.await.unwrap_or_else(|e| panic!("{op}: {e}"));
            assert_eq!(store.rearm(0), 3, "{op}: two failures, then success");
        }
    }

    /// Final errors are not retried.
    #[tokio::test]
    async fn final_errors_are_not_retried() {
        let store = Flaky::new(1, denied);
        let b = Backend::from_store(store.clone(), "");
        assert!(b.get("a").await.is_err());
        assert_eq!(store.rearm(0), 1);
    }

    #[test]
    fn which_errors_are_transient() {
        #[derive(Debug)]
        struct Status(&'static str);
        impl std::fmt::Display for Status {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Status {}
        let generic = |e: Box<dyn std::error::Error + Send + Sync>| object_store::Error::Generic {
            store: "S3",
            source: e,
        };
        let status = |m: &'static str| generic(Box::new(Status(m)));
        assert!(is_transient(&reset()));
        assert!(is_transient(&status(
            "Server returned non-2xx status code: 503 Service Unavailable: slow down"
        )));
        assert!(is_transient(&status(
            "Server returned non-2xx status code: 429 Too Many Requests"
        )));
        assert!(!is_transient(&status(
            "Server returned non-2xx status code: 400 Bad Request"
        )));
        assert!(!is_transient(&generic(Box::new(std::io::Error::from(
            std::io::ErrorKind::UnexpectedEof
        )))));
        assert!(!is_transient(&denied()));
        assert!(!is_transient(&object_store::Error::NotFound {
            path: "x".into(),
            source: "gone".into(),
        }));
    }

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
