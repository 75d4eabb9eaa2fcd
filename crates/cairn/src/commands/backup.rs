//! `cairn backup ...`: backups of a policy, as the API's `orgs/{orgId}/backups` and
//! `policies/{policyId}/backups`.

use cairn_api::wire::management::{PublicApiBackupV2, PublicApiBackupV2Response};
use cairn_control::identity::Actor;
use cairn_store::{BackupFilter, BackupStatus, Product};

use super::output::{key_values, print_one, print_page, progress};
use super::{ManagementArgs, PageArgs, literal};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "A backup starts CREATED and queued; a worker of 'cairn serve' runs it \
    (IN_PROGRESS) to COMPLETED, INCOMPLETE or FAILED. Only one backup or restore runs per site and \
    product at a time."
)]
pub struct BackupArgs {
    #[command(flatten)]
    pub common: ManagementArgs,
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Start a backup of a policy now, whatever its schedule says.
    Run {
        /// The policy to back up, as `cairn policy list` shows it.
        #[arg(long = "policy", value_name = "POLICY_ID")]
        policy_id: String,
    },
    /// List backups, newest first.
    List {
        /// Only this policy's backups.
        #[arg(long = "policy", value_name = "POLICY_ID")]
        policy_id: Option<String>,
        /// Only backups of this site.
        #[arg(long = "site", value_name = "CLOUD_ID")]
        cloud_id: Option<String>,
        /// Only JIRA or CONFLUENCE backups.
        #[arg(long, value_parser = literal(Product::parse, Product::literals))]
        product: Option<Product>,
        /// Only backups in this status: CREATED, IN_PROGRESS, COMPLETED, INCOMPLETE, FAILED,
        /// EXPIRED or CANCELLED.
        #[arg(long, value_parser = literal(BackupStatus::parse, BackupStatus::literals))]
        status: Option<BackupStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one backup.
    Show { backup_id: String },
    /// Cancel a backup in flight: one not started yet ends CANCELLED at once, a running one at
    /// its next checkpoint.
    Cancel { backup_id: String },
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    let (instance, org_id) = args.common.open().await?;
    let management = &instance.management;
    match args.command {
        BackupCommand::Run { policy_id } => {
            let backup = management
                .run_backup_now(&org_id, &Actor::cli(), &policy_id)
                .await?;
            let out = PublicApiBackupV2::from(backup);
            print_one(json, &out, || {
                format!(
                    "Started backup {} ({}).\n\n{}",
                    out.backup_id,
                    out.status.0,
                    describe(&out)
                )
            })
        }
        BackupCommand::List {
            policy_id,
            cloud_id,
            product,
            status,
            page,
        } => {
            let request = page.request();
            let filter = BackupFilter {
                org_id,
                policy_id,
                cloud_id,
                product,
                status,
            };
            let found = management.list_backups(&filter, request.to_store()).await?;
            let out = PublicApiBackupV2Response {
                backups: found
                    .items
                    .into_iter()
                    .map(PublicApiBackupV2::from)
                    .collect(),
                total_items: found.total,
            };
            print_page(
                json,
                &out,
                &out.backups,
                out.total_items,
                &request,
                &[
                    "BACKUP ID",
                    "NAME",
                    "PRODUCT",
                    "STATUS",
                    "CREATED",
                    "SIZE",
                    "EXPIRES",
                ],
                |b| {
                    vec![
                        b.backup_id.clone(),
                        b.name.clone(),
                        b.product.0.to_string(),
                        b.status.0.to_string(),
                        b.created_at.clone(),
                        size(b),
                        b.expiry_time.clone(),
                    ]
                },
            )
        }
        BackupCommand::Show { backup_id } => {
            let out = PublicApiBackupV2::from(management.get_backup(&org_id, &backup_id).await?);
            print_one(json, &out, || describe(&out))
        }
        BackupCommand::Cancel { backup_id } => {
            let backup = management
                .cancel_backup(&org_id, &Actor::cli(), &backup_id)
                .await?;
            let out = PublicApiBackupV2::from(backup);
            print_one(json, &out, || {
                format!(
                    "Backup {} is {}: {}",
                    out.backup_id, out.status.0, out.status_message
                )
            })
        }
    }
}

/// The stored size in bytes, for a person.
fn size(b: &PublicApiBackupV2) -> String {
    let s = &b.backup_size;
    let bytes = s.users_size + s.data_size + s.attachments_size;
    match bytes {
        0 => "-".into(),
        n if n < 1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        n if n < 1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n => format!("{:.2} GB", n as f64 / 1e9),
    }
}

fn describe(b: &PublicApiBackupV2) -> String {
    let mut pairs = vec![
        ("backupId", b.backup_id.clone()),
        ("name", b.name.clone()),
        ("status", format!("{} ({})", b.status.0, b.status_message)),
        ("policy", b.policy_id.clone()),
        ("site", b.cloud_id.clone()),
        ("product", b.product.0.to_string()),
        (
            "holds",
            if b.selections.is_empty() {
                "the product data only".into()
            } else {
                let extra: Vec<String> = b.selections.iter().map(|s| s.0.to_string()).collect();
                format!("the product data and {}", extra.join(", "))
            },
        ),
        ("size", size(b)),
        (
            "storage",
            format!("{} ({})", b.storage_id, b.encryption_type),
        ),
        ("created", format!("{} by {}", b.created_at, b.account_id)),
        ("updated", b.last_updated_at.clone()),
        ("expires", b.expiry_time.clone()),
    ];
    if let Some(p) = &b.progress {
        pairs.push(("progress", progress(p)));
    }
    if let Some(s) = &b.stats {
        pairs.push((
            "stats",
            format!(
                "{} new bytes stored, {} items changed, {} unchanged, {} ms",
                s.new_bytes_stored, s.items_changed, s.items_unchanged, s.duration_ms
            ),
        ));
    }
    key_values(&pairs)
}
