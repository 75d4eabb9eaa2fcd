//! Settings: command-line flags, `CAIRN_*` environment variables and a TOML file, in that order
//! of precedence, then defaults. Every option is declared once here, with its doc and default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use cairn_control::identity::IdentitySettings;
use cairn_control::management::ManagementSettings;
use serde::Deserialize;

/// Where the control plane lives. Every command that touches it takes these.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Directory for Cairn's own files: the SQLite database, the server secret, the built-in
    /// vault. [default: ./cairn-data]
    #[arg(long, env = "CAIRN_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Use this database instead of SQLite in the data directory (postgres://USER@HOST/DB).
    #[arg(
        long,
        env = "CAIRN_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// A TOML file of settings; flags and CAIRN_* variables override it.
    #[arg(long, env = "CAIRN_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// The TOML file. Unknown keys are an error, so a typo does not silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// Connections in the store's pool (default 16).
    pub database_max_connections: Option<u32>,
    pub listen: Option<String>,
    pub log_format: Option<LogFormat>,
    pub admin_email: Option<String>,
    #[serde(default)]
    pub auth: AuthFileSettings,
    #[serde(default)]
    pub management: ManagementFileSettings,
    #[serde(default)]
    pub web: WebFileSettings,
    #[serde(default)]
    pub engine: EngineFileSettings,
    #[serde(default)]
    pub server: ServerFileSettings,
    #[serde(default)]
    pub outbound: OutboundFileSettings,
    #[serde(default)]
    pub legacy: LegacyFileSettings,
}

/// `[legacy]`: the legacy site-export calls (`/sites/{site}/...`, for old export scripts).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyFileSettings {
    /// Hours after a site's last complete backup before a legacy start may run another (412 /
    /// 406 until then). Default 0: a start is refused only while a backup runs.
    /// `CAIRN_LEGACY_MIN_INTERVAL_HOURS` overrides it.
    pub min_interval_hours: Option<u64>,
}

/// The environment variable that overrides `[legacy] min_interval_hours`.
pub const LEGACY_MIN_INTERVAL_ENV: &str = "CAIRN_LEGACY_MIN_INTERVAL_HOURS";

impl LegacyFileSettings {
    /// The cooldown: the environment's, else the file's; none when 0.
    pub fn min_interval(&self) -> anyhow::Result<Option<Duration>> {
        let hours = match std::env::var(LEGACY_MIN_INTERVAL_ENV) {
            Ok(v) => v.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!("{LEGACY_MIN_INTERVAL_ENV}: {v:?} is not a whole number of hours")
            })?,
            Err(_) => self.min_interval_hours.unwrap_or(0),
        };
        Ok((hours > 0).then(|| Duration::from_secs(hours.saturating_mul(3600))))
    }
}

/// `[engine]`: how backups and restores talk to sites.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFileSettings {
    /// Requests in flight at once against one site (default 8). Atlassian rate-limits per
    /// site; Cairn also slows down on 429 by itself.
    pub site_concurrency: Option<usize>,
    /// Restores keep each item's original authors and times in its `cairn.origin` property
    /// (default true).
    pub record_origin: Option<bool>,
}

impl EngineFileSettings {
    pub fn engine_settings(&self) -> cairn_engine::EngineSettings {
        let mut s = cairn_engine::EngineSettings::default();
        if let Some(n) = self.site_concurrency {
            s.connector.max_concurrency = n.max(1);
        }
        if let Some(record) = self.record_origin {
            s.record_origin = record;
        }
        s
    }
}

