//! A test installation (`cairn_control::testing`) on a real SQLite store, with the engine behind
//! a real worker, and a site stand-in with a seeded source and empty destinations: what the
//! backup and restore tests share.

#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use cairn_control::identity::Actor;
use cairn_control::jobs::{Worker, WorkerSettings};
use cairn_control::management::{Management, NewPolicy, NewRestore, NewSite};
use cairn_control::testing::{FixedSites, TestInstallation, site_facts};
use cairn_engine::{AtlassianEngine, EngineSettings};
use cairn_sitesim::{Access, Counts, Scale, Sim, SimConfig, SimHandle, SiteSpec};
use cairn_store::testing::TestDb;
use cairn_store::{BackupRecord, Product, RestoreRecord, Store};
use serde_json::Value;

pub struct World {
    pub sim: Arc<SimHandle>,
    pub management: Arc<Management>,
    pub store: Arc<dyn Store>,
    pub org: String,
    engine: Arc<AtlassianEngine>,
    settings: EngineSettings,
    sites: Arc<FixedSites>,
    install: TestInstallation,
    data: tempfile::TempDir,
}

/// The small generated site most tests use.
pub fn small() -> Counts {
    Counts {
        projects: 3,
        issues: 40,
        spaces: 2,
        pages: 14,
        blogposts: 3,
        attachment_percent: 40,
        attachment_max: 100_000,
        ..Scale::Small.counts()
    }
}

/// Small generated sites: `src` (seeded) and the named empty destinations.
pub async fn world(seed: u64, empty: &[&str]) -> World {
    world_of(seed, small(), empty).await
}

/// `src` generated with `counts`, and the named empty destinations.
pub async fn world_of(seed: u64, counts: Counts, empty: &[&str]) -> World {
    world_with(seed, counts, empty, test_settings()).await
}

/// The engine's settings in these tests: backups commit a checkpoint every 25 items, so that
/// every backup goes through checkpoints and carries them into its snapshot.
pub fn test_settings() -> EngineSettings {
    EngineSettings {
        checkpoint_items: 25,
        connector: loopback(),
        ..Default::default()
    }
}

/// Connector settings allowed to reach the stand-ins on loopback.
pub fn loopback() -> cairn_connectors::Settings {
    cairn_connectors::Settings {
        outbound: cairn_connectors::Outbound::loopback(),
        ..Default::default()
    }
}

