//! A whole Cairn installation for other crates' tests (feature `testing`): a throw-away store,
//! the identity and management services over it, an organization with an admin and an API token,
//! and the sites and storages registration may reach.
//!
//! The control, engine and API tests each used to wire this by hand; they now differ only in what
//! they put in front of it (a scripted or a real engine, the site stand-in, an HTTP server).
//!
//! ```ignore
//! let install = TestInstallation::builder(TestDb::sqlite().await).build().await;
//! install.management.register_site(&install.org.id, &Actor::cli(), ...).await?;
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cairn_store::testing::TestDb;
use cairn_store::{AccountRecord, OrgRecord, Product, SiteProduct, SqlStore, Store};

use crate::clock::{Clock, SystemClock};
use crate::identity::{Actor, Identity, IdentitySettings, NewAccount};
use crate::management::{
    Management, ManagementSettings, ProbeError, S3Target, SiteFacts, SiteProbe, StorageProbe,
};
use crate::secret::ServerSecret;

/// The email of the admin every test installation has.
pub const ADMIN_EMAIL: &str = "admin@example.com";

/// A running installation; the database lives as long as this value.
pub struct TestInstallation {
    pub store: Arc<dyn Store>,
    pub secret: ServerSecret,
    pub clock: Arc<dyn Clock>,
    pub identity: Arc<Identity>,
    pub management: Arc<Management>,
    /// The first organization (and the admin's).
    pub org: OrgRecord,
    /// An org admin of [`Self::org`] (with a web password only when the builder gave one).
    pub admin: AccountRecord,
    /// The admin's API token, in clear.
    pub token: String,
    pub db: TestDb,
    sites: Arc<dyn SiteProbe>,
    storages: Arc<dyn StorageProbe>,
    settings: ManagementSettings,
}

/// A second node of an installation: its own connections to the same database and its own
/// management service, as another `cairn serve` would have.
pub struct TestNode {
    pub store: Arc<SqlStore>,
    pub management: Arc<Management>,
}

impl TestInstallation {
    pub fn builder(db: TestDb) -> TestInstallationBuilder {
        TestInstallationBuilder {
            db,
            clock: Arc::new(SystemClock),
            sites: Arc::new(Unreachable),
            storages: Arc::new(Unreachable),
            management: ManagementSettings::default(),
            identity: IdentitySettings::default(),
            org_ids: Vec::new(),
            admin_password: None,
        }
    }

    /// Another node on the same database (close its store to stop it as a killed process would).
    pub async fn node(&self) -> TestNode {
        let store = Arc::new(self.db.connect().await);
        let management = Arc::new(Management::new(
            store.clone(),
            self.clock.clone(),
            self.secret.clone(),
            self.settings.clone(),
            self.sites.clone(),
            self.storages.clone(),
        ));
        TestNode { store, management }
    }
}

/// What differs between the crates' tests; everything else is the same wiring.
pub struct TestInstallationBuilder {
    db: TestDb,
    clock: Arc<dyn Clock>,
    sites: Arc<dyn SiteProbe>,
    storages: Arc<dyn StorageProbe>,
    management: ManagementSettings,
    identity: IdentitySettings,
    org_ids: Vec<String>,
    admin_password: Option<String>,
}

impl TestInstallationBuilder {
    /// Gives the admin this web password (default: none, API tokens only).
    pub fn admin_password(mut self, password: &str) -> Self {
        self.admin_password = Some(password.to_string());
        self
    }

    /// The clock both services read (a `ManualClock` for tests that move time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What site registration finds at a URL (default: nothing anywhere).
    pub fn sites(mut self, sites: Arc<dyn SiteProbe>) -> Self {
        self.sites = sites;
        self
    }

    /// What connecting an S3 storage finds (default: nothing anywhere).
    pub fn storages(mut self, storages: Arc<dyn StorageProbe>) -> Self {
        self.storages = storages;
        self
    }

    pub fn management_settings(mut self, settings: ManagementSettings) -> Self {
        self.management = settings;
        self
    }

    pub fn identity_settings(mut self, settings: IdentitySettings) -> Self {
        self.identity = settings;
        self
    }

    /// Organizations with these ids instead of one generated id, for tests that name their
    /// organizations; the admin belongs to the first.
    pub fn org_ids(mut self, ids: &[&str]) -> Self {
        self.org_ids = ids.iter().map(|id| id.to_string()).collect();
        self
    }

