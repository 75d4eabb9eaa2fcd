//! Errors of the sites the engine talks to, as the job queue wants them.

use cairn_control::jobs::EngineError;

/// Which site an error came from: the one backed up, or a restore's destination.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SiteRole {
    Source,
    Destination,
}

/// A site error as the job queue wants it (retryable or not, rule 6), named by its site:
/// `.map_err(site_error(Source))`.
pub(crate) fn site_error(role: SiteRole) -> impl Fn(cairn_connectors::Error) -> EngineError + Copy {
    let site = match role {
        SiteRole::Source => "site",
        SiteRole::Destination => "destination site",
    };
    move |e| {
        if e.is_retryable() {
            EngineError::Retryable(format!("{site}: {e}"))
        } else {
            EngineError::Permanent(format!("{site}: {e}"))
        }
    }
}
