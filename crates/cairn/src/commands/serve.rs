//! `cairn serve`: the API server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use cairn_api::AppState;
use cairn_api::metrics::Metrics;
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
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = load_file(args.store.config.as_deref())?;
    crate::logging::init(
        args.log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
    );
    let store_settings = args.store.resolve(&file);
    let instance = Instance::open(&store_settings, &file).await?;
    let listen = args
        .listen
        .or(file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let base_url = format!("http://{}", listener.local_addr()?);

    let admin_email = args
        .admin_email
        .or(file.admin_email.clone())
        .unwrap_or_else(|| "admin@cairn.local".into());
    if let Some(first) =
        first_start(&instance.identity, instance.store.as_ref(), &admin_email).await?
    {
        print_first_start(&first, &base_url);
    }

    let demo = if args.demo {
        Some(start_demo(&base_url).await?)
    } else {
        None
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
    let state = AppState {
        identity: instance.identity.clone(),
        management: instance.management.clone(),
        store,
        metrics: Arc::new(Metrics::default()),
        web: file.web.web_settings(),
    };
    tracing::info!(url = %base_url, database = instance.store.dialect().name(), data_dir = %store_settings.data_dir.display(), "serving");
    println!("Cairn is serving on {base_url}");
    cairn_api::serve(listener, cairn_api::router(state), shutdown_signal()).await?;
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

/// Starts the demo's stand-in sites and says how to reach them.
async fn start_demo(base_url: &str) -> anyhow::Result<SimHandle> {
    let sim = Sim::start(SimConfig {
        seed: 42,
        scale: Scale::Small,
        sites: vec![SiteSpec::new("source"), SiteSpec::empty("target")],
        ..SimConfig::default()
    })
    .await
    .context("starting the demo sites")?;
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
    let account = sim.account(Access::ReadWrite);
    println!(
        "  site account (read-write): {} / {}",
        account.email, account.api_token
    );
    let source = sim
        .sites()
        .into_iter()
        .find(|s| !s.empty)
        .context("the demo has no source site")?;
    println!(
        "\nBack the source site up (set ORG and TOKEN to the organization id and API token \
         printed on the first start):\n\
         \x20 API={base_url}/public/backup-management/v2/orgs/$ORG\n\
         \x20 curl -s --user \"admin@cairn.local:$TOKEN\" -H 'content-type: application/json' \\\n\
         \x20   -X POST $API/sites -d '{{\"cloudUrl\":\"{url}\",\"email\":\"{email}\",\"apiToken\":\"{token}\"}}'\n\
         \x20 curl -s --user \"admin@cairn.local:$TOKEN\" -H 'content-type: application/json' \\\n\
         \x20   -X POST $API/policies -d '{{\"policyName\":\"demo\",\"cloudId\":\"{cloud}\",\"productType\":\"JIRA\"}}'\n\
         \x20 curl -s --user \"admin@cairn.local:$TOKEN\" -X PUT $API/policies/POLICY_ID/activate   # starts a backup\n\
         \x20 curl -s --user \"admin@cairn.local:$TOKEN\" $API/backups   # status, progress, sizes, stats\n",
        url = source.base_url,
        cloud = source.cloud_id,
        email = account.email,
        token = account.api_token,
    );
    Ok(sim)
}

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

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
