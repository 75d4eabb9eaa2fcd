//! `/public/backup-management/v2/...` (and v1, which serves the same operations under its own
//! base path with v1's shapes where they differ): one module per resource.
//!
//! A handler's path and method are written once, in its `#[utoipa::path]` attribute (relative to
//! the base path it is nested under); `routes!` mounts it there and adds it to the OpenAPI
//! document. One handler per `routes!`: given several, it mounts each on every path among them.

pub mod audit_events;
pub mod backups;
pub mod org_settings;
pub mod policies;
pub mod restores;
pub mod sites;
pub mod storages;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The operations v1 and v2 share (spec section 6).
pub fn shared_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(storages::regions))
        .routes(routes!(storages::list))
        .routes(routes!(storages::connect))
        .routes(routes!(storages::get))
        .routes(routes!(storages::disconnect))
        .routes(routes!(policies::list))
        .routes(routes!(policies::create))
        .routes(routes!(policies::get))
        .routes(routes!(policies::update))
        .routes(routes!(policies::delete))
        .routes(routes!(policies::activate))
        .routes(routes!(policies::deactivate))
        .routes(routes!(policies::list_backups))
        .routes(routes!(policies::run_backup))
        .routes(routes!(backups::list))
        .routes(routes!(backups::get))
        .routes(routes!(backups::cancel))
        .routes(routes!(restores::list))
        .routes(routes!(restores::create))
        .routes(routes!(restores::get))
        .routes(routes!(restores::cancel))
}

/// v2: the shared operations and v2's own (the extensions).
pub fn routes() -> OpenApiRouter<AppState> {
    shared_routes()
        .routes(routes!(audit_events::list))
        .routes(routes!(org_settings::get))
        .routes(routes!(org_settings::update))
        .routes(routes!(backups::contents))
        .routes(routes!(backups::read_content))
        .routes(routes!(backups::export))
        .routes(routes!(sites::list))
        .routes(routes!(sites::register))
        .routes(routes!(sites::get))
        .routes(routes!(sites::remove))
}
