//! `cairn org ...`: organizations.

use cairn_control::identity::Actor;
use serde::Serialize;

use super::open_instance;
use super::output::{print_list, print_one};
use crate::settings::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct OrgArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: OrgCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List organizations.
    List,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgOut {
    org_id: String,
    name: String,
}

pub async fn run(args: OrgArgs) -> anyhow::Result<()> {
    let instance = open_instance(&args.store).await?;
    match args.command {
        OrgCommand::Create { name } => {
            let org = instance.identity.create_org(&name, &Actor::cli()).await?;
            let out = OrgOut {
                org_id: org.id,
                name: org.name,
            };
            print_one(args.json, &out, || {
                format!("Created organization {} ({})", out.name, out.org_id)
            })
        }
        OrgCommand::List => {
            let orgs: Vec<OrgOut> = instance
                .identity
                .list_orgs()
                .await?
                .into_iter()
                .map(|o| OrgOut {
                    org_id: o.id,
                    name: o.name,
                })
                .collect();
            print_list(args.json, &orgs, &["ORG ID", "NAME"], |o| {
                vec![o.org_id.clone(), o.name.clone()]
            })
        }
    }
}
