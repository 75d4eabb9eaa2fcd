//! `cairn policy ...`: what to back up, where, how often and for how long, as the API's
//! `orgs/{orgId}/policies`.

use cairn_api::wire::management::{
    PublicApiBackupPolicyListV2Response, PublicApiBackupV2, PublicApiBackupV2Response,
    PublicApiGetBackupPolicyV2Response,
};
use cairn_control::identity::Actor;
use cairn_control::management::{Management, NewPolicy, PolicyPatch, ScheduleInput};
use cairn_store::{Interval, PolicyFilter, PolicyStatus, Product};
use chrono::NaiveDate;

use super::output::{key_values, print_one, print_page};
use super::{ManagementArgs, PageArgs, literal};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "A policy is created INACTIVE. Activating one without a schedule starts \
    a backup at once; with a schedule, backups run from its start date at a time slot the server \
    assigns (HH:MM UTC). Only one policy per site, product and storage may be ACTIVE."
)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub common: ManagementArgs,
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// What backups of a policy hold besides the product data (create and update).
#[derive(Debug, Clone, clap::Args)]
pub struct Contents {
    /// Back up attachments [default on create: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub include_attachments: Option<bool>,
    /// Back up users and groups [default on create: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub include_users_and_groups: Option<bool>,
    /// Back up personal spaces (Confluence only) [default on create: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub include_personal_spaces: Option<bool>,
    /// The storage the backups go to [default on create: the organization's built-in storage].
    #[arg(long = "storage", value_name = "STORAGE_ID")]
    pub storage_id: Option<String>,
    /// How often backups run: ONCE, DAILY, WEEKLY or HOURLY. Without it backups run only when
    /// activated or on demand ('cairn backup run').
    #[arg(long, value_parser = literal(Interval::parse, Interval::literals))]
    pub interval: Option<Interval>,
    /// The first day a scheduled run may happen [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD", requires = "interval",
          value_parser = cairn_control::schedule::parse_date)]
    pub start_date: Option<NaiveDate>,
    /// Days each backup is kept before it expires (1 to 3650) [default on create: 30].
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
}

