//! `/login` and `/logout`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_control::ControlError;

use super::cookies::{FormFields, LOGIN_COOKIE, SESSION_COOKIE, WebUser, cookie};
use super::views::{self, LoginForm, Nav, Section};
use super::{LOGIN_PATH, TOKENS_PATH, WebResult};
use crate::client::ClientAddr;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::state::AppState;

/// How long a login form stays usable.
const LOGIN_FORM_SECS: i64 = 3600;

/// Where to go after logging in: a path of this site, never another origin.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n
        }
        _ => TOKENS_PATH,
    }
}

/// The login form with a fresh CSRF nonce (set as a cookie on the same response).
fn login_form(
    state: &AppState,
    request_headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> WebResult<Response> {
    let nonce = state.identity.login_nonce()?;
    let page = views::login_page(&LoginForm {
        form_token: &nonce.form_token,
        next,
        email,
        error,
    });
    let mut response = views::with_status(status, page);
    response.headers_mut().append(
        header::SET_COOKIE,
        state.web.set_cookie(
            request_headers,
            LOGIN_COOKIE,
            nonce.cookie.expose(),
            LOGIN_PATH,
            LOGIN_FORM_SECS,
        ),
    );
    Ok(response)
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryParams,
) -> WebResult<Response> {
    let next = safe_next(query.get("next"));
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && state.identity.session(&id).await?.is_some()
    {
        return Ok(Redirect::to(next).into_response());
    }
    login_form(&state, &headers, StatusCode::OK, next, "", None)
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    FormFields(form): FormFields,
) -> WebResult<Response> {
    let next = safe_next(form.get("next"));
    let email = form.get("email").unwrap_or("");
    state
        .identity
        .check_login_csrf(cookie(&headers, LOGIN_COOKIE).as_deref(), form.get("csrf"))?;
    let new = match state
        .identity
        .login(email, form.get("password").unwrap_or(""), client)
        .await
    {
        Ok(new) => new,
        Err(ControlError::Unauthenticated(failure)) => {
            state.metrics.auth_failure(failure.reason);
            // The form again, with the refusal's status and message.
            let refused = ApiError::from(ControlError::Unauthenticated(failure));
            return login_form(
                &state,
                &headers,
                refused.status,
                next,
                email,
                Some(&refused.body.message),
            );
        }
        Err(err) => {
            if matches!(err, ControlError::Throttled { .. }) {
                state.metrics.auth_failure("login_throttled");
            }
            return Err(err.into());
        }
    };
    // Whole seconds, rounded up: the cookie lasts as long as the session.
    let lifetime_ms = (new.session.expires_at - state.identity.clock().now()).num_milliseconds();
    let lifetime = (lifetime_ms + 999) / 1000;
    let mut response = Redirect::to(next).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        state
            .web
            .set_cookie(&headers, SESSION_COOKIE, new.cookie.expose(), "/", lifetime),
    );
    cookies.append(
        header::SET_COOKIE,
        state
            .web
            .set_cookie(&headers, LOGIN_COOKIE, "", LOGIN_PATH, 0),
    );
    Ok(response)
}

/// For someone who typed the address: the button (logging out is a form, with a CSRF token).
pub async fn logout_page(user: WebUser) -> impl IntoResponse {
    views::logout_page(&Nav {
        session: &user.session,
        admin: user.is_org_admin(),
        section: Section::None,
    })
}

pub async fn logout(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    FormFields(form): FormFields,
) -> WebResult<Response> {
    user.session.check_csrf(form.get("csrf"))?;
    state.identity.logout(&user.session, &user.actor()).await?;
    let mut response = Redirect::to(LOGIN_PATH).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state.web.set_cookie(&headers, SESSION_COOKIE, "", "/", 0),
    );
    Ok(response)
}
