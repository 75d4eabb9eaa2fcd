//! Opening an installation: the data directory, the server secret, the store, the identity and
//! management services. `serve` and every management command go through here, so they agree.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use cairn_control::clock::SystemClock;
use cairn_control::identity::Identity;
use cairn_control::management::Management;
use cairn_control::secret::ServerSecret;
use cairn_store::{MetaStore, SqlStore, Store};

use crate::probe::{ConnectorSiteProbe, VaultStorageProbe};
use crate::settings::{FileSettings, StoreSettings};

pub struct Instance {
    pub store: Arc<SqlStore>,
    pub identity: Arc<Identity>,
    pub management: Arc<Management>,
    /// The engine: `serve`'s workers run jobs on it; management reads snapshots through it.
    pub engine: Arc<cairn_engine::AtlassianEngine>,
}

const SECRET_FILE: &str = "secret";
const FINGERPRINT_KEY: &str = "secret_fingerprint";

impl Instance {
    pub async fn open(settings: &StoreSettings, file: &FileSettings) -> anyhow::Result<Self> {
        Self::open_allowing(settings, file, Vec::new()).await
    }

    /// [`Instance::open`], with `also` allowed beyond the settings' outbound policy (the
    /// demo's own stand-in sites).
    pub async fn open_allowing(
        settings: &StoreSettings,
        file: &FileSettings,
        also: Vec<cairn_connectors::Allow>,
    ) -> anyhow::Result<Self> {
        let outbound = file.outbound.policy()?.with(also);
        let ambient = file.outbound.s3_ambient_credentials();
        private_data_dir(&settings.data_dir)?;
        let secret = load_or_create_secret(&settings.data_dir)?;
        let store = Arc::new(
            SqlStore::connect(&settings.database_url, settings.max_connections)
                .await
                .context("opening the metadata store")?,
        );
        check_fingerprint(store.as_ref(), &secret).await?;
        let store_dyn: Arc<dyn Store> = store.clone();
        let identity = Identity::new(
            store_dyn.clone(),
            secret.clone(),
            Arc::new(SystemClock),
            file.identity_settings(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut engine_settings = file.engine.engine_settings();
        engine_settings.connector.outbound = outbound.clone();
        engine_settings.s3_ambient_credentials = ambient;
        let mut management_settings = file.management.management_settings();
        management_settings.s3_ambient_credentials = ambient;
        management_settings.legacy_min_interval = file.legacy.min_interval()?;
        let engine = Arc::new(cairn_engine::AtlassianEngine::new(
            settings.data_dir.clone(),
            secret.clone(),
            engine_settings.clone(),
        ));
        let management = Management::new(
            store_dyn,
            Arc::new(SystemClock),
            secret.clone(),
            management_settings,
            Arc::new(ConnectorSiteProbe { outbound }),
            Arc::new(VaultStorageProbe {
                engine: engine_settings,
            }),
        )
        .with_browser(engine.clone());
        Ok(Instance {
            store,
            identity: Arc::new(identity),
            management: Arc::new(management),
            engine,
        })
    }
}

/// The data directory holds the secret, the SQLite database and the built-in vaults: it is made
/// with mode 0700 (whatever the umask), and one left more open is narrowed to 0700, with a log line.
fn private_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let context = || format!("creating the data directory {}", dir.display());
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(context)?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(context)?
        .permissions()
        .mode()
        & 0o777;
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %dir.display(), was = format!("{mode:o}"), "narrowed the data directory's mode to 700: it holds the server secret and the database");
        }
    }
    Ok(())
}

/// `CAIRN_SECRET` (hex) wins; otherwise the data directory's secret file, made on first use with
/// mode 0600.
fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<ServerSecret> {
    if let Ok(hex) = std::env::var("CAIRN_SECRET") {
        return ServerSecret::from_hex(&hex).context("CAIRN_SECRET");
    }
    let path = data_dir.join(SECRET_FILE);
    if let Some(existing) = read_secret_file(&path)? {
        return Ok(existing);
    }
    let secret = ServerSecret::generate()?;
    if publish_private_file(&path, secret.to_hex().as_bytes())? {
        Ok(secret)
    } else {
        // Another process (a CLI beside a starting server) published first: use theirs.
        read_secret_file(&path)?.context("the secret file vanished while starting")
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<Option<ServerSecret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => ServerSecret::from_hex(&text)
            .map(Some)
            .with_context(|| format!("reading {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Creates `path` (mode 0600) with `contents` atomically: written in full to a private temporary
/// file, then hard-linked into place, so no reader ever sees it half-written. Returns false when
/// the file already existed (and leaves it alone).
fn publish_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<bool> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

/// Every node must hold the secret the store was initialised with, or no token would verify.
async fn check_fingerprint(store: &SqlStore, secret: &ServerSecret) -> anyhow::Result<()> {
    let fingerprint = secret.fingerprint();
    if store
        .insert_meta_if_absent(FINGERPRINT_KEY, &fingerprint)
        .await?
    {
        return Ok(());
    }
    match store.get_meta(FINGERPRINT_KEY).await? {
        Some(stored) if stored == fingerprint => Ok(()),
        _ => bail!(
            "this node's server secret is not the one the database was initialised with; \
             set CAIRN_SECRET (or copy the data directory's 'secret' file) to the same value on every node"
        ),
    }
}