impl Contents {
    fn schedule(&self, management: &Management) -> Option<ScheduleInput> {
        self.interval.map(|interval| ScheduleInput {
            interval,
            start_date: self
                .start_date
                .unwrap_or_else(|| management.clock().now().date_naive()),
        })
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Create a policy (INACTIVE unless --activate).
    Create {
        /// A name for the policy (backups are named after it).
        #[arg(long)]
        name: String,
        /// The site's cloudId, as `cairn site list` shows it.
        #[arg(long = "site", value_name = "CLOUD_ID")]
        cloud_id: String,
        /// JIRA or CONFLUENCE.
        #[arg(long, value_parser = literal(Product::parse, Product::literals))]
        product: Product,
        #[command(flatten)]
        contents: Contents,
        /// Activate it at once (starts a backup now if it has no schedule).
        #[arg(long)]
        activate: bool,
    },
    /// List the organization's policies.
    List {
        /// Only the policies of this site.
        #[arg(long = "site", value_name = "CLOUD_ID")]
        cloud_id: Option<String>,
        /// Only JIRA or CONFLUENCE policies.
        #[arg(long, value_parser = literal(Product::parse, Product::literals))]
        product: Option<Product>,
        /// Only ACTIVE or INACTIVE policies.
        #[arg(long, value_parser = literal(PolicyStatus::parse, PolicyStatus::literals))]
        status: Option<PolicyStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one policy, with its storage and a summary of its backups.
    Show {
        policy_id: String,
        /// With --json, include details.storageId (the API's storageDetails=true).
        #[arg(long)]
        storage_details: bool,
        /// With --json, include details.backupDetails (the API's backupDetails=true).
        #[arg(long)]
        backup_details: bool,
    },
    /// Change a policy: only the options given change. --no-schedule removes the schedule, which
    /// deactivates the policy.
    Update {
        policy_id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        contents: Contents,
        /// Remove the schedule (the policy becomes INACTIVE).
        #[arg(long, conflicts_with_all = ["interval", "start_date"])]
        no_schedule: bool,
    },
    /// Activate a policy. Prints the backups this started (the API's PublicApiBackupV2Response):
    /// one when the policy has no schedule or its first run is due, else none.
    Activate { policy_id: String },
    /// Deactivate a policy: its schedule stops; backups in flight go on.
    Deactivate { policy_id: String },
    /// Delete an INACTIVE policy. Prints nothing with --json (the API answers 204 No Content).
    Delete { policy_id: String },
}

pub async fn run(args: PolicyArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    let (instance, org_id) = args.common.open().await?;
    let management = instance.management.as_ref();
    let actor = Actor::cli();
    match args.command {
        PolicyCommand::Create {
            name,
            cloud_id,
            product,
            contents,
            activate,
        } => {
            let view = management
                .create_policy(
                    &org_id,
                    &actor,
                    NewPolicy {
                        name,
                        cloud_id,
                        product,
                        include_attachments: contents.include_attachments,
                        include_users: contents.include_users_and_groups,
                        include_personal_spaces: contents.include_personal_spaces,
                        storage_id: contents.storage_id.clone(),
                        schedule: contents.schedule(management),
                        retention_days: contents.retention_days,
                        activate,
                    },
                )
                .await?;
            let out = PublicApiGetBackupPolicyV2Response::from_view(view, true);
            print_one(json, &out, || {
                format!(
                    "Created policy {} ({}).\n\n{}",
                    out.policy_name,
                    out.status.0,
                    describe(&out)
                )
            })
        }
        PolicyCommand::List {
            cloud_id,
            product,
            status,
            page,
        } => {
            let request = page.request();
            let filter = PolicyFilter {
                org_id,
                cloud_id,
                product,
                status,
            };
            let found = management
                .list_policies(&filter, request.to_store())
                .await?;
            let out = PublicApiBackupPolicyListV2Response {
                policies: found
                    .items
                    .into_iter()
                    .map(|v| PublicApiGetBackupPolicyV2Response::from_view(v, false))
                    .collect(),
                total_items: found.total,
            };
            print_page(
                json,
                &out,
                &out.policies,
                out.total_items,
                &request,
                &[
                    "POLICY ID",
                    "NAME",
                    "SITE",
                    "PRODUCT",
                    "STATUS",
                    "SCHEDULE",
                    "RETENTION",
                ],
                |p| {
                    vec![
                        p.policy_id.clone(),
                        p.policy_name.clone(),
                        site(p),
                        p.product_type.0.to_string(),
                        p.status.0.to_string(),
                        schedule(p),
                        format!("{} days", p.retention_days),
                    ]
                },
            )
        }
        PolicyCommand::Show {
            policy_id,
            storage_details,
            backup_details,
        } => {
            // Text shows everything; JSON is what the API answers for the same query.
            let view = management
                .get_policy(&org_id, &policy_id, backup_details || !json)
                .await?;
            let out = PublicApiGetBackupPolicyV2Response::from_view(view, storage_details || !json);
            print_one(json, &out, || describe(&out))
        }
        PolicyCommand::Update {
            policy_id,
            name,
            contents,
            no_schedule,
        } => {
            let schedule = if no_schedule {
                Some(None)
            } else {
                contents.schedule(management).map(Some)
            };
            let view = management
                .update_policy(
                    &org_id,
                    &actor,
                    &policy_id,
                    PolicyPatch {
                        name,
                        include_attachments: contents.include_attachments,
                        include_users: contents.include_users_and_groups,
                        include_personal_spaces: contents.include_personal_spaces,
                        storage_id: contents.storage_id.clone(),
                        schedule,
                        retention_days: contents.retention_days,
                    },
                )
                .await?;
            let out = PublicApiGetBackupPolicyV2Response::from_view(view, true);
            print_one(json, &out, || {
                format!("Updated policy {}.\n\n{}", out.policy_name, describe(&out))
            })
        }
        PolicyCommand::Activate { policy_id } => {
            let started = management
                .activate_policy(&org_id, &actor, &policy_id)
                .await?;
            let out = PublicApiBackupV2Response {
                total_items: started.len() as u64,
                backups: started.into_iter().map(PublicApiBackupV2::from).collect(),
            };
            print_one(json, &out, || {
                let mut text = format!("Policy {policy_id} is ACTIVE.");
                if out.backups.is_empty() {
                    text.push_str(
                        "\nNo backup started now: its schedule starts the next one (or it was already active).",
                    );
                }
                for b in &out.backups {
                    text.push_str(&format!(
                        "\nStarted backup {} ({}); see 'cairn backup show {}'.",
                        b.backup_id, b.status.0, b.backup_id
                    ));
                }
                text
            })
        }
        PolicyCommand::Deactivate { policy_id } => {
            let view = management
                .deactivate_policy(&org_id, &actor, &policy_id)
                .await?;
            let out = PublicApiGetBackupPolicyV2Response::from_view(view, true);
            print_one(json, &out, || {
                format!("Policy {} is {}.", out.policy_id, out.status.0)
            })
        }
        PolicyCommand::Delete { policy_id } => {
            management
                .delete_policy(&org_id, &actor, &policy_id)
                .await?;
            if !json {
                println!("Deleted policy {policy_id}.");
            }
            Ok(())
        }
    }
}

fn site(p: &PublicApiGetBackupPolicyV2Response) -> String {
    p.cloud_info
        .cloud_url
        .clone()
        .unwrap_or_else(|| format!("{} (removed)", p.cloud_info.cloud_id))
}

fn schedule(p: &PublicApiGetBackupPolicyV2Response) -> String {
    match &p.details.schedule_details {
        Some(s) if s.interval.0 == Interval::Once => {
            format!("ONCE on {} at {} UTC", s.start_date, s.schedule_slot)
        }
        Some(s) => format!(
            "{} at {} UTC from {}",
            s.interval.0, s.schedule_slot, s.start_date
        ),
        None => "on demand".into(),
    }
}

fn describe(p: &PublicApiGetBackupPolicyV2Response) -> String {
    let mut pairs = vec![
        ("policyId", p.policy_id.clone()),
        ("name", p.policy_name.clone()),
        ("status", p.status.0.to_string()),
        ("site", format!("{} ({})", site(p), p.cloud_info.cloud_id)),
        ("product", p.product_type.0.to_string()),
        ("schedule", schedule(p)),
        ("attachments", yes_no(p.include_attachments)),
        ("users and groups", yes_no(p.include_users_and_groups)),
    ];
    if p.product_type.0 == Product::Confluence {
        pairs.push(("personal spaces", yes_no(p.include_personal_spaces)));
    }
    pairs.push(("retention", format!("{} days", p.retention_days)));
    if let Some(storage) = &p.details.storage_id {
        pairs.push(("storage", storage.clone()));
    }
    if let Some(b) = &p.details.backup_details {
        pairs.push((
            "last backup",
            b.last_backup_time.clone().unwrap_or_else(|| "none".into()),
        ));
        pairs.push(("backups kept", b.total_available_backups.to_string()));
    }
    pairs.push(("created", format!("{} by {}", p.created_at, p.created_by)));
    key_values(&pairs)
}

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.into()
}
