//! `cairn storage ...`: where an organization's backups go, as the API's `orgs/{orgId}/storages`
//! (v2 shapes). Read-only here: connecting an S3 storage takes a secret key, so it is done
//! through the API for now.

use cairn_api::wire::management::{PublicApiStorageListV2Response, PublicApiStorageV2};
use cairn_store::{Product, StorageFilter};

use super::output::{key_values, print_one, print_page};
use super::{ManagementArgs, PageArgs, literal};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every organization has a built-in storage (a vault under the data \
    directory), used by policies that name no storage."
)]
pub struct StorageArgs {
    #[command(flatten)]
    pub common: ManagementArgs,
    #[command(subcommand)]
    pub command: StorageCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum StorageCommand {
    /// List the organization's storages, the built-in one included.
    List {
        /// Only storages kept for this site.
        #[arg(long = "site", value_name = "CLOUD_ID")]
        cloud_id: Option<String>,
        /// Only storages kept for JIRA or CONFLUENCE backups.
        #[arg(long, value_parser = literal(Product::parse, Product::literals))]
        product: Option<Product>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one storage (never its secret key).
    Show { storage_id: String },
}

pub async fn run(args: StorageArgs) -> anyhow::Result<()> {
    let json = args.common.json;
    let (instance, org_id) = args.common.open().await?;
    let management = &instance.management;
    match args.command {
        StorageCommand::List {
            cloud_id,
            product,
            page,
        } => {
            let request = page.request();
            let filter = StorageFilter {
                org_id,
                cloud_id,
                product,
            };
            let found = management
                .list_storages(&filter, request.to_store())
                .await?;
            let out = PublicApiStorageListV2Response {
                storages: found
                    .items
                    .into_iter()
                    .map(|s| PublicApiStorageV2::from_record(s, false))
                    .collect(),
                total_items: found.total,
            };
            print_page(
                json,
                &out,
                &out.storages,
                out.total_items,
                &request,
                &["STORAGE ID", "TYPE", "NAME", "REGION", "STATUS", "CREATED"],
                |s| {
                    vec![
                        s.storage_id.clone(),
                        s.storage_type.clone(),
                        s.storage_name.clone(),
                        s.storage_region.clone().unwrap_or_else(|| "-".into()),
                        s.status.clone(),
                        s.created_at.clone(),
                    ]
                },
            )
        }
        StorageCommand::Show { storage_id } => {
            let storage = management.get_storage(&org_id, &storage_id).await?;
            let out = PublicApiStorageV2::from_record(storage, false);
            print_one(json, &out, || describe(&out))
        }
    }
}

fn describe(s: &PublicApiStorageV2) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    key_values(&[
        ("storageId", s.storage_id.clone()),
        ("type", s.storage_type.clone()),
        ("name", s.storage_name.clone()),
        ("region", or_dash(&s.storage_region)),
        ("prefix", or_dash(&s.storage_prefix)),
        ("endpoint", or_dash(&s.endpoint)),
        ("status", s.status.clone()),
        ("encryption", s.encryption_type.clone()),
        ("for site", or_dash(&s.cloud_id)),
        (
            "for product",
            s.product
                .map(|p| p.0.to_string())
                .unwrap_or_else(|| "any".into()),
        ),
        ("created", s.created_at.clone()),
    ])
}
