//! The OpenAPI 3.1 document of what the service serves, built from the handlers' annotations as
//! the router mounts them (`routes::documented`) and served without authentication at
//! `.../v2/openapi.json`.

use axum::Json;
use axum::routing::{MethodRouter, get};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

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

/// OpenAPI requires a description on every response; the annotations give one only where it
/// says more than the status does, so the rest get the status's meaning here. Applied by
/// [`finish`], once the router has added the paths.
struct ResponseDescriptions;

impl Modify for ResponseDescriptions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for op in operations(openapi) {
            for (status, response) in op.responses.responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(r) = response
                    && r.description.is_empty()
                {
                    r.description = status_meaning(status).to_string();
                }
            }
        }
    }
}

fn status_meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: the work runs in the background",
        "204" => "Done; no content",
        "400" => "The request is malformed: the error names the field",
        "401" => "No valid credentials",
        "403" => "The account may not do this",
        "404" => "Not found (or not in this organization)",
        "409" => "A rule forbids it now: the message names the rule",
        "413" => "The body is too large",
        "429" => "Too many requests: wait for Retry-After",
        "503" => "Unavailable now: try again later",
        _ => "See the operation's description",
    }
}

/// Every authenticated call can answer 429: the per-account rate limit and the failed-login lock
/// (authentication spec, section 6) sit in front of every handler, so the annotations do not
/// repeat it. Each operation that can answer 401 gets a 429 with the same error body.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for op in operations(openapi) {
            let responses = &mut op.responses.responses;
            let Some(utoipa::openapi::RefOr::T(unauthorized)) = responses.get("401") else {
                continue;
            };
            if responses.contains_key("429") {
                continue;
            }
            let mut limited = unauthorized.clone();
            limited.description = status_meaning("429").to_string();
            responses.insert("429".to_string(), utoipa::openapi::RefOr::T(limited));
        }
    }
}

/// Every operation of every path, to edit.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// What the document says besides its paths, which the router adds (`routes::documented`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn Backup Management API",
        description = "Atlassian's Backup Management API (v2), served by Cairn, plus Cairn's extensions.",
        version = "2.0.0-cairn"
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldErrorBody)),
    modifiers(&BasicAuth),
    tags(
        (name = "orgs", description = "The organization's settings: the retention lock (extension)"),
        (name = "sites", description = "Sites to back up and restore into (extension)"),
        (name = "storages", description = "Where backups are kept"),
        (name = "policies", description = "What to back up, where and when"),
        (name = "backups", description = "Backups: on demand, scheduled, listed, cancelled"),
        (name = "restores", description = "Restores of a backup into a site"),
        (name = "audit", description = "Who did what, when (extension)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub(crate) struct ApiDoc;

/// The document as served, from the router's: every response with a description, and the
/// rate limit's 429 on every authenticated call.
pub(crate) fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    RateLimited.modify(&mut doc);
    ResponseDescriptions.modify(&mut doc);
    doc
}

/// `GET .../openapi.json`
pub(crate) fn serve(doc: utoipa::openapi::OpenApi) -> MethodRouter<AppState> {
    get(move || {
        let doc = doc.clone();
        async move { Json(doc) }
    })
}
