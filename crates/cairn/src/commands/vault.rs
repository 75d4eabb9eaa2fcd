//! `cairn vault ...`: direct access to a vault repository.

#[derive(Debug, clap::Subcommand)]
pub enum VaultCommand {
    /// Create a new, empty vault.
    Init,
}

pub async fn run(cmd: VaultCommand) -> anyhow::Result<()> {
    match cmd {
        VaultCommand::Init => anyhow::bail!("not implemented yet"),
    }
}