/// [`world_of`] with the engine set up by `settings`.
pub async fn world_with(
    seed: u64,
    counts: Counts,
    empty: &[&str],
    settings: EngineSettings,
) -> World {
    let mut sites = vec![SiteSpec::new("src")];
    sites.extend(empty.iter().map(|n| SiteSpec::empty(n)));
    let sim = Arc::new(
        Sim::start(SimConfig {
            seed,
            counts: Some(counts),
            sites,
            ..Default::default()
        })
        .await
        .unwrap(),
    );
    // Registration finds each of the stand-in's sites at its URL, as the binary's probe would.
    let account = sim.account(Access::ReadWrite).clone();
    let sites = Arc::new(FixedSites::default());
    for s in sim.sites() {
        let facts = site_facts(&s.cloud_id, Some(&s.name), s.empty, s.empty);
        sites.add(&s.base_url, &account.api_token, facts);
    }
    let install = TestInstallation::builder(TestDb::sqlite().await)
        .sites(sites.clone())
        .build()
        .await;
    let (management, org) = (install.management.clone(), install.org.id.clone());
    for s in sim.sites() {
        management
            .register_site(
                &org,
                &Actor::cli(),
                NewSite {
                    cloud_url: s.base_url.clone(),
                    email: account.email.clone(),
                    api_token: account.api_token.clone(),
                    cloud_name: Some(s.name.clone()),
                },
            )
            .await
            .unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    let engine = Arc::new(AtlassianEngine::new(
        data.path().to_path_buf(),
        install.secret.clone(),
        settings.clone(),
    ));
    World {
        sim,
        management,
        store: install.store.clone(),
        org,
        engine,
        settings,
        sites,
        install,
        data,
    }
}

/// A worker running one job at a time.
fn worker_of(management: Arc<Management>, engine: Arc<AtlassianEngine>, lease: Duration) -> Worker {
    Worker::new(
        management,
        engine,
        WorkerSettings {
            concurrency: 1,
            lease,
            poll: Duration::from_millis(50),
        },
    )
}

impl World {
    /// Runs the next jobs with an engine set up by `settings` (same data directory and secret).
    pub fn set_settings(&mut self, settings: EngineSettings) {
        self.engine = Arc::new(AtlassianEngine::new(
            self.data.path().to_path_buf(),
            self.install.secret.clone(),
            settings.clone(),
        ));
        self.settings = settings;
    }

    /// Registers site `name` again at `url` (a proxy in front of it); it has no policy yet.
    pub async fn register_at(&self, name: &str, url: &str) {
        let account = self.sim.account(Access::ReadWrite).clone();
        let site = self
            .sim
            .sites()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        let facts = site_facts(&site.cloud_id, Some(&site.name), site.empty, site.empty);
        self.sites.add(url, &account.api_token, facts);
        let cloud_id = self.sim.cloud_id(name);
        self.management
            .remove_site(&self.org, &Actor::cli(), &cloud_id)
            .await
            .unwrap();
        self.management
            .register_site(
                &self.org,
                &Actor::cli(),
                NewSite {
                    cloud_url: url.to_string(),
                    email: account.email,
                    api_token: account.api_token,
                    cloud_name: Some(name.to_string()),
                },
            )
            .await
            .unwrap();
    }

    pub fn worker(&self, lease: Duration) -> Worker {
        worker_of(self.management.clone(), self.engine.clone(), lease)
    }

    /// Runs every due job to its end.
    pub async fn drain(&self) {
        let w = self.worker(Duration::from_secs(60));
        let stop = Arc::new(AtomicBool::new(false));
        while w.run_one(&stop).await.unwrap() {}
    }

    /// A completed backup of the source's product, with attachments (and users).
    pub async fn backup(&self, product: Product) -> String {
        let policy = self.policy(product).await;
        let b = self.run_backup(&policy).await;
        assert_eq!(b.status.to_string(), "COMPLETED", "{}", b.status_message);
        b.id
    }

    /// A policy backing up the source's product with attachments, users and personal spaces.
    pub async fn policy(&self, product: Product) -> String {
        self.management
            .create_policy(
                &self.org,
                &Actor::cli(),
                NewPolicy {
                    name: format!("{product} of src"),
                    cloud_id: self.sim.cloud_id("src"),
                    product,
                    include_attachments: Some(true),
                    include_users: Some(true),
                    include_personal_spaces: Some(true),
                    storage_id: None,
                    schedule: None,
                    retention_days: None,
                    activate: false,
                },
            )
            .await
            .unwrap()
            .policy
            .id
    }

    /// Starts a backup of `policy` now.
    pub async fn start_backup(&self, policy: &str) -> BackupRecord {
        self.management
            .run_backup_now(&self.org, &Actor::cli(), policy)
            .await
            .unwrap()
    }

    /// Runs a backup of `policy` to its end; returns it as it ended.
    pub async fn run_backup(&self, policy: &str) -> BackupRecord {
        let b = self.start_backup(policy).await;
        self.drain().await;
        self.backup_record(&b.id).await
    }

    pub async fn backup_record(&self, id: &str) -> BackupRecord {
        self.management.get_backup(&self.org, id).await.unwrap()
    }

    /// `stats` of a finished backup.
    pub async fn stats(&self, id: &str) -> Value {
        let b = self.backup_record(id).await;
        serde_json::to_value(b.stats).unwrap()
    }

    /// The vault snapshot a finished backup wrote.
    pub async fn snapshot(&self, backup: &str) -> cairn_vault::SnapshotReader {
        let b = self.backup_record(backup).await;
        let access = self
            .management
            .storage_access(&self.org, &b.storage_id)
            .await
            .unwrap();
        let repo = self.engine.vault(&access).await.unwrap();
        repo.reader(b.snapshot_id.as_deref().expect("the backup has a snapshot"))
            .await
            .unwrap()
    }

    /// Snapshots in the vault that belong to a backup (its own and any checkpoints left).
    pub async fn snapshots_of(&self, backup: &str) -> usize {
        let b = self.backup_record(backup).await;
        let access = self
            .management
            .storage_access(&self.org, &b.storage_id)
            .await
            .unwrap();
        let repo = self.engine.vault(&access).await.unwrap();
        repo.snapshots()
            .await
            .unwrap()
            .snapshots
            .iter()
            .filter(|s| {
                s.file
                    .meta
                    .get(cairn_engine::layout::meta::BACKUP_ID)
                    .map(String::as_str)
                    == Some(backup)
            })
            .count()
    }

    /// Every file of a backup's snapshot: path and size.
    pub async fn files(&self, backup: &str) -> BTreeMap<String, u64> {
        let snap = self.snapshot(backup).await;
        snap.walk("")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind != cairn_vault::EntryKind::Dir)
            .map(|e| (e.path, e.size))
            .collect()
    }

    /// Runs the next job on a node of its own (its own runtime, database connections and engine)
    /// and kills that node once `progress` reaches `after`. Its connections are closed first,
    /// then its runtime is dropped: like a killed process, it writes nothing more to the
    /// database, and its lease lapses (after 2 s, which this waits out).
    pub async fn kill_job_after(&self, after: usize, progress: impl Fn(&World) -> usize) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let node = self.install.node().await;
        let store = node.store.clone();
        let engine = Arc::new(AtlassianEngine::new(
            self.data.path().to_path_buf(),
            self.install.secret.clone(),
            self.settings.clone(),
        ));
        let worker = worker_of(node.management, engine, Duration::from_secs(2));
        rt.spawn(async move {
            let stop = Arc::new(AtomicBool::new(false));
            let _ = worker.run_one(&stop).await;
        });
        let progress = &progress;
        until(
            Duration::from_secs(120),
            "the job did not get going",
            || async move { progress(self) >= after },
        )
        .await;
        store.close().await;
        rt.shutdown_background();
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }

    pub async fn start_restore(
        &self,
        backup: &str,
        destination: &str,
        project_keys: Option<Vec<String>>,
        space_keys: Option<Vec<String>>,
    ) -> RestoreRecord {
        self.management
            .create_restore(
                &self.org,
                &Actor::cli(),
                NewRestore {
                    backup_id: backup.into(),
                    destination_cloud_id: self.sim.cloud_id(destination),
                    project_keys,
                    space_keys,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    }

    /// A restore of single items: Jira issue keys or Confluence page ids, by the backup's product.
    pub async fn start_item_restore(
        &self,
        backup: &str,
        destination: &str,
        items: Vec<String>,
    ) -> RestoreRecord {
        let product = self.backup_record(backup).await.product;
        let (issue_keys, page_ids) = match product {
            Product::Jira => (Some(items), None),
            Product::Confluence => (None, Some(items)),
        };
        self.management
            .create_restore(
                &self.org,
                &Actor::cli(),
                NewRestore {
                    backup_id: backup.into(),
                    destination_cloud_id: self.sim.cloud_id(destination),
                    issue_keys,
                    page_ids,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    }

    pub async fn restore_record(&self, id: &str) -> RestoreRecord {
        self.management.get_restore(&self.org, id).await.unwrap()
    }

    /// `result` of a finished restore.
    pub async fn result(&self, id: &str) -> Value {
        let r = self.restore_record(id).await;
        serde_json::to_value(r.result).unwrap()
    }
}

/// Waits until `ready` says so, asking every 10 ms; fails with `what` once `within` has passed, so
/// that what never comes fails the test instead of hanging it.
pub async fn until<F, Fut>(within: Duration, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !ready().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} (waited {within:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Differences between two sites apart from the documented ones: personal spaces (no API
/// creates them) and the origin property each restored item carries (see
/// `cairn_engine::origin`).
pub fn differences(sim: &SimHandle, a: &str, b: &str) -> Vec<cairn_sitesim::Difference> {
    let ignore = cairn_sitesim::digest::Ignore {
        personal_spaces: true,
        ..origin_ignored()
    };
    sim.diff_ignoring(a, b, &ignore)
}

/// Leaves out the origin property each restored item carries.
pub fn origin_ignored() -> cairn_sitesim::digest::Ignore {
    cairn_sitesim::digest::Ignore {
        properties: vec![cairn_engine::origin::PROPERTY.to_string()],
        personal_spaces: false,
    }
}
