//! `cairn token ...`: API tokens, as on the web page, for scripted installations.

use cairn_control::identity::{Actor, TokenStatus};
use serde::Serialize;

use super::open_instance;
use super::output::{print_list, print_one, timestamp};
use crate::settings::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token; it is printed this once and can never be shown again.
    Create {
        /// The account the token belongs to.
        #[arg(long)]
        email: String,
        /// A name to recognise the token by (1 to 100 characters).
        #[arg(long)]
        label: String,
        /// Days until the token expires (1 to 365).
        #[arg(long, default_value_t = 365)]
        expires_in_days: u32,
    },
    /// List an account's tokens (never their secrets).
    List {
        #[arg(long)]
        email: String,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The account the token belongs to.
        #[arg(long)]
        email: String,
        /// The token's id, as `cairn token list` shows it.
        token_id: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedOut {
    token_id: String,
    token: String,
    label: String,
    expires_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenOut {
    token_id: String,
    label: String,
    hint: String,
    created_at: String,
    expires_at: String,
    last_used_at: Option<String>,
    status: &'static str,
}

impl TokenOut {
    fn new(t: cairn_store::TokenRecord, now: chrono::DateTime<chrono::Utc>) -> Self {
        TokenOut {
            status: TokenStatus::of(&t, now).as_str(),
            token_id: t.id,
            label: t.label,
            hint: t.hint,
            created_at: timestamp(t.created_at),
            expires_at: timestamp(t.expires_at),
            last_used_at: t.last_used_at.map(timestamp),
        }
    }
}

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let instance = open_instance(&args.store).await?;
    let identity = &instance.identity;
    match args.command {
        TokenCommand::Create {
            email,
            label,
            expires_in_days,
        } => {
            let account = identity.account_by_email(&email).await?;
            let created = identity
                .create_token(&account.id, &label, Some(expires_in_days), &Actor::cli())
                .await?;
            let out = CreatedOut {
                token_id: created.record.id.clone(),
                token: created.secret.expose().to_string(),
                label: created.record.label.clone(),
                expires_at: timestamp(created.record.expires_at),
            };
            print_one(args.json, &out, || {
                format!(
                    "{}\n\nThis is the only time the token is shown: copy it now.\nid {}, label {:?}, expires {}",
                    out.token, out.token_id, out.label, out.expires_at
                )
            })
        }
        TokenCommand::List { email } => {
            let account = identity.account_by_email(&email).await?;
            let now = identity.clock().now();
            let tokens: Vec<TokenOut> = identity
                .list_tokens(&account.id)
                .await?
                .into_iter()
                .map(|t| TokenOut::new(t, now))
                .collect();
            print_list(
                args.json,
                &tokens,
                &[
                    "TOKEN ID",
                    "LABEL",
                    "HINT",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED",
                    "STATUS",
                ],
                |t| {
                    vec![
                        t.token_id.clone(),
                        t.label.clone(),
                        t.hint.clone(),
                        t.created_at.clone(),
                        t.expires_at.clone(),
                        t.last_used_at.clone().unwrap_or_else(|| "never".into()),
                        t.status.to_string(),
                    ]
                },
            )
        }
        TokenCommand::Revoke { email, token_id } => {
            let account = identity.account_by_email(&email).await?;
            let revoked = identity
                .revoke_own_token(&account.id, &token_id, &Actor::cli())
                .await?;
            let out = TokenOut::new(revoked, identity.clock().now());
            print_one(args.json, &out, || {
                format!("Revoked token {} ({:?}).", out.token_id, out.label)
            })
        }
    }
}
