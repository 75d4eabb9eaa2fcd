//! `/manage-profile/security/api-tokens`: the account's own tokens.
//!
//! Create posts, then redirects; the new token rides the redirect sealed in a short-lived cookie
//! (see `cairn_control::identity::session`) and the page that shows it deletes the cookie. The
//! seal opens once (its nonce is spent in the store), so a reload, or the cookie sent again,
//! shows the list only.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cairn_control::ControlError;
use cairn_control::identity::session::FLASH_TTL;

use super::cookies::{FormFields, NEW_TOKEN_COOKIE, WebUser, cookie};
use super::views::{self, CreateForm, Nav, Section, TokensPage};
use super::{TOKENS_PATH, WebResult};
use crate::error::{ApiError, RequestError};
use crate::extract::QueryParams;
use crate::state::AppState;

fn nav(user: &WebUser) -> Nav<'_> {
    Nav {
        session: &user.session,
        admin: user.is_org_admin(),
        section: Section::Tokens,
    }
}

/// Renders the page; `create` carries the dialog's state.
async fn render(
    state: &AppState,
    user: &WebUser,
    status: StatusCode,
    create: CreateForm,
    revoke_id: Option<&str>,
    notice: Option<&str>,
    new_token: Option<&str>,
) -> WebResult<Response> {
    let tokens = state
        .identity
        .list_tokens(&user.session.principal.account_id)
        .await?;
    let revoke =
        revoke_id.and_then(|id| tokens.iter().find(|t| t.id == id && t.revoked_at.is_none()));
    let page = views::tokens_page(&TokensPage {
        nav: nav(user),
        tokens: &tokens,
        now: state.identity.clock().now(),
        new_token,
        create,
        revoke,
        notice,
    });
    Ok(views::with_status(status, page))
}

pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    query: QueryParams,
) -> WebResult<Response> {
    let sealed = cookie(&headers, NEW_TOKEN_COOKIE).filter(|v| !v.is_empty());
    let new_token = match sealed.as_deref() {
        Some(sealed) => state.identity.open_once(&user.session, sealed).await?,
        None => None,
    };
    let notice = match query.get("done") {
        Some("revoked") => Some("The token was revoked."),
        _ => None,
    };
    let create = CreateForm {
        open: query.get("create").is_some(),
        ..CreateForm::default()
    };
    let mut response = render(
        &state,
        &user,
        StatusCode::OK,
        create,
        query.get("revoke"),
        notice,
        new_token.as_deref(),
    )
    .await?;
    if sealed.is_some() {
        response.headers_mut().append(
            header::SET_COOKIE,
            state
                .web
                .set_cookie(&headers, NEW_TOKEN_COOKIE, "", TOKENS_PATH, 0),
        );
    }
    Ok(response)
}

pub async fn create(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    FormFields(form): FormFields,
) -> WebResult<Response> {
    user.session.check_csrf(form.get("csrf"))?;
    let label = form.get("label").unwrap_or("").to_string();
    let days_text = form.get("expiresInDays").unwrap_or("").trim().to_string();
    let sent = CreateForm {
        open: true,
        label: label.clone(),
        days: days_text.clone(),
        ..CreateForm::default()
    };
    let days = if days_text.is_empty() {
        None
    } else {
        match days_text.parse::<u32>() {
            Ok(days) => Some(days),
            Err(_) => {
                return refused(&state, &user, sent, RequestError::DaysNotANumber.into()).await;
            }
        }
    };
    let created = match state
        .identity
        .create_token(
            &user.session.principal.account_id,
            &label,
            days,
            &user.actor(),
        )
        .await
    {
        Ok(created) => created,
        Err(err @ (ControlError::Invalid { .. } | ControlError::Conflict(_))) => {
            return refused(&state, &user, sent, err.into()).await;
        }
        Err(other) => return Err(other.into()),
    };
    let sealed = user
        .session
        .seal_once(created.secret.expose(), state.identity.clock().now())?;
    let mut response = Redirect::to(TOKENS_PATH).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state.web.set_cookie(
            &headers,
            NEW_TOKEN_COOKIE,
            &sealed,
            TOKENS_PATH,
            FLASH_TTL.num_seconds(),
        ),
    );
    Ok(response)
}

/// The dialog again, with the refusal's status (from the one table, `error.rs`) and its messages
/// beside the fields they name (or above the form).
async fn refused(
    state: &AppState,
    user: &WebUser,
    mut sent: CreateForm,
    refusal: ApiError,
) -> WebResult<Response> {
    match &refusal.body.errors {
        Some(errors) => {
            for error in errors {
                let message = Some(capitalised(&error.message));
                match error.field.as_str() {
                    "label" => sent.label_error = message,
                    "expiresInDays" => sent.days_error = message,
                    _ => sent.form_error = message,
                }
            }
        }
        None => sent.form_error = Some(refusal.body.message),
    }
    render(state, user, refusal.status, sent, None, None, None).await
}

pub async fn revoke(
    State(state): State<AppState>,
    user: WebUser,
    Path(token_id): Path<String>,
    FormFields(form): FormFields,
) -> WebResult<Response> {
    user.session.check_csrf(form.get("csrf"))?;
    state
        .identity
        .revoke_own_token(&user.session.principal.account_id, &token_id, &user.actor())
        .await?;
    Ok(Redirect::to(&format!("{TOKENS_PATH}?done=revoked")).into_response())
}

/// The domain's field messages read "is required: ..." after the field's name; beside the field
/// they stand alone.
fn capitalised(message: &str) -> String {
    let message = message.strip_prefix("is ").unwrap_or(message);
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
