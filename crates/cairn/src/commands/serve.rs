//! `cairn serve`: the API server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use cairn_api::AppState;
use cairn_api::metrics::Metrics;
use cairn_api::tls::{Tls, TlsFiles};
use cairn_control::bootstrap::{FirstStart, first_start};
use cairn_control::jobs::run_scheduler;
use cairn_sitesim::{Access, Scale, Sim, SimConfig, SimHandle, SiteSpec};
use cairn_store::Store;

use crate::instance::Instance;
use crate::settings::{LogFormat, StoreArgs, load_file};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address and port to listen on; port 0 picks a free one. [default: 127.0.0.1:8080]
    #[arg(long, env = "CAIRN_LISTEN")]
    pub listen: Option<String>,
    /// Log lines as human text or as JSON objects. [default: text]
    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Email of the admin account made on the first start. [default: admin@cairn.local]
    #[arg(long, env = "CAIRN_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Also serve, in this process, two stand-in Atlassian sites to try Cairn on: `source`, a small
    /// generated Jira + Confluence site, and `target`, an empty one (a restore destination).
    #[arg(long, env = "CAIRN_DEMO")]
    pub demo: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Both files are
    /// read again on SIGHUP, so a renewed certificate needs no restart.
    #[arg(long, env = "CAIRN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CAIRN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve HTTPS with a self-signed certificate made in the data directory (kept for later
    /// starts), and print how to trust it. For trying Cairn; use --tls-cert in production.
    #[arg(long, env = "CAIRN_TLS", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = load_file(args.store.config.as_deref())?;
    crate::logging::init(
        args.log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
    );
    let trusted_proxies = file.server.trusted_proxies()?;
    let store_settings = args.store.resolve(&file);
    let listen = args
        .listen
        .or(file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let tls = match (
        args.tls_cert.or(file.server.tls_cert.clone()),
        args.tls_key.or(file.server.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => Some(Arc::new(Tls::load(TlsFiles { cert, key })?)),
        (None, None) if args.tls => {
            let files = self_signed(&store_settings.data_dir)?;
            Some(Arc::new(Tls::load(files)?))
        }
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both a certificate and a key (tls_cert and tls_key)"),
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{}", listener.local_addr()?);
    // The demo's stand-ins first: the outbound guard allows exactly their addresses.
    let sim = if args.demo {
        Some(start_demo_sites(listener.local_addr()?.port()).await?)
    } else {
        None
    };
    let demo_sites = sim.iter().flat_map(|sim| sim.sites()).filter_map(|site| {
        let addr = site.base_url.strip_prefix("http://")?.parse().ok()?;
        Some(cairn_connectors::Allow::Addr(addr))
    });
    let instance = Instance::open_allowing(&store_settings, &file, demo_sites.collect()).await?;

    let admin_email = args
        .admin_email
        .or(file.admin_email.clone())
        .unwrap_or_else(|| "admin@cairn.local".into());
    let first = first_start(&instance.identity, instance.store.as_ref(), &admin_email).await?;
    if let Some(first) = &first {
        print_first_start(first, &base_url);
    }

    let demo = match sim {
        Some(sim) => Some(start_demo(sim, &base_url, &instance, first.as_ref()).await?),
        None => None,
    };

    // The scheduler runs on every node: the store arbitrates, so each due run starts once.
    // Jobs wait in the queue until a node with the engine claims them.
    let stopping = Arc::new(AtomicBool::new(false));
    let scheduler = tokio::spawn(run_scheduler(
        instance.management.clone(),
        file.management.scheduler_tick(),
        stopping.clone(),
    ));
    // Every node runs workers: they claim jobs with leases, so each job runs on one node.
    let engine = instance.engine.clone();
    let worker_settings = file.management.worker_settings();
    let workers = (worker_settings.concurrency > 0).then(|| {
        let worker = Arc::new(cairn_control::jobs::Worker::new(
            instance.management.clone(),
            engine,
            worker_settings,
        ));
        tokio::spawn(worker.run(stopping.clone()))
    });
    let store: Arc<dyn Store> = instance.store.clone();
    let mut web = file.web.web_settings();
    // Served over TLS by this process: every request came over it.
    web.secure_cookies |= tls.is_some();
    let state = AppState {
        identity: instance.identity.clone(),
        management: instance.management.clone(),
        store,
        metrics: Arc::new(Metrics::default().with_site_traffic(Box::new(site_traffic))),
        web,
        trusted_proxies,
    };
    if let Some(tls) = &tls {
        tokio::spawn(reload_on_sighup(tls.clone()));
    }
    // Listening for signals before saying "serving": a SIGTERM right after it stops cleanly.
    let shutdown = shutdown_signal();
    tracing::info!(url = %base_url, database = instance.store.dialect().name(), data_dir = %store_settings.data_dir.display(), "serving");
    println!("Cairn is serving on {base_url}");
    cairn_api::serve(listener, tls, cairn_api::router(state), shutdown).await?;
    tracing::info!("stopped: requests in flight have finished");
    // Running jobs stop at their next item and leave their lease to lapse (they resume).
    stopping.store(true, Ordering::SeqCst);
    scheduler.abort();
    if let Some(workers) = workers {
        workers.abort();
    }
    if let Some(demo) = demo {
        demo.shutdown().await;
    }
    instance.store.close().await;
    Ok(())
}

/// The demo's Jira policy, found by this name on later starts.
const DEMO_POLICY: &str = "Demo: the source site's Jira";

/// Starts the demo's stand-in sites on loopback.
async fn start_demo_sites(listen_port: u16) -> anyhow::Result<SimHandle> {
    let config = |port: u16| SimConfig {
        seed: 42,
        scale: Scale::Small,
        sites: vec![SiteSpec::new("source"), SiteSpec::empty("target")],
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..SimConfig::default()
    };
    // Beside the API's port when that is fixed, so the sites keep their URLs (and with them
    // their registrations) from one start to the next.
    let sim = match listen_port.checked_add(1).filter(|_| listen_port != 0) {
        Some(port) => match Sim::start(config(port)).await {
            Ok(sim) => sim,
            Err(e) => {
                tracing::warn!(error = %e, port, "the demo sites' ports are taken; using free ones");
                Sim::start(config(0)).await?
            }
        },
        None => Sim::start(config(0)).await?,
    };
    Ok(sim)
}

/// Registers the demo's sites in the first org with a Jira policy on the source, and prints a
/// script to paste that backs the source up and restores it into the target.
async fn start_demo(
    sim: SimHandle,
    base_url: &str,
    instance: &Instance,
    first: Option<&FirstStart>,
) -> anyhow::Result<SimHandle> {
    println!("Demo sites (local stand-ins for Jira Cloud and Confluence Cloud, seed 42):");
    for site in sim.sites() {
        let what = if site.empty {
            "empty: a restore destination"
        } else {
            "a small generated site"
        };
        println!(
            "  {:<7} {}  cloudId={}  ({what})",
            site.name, site.base_url, site.cloud_id
        );
    }
    let account = sim.account(Access::ReadWrite).clone();
    println!(
        "  site account (read-write): {} / {}",
        account.email, account.api_token
    );

    let org = match first {
        Some(first) => first.org.id.clone(),
        None => {
            instance
                .identity
                .list_orgs()
                .await?
                .into_iter()
                .next()
                .context("the demo needs an organization")?
                .id
        }
    };
    let management = &instance.management;
    let actor = cairn_control::identity::Actor::cli();
    let mut ids = std::collections::BTreeMap::new();
    for site in sim.sites() {
        let new = cairn_control::management::NewSite {
            cloud_url: site.base_url.clone(),
            email: account.email.clone(),
            api_token: account.api_token.clone(),
            cloud_name: Some(format!("Demo {}", site.name)),
        };
        match management.register_site(&org, &actor, new).await {
            Ok(_) => {}
            Err(cairn_control::ControlError::Conflict(_)) => {
                let known = management.get_site(&org, &site.cloud_id).await?;
                if known.cloud_url != site.base_url {
                    println!(
                        "  note: the {} site is registered at {}; remove it with `cairn site remove` \
                         to register it at its new address",
                        site.name, known.cloud_url
                    );
                }
            }
            Err(e) => return Err(e).with_context(|| format!("registering the {} site", site.name)),
        }
        ids.insert(site.name.clone(), site.cloud_id.clone());
    }
    let (source, target) = (&ids["source"], &ids["target"]);
    let policies = management
        .list_policies(
            &cairn_store::PolicyFilter {
                org_id: org.clone(),
                cloud_id: Some(source.clone()),
                product: Some(cairn_store::Product::Jira),
                status: None,
            },
            cairn_store::PageQuery {
                offset: 0,
                limit: 100,
                descending: false,
            },
        )
        .await?;
    let policy = match policies
        .items
        .into_iter()
        .find(|p| p.policy.name == DEMO_POLICY)
    {
        Some(p) => p.policy.id,
        None => {
            let new = cairn_control::management::NewPolicy {
                name: DEMO_POLICY.into(),
                cloud_id: source.clone(),
                product: cairn_store::Product::Jira,
                include_attachments: Some(true),
                include_users: None,
                include_personal_spaces: None,
                storage_id: None,
                schedule: None,
                retention_days: None,
                activate: false,
            };
            management.create_policy(&org, &actor, new).await?.policy.id
        }
    };
    let auth = match first {
        Some(first) => format!("{}:{}", first.admin.email, first.token.secret.expose()),
        None => "ADMIN_EMAIL:API_TOKEN".into(),
    };
    println!(
        "\nBoth sites are registered, with a Jira policy on the source ({policy}).{later}\n\
         Paste this into a shell to back the source up and restore it into the empty target:\n\n\
         {DEMO_SCRIPT_START}\n\
         CAIRN={base_url}/public/backup-management/v2/orgs/{org}\n\
         AUTH='{auth}'\n\
         # Back up the source's Jira now, and wait for the backup to end:\n\
         BACKUP=$(curl -s --user \"$AUTH\" -X POST $CAIRN/policies/{policy}/backups | sed 's/.*\"backupId\":\"\\([^\"]*\\)\".*/\\1/')\n\
         while curl -s --user \"$AUTH\" $CAIRN/backups/$BACKUP | grep -Eq '\"status\":\"(CREATED|IN_PROGRESS)\"'; do sleep 1; done\n\
         curl -s --user \"$AUTH\" $CAIRN/backups/$BACKUP; echo\n\
         # Restore it into the empty target site, and wait for the restore to end:\n\
         RESTORE=$(curl -s --user \"$AUTH\" -H 'Content-Type: application/json' -X POST $CAIRN/restores \\\n\
         \x20 -d \"{{\\\"backupId\\\":\\\"$BACKUP\\\",\\\"destinationCloudId\\\":\\\"{target}\\\"}}\" | sed 's/.*\"restoreId\":\"\\([^\"]*\\)\".*/\\1/')\n\
         while curl -s --user \"$AUTH\" $CAIRN/restores/$RESTORE | grep -Eq '\"status\":\"(CREATED|IN_PROGRESS)\"'; do sleep 1; done\n\
         curl -s --user \"$AUTH\" $CAIRN/restores/$RESTORE; echo\n\
         {DEMO_SCRIPT_END}\n",
        later = if first.is_some() {
            ""
        } else {
            " Put the admin's email and API token (printed on the first start) in AUTH."
        },
    );
    Ok(sim)
}

/// The lines around the demo's script (tests run what lies between them).
const DEMO_SCRIPT_START: &str = "# ---- 8< ---- demo script";
const DEMO_SCRIPT_END: &str = "# ---- >8 ----";

fn print_first_start(first: &FirstStart, base_url: &str) {
    let token = first.token.secret.expose();
    println!(
        "\nCairn is set up. These are shown only this once: keep them somewhere safe.\n\n\
         \x20 Organization id:  {org}\n\
         \x20 Admin email:      {email}\n\
         \x20 Web password:     {password}\n\
         \x20 API token:        {token}\n\n\
         Log in at {base_url}/login to manage API tokens.\n\n\
         Try it:\n\
         \x20 curl --user '{email}:{token}' \\\n\
         \x20   {base_url}/public/backup-management/v2/orgs/{org}/audit-events\n",
        org = first.org.id,
        email = first.admin.email,
        password = first.password,
    );
}

/// Waits for SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives just after the server says it is serving
/// still stops it cleanly instead of killing the process.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// The self-signed certificate of `--tls` (for `localhost`, 127.0.0.1 and ::1), made once in
/// `DATA_DIR/tls/` and kept, so a client told to trust it once keeps trusting it.
fn self_signed(data_dir: &std::path::Path) -> anyhow::Result<TlsFiles> {
    let dir = data_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("self-signed.crt"),
        key: dir.join("self-signed.key"),
    };
    if !(files.cert.exists() && files.key.exists()) {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let made = rcgen::generate_simple_self_signed(names)
            .context("making a self-signed certificate")?;
        write_private(&files.key, made.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&files.cert, made.cert.pem())
            .with_context(|| format!("writing {}", files.cert.display()))?;
    }
    let cert = files.cert.display();
    println!("HTTPS with a self-signed certificate: {cert}");
    println!(
        "  trust it with: curl --cacert {cert} ...   or   REQUESTS_CA_BUNDLE={cert} python3 ..."
    );
    Ok(files)
}

/// Writes a file only its owner may read (a private key).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads the certificate and key again on every SIGHUP. A reload that fails (a renewal half
/// written, a key that does not match) keeps the certificate in use and says why.
async fn reload_on_sighup(tls: Arc<Tls>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP; the certificate is read at start only");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => {
                tracing::info!(cert = %tls.files().cert.display(), "TLS certificate reloaded")
            }
            Err(err) => {
                tracing::error!(error = %err, "TLS certificate not reloaded; the one in use stays")
            }
        }
    }
}

/// This node's traffic to each Atlassian site, from the connectors' registry, for `/metrics`.
fn site_traffic() -> Vec<cairn_api::metrics::SiteTraffic> {
    cairn_connectors::site_traffic()
        .into_iter()
        .map(|t| cairn_api::metrics::SiteTraffic {
            site: t.site,
            requests: t.stats.requests,
            rate_limited: t.stats.limited_by.labelled().to_vec(),
            waiting: t.stats.waiting,
            budget_waited_seconds: t.stats.budget_waited.as_secs_f64(),
            concurrency: t.stats.concurrency,
        })
        .collect()
}
