//! `/public/backup-management/v2/...`: one module per resource.

pub mod audit_events;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/orgs/{orgId}/audit-events", get(audit_events::list))
}
