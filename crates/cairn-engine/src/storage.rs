//! Opening the vault of a storage.
//!
//! - The built-in storage (`StorageAccess.s3 == None`) keeps one local vault per organization
//!   under `DATA_DIR/vaults/<orgId>`.
//! - An S3 storage keeps its vault in its bucket under its prefix (plain HTTP is allowed only
//!   when the endpoint says `http://`, as for a loopback SeaweedFS or MinIO). Its client connects
//!   only where the outbound guard allows (`EngineSettings::connector.outbound`, the same policy
//!   as for sites) and signs in with the storage's keys: the host's ambient credentials only when
//!   the operator allows them (`EngineSettings::s3_ambient_credentials`).
//!
//! The vault key (`SERVICE_MANAGED`) is derived from the server secret and the storage id with a
//! keyed hash, not kept in a file: every node of a cluster holds the same server secret, so every
//! node opens the same vault, and there is no second secret to lose or copy between nodes. Losing
//! the server secret loses the backups' key as well: back the secret up (see README).
//!
//! The repository is made on first use; init is idempotent (two workers that race to make it
//! both end up opening the one that won).

use std::path::Path;
use std::pin::Pin;

use std::sync::Arc;

use cairn_connectors::Refused;
use cairn_control::jobs::EngineError;
use cairn_control::management::{S3Target, StorageAccess};
use cairn_control::secret::ServerSecret;
use cairn_vault::{Backend, InitOptions, KeySource, Location, Repository, S3Config};

use crate::EngineSettings;

/// The purpose label of the vault-key derivation (never reuse it for anything else).
const VAULT_KEY_PURPOSE: &str = "cairn-engine vault key v1";

/// Where a storage's vault lives.
pub fn location(
    data_dir: &Path,
    settings: &EngineSettings,
    storage: &StorageAccess,
) -> Result<Location, Refused> {
    Ok(match &storage.s3 {
        None => Location::Local(data_dir.join("vaults").join(&storage.storage.org_id)),
        Some(s3) => Location::S3(s3_config(s3, settings)?),
    })
}

/// The vault's S3 settings for a storage; plain HTTP only when its endpoint says so. An
/// endpoint whose host is an address the guard refuses is refused here (a name is checked
/// where it is resolved, on every connection).
pub fn s3_config(s3: &S3Target, settings: &EngineSettings) -> Result<S3Config, Refused> {
    let outbound = &settings.connector.outbound;
    if let Some(endpoint) = &s3.endpoint {
        let url = url::Url::parse(endpoint).map_err(|_| Refused {
            host: endpoint.clone(),
            reason: "not a URL".into(),
        })?;
        outbound.check_url(&url)?;
    }
    Ok(S3Config {
        allow_http: s3
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://")),
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        bucket: s3.bucket.clone(),
        prefix: s3.prefix.clone().unwrap_or_default(),
        access_key_id: s3.access_key_id.clone(),
        secret_access_key: s3.secret_access_key.clone(),
        ambient_credentials: settings.s3_ambient_credentials,
        resolver: Some(Arc::new(outbound.clone())),
    })
}

/// The vault key of a storage.
pub fn vault_key(secret: &ServerSecret, storage_id: &str) -> KeySource {
    KeySource::Raw(secret.keyed_hash(VAULT_KEY_PURPOSE, storage_id.as_bytes()))
}

/// A boxed `Send` future: the vault's futures are `Send`, but the compiler cannot prove it
/// through `async_trait`'s higher-ranked lifetimes without this.
pub type SendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'a>>;

/// Opens the storage's vault, making it on first use.
pub fn open_vault<'a>(
    data_dir: &'a Path,
    secret: &'a ServerSecret,
    settings: &'a EngineSettings,
    storage: &'a StorageAccess,
) -> SendFuture<'a, Repository> {
    Box::pin(open_vault_inner(
        data_dir.to_path_buf(),
        secret.clone(),
        settings.clone(),
        storage.clone(),
    ))
}

