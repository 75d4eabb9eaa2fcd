//! `cairn account ...`: accounts and their org memberships.

use std::io::Read;

use cairn_control::identity::{Actor, NewAccount};
use serde::Serialize;

use super::output::{print_list, print_one, timestamp};
use super::{chosen_org, open_instance};
use crate::settings::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct AccountArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AccountCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AccountCommand {
    /// Create an account, optionally as a member or admin of an organization.
    Create {
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before @]
        #[arg(long)]
        name: Option<String>,
        /// Organization to join [default: the only one, if there is exactly one]
        #[arg(long = "org")]
        org_id: Option<String>,
        /// Make the account an admin of the organization.
        #[arg(long)]
        org_admin: bool,
        /// Read a web password (at least 12 characters) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        /// Only members of this organization.
        #[arg(long = "org")]
        org_id: Option<String>,
    },
    /// Deactivate an account: its API tokens stop working at once.
    Deactivate {
        #[arg(long)]
        email: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountOut {
    account_id: String,
    email: String,
    name: String,
    active: bool,
    created_at: String,
}

impl From<cairn_store::AccountRecord> for AccountOut {
    fn from(a: cairn_store::AccountRecord) -> Self {
        AccountOut {
            account_id: a.id,
            email: a.email,
            name: a.display_name,
            active: a.active,
            created_at: timestamp(a.created_at),
        }
    }
}

pub async fn run(args: AccountArgs) -> anyhow::Result<()> {
    let instance = open_instance(&args.store).await?;
    let identity = &instance.identity;
    match args.command {
        AccountCommand::Create {
            email,
            name,
            org_id,
            org_admin,
            password_stdin,
        } => {
            // An account may exist outside any organization, unless it is to be an org admin.
            let org_id = match org_id {
                None if !org_admin && identity.list_orgs().await?.is_empty() => None,
                named => Some(chosen_org(identity, named).await?),
            };
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                Some(text.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let account = identity
                .create_account(
                    NewAccount {
                        email,
                        display_name: name,
                        password,
                        org_id: org_id.clone(),
                        org_admin,
                    },
                    &Actor::cli(),
                )
                .await?;
            let out = AccountOut::from(account);
            print_one(args.json, &out, || {
                let membership = match &org_id {
                    Some(org) if org_admin => format!(", admin of organization {org}"),
                    Some(org) => format!(", member of organization {org}"),
                    None => String::new(),
                };
                format!(
                    "Created account {} ({}){membership}",
                    out.email, out.account_id
                )
            })
        }
        AccountCommand::List { org_id } => {
            let accounts: Vec<AccountOut> = identity
                .list_accounts(org_id.as_deref())
                .await?
                .into_iter()
                .map(AccountOut::from)
                .collect();
            print_list(
                args.json,
                &accounts,
                &["ACCOUNT ID", "EMAIL", "NAME", "ACTIVE"],
                |a| {
                    vec![
                        a.account_id.clone(),
                        a.email.clone(),
                        a.name.clone(),
                        a.active.to_string(),
                    ]
                },
            )
        }
        AccountCommand::Deactivate { email } => {
            let account = identity.deactivate_account(&email, &Actor::cli()).await?;
            let out = AccountOut::from(account);
            print_one(args.json, &out, || {
                format!("Deactivated {}; its API tokens no longer work.", out.email)
            })
        }
    }
}
