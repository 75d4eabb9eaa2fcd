//! `cairn`: the one binary. Parses the command line and hands each subcommand to its module.

mod commands;
mod instance;
mod logging;
mod probe;
mod settings;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Self-hosted backup and restore for Jira Cloud and Confluence Cloud",
    long_about = "Self-hosted backup and restore for Jira Cloud and Confluence Cloud.\n\n\
        Cairn serves Atlassian's Backup Management API (v2 and v1) with the same HTTP Basic \
        authentication (account email + API token), keeps backups in an encrypted, deduplicated \
        vault on storage you own, and restores whole sites or single projects and spaces.",
    after_help = "Start with 'cairn serve' (SQLite and a local folder under ./cairn-data), then see \
        'cairn token --help' to make API tokens. Settings come from flags, CAIRN_* environment \
        variables and a TOML file (--config), in that order."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the Backup Management API.
    Serve(commands::serve::ServeArgs),
    /// Manage API tokens (create, list, revoke).
    Token(commands::token::TokenArgs),
    /// Manage accounts.
    Account(commands::account::AccountArgs),
    /// Manage organizations.
    Org(commands::org::OrgArgs),
    /// Work with a vault (an encrypted, deduplicated backup repository) directly.
    #[command(subcommand)]
    Vault(commands::vault::VaultCommand),
    /// Register Jira and Confluence Cloud sites to back up and restore into.
    Site(commands::site::SiteArgs),
    /// List the storages backups go to.
    Storage(commands::storage::StorageArgs),
    /// Manage backup policies: what to back up, where, when, and for how long.
    Policy(commands::policy::PolicyArgs),
    /// Run, list, show and cancel backups.
    Backup(commands::backup::BackupArgs),
    /// Restore a backup into a site, and follow restores.
    Restore(commands::restore::RestoreArgs),
    /// Restore a downloaded export archive (zip or tar) into a site, with no server, database
    /// or vault: the file alone.
    RestoreArchive(commands::restore_archive::RestoreArchiveArgs),
    /// Check a downloaded export archive on its own, with no server, store or vault.
    #[command(subcommand)]
    Archive(commands::archive::ArchiveCommand),
    /// Serve local stand-ins for Jira Cloud and Confluence Cloud sites.
    Sim(commands::sim::SimArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Token(args) => commands::token::run(args).await,
            Command::Account(args) => commands::account::run(args).await,
            Command::Org(args) => commands::org::run(args).await,
            Command::Vault(cmd) => commands::vault::run(cmd).await,
            Command::Site(args) => commands::site::run(args).await,
            Command::Storage(args) => commands::storage::run(args).await,
            Command::Policy(args) => commands::policy::run(args).await,
            Command::Backup(args) => commands::backup::run(args).await,
            Command::Restore(args) => commands::restore::run(args).await,
            Command::RestoreArchive(args) => commands::restore_archive::run(args).await,
            Command::Archive(cmd) => commands::archive::run(cmd).await,
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
