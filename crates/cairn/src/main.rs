//! `cairn`: the one binary. Parses the command line and hands each subcommand to its module.

mod commands;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "cairn", version, about = "Self-hosted backup and restore for Jira Cloud and Confluence Cloud")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Work with a vault (an encrypted, deduplicated backup repository) directly.
    #[command(subcommand)]
    Vault(commands::vault::VaultCommand),
    /// Serve local stand-ins for Jira Cloud and Confluence Cloud sites.
    Sim(commands::sim::SimArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Vault(cmd) => commands::vault::run(cmd).await,
            Command::Sim(args) => commands::sim::run(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