/// `[management]`: the rules of spec section 4 and how the scheduler and workers run.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementFileSettings {
    /// Regions an external storage may use (default: us-east-1, us-west-2, eu-central-1,
    /// eu-west-1, ap-southeast-2).
    pub regions: Option<Vec<String>>,
    /// Rule 4: minimum hours between complete backups of a site's product (default: none).
    pub min_backup_interval_hours: Option<u64>,
    /// Rule 6: minutes before a failed backup is retried (default 30) and attempts in all
    /// (default 3).
    pub retry_interval_minutes: Option<u64>,
    pub max_attempts: Option<u32>,
    /// Retention of a policy that names none (default 30 days).
    pub default_retention_days: Option<u32>,
    /// How often the scheduler looks for due runs and expired backups (default 15 s).
    pub scheduler_tick_secs: Option<u64>,
    /// Jobs (backups, restores, collections) this node runs at once (default 2; 0: this node
    /// serves the API and runs no jobs).
    pub worker_concurrency: Option<usize>,
    /// Seconds a claimed job stays this node's without renewal; a dead node's jobs resume
    /// elsewhere after it (default 60).
    pub job_lease_secs: Option<u64>,
}

impl ManagementFileSettings {
    pub fn management_settings(&self) -> ManagementSettings {
        let d = ManagementSettings::default();
        ManagementSettings {
            regions: self.regions.clone().unwrap_or(d.regions),
            min_backup_interval: self
                .min_backup_interval_hours
                .filter(|h| *h > 0)
                .map(|h| Duration::from_secs(h.saturating_mul(3600))),
            retry_interval: self
                .retry_interval_minutes
                .map(|m| Duration::from_secs(m.saturating_mul(60)))
                .unwrap_or(d.retry_interval),
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts).max(1),
            default_retention_days: self
                .default_retention_days
                .unwrap_or(d.default_retention_days),
            ..d
        }
    }

    pub fn worker_settings(&self) -> cairn_control::jobs::WorkerSettings {
        let d = cairn_control::jobs::WorkerSettings::default();
        cairn_control::jobs::WorkerSettings {
            concurrency: self.worker_concurrency.unwrap_or(d.concurrency),
            lease: self
                .job_lease_secs
                .map(|s| Duration::from_secs(s.max(3)))
                .unwrap_or(d.lease),
            poll: d.poll,
        }
    }

    pub fn scheduler_tick(&self) -> Duration {
        Duration::from_secs(self.scheduler_tick_secs.unwrap_or(15).max(1))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFileSettings {
    /// Live API tokens per account (default 100).
    pub token_limit: Option<u32>,
    /// Accept web passwords as Basic passwords (default false).
    pub allow_password_basic: Option<bool>,
    /// Failed authentications per address or account before 429 (default 10).
    pub failure_limit: Option<u32>,
    /// The window of `failure_limit`, in seconds (default 60).
    pub failure_window_secs: Option<u64>,
    /// Failed web passwords against one email from all addresses in the window before its logins
    /// get 429 (default 100); past `failure_limit` they are only slowed down.
    pub password_ceiling: Option<u32>,
    /// Successful calls per account per second (default 100) and burst (default 200).
    pub rate_per_second: Option<u32>,
    pub rate_burst: Option<u32>,
    /// How long a verified credential is trusted before asking the store again (default 2000).
    pub auth_cache_ms: Option<u64>,
}

/// The web pages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebFileSettings {
    /// How long a web login lasts, in hours (default 12).
    pub session_hours: Option<u64>,
    /// Always mark cookies Secure: the service is reached only over TLS (default false).
    pub secure_cookies: Option<bool>,
    /// Believe X-Forwarded-Proto from a TLS-terminating reverse proxy (default false).
    pub trust_forwarded_proto: Option<bool>,
}

impl WebFileSettings {
    pub fn web_settings(&self) -> cairn_api::WebSettings {
        cairn_api::WebSettings {
            secure_cookies: self.secure_cookies.unwrap_or(false),
            trust_forwarded_proto: self.trust_forwarded_proto.unwrap_or(false),
        }
    }
}

/// `[server]`: how the server sees its clients.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFileSettings {
    /// Reverse proxies (address ranges) whose `X-Forwarded-For` names the client; the
    /// `CAIRN_TRUSTED_PROXIES` variable (comma-separated) overrides it. Default: none.
    pub trusted_proxies: Option<Vec<String>>,
    /// PEM certificate chain to serve HTTPS with (`--tls-cert`, `CAIRN_TLS_CERT`).
    pub tls_cert: Option<PathBuf>,
    /// Its PEM private key (`--tls-key`, `CAIRN_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
}

