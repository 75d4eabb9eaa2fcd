//! One module per top-level subcommand. Each owns its clap types and a `run` function.

pub mod account;
pub mod archive;
pub mod backup;
pub mod org;
mod output;
pub mod policy;
pub mod restore;
pub mod restore_archive;
pub mod serve;
pub mod sim;
pub mod site;
pub mod storage;
pub mod token;
pub mod vault;

use anyhow::bail;
use cairn_api::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_START, PageRequest};
use cairn_control::identity::Identity;

use crate::instance::Instance;
use crate::settings::{StoreArgs, load_file};

/// Opens the installation the management commands work on: the same data directory or database
/// as a running server.
async fn open_instance(args: &StoreArgs) -> anyhow::Result<Instance> {
    let file = load_file(args.config.as_deref())?;
    Instance::open(&args.resolve(&file), &file).await
}

/// What every Backup Management command takes: where the installation is, which organization,
/// and how to print.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct ManagementArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The organization to work in [default: the only one, if there is exactly one].
    #[arg(long = "org", value_name = "ORG_ID", global = true)]
    pub org_id: Option<String>,
    /// Print the API's JSON (the same shape as the HTTP response) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ManagementArgs {
    /// Opens the installation and settles the organization.
    async fn open(&self) -> anyhow::Result<(Instance, String)> {
        let instance = open_instance(&self.store).await?;
        let org_id = chosen_org(&instance.identity, self.org_id.clone()).await?;
        Ok((instance, org_id))
    }
}

/// The organization a command works in: the one named, or the only one there is.
async fn chosen_org(identity: &Identity, named: Option<String>) -> anyhow::Result<String> {
    let orgs = identity.list_orgs().await?;
    match named {
        Some(id) if orgs.iter().any(|o| o.id == id) => Ok(id),
        Some(id) => bail!("there is no organization {id:?} ('cairn org list' shows them)"),
        None => match orgs.as_slice() {
            [only] => Ok(only.id.clone()),
            [] => bail!(
                "there is no organization yet: start 'cairn serve' once, or create one with 'cairn org create'"
            ),
            _ => bail!(
                "there are several organizations: say which with --org ORG_ID ('cairn org list' shows them)"
            ),
        },
    }
}

/// `start`, `pageSize` and `sortOrder` of the API's lists (spec section 1.1), as flags.
#[derive(Debug, Clone, clap::Args)]
pub struct PageArgs {
    /// Which page to show, counting from 0.
    #[arg(long, default_value_t = 0, value_name = "N",
          value_parser = clap::value_parser!(u64).range(..=MAX_START))]
    pub start: u64,
    /// Items per page (1 to 100).
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_SIZE)))]
    pub page_size: u32,
    /// Oldest first (the API's sortOrder=ASC); newest first otherwise.
    #[arg(long)]
    pub oldest_first: bool,
}

impl PageArgs {
    fn request(&self) -> PageRequest {
        PageRequest {
            start: self.start,
            page_size: self.page_size,
            descending: !self.oldest_first,
        }
    }
}

/// Parses one of the spec's enum literals (`JIRA`, `DAILY`, ...); any letter case is accepted on
/// the command line.
fn literal<T: 'static>(
    parse: fn(&str) -> Option<T>,
    literals: fn() -> String,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s: &str| parse(&s.to_ascii_uppercase()).ok_or_else(|| format!("must be {}", literals()))
}
