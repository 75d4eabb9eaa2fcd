//! The crate's one error type, for the library calls that can fail ([`crate::Sim::start`],
//! [`crate::Account::load_toml`]). Handlers answer HTTP errors instead (`Result<Response,
//! Response>`).

/// Why a simulation could not start or its accounts could not be read. Each variant shows its
/// cause's message unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding a site's listener or making its upload directory failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Generating a site's content did not finish (its blocking task panicked).
    #[error(transparent)]
    Generate(#[from] tokio::task::JoinError),
    /// An accounts file that is not TOML of the expected shape.
    #[error(transparent)]
    Accounts(#[from] toml::de::Error),
}
