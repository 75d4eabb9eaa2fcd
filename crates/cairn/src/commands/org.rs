//! `cairn org ...`: organizations.

use cairn_control::identity::Actor;
use cairn_control::management::LockAuthority;
use serde::Serialize;

use super::output::{print_list, print_one};
use super::{chosen_org, open_instance};
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
    /// Set the organization's retention lock: no backup expires before its creation plus this
    /// many days, whatever its policy says. The API can only raise the lock; lowering or removing
    /// it (--days 0) is done here, on the server, and is audited.
    RetentionLock {
        /// The lock in days, 0 to 3650 (0 removes it). Backups already kept longer keep their
        /// expiry.
        #[arg(long, value_name = "N")]
        days: u32,
        /// The organization [default: the only one, if there is exactly one].
        #[arg(long = "org", value_name = "ORG_ID")]
        org_id: Option<String>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RetentionLockOut {
    org_id: String,
    previous_retention_lock_days: u32,
    retention_lock_days: u32,
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
        OrgCommand::RetentionLock { days, org_id } => {
            let org_id = chosen_org(&instance.identity, org_id).await?;
            let changed = instance
                .management
                .change_retention_lock(&org_id, &Actor::cli(), days, LockAuthority::Local)
                .await?;
            let out = RetentionLockOut {
                org_id,
                previous_retention_lock_days: changed.previous,
                retention_lock_days: changed.settings.retention_lock_days,
            };
            print_one(args.json, &out, || match out.retention_lock_days {
                0 => format!(
                    "Removed the retention lock of {} (it was {} days)",
                    out.org_id, out.previous_retention_lock_days
                ),
                n => format!(
                    "The retention lock of {} is {n} days (it was {})",
                    out.org_id, out.previous_retention_lock_days
                ),
            })
        }
    }
}