impl ServerFileSettings {
    pub fn trusted_proxies(&self) -> anyhow::Result<cairn_api::TrustedProxies> {
        let parsed = match std::env::var("CAIRN_TRUSTED_PROXIES") {
            Ok(list) => cairn_api::TrustedProxies::parse([list.as_str()]),
            Err(_) => cairn_api::TrustedProxies::parse(
                self.trusted_proxies.iter().flatten().map(String::as_str),
            ),
        };
        parsed.map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings after merging, validated.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub max_connections: u32,
}

pub fn load_file(path: Option<&Path>) -> anyhow::Result<FileSettings> {
    let Some(path) = path else {
        return Ok(FileSettings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the settings file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in the settings file {}", path.display()))
}

impl StoreArgs {
    pub fn resolve(&self, file: &FileSettings) -> StoreSettings {
        let data_dir = self
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("cairn-data"));
        let database_url = self
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| {
                format!("sqlite://{}?mode=rwc", data_dir.join("cairn.db").display())
            });
        let max_connections = file.database_max_connections.unwrap_or(16).max(1);
        StoreSettings {
            data_dir,
            database_url,
            max_connections,
        }
    }
}

impl FileSettings {
    /// Identity's settings: the `[auth]` section and the web session lifetime.
    pub fn identity_settings(&self) -> IdentitySettings {
        let mut settings = self.auth.identity_settings();
        if let Some(hours) = self.web.session_hours {
            settings.session_ttl = Duration::from_secs(hours.clamp(1, 24 * 365) * 3600);
        }
        settings
    }
}

impl AuthFileSettings {
    fn identity_settings(&self) -> IdentitySettings {
        let d = IdentitySettings::default();
        IdentitySettings {
            token_limit: self.token_limit.unwrap_or(d.token_limit),
            allow_password_basic: self.allow_password_basic.unwrap_or(d.allow_password_basic),
            failure_limit: self.failure_limit.unwrap_or(d.failure_limit),
            failure_window: self
                .failure_window_secs
                .map(Duration::from_secs)
                .unwrap_or(d.failure_window),
            password_ceiling: self.password_ceiling.unwrap_or(d.password_ceiling),
            rate_per_second: self.rate_per_second.unwrap_or(d.rate_per_second),
            rate_burst: self.rate_burst.unwrap_or(d.rate_burst),
            auth_cache_ttl: self
                .auth_cache_ms
                .map(Duration::from_millis)
                .unwrap_or(d.auth_cache_ttl),
            session_ttl: d.session_ttl,
        }
    }
}

/// `[outbound]`: where Cairn connects on an org admin's behalf (sites, their redirects, S3
/// endpoints). Only public addresses, unless allowed here.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundFileSettings {
    /// Addresses, CIDR ranges, host names, and either with `:PORT`, that may be connected to
    /// although they are not public (and reached over plain http). `CAIRN_OUTBOUND_ALLOW`
    /// (comma-separated) replaces this list.
    pub allow: Option<Vec<String>>,
    /// S3 storages may be connected without keys, signing in with this host's ambient cloud
    /// credentials (default false).
    pub s3_ambient_credentials: Option<bool>,
}

/// The environment variable that replaces `[outbound] allow`.
pub const OUTBOUND_ALLOW_ENV: &str = "CAIRN_OUTBOUND_ALLOW";

impl OutboundFileSettings {
    /// The guard's policy: `CAIRN_OUTBOUND_ALLOW` when set (even empty), else the file's list.
    pub fn policy(&self) -> anyhow::Result<cairn_connectors::Outbound> {
        let entries: Vec<String> = match std::env::var(OUTBOUND_ALLOW_ENV) {
            Ok(list) => list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
            Err(_) => self.allow.clone().unwrap_or_default(),
        };
        cairn_connectors::Outbound::parse(&entries)
            .map_err(|e| anyhow::anyhow!("[outbound] allow ({OUTBOUND_ALLOW_ENV}): {e}"))
    }

    pub fn s3_ambient_credentials(&self) -> bool {
        self.s3_ambient_credentials.unwrap_or(false)
    }
}
