//! The web pages: login, the API-token page, the org admins' pages and backup dashboard (spec
//! sections 1 and 5, issue 7 section 4).
//!
//! Server-rendered HTML (maud escapes every value), one stylesheet and one script embedded in the
//! binary, nothing from another origin, a Content-Security-Policy without inline script. Every
//! form works without JavaScript (post, then redirect); the script only makes dialogs modal and
//! copies a new token to the clipboard, and keeps the dashboard's progress bars current by polling
//! a same-origin JSON feed. Sessions, CSRF tokens and rules live in
//! `cairn_control::identity`; this module speaks HTTP and HTML.

mod admin;
mod assets;
mod cookies;
mod login;
mod tokens;
mod views;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cairn_control::ControlError;

use crate::error::{self, ApiError, RequestError};
use crate::state::AppState;

pub use cookies::WebSettings;

/// The page of spec section 1 (the same path as Atlassian's).
pub const TOKENS_PATH: &str = "/manage-profile/security/api-tokens";
pub const LOGIN_PATH: &str = "/login";

/// No script but our own file, no style but our own sheet, nothing from elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to(TOKENS_PATH) }))
        .route(LOGIN_PATH, get(login::page).post(login::submit))
        .route("/logout", get(login::logout_page).post(login::logout))
        .route(TOKENS_PATH, get(tokens::page).post(tokens::create))
        .route(
            &format!("{TOKENS_PATH}/{{tokenId}}/revoke"),
            post(tokens::revoke),
        )
        .route("/admin", get(admin::overview))
        .route("/admin/activity.json", get(admin::activity))
        .route("/admin/run-backup", post(admin::run_backup))
        .route("/admin/api-tokens", get(admin::tokens_page))
        .route("/admin/api-tokens/revoke", post(admin::revoke))
        .route("/static/cairn.css", get(assets::stylesheet))
        .route("/static/cairn.js", get(assets::script))
        .layer(middleware::from_fn(security_headers))
}

/// Whether `path` belongs to the pages (so its errors are HTML, not the API's JSON).
pub fn is_web_path(path: &str) -> bool {
    path == "/"
        || path == LOGIN_PATH
        || path == "/logout"
        || path == "/admin"
        || ["/manage-profile/", "/admin/", "/static/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    add_security_headers(response.headers_mut());
    response
}

fn add_security_headers(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Pages may hold a token or a CSRF token: never cache them. The assets set their own.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// An error page: the status and message of the one table (`error.rs`), as HTML.
pub struct WebError(ApiError);

impl From<ControlError> for WebError {
    fn from(err: ControlError) -> Self {
        WebError(err.into())
    }
}

impl From<RequestError> for WebError {
    fn from(err: RequestError) -> Self {
        WebError(err.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let WebError(err) = self;
        let mut headers = *err.headers;
        // A browser must not answer a page's 401 with a Basic login prompt.
        headers.remove(header::WWW_AUTHENTICATE);
        error_page(err.status, &err.body.message, &headers)
    }
}

pub type WebResult<T> = Result<T, WebError>;

/// The HTML error page, keeping the headers that the status calls for (`Retry-After`, `Allow`).
pub fn error_page(status: StatusCode, message: &str, headers: &HeaderMap) -> Response {
    let mut response = (status, views::error_page(status, message)).into_response();
    for (name, value) in headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && name != header::WWW_AUTHENTICATE
        {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    add_security_headers(response.headers_mut());
    response
}

/// The generic message of a status the framework made by itself, for a person using the pages.
pub fn framework_error_page(status: StatusCode, headers: &HeaderMap) -> Response {
    error_page(status, error::page_message(status), headers)
}