async fn open_vault_inner(
    data_dir: std::path::PathBuf,
    secret: ServerSecret,
    settings: EngineSettings,
    storage: StorageAccess,
) -> Result<Repository, EngineError> {
    let (data_dir, secret, storage) = (&data_dir, &secret, &storage);
    let location = location(data_dir, &settings, storage)
        .map_err(|r| EngineError::Permanent(format!("storage: refused to connect to {r}")))?;
    let backend = Backend::open(&location).map_err(vault_error)?;
    let key = vault_key(secret, &storage.storage.id);
    match Repository::open(backend.clone(), &key).await {
        Ok(repo) => return Ok(repo),
        Err(cairn_vault::Error::NotARepository(_)) => {}
        Err(e) => return Err(vault_error(e)),
    }
    let options = InitOptions {
        key_label: format!("cairn storage {}", storage.storage.id),
        ..InitOptions::default()
    };
    match Repository::init(backend.clone(), &key, options).await {
        Ok(repo) => Ok(repo),
        // Another worker made it first.
        Err(cairn_vault::Error::AlreadyExists(_)) => {
            Repository::open(backend, &key).await.map_err(vault_error)
        }
        Err(e) => Err(vault_error(e)),
    }
}

/// A storage error: transient ones are worth another attempt, the rest are not.
pub fn vault_error(e: cairn_vault::Error) -> EngineError {
    use cairn_vault::Error as E;
    let text = format!("storage: {e}");
    match e {
        // An ended task: this process is shutting down (or hit a bug); another attempt, here
        // or on another node, starts from the last checkpoint.
        E::Io(_) | E::Storage(_) | E::RacedWithPrune { .. } | E::TaskEnded { .. } => {
            EngineError::Retryable(text)
        }
        _ => EngineError::Permanent(text),
    }
}

/// Reads a snapshot by id (see [`SendFuture`]).
pub fn reader(repo: &Repository, id: String) -> SendFuture<'static, cairn_vault::SnapshotReader> {
    let repo = repo.clone();
    Box::pin(async move { repo.reader(&id).await.map_err(vault_error) })
}

/// Starts a snapshot (see [`SendFuture`]).
pub fn writer(
    repo: &Repository,
    opts: cairn_vault::WriterOptions,
) -> SendFuture<'static, cairn_vault::SnapshotWriter> {
    let repo = repo.clone();
    Box::pin(async move { repo.writer(opts).await.map_err(vault_error) })
}

/// The ids of the snapshots carrying any of `tags`, oldest first, from one listing (see
/// [`SendFuture`]).
pub fn tagged(repo: &Repository, tags: Vec<String>) -> SendFuture<'static, Vec<String>> {
    let repo = repo.clone();
    Box::pin(async move {
        let list = repo.snapshots().await.map_err(vault_error)?;
        Ok(list
            .snapshots
            .into_iter()
            .filter(|s| s.file.tags.iter().any(|t| tags.contains(t)))
            .map(|s| s.id.to_hex())
            .collect())
    })
}

/// Every entry of a snapshot (see [`SendFuture`]).
pub fn walk(reader: cairn_vault::SnapshotReader) -> SendFuture<'static, Vec<cairn_vault::Entry>> {
    Box::pin(async move { reader.walk("").await.map_err(vault_error) })
}

/// Forgets a snapshot; one already gone is fine (see [`SendFuture`]).
pub fn forget(repo: &Repository, id: String) -> SendFuture<'static, ()> {
    let repo = repo.clone();
    Box::pin(async move {
        match repo.find_snapshot(&id).await {
            Ok(info) => repo.remove_snapshot(&info.id).await.map_err(vault_error),
            Err(cairn_vault::Error::SnapshotNotFound(_)) => Ok(()),
            Err(e) => Err(vault_error(e)),
        }
    })
}
