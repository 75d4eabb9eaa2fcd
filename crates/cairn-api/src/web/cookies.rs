//! Cookies, the logged-in user extractor ([`WebUser`]) and form bodies ([`FormFields`]).

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_control::identity::Actor;
use cairn_control::identity::session::WebSession;

use super::{LOGIN_PATH, WebError};
use crate::client::client_addr;
use crate::extract::QueryParams;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "cairn_session";
/// The login form's CSRF nonce.
pub const LOGIN_COOKIE: &str = "cairn_login";
/// A new token, sealed, waiting for the page view that shows it once.
pub const NEW_TOKEN_COOKIE: &str = "cairn_new_token";

/// How the pages set cookies.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Always mark cookies `Secure`: for a service reached only over TLS through a proxy that
    /// does not say so in `X-Forwarded-Proto`.
    pub secure_cookies: bool,
    /// Believe the `X-Forwarded-Proto` header: only behind a reverse proxy that sets it (and
    /// strips any a client sent).
    pub trust_forwarded_proto: bool,
}

impl WebSettings {
    /// Whether this request reached the service over TLS, as far as the settings let us know.
    /// Cairn itself listens in plain HTTP, so TLS means a proxy in front.
    fn over_tls(&self, headers: &HeaderMap) -> bool {
        self.secure_cookies
            || (self.trust_forwarded_proto
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, and `Secure` under TLS. A
    /// `max_age_secs` of 0 deletes the cookie.
    pub fn set_cookie(
        &self,
        request_headers: &HeaderMap,
        name: &str,
        value: &str,
        path: &str,
        max_age_secs: i64,
    ) -> HeaderValue {
        let secure = if self.over_tls(request_headers) {
            "; Secure"
        } else {
            ""
        };
        let text = format!(
            "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            max_age_secs.max(0)
        );
        // Names, paths and values are ours (base62 or hex): always a valid header value.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The value of cookie `name` in the request, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A browser with a live session.
pub struct WebUser {
    pub session: WebSession,
    pub client_addr: IpAddr,
}

impl WebUser {
    pub fn actor(&self) -> Actor {
        self.session
            .principal
            .actor(Some(self.client_addr.to_string()))
    }

    pub fn is_org_admin(&self) -> bool {
        self.session
            .principal
            .memberships
            .iter()
            .any(|(_, role)| *role == cairn_store::OrgRole::OrgAdmin)
    }
}

impl FromRequestParts<AppState> for WebUser {
    /// No session: to the login page, which brings the user back here (for page views).
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(id) => state
                .identity
                .session(&id)
                .await
                .map_err(|e| WebError::from(e).into_response())?,
            None => None,
        };
        match session {
            Some(session) => Ok(WebUser {
                session,
                client_addr: client_addr(parts, &state.trusted_proxies),
            }),
            None => {
                let target = if parts.method == Method::GET {
                    let here = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
                    format!("{LOGIN_PATH}?next={next}")
                } else {
                    LOGIN_PATH.to_string()
                };
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// An `application/x-www-form-urlencoded` body; repeated names are kept (checkbox lists).
pub struct FormFields(pub QueryParams);

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(FormFields(QueryParams::parse(&String::from_utf8_lossy(
            &bytes,
        ))))
    }
}
