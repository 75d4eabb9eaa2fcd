//! `cairn restore ...`: restores of a backup into a site, as the API's `orgs/{orgId}/restores`.

use cairn_api::wire::management::{PublicApiRestoreListV2Response, PublicApiRestoreV2};
use cairn_control::identity::Actor;
use cairn_control::management::NewRestore;
use cairn_store::{RestoreFilter, RestoreStatus};

use super::output::{ended_badly, follow, key_values, print_one, print_page, progress};
use super::{ManagementArgs, PageArgs, literal};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Only a COMPLETED or INCOMPLETE backup can be restored, into a site of \
    the same organization. A whole Jira backup needs an empty destination; name projects with \
    --project-keys to restore only those. A restore starts CREATED and a worker of 'cairn serve' \
    runs it."
)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: ManagementArgs,
    #[command(subcommand)]
    pub command: RestoreCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RestoreCommand {
    /// Restore a backup into a site.
    Create {
        /// The backup to restore, as `cairn backup list` shows it.
        #[arg(long = "backup", value_name = "BACKUP_ID")]
        backup_id: String,
        /// The site to restore into (its cloudId), registered in this organization.
        #[arg(long = "destination", value_name = "CLOUD_ID")]
        destination_cloud_id: String,
        /// Restore attachments [default: if the backup holds them].
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        include_attachments: Option<bool>,
        /// Restore users and groups [default: if the backup holds them].
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        include_users_and_groups: Option<bool>,
        /// Restore personal spaces [default: if the backup holds them].
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        include_personal_spaces: Option<bool>,
        /// Only these Jira projects, comma-separated (e.g. OPS,WEB).
        #[arg(long, value_name = "KEYS", value_delimiter = ',')]
        project_keys: Option<Vec<String>>,
        /// Only these Confluence spaces, comma-separated.
        #[arg(long, value_name = "KEYS", value_delimiter = ',')]
        space_keys: Option<Vec<String>>,
        /// Only these Jira issues, each with its sub-tasks, comma-separated (e.g. OPS-12,OPS-40),
        /// into the projects of the same keys in the destination.
        #[arg(
            long,
            value_name = "KEYS",
            value_delimiter = ',',
            conflicts_with = "project_keys"
        )]
        issue_keys: Option<Vec<String>>,
        /// Only these Confluence pages and blog posts (ids in the backup), comma-separated, into
        /// the spaces of the same keys in the destination.
        #[arg(
            long,
            value_name = "IDS",
            value_delimiter = ',',
            conflicts_with = "space_keys"
        )]
        page_ids: Option<Vec<String>>,
        /// Wait for the restore to end, with a progress bar, then show it; exit 1 if it ends
        /// FAILED or CANCELLED ('cairn serve' runs it).
        #[arg(long)]
        wait: bool,
    },
    /// List restores, newest first.
    List {
        /// Only restores into this site.
        #[arg(long = "destination", value_name = "CLOUD_ID")]
        destination_cloud_id: Option<String>,
        /// Only restores in this status: CREATED, IN_PROGRESS, COMPLETED, INCOMPLETE, FAILED or
        /// CANCELLED.
        #[arg(long, value_parser = literal(RestoreStatus::parse, RestoreStatus::literals))]
        status: Option<RestoreStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one restore, with what it created when it has finished.
    Show { restore_id: String },
    /// Cancel a restore in flight: one not started yet ends at once; a running one stops after
    /// the item it is writing (what it created stays).
    Cancel { restore_id: String },
}

pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    let (instance, org_id) = args.common.open().await?;
    let management = &instance.management;
    match args.command {
        RestoreCommand::Create {
            backup_id,
            destination_cloud_id,
            include_attachments,
            include_users_and_groups,
            include_personal_spaces,
            project_keys,
            space_keys,
            issue_keys,
            page_ids,
            wait,
        } => {
            let restore = management
                .create_restore(
                    &org_id,
                    &Actor::cli(),
                    NewRestore {
                        backup_id,
                        destination_cloud_id,
                        include_attachments,
                        include_users: include_users_and_groups,
                        include_personal_spaces,
                        project_keys,
                        space_keys,
                        issue_keys,
                        page_ids,
                    },
                )
                .await?;
            if wait {
                let id = restore.id.clone();
                follow(json, || async {
                    let r = PublicApiRestoreV2::from(management.get_restore(&org_id, &id).await?);
                    Ok((r.status.0.to_string(), r.progress))
                })
                .await?;
                let out = PublicApiRestoreV2::from(management.get_restore(&org_id, &id).await?);
                print_one(json, &out, || describe(&out))?;
                return ended_badly("restore", &out.status.0.to_string(), &out.status_message);
            }
            let out = PublicApiRestoreV2::from(restore);
            print_one(json, &out, || {
                format!(
                    "Started restore {} ({}).\n\n{}",
                    out.restore_id,
                    out.status.0,
                    describe(&out)
                )
            })
        }
        RestoreCommand::List {
            destination_cloud_id,
            status,
            page,
        } => {
            let request = page.request();
            let filter = RestoreFilter {
                org_id,
                destination_cloud_id,
                status,
            };
            let found = management
                .list_restores(&filter, request.to_store())
                .await?;
            let out = PublicApiRestoreListV2Response {
                restores: found
                    .items
                    .into_iter()
                    .map(PublicApiRestoreV2::from)
                    .collect(),
                total_items: found.total,
            };
            print_page(
                json,
                &out,
                &out.restores,
                out.total_items,
                &request,
                &[
                    "RESTORE ID",
                    "BACKUP ID",
                    "DESTINATION",
                    "PRODUCT",
                    "STATUS",
                    "CREATED",
                ],
                |r| {
                    vec![
                        r.restore_id.clone(),
                        r.backup_id.clone(),
                        r.destination_cloud_id.clone(),
                        r.product.0.to_string(),
                        r.status.0.to_string(),
                        r.created_at.clone(),
                    ]
                },
            )
        }
        RestoreCommand::Show { restore_id } => {
            let out = PublicApiRestoreV2::from(management.get_restore(&org_id, &restore_id).await?);
            print_one(json, &out, || describe(&out))
        }
        RestoreCommand::Cancel { restore_id } => {
            let restore = management
                .cancel_restore(&org_id, &Actor::cli(), &restore_id)
                .await?;
            let out = PublicApiRestoreV2::from(restore);
            print_one(json, &out, || {
                format!(
                    "Restore {} is {}: {}",
                    out.restore_id, out.status.0, out.status_message
                )
            })
        }
    }
}

pub(super) fn describe(r: &PublicApiRestoreV2) -> String {
    let join = |v: &[String]| v.join(", ");
    let mut pairs = vec![
        ("restoreId", r.restore_id.clone()),
        ("status", format!("{} ({})", r.status.0, r.status_message)),
        ("backup", r.backup_id.clone()),
        ("from site", r.source_cloud_id.clone()),
        ("into site", r.destination_cloud_id.clone()),
        ("product", r.product.0.to_string()),
        (
            "also restores",
            if r.selections.is_empty() {
                "nothing beyond the product data".into()
            } else {
                r.selections
                    .iter()
                    .map(|s| s.0.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
    ];
    if let Some(keys) = &r.project_keys {
        pairs.push(("projects", join(keys)));
    }
    if let Some(keys) = &r.space_keys {
        pairs.push(("spaces", join(keys)));
    }
    if let Some(keys) = &r.issue_keys {
        pairs.push(("issues", join(keys)));
    }
    if let Some(ids) = &r.page_ids {
        pairs.push(("pages", join(ids)));
    }
    pairs.push(("created", format!("{} by {}", r.created_at, r.account_id)));
    pairs.push(("updated", r.last_updated_at.clone()));
    if let Some(p) = &r.progress {
        pairs.push(("progress", progress(p)));
    }
    if let Some(result) = &r.result {
        let counts = |m: &std::collections::BTreeMap<String, u64>| {
            if m.is_empty() {
                "nothing".to_string()
            } else {
                m.iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        pairs.push(("created items", counts(&result.created)));
        pairs.push(("skipped items", counts(&result.skipped)));
        pairs.push(("failed items", result.failed.len().to_string()));
    }
    key_values(&pairs)
}
