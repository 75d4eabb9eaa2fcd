//! `cairn sim ...`: serve local Jira/Confluence stand-ins (see crates/cairn-sitesim).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use cairn_sitesim::throttle::Latency;
use cairn_sitesim::{Account, Counts, FaultSpec, Scale, Sim, SimConfig, SiteSpec, ThrottleSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    /// Seed of the generated content: the same seed gives the same sites, byte for byte.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// small, medium or large.
    #[arg(long, default_value = "small")]
    pub scale: Scale,
    /// Override the scale's number of issues.
    #[arg(long)]
    pub issues: Option<usize>,
    /// Override the scale's number of projects.
    #[arg(long)]
    pub projects: Option<usize>,
    /// Override the scale's number of Confluence pages.
    #[arg(long)]
    pub pages: Option<usize>,
    /// Sites to serve, comma-separated; `NAME:empty` starts a site without content.
    #[arg(long, default_value = "source")]
    pub sites: String,
    /// Address to listen on; port 0 gives each site a free port, otherwise port, port+1, ...
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// TOML file of accounts (`[[account]]` with email, api_token, access = "read-only" | "read-write").
    /// Without it two accounts are generated and printed.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// JSON file of faults active from the start (the body of `PUT /__sim/faults`).
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Rate limits of every site, as Atlassian applies them to API-token traffic (each site has
    /// its own budgets): comma-separated `burst=N` (requests per second per endpoint and method),
    /// `burst-capacity=N`, `issue-writes=N/SECONDSs` (writes to one issue; repeatable) and
    /// `hourly=N` (tenant quota per product). Example:
    /// `burst=10,issue-writes=20/2s,issue-writes=100/30s,hourly=65000`.
    #[arg(long, value_parser = ThrottleSpec::parse_rate_limit)]
    pub rate_limit: Option<ThrottleSpec>,
    /// Median latency of every site request, in ms (log-normal; with --latency-p99-ms).
    #[arg(long, requires = "latency_p99_ms")]
    pub latency_median_ms: Option<f64>,
    /// 99th percentile of the latency, in ms (at least the median).
    #[arg(long, requires = "latency_median_ms")]
    pub latency_p99_ms: Option<f64>,
    /// Seed of the latency samples (default: --seed).
    #[arg(long)]
    pub latency_seed: Option<u64>,
    /// Print one JSON line `{"sites": [...], "accounts": [...]}` when ready.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Change, add and delete about N% of a running site's content.
    Mutate {
        /// Base URL of the running site (as printed by `cairn sim`).
        #[arg(long)]
        url: String,
        #[arg(long)]
        percent: f64,
        /// A read-write account of the simulation, `EMAIL:API_TOKEN` (as printed by `cairn sim`):
        /// the control path needs it.
        #[arg(long, env = "CAIRN_SIM_USER")]
        user: String,
    },
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    if let Some(SimCommand::Mutate { url, percent, user }) = &args.command {
        let body = post(url, &format!("/__sim/mutate?percent={percent}"), user).await?;
        println!("{body}");
        return Ok(());
    }
    let mut counts: Counts = args.scale.counts();
    if let Some(n) = args.issues {
        counts.issues = n;
    }
    if let Some(n) = args.projects {
        counts.projects = n;
    }
    if let Some(n) = args.pages {
        counts.pages = n;
    }
    let accounts = match &args.users {
        Some(p) => Account::load_toml(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => vec![],
    };
    let faults: FaultSpec = match &args.faults {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => FaultSpec::default(),
    };
    let mut throttle = args.rate_limit.clone().unwrap_or_default();
    if let (Some(median_ms), Some(p99_ms)) = (args.latency_median_ms, args.latency_p99_ms) {
        throttle.latency = Some(Latency {
            median_ms,
            p99_ms,
            seed: args.latency_seed.unwrap_or(args.seed),
        });
    }
    throttle.validate().map_err(anyhow::Error::msg)?;
    let sites = SiteSpec::parse_list(&args.sites);
    anyhow::ensure!(!sites.is_empty(), "--sites names no site");
    let sim = Sim::start(SimConfig {
        seed: args.seed,
        scale: args.scale,
        counts: Some(counts),
        sites,
        accounts,
        listen: args.listen,
        faults,
        throttle,
        ..SimConfig::default()
    })
    .await?;
    // SIGTERM or SIGINT: stop accepting, finish requests in flight, remove upload files. Listened
    // for before the sites are announced, so a signal right after it still stops cleanly.
    let shutdown = super::serve::shutdown_signal();
    if args.json {
        println!("{}", sim.ready_json());
    } else {
        for s in sim.sites() {
            println!(
                "{}\t{}\tcloudId={}{}",
                s.name,
                s.base_url,
                s.cloud_id,
                if s.empty { "\t(empty)" } else { "" }
            );
        }
        for a in sim.accounts() {
            println!("account\t{}\t{}\t{:?}", a.email, a.api_token, a.access);
        }
        let allow: Vec<String> = sim
            .sites()
            .iter()
            .filter_map(|s| s.base_url.strip_prefix("http://").map(String::from))
            .collect();
        eprintln!(
            "Cairn connects only to public addresses: run cairn serve with \
             CAIRN_OUTBOUND_ALLOW={} to register these sites",
            allow.join(",")
        );
    }
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

/// A minimal HTTP/1.1 POST to the sim's control path (loopback only; no client dependency).
async fn post(base: &str, path: &str, user: &str) -> anyhow::Result<String> {
    use base64::Engine;
    anyhow::ensure!(user.contains(':'), "--user must be EMAIL:API_TOKEN");
    let auth = base64::engine::general_purpose::STANDARD.encode(user);
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    anyhow::ensure!(
        !base.starts_with("https://"),
        "the stand-in serves plain http"
    );
    let mut s = tokio::net::TcpStream::connect(hostport)
        .await
        .with_context(|| format!("connecting to {hostport}"))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: Basic {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{}",
        head.lines().next().unwrap_or("")
    );
    Ok(body.trim().to_string())
}
