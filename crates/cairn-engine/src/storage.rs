//! Opening the vault of a storage.
//!
//! - The built-in storage (`StorageAccess.s3 == None`) keeps one local vault per organization
//!   under `DATA_DIR/vaults/<orgId>`.
//! - An S3 storage keeps its vault in its bucket under its prefix (plain HTTP is allowed only
//!   when the endpoint says `http://`, as for a loopback SeaweedFS or MinIO).
//!
//! The vault key (`SERVICE_MANAGED`) is derived from the server secret and the storage id with a
//! keyed hash, not kept in a file: every node of a cluster holds the same server secret, so every
//! node opens the same vault, and there is no second secret to lose or copy between nodes. Losing
//! the server secret loses the backups' key as well: back the secret up (see README).
//!
//! The repository is made on first use; init is idempotent (two workers that race to make it
//! both end up opening the one that won).

use std::path::Path;

use cairn_control::jobs::EngineError;
use cairn_control::management::StorageAccess;
use cairn_control::secret::ServerSecret;
use cairn_vault::{Backend, InitOptions, KeySource, Location, Repository, S3Config};

/// The purpose label of the vault-key derivation (never reuse it for anything else).
const VAULT_KEY_PURPOSE: &str = "cairn-engine vault key v1";

/// Where a storage's vault lives.
pub fn location(data_dir: &Path, storage: &StorageAccess) -> Location {
    match &storage.s3 {
        None => Location::Local(data_dir.join("vaults").join(&storage.storage.org_id)),
        Some(s3) => Location::S3(S3Config {
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
        }),
    }
}

/// The vault key of a storage.
pub fn vault_key(secret: &ServerSecret, storage_id: &str) -> KeySource {
    KeySource::Raw(secret.keyed_hash(VAULT_KEY_PURPOSE, storage_id.as_bytes()))
}

/// Opens the storage's vault, making it on first use.
pub async fn open_vault(
    data_dir: &Path,
    secret: &ServerSecret,
    storage: &StorageAccess,
) -> Result<Repository, EngineError> {
    let backend = Backend::open(&location(data_dir, storage)).map_err(vault_error)?;
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
        E::Io(_) | E::Storage(_) | E::RacedWithPrune { .. } => EngineError::Retryable(text),
        _ => EngineError::Permanent(text),
    }
}
