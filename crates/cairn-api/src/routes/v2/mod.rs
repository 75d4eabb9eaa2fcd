//! `/public/backup-management/v2/...` (and v1, which serves the same operations under its own
//! base path with v1's shapes where they differ): one module per resource.

pub mod audit_events;
pub mod backups;
pub mod policies;
pub mod restores;
pub mod sites;
pub mod storages;

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::AppState;

/// The operations v1 and v2 share (spec section 6).
pub fn shared_routes() -> Router<AppState> {
    Router::new()
        .route("/orgs/{orgId}/storages/regions", post(storages::regions))
        .route(
            "/orgs/{orgId}/storages",
            get(storages::list).post(storages::connect),
        )
        .route(
            "/orgs/{orgId}/storages/{storageId}",
            get(storages::get).delete(storages::disconnect),
        )
        .route(
            "/orgs/{orgId}/policies",
            get(policies::list).post(policies::create),
        )
        .route(
            "/orgs/{orgId}/policies/{policyId}",
            get(policies::get)
                .put(policies::update)
                .delete(policies::delete),
        )
        .route(
            "/orgs/{orgId}/policies/{policyId}/activate",
            put(policies::activate),
        )
        .route(
            "/orgs/{orgId}/policies/{policyId}/deactivate",
            put(policies::deactivate),
        )
        .route(
            "/orgs/{orgId}/policies/{policyId}/backups",
            get(policies::list_backups).post(policies::run_backup),
        )
        .route("/orgs/{orgId}/backups", get(backups::list))
        .route("/orgs/{orgId}/backups/{backupId}", get(backups::get))
        .route(
            "/orgs/{orgId}/backups/{backupId}/cancel",
            post(backups::cancel),
        )
        .route(
            "/orgs/{orgId}/restores",
            get(restores::list).post(restores::create),
        )
        .route("/orgs/{orgId}/restores/{restoreId}", get(restores::get))
        .route(
            "/orgs/{orgId}/restores/{restoreId}/cancel",
            post(restores::cancel),
        )
}

pub fn routes() -> Router<AppState> {
    shared_routes()
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/orgs/{orgId}/audit-events", get(audit_events::list))
        .route(
            "/orgs/{orgId}/backups/{backupId}/contents",
            get(backups::contents),
        )
        .route(
            "/orgs/{orgId}/backups/{backupId}/contents/raw",
            get(backups::read_content),
        )
        .route(
            "/orgs/{orgId}/backups/{backupId}/export",
            get(backups::export),
        )
        .route(
            "/orgs/{orgId}/sites",
            get(sites::list).post(sites::register),
        )
        .route(
            "/orgs/{orgId}/sites/{cloudId}",
            get(sites::get).delete(sites::remove),
        )
}
