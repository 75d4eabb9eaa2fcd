//! The OpenAPI 3.1 document of what the service serves, built from the handlers' annotations and
//! served without authentication at `.../v2/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BasicAuth;

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Basic);
        http.description =
            Some("Your account email as the user name and an API token as the password.".into());
        components.add_security_scheme("basicAuth", SecurityScheme::Http(http));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn Backup Management API",
        description = "Atlassian's Backup Management API (v2), served by Cairn, plus Cairn's extensions.",
        version = "2.0.0-cairn"
    ),
    paths(
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::v2::audit_events::list,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldErrorBody)),
    modifiers(&BasicAuth),
    tags(
        (name = "audit", description = "Who did what, when (extension)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// `GET .../openapi.json`
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
