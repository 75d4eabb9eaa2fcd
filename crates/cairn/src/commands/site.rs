//! `cairn site ...`: the Jira and Confluence Cloud sites an organization backs up and restores
//! into, as the API's `orgs/{orgId}/sites`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairn_api::wire::management::{PublicApiSiteListV2Response, PublicApiSiteV2};
use cairn_control::identity::Actor;
use cairn_control::management::NewSite;

use super::output::{key_values, print_one, print_page};
use super::{ManagementArgs, PageArgs};

/// The environment variable `site add` reads the site's API token from.
const TOKEN_ENV: &str = "CAIRN_SITE_API_TOKEN";

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Cairn checks a site's address, email and API token against the site before it \
        saves them; the token is stored encrypted with the server's secret and is never shown again."
)]
pub struct SiteArgs {
    #[command(flatten)]
    pub common: ManagementArgs,
    #[command(subcommand)]
    pub command: SiteCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SiteCommand {
    /// Register a site: Cairn connects with the email and API token and learns its cloudId and
    /// products.
    #[command(
        after_help = "The API token is never a flag value, which would stay in the shell's \
        history and in the process list. Cairn reads it from --api-token-file PATH, else from the \
        CAIRN_SITE_API_TOKEN environment variable, else from standard input (one line, \
        e.g. 'cairn site add ... < token.txt'; typed at a terminal it is shown as you type)."
    )]
    Add {
        /// The site's address, e.g. https://acme.atlassian.net.
        #[arg(long)]
        url: String,
        /// The Atlassian account whose API token Cairn uses to read and write the site.
        #[arg(long)]
        email: String,
        /// A file holding the account's API token (surrounding whitespace is ignored).
        #[arg(long, value_name = "PATH")]
        api_token_file: Option<PathBuf>,
        /// A name for the site [default: the site's own, or the first part of its host].
        #[arg(long)]
        name: Option<String>,
    },
    /// List the organization's sites (never their API tokens).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one site.
    Show {
        /// The site's cloudId, as `cairn site list` shows it.
        cloud_id: String,
    },
    /// Remove a site; refused while a policy uses it. Prints nothing with --json (the API
    /// answers 204 No Content).
    Remove {
        /// The site's cloudId, as `cairn site list` shows it.
        cloud_id: String,
    },
}

pub async fn run(args: SiteArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    // The token is read before anything else, so a missing one fails before the store is opened.
    let token = match &args.command {
        SiteCommand::Add { api_token_file, .. } => Some(read_api_token(api_token_file.as_deref())?),
        _ => None,
    };
    let (instance, org_id) = args.common.open().await?;
    let management = &instance.management;
    match args.command {
        SiteCommand::Add {
            url, email, name, ..
        } => {
            let site = management
                .register_site(
                    &org_id,
                    &Actor::cli(),
                    NewSite {
                        cloud_url: url,
                        email,
                        api_token: token.unwrap_or_default(),
                        cloud_name: name,
                    },
                )
                .await?;
            let out = PublicApiSiteV2::from(site);
            print_one(json, &out, || {
                format!(
                    "Registered site {} ({}).\n\n{}",
                    out.cloud_name,
                    out.cloud_url,
                    describe(&out)
                )
            })
        }
        SiteCommand::List { page } => {
            let request = page.request();
            let found = management.list_sites(&org_id, request.to_store()).await?;
            let out = PublicApiSiteListV2Response {
                sites: found.items.into_iter().map(PublicApiSiteV2::from).collect(),
                total_items: found.total,
            };
            print_page(
                json,
                &out,
                &out.sites,
                out.total_items,
                &request,
                &["CLOUD ID", "NAME", "URL", "PRODUCTS", "EMAIL", "REGISTERED"],
                |s| {
                    vec![
                        s.cloud_id.clone(),
                        s.cloud_name.clone(),
                        s.cloud_url.clone(),
                        products(s),
                        s.email.clone(),
                        s.created_at.clone(),
                    ]
                },
            )
        }
        SiteCommand::Show { cloud_id } => {
            let out = PublicApiSiteV2::from(management.get_site(&org_id, &cloud_id).await?);
            print_one(json, &out, || describe(&out))
        }
        SiteCommand::Remove { cloud_id } => {
            management
                .remove_site(&org_id, &Actor::cli(), &cloud_id)
                .await?;
            if !json {
                println!("Removed site {cloud_id}.");
            }
            Ok(())
        }
    }
}

fn products(s: &PublicApiSiteV2) -> String {
    s.products
        .iter()
        .map(|p| {
            if p.is_empty {
                format!("{} (empty)", p.product_type.0)
            } else {
                p.product_type.0.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(s: &PublicApiSiteV2) -> String {
    key_values(&[
        ("cloudId", s.cloud_id.clone()),
        ("name", s.cloud_name.clone()),
        ("url", s.cloud_url.clone()),
        ("products", products(s)),
        ("email", s.email.clone()),
        ("encryption", s.encryption_type.clone()),
        ("registered", s.created_at.clone()),
    ])
}

/// The site's API token from the file, else the environment, else standard input.
fn read_api_token(file: Option<&Path>) -> anyhow::Result<String> {
    let text = if let Some(path) = file {
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the API token from {}", path.display()))?
    } else if let Some(value) = std::env::var_os(TOKEN_ENV) {
        value
            .into_string()
            .map_err(|_| anyhow::anyhow!("{TOKEN_ENV} is not valid UTF-8"))?
    } else {
        let mut stdin = std::io::stdin();
        let mut text = String::new();
        if stdin.is_terminal() {
            eprint!(
                "API token (or give --api-token-file PATH or {TOKEN_ENV}; shown as you type): "
            );
            std::io::stderr().flush()?;
            stdin.read_line(&mut text)?;
        } else {
            stdin.read_to_string(&mut text)?;
        }
        text
    };
    let token = text.trim().to_string();
    if token.is_empty() {
        bail!(
            "no API token: give it with --api-token-file PATH, the {TOKEN_ENV} environment variable, or on standard input"
        );
    }
    Ok(token)
}