    pub async fn build(self) -> TestInstallation {
        let store: Arc<dyn Store> = Arc::new(self.db.connect().await);
        let secret = ServerSecret::generate().expect("server secret");
        let identity = Arc::new(
            Identity::new(
                store.clone(),
                secret.clone(),
                self.clock.clone(),
                self.identity,
            )
            .expect("identity service"),
        );
        let management = Arc::new(Management::new(
            store.clone(),
            self.clock.clone(),
            secret.clone(),
            self.management.clone(),
            self.sites.clone(),
            self.storages.clone(),
        ));
        let org = if self.org_ids.is_empty() {
            identity
                .create_org("Acme", &Actor::cli())
                .await
                .expect("create org")
        } else {
            let now = self.clock.now();
            for id in &self.org_ids {
                let org = OrgRecord {
                    id: id.clone(),
                    name: id.clone(),
                    created_at: now,
                };
                store.insert_org(&org).await.expect("insert org");
            }
            store
                .get_org(&self.org_ids[0])
                .await
                .expect("read org")
                .expect("the org just inserted")
        };
        let admin = identity
            .create_account(
                NewAccount {
                    email: ADMIN_EMAIL.into(),
                    display_name: None,
                    password: self.admin_password,
                    org_id: Some(org.id.clone()),
                    org_admin: true,
                },
                &Actor::cli(),
            )
            .await
            .expect("create admin");
        let token = identity
            .create_token(&admin.id, "test", None, &Actor::cli())
            .await
            .expect("create token")
            .secret
            .expose()
            .to_string();
        TestInstallation {
            store,
            secret,
            clock: self.clock,
            identity,
            management,
            org,
            admin,
            token,
            db: self.db,
            sites: self.sites,
            storages: self.storages,
            settings: self.management,
        }
    }
}

/// Sites registration can find, by URL, each with the API token it accepts; changeable mid-test.
#[derive(Default)]
pub struct FixedSites(Mutex<HashMap<String, (String, SiteFacts)>>);

impl FixedSites {
    /// A site at `url` that answers `token` with `facts` (any other token is unauthorized).
    pub fn add(&self, url: &str, token: &str, facts: SiteFacts) {
        let key = url.trim_end_matches('/').to_string();
        self.0
            .lock()
            .expect("sites lock")
            .insert(key, (token.to_string(), facts));
    }
}

/// A site with Jira and Confluence, each empty or not.
pub fn site_facts(
    cloud_id: &str,
    cloud_name: Option<&str>,
    jira_empty: bool,
    confluence_empty: bool,
) -> SiteFacts {
    SiteFacts {
        cloud_id: cloud_id.into(),
        cloud_name: cloud_name.map(str::to_string),
        products: vec![
            SiteProduct {
                product: Product::Jira,
                is_empty: jira_empty,
            },
            SiteProduct {
                product: Product::Confluence,
                is_empty: confluence_empty,
            },
        ],
    }
}

#[async_trait]
impl SiteProbe for FixedSites {
    async fn probe(&self, url: &str, _email: &str, token: &str) -> Result<SiteFacts, ProbeError> {
        let sites = self.0.lock().expect("sites lock");
        match sites.get(url.trim_end_matches('/')) {
            None => Err(ProbeError::NotASite(url.into())),
            Some((accepted, _)) if accepted != token => Err(ProbeError::Unauthorized),
            Some((_, facts)) => Ok(facts.clone()),
        }
    }
}

/// No site and no storage answers: for tests that never register one.
pub struct Unreachable;

#[async_trait]
impl SiteProbe for Unreachable {
    async fn probe(&self, _: &str, _: &str, _: &str) -> Result<SiteFacts, ProbeError> {
        Err(ProbeError::Unreachable("no sites in this test".into()))
    }
}

#[async_trait]
impl StorageProbe for Unreachable {
    async fn probe(&self, _: &S3Target) -> Result<(), ProbeError> {
        Err(ProbeError::Unreachable("no storages in this test".into()))
    }
}

/// Every S3 storage answers: for tests about the records, not the bytes.
pub struct AnyStorage;

#[async_trait]
impl StorageProbe for AnyStorage {
    async fn probe(&self, _: &S3Target) -> Result<(), ProbeError> {
        Ok(())
    }
}
