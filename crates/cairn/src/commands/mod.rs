//! One module per top-level subcommand. Each owns its clap types and a `run` function.

pub mod account;
pub mod org;
mod output;
pub mod serve;
pub mod sim;
pub mod token;
pub mod vault;

use crate::instance::Instance;
use crate::settings::{StoreArgs, load_file};

/// Opens the installation the management commands work on: the same data directory or database
/// as a running server.
async fn open_instance(args: &StoreArgs) -> anyhow::Result<Instance> {
    let file = load_file(args.config.as_deref())?;
    Instance::open(&args.resolve(&file), &file).await
}
