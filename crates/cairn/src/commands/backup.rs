//! `cairn backup ...`: backups of a policy, as the API's `orgs/{orgId}/backups` and
//! `policies/{policyId}/backups`.

use cairn_api::pagination::{MAX_PAGE_SIZE, MAX_START, PageRequest};
use cairn_api::wire::management::{
    BackupContentItem, BackupContentKind, BackupContentsResponse, PublicApiBackupV2,
    PublicApiBackupV2Response,
};
use cairn_control::identity::Actor;
use cairn_store::{BackupFilter, BackupStatus, Product};

use super::output::{ended_badly, follow, key_values, print_one, print_page, progress};
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
        /// Wait for the backup to end, with a progress bar, then show it; exit 1 if it ends
        /// FAILED or CANCELLED ('cairn serve' runs it).
        #[arg(long)]
        wait: bool,
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
    /// List a directory of a COMPLETED or INCOMPLETE backup (the API's `.../contents`).
    Contents {
        backup_id: String,
        /// The directory, relative to the snapshot's root (e.g. jira/projects) [default: the root].
        #[arg(default_value = "")]
        path: String,
        /// Which page to show, counting from 0.
        #[arg(long, default_value_t = 0, value_name = "N",
              value_parser = clap::value_parser!(u64).range(..=MAX_START))]
        start: u64,
        /// Entries per page (1 to 100).
        #[arg(long, default_value_t = MAX_PAGE_SIZE, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE_SIZE)))]
        page_size: u32,
    },
    /// Write a COMPLETED or INCOMPLETE backup as a tar or zip archive (the API's `.../export`;
    /// see docs/export-format.md).
    Export {
        backup_id: String,
        /// The file to write; `-` writes to standard output.
        #[arg(short, long, value_name = "FILE")]
        output: std::path::PathBuf,
        /// The container: `tar`, or `zip` (default: `zip` when FILE ends in `.zip`, else `tar`).
        #[arg(long, value_name = "FORMAT", value_parser = ["tar", "zip"])]
        format: Option<String>,
    },
}

pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    let (instance, org_id) = args.common.open().await?;
    let management = &instance.management;
    match args.command {
        BackupCommand::Run { policy_id, wait } => {
            let mut backup = management
                .run_backup_now(&org_id, &Actor::cli(), &policy_id)
                .await?;
            if wait {
                let id = backup.id.clone();
                follow(json, || async {
                    let b = PublicApiBackupV2::from(management.get_backup(&org_id, &id).await?);
                    Ok((b.status.0.to_string(), b.progress))
                })
                .await?;
                backup = management.get_backup(&org_id, &id).await?;
                let out = PublicApiBackupV2::from(backup);
                print_one(json, &out, || describe(&out))?;
                return ended_badly("backup", &out.status.0.to_string(), &out.status_message);
            }
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
        BackupCommand::Contents {
            backup_id,
            path,
            start,
            page_size,
        } => {
            let request = PageRequest {
                start,
                page_size,
                descending: false,
            };
            let found = management
                .list_backup_contents(&org_id, &backup_id, &path, request.to_store())
                .await?;
            let out = BackupContentsResponse {
                path: path.trim_end_matches('/').to_string(),
                items: found
                    .items
                    .into_iter()
                    .map(BackupContentItem::from)
                    .collect(),
                total_items: found.total,
            };
            print_page(
                json,
                &out,
                &out.items,
                out.total_items,
                &request,
                &["PATH", "KIND", "SIZE", "UPDATED"],
                |e| {
                    let (path, kind) = match e.kind {
                        BackupContentKind::Directory => (format!("{}/", e.path), "DIRECTORY"),
                        BackupContentKind::File => (e.path.clone(), "FILE"),
                    };
                    vec![
                        path,
                        kind.into(),
                        e.size.to_string(),
                        e.attrs.get("updated").cloned().unwrap_or_default(),
                    ]
                },
            )
        }
        BackupCommand::Export {
            backup_id,
            output,
            format,
        } => {
            use cairn_control::management::ArchiveFormat;
            let format = match format.as_deref() {
                Some(name) => ArchiveFormat::parse(name).unwrap_or_default(),
                None if output.extension().is_some_and(|e| e == "zip") => ArchiveFormat::Zip,
                None => ArchiveFormat::Tar,
            };
            let export = management
                .export_backup(&org_id, &backup_id, format)
                .await?;
            write_export(export.archive.bytes, &output, export.archive.len).await
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

/// Writes the archive as it streams; a file left by a failed export is removed.
async fn write_export(
    mut bytes: cairn_control::management::ByteStream,
    output: &std::path::Path,
    expected: u64,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use futures::TryStreamExt;
    use tokio::io::AsyncWriteExt;
    if output.as_os_str() == "-" {
        let mut out = tokio::io::stdout();
        while let Some(chunk) = bytes.try_next().await? {
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        return Ok(());
    }
    // Into a file: a progress bar on a terminal.
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(expected);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} exporting [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let written = async {
        let mut file = tokio::fs::File::create(output).await?;
        while let Some(chunk) = bytes.try_next().await? {
            file.write_all(&chunk).await?;
            bar.inc(chunk.len() as u64);
        }
        file.sync_all().await?;
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    if written.is_err() {
        let _ = tokio::fs::remove_file(output).await;
    }
    written.with_context(|| format!("writing {}", output.display()))
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
