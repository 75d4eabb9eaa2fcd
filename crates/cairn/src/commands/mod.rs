//! One module per top-level subcommand. Each owns its clap types and a `run` function.

pub mod sim;
pub mod vault;
